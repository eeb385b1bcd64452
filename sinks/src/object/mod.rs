//! The object destinations: a local lake (`type = "local"`) or an S3 bucket (`type = "s3"`).
//! Each batch becomes one object, `<evaluated prefix><Firehose object name>`, encoded
//! straight into the store's writer ([`ObjectSink`]), published only when complete; then its
//! partition is registered in the catalog, if any.
//!
//! Layout: [`config`] reads and checks the sections; `build` turns the settings into the
//! store, the catalog, the encoder and the sink; `sink` is the sink.

mod build;
pub mod config;
mod sink;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use spillway_formats::compression::Codec;
use spillway_formats::encode::ParquetCompression;
use spillway_formats::prefix::{NameRule, PrefixTemplate};
use spillway_formats::schema::TableSchema;

pub use self::sink::{ObjectSink, MAX_PREFIX_CHARS};
use crate::aws::AwsConnection;
use crate::catalog::CatalogTarget;
use crate::destination::{
    Backup, BuildContext, BuildError, Built, Destination, DestinationType, Features, Target,
};
use crate::settings::Problems;
use crate::store::S3Options;

/// The destinations this folder provides.
pub const TYPES: &[DestinationType] = &[
    DestinationType {
        name: "local",
        read: |table, _, p| Some(Box::new(config::read_local(table, p)?)),
        keys: config::local_keys,
    },
    DestinationType {
        name: "s3",
        read: |table, _, p| Some(Box::new(config::read_s3(table, p)?)),
        keys: config::s3_keys,
    },
];

/// Where the objects go.
#[derive(Debug)]
pub enum StoreSpec {
    Local {
        root: PathBuf,
    },
    S3 {
        options: S3Options,
        connection: AwsConnection,
        check_bucket: bool,
    },
}

/// What the objects are.
#[derive(Debug)]
pub enum FormatSettings {
    Parquet {
        compression: ParquetCompression,
        row_group_bytes: usize,
        schema: SchemaChoice,
    },
    Ndjson {
        codec: Codec,
        level: Option<i32>,
    },
}

#[derive(Debug)]
pub enum SchemaChoice {
    Columns(Arc<TableSchema>),
    /// Read at start from an existing Glue table.
    GlueTable { database: String, table: String },
    /// Inferred from the first `sample` records.
    Infer { sample: usize },
}

/// Which catalog the partitions are registered in.
#[derive(Clone, Copy, Debug, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    /// Glue-shaped JSON and Athena DDL in the lake's `_catalog/` folder.
    Local,
    /// The AWS Glue Data Catalog.
    Glue,
}

/// A checked object destination.
#[derive(Debug)]
pub struct ObjectDestination {
    pub store: StoreSpec,
    pub prefix: Option<String>,
    pub format: FormatSettings,
    pub catalog: Option<(CatalogKind, CatalogTarget)>,
}

#[async_trait]
impl Destination for ObjectDestination {
    fn target(&self) -> Target {
        Target {
            key: "destination.prefix",
            template: self.prefix.clone(),
            rule: NameRule::ObjectKey,
        }
    }

    fn features(&self) -> Features {
        Features {
            exactly_once: true,
            backup: Backup::Optional,
            object_names: true,
        }
    }

    fn local_root(&self) -> Option<&Path> {
        match &self.store {
            StoreSpec::Local { root } => Some(root),
            StoreSpec::S3 { .. } => None,
        }
    }

    fn has_store(&self) -> bool {
        true
    }

    fn aws_connection(&self) -> Option<&AwsConnection> {
        match &self.store {
            StoreSpec::S3 { connection, .. } => Some(connection),
            StoreSpec::Local { .. } => None,
        }
    }

    fn catalog_table(&self) -> Option<(&str, &str)> {
        self.catalog
            .as_ref()
            .map(|(_, t)| (t.database.as_str(), t.table.as_str()))
    }

    fn check(&self, _prefix: &PrefixTemplate, _p: &mut Problems) {}

    async fn build(&self, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
        build::build(self, ctx).await
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
