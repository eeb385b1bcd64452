//! Polling mode (and the drain of a closed shard): `GetShardIterator` + `GetRecords`, within
//! the 5 calls/s per shard limit (at most one call per 200 ms, once a second when caught up);
//! expired iterators are renewed after the last record read; throughput errors back off. A
//! null next iterator is the shard's end.

use std::time::Duration;

use spillway_sinks::aws::service_error;
use spillway_sinks::aws::ServiceError;

use super::reader::{ReadEnd, ReaderContext, StartAt};
use super::records::ShardCursor;
use crate::source::SourceMessage;

const FAST_POLL: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

async fn iterator(ctx: &ReaderContext, shard: &str, start: &StartAt) -> Result<String, ServiceError> {
    let (kind, sequence, timestamp) = start.iterator_type();
    let response = ctx
        .client
        .get_shard_iterator()
        .stream_arn(&ctx.stream_arn)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .set_starting_sequence_number(sequence.map(str::to_string))
        .set_timestamp(timestamp)
        .send()
        .await
        .map_err(|e| service_error("Kinesis", "GetShardIterator", shard, e))?;
    response
        .shard_iterator()
        .map(str::to_string)
        .ok_or_else(|| {
            ServiceError::retryable(
                "Kinesis.NoIterator",
                format!("GetShardIterator {shard} returned no iterator"),
            )
        })
}

/// Reads `cursor`'s shard from `start` until its end or until the pipeline stops.
pub async fn read(
    ctx: &ReaderContext,
    start: StartAt,
    mut cursor: ShardCursor,
) -> Result<ReadEnd, ServiceError> {
    let shard = cursor.shard.to_string();
    let mut current = iterator(ctx, &shard, &start).await?;
    let mut backoff = Duration::from_millis(200);
    loop {
        let response = match ctx
            .client
            .get_records()
            .shard_iterator(&current)
            .limit(10_000)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_expired_iterator_exception()) {
                    let resume = cursor
                        .last_sequence
                        .clone()
                        .map_or(start.clone(), StartAt::AfterSequence);
                    current = iterator(ctx, &shard, &resume).await?;
                    continue;
                }
                let throttled = service.is_some_and(|s| {
                    s.is_provisioned_throughput_exceeded_exception()
                        || s.is_kms_throttling_exception()
                });
                let error = service_error("Kinesis", "GetRecords", &shard, e);
                if !(throttled || error.is_retryable()) {
                    return Err(error);
                }
                tracing::warn!(shard, error = %error, retry_in = ?backoff, "GetRecords failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        ctx.record_lag(&shard, response.millis_behind_latest());
        if !ctx.send_all(cursor.convert(response.records())).await {
            return Ok(ReadEnd::Stopped);
        }
        match response.next_shard_iterator() {
            Some(next) => current = next.to_string(),
            None => {
                if !ctx
                    .send_all(vec![SourceMessage::ShardEnd(cursor.shard.clone())])
                    .await
                {
                    return Ok(ReadEnd::Stopped);
                }
                return Ok(ReadEnd::ShardEnd);
            }
        }
        let behind = response.millis_behind_latest().unwrap_or(0) > 0;
        let pause = if !response.records().is_empty() && behind {
            FAST_POLL
        } else {
            ctx.poll_interval.max(FAST_POLL)
        };
        tokio::time::sleep(pause).await;
    }
}
