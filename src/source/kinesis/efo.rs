//! Enhanced fan-out: the consumer is registered (or reused) and waited for until ACTIVE; each
//! shard is read with `SubscribeToShard`, resubscribing from the continuation sequence number
//! when a subscription ends (about every 5 minutes), at most once a second per shard, with
//! backoff on `ResourceInUseException` and `LimitExceededException` (typed checks, never
//! message text). The end of a shard is an event with child shards and no continuation; when
//! discovery sees the shard closed but the subscription never says so (some emulators), the
//! rest is drained by polling from the continuation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::types::{ConsumerStatus, StartingPosition, SubscribeToShardEventStream};
use aws_sdk_kinesis::Client;
use spillway_sinks::aws::sink_error;
use spillway_sinks::SinkError;
use tokio::time::Instant;

use super::polling;
use super::reader::{ReadEnd, ReaderContext, StartAt};
use super::records::ShardCursor;
use crate::source::SourceMessage;

const MIN_RESUBSCRIBE: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Registers the stream consumer `name` (or finds it) and waits until it is ACTIVE.
pub async fn consumer_arn(
    client: &Client,
    stream_arn: &str,
    name: &str,
) -> Result<String, SinkError> {
    match client
        .register_stream_consumer()
        .stream_arn(stream_arn)
        .consumer_name(name)
        .send()
        .await
    {
        Ok(_) => tracing::info!(consumer = name, "registered the enhanced fan-out consumer"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(sink_error("Kinesis", "RegisterStreamConsumer", name, e)),
    }
    for _ in 0..600 {
        let described = client
            .describe_stream_consumer()
            .stream_arn(stream_arn)
            .consumer_name(name)
            .send()
            .await
            .map_err(|e| sink_error("Kinesis", "DescribeStreamConsumer", name, e))?;
        if let Some(consumer) = described.consumer_description() {
            if consumer.consumer_status() == &ConsumerStatus::Active {
                return Ok(consumer.consumer_arn().to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(SinkError::retryable(
        "Kinesis.ConsumerNotActive",
        format!("consumer {name} did not become ACTIVE within 60 s"),
    ))
}

fn starting_position(start: &StartAt) -> Result<StartingPosition, SinkError> {
    let (kind, sequence, timestamp) = start.iterator_type();
    StartingPosition::builder()
        .r#type(kind)
        .set_sequence_number(sequence.map(str::to_string))
        .set_timestamp(timestamp)
        .build()
        .map_err(|e| SinkError::permanent("Kinesis.BadRequest", e.to_string()))
}

/// Reads `cursor`'s shard through the consumer until its end or until the pipeline stops.
/// `closed` turns true when discovery sees the shard closed.
pub async fn read(
    ctx: &ReaderContext,
    consumer_arn: &str,
    mut start: StartAt,
    mut cursor: ShardCursor,
    closed: Arc<AtomicBool>,
) -> Result<ReadEnd, SinkError> {
    let shard = cursor.shard.to_string();
    let mut backoff = Duration::from_secs(1);
    let mut last_subscribe: Option<Instant> = None;
    loop {
        if let Some(at) = last_subscribe {
            tokio::time::sleep_until(at + MIN_RESUBSCRIBE).await;
        }
        last_subscribe = Some(Instant::now());
        let subscribed = ctx
            .client
            .subscribe_to_shard()
            .consumer_arn(consumer_arn)
            .shard_id(&shard)
            .starting_position(starting_position(&start)?)
            .send()
            .await;
        let mut output = match subscribed {
            Ok(output) => output,
            Err(e) => {
                let busy = e.as_service_error().is_some_and(|s| {
                    s.is_resource_in_use_exception() || s.is_limit_exceeded_exception()
                });
                let error = sink_error("Kinesis", "SubscribeToShard", &shard, e);
                if !(busy || error.is_retryable()) {
                    return Err(error);
                }
                tracing::info!(shard, error = %error, retry_in = ?backoff, "cannot subscribe yet; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        loop {
            match output.event_stream.recv().await {
                Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(event))) => {
                    backoff = Duration::from_secs(1);
                    ctx.record_lag(&shard, Some(event.millis_behind_latest()));
                    if !ctx.send_all(cursor.convert(event.records())).await {
                        return Ok(ReadEnd::Stopped);
                    }
                    let continuation = Some(event.continuation_sequence_number())
                        .filter(|c| !c.is_empty())
                        .map(str::to_string);
                    let ended = !event.child_shards().is_empty() || continuation.is_none();
                    if let Some(continuation) = continuation {
                        start = StartAt::AfterSequence(continuation);
                    }
                    if ended {
                        if !ctx
                            .send_all(vec![SourceMessage::ShardEnd(cursor.shard.clone())])
                            .await
                        {
                            return Ok(ReadEnd::Stopped);
                        }
                        return Ok(ReadEnd::ShardEnd);
                    }
                    if closed.load(Ordering::Relaxed) && event.records().is_empty() {
                        tracing::info!(shard, "shard is closed; draining the rest by polling");
                        return polling::read(ctx, start, cursor).await;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let busy = e
                        .as_service_error()
                        .is_some_and(|s| s.is_resource_in_use_exception());
                    tracing::info!(shard, busy, error = %aws_smithy_types_display(&e), "subscription ended with an error; resubscribing");
                    if busy {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    break;
                }
            }
        }
    }
}

fn aws_smithy_types_display(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    text
}
