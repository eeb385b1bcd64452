//! Building what a stream delivers to: the configured destination (each builds its own sink,
//! see `spillway_sinks::destination`), the dead letter (in the destination's store, or where
//! `[dead_letter]` says), and the source-record backup, with where each of them lives, for
//! the summary. AWS clients share one SDK configuration, loaded only when something needs it.

use std::sync::Arc;

use anyhow::Context;
use spillway_sinks::aws::{Aws, AwsConnection};
use spillway_sinks::backup::SourceBackup;
use spillway_sinks::dead_letter::{DataCatalogTable, DeadLetter, ObjectDeadLetter};
use spillway_sinks::destination::{BuildContext, Built};
use spillway_sinks::fs::check_writable;
use spillway_sinks::store::{LocalStore, ObjectStore, S3Options, S3Store};
use spillway_sinks::Sink;

use crate::config::{DeadLetterTarget, ValidatedConfig};

/// Where a stream's objects of one kind are: a store and the root of their prefix in it.
#[derive(Clone)]
pub(super) struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub root: String,
}

/// The destination's pieces, built from config.
pub(super) struct Destination {
    pub sink: Arc<dyn Sink>,
    pub dead_letter: Arc<dyn DeadLetter>,
    /// Where the dead letter's objects are: what `spillway redrive` reads back.
    pub dead_letter_location: Location,
    pub backup: Option<Arc<SourceBackup>>,
    /// Where the source-record backup is, if kept: what `spillway replay` reads by default.
    pub backup_location: Option<Location>,
    /// Where delivered data is, for people: a folder, `s3://…`, an index, a table.
    pub table_url: String,
    pub dead_letter_url: String,
    pub catalog_description: Option<String>,
    /// A command that counts what the destination holds, where there is one.
    pub query: Option<String>,
}

pub(super) async fn build(config: &ValidatedConfig) -> anyhow::Result<Destination> {
    let connection = config
        .destination
        .aws_connection()
        .cloned()
        .unwrap_or_default();
    let aws = Aws::new(connection.clone());
    let ctx = BuildContext {
        prefix: &config.prefix,
        naming: &config.naming,
        exactly_once: config.exactly_once,
        check_for: config
            .retry
            .retry_duration
            .min(std::time::Duration::from_secs(60)),
        aws: &aws,
    };
    let Built {
        sink,
        store,
        location,
        catalog,
        query,
    } = config.destination.build(&ctx).await?;

    let dead_letter_store = dead_letter_store(config, &aws, store.clone()).await?;
    let root = config.error_prefix.table_layout().root;
    // Format-conversion error records name the table the record was converted for.
    let table = config.destination.catalog_table();
    let table = DataCatalogTable {
        database_name: table.map(|(database, _)| database.to_string()),
        table_name: table.map(|(_, table)| table.to_string()),
        region: connection.region.clone(),
        version_id: Some("LATEST".into()),
        ..DataCatalogTable::default()
    };
    let dead_letter = ObjectDeadLetter::new(
        dead_letter_store.clone(),
        config.error_prefix.clone(),
        config.name.clone(),
    )
    .with_table(table);

    // The backup goes beside the data, or (a destination without a store) beside the dead letter.
    let backup_location = config.backup_prefix.as_ref().map(|prefix| Location {
        store: store.clone().unwrap_or_else(|| dead_letter_store.clone()),
        root: prefix.table_layout().root,
    });
    let backup = config
        .backup_prefix
        .as_ref()
        .zip(backup_location.as_ref())
        .map(|(prefix, location)| {
            Arc::new(SourceBackup::new(
                location.store.clone(),
                prefix.clone(),
                config.name.clone(),
            ))
        });
    Ok(Destination {
        sink,
        dead_letter: Arc::new(dead_letter),
        dead_letter_url: dead_letter_store.url(&root),
        dead_letter_location: Location {
            store: dead_letter_store,
            root,
        },
        backup,
        backup_location,
        table_url: location,
        catalog_description: catalog,
        query,
    })
}

/// The dead letter's store: `destination_store` for [`DeadLetterTarget::Destination`].
async fn dead_letter_store(
    config: &ValidatedConfig,
    aws: &Aws,
    destination_store: Option<Arc<dyn ObjectStore>>,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    Ok(match (&config.dead_letter, destination_store) {
        (DeadLetterTarget::Destination, Some(store)) => store,
        (DeadLetterTarget::Destination, None) => {
            anyhow::bail!("dead_letter: this destination needs a [dead_letter] section")
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
            Arc::new(S3Store::new(aws.s3().await, S3Options::plain(bucket)))
        }
    })
}

/// A store for `--from` of `spillway replay`: a folder, or `s3://bucket/prefix` reached with
/// the SDK's default chain.
pub(super) async fn location_of(from: &str) -> Location {
    match from.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let aws = Aws::new(AwsConnection::default());
            Location {
                store: Arc::new(S3Store::new(aws.s3().await, S3Options::plain(bucket))),
                root: prefix.to_string(),
            }
        }
        None => Location {
            store: Arc::new(LocalStore::new(from.into(), "LocalLake")),
            root: String::new(),
        },
    }
}
