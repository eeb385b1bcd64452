//! Checkpoints in a DynamoDB lease table, one row per shard, with the Kinesis Client
//! Library's attribute names (`leaseKey`, `leaseOwner`, `leaseCounter`, `checkpoint`,
//! `checkpointSubSequenceNumber`, `ownerSwitchesSinceCheckpoint`, `parentShardId`) so that
//! operators recognise it. Every update is conditional on the lease counter this worker last
//! saw, so a stale worker can never move a checkpoint. The table is created (on-demand) if
//! missing.
//!
//! Several workers share a table: a worker renews its leases (bumping the counter) every
//! third of the failover time; a lease whose counter has not moved for the failover time is
//! expired and may be taken, conditional on the counter seen. A worker that wants one of
//! another's leases asks for it (`spillwayHandoffTo`); the owner drains the shard, writes its
//! final checkpoint and only then passes the lease on (`release`), so nothing is read twice.
//! This worker's own writes to a lease (renewal, checkpoint, release) are serialised, so that
//! they do not fail each other's counter condition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use spillway_sinks::aws::service_error;
use spillway_sinks::aws::ServiceError;
use spillway_sinks::dynamodb::{ensure_table, KeyType};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LeaseError {
    #[error("lease of shard {shard} was taken by another worker (lease counter moved); not checkpointing it")]
    Lost { shard: String },
    #[error(transparent)]
    Dynamo(#[from] ServiceError),
}

/// A shard's lease as read from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub shard: String,
    pub owner: String,
    pub counter: i64,
    /// A sequence number, or `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP`, `SHARD_END`.
    pub checkpoint: String,
    pub sub_sequence: u32,
    /// A worker that asked for this lease: the owner hands it over once the shard is drained.
    pub handoff_to: Option<String>,
}

impl Lease {
    /// Held by nobody: never taken, or released at a shutdown.
    pub fn is_free(&self) -> bool {
        self.owner.is_empty()
    }
}

pub struct LeaseTable {
    client: Client,
    table: String,
    owner: String,
    /// The lease counter of each shard this worker holds.
    held: Mutex<HashMap<String, i64>>,
    /// One lock per shard: this worker's conditional writes to a lease, one at a time.
    writing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The attribute holding a shard's segment log (JSON).
const SEGMENTS: &str = "spillwaySegments";
/// The attribute naming the worker a lease is asked for.
const HANDOFF_TO: &str = "spillwayHandoffTo";

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl LeaseTable {
    /// Opens (creating if missing) the lease table, as worker `owner`.
    pub async fn open(client: Client, table: &str, owner: &str) -> Result<Self, ServiceError> {
        ensure_table(&client, table, ("leaseKey", KeyType::String), None).await?;
        Ok(LeaseTable {
            client,
            table: table.to_string(),
            owner: owner.to_string(),
            held: Mutex::default(),
            writing: Mutex::default(),
        })
    }

    /// The lease table as it is, for reading (`spillway leases`): not created if missing.
    pub fn existing(client: Client, table: &str) -> Self {
        LeaseTable {
            client,
            table: table.to_string(),
            owner: String::new(),
            held: Mutex::default(),
            writing: Mutex::default(),
        }
    }

    /// This worker's name in the table.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Every lease in the table (a consistent scan).
    pub async fn list(&self) -> Result<Vec<Lease>, ServiceError> {
        let mut leases = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let response = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| service_error("DynamoDB", "Scan", &self.table, e))?;
            for item in response.items() {
                if let Some(AttributeValue::S(shard)) = item.get("leaseKey") {
                    leases.push(parse(shard, item));
                }
            }
            match response.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(leases),
            }
        }
    }

    /// Takes the lease of `shard` if nobody moved it since it was seen: creates it at
    /// `initial` when `seen` is `None` (no lease yet), else takes it over from the counter
    /// seen (a free or expired lease, or one handed to this worker). `None`: another worker
    /// was faster.
    pub async fn try_take(
        &self,
        shard: &str,
        parents: &[String],
        initial: &str,
        seen: Option<&Lease>,
    ) -> Result<Option<Lease>, ServiceError> {
        let Some(seen) = seen else {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("leaseKey", s(shard))
                .item("leaseOwner", s(&self.owner))
                .item("leaseCounter", n(1))
                .item("checkpoint", s(initial))
                .item("checkpointSubSequenceNumber", n(0))
                .item("ownerSwitchesSinceCheckpoint", n(0))
                .condition_expression("attribute_not_exists(leaseKey)");
            if !parents.is_empty() {
                put = put.item("parentShardId", AttributeValue::Ss(parents.to_vec()));
            }
            return match put.send().await {
                Ok(_) => {
                    self.held_counters().insert(shard.to_string(), 1);
                    Ok(Some(Lease {
                        shard: shard.into(),
                        owner: self.owner.clone(),
                        counter: 1,
                        checkpoint: initial.into(),
                        sub_sequence: 0,
                        handoff_to: None,
                    }))
                }
                Err(e) if is_condition_failure(&e) => Ok(None),
                Err(e) => Err(service_error("DynamoDB", "PutItem", &self.table, e)),
            };
        };
        let lock = self.write_lock(shard);
        let _writing = lock.lock().await;
        let switched = i64::from(seen.owner != self.owner);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("leaseKey", s(shard))
            .update_expression("SET leaseOwner = :me, leaseCounter = leaseCounter + :one, ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :switched REMOVE #handoff")
            .condition_expression("leaseCounter = :seen")
            .expression_attribute_names("#handoff", HANDOFF_TO)
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":switched", n(switched))
            .expression_attribute_values(":seen", n(seen.counter))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match update {
            Ok(response) => {
                let lease = response
                    .attributes()
                    .map(|a| parse(shard, a))
                    .unwrap_or_else(|| seen.clone());
                self.held_counters()
                    .insert(shard.to_string(), lease.counter);
                Ok(Some(lease))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(service_error("DynamoDB", "UpdateItem", &self.table, e)),
        }
    }

    /// Renews a lease this worker holds (its counter moves, so others see it alive). Returns
    /// the worker the lease is asked for, if one asked.
    pub async fn renew(&self, shard: &str) -> Result<Option<String>, LeaseError> {
        let lock = self.write_lock(shard);
        let _writing = lock.lock().await;
        let seen = self.held_counter(shard)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("leaseKey", s(shard))
            .update_expression("SET leaseCounter = leaseCounter + :one")
            .condition_expression("leaseCounter = :seen AND leaseOwner = :me")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":me", s(&self.owner))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(response) => {
                self.held_counters().insert(shard.to_string(), seen + 1);
                Ok(response
                    .attributes()
                    .and_then(|a| parse(shard, a).handoff_to))
            }
            Err(e) if is_condition_failure(&e) => Err(self.lost(shard)),
            Err(e) => Err(service_error("DynamoDB", "UpdateItem", &self.table, e).into()),
        }
    }

    /// Gives a lease this worker holds to `to` (a worker that asked for it), or to nobody.
    /// Call it only once the shard's final checkpoint is written.
    pub async fn release(&self, shard: &str, to: Option<&str>) -> Result<(), LeaseError> {
        let lock = self.write_lock(shard);
        let _writing = lock.lock().await;
        let seen = self.held_counter(shard)?;
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("leaseKey", s(shard))
            .condition_expression("leaseCounter = :seen AND leaseOwner = :me")
            .expression_attribute_names("#handoff", HANDOFF_TO)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":me", s(&self.owner));
        let update = match to {
            Some(to) => update
                .update_expression(
                    "SET leaseOwner = :to, leaseCounter = leaseCounter + :one REMOVE #handoff",
                )
                .expression_attribute_values(":to", s(to)),
            None => update
                .update_expression(
                    "SET leaseOwner = :nobody, leaseCounter = leaseCounter + :one REMOVE #handoff",
                )
                .expression_attribute_values(":nobody", s("")),
        };
        match update.send().await {
            Ok(_) => {
                self.held_counters().remove(shard);
                Ok(())
            }
            Err(e) if is_condition_failure(&e) => Err(self.lost(shard)),
            // Not written: still held (and renewed), to be released again.
            Err(e) => Err(service_error("DynamoDB", "UpdateItem", &self.table, e).into()),
        }
    }

    /// Asks `lease`'s owner to hand it to this worker. `false`: it changed owner meanwhile,
    /// or someone asked first.
    pub async fn request_handoff(&self, lease: &Lease) -> Result<bool, ServiceError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("leaseKey", s(&lease.shard))
            .update_expression("SET #handoff = :me")
            .condition_expression("leaseOwner = :owner AND attribute_not_exists(#handoff)")
            .expression_attribute_names("#handoff", HANDOFF_TO)
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":owner", s(&lease.owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(service_error("DynamoDB", "UpdateItem", &self.table, e)),
        }
    }

    /// Forgets a lease this worker can no longer write (its renewal is overdue): from now on
    /// nothing is checkpointed under it.
    pub fn forget(&self, shard: &str) {
        self.held_counters().remove(shard);
    }

    /// The shards this worker holds.
    pub fn held_shards(&self) -> Vec<String> {
        self.held_counters().keys().cloned().collect()
    }

    fn held_counter(&self, shard: &str) -> Result<i64, LeaseError> {
        self.held_counters()
            .get(shard)
            .copied()
            .ok_or_else(|| LeaseError::Lost {
                shard: shard.to_string(),
            })
    }

    fn lost(&self, shard: &str) -> LeaseError {
        self.held_counters().remove(shard);
        LeaseError::Lost {
            shard: shard.to_string(),
        }
    }

    fn write_lock(&self, shard: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(shard.to_string()).or_default().clone()
    }

    /// Reads a shard's lease, if it has one.
    pub async fn get(&self, shard: &str) -> Result<Option<Lease>, ServiceError> {
        let response = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("leaseKey", s(shard))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| service_error("DynamoDB", "GetItem", &self.table, e))?;
        Ok(response.item().map(|item| parse(shard, item)))
    }

    /// Takes the lease of `shard` for this worker, whoever holds it: creates it at `initial`
    /// (a start position) if it does not exist, else takes it over by bumping its counter.
    /// Returns the lease. (The coordinator takes only free, expired or handed leases, with
    /// [`LeaseTable::try_take`]; this is the unconditional form.)
    pub async fn take(
        &self,
        shard: &str,
        parents: &[String],
        initial: &str,
    ) -> Result<Lease, ServiceError> {
        loop {
            let current = self.get(shard).await?;
            if let Some(lease) = self
                .try_take(shard, parents, initial, current.as_ref())
                .await?
            {
                return Ok(lease);
            }
        }
    }

    /// Moves this worker's checkpoint of `shard`, conditional on the lease counter it holds.
    pub async fn checkpoint(
        &self,
        shard: &str,
        checkpoint: &str,
        sub_sequence: u32,
    ) -> Result<(), LeaseError> {
        let lock = self.write_lock(shard);
        let _writing = lock.lock().await;
        let Some(seen) = self.held_counters().get(shard).copied() else {
            return Err(LeaseError::Lost {
                shard: shard.to_string(),
            });
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("leaseKey", s(shard))
            .update_expression("SET checkpoint = :c, checkpointSubSequenceNumber = :sub, leaseCounter = leaseCounter + :one, ownerSwitchesSinceCheckpoint = :zero")
            .condition_expression("leaseCounter = :seen AND leaseOwner = :me")
            .expression_attribute_values(":c", s(checkpoint))
            .expression_attribute_values(":sub", n(i64::from(sub_sequence)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":me", s(&self.owner))
            .send()
            .await;
        match result {
            Ok(_) => {
                self.held_counters().insert(shard.to_string(), seen + 1);
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.held_counters().remove(shard);
                Err(LeaseError::Lost {
                    shard: shard.to_string(),
                })
            }
            Err(e) => Err(service_error("DynamoDB", "UpdateItem", &self.table, e).into()),
        }
    }

    /// The shard's segment log (`exactly_once` delivery), as JSON text, if it has one.
    pub async fn segments(&self, shard: &str) -> Result<Option<String>, ServiceError> {
        let response = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("leaseKey", s(shard))
            .projection_expression(SEGMENTS)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| service_error("DynamoDB", "GetItem", &self.table, e))?;
        Ok(match response.item().and_then(|item| item.get(SEGMENTS)) {
            Some(AttributeValue::S(text)) => Some(text.clone()),
            _ => None,
        })
    }

    /// Replaces the shard's segment log, conditional on this worker owning the lease. (Not on
    /// the lease counter: checkpoints move it concurrently, and the log does not need it.)
    pub async fn save_segments(&self, shard: &str, segments: &str) -> Result<(), LeaseError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("leaseKey", s(shard))
            .update_expression("SET #segments = :segments")
            .condition_expression("leaseOwner = :me")
            .expression_attribute_names("#segments", SEGMENTS)
            .expression_attribute_values(":segments", s(segments))
            .expression_attribute_values(":me", s(&self.owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(LeaseError::Lost {
                    shard: shard.to_string(),
                })
            }
            Err(e) => Err(service_error("DynamoDB", "UpdateItem", &self.table, e).into()),
        }
    }

    fn held_counters(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn parse(shard: &str, item: &HashMap<String, AttributeValue>) -> Lease {
    let text = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) | Some(AttributeValue::N(v)) => v.clone(),
        _ => String::new(),
    };
    Lease {
        shard: shard.to_string(),
        owner: text("leaseOwner"),
        counter: text("leaseCounter").parse().unwrap_or(0),
        checkpoint: text("checkpoint"),
        sub_sequence: text("checkpointSubSequenceNumber").parse().unwrap_or(0),
        handoff_to: Some(text(HANDOFF_TO)).filter(|to| !to.is_empty()),
    }
}

fn is_condition_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: ConditionFailure,
{
    e.as_service_error()
        .is_some_and(ConditionFailure::is_condition_failure)
}

/// The DynamoDB errors that can say "the condition did not hold".
trait ConditionFailure {
    fn is_condition_failure(&self) -> bool;
}

impl ConditionFailure for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn is_condition_failure(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailure for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn is_condition_failure(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}
