//! The Kinesis Data Streams source. A coordinator discovers shards (`ListShards`, at start and
//! every `shard_discovery_interval`), takes each shard's lease in the DynamoDB lease table,
//! and starts one reader per shard — enhanced fan-out by default ([`efo`]), or polling
//! ([`polling`]) — from the lease's checkpoint, or from the configured start position for a
//! shard without one (children of a reshard always from `TRIM_HORIZON`, and only once every
//! parent is checkpointed `SHARD_END`). Readers send records into the pipeline through the
//! bounded source channel: when the pipeline is full they stop reading (back-pressure).
//!
//! Several workers (processes with the same config and lease table) share the shards: each
//! renews its leases every third of `failover_time`, takes leases that are new, released or
//! expired up to its fair share, and asks the busiest worker for one when it is two short
//! ([`balance`]). An owner asked for a lease stops reading the shard, drains it (its buffers
//! flush, the pipeline acknowledges every record read), writes the final checkpoint and only
//! then hands the lease over, so a move reads nothing twice; at a shutdown every lease is
//! released after the final checkpoint. A worker that cannot renew a lease for two thirds of
//! the failover time stops reading it and checkpoints nothing more under it, and its
//! [`fence`] stops every write of that lease's records that has not begun: they are the next
//! owner's to read again.
//!
//! # Layout
//! - [`balance`]: which leases to take or ask for (a pure function).
//! - [`fence`]: which records may still be written, lease by lease.
//! - [`renewal`]: the task that renews the leases held, apart from the coordinator's rounds.
//! - [`shards`]: discovery and the parent-before-child rule.
//! - [`records`]: Kinesis records → pipeline records (KPL de-aggregation, positions).
//! - [`reader`]: what readers share (start positions, lag metric).
//! - [`efo`], [`polling`]: the two readers.

pub mod balance;
mod config;
pub mod fence;
pub mod efo;
pub mod polling;
pub mod reader;
pub mod records;
pub mod renewal;
pub mod shards;

pub use self::config::{lease_report, KinesisSourceConfig, KinesisStream, TYPE};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use spillway_formats::record::ShardId;
use spillway_sinks::aws::service_error;
use spillway_sinks::aws::ServiceError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::reader::{ReadEnd, ReaderContext, StartAt};
use self::renewal::{Renewal, RENEWAL_RETRY};
use self::records::ShardCursor;
use self::shards::{list_shards, parents_done, ShardInfo};
use self::balance::Move;
use self::fence::LeaseFence;
use crate::checkpoint::lease_table::{Lease, LeaseError, LeaseTable};
use crate::checkpoint::{Progress, SHARD_END};
use crate::metrics::Metrics;
use crate::source::SourceMessage;

/// How shards are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    EnhancedFanOut,
    Polling,
}

/// Where a shard without a checkpoint starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    Latest,
    AtTimestamp(i64),
}

impl StartPosition {
    /// The lease table's text for it (the KCL's).
    fn lease_text(self) -> &'static str {
        match self {
            StartPosition::TrimHorizon => "TRIM_HORIZON",
            StartPosition::Latest => "LATEST",
            StartPosition::AtTimestamp(_) => "AT_TIMESTAMP",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KinesisSettings {
    /// Stream name or ARN.
    pub stream: String,
    pub mode: ReadMode,
    pub consumer_name: String,
    pub start: StartPosition,
    pub lease_table: String,
    pub worker_id: String,
    pub checkpoint_interval: Duration,
    pub discovery_interval: Duration,
    pub poll_interval: Duration,
    /// A lease not renewed for this long is expired and may be taken by another worker.
    pub failover_time: Duration,
    /// The most leases this worker holds; default: its fair share.
    pub max_leases: Option<usize>,
    /// The most leases this worker asks other workers for at once.
    pub max_lease_requests: usize,
}

/// The stream's ARN (`stream` may already be one).
pub async fn stream_arn(client: &Client, stream: &str) -> Result<String, ServiceError> {
    if stream.starts_with("arn:") {
        return Ok(stream.to_string());
    }
    let summary = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| service_error("Kinesis", "DescribeStreamSummary", stream, e))?;
    summary
        .stream_description_summary()
        .map(|d| d.stream_arn().to_string())
        .ok_or_else(|| {
            ServiceError::permanent(
                "Kinesis.NoStream",
                format!("stream {stream} has no description"),
            )
        })
}

/// Where a shard starts, from its lease: after the checkpoint (inside a KPL aggregate: at it,
/// skipping what was checkpointed), or the start position for a new lease.
fn start_of(lease: &Lease, start: StartPosition) -> (StartAt, Option<(String, u32)>) {
    match lease.checkpoint.as_str() {
        "TRIM_HORIZON" => (StartAt::TrimHorizon, None),
        "LATEST" => (StartAt::Latest, None),
        "AT_TIMESTAMP" => match start {
            StartPosition::AtTimestamp(ms) => (StartAt::AtTimestamp(ms), None),
            _ => (StartAt::TrimHorizon, None),
        },
        seq if lease.sub_sequence > 0 => (
            StartAt::AtSequence(seq.into()),
            Some((seq.into(), lease.sub_sequence)),
        ),
        seq => (StartAt::AfterSequence(seq.into()), None),
    }
}

struct Running {
    task: JoinHandle<()>,
    closed: Arc<AtomicBool>,
}

pub struct KinesisSource {
    pub client: Client,
    pub settings: KinesisSettings,
    pub leases: Arc<LeaseTable>,
    pub metrics: Arc<Metrics>,
    /// The checkpoint tracker: told to drop the records of a lease given up.
    pub progress: Progress,
    pub fence: Arc<LeaseFence>,
}

impl KinesisSource {
    /// Runs until the pipeline stops listening. Every half second it looks for shards (every
    /// `discovery_interval`) and acts on what the renewal task found (handing over the leases
    /// asked for, giving up those lost); every third of the failover time, and when another
    /// worker's lease is due to expire, it reads the lease table and takes or asks for leases
    /// by the rule in [`balance`]. Shard readers that fail are restarted from their lease.
    pub async fn run(self, tx: mpsc::Sender<SourceMessage>) -> Result<(), ServiceError> {
        let arn = stream_arn(&self.client, &self.settings.stream).await?;
        let consumer = match self.settings.mode {
            ReadMode::EnhancedFanOut => {
                Some(efo::consumer_arn(&self.client, &arn, &self.settings.consumer_name).await?)
            }
            ReadMode::Polling => None,
        };
        let ctx = ReaderContext {
            client: self.client.clone(),
            stream_arn: arn.clone(),
            tx: tx.clone(),
            metrics: self.metrics.clone(),
            poll_interval: self.settings.poll_interval,
        };
        let mut state = Coordinator::default();
        let (done_tx, mut done_rx) =
            mpsc::unbounded_channel::<(String, Result<ReadEnd, ServiceError>)>();
        // Handovers ended: the shard, and whether its lease went to the worker that asked.
        let (handed_tx, mut handed_rx) = mpsc::unbounded_channel::<(String, bool)>();
        let mut shards: Vec<ShardInfo> = Vec::new();
        let mut last_discovery: Option<Instant> = None;
        let mut last_lease_round: Option<Instant> = None;
        let lease_round = self.settings.failover_time / 3;
        let (renewals_tx, mut renewals) = mpsc::unbounded_channel();
        let renewing = tokio::spawn(renewal::run(
            self.leases.clone(),
            self.fence.clone(),
            self.metrics.clone(),
            lease_round,
            renewals_tx,
        ));
        while !tx.is_closed() {
            if last_discovery.is_none_or(|at| at.elapsed() >= self.settings.discovery_interval) {
                let listed = list_shards(&self.client, &arn).await;
                self.metrics
                    .source_disconnected
                    .store(listed.is_err(), Ordering::Relaxed);
                match listed {
                    Ok(listed) => shards = listed,
                    Err(e) => tracing::warn!(error = %e, "shard discovery failed; will retry"),
                }
                last_discovery = Some(Instant::now());
            }
            while let Ok((id, result)) = done_rx.try_recv() {
                state.running.remove(&id);
                match result {
                    Ok(ReadEnd::ShardEnd) => {
                        tracing::info!(shard = %id, "shard read to its end");
                        state.drained.insert(id);
                    }
                    Ok(ReadEnd::Stopped) => {}
                    Err(e) => {
                        tracing::warn!(shard = %id, error = %e, "shard reader failed; restarting it from its lease")
                    }
                }
            }
            while let Ok((shard, released)) = handed_rx.try_recv() {
                state.handing_over.remove(&shard);
                if released {
                    state.renewed.remove(&shard);
                    self.fence.revoke(&shard);
                }
            }
            for shard in &shards {
                if let Some(reader) = state.running.get(&shard.id) {
                    reader.closed.store(shard.closed, Ordering::Relaxed);
                }
            }
            while let Ok(renewal) = renewals.try_recv() {
                self.renewed(&mut state, renewal, &tx, &handed_tx).await;
            }
            // A look at the table every round, and one more when a lease is due to expire
            // (so a takeover is not a round late).
            let expiry_due = state.next_expiry.is_some_and(|at| Instant::now() >= at);
            if expiry_due || last_lease_round.is_none_or(|at| at.elapsed() >= lease_round) {
                last_lease_round = Some(Instant::now());
                // A slow scan (throttled, backing off) must not hold up the next renewal.
                let scan = tokio::time::timeout(lease_round, self.leases.list()).await;
                match scan.unwrap_or_else(|_| {
                    Err(ServiceError::retryable(
                        "DynamoDB.Timeout",
                        format!("scan of {} took longer than a lease round", self.settings.lease_table),
                    ))
                }) {
                    Ok(table) => {
                        let moves = state.look(&table, &shards, &self.settings, self.leases.owner());
                        for m in moves {
                            self.make(m, &mut state, &shards, &ctx, &consumer, &done_tx)
                                .await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the lease table; will retry"),
                }
            }
            // A shard whose reader ended without a lease change is read again at once.
            let restart: Vec<String> = state
                .renewed
                .keys()
                .filter(|s| !state.running.contains_key(*s) && !state.handing_over.contains(*s))
                .filter(|s| !state.drained.contains(*s))
                .cloned()
                .collect();
            for shard in restart {
                if let Ok(Some(lease)) = self.leases.get(&shard).await {
                    if lease.owner == self.leases.owner() {
                        self.start_reader(&mut state, &lease, &shards, &ctx, &consumer, &done_tx);
                    }
                }
            }
            self.metrics
                .leases_held
                .store(state.renewed.len() as u64, Ordering::Relaxed);
            let until_expiry = state
                .next_expiry
                .map(|at| at.saturating_duration_since(Instant::now()));
            let pause = until_expiry.map_or(LOOP_PAUSE, |d| d.min(LOOP_PAUSE));
            tokio::time::sleep(pause).await;
        }
        renewing.abort();
        for (_, reader) in state.running {
            reader.task.abort();
        }
        Ok(())
    }

    /// Acts on what the renewal task found: starts the handover of a lease asked for; stops
    /// reading a lease lost, or not renewed before its fence closed (before anyone may take
    /// it). Reports on leases the coordinator no longer counts as held are stale: ignored.
    async fn renewed(
        &self,
        state: &mut Coordinator,
        renewal: Renewal,
        tx: &mpsc::Sender<SourceMessage>,
        handed: &mpsc::UnboundedSender<(String, bool)>,
    ) {
        if !state.renewed.contains_key(renewal.shard()) {
            return;
        }
        match renewal {
            Renewal::Renewed { shard, asked } => {
                state.renewed.insert(shard.clone(), Instant::now());
                if let Some(to) = asked {
                    if !state.handing_over.contains(&shard) {
                        self.hand_over(state, &shard, to, tx, handed);
                    }
                }
            }
            Renewal::Lapsed(shard) => {
                self.give_up(state, &shard, "the lease was renewed only after its fence closed (its records were refused meanwhile); giving it up");
                if let Err(e) = self.leases.release(&shard, None).await {
                    tracing::warn!(shard, error = %e, "cannot release the lease; it expires after the failover time");
                    self.leases.forget(&shard);
                }
            }
            Renewal::Lost(shard) => {
                self.give_up(state, &shard, "lease lost to another worker; no longer reading the shard");
            }
            Renewal::Failed { shard, error } => {
                let why = format!("lease not renewed for 2/3 of the failover time ({error}); no longer reading the shard, writing its records or checkpointing it");
                self.give_up(state, &shard, &why);
                self.leases.forget(&shard);
            }
        }
    }

    /// Stops reading `shard` and writing its records (they are fenced, and the tracker drops
    /// them): its lease is lost or about to be.
    fn give_up(&self, state: &mut Coordinator, shard: &str, why: &str) {
        Metrics::add(&self.metrics.leases_lost, 1);
        tracing::warn!(shard, "{why}");
        state.stop_reading(shard);
        state.renewed.remove(shard);
        self.fence.revoke(shard);
        self.progress.set_floor(ShardId::from(shard), u64::MAX);
    }

    /// Stops reading `shard`, and once every record read from it is delivered and its final
    /// checkpoint written, gives its lease to `to`.
    fn hand_over(
        &self,
        state: &mut Coordinator,
        shard: &str,
        to: String,
        tx: &mpsc::Sender<SourceMessage>,
        handed: &mpsc::UnboundedSender<(String, bool)>,
    ) {
        tracing::info!(shard, to, "handing the lease over: draining the shard first");
        state.stop_reading(shard);
        state.handing_over.insert(shard.to_string());
        let (leases, metrics, tx, handed, shard) = (
            self.leases.clone(),
            self.metrics.clone(),
            tx.clone(),
            handed.clone(),
            shard.to_string(),
        );
        tokio::spawn(async move {
            let (done, drained) = tokio::sync::oneshot::channel();
            let id = ShardId::from(shard.as_str());
            if tx.send(SourceMessage::Drain { shard: id, done }).await.is_err() {
                return; // stopping: the shutdown checkpoints and releases every lease
            }
            let Ok(checkpoint) = drained.await else {
                return;
            };
            // The final checkpoint, then the lease, each tried a few times (the coordinator
            // keeps renewing the lease meanwhile); if they cannot be written the lease is
            // kept and the shard read again.
            let mut released = false;
            for attempt in 0..HANDOVER_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(RENEWAL_RETRY * (1 << attempt)).await;
                }
                if let Some(c) = checkpoint.as_ref().filter(|c| c.sequence.is_some()) {
                    let sequence = c.sequence.as_deref().unwrap_or_default();
                    match leases
                        .checkpoint(&shard, sequence, c.sub_sequence.unwrap_or(0))
                        .await
                    {
                        Ok(()) => {}
                        Err(LeaseError::Lost { .. }) => break,
                        Err(e) => {
                            tracing::warn!(shard, error = %e, "cannot write the final checkpoint before the handover; trying again");
                            continue;
                        }
                    }
                }
                match leases.release(&shard, Some(&to)).await {
                    Ok(()) => {
                        Metrics::add(&metrics.leases_handed_over, 1);
                        tracing::info!(shard, to, "lease handed over");
                        released = true;
                        break;
                    }
                    Err(LeaseError::Lost { .. }) => break,
                    Err(e) => {
                        tracing::warn!(shard, error = %e, "cannot hand the lease over; trying again")
                    }
                }
            }
            if !released {
                tracing::warn!(shard, "the lease was not handed over; reading the shard again");
            }
            let _ = handed.send((shard, released));
        });
    }

    async fn make(
        &self,
        m: Move,
        state: &mut Coordinator,
        shards: &[ShardInfo],
        ctx: &ReaderContext,
        consumer: &Option<String>,
        done_tx: &mpsc::UnboundedSender<(String, Result<ReadEnd, ServiceError>)>,
    ) {
        match m {
            Move::Take(shard) => {
                let Some(info) = shards.iter().find(|s| s.id == shard) else {
                    return;
                };
                let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
                // A child of a reshard starts at the beginning of its shard, never LATEST.
                let start = if info.parents.iter().any(|p| listed.contains(p.as_str())) {
                    StartPosition::TrimHorizon
                } else {
                    self.settings.start
                };
                let seen = state.table.get(&shard);
                let sent = std::time::Instant::now();
                match self
                    .leases
                    .try_take(&shard, &info.parents, start.lease_text(), seen)
                    .await
                {
                    Ok(Some(lease)) => {
                        Metrics::add(&self.metrics.leases_taken, 1);
                        if let Some(before) = seen.filter(|l| !l.is_free() && l.owner != lease.owner) {
                            tracing::info!(shard, from = %before.owner, "took an expired lease");
                        }
                        state.renewed.insert(shard.clone(), Instant::now());
                        if lease.checkpoint == SHARD_END {
                            // Nothing to read: its fence admits no record, but stays open
                            // while the lease is renewed.
                            self.fence.grant(&shard, u64::MAX, sent);
                            state.drained.insert(shard);
                            return;
                        }
                        // A new reading under a new lease: only its records may be written,
                        // and the tracker forgets any earlier reading's.
                        let from = state.next_first_position(&shard);
                        self.fence.grant(&shard, from, sent);
                        self.progress.set_floor(ShardId::from(shard.as_str()), from);
                        self.start_reader(state, &lease, shards, ctx, consumer, done_tx);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(shard, error = %e, "cannot take the shard's lease; will retry")
                    }
                }
            }
            Move::Ask(shard) => {
                let Some(lease) = state.table.get(&shard) else {
                    return;
                };
                match self.leases.request_handoff(lease).await {
                    Ok(true) => {
                        tracing::info!(shard, from = %lease.owner, "asked for the lease");
                        state.asked.push((shard, Instant::now()));
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(shard, error = %e, "cannot ask for the lease"),
                }
            }
        }
    }

    fn start_reader(
        &self,
        state: &mut Coordinator,
        lease: &Lease,
        shards: &[ShardInfo],
        ctx: &ReaderContext,
        consumer: &Option<String>,
        done_tx: &mpsc::UnboundedSender<(String, Result<ReadEnd, ServiceError>)>,
    ) {
        let Some(shard) = shards.iter().find(|s| s.id == lease.shard) else {
            return;
        };
        let (at, skip) = start_of(lease, self.settings.start);
        let closed = Arc::new(AtomicBool::new(shard.closed));
        // Each reader of a shard in this process numbers its records above the last one's.
        let first_position = state.next_first_position(&shard.id);
        *state.generations.entry(shard.id.clone()).or_default() += 1;
        let cursor = ShardCursor::starting_at(ShardId::from(shard.id.as_str()), skip, first_position);
        tracing::info!(shard = %shard.id, start = ?at, "reading shard");
        let (ctx, consumer, flag, done, id) = (
            ctx.clone(),
            consumer.clone(),
            closed.clone(),
            done_tx.clone(),
            shard.id.clone(),
        );
        let task = tokio::spawn(async move {
            let result = match consumer {
                Some(consumer) => efo::read(&ctx, &consumer, at, cursor, flag).await,
                None => polling::read(&ctx, at, cursor).await,
            };
            let _ = done.send((id, result));
        });
        state.running.insert(shard.id.clone(), Running { task, closed });
    }
}

/// The coordinator's pause between looks at what changed (readers ended, renewals, rounds).
const LOOP_PAUSE: Duration = Duration::from_millis(500);
/// Tries of a handover's final checkpoint and release.
const HANDOVER_ATTEMPTS: u32 = 5;

/// What the coordinator knows between rounds.
#[derive(Default)]
struct Coordinator {
    running: HashMap<String, Running>,
    /// Leases held, with their last successful renewal (or take).
    renewed: HashMap<String, Instant>,
    /// Leases being handed over: not read any more, still renewed until released.
    handing_over: HashSet<String>,
    /// Shards this worker read to their end (their `SHARD_END` may not be written yet).
    drained: HashSet<String>,
    /// Readers started per shard, for their positions.
    generations: HashMap<String, u64>,
    /// The last look at the table, by shard.
    table: HashMap<String, Lease>,
    /// Each lease's counter and owner, and since when they have not moved.
    observed: HashMap<String, (i64, String, Instant)>,
    /// This worker's outstanding requests for leases, and when each was made.
    asked: Vec<(String, Instant)>,
    /// When the first lease of another worker expires unless its counter moves.
    next_expiry: Option<Instant>,
}

impl Coordinator {
    /// The first position of the next reader of `shard` (readers number their records from
    /// `generation << 40`).
    fn next_first_position(&self, shard: &str) -> u64 {
        let generation = self.generations.get(shard).copied().unwrap_or(0) + 1;
        (generation << 40) + 1
    }

    fn stop_reading(&mut self, shard: &str) {
        if let Some(reader) = self.running.remove(shard) {
            reader.task.abort();
        }
    }

    /// Takes in the table; returns the moves to make.
    fn look(
        &mut self,
        table: &[Lease],
        shards: &[ShardInfo],
        settings: &KinesisSettings,
        me: &str,
    ) -> Vec<Move> {
        let now = Instant::now();
        self.table = table.iter().map(|l| (l.shard.clone(), l.clone())).collect();
        self.observed.retain(|shard, _| self.table.contains_key(shard));
        let mut expired = HashSet::new();
        self.next_expiry = None;
        for lease in table {
            let seen = (lease.counter, lease.owner.clone());
            let since = match self.observed.get(&lease.shard) {
                Some((counter, owner, since)) if (*counter, owner) == (seen.0, &seen.1) => *since,
                _ => now,
            };
            self.observed
                .insert(lease.shard.clone(), (seen.0, seen.1, since));
            if !lease.is_free() && lease.owner != me {
                let expires = since + settings.failover_time;
                if now >= expires {
                    expired.insert(lease.shard.clone());
                } else if self.next_expiry.is_none_or(|at| expires < at) {
                    self.next_expiry = Some(expires);
                }
            }
        }
        // A request is outstanding until the lease comes or its owner had time to drain.
        let seen = &self.table;
        self.asked.retain(|(shard, at)| {
            let arrived = seen.get(shard).is_some_and(|l| l.owner == me);
            !arrived && at.elapsed() < settings.failover_time * 6
        });
        let ended: HashSet<String> = table
            .iter()
            .filter(|l| l.checkpoint == SHARD_END)
            .map(|l| l.shard.clone())
            .chain(self.drained.iter().cloned())
            .collect();
        let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
        let readable: Vec<String> = shards
            .iter()
            .filter(|s| !ended.contains(&s.id) && parents_done(s, &listed, &ended))
            .map(|s| s.id.clone())
            .collect();
        let reading: HashSet<String> = self
            .running
            .keys()
            .chain(self.handing_over.iter())
            .cloned()
            .collect();
        balance::plan(&balance::View {
            me,
            readable: &readable,
            leases: &self.table,
            expired: &expired,
            reading: &reading,
            asked: self.asked.len(),
            max_requests: settings.max_lease_requests,
            max_leases: settings.max_leases,
        })
    }
}
