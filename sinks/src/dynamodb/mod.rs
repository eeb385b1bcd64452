//! The DynamoDB destination: each record becomes an item (see [`item`]) so services can read
//! the latest state by key. The batch key is the evaluated table name (a `!{…}` template, or
//! a plain name). Two write modes:
//!
//! - **Unordered** (default): `BatchWriteItem` in chunks of ≤ 25 items and ≤ 16 MiB, a key
//!   repeated within a chunk collapsed to its last record (DynamoDB rejects duplicates in one
//!   batch); `UnprocessedItems` come back as retryable failures so only they are retried.
//! - **Ordered** (`ordering = "sequence"`): one conditional `PutItem` per key,
//!   `attribute_not_exists(pk) OR seq < :seq`, so an older record never overwrites a newer
//!   one, even on redelivery; a failed condition means the record was superseded and counts
//!   as delivered. Costs one request (and one write unit) per item instead of one per 25.
//!
//! Throttling and 5xx are retryable; validation errors are isolated per item (the chunk is
//! retried item by item) and dead-lettered as `dynamodb-failed`.

pub mod config;
pub mod item;
mod table;


/// This folder's destination.
pub const TYPES: &[crate::destination::DestinationType] = &[config::TYPE];

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use spillway_formats::record::{Batch, ErrorOutputType};
use tokio::task::JoinSet;

pub use self::item::{ItemMapping, KeyField, TtlField};
pub use self::table::{ensure_table, KeyType};
use crate::aws::sink_error;
use crate::sink::{Delivery, ErrorClass, FailedItem, Sink, SinkError};

/// BatchWriteItem's limits.
const MAX_BATCH_ITEMS: usize = 25;
const MAX_BATCH_BYTES: usize = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    /// Last write wins, batched.
    None,
    /// Conditional writes by source position.
    Sequence,
}

pub struct DynamoSink {
    client: Client,
    mapping: Arc<ItemMapping>,
    ordering: Ordering,
    /// Conditional writes in flight at once (ordered mode).
    write_concurrency: usize,
}

impl DynamoSink {
    pub fn new(
        client: Client,
        mapping: ItemMapping,
        ordering: Ordering,
        write_concurrency: usize,
    ) -> Self {
        DynamoSink {
            client,
            mapping: Arc::new(mapping),
            ordering,
            write_concurrency: write_concurrency.max(1),
        }
    }
}

fn failed(index: usize, class: ErrorClass, code: &str, message: String) -> FailedItem {
    FailedItem {
        index,
        class,
        error_type: ErrorOutputType::DynamodbFailed,
        code: code.to_string(),
        message,
        attempts: 1,
        destination_fields: Vec::new(),
    }
}

/// Records of one batch turned into items, one per key: in ordered mode the record with the
/// newest source position wins (records of a batch need not arrive in order), otherwise the
/// last one.
struct Prepared {
    /// (index of the winning record, item), in first-seen key order.
    items: Vec<(usize, HashMap<String, AttributeValue>)>,
    /// Records superseded by a later record of the same key in this batch.
    superseded: Vec<usize>,
    failed: Vec<FailedItem>,
}

fn prepare(mapping: &ItemMapping, batch: &Batch, ordering: Ordering) -> Prepared {
    let mut slot_of: HashMap<String, usize> = HashMap::new();
    let mut prepared = Prepared {
        items: Vec::new(),
        superseded: Vec::new(),
        failed: Vec::new(),
    };
    for (index, record) in batch.records.iter().enumerate() {
        match mapping.to_item(batch.record_data(index), &record.meta) {
            Ok(item) => match slot_of.get(&item.key) {
                Some(&slot) => {
                    let held = prepared.items[slot].0;
                    let newer = ordering == Ordering::None
                        || item::position_text(&record.meta)
                            > item::position_text(&batch.records[held].meta);
                    if newer {
                        prepared.superseded.push(held);
                        prepared.items[slot] = (index, item.attributes);
                    } else {
                        prepared.superseded.push(index);
                    }
                }
                None => {
                    slot_of.insert(item.key, prepared.items.len());
                    prepared.items.push((index, item.attributes));
                }
            },
            Err(e) => prepared.failed.push(failed(
                index,
                ErrorClass::Permanent,
                "DynamoDB.InvalidItem",
                e.to_string(),
            )),
        }
    }
    prepared
}

impl DynamoSink {
    async fn write_batched(
        &self,
        table: &str,
        items: Vec<(usize, HashMap<String, AttributeValue>)>,
        delivery: &mut Delivery,
    ) {
        let mut chunk: Vec<(usize, HashMap<String, AttributeValue>)> = Vec::new();
        let mut chunk_bytes = 0;
        let mut items = items.into_iter().peekable();
        while let Some((index, item)) = items.next() {
            let size: usize = item
                .iter()
                .map(|(k, v)| k.len() + approximate_size(v))
                .sum();
            chunk_bytes += size;
            chunk.push((index, item));
            let full = chunk.len() == MAX_BATCH_ITEMS
                || items.peek().is_none()
                || chunk_bytes + items.peek().map_or(0, |(_, i)| i.len() * 64) > MAX_BATCH_BYTES;
            if full {
                self.write_chunk(table, std::mem::take(&mut chunk), delivery)
                    .await;
                chunk_bytes = 0;
            }
        }
    }

    async fn write_chunk(
        &self,
        table: &str,
        chunk: Vec<(usize, HashMap<String, AttributeValue>)>,
        delivery: &mut Delivery,
    ) {
        let requests: Result<Vec<WriteRequest>, _> = chunk
            .iter()
            .map(|(_, item)| {
                let put = PutRequest::builder().set_item(Some(item.clone())).build()?;
                Ok::<_, aws_sdk_dynamodb::error::BuildError>(
                    WriteRequest::builder().put_request(put).build(),
                )
            })
            .collect();
        let requests = match requests {
            Ok(requests) => requests,
            Err(e) => {
                for (index, _) in chunk {
                    delivery.failed.push(failed(
                        index,
                        ErrorClass::Permanent,
                        "DynamoDB.BadRequest",
                        e.to_string(),
                    ));
                }
                return;
            }
        };
        let result = self
            .client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await;
        match result {
            Ok(response) => {
                let unprocessed: Vec<&HashMap<String, AttributeValue>> = response
                    .unprocessed_items()
                    .and_then(|m| m.get(table))
                    .map(|requests| {
                        requests
                            .iter()
                            .filter_map(|r| r.put_request().map(|p| p.item()))
                            .collect()
                    })
                    .unwrap_or_default();
                for (index, item) in &chunk {
                    if unprocessed.contains(&item) {
                        delivery.failed.push(failed(
                            *index,
                            ErrorClass::Retryable,
                            "DynamoDB.UnprocessedItems",
                            format!("{table}: left unprocessed by BatchWriteItem (throttled)"),
                        ));
                    } else {
                        delivery.delivered += 1;
                    }
                }
            }
            Err(e) => {
                let is_validation = e
                    .as_service_error()
                    .is_some_and(|s| s.meta().code() == Some("ValidationException"));
                let error = sink_error("DynamoDB", "BatchWriteItem", table, e);
                if is_validation && chunk.len() > 1 {
                    // One bad item fails the whole batch: find it by writing them one by one.
                    for (index, item) in chunk {
                        self.put_one(table, index, item, None, delivery).await;
                    }
                } else {
                    for (index, _) in chunk {
                        delivery.failed.push(failed(
                            index,
                            error.class,
                            &error.code,
                            error.message.clone(),
                        ));
                    }
                }
            }
        }
    }

    /// One PutItem, conditional on the source position when `sequence` names the attribute.
    async fn put_one(
        &self,
        table: &str,
        index: usize,
        item: HashMap<String, AttributeValue>,
        sequence: Option<&str>,
        delivery: &mut Delivery,
    ) {
        let outcome = put_item(
            &self.client,
            table,
            item,
            sequence,
            &self.mapping.partition_key.attribute,
        )
        .await;
        record_outcome(index, outcome, delivery);
    }

    async fn write_ordered(
        &self,
        table: &str,
        items: Vec<(usize, HashMap<String, AttributeValue>)>,
        delivery: &mut Delivery,
    ) {
        let sequence = self
            .mapping
            .sequence_attribute
            .clone()
            .unwrap_or_else(|| "_spillway_seq".into());
        let mut in_flight = JoinSet::new();
        let mut index_of = HashMap::new();
        for (index, item) in items {
            if in_flight.len() >= self.write_concurrency {
                if let Some(joined) = in_flight.join_next_with_id().await {
                    record_joined(joined, &index_of, delivery);
                }
            }
            let (client, table, sequence, pk) = (
                self.client.clone(),
                table.to_string(),
                sequence.clone(),
                self.mapping.partition_key.attribute.clone(),
            );
            let task = in_flight.spawn(async move {
                (
                    index,
                    put_item(&client, &table, item, Some(&sequence), &pk).await,
                )
            });
            index_of.insert(task.id(), index);
        }
        while let Some(joined) = in_flight.join_next_with_id().await {
            record_joined(joined, &index_of, delivery);
        }
    }
}

/// What a finished write task did; a task that panicked or was cancelled is a retryable
/// failure of its record (found by the task's id), never a silent success.
fn record_joined(
    joined: Result<(tokio::task::Id, (usize, PutOutcome)), tokio::task::JoinError>,
    index_of: &HashMap<tokio::task::Id, usize>,
    delivery: &mut Delivery,
) {
    match joined {
        Ok((_, (index, outcome))) => record_outcome(index, outcome, delivery),
        Err(e) => match index_of.get(&e.id()) {
            Some(&index) => delivery.failed.push(failed(
                index,
                ErrorClass::Retryable,
                "DynamoDB.WriteTask",
                format!("the write task ended without an answer: {e}"),
            )),
            // Unknown task: the retrying sink finds the record unaccounted for.
            None => tracing::error!(error = %e, "a DynamoDB write task of unknown record failed"),
        },
    }
}

/// What one PutItem did.
enum PutOutcome {
    Written,
    /// The stored item is newer (ordered mode): this record was superseded.
    Superseded,
    Failed(SinkError),
}

async fn put_item(
    client: &Client,
    table: &str,
    item: HashMap<String, AttributeValue>,
    sequence: Option<&str>,
    pk: &str,
) -> PutOutcome {
    let mut request = client
        .put_item()
        .table_name(table)
        .set_item(Some(item.clone()));
    if let Some(attribute) = sequence {
        let Some(position) = item.get(attribute).cloned() else {
            return PutOutcome::Failed(SinkError::permanent(
                "DynamoDB.NoSequence",
                format!("item has no {attribute}"),
            ));
        };
        request = request
            .condition_expression("attribute_not_exists(#pk) OR #seq < :seq")
            .expression_attribute_names("#pk", pk)
            .expression_attribute_names("#seq", attribute)
            .expression_attribute_values(":seq", position);
    }
    match request.send().await {
        Ok(_) => PutOutcome::Written,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            PutOutcome::Superseded
        }
        Err(e) => PutOutcome::Failed(sink_error("DynamoDB", "PutItem", table, e)),
    }
}

fn record_outcome(index: usize, outcome: PutOutcome, delivery: &mut Delivery) {
    match outcome {
        PutOutcome::Written | PutOutcome::Superseded => delivery.delivered += 1,
        PutOutcome::Failed(e) => delivery
            .failed
            .push(failed(index, e.class, &e.code, e.message)),
    }
}

/// A rough size for chunking (DynamoDB measures items itself; this keeps requests < 16 MiB).
fn approximate_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
        AttributeValue::L(items) => 3 + items.iter().map(approximate_size).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + approximate_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        _ => 1,
    }
}

#[async_trait]
impl Sink for DynamoSink {
    fn name(&self) -> &'static str {
        "DynamoDB"
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::DynamodbFailed
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        let table = batch.key.prefix().to_string();
        let prepared = prepare(&self.mapping, &batch, self.ordering);
        let mut delivery = Delivery {
            delivered: prepared.superseded.len(),
            failed: prepared.failed,
            ..Delivery::default()
        };
        match self.ordering {
            Ordering::None => {
                self.write_batched(&table, prepared.items, &mut delivery)
                    .await
            }
            Ordering::Sequence => {
                self.write_ordered(&table, prepared.items, &mut delivery)
                    .await
            }
        }
        Ok(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_task_that_panics_fails_its_record_retryably() {
        let mut in_flight = JoinSet::new();
        let mut index_of = HashMap::new();
        let ok = in_flight.spawn(async { (0, PutOutcome::Written) });
        index_of.insert(ok.id(), 0);
        let boom = in_flight.spawn(async {
            if std::hint::black_box(true) {
                panic!("write task blew up");
            }
            (1, PutOutcome::Written)
        });
        index_of.insert(boom.id(), 1);
        let cancelled = in_flight.spawn(async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            (2, PutOutcome::Written)
        });
        index_of.insert(cancelled.id(), 2);
        cancelled.abort();
        let mut delivery = Delivery::default();
        while let Some(joined) = in_flight.join_next_with_id().await {
            record_joined(joined, &index_of, &mut delivery);
        }
        assert_eq!(delivery.delivered, 1);
        let mut failed: Vec<(usize, ErrorClass, &str)> = delivery
            .failed
            .iter()
            .map(|f| (f.index, f.class, f.code.as_str()))
            .collect();
        failed.sort_by_key(|f| f.0);
        assert_eq!(
            failed,
            [
                (1, ErrorClass::Retryable, "DynamoDB.WriteTask"),
                (2, ErrorClass::Retryable, "DynamoDB.WriteTask")
            ]
        );
    }
}
