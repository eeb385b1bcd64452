//! App wiring: builds the encoder, sink, dead letter, checkpoint store and source from a
//! validated config, runs the pipeline, and shuts down in order — stop intake, flush buffers,
//! wait for deliveries, commit checkpoints. Also the progress line and the run summary.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use spillway_formats::encode::{Encoder, NdjsonEncoder, ParquetEncoder, SchemaSource};
use spillway_formats::record::ErrorOutputType;
use spillway_formats::schema::TableSchema;
use spillway_sinks::backup::SourceBackup;
use spillway_sinks::catalog::Catalog;
use spillway_sinks::dead_letter::{DeadLetter, ObjectDeadLetter};
use spillway_sinks::local_catalog::{LocalCatalog, CATALOG_DIR};
use spillway_sinks::object::ObjectSink;
use spillway_sinks::retry::RetryingSink;
use spillway_sinks::s3::glue::{read_columns, GlueCatalog};
use spillway_sinks::s3::{
    glue_client, s3_client, sdk_config, AwsConnection, S3Options, S3Store, SdkConfig,
};
use spillway_sinks::store::{LocalStore, ObjectStore};
use spillway_sinks::Sink;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::checkpoint::{CheckpointTracker, FileCheckpointStore};
use crate::config::{
    CatalogKind, DeadLetterTarget, DestinationSettings, FormatSettings, SchemaChoice,
    ValidatedConfig,
};
use crate::metrics::{self, Metrics};
use crate::pipeline::{Deliverer, Partitioner, Pipeline, StopReason};
use crate::source::file::{read_inputs, FileSourceStats};

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
    /// Where the table's objects are: a folder or `s3://bucket/prefix`.
    pub table_url: String,
    pub dead_letter_url: String,
    pub catalog: Option<String>,
    pub parquet: bool,
}

/// The destination's pieces, built from config.
struct Destination {
    store: Arc<dyn ObjectStore>,
    sink: ObjectSink,
    dead_letter: Arc<dyn DeadLetter>,
    backup: Option<Arc<SourceBackup>>,
    catalog_description: Option<String>,
}

/// The AWS SDK configuration, loaded once and only when something needs it.
struct Aws {
    connection: AwsConnection,
    config: Option<SdkConfig>,
}

impl Aws {
    async fn config(&mut self) -> &SdkConfig {
        if self.config.is_none() {
            self.config = Some(sdk_config(&self.connection).await);
        }
        self.config.as_ref().expect("just loaded")
    }
}

async fn build_destination(config: &ValidatedConfig) -> anyhow::Result<Destination> {
    let mut aws = Aws {
        connection: match &config.destination {
            DestinationSettings::S3 { connection, .. } => connection.clone(),
            DestinationSettings::Local { .. } => AwsConnection::default(),
        },
        config: None,
    };
    let (store, bucket): (Arc<dyn ObjectStore>, Option<&str>) = match &config.destination {
        DestinationSettings::Local { root } => {
            std::fs::create_dir_all(root)
                .with_context(|| format!("cannot create the lake folder {}", root.display()))?;
            (Arc::new(LocalStore::new(root.clone(), "LocalLake")), None)
        }
        DestinationSettings::S3 {
            options,
            connection,
            check_bucket,
        } => {
            let store = S3Store::new(s3_client(aws.config().await, connection), options.clone());
            if *check_bucket {
                store
                    .check_bucket()
                    .await
                    .map_err(|e| anyhow::anyhow!("destination.bucket: {}", e.message))?;
            }
            (Arc::new(store), Some(options.bucket.as_str()))
        }
    };
    let name_start = format!("{}-", config.name);
    match store
        .clean_up_after_crash(&config.prefix.table_layout().root, &name_start)
        .await
    {
        Ok(0) => {}
        Ok(cleaned) => tracing::info!(
            cleaned,
            "removed what an earlier crash left (temp files, unfinished multipart uploads)"
        ),
        Err(e) => tracing::warn!(error = %e, "could not clean up after an earlier crash; going on"),
    }

    // The catalog first: an inferred schema starts from the table's existing columns.
    let mut existing_columns = None;
    let (catalog, catalog_description): (Option<Arc<dyn Catalog>>, Option<String>) =
        match (&config.catalog, &config.destination) {
            (None, _) => (None, None),
            (Some((CatalogKind::Local, target)), DestinationSettings::Local { root }) => {
                let catalog = LocalCatalog::new(root, config.prefix.clone(), target.clone());
                existing_columns = catalog
                    .existing_columns()
                    .context("cannot read the local catalog")?;
                let description = format!(
                    "{}/{CATALOG_DIR}/{}/{}/ (table.json, partitions/, create_table.sql)",
                    root.display(),
                    target.database,
                    target.table
                );
                (Some(Arc::new(catalog)), Some(description))
            }
            (Some((CatalogKind::Glue, target)), _) => {
                let Some(bucket) = bucket else {
                    bail!("destination.catalog: a Glue catalog needs an S3 destination")
                };
                let glue = glue_client(aws.config().await);
                existing_columns = read_columns(&glue, &target.database, &target.table).await?;
                let handle = tokio::runtime::Handle::current();
                let catalog =
                    GlueCatalog::new(glue, handle, target.clone(), config.prefix.clone(), bucket);
                (
                    Some(Arc::new(catalog)),
                    Some(format!("Glue table {}.{}", target.database, target.table)),
                )
            }
            (Some((CatalogKind::Local, _)), _) => {
                bail!("destination.catalog.type: \"local\" needs a local destination")
            }
        };

    let encoder: Arc<dyn Encoder> = match &config.format {
        FormatSettings::Parquet {
            compression,
            row_group_bytes,
            schema,
        } => {
            let source = match schema {
                SchemaChoice::Columns(schema) => SchemaSource::Fixed(schema.clone()),
                SchemaChoice::Infer { sample } => {
                    let existing = match existing_columns.filter(|c| !c.is_empty()) {
                        Some(columns) => Some(
                            TableSchema::from_columns(&columns)
                                .context("the catalog table's columns")?,
                        ),
                        None => None,
                    };
                    ParquetEncoder::inferring(*sample, existing)
                }
                SchemaChoice::GlueTable { database, table } => {
                    let glue = glue_client(aws.config().await);
                    let columns = read_columns(&glue, database, table)
                        .await?
                        .with_context(|| format!("destination.format.schema.glue_table: Glue table {database}.{table} does not exist"))?;
                    let schema = TableSchema::from_columns(&columns)
                        .with_context(|| format!("destination.format.schema.glue_table: the columns of {database}.{table}"))?;
                    SchemaSource::Fixed(Arc::new(schema))
                }
            };
            Arc::new(ParquetEncoder::new(source, *compression, *row_group_bytes)?)
        }
        FormatSettings::Ndjson { codec, level } => Arc::new(NdjsonEncoder {
            codec: *codec,
            level: *level,
        }),
    };

    let dead_letter_store: Arc<dyn ObjectStore> = match &config.dead_letter {
        DeadLetterTarget::Destination => store.clone(),
        DeadLetterTarget::Local { root } => Arc::new(LocalStore::new(root.clone(), "LocalLake")),
        DeadLetterTarget::S3 { bucket } => {
            let options = S3Options {
                bucket: bucket.clone(),
                part_size: spillway_sinks::s3::MIN_PART_SIZE,
                upload_concurrency: 1,
                encryption: None,
                storage_class: None,
                tags: Vec::new(),
            };
            let connection = aws.connection.clone();
            let client = s3_client(aws.config().await, &connection);
            Arc::new(S3Store::new(client, options))
        }
    };
    let dead_letter = Arc::new(ObjectDeadLetter::new(
        dead_letter_store,
        config.error_prefix.clone(),
        config.name.clone(),
    ));
    let backup = config.backup_prefix.as_ref().map(|prefix| {
        Arc::new(SourceBackup::new(
            store.clone(),
            prefix.clone(),
            config.name.clone(),
        ))
    });
    let sink = ObjectSink::new(store.clone(), config.name.clone(), encoder, catalog);
    Ok(Destination {
        store,
        sink,
        dead_letter,
        backup,
        catalog_description,
    })
}

/// Runs one delivery stream until its input ends or `shutdown` turns true.
pub async fn run(
    config: ValidatedConfig,
    options: RunOptions,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let destination = build_destination(&config).await?;
    let destination_name = destination.sink.name();
    let table_root = config.prefix.table_layout().root;
    let table_url = destination.store.url(&table_root);
    let dead_letter_url = match &config.dead_letter {
        DeadLetterTarget::Destination => destination
            .store
            .url(&config.error_prefix.table_layout().root),
        DeadLetterTarget::Local { root } => root
            .join(config.error_prefix.table_layout().root)
            .display()
            .to_string(),
        DeadLetterTarget::S3 { bucket } => {
            format!("s3://{bucket}/{}", config.error_prefix.table_layout().root)
        }
    };
    let sink = Arc::new(RetryingSink::new(
        Arc::new(destination.sink),
        config.retry.clone(),
        ErrorOutputType::S3Failed,
    ));
    let metrics = Arc::new(Metrics {
        retry: sink.stats.clone(),
        ..Metrics::default()
    });

    let mut store = match &config.checkpoint_file {
        Some(path) => Some(FileCheckpointStore::open(path)?),
        None => None,
    };
    let resume = store
        .as_ref()
        .map(|s| s.checkpoints().clone())
        .unwrap_or_default();
    let tracker = Arc::new(Mutex::new(CheckpointTracker::new()));

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
    let input = config.input.clone();
    let source = tokio::task::spawn_blocking(move || read_inputs(&input, &resume, &tx));

    let progress = options
        .progress
        .then(|| tokio::spawn(print_progress(metrics.clone())));
    let (checkpoint_stop, checkpointer) = match store.take() {
        Some(store) => {
            let (stop_tx, stop_rx) = watch::channel(false);
            let handle = tokio::spawn(checkpoint_loop(store, tracker.clone(), stop_rx));
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
    );
    let partitioner = Partitioner::new(config.prefix.clone(), config.decoder.clone());
    let pipeline = Pipeline::new(
        partitioner,
        config.flush.clone(),
        deliverer,
        tracker.clone(),
        metrics.clone(),
    );
    let mut signal = shutdown.clone();
    let stop = pipeline
        .run(rx, async move {
            let _ = signal.wait_for(|stop| *stop).await;
        })
        .await;

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
    let source_stats = source.await.context("source task failed")??;

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
        table_url,
        dead_letter_url,
        catalog: destination.catalog_description,
        parquet: matches!(config.format, FormatSettings::Parquet { .. }),
    })
}

/// Writes checkpoints every `CHECKPOINT_EVERY` while running, and once more when told to stop.
async fn checkpoint_loop(
    mut store: FileCheckpointStore,
    tracker: Arc<Mutex<CheckpointTracker>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        let stopping = tokio::time::timeout(CHECKPOINT_EVERY, stop.wait_for(|s| *s))
            .await
            .is_ok();
        let latest = tracker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .checkpoints();
        if let Err(e) = store.save(&latest) {
            if stopping {
                return Err(e).context("cannot write the final checkpoint");
            }
            tracing::warn!(error = %e, "cannot write checkpoint; will retry");
        }
        if stopping {
            return Ok(());
        }
    }
}

/// A progress line every second: records/s, MiB/s, buffered bytes, objects written.
async fn print_progress(metrics: Arc<Metrics>) {
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
        last = (records, bytes, Instant::now());
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else if ticks % 5 == 0 {
            eprintln!("{line}");
        }
    }
}

impl RunSummary {
    /// The human summary printed at the end of `spillway run`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "spillway: {} in {:.1} s — read {} records ({:.1} MiB), delivered {} in {} objects, dead-lettered {}\n",
            match self.stop {
                StopReason::SourceEnded => "input done",
                StopReason::Shutdown => "stopped by signal",
            },
            self.elapsed.as_secs_f64(),
            self.records_in,
            self.bytes_in as f64 / 1048576.0,
            self.delivered,
            self.objects,
            self.dead_lettered,
        );
        if self.source.resumed_bytes > 0 {
            out.push_str(&format!(
                "  resumed:     skipped {:.1} MiB already delivered by an earlier run (checkpoint)\n",
                self.source.resumed_bytes as f64 / 1048576.0
            ));
        }
        out.push_str(&format!("  table:       {}\n", self.table_url));
        out.push_str(&format!("  dead letter: {}\n", self.dead_letter_url));
        if let Some(catalog) = &self.catalog {
            out.push_str(&format!("  catalog:     {catalog}\n"));
        }
        let url = self.table_url.trim_end_matches('/');
        let glob = if self.parquet {
            format!("read_parquet('{url}/**/*.parquet', hive_partitioning=true)")
        } else {
            format!("read_json_auto('{url}/**/*.json*')")
        };
        out.push_str(&format!(
            "  query it:    duckdb -c \"SELECT count(*) FROM {glob}\"\n"
        ));
        out
    }
}
