//! Running one delivery stream: builds the destination ([`destination`]), the checkpoint
//! lock and the source from a validated config, runs the pipeline, and shuts down in order —
//! stop intake, flush buffers, wait for deliveries, commit checkpoints. [`read_back`] is
//! where `redrive` and `replay` read; [`summary`] the progress line and the run summary.

mod destination;
mod read_back;
mod summary;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use spillway_sinks::retry::RetryingSink;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use self::summary::RunSummary;
use crate::checkpoint::{CheckpointLock, CheckpointStore, Progress, StoredCheckpoints};
use crate::config::ValidatedConfig;
use crate::metrics::{self, Metrics};
use crate::pipeline::{Concurrency, Deliverer, MemoryBudget, Partitioner, Pipeline, StopReason};
use crate::source::read_back::{ReadBack, ReadBackSource, ReadBackStats};
use crate::source::{SourceStats, StartContext, StartedSource};

/// How often checkpoints are written while running a read-back.
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

/// Runs one delivery stream until its input ends or `shutdown` turns true.
pub async fn run(
    config: ValidatedConfig,
    options: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    // One process per checkpoint, before anything is written (a second run would otherwise
    // sweep the first one's temp files and deliver everything again).
    let lock = match (config.source.checkpoint_file(), &options.read_back) {
        (Some(path), None) => Some(CheckpointLock::acquire(path)?),
        _ => None,
    };
    let destination = destination::build(&config).await?;
    let destination_name = destination.sink.name();
    let error_type = destination.sink.error_output_type();
    let sink = Arc::new(RetryingSink::new(
        destination.sink.clone(),
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
    let progress = Progress::start();
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
    let started_source = match &options.read_back {
        Some(read_back) => {
            let location = read_back::location(&destination, read_back).await?;
            let source = ReadBackSource {
                store: location.store,
                root: location.root,
                what: read_back.clone(),
                stats: read_back_stats.clone(),
            };
            read_back_store = Some(source.store.clone());
            let objects = source.objects().await?;
            tracing::info!(objects = objects.len(), from = %source.store.url(&source.root), "reading back");
            let task = tokio::spawn(async move {
                source.run(objects, tx).await?;
                Ok(SourceStats::default())
            });
            // Nothing to checkpoint: what is read back is listed whole each time. Nothing to
            // re-read either, so no segments: read-back runs batch per partition key.
            StartedSource {
                task,
                checkpoints: None,
                checkpoint_every: CHECKPOINT_EVERY,
                segment_log: None,
                fence: None,
            }
        }
        None => {
            let ctx = StartContext {
                tx,
                metrics: metrics.clone(),
                lock,
                stored: stored_checkpoints.clone(),
                exactly_once: config.exactly_once,
                max_record_size: config.decoder.max_record_size,
                progress: progress.clone(),
            };
            config.source.start(ctx).await?
        }
    };
    let StartedSource {
        task: source,
        checkpoints: store,
        checkpoint_every,
        segment_log,
        fence,
    } = started_source;

    let progress_line = options.progress.then(|| {
        let read_back = options.read_back.is_some().then(|| read_back_stats.clone());
        tokio::spawn(summary::print_progress(metrics.clone(), read_back))
    });
    let (checkpoint_stop, checkpointer) = match store {
        Some(store) => {
            let (stop_tx, stop_rx) = watch::channel(false);
            let handle = tokio::spawn(checkpoint_loop(
                store,
                progress.clone(),
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
        progress.clone(),
        metrics.clone(),
        Concurrency {
            slots: config.concurrency,
            full_batch_bytes: config.flush.max_bytes,
        },
        MemoryBudget::new(config.flush.memory_budget),
    )
    .with_fence(fence.clone());
    let partitioner = Partitioner::new(
        config.prefix.clone(),
        config.decoder.clone(),
        config.name_rule,
    );
    let pipeline = Pipeline::new(
        partitioner,
        config.flush.clone(),
        deliverer,
        progress.clone(),
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
            let unacknowledged = progress.snapshot().await.unacknowledged;
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
    if let Some(line) = progress_line {
        line.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    let source_stats = match stop {
        // The source may be blocked on what no longer listens; give it a moment, no more.
        StopReason::ShutdownTimedOut { .. } => {
            match tokio::time::timeout(Duration::from_secs(2), source).await {
                Ok(joined) => joined.context("source task failed")??,
                Err(_) => SourceStats::default(),
            }
        }
        _ => source.await.context("source task failed")??,
    };
    if let (Some(store), Some(ReadBack::Redrive(redrive)), StopReason::SourceEnded) =
        (&read_back_store, &options.read_back, stop)
    {
        if redrive.remove {
            read_back::remove_sent_whole(store.as_ref(), &read_back_stats).await?;
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
        query: destination.query,
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
    progress: Progress,
    stored: StoredCheckpoints,
    mut stop: watch::Receiver<bool>,
    every: Duration,
) -> anyhow::Result<()> {
    loop {
        let stopping = tokio::time::timeout(every, stop.wait_for(|s| *s))
            .await
            .is_ok();
        let latest = progress.snapshot().await.checkpoints;
        match store.save(&latest).await {
            Ok(()) => stored.record(&latest),
            Err(e) if stopping => return Err(e).context("cannot write the final checkpoint"),
            Err(e) => tracing::warn!(error = %e, "cannot write checkpoint; will retry"),
        }
        if stopping {
            store.close().await;
            return Ok(());
        }
    }
}
