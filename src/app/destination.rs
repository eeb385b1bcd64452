//! Building the destination from config: the sink (object store + encoder + catalog, or
//! DynamoDB), the dead letter, the source-record backup, and where each of them lives, for
//! the summary. AWS clients share one SDK configuration, loaded only when something needs it.

use std::sync::Arc;

use anyhow::{bail, Context};
use spillway_formats::encode::{Encoder, NdjsonEncoder, ParquetEncoder, SchemaSource};
use spillway_formats::schema::TableSchema;
use spillway_sinks::backup::SourceBackup;
use spillway_sinks::catalog::Catalog;
use spillway_sinks::dead_letter::{DataCatalogTable, DeadLetter, ObjectDeadLetter};
use spillway_sinks::dynamodb::{ensure_table, DynamoSink};
use spillway_sinks::fs::check_writable;
use spillway_sinks::local_catalog::{LocalCatalog, CATALOG_DIR};
use spillway_sinks::naming::ObjectNaming;
use spillway_sinks::object::ObjectSink;
use spillway_sinks::opensearch::OpenSearchSink;
use spillway_sinks::s3::glue::{read_columns, GlueCatalog};
use spillway_sinks::s3::{
    dynamodb_client, glue_client, s3_client, sdk_config, AwsConnection, S3Options, S3Store,
    SdkConfig,
};
use spillway_sinks::store::{LocalStore, ObjectStore};
use spillway_sinks::Sink;

use crate::config::{
    CatalogKind, DeadLetterTarget, DestinationSettings, FormatSettings, SchemaChoice,
    ValidatedConfig,
};

/// The destination's pieces, built from config.
pub(super) struct Destination {
    pub sink: Arc<dyn Sink>,
    pub dead_letter: Arc<dyn DeadLetter>,
    /// Where the dead letter's objects are, and the error prefix's fixed root in it: what
    /// `spillway redrive` reads back.
    pub dead_letter_store: Arc<dyn ObjectStore>,
    pub dead_letter_root: String,
    /// Where the source-record backup is (store and the backup prefix's root), if kept.
    pub backup_location: Option<(Arc<dyn ObjectStore>, String)>,
    pub backup: Option<Arc<SourceBackup>>,
    /// Where delivered data is, for people: a folder, `s3://…`, or a DynamoDB table.
    pub table_url: String,
    pub dead_letter_url: String,
    pub catalog_description: Option<String>,
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

pub(super) async fn build(config: &ValidatedConfig) -> anyhow::Result<Destination> {
    let mut aws = Aws {
        connection: match &config.destination {
            DestinationSettings::S3 { connection, .. }
            | DestinationSettings::Dynamodb { connection, .. } => connection.clone(),
            DestinationSettings::Local { .. } | DestinationSettings::Opensearch(_) => {
                AwsConnection::default()
            }
        },
        config: None,
    };
    match &config.destination {
        DestinationSettings::Dynamodb {
            mapping,
            ordering,
            write_concurrency,
            create_table,
            ..
        } => {
            let client = dynamodb_client(aws.config().await);
            if let Some((partition_type, sort_type)) = create_table {
                let table = config.prefix.source();
                let partition = (mapping.partition_key.attribute.as_str(), *partition_type);
                let sort = mapping
                    .sort_key
                    .as_ref()
                    .zip(*sort_type)
                    .map(|(k, t)| (k.attribute.as_str(), t));
                ensure_table(&client, table, partition, sort)
                    .await
                    .context("destination.create_table")?;
            }
            let sink = DynamoSink::new(client, (**mapping).clone(), *ordering, *write_concurrency);
            let dead = dead_letter(config, &mut aws, None).await?;
            Ok(Destination {
                sink: Arc::new(sink),
                dead_letter: dead.writer,
                dead_letter_store: dead.store,
                dead_letter_root: dead.root,
                backup_location: None,
                backup: None,
                table_url: format!("DynamoDB table {}", config.prefix.source()),
                dead_letter_url: dead.url,
                catalog_description: None,
            })
        }
        DestinationSettings::Opensearch(options) => {
            let dead = dead_letter(config, &mut aws, None).await?;
            // backup_mode = AllDocuments: every raw record, in the dead letter's store.
            let (backup, backup_location) = source_backup(config, &dead.store);
            let sink = OpenSearchSink::new((**options).clone())
                .map_err(|e| anyhow::anyhow!("destination.ca_file: {e}"))?;
            // A template the cluster refuses is a configuration error; a cluster that cannot
            // be reached yet gets the template before the first delivery instead.
            match sink.install_template().await {
                Err(e) if !e.is_retryable() => {
                    bail!("destination.schema: the cluster refused the index template: {e}")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the index template yet; it is installed before the first delivery")
                }
                Ok(()) => {}
            }
            Ok(Destination {
                sink: Arc::new(sink),
                dead_letter: dead.writer,
                dead_letter_store: dead.store,
                dead_letter_root: dead.root,
                backup_location,
                backup,
                table_url: format!("{} index {}", options.endpoint, config.prefix.source()),
                dead_letter_url: dead.url,
                catalog_description: None,
            })
        }
        DestinationSettings::Local { .. } | DestinationSettings::S3 { .. } => {
            build_object(config, &mut aws).await
        }
    }
}

async fn build_object(config: &ValidatedConfig, aws: &mut Aws) -> anyhow::Result<Destination> {
    let (store, bucket): (Arc<dyn ObjectStore>, Option<&str>) = match &config.destination {
        DestinationSettings::S3 {
            options,
            connection,
            check_bucket,
        } => {
            let store = S3Store::new(s3_client(aws.config().await, connection), options.clone());
            if *check_bucket {
                store
                    .check_bucket(
                        config
                            .retry
                            .retry_duration
                            .min(std::time::Duration::from_secs(60)),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("destination.bucket: {}", e.message))?;
            }
            (Arc::new(store), Some(options.bucket.as_str()))
        }
        DestinationSettings::Local { root } => {
            check_writable(root).with_context(|| {
                format!(
                    "cannot write into the lake folder {} (destination.path): run as a user who may write there, or give another folder",
                    root.display()
                )
            })?;
            (Arc::new(LocalStore::new(root.clone(), "LocalLake")), None)
        }
        DestinationSettings::Dynamodb { .. } | DestinationSettings::Opensearch(_) => {
            bail!("not an object destination")
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
        Some(FormatSettings::Parquet {
            compression,
            row_group_bytes,
            schema,
        }) => {
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
        Some(FormatSettings::Ndjson { codec, level }) => Arc::new(NdjsonEncoder {
            codec: *codec,
            level: *level,
        }),
        None => bail!("an object destination needs a format"),
    };

    let dead = dead_letter(config, aws, Some(store.clone())).await?;
    let (backup, backup_location) = source_backup(config, &store);
    let table_url = store.url(&config.prefix.table_layout().root);
    let naming = ObjectNaming {
        stream: config.name.clone(),
        extension: config.file_extension.clone(),
        zone: *config.prefix.zone(),
    };
    let sink = ObjectSink::new(store, naming, encoder, catalog);
    Ok(Destination {
        sink: Arc::new(sink),
        dead_letter: dead.writer,
        dead_letter_store: dead.store,
        dead_letter_root: dead.root,
        backup_location,
        backup,
        table_url,
        dead_letter_url: dead.url,
        catalog_description,
    })
}

/// The source-record backup writer and its location (store, prefix root), when the config
/// keeps a backup in `store`.
type Backup = (
    Option<Arc<SourceBackup>>,
    Option<(Arc<dyn ObjectStore>, String)>,
);

fn source_backup(config: &ValidatedConfig, store: &Arc<dyn ObjectStore>) -> Backup {
    match &config.backup_prefix {
        Some(prefix) => (
            Some(Arc::new(SourceBackup::new(
                store.clone(),
                prefix.clone(),
                config.name.clone(),
            ))),
            Some((store.clone(), prefix.table_layout().root)),
        ),
        None => (None, None),
    }
}

/// The dead letter's writer, store, root in the store, and URL.
struct DeadLetterParts {
    writer: Arc<dyn DeadLetter>,
    store: Arc<dyn ObjectStore>,
    root: String,
    url: String,
}

/// The dead letter and where it is; `destination_store` serves `DeadLetterTarget::Destination`.
async fn dead_letter(
    config: &ValidatedConfig,
    aws: &mut Aws,
    destination_store: Option<Arc<dyn ObjectStore>>,
) -> anyhow::Result<DeadLetterParts> {
    let store: Arc<dyn ObjectStore> = match (&config.dead_letter, destination_store) {
        (DeadLetterTarget::Destination, Some(store)) => store,
        (DeadLetterTarget::Destination, None) => {
            bail!("dead_letter: this destination needs a [dead_letter] section")
        }
        (DeadLetterTarget::Local { root }, _) => {
            check_writable(root).with_context(|| {
                format!(
                    "cannot write into the dead-letter folder {} (dead_letter.path): run as a user who may write there, or give another folder",
                    root.display()
                )
            })?;
            Arc::new(LocalStore::new(root.clone(), "LocalLake"))
        }
        (DeadLetterTarget::S3 { bucket }, _) => {
            let options = S3Options::plain(bucket);
            let connection = aws.connection.clone();
            Arc::new(S3Store::new(
                s3_client(aws.config().await, &connection),
                options,
            ))
        }
    };
    let root = config.error_prefix.table_layout().root;
    // Format-conversion error records name the table the record was converted for.
    let table = DataCatalogTable {
        database_name: config.catalog.as_ref().map(|(_, t)| t.database.clone()),
        table_name: config.catalog.as_ref().map(|(_, t)| t.table.clone()),
        region: aws.connection.region.clone(),
        version_id: Some("LATEST".into()),
        ..DataCatalogTable::default()
    };
    let writer = ObjectDeadLetter::new(
        store.clone(),
        config.error_prefix.clone(),
        config.name.clone(),
    )
    .with_table(table);
    Ok(DeadLetterParts {
        writer: Arc::new(writer),
        url: store.url(&root),
        store,
        root,
    })
}
