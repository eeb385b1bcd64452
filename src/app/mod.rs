//! App wiring: builds the destination (see [`destination`]), checkpoint store and source from
//! a validated config, runs the pipeline, and shuts down in order — stop intake, flush
//! buffers, wait for deliveries, commit checkpoints. Also the progress line and the run
//! summary.

mod destination;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use spillway_sinks::retry::RetryingSink;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::checkpoint::lease_table::LeaseTable;
use crate::checkpoint::{
    Checkpoint, CheckpointLock, CheckpointStore, CheckpointTracker, FileCheckpointStore,
    FileSegmentLog, LeaseCheckpoints, LeaseSegmentLog, SegmentLog, StoredCheckpoints,
};
use crate::config::{FormatSettings, SourceSettings, ValidatedConfig};
use crate::metrics::{self, Metrics};
use crate::pipeline::{Deliverer, Partitioner, Pipeline, StopReason};
use crate::source::file::{read_inputs, ArrivalTime, FileSourceOptions, FileSourceStats, Resume};
use crate::source::kinesis::KinesisSource;
use crate::source::read_back::{ReadBack, ReadBackSource, ReadBackStats, Replay};
use crate::source::SourceMessage;
use spillway_sinks::s3::{
    dynamodb_client, s3_client, sdk_config, AwsConnection, S3Options, S3Store,
};
use spillway_sinks::store::{LocalStore, ObjectStore};

/// How often checkpoints are written while running.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// Chunks of records in flight between the source and the pipeline.
const SOURCE_CHANNEL_CHUNKS: usize = 4;

/// How to run, beyond the config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Serve `/metrics` and `/healthz` here.
    pub metrics_listen: Option<SocketAddr>,
    /// Print a progress line to stderr while running.
    pub progress: bool,
    /// Keep running (serving metrics) after the input ends, until shutdown.
    pub serve: bool,
    /// Read the stream's output back instead of the configured source: the dead letter
    /// (`spillway redrive`) or the source-record backup (`spillway replay`).
    pub read_back: Option<ReadBack>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub stop: StopReason,
    pub elapsed: Duration,
    pub records_in: u64,
    pub bytes_in: u64,
    pub delivered: u64,
    pub dead_lettered: u64,
    pub objects: u64,
    pub source: FileSourceStats,
    /// What a redrive or replay read ("redrive" or "replay", and the figures).
    pub read_back: Option<(&'static str, ReadBackStats)>,
    /// Where the table's objects are: a folder or `s3://bucket/prefix`.
    pub table_url: String,
    pub dead_letter_url: String,
    pub catalog: Option<String>,
    /// A ready-to-run query over what was delivered, where there is one.
    pub query: Option<String>,
}

/// Runs one delivery stream until its input ends or `shutdown` turns true.
pub async fn run(
    config: ValidatedConfig,
    options: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    // One process per checkpoint, before anything is written (a second run would otherwise
    // sweep the first one's temp files and deliver everything again).
    let lock = match (&config.source, &options.read_back) {
        (
            SourceSettings::File {
                checkpoint_file: Some(path),
                ..
            },
            None,
        ) => Some(CheckpointLock::acquire(path)?),
        _ => None,
    };
    let destination = destination::build(&config).await?;
    let destination_name = destination.sink.name();
    let error_type = destination.sink.error_output_type();
    let sink = Arc::new(RetryingSink::new(
        destination.sink,
        config.retry.clone(),
        error_type,
    ));
    let metrics = Arc::new(Metrics {
        retry: sink.stats.clone(),
        ..Metrics::default()
    });

    // Not ready once a shutdown began (Kubernetes stops sending work before it ends).
    {
        let (metrics, mut shutdown) = (metrics.clone(), shutdown.clone());
        tokio::spawn(async move {
            if shutdown.wait_for(|stop| *stop).await.is_ok() {
                metrics
                    .stopping
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    let tracker = Arc::new(Mutex::new(CheckpointTracker::new()));
    let stored_checkpoints = StoredCheckpoints::default();

    if let Some(addr) = options.metrics_listen {
        let listener = metrics::bind(addr)
            .await
            .with_context(|| format!("cannot listen for metrics on {addr}"))?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        tokio::spawn(metrics::serve(
            listener,
            metrics.clone(),
            config.name.clone(),
            destination_name,
        ));
    }

    let (tx, rx) = mpsc::channel(SOURCE_CHANNEL_CHUNKS);
    let read_back_stats = Arc::new(Mutex::new(ReadBackStats::default()));
    let mut read_back_store = None;
    let (store, source, checkpoint_every, segment_log) = match &options.read_back {
        Some(read_back) => {
            let dead_letter = (
                &destination.dead_letter_store,
                &destination.dead_letter_root,
            );
            let (store, root) =
                read_back_location(dead_letter, &destination.backup_location, read_back).await?;
            let source = ReadBackSource {
                store,
                root,
                what: read_back.clone(),
                stats: read_back_stats.clone(),
            };
            read_back_store = Some(source.store.clone());
            let objects = source.objects().await?;
            tracing::info!(objects = objects.len(), from = %source.store.url(&source.root), "reading back");
            let task = tokio::spawn(async move {
                source.run(objects, tx).await?;
                Ok(FileSourceStats::default())
            });
            // Nothing to checkpoint: what is read back is listed whole each time. Nothing to
            // re-read either, so no segments: read-back runs batch per partition key.
            (None, task, CHECKPOINT_EVERY, None)
        }
        None => start_source(&config, tx, metrics.clone(), lock, &stored_checkpoints).await?,
    };

    let progress = options.progress.then(|| {
        let read_back = options.read_back.is_some().then(|| read_back_stats.clone());
        tokio::spawn(print_progress(metrics.clone(), read_back))
    });
    let (checkpoint_stop, checkpointer) = match store {
        Some(store) => {
            let (stop_tx, stop_rx) = watch::channel(false);
            let handle = tokio::spawn(checkpoint_loop(
                store,
                tracker.clone(),
                stored_checkpoints.clone(),
                stop_rx,
                checkpoint_every,
            ));
            (Some(stop_tx), Some(handle))
        }
        None => (None, None),
    };

    let deliverer = Deliverer::new(
        sink,
        destination.dead_letter,
        destination.backup,
        tracker.clone(),
        metrics.clone(),
        config.concurrency,
        config.flush.memory_budget,
    );
    let partitioner = Partitioner::new(
        config.prefix.clone(),
        config.decoder.clone(),
        config.name_rule,
    );
    let pipeline = Pipeline::new(
        partitioner,
        config.flush.clone(),
        deliverer,
        tracker.clone(),
        metrics.clone(),
        segment_log.map(|log| (log, stored_checkpoints.clone())),
    );
    let mut signal = shutdown.clone();
    let pipeline_run = pipeline.run(rx, async move {
        let _ = signal.wait_for(|stop| *stop).await;
    });
    let deadline = shutdown_deadline(shutdown.clone(), config.shutdown_timeout);
    let stop = tokio::select! {
        stop = pipeline_run => stop,
        () = deadline => {
            // Dropping the pipeline stops its deliveries; what they did not finish stays
            // unacknowledged, and the final checkpoint below covers only what is durable.
            let unacknowledged = tracker.lock().unwrap_or_else(|p| p.into_inner()).unacknowledged();
            tracing::error!(
                timeout = ?config.shutdown_timeout,
                unacknowledged,
                "shutdown_timeout passed before every delivery ended; exiting with the checkpoint of what is delivered (the next run reads the rest again)"
            );
            StopReason::ShutdownTimedOut { unacknowledged }
        }
    };

    // Deliveries are done: commit the final checkpoints before anything else can fail.
    if let (Some(stop_tx), Some(handle)) = (checkpoint_stop, checkpointer) {
        let _ = stop_tx.send(true);
        handle.await.context("checkpoint task failed")??;
    }
    if let Some(progress) = progress {
        progress.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    let source_stats = match stop {
        // The source may be blocked on what no longer listens; give it a moment, no more.
        StopReason::ShutdownTimedOut { .. } => {
            match tokio::time::timeout(Duration::from_secs(2), source).await {
                Ok(joined) => joined.context("source task failed")??,
                Err(_) => FileSourceStats::default(),
            }
        }
        _ => source.await.context("source task failed")??,
    };
    if let (Some(store), Some(ReadBack::Redrive(redrive)), StopReason::SourceEnded) =
        (&read_back_store, &options.read_back, stop)
    {
        if redrive.remove {
            remove_sent_whole(store.as_ref(), &read_back_stats).await?;
        }
    }

    if options.serve && stop == StopReason::SourceEnded {
        tracing::info!("input ended; serving metrics until a shutdown signal");
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    Ok(RunSummary {
        stop,
        elapsed: started.elapsed(),
        records_in: Metrics::get(&metrics.incoming_records),
        bytes_in: Metrics::get(&metrics.incoming_bytes),
        delivered: Metrics::get(&metrics.delivered_records),
        dead_lettered: Metrics::get(&metrics.dead_lettered_records),
        objects: Metrics::get(&metrics.objects_written),
        source: source_stats,
        read_back: options.read_back.as_ref().map(|r| {
            let name = match r {
                ReadBack::Redrive(_) => "redrive",
                ReadBack::Replay(_) => "replay",
            };
            let stats = read_back_stats.lock().unwrap_or_else(|p| p.into_inner());
            (name, stats.clone())
        }),
        query: query_hint(
            &destination.table_url,
            config.format.as_ref(),
            config.file_extension.as_deref(),
        ),
        table_url: destination.table_url,
        dead_letter_url: destination.dead_letter_url,
        catalog: destination.catalog_description,
    })
}

/// Resolves `timeout` after `shutdown` turns true; never, if it never does.
async fn shutdown_deadline(mut shutdown: watch::Receiver<bool>, timeout: Duration) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(timeout).await;
}

/// Writes checkpoints every `every` while running, and once more when told to stop.
async fn checkpoint_loop(
    mut store: Box<dyn CheckpointStore>,
    tracker: Arc<Mutex<CheckpointTracker>>,
    stored: StoredCheckpoints,
    mut stop: watch::Receiver<bool>,
    every: Duration,
) -> anyhow::Result<()> {
    loop {
        let stopping = tokio::time::timeout(every, stop.wait_for(|s| *s))
            .await
            .is_ok();
        let latest = tracker.lock().unwrap_or_else(|p| p.into_inner()).details();
        match store.save(&latest).await {
            Ok(()) => stored.record(&latest),
            Err(e) if stopping => return Err(e).context("cannot write the final checkpoint"),
            Err(e) => tracing::warn!(error = %e, "cannot write checkpoint; will retry"),
        }
        if stopping {
            return Ok(());
        }
    }
}

/// Deletes the dead-letter objects a finished redrive sent whole (every record of them is now
/// delivered or in a newer dead letter); counts them in `removed`.
async fn remove_sent_whole(
    store: &dyn ObjectStore,
    stats: &Mutex<ReadBackStats>,
) -> anyhow::Result<()> {
    let keys = stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sent_whole
        .clone();
    for key in &keys {
        store
            .delete(key)
            .await
            .map_err(|e| anyhow::anyhow!("cannot remove redriven {}: {e}", store.url(key)))?;
    }
    stats.lock().unwrap_or_else(|p| p.into_inner()).removed = keys.len();
    Ok(())
}

/// Where a redrive or replay reads: a store and the root of the prefix in it.
/// `dead_letter` and `backup` are the destination's (store, root) of each.
async fn read_back_location(
    dead_letter: (&Arc<dyn ObjectStore>, &String),
    backup: &Option<(Arc<dyn ObjectStore>, String)>,
    read_back: &ReadBack,
) -> anyhow::Result<(Arc<dyn ObjectStore>, String)> {
    match read_back {
        ReadBack::Redrive(_) => Ok((dead_letter.0.clone(), dead_letter.1.clone())),
        ReadBack::Replay(Replay { from: None, .. }) => backup.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "replay: this stream keeps no source-record backup ([destination.backup]); \
                 give --from with a folder or s3://bucket/prefix of backup objects"
            )
        }),
        ReadBack::Replay(Replay {
            from: Some(from), ..
        }) => match from.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let connection = AwsConnection::default();
                let client = s3_client(&sdk_config(&connection).await, &connection);
                let options = S3Options::plain(bucket);
                Ok((Arc::new(S3Store::new(client, options)), prefix.to_string()))
            }
            None => Ok((
                Arc::new(LocalStore::new(from.into(), "LocalLake")),
                String::new(),
            )),
        },
    }
}

/// The source task, its checkpoint store, how often to checkpoint, and the segment log of
/// `exactly_once` delivery.
type StartedSource = (
    Option<Box<dyn CheckpointStore>>,
    tokio::task::JoinHandle<anyhow::Result<FileSourceStats>>,
    Duration,
    Option<Arc<dyn SegmentLog>>,
);

/// Starts the configured source, sending into `tx`, and opens its checkpoint store; the
/// file source resumes after its stored positions, Kinesis shards from their leases.
async fn start_source(
    config: &ValidatedConfig,
    tx: mpsc::Sender<SourceMessage>,
    metrics: Arc<Metrics>,
    lock: Option<CheckpointLock>,
    stored: &StoredCheckpoints,
) -> anyhow::Result<StartedSource> {
    match &config.source {
        SourceSettings::File {
            input,
            checkpoint_file,
        } => {
            let store = match (checkpoint_file, lock) {
                (Some(path), Some(lock)) => Some(FileCheckpointStore::open(path, lock)?),
                _ => None,
            };
            let resume = store
                .as_ref()
                .map(|s| Resume {
                    checkpoints: s.checkpoints().clone(),
                    identities: s.identities(),
                })
                .unwrap_or_default();
            let positions = resume.checkpoints.iter().map(|(shard, c)| {
                let checkpoint = Checkpoint {
                    position: c.position,
                    sequence: None,
                    sub_sequence: None,
                };
                (shard.clone(), checkpoint)
            });
            stored.record(&positions.collect());
            let segment_log = match checkpoint_file {
                Some(path) if config.exactly_once => {
                    let log = FileSegmentLog::open(&FileSegmentLog::beside(path))?;
                    Some(Arc::new(log) as Arc<dyn SegmentLog>)
                }
                _ => None,
            };
            let options = FileSourceOptions {
                arrival: match config.exactly_once {
                    true => ArrivalTime::FileModified,
                    false => ArrivalTime::Read,
                },
                max_record_size: config.decoder.max_record_size,
            };
            let input = input.clone();
            let task = tokio::task::spawn_blocking(move || {
                Ok(read_inputs(&input, &resume, &options, &tx)?)
            });
            Ok((
                store.map(|s| Box::new(s) as Box<dyn CheckpointStore>),
                task,
                CHECKPOINT_EVERY,
                segment_log,
            ))
        }
        SourceSettings::Kinesis {
            settings,
            connection,
        } => {
            let sdk = sdk_config(connection).await;
            let leases = LeaseTable::open(
                dynamodb_client(&sdk),
                &settings.lease_table,
                &settings.worker_id,
            )
            .await
            .map_err(|e| anyhow::anyhow!("source.lease_table: {e}"))?;
            let leases = Arc::new(leases);
            let source = KinesisSource {
                client: aws_sdk_kinesis::Client::new(&sdk),
                settings: settings.clone(),
                leases: leases.clone(),
                metrics,
            };
            let task = tokio::spawn(async move {
                source
                    .run(tx)
                    .await
                    .map_err(|e| anyhow::anyhow!("source: {e}"))?;
                Ok(FileSourceStats::default())
            });
            let segment_log = config.exactly_once.then(|| {
                Arc::new(LeaseSegmentLog {
                    table: leases.clone(),
                }) as Arc<dyn SegmentLog>
            });
            let store: Box<dyn CheckpointStore> = Box::new(LeaseCheckpoints::new(leases));
            Ok((Some(store), task, settings.checkpoint_interval, segment_log))
        }
    }
}

/// A progress line every second: records/s, MiB/s, buffered bytes, objects written; for a
/// redrive or replay also the objects read of those listed, and an ETA from that share.
async fn print_progress(metrics: Arc<Metrics>, read_back: Option<Arc<Mutex<ReadBackStats>>>) {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last = (0u64, 0u64, Instant::now());
    let mut ticks = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        ticks += 1;
        let records = Metrics::get(&metrics.incoming_records);
        let bytes = Metrics::get(&metrics.incoming_bytes);
        let secs = last.2.elapsed().as_secs_f64().max(1e-3);
        let line = format!(
            "records {records} ({:.0}/s) · {:.1} MiB/s · buffered {:.1} MiB · objects {} · dead-lettered {}",
            (records - last.0) as f64 / secs,
            (bytes - last.1) as f64 / secs / 1048576.0,
            metrics.buffered_bytes.load(Ordering::Relaxed) as f64 / 1048576.0,
            Metrics::get(&metrics.objects_written),
            Metrics::get(&metrics.dead_lettered_records),
        );
        let line = match &read_back {
            Some(stats) => {
                let stats = stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
                format!(
                    "{line} · read {}/{} objects{}",
                    stats.objects,
                    stats.objects_listed,
                    eta(started.elapsed(), stats.objects, stats.objects_listed)
                )
            }
            None => line,
        };
        last = (records, bytes, Instant::now());
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else if ticks.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }
}

/// " · ETA 12 s" from the time `elapsed` that `done` of `total` took; empty before the first.
fn eta(elapsed: Duration, done: usize, total: usize) -> String {
    if done == 0 || done >= total {
        return String::new();
    }
    let left = elapsed.as_secs_f64() / done as f64 * (total - done) as f64;
    format!(" · ETA {left:.0} s")
}

/// A DuckDB command that counts what an object destination holds (its objects end in
/// `extension`, the configured one or the format's).
fn query_hint(
    table_url: &str,
    format: Option<&FormatSettings>,
    extension: Option<&str>,
) -> Option<String> {
    let url = table_url.trim_end_matches('/');
    let glob = match format? {
        FormatSettings::Parquet { .. } => {
            let extension = extension.unwrap_or(".parquet");
            format!("read_parquet('{url}/**/*{extension}', hive_partitioning=true)")
        }
        FormatSettings::Ndjson { codec, .. } => {
            let extension = extension.unwrap_or(codec.object_suffix());
            format!("read_json_auto('{url}/**/*{extension}')")
        }
    };
    Some(format!("duckdb -c \"SELECT count(*) FROM {glob}\""))
}

impl RunSummary {
    /// Whether the run must end with a failure exit code although it finished: some input
    /// could not be read at all (everything else was delivered or dead-lettered), or the
    /// shutdown ran out of time.
    pub fn failed(&self) -> bool {
        !self.source.unreadable.is_empty()
            || matches!(self.stop, StopReason::ShutdownTimedOut { .. })
    }

    /// The human summary printed at the end of `spillway run`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "spillway: {} in {:.1} s — read {} records ({:.1} MiB), delivered {}{}, dead-lettered {}\n",
            match self.stop {
                StopReason::SourceEnded => "input done",
                StopReason::Shutdown => "stopped by signal",
                StopReason::ShutdownTimedOut { .. } => "stopped by signal, shutdown_timeout passed",
            },
            self.elapsed.as_secs_f64(),
            self.records_in,
            self.bytes_in as f64 / 1048576.0,
            self.delivered,
            if self.objects > 0 { format!(" in {} objects", self.objects) } else { String::new() },
            self.dead_lettered,
        );
        if let StopReason::ShutdownTimedOut { unacknowledged } = self.stop {
            out.push_str(&format!(
                "  unfinished:  {unacknowledged} records were still being delivered; they are not checkpointed, so the next run reads them again\n"
            ));
        }
        if self.source.resumed_bytes > 0 {
            out.push_str(&format!(
                "  resumed:     skipped {:.1} MiB already delivered by an earlier run (checkpoint)\n",
                self.source.resumed_bytes as f64 / 1048576.0
            ));
        }
        for file in &self.source.replaced {
            out.push_str(&format!(
                "  replaced:    {file} is not the file its checkpoint was for; read from its start\n"
            ));
        }
        for damaged in &self.source.damaged {
            let what = match damaged.dead_lettered_now {
                true => "the partial line and the undecodable rest are in the dead letter",
                false => "dead-lettered by an earlier run",
            };
            out.push_str(&format!(
                "  damaged:     {} after {} decompressed bytes ({}); {what}\n",
                damaged.file, damaged.decoded_bytes, damaged.error
            ));
        }
        for (file, error) in &self.source.unreadable {
            out.push_str(&format!(
                "  unreadable:  {file}: {error} — not read; the run fails so it is not missed\n"
            ));
        }
        if let Some((name, stats)) = &self.read_back {
            out.push_str(&format!(
                "  {name}:     {} records from {} objects ({} outside the time range, {} unreadable); {}\n",
                stats.records,
                stats.objects,
                stats.skipped,
                stats.unreadable,
                match stats.removed {
                    0 => "the objects are kept".to_string(),
                    n => format!("{n} objects redriven whole were removed"),
                }
            ));
        }
        out.push_str(&format!("  table:       {}\n", self.table_url));
        out.push_str(&format!("  dead letter: {}\n", self.dead_letter_url));
        if let Some(catalog) = &self.catalog {
            out.push_str(&format!("  catalog:     {catalog}\n"));
        }
        if let Some(query) = &self.query {
            out.push_str(&format!("  query it:    {query}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_the_time_per_object_read_times_the_objects_left() {
        assert_eq!(eta(Duration::from_secs(10), 2, 6), " · ETA 20 s");
        assert_eq!(
            eta(Duration::from_secs(10), 0, 6),
            "",
            "nothing to go by yet"
        );
        assert_eq!(eta(Duration::from_secs(10), 6, 6), "", "done");
    }
}
