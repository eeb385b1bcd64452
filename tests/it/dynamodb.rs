//! The DynamoDB destination against dynalite (a real DynamoDB API implementation): the shipped
//! example keeps the newest record of each order, numbers keep their exact decimal text,
//! records that cannot be items are dead-lettered with the reason, redelivery never lets an
//! older record win, shuffled arrival converges, and a throttling storm (fault proxy) still
//! delivers everything.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::support::aws::*;
use crate::support::fault_proxy::{FaultProxy, Plan};
use crate::support::*;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use spillway_formats::decode::FieldPath;
use spillway_formats::record::{Batch, PartitionKey, RecordMeta};
use spillway_sinks::dynamodb::{
    ensure_table, DynamoSink, ItemMapping, KeyField, KeyType, Ordering,
};
use spillway_sinks::Sink;

fn sample_orders() -> Vec<String> {
    let mut text = String::new();
    let file = std::fs::File::open(repo_root().join("examples/orders/orders.ndjson.gz")).unwrap();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    text.lines().map(str::to_string).collect()
}

fn run_example(endpoint: &str, table: &str, input: &Path, state: &Path) -> String {
    let mut cmd = spillway();
    cmd.args(["run", "--config", "examples/dynamodb.toml"])
        .env("SPILLWAY_TABLE", table)
        .env("SPILLWAY_INPUT", input)
        .env("SPILLWAY_CHECKPOINT_DIR", state)
        .env("SPILLWAY_DEAD_LETTER", state.join("dead"));
    aws_env(&mut cmd, endpoint);
    String::from_utf8(run_ok(&mut cmd).stdout).unwrap()
}

fn text(value: &AttributeValue) -> &str {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s,
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn example_keeps_the_newest_record_per_key_and_redelivery_never_goes_back() {
    let endpoint = dynalite_url();
    let client = dynamodb(&endpoint).await;
    let table = unique_name("orders");
    let state = tempfile::tempdir().unwrap();
    let input = state.path().join("orders.ndjson");
    let lines = sample_orders();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let summary = run_example(&endpoint, &table, &input, state.path());
    assert!(
        summary.contains("read 2502 records") && summary.contains("dead-lettered 2"),
        "{summary}"
    );

    // The newest record of each order, by position in the input.
    let mut newest: BTreeMap<String, Value> = BTreeMap::new();
    for line in &lines {
        let record: Value = serde_json::from_str(line).unwrap();
        if let (Some(id), false) = (record["order_id"].as_str(), line.len() > 400 * 1024) {
            newest.insert(id.to_string(), record);
        }
    }
    let items = scan_all(&client, &table).await;
    assert_eq!(items.len(), newest.len(), "one item per distinct key");
    assert_eq!(items.len(), 2000);
    for item in &items {
        let id = text(&item["order_id"]);
        let expected = &newest[id];
        assert_eq!(
            text(&item["status"]),
            expected["status"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            text(&item["total"]),
            expected["total"].as_str().unwrap(),
            "{id}"
        );
        let AttributeValue::L(stored_items) = &item["items"] else {
            panic!("a list")
        };
        let AttributeValue::M(first) = &stored_items[0] else {
            panic!("a map")
        };
        // The exact decimal value (DynamoDB, like dynalite, drops trailing zeros: 48.0 → 48).
        assert_eq!(
            text(&first["price"]),
            canonical(&expected["items"][0]["price"].to_string()),
            "{id}"
        );
        let ts =
            spillway_formats::decode::parse_time_text(expected["ts"].as_str().unwrap()).unwrap();
        assert_eq!(
            text(&item["expires_at"]),
            (ts / 1000 + 90 * 86_400).to_string()
        );
    }

    // Dead letters: the record without a key and the oversize one, with their reasons.
    let letters = dead_letters(&state.path().join("dead"));
    let mut reasons: Vec<(String, String)> = letters
        .iter()
        .map(|(kind, r)| (kind.clone(), r.error_message.clone()))
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0].0, "dynamodb-failed");
    assert!(
        reasons[0].1.starts_with("item is ")
            && reasons[0].1.ends_with("above DynamoDB's 400 KB limit"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons[1].1,
        "record has no key field .order_id (for key attribute order_id)"
    );

    // Redeliver the original orders (same file, same positions) without a checkpoint: the
    // updates that came later are not overwritten by their older records.
    std::fs::write(&input, lines[..2000].join("\n") + "\n").unwrap();
    std::fs::remove_file(state.path().join("dynamodb.json")).unwrap();
    let summary = run_example(&endpoint, &table, &input, state.path());
    assert!(
        summary.contains("delivered 2000"),
        "superseded records count as delivered: {summary}"
    );
    let after = scan_all(&client, &table).await;
    let status_of = |items: &[HashMap<String, AttributeValue>]| -> BTreeMap<String, String> {
        items
            .iter()
            .map(|i| {
                (
                    text(&i["order_id"]).to_string(),
                    text(&i["status"]).to_string(),
                )
            })
            .collect()
    };
    assert_eq!(status_of(&after), status_of(&items));
}

/// A decimal's canonical text: no trailing fractional zeros.
fn canonical(decimal: &str) -> String {
    if decimal.contains('.') {
        decimal
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        decimal.to_string()
    }
}

fn mapping() -> ItemMapping {
    ItemMapping {
        partition_key: KeyField {
            attribute: "id".into(),
            field: FieldPath::parse(".id").unwrap(),
        },
        sort_key: None,
        renames: BTreeMap::new(),
        include: None,
        exclude: Vec::new(),
        string_sets: Vec::new(),
        ttl: None,
        sequence_attribute: Some("_seq".into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shuffled_arrival_and_a_redelivered_batch_converge_on_the_newest_version() {
    let endpoint = dynalite_url();
    let client = dynamodb(&endpoint).await;
    let table = unique_name("versions");
    ensure_table(&client, &table, ("id", KeyType::String), None)
        .await
        .unwrap();
    let sink = Arc::new(DynamoSink::new(
        client.clone(),
        mapping(),
        Ordering::Sequence,
        16,
    ));

    // 10,000 records: 4,000 keys with 2–3 versions each; the position grows with the version.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut records = Vec::new();
    let mut newest: HashMap<String, u64> = HashMap::new();
    for position in 1..=10_000u64 {
        let key = format!(
            "k{}",
            if position <= 4000 {
                position
            } else {
                rng.u64(1..=4000)
            }
        );
        records.push((
            position,
            format!(r#"{{"id":"{key}","v":{position},"amount":12345678901234567890.123456789}}"#),
        ));
        newest.insert(key, position);
    }
    rng.shuffle(&mut records);
    let shard: Arc<str> = Arc::from("shard-0");
    let batches: Vec<Arc<Batch>> = records
        .chunks(1250)
        .map(|chunk| {
            let mut batch = Batch::new(PartitionKey(Arc::from(table.as_str())));
            for (position, json) in chunk {
                let meta = RecordMeta {
                    shard: shard.clone(),
                    position: *position,
                    sequence_number: None,
                    sub_sequence: None,
                    arrival_ms: 0,
                    prior_attempts: 0,
                };
                batch.push(json.as_bytes(), meta);
            }
            Arc::new(batch)
        })
        .collect();
    let mut deliveries = tokio::task::JoinSet::new();
    for batch in batches.iter().cloned() {
        let sink = sink.clone();
        deliveries.spawn(async move { sink.deliver(batch).await.unwrap() });
    }
    while let Some(delivery) = deliveries.join_next().await {
        let delivery = delivery.unwrap();
        assert!(delivery.failed.is_empty(), "{:?}", delivery.failed.first());
    }
    // One batch delivered again, late.
    let again = sink.deliver(batches[0].clone()).await.unwrap();
    assert_eq!(again.delivered, batches[0].len());

    let items = scan_all(&client, &table).await;
    assert_eq!(items.len(), 4000);
    for item in items {
        let key = text(&item["id"]);
        assert_eq!(
            text(&item["v"]),
            newest[key].to_string(),
            "{key} holds its newest version"
        );
        assert_eq!(
            text(&item["amount"]),
            "12345678901234567890.123456789",
            "no float round trip"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_storm_still_delivers_every_record() {
    let endpoint = dynalite_url();
    let client = dynamodb(&endpoint).await;
    let table = unique_name("storm");
    ensure_table(&client, &table, ("order_id", KeyType::String), None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("orders", 5000, 41, "2024-05-01T00:00:00");
    let input_path = dir.path().join("orders.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let config = dir.path().join("storm.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "storm"
[source]
type = "file"
path = {input_path:?}
checkpoint_file = "{dir}/checkpoint.json"
[destination]
type = "dynamodb"
table = "{table}"
partition_key = {{ attribute = "order_id", field = ".order_id" }}
retry_duration = "120s"
[destination.buffering]
size = "1 MiB"
interval = "1s"
[dead_letter]
type = "local"
path = "{dir}/dead"
"#,
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let proxy = FaultProxy::start(&endpoint, Plan::dynamodb_throttling(0.3));
    let mut cmd = spillway();
    cmd.args(["run", "--config"]).arg(&config);
    aws_env(&mut cmd, &proxy.url);
    let out = run_ok(&mut cmd);
    let injected = proxy
        .stats
        .injected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(injected >= 30, "the storm happened: {injected} throttled");
    assert!(String::from_utf8_lossy(&out.stdout).contains("dead-lettered 0"));

    let ids = ndjson_field(&input, "order_id");
    let stored: Vec<String> = scan_all(&client, &table)
        .await
        .iter()
        .map(|i| text(&i["order_id"]).to_string())
        .collect();
    let ledger = Ledger::count(&ids, &stored, &[]);
    println!(
        "{} (ProvisionedThroughputExceeded injected {injected} times)",
        ledger.line("dynamodb throttling 30%")
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}
