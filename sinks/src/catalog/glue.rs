//! The Glue Data Catalog: the table is created if missing (database too), new columns are
//! added with UpdateTable (never dropped or retyped), and each new partition is registered
//! with BatchCreatePartition once its first object is durable — idempotent on
//! `AlreadyExistsException` — so Athena can query new data at once, with no crawler and no
//! `MSCK REPAIR TABLE`. Registrations of one stream run one at a time (an async lock), so a
//! new table or column is created once; new partitions queue while a call is in flight and go
//! together in the next one, at most [`PARTITIONS_PER_CALL`] per call (Glue's limit), so a
//! flush of thousands of partitions costs tens of calls, not thousands.

use std::collections::{HashMap, HashSet};

/// BatchCreatePartition takes at most this many partitions a call.
pub const PARTITIONS_PER_CALL: usize = 100;

use async_trait::async_trait;
use tokio::sync::Mutex;

use aws_sdk_glue::types::{
    Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, TableInput,
};
use aws_sdk_glue::Client;
use spillway_formats::prefix::{PrefixTemplate, TableLayout};
use spillway_formats::schema::{ColumnSpec, TableSchema};

use super::{
    Catalog, CatalogTarget, TableDefinition, PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT,
    PARQUET_SERDE,
};
use crate::aws::sink_error;
use crate::sink::SinkError;

pub struct GlueCatalog {
    client: Client,
    target: CatalogTarget,
    prefix: PrefixTemplate,
    layout: TableLayout,
    /// `s3://bucket/`: the table location is this plus the layout root.
    bucket_url: String,
    state: Mutex<GlueState>,
    /// New partitions not yet registered: added without waiting for `state`, sent by whichever
    /// registration holds it next (a failure puts them back, to be retried with the next
    /// object).
    queued: std::sync::Mutex<Vec<String>>,
}

#[derive(Default)]
struct GlueState {
    /// The table's data columns as last read or written; `None` before the first look.
    columns: Option<Vec<ColumnSpec>>,
    known_partitions: HashSet<String>,
}

impl GlueCatalog {
    pub fn new(
        client: Client,
        target: CatalogTarget,
        prefix: PrefixTemplate,
        bucket: &str,
    ) -> Self {
        GlueCatalog {
            client,
            target,
            layout: prefix.table_layout(),
            prefix,
            bucket_url: format!("s3://{bucket}/"),
            state: Mutex::default(),
            queued: std::sync::Mutex::default(),
        }
    }

    fn name(&self) -> String {
        format!("{}.{}", self.target.database, self.target.table)
    }

    fn definition(&self, columns: Vec<ColumnSpec>) -> TableDefinition {
        TableDefinition {
            database: self.target.database.clone(),
            table: self.target.table.clone(),
            columns,
            partition_columns: self.layout.partition_columns.clone(),
            location: format!("{}{}", self.bucket_url, self.layout.root),
        }
    }

    /// Makes the table exist with at least `wanted` columns; returns its columns.
    async fn ensure_table(
        &self,
        known: Option<Vec<ColumnSpec>>,
        wanted: &[ColumnSpec],
    ) -> Result<Vec<ColumnSpec>, SinkError> {
        let current = match known {
            Some(columns) => Some(columns),
            None => read_columns(&self.client, &self.target.database, &self.target.table).await?,
        };
        let Some(current) = current else {
            self.create_table(wanted).await?;
            return Ok(wanted.to_vec());
        };
        let have: HashSet<String> = current.iter().map(|c| c.name.to_lowercase()).collect();
        let added: Vec<ColumnSpec> = wanted
            .iter()
            .filter(|c| !have.contains(&c.name.to_lowercase()))
            .cloned()
            .collect();
        if added.is_empty() {
            return Ok(current);
        }
        let mut columns = current;
        columns.extend(added.iter().cloned());
        let input = table_input(&self.definition(columns.clone()))?;
        self.client
            .update_table()
            .database_name(&self.target.database)
            .table_input(input)
            .send()
            .await
            .map_err(|e| sink_error("Glue", "UpdateTable", &self.name(), e))?;
        let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
        tracing::info!(table = %self.name(), columns = ?names, "added new columns to the Glue table");
        Ok(columns)
    }

    async fn create_table(&self, columns: &[ColumnSpec]) -> Result<(), SinkError> {
        let database = DatabaseInput::builder()
            .name(&self.target.database)
            .description("Created by Spillway")
            .build()
            .map_err(|e| SinkError::permanent("Glue.BadRequest", e.to_string()))?;
        if let Err(e) = self
            .client
            .create_database()
            .database_input(database)
            .send()
            .await
        {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_already_exists_exception())
            {
                return Err(sink_error(
                    "Glue",
                    "CreateDatabase",
                    &self.target.database,
                    e,
                ));
            }
        }
        let input = table_input(&self.definition(columns.to_vec()))?;
        match self
            .client
            .create_table()
            .database_name(&self.target.database)
            .table_input(input)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(table = %self.name(), "created the Glue table");
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sink_error("Glue", "CreateTable", &self.name(), e)),
        }
    }

    async fn create_partitions(
        &self,
        table: &TableDefinition,
        prefixes: &[String],
    ) -> Result<(), SinkError> {
        let inputs: Vec<PartitionInput> = prefixes
            .iter()
            .map(|prefix| {
                let values = self.prefix.partition_values(prefix);
                let location = format!("{}{prefix}", self.bucket_url);
                Ok(PartitionInput::builder()
                    .set_values(Some(values))
                    .storage_descriptor(storage_descriptor(table, &location)?)
                    .build())
            })
            .collect::<Result<_, SinkError>>()?;
        let response = self
            .client
            .batch_create_partition()
            .database_name(&self.target.database)
            .table_name(&self.target.table)
            .set_partition_input_list(Some(inputs))
            .send()
            .await
            .map_err(|e| sink_error("Glue", "BatchCreatePartition", &self.name(), e))?;
        let failures: Vec<String> = response
            .errors()
            .iter()
            .filter_map(|e| {
                let detail = e.error_detail()?;
                let code = detail.error_code().unwrap_or("Unknown");
                (code != "AlreadyExistsException").then(|| {
                    format!(
                        "{:?}: {code}: {}",
                        e.partition_values(),
                        detail.error_message().unwrap_or("")
                    )
                })
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(SinkError::retryable(
                "Glue.BatchCreatePartition",
                format!("{}: {}", self.name(), failures.join("; ")),
            ))
        }
    }
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn register(
        &self,
        schema: &TableSchema,
        evaluated_prefix: &str,
    ) -> Result<(), SinkError> {
        let partitioned = !self.layout.partition_columns.is_empty();
        if partitioned {
            let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
            if !queued.iter().any(|p| p == evaluated_prefix) {
                queued.push(evaluated_prefix.to_string());
            }
        }
        let mut state = self.state.lock().await;
        let wanted = schema.columns();
        let known = state.columns.clone();
        let needs_table = known.as_ref().is_none_or(|have| {
            let names: HashSet<String> = have.iter().map(|c| c.name.to_lowercase()).collect();
            wanted
                .iter()
                .any(|c| !names.contains(&c.name.to_lowercase()))
        });
        if needs_table {
            state.columns = Some(self.ensure_table(known, &wanted).await?);
        }
        // Everything queued so far, this object's partition among it unless a registration
        // before this one already sent it.
        let pending: Vec<String> = {
            let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *queued)
                .into_iter()
                .filter(|p| !state.known_partitions.contains(p))
                .collect()
        };
        if pending.is_empty() {
            return Ok(());
        }
        let table = self.definition(state.columns.clone().unwrap_or(wanted));
        for (i, chunk) in pending.chunks(PARTITIONS_PER_CALL).enumerate() {
            if let Err(e) = self.create_partitions(&table, chunk).await {
                let unsent = &pending[i * PARTITIONS_PER_CALL..];
                let mut queued = self.queued.lock().unwrap_or_else(|p| p.into_inner());
                queued.extend(unsent.iter().cloned());
                return Err(e);
            }
            state.known_partitions.extend(chunk.iter().cloned());
        }
        Ok(())
    }
}

/// The data columns of a Glue table, or `None` if the table does not exist. Also how a schema
/// is taken from an existing table (`schema = { glue_table = "db.table" }`), as Firehose's
/// format conversion does.
pub async fn read_columns(
    client: &Client,
    database: &str,
    table: &str,
) -> Result<Option<Vec<ColumnSpec>>, SinkError> {
    match client
        .get_table()
        .database_name(database)
        .name(table)
        .send()
        .await
    {
        Ok(response) => {
            let columns = response
                .table()
                .and_then(|t| t.storage_descriptor())
                .map(|sd| {
                    sd.columns()
                        .iter()
                        .map(|c| ColumnSpec {
                            name: c.name().to_string(),
                            hive_type: c.r#type().unwrap_or("string").to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Some(columns))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sink_error(
            "Glue",
            "GetTable",
            &format!("{database}.{table}"),
            e,
        )),
    }
}

fn column(name: &str, hive_type: &str) -> Result<Column, SinkError> {
    Column::builder()
        .name(name.to_lowercase())
        .r#type(hive_type)
        .build()
        .map_err(|e| SinkError::permanent("Glue.BadRequest", e.to_string()))
}

fn storage_descriptor(
    table: &TableDefinition,
    location: &str,
) -> Result<StorageDescriptor, SinkError> {
    let columns = table
        .columns
        .iter()
        .map(|c| column(&c.name, &c.hive_type))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(location)
        .input_format(PARQUET_INPUT_FORMAT)
        .output_format(PARQUET_OUTPUT_FORMAT)
        .compressed(false)
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(PARQUET_SERDE)
                .set_parameters(Some(HashMap::from([(
                    "serialization.format".to_string(),
                    "1".to_string(),
                )])))
                .build(),
        )
        .build())
}

fn table_input(table: &TableDefinition) -> Result<TableInput, SinkError> {
    let keys = table
        .partition_columns
        .iter()
        .map(|k| column(k, "string"))
        .collect::<Result<Vec<_>, _>>()?;
    TableInput::builder()
        .name(&table.table)
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(HashMap::from([
            ("classification".to_string(), "parquet".to_string()),
            ("EXTERNAL".to_string(), "TRUE".to_string()),
        ])))
        .set_partition_keys(Some(keys))
        .storage_descriptor(storage_descriptor(table, &table.location)?)
        .build()
        .map_err(|e| SinkError::permanent("Glue.BadRequest", e.to_string()))
}
