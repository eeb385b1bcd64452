//! Building an object destination: the store (checked: a local lake must be writable, a
//! bucket must exist), what a crash left cleaned up, the catalog (whose existing columns an
//! inferred schema starts from), the encoder, and the sink.

use std::sync::Arc;

use spillway_formats::encode::{Encoder, NdjsonEncoder, ParquetEncoder, SchemaSource};
use spillway_formats::schema::TableSchema;

use super::{CatalogKind, FormatSettings, ObjectDestination, ObjectSink, SchemaChoice, StoreSpec};
use crate::catalog::glue::{read_columns, GlueCatalog};
use crate::catalog::local::{LocalCatalog, CATALOG_DIR};
use crate::catalog::Catalog;
use crate::destination::{BuildContext, BuildError, Built};
use crate::fs::check_writable;
use crate::store::{LocalStore, ObjectStore, S3Store};

pub(super) async fn build(
    d: &ObjectDestination,
    ctx: &BuildContext<'_>,
) -> Result<Built, BuildError> {
    let store: Arc<dyn ObjectStore> = match &d.store {
        StoreSpec::S3 {
            options,
            check_bucket,
            ..
        } => {
            let store = S3Store::new(ctx.aws.s3().await, options.clone());
            if *check_bucket {
                store
                    .check_bucket(ctx.check_for)
                    .await
                    .map_err(|e| BuildError::setting("destination.bucket", e.message))?;
            }
            Arc::new(store)
        }
        StoreSpec::Local { root } => {
            check_writable(root).map_err(|e| {
                BuildError::setting(
                    "destination.path",
                    format!(
                        "cannot write into the lake folder {}: {e} (run as a user who may write there, or give another folder)",
                        root.display()
                    ),
                )
            })?;
            Arc::new(LocalStore::new(root.clone(), "LocalLake"))
        }
    };
    let root = ctx.prefix.table_layout().root;
    let name_start = format!("{}-", ctx.naming.stream);
    match store.clean_up_after_crash(&root, &name_start).await {
        Ok(0) => {}
        Ok(cleaned) => tracing::info!(
            cleaned,
            "removed what an earlier crash left (temp files, unfinished multipart uploads)"
        ),
        Err(e) => tracing::warn!(error = %e, "could not clean up after an earlier crash; going on"),
    }

    // The catalog first: an inferred schema starts from the table's existing columns.
    let (catalog, existing_columns, description) = catalog(d, ctx).await?;
    let encoder = encoder(d, ctx, existing_columns).await?;
    let location = store.url(&root);
    let query = query_hint(&location, &d.format, ctx.naming.extension.as_deref());
    let sink = ObjectSink::new(store.clone(), ctx.naming.clone(), encoder, catalog);
    Ok(Built {
        sink: Arc::new(sink),
        store: Some(store),
        location,
        catalog: description,
        query,
    })
}

/// The catalog, the columns its table already has, and where it is, for people.
type BuiltCatalog = (
    Option<Arc<dyn Catalog>>,
    Option<Vec<spillway_formats::schema::ColumnSpec>>,
    Option<String>,
);

async fn catalog(d: &ObjectDestination, ctx: &BuildContext<'_>) -> Result<BuiltCatalog, BuildError> {
    let Some((kind, target)) = &d.catalog else {
        return Ok((None, None, None));
    };
    match (kind, &d.store) {
        (CatalogKind::Local, StoreSpec::Local { root }) => {
            let catalog = LocalCatalog::new(root, ctx.prefix.clone(), target.clone());
            let existing = catalog.existing_columns().map_err(|e| {
                BuildError::setting("destination.catalog", format!("cannot read the local catalog: {e}"))
            })?;
            let description = format!(
                "{}/{CATALOG_DIR}/{}/{}/ (table.json, partitions/, create_table.sql)",
                root.display(),
                target.database,
                target.table
            );
            Ok((Some(Arc::new(catalog)), existing, Some(description)))
        }
        (CatalogKind::Glue, StoreSpec::S3 { options, .. }) => {
            let glue = ctx.aws.glue().await;
            let existing = read_columns(&glue, &target.database, &target.table).await?;
            let catalog = GlueCatalog::new(glue, target.clone(), ctx.prefix.clone(), &options.bucket);
            let description = format!("Glue table {}.{}", target.database, target.table);
            Ok((Some(Arc::new(catalog)), existing, Some(description)))
        }
        // Refused when the section was read.
        _ => Err(BuildError::setting(
            "destination.catalog.type",
            "does not go with this destination",
        )),
    }
}

async fn encoder(
    d: &ObjectDestination,
    ctx: &BuildContext<'_>,
    existing_columns: Option<Vec<spillway_formats::schema::ColumnSpec>>,
) -> Result<Arc<dyn Encoder>, BuildError> {
    let key = "destination.format.schema";
    match &d.format {
        FormatSettings::Parquet {
            compression,
            row_group_bytes,
            schema,
        } => {
            let source = match schema {
                SchemaChoice::Columns(schema) => SchemaSource::Fixed(schema.clone()),
                SchemaChoice::Infer { sample } => {
                    let existing = match existing_columns.filter(|c| !c.is_empty()) {
                        Some(columns) => Some(TableSchema::from_columns(&columns).map_err(|e| {
                            BuildError::setting(key, format!("the catalog table's columns: {e}"))
                        })?),
                        None => None,
                    };
                    ParquetEncoder::inferring(*sample, existing)
                }
                SchemaChoice::GlueTable { database, table } => {
                    let glue = ctx.aws.glue().await;
                    let columns = read_columns(&glue, database, table).await?.ok_or_else(|| {
                        BuildError::setting(
                            "destination.format.schema.glue_table",
                            format!("Glue table {database}.{table} does not exist"),
                        )
                    })?;
                    let schema = TableSchema::from_columns(&columns).map_err(|e| {
                        BuildError::setting(
                            "destination.format.schema.glue_table",
                            format!("the columns of {database}.{table}: {e}"),
                        )
                    })?;
                    SchemaSource::Fixed(Arc::new(schema))
                }
            };
            let encoder = ParquetEncoder::new(source, *compression, *row_group_bytes)
                .map_err(|e| BuildError::setting("destination.format", e))?;
            Ok(Arc::new(encoder))
        }
        FormatSettings::Ndjson { codec, level } => Ok(Arc::new(NdjsonEncoder {
            codec: *codec,
            level: *level,
        })),
    }
}

/// A DuckDB command that counts what the destination holds (its objects end in `extension`,
/// the configured one or the format's).
fn query_hint(location: &str, format: &FormatSettings, extension: Option<&str>) -> Option<String> {
    let url = location.trim_end_matches('/');
    let glob = match format {
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
