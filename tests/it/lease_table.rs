//! The Kinesis lease table against dynalite: KCL attribute names, and updates conditional on
//! the lease counter, so a worker whose lease was taken over can never move the checkpoint.

use crate::support::aws::*;
use aws_sdk_dynamodb::types::AttributeValue;
use spillway::checkpoint::lease_table::{LeaseError, LeaseTable};

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_worker_cannot_move_a_checkpoint_after_its_lease_is_taken_over() {
    let client = dynamodb(&dynalite_url()).await;
    let table = unique_name("leases");
    let first = LeaseTable::open(client.clone(), &table, "worker-a")
        .await
        .unwrap();
    let second = LeaseTable::open(client.clone(), &table, "worker-b")
        .await
        .unwrap();

    let lease = first
        .take(
            "shardId-000000000001",
            &["shardId-000000000000".into()],
            "TRIM_HORIZON",
        )
        .await
        .unwrap();
    assert_eq!(
        (
            lease.owner.as_str(),
            lease.counter,
            lease.checkpoint.as_str()
        ),
        ("worker-a", 1, "TRIM_HORIZON")
    );
    first
        .checkpoint("shardId-000000000001", "4959000000000000000000000000001", 0)
        .await
        .unwrap();

    // Worker B takes the lease over; worker A's next checkpoint is refused.
    let taken = second
        .take("shardId-000000000001", &[], "TRIM_HORIZON")
        .await
        .unwrap();
    assert_eq!(taken.owner, "worker-b");
    assert_eq!(
        taken.checkpoint, "4959000000000000000000000000001",
        "the takeover keeps the checkpoint"
    );
    let stale = first
        .checkpoint("shardId-000000000001", "4959000000000000000000000000999", 0)
        .await;
    assert!(matches!(stale, Err(LeaseError::Lost { .. })), "{stale:?}");
    second
        .checkpoint("shardId-000000000001", "4959000000000000000000000000002", 3)
        .await
        .unwrap();

    let item = client
        .get_item()
        .table_name(&table)
        .key("leaseKey", AttributeValue::S("shardId-000000000001".into()))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item["leaseOwner"], AttributeValue::S("worker-b".into()));
    assert_eq!(
        item["checkpoint"],
        AttributeValue::S("4959000000000000000000000000002".into())
    );
    assert_eq!(
        item["checkpointSubSequenceNumber"],
        AttributeValue::N("3".into())
    );
    assert_eq!(
        item["ownerSwitchesSinceCheckpoint"],
        AttributeValue::N("0".into())
    );
    assert_eq!(
        item["parentShardId"],
        AttributeValue::Ss(vec!["shardId-000000000000".into()])
    );
    let AttributeValue::N(counter) = &item["leaseCounter"] else {
        panic!("a number")
    };
    assert_eq!(
        counter, "4",
        "created, checkpointed, taken over, checkpointed"
    );
}
