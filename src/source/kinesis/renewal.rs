//! Lease renewal, in a task of its own: every third of the failover time it renews every
//! lease this worker holds in the lease table, all at once, and keeps the [`LeaseFence`] open
//! for those renewed in time. It runs apart from the coordinator's rounds (shard discovery,
//! the table scan, takes and readers), so a slow scan or listing cannot delay a renewal past
//! the fence. What it found goes to the coordinator as a [`Renewal`]: a lease asked for, lost,
//! or not renewed before its fence closed, is the coordinator's to act on.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spillway_sinks::aws::ServiceError;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::fence::LeaseFence;
use crate::checkpoint::lease_table::{LeaseError, LeaseTable};
use crate::metrics::Metrics;

/// Pause before a failed renewal is tried again.
pub const RENEWAL_RETRY: Duration = Duration::from_millis(200);

/// What renewing one lease found.
#[derive(Debug)]
pub enum Renewal {
    /// Renewed in time; `asked`: another worker asks for it.
    Renewed { shard: String, asked: Option<String> },
    /// Renewed, but only after its fence had closed: its records were refused meanwhile, so
    /// the lease must be given up (released).
    Lapsed(String),
    /// Another worker holds it now.
    Lost(String),
    /// Not renewed before its fence closed (DynamoDB failing or unreachable).
    Failed { shard: String, error: ServiceError },
}

impl Renewal {
    /// The shard whose lease it is about.
    pub fn shard(&self) -> &str {
        match self {
            Renewal::Renewed { shard, .. }
            | Renewal::Lapsed(shard)
            | Renewal::Lost(shard)
            | Renewal::Failed { shard, .. } => shard,
        }
    }
}

/// Renews `leases`' held leases every `round` until `reports` is closed.
pub async fn run(
    leases: Arc<LeaseTable>,
    fence: Arc<LeaseFence>,
    metrics: Arc<Metrics>,
    round: Duration,
    reports: mpsc::UnboundedSender<Renewal>,
) {
    let mut tick = tokio::time::interval(round);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !reports.is_closed() {
        tick.tick().await;
        let started = Instant::now();
        let mut renewals = JoinSet::new();
        for shard in leases.held_shards() {
            let (leases, fence) = (leases.clone(), fence.clone());
            renewals.spawn(async move { renew(&leases, &fence, shard, round).await });
        }
        while let Some(report) = renewals.join_next().await {
            if let Ok(report) = report {
                let _ = reports.send(report);
            }
        }
        let slowest = started.elapsed().as_millis() as u64;
        metrics.lease_renewal_ms.store(slowest, Ordering::Relaxed);
    }
}

/// Renews one lease, trying again while its fence is open.
async fn renew(leases: &LeaseTable, fence: &LeaseFence, shard: String, round: Duration) -> Renewal {
    loop {
        let sent = Instant::now();
        // A call that hangs (a DynamoDB partition) is abandoned after a round.
        let result = tokio::time::timeout(round, leases.renew(&shard))
            .await
            .unwrap_or_else(|_| {
                Err(LeaseError::Dynamo(ServiceError::retryable(
                    "DynamoDB.Timeout",
                    "the lease renewal took longer than a lease round",
                )))
            });
        match result {
            Ok(_) if !fence.renewed(&shard, sent) => return Renewal::Lapsed(shard),
            Ok(asked) => return Renewal::Renewed { shard, asked },
            Err(LeaseError::Lost { .. }) => return Renewal::Lost(shard),
            Err(LeaseError::Dynamo(error)) if !fence.open(&shard) => {
                return Renewal::Failed { shard, error }
            }
            Err(LeaseError::Dynamo(error)) => {
                tracing::warn!(shard, %error, "cannot renew the lease; trying again");
                tokio::time::sleep(RENEWAL_RETRY).await;
            }
        }
    }
}
