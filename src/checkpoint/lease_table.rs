//! Checkpoints in a DynamoDB lease table, one row per shard, with the Kinesis Client
//! Library's attribute names (`leaseKey`, `leaseOwner`, `leaseCounter`, `checkpoint`,
//! `checkpointSubSequenceNumber`, `ownerSwitchesSinceCheckpoint`, `parentShardId`) so that
//! operators recognise it. Every update is conditional on the lease counter this worker last
//! saw, so a stale worker can never move a checkpoint. The table is created (on-demand) if
//! missing.

use std::collections::HashMap;
use std::sync::Mutex;

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
}

pub struct LeaseTable {
    client: Client,
    table: String,
    owner: String,
    /// The lease counter of each shard this worker holds.
    held: Mutex<HashMap<String, i64>>,
}

/// The attribute holding a shard's segment log (JSON).
const SEGMENTS: &str = "spillwaySegments";

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
        })
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

    /// Takes the lease of `shard` for this worker: creates it at `initial` (a start position)
    /// if it does not exist, else takes it over by bumping its counter. Returns the lease.
    pub async fn take(
        &self,
        shard: &str,
        parents: &[String],
        initial: &str,
    ) -> Result<Lease, ServiceError> {
        loop {
            let Some(current) = self.get(shard).await? else {
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
                match put.send().await {
                    Ok(_) => {
                        self.held_counters().insert(shard.to_string(), 1);
                        let lease = Lease {
                            shard: shard.into(),
                            owner: self.owner.clone(),
                            counter: 1,
                            checkpoint: initial.into(),
                            sub_sequence: 0,
                        };
                        return Ok(lease);
                    }
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        continue
                    }
                    Err(e) => return Err(service_error("DynamoDB", "PutItem", &self.table, e)),
                }
            };
            let switched = i64::from(current.owner != self.owner);
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("leaseKey", s(shard))
                .update_expression("SET leaseOwner = :me, leaseCounter = leaseCounter + :one, ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :switched")
                .condition_expression("leaseCounter = :seen")
                .expression_attribute_values(":me", s(&self.owner))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":switched", n(switched))
                .expression_attribute_values(":seen", n(current.counter))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match update {
                Ok(response) => {
                    let lease = response
                        .attributes()
                        .map(|a| parse(shard, a))
                        .unwrap_or(current);
                    self.held_counters()
                        .insert(shard.to_string(), lease.counter);
                    return Ok(lease);
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    continue
                }
                Err(e) => return Err(service_error("DynamoDB", "UpdateItem", &self.table, e)),
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
    }
}
