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

use aws_sdk_kinesis::types::{
    ConsumerStatus, StartingPosition, SubscribeToShardEvent, SubscribeToShardEventStream,
};
use aws_sdk_kinesis::Client;
use spillway_sinks::aws::service_error;
use spillway_sinks::aws::ServiceError;
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
) -> Result<String, ServiceError> {
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
        Err(e) => return Err(service_error("Kinesis", "RegisterStreamConsumer", name, e)),
    }
    for _ in 0..600 {
        let described = client
            .describe_stream_consumer()
            .stream_arn(stream_arn)
            .consumer_name(name)
            .send()
            .await
            .map_err(|e| service_error("Kinesis", "DescribeStreamConsumer", name, e))?;
        if let Some(consumer) = described.consumer_description() {
            if consumer.consumer_status() == &ConsumerStatus::Active {
                return Ok(consumer.consumer_arn().to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(ServiceError::retryable(
        "Kinesis.ConsumerNotActive",
        format!("consumer {name} did not become ACTIVE within 60 s"),
    ))
}

fn starting_position(start: &StartAt) -> Result<StartingPosition, ServiceError> {
    let (kind, sequence, timestamp) = start.iterator_type();
    StartingPosition::builder()
        .r#type(kind)
        .set_sequence_number(sequence.map(str::to_string))
        .set_timestamp(timestamp)
        .build()
        .map_err(|e| ServiceError::permanent("Kinesis.BadRequest", e.to_string()))
}

/// Reads `cursor`'s shard through the consumer until its end or until the pipeline stops.
/// `closed` turns true when discovery sees the shard closed.
pub async fn read(
    ctx: &ReaderContext,
    consumer_arn: &str,
    mut start: StartAt,
    mut cursor: ShardCursor,
    closed: Arc<AtomicBool>,
) -> Result<ReadEnd, ServiceError> {
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
                let error = service_error("Kinesis", "SubscribeToShard", &shard, e);
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
                    let (messages, outcome) =
                        on_event(&event, &mut cursor, closed.load(Ordering::Relaxed));
                    if !ctx.send_all(messages).await {
                        return Ok(ReadEnd::Stopped);
                    }
                    match outcome {
                        EventOutcome::Continue { resume } => start = resume,
                        EventOutcome::ShardEnded => return Ok(ReadEnd::ShardEnd),
                        EventOutcome::DrainByPolling { resume } => {
                            tracing::info!(shard, "shard is closed; draining the rest by polling");
                            return polling::read(ctx, resume, cursor).await;
                        }
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

/// What one fan-out event means for the reader.
#[derive(Debug, PartialEq, Eq)]
pub enum EventOutcome {
    /// Read on; a resubscription starts here.
    Continue { resume: StartAt },
    /// The shard ended (child shards, no continuation); `ShardEnd` is among the messages.
    ShardEnded,
    /// Discovery saw the shard closed and the stream is quiet: read the rest by polling.
    DrainByPolling { resume: StartAt },
}

/// Turns one `SubscribeToShard` event into pipeline messages and the reader's next step.
pub fn on_event(
    event: &SubscribeToShardEvent,
    cursor: &mut ShardCursor,
    closed: bool,
) -> (Vec<SourceMessage>, EventOutcome) {
    let mut messages = cursor.convert(event.records());
    let continuation = Some(event.continuation_sequence_number()).filter(|c| !c.is_empty());
    if !event.child_shards().is_empty() || continuation.is_none() {
        messages.push(SourceMessage::ShardEnd(cursor.shard.clone()));
        return (messages, EventOutcome::ShardEnded);
    }
    let resume = StartAt::AfterSequence(continuation.unwrap_or_default().to_string());
    if closed && event.records().is_empty() {
        return (messages, EventOutcome::DrainByPolling { resume });
    }
    (messages, EventOutcome::Continue { resume })
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

#[cfg(test)]
mod tests {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::{ChildShard, HashKeyRange, Record};
    use spillway_formats::kpl;

    use super::*;

    fn record(seq: &str, data: &[u8]) -> Record {
        Record::builder()
            .sequence_number(seq)
            .partition_key("k")
            .data(Blob::new(data.to_vec()))
            .build()
            .unwrap()
    }

    fn event(records: Vec<Record>, continuation: &str, children: &[&str]) -> SubscribeToShardEvent {
        let children = children
            .iter()
            .map(|id| {
                let range = HashKeyRange::builder()
                    .starting_hash_key("0")
                    .ending_hash_key("1")
                    .build()
                    .unwrap();
                ChildShard::builder()
                    .shard_id(*id)
                    .parent_shards("shard-0")
                    .hash_key_range(range)
                    .build()
                    .unwrap()
            })
            .collect();
        SubscribeToShardEvent::builder()
            .set_records(Some(records))
            .continuation_sequence_number(continuation)
            .millis_behind_latest(0)
            .set_child_shards(Some(children))
            .build()
            .unwrap()
    }

    /// A recorded fan-out stream of a shard that is split: records (one of them a KPL
    /// aggregate), a quiet event, then the last event with its child shards.
    #[test]
    fn a_recorded_stream_ending_in_child_shards_ends_the_shard_after_its_records() {
        let mut cursor = ShardCursor::new(Arc::from("shard-0"), None);
        let aggregate = kpl::aggregate(&[("a", b"{\"n\":2}"), ("b", b"{\"n\":3}")]);
        let stream = [
            event(
                vec![record("101", b"{\"n\":1}"), record("102", &aggregate)],
                "102",
                &[],
            ),
            event(vec![], "102", &[]),
            event(
                vec![record("103", b"{\"n\":4}")],
                "",
                &["shard-1", "shard-2"],
            ),
        ];
        let mut outcomes = Vec::new();
        let mut records = 0;
        let mut ended = false;
        for e in &stream {
            let (messages, outcome) = on_event(e, &mut cursor, false);
            for message in messages {
                match message {
                    SourceMessage::Records(r) => records += r.len(),
                    SourceMessage::ShardEnd(shard) => {
                        assert_eq!(&*shard, "shard-0");
                        assert_eq!(records, 4, "the shard ends after all its records");
                        ended = true;
                    }
                    SourceMessage::Failed(f) => panic!("unexpected failure {f:?}"),
                    SourceMessage::Drain { .. } => panic!("unexpected drain"),
                }
            }
            outcomes.push(outcome);
        }
        assert!(ended);
        assert_eq!(
            outcomes,
            vec![
                EventOutcome::Continue {
                    resume: StartAt::AfterSequence("102".into())
                },
                EventOutcome::Continue {
                    resume: StartAt::AfterSequence("102".into())
                },
                EventOutcome::ShardEnded,
            ]
        );
    }

    #[test]
    fn a_closed_shard_with_a_quiet_stream_is_drained_by_polling() {
        let mut cursor = ShardCursor::new(Arc::from("shard-0"), None);
        let (messages, outcome) = on_event(&event(vec![], "205", &[]), &mut cursor, true);
        assert!(messages.is_empty());
        assert_eq!(
            outcome,
            EventOutcome::DrainByPolling {
                resume: StartAt::AfterSequence("205".into())
            }
        );
        // While records still arrive, a closed shard keeps reading its stream.
        let (_, outcome) = on_event(
            &event(vec![record("206", b"{}")], "206", &[]),
            &mut cursor,
            true,
        );
        assert_eq!(
            outcome,
            EventOutcome::Continue {
                resume: StartAt::AfterSequence("206".into())
            }
        );
    }
}
