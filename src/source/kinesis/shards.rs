//! Shards: discovery with `ListShards` (paginated) and the rule that orders a reshard — a
//! child shard is read only after every parent that still exists has been read to its end
//! and checkpointed `SHARD_END`; children start at `TRIM_HORIZON`, never `LATEST`.

use std::collections::HashSet;

use aws_sdk_kinesis::Client;
use spillway_sinks::aws::service_error;
use spillway_sinks::aws::ServiceError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    pub parents: Vec<String>,
    /// The shard has an ending sequence number: no new records will arrive.
    pub closed: bool,
}

/// Every shard of the stream.
pub async fn list_shards(client: &Client, stream_arn: &str) -> Result<Vec<ShardInfo>, ServiceError> {
    let mut shards = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let request = match &next_token {
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_arn(stream_arn),
        };
        let page = request
            .send()
            .await
            .map_err(|e| service_error("Kinesis", "ListShards", stream_arn, e))?;
        for shard in page.shards() {
            let parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
                .map(str::to_string)
                .collect();
            let closed = shard
                .sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_some();
            shards.push(ShardInfo {
                id: shard.shard_id().to_string(),
                parents,
                closed,
            });
        }
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            return Ok(shards);
        }
    }
}

/// May `shard` be read now? Yes when every parent is gone from the stream (trimmed) or has
/// been checkpointed `SHARD_END`.
pub fn parents_done(shard: &ShardInfo, listed: &HashSet<&str>, ended: &HashSet<String>) -> bool {
    shard
        .parents
        .iter()
        .all(|p| !listed.contains(p.as_str()) || ended.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parents: &[&str]) -> ShardInfo {
        ShardInfo {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            closed: false,
        }
    }

    #[test]
    fn children_wait_for_every_listed_parent_to_end() {
        let listed: HashSet<&str> = ["p1", "p2", "c"].into_iter().collect();
        let child = shard("c", &["p1", "p2"]);
        assert!(!parents_done(&child, &listed, &HashSet::new()));
        assert!(!parents_done(
            &child,
            &listed,
            &HashSet::from(["p1".to_string()])
        ));
        assert!(parents_done(
            &child,
            &listed,
            &HashSet::from(["p1".to_string(), "p2".to_string()])
        ));
        // A parent trimmed from the stream no longer blocks its child.
        let only_p2: HashSet<&str> = ["p2", "c"].into_iter().collect();
        assert!(parents_done(
            &child,
            &only_p2,
            &HashSet::from(["p2".to_string()])
        ));
        assert!(parents_done(&shard("root", &[]), &listed, &HashSet::new()));
    }
}
