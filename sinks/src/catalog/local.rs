//! The local catalog: Glue-style JSON documents for the database, the table and each
//! partition, plus the Athena DDL beside them, under `<lake>/_catalog/<database>/<table>/`.
//! Partitions are registered only after their first object is durable, and idempotently.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use spillway_formats::prefix::{PrefixTemplate, TableLayout};
use spillway_formats::schema::{ColumnSpec, TableSchema};

use async_trait::async_trait;

use super::{Catalog, CatalogTarget, TableDefinition};
use crate::fs::write_atomically;
use crate::sink::SinkError;
use crate::store::from_io;

/// Folder under the lake root that holds the catalog.
pub const CATALOG_DIR: &str = "_catalog";

pub struct LocalCatalog {
    dir: PathBuf,
    prefix: PrefixTemplate,
    layout: TableLayout,
    lake_location: String,
    target: CatalogTarget,
    state: Mutex<CatalogState>,
}

#[derive(Default)]
struct CatalogState {
    /// Columns of the table document last written (None: not yet written by this process).
    columns: Option<Vec<ColumnSpec>>,
    known_partitions: HashSet<String>,
    /// Partitions whose registration failed; retried on every later registration.
    pending: Vec<String>,
}

impl LocalCatalog {
    pub fn new(lake_root: &Path, prefix: PrefixTemplate, target: CatalogTarget) -> Self {
        let absolute = fs::canonicalize(lake_root).unwrap_or_else(|_| lake_root.to_path_buf());
        LocalCatalog {
            dir: lake_root
                .join(CATALOG_DIR)
                .join(&target.database)
                .join(&target.table),
            layout: prefix.table_layout(),
            prefix,
            lake_location: format!("file://{}/", absolute.display()),
            target,
            state: Mutex::default(),
        }
    }

    fn definition(&self, columns: Vec<ColumnSpec>) -> TableDefinition {
        TableDefinition {
            database: self.target.database.clone(),
            table: self.target.table.clone(),
            columns,
            partition_columns: self.layout.partition_columns.clone(),
            location: format!("{}{}", self.lake_location, self.layout.root),
        }
    }

    /// Records that an object with `columns` is durable under `evaluated_prefix`: writes the
    /// table documents when the columns are new, and the partition when it is new. A
    /// partition that cannot be registered now is kept and retried with the next call.
    pub fn register_columns(
        &self,
        columns: &[ColumnSpec],
        evaluated_prefix: &str,
    ) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let table = self.definition(columns.to_vec());
        let new_partition = !table.partition_columns.is_empty()
            && !state.known_partitions.contains(evaluated_prefix)
            && !state.pending.iter().any(|p| p == evaluated_prefix);
        if new_partition {
            state.pending.push(evaluated_prefix.to_string());
        }
        if state.columns.as_deref() != Some(columns) {
            write_json(&self.dir.join("table.json"), &table.table_json())?;
            let database = self.dir.parent().unwrap_or(&self.dir).join("database.json");
            write_json(&database, &table.database_json())?;
            write_text(
                &self.dir.join("create_table.sql"),
                &table.create_table_ddl(),
            )?;
            state.columns = Some(columns.to_vec());
        }
        while let Some(prefix) = state.pending.last().cloned() {
            self.register_partition(&table, &prefix)?;
            state.pending.pop();
            state.known_partitions.insert(prefix);
        }
        Ok(())
    }

    /// Writes the partition document and its DDL line, unless an earlier run did.
    fn register_partition(
        &self,
        table: &TableDefinition,
        evaluated_prefix: &str,
    ) -> io::Result<()> {
        let values = self.prefix.partition_values(evaluated_prefix);
        let doc_name = format!("{}.json", values.join(",").replace(['/', '\\'], "_"));
        let doc_path = self.dir.join("partitions").join(doc_name);
        if doc_path.exists() {
            return Ok(());
        }
        let location = format!("{}{evaluated_prefix}", self.lake_location);
        write_json(&doc_path, &table.partition_json(&values, &location))?;
        let mut ddl = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("partitions.sql"))?;
        ddl.write_all(table.add_partition_ddl(&values, &location).as_bytes())
    }
}

impl LocalCatalog {
    /// The columns of the table document, if an earlier run wrote one.
    pub fn existing_columns(&self) -> io::Result<Option<Vec<ColumnSpec>>> {
        let text = match std::fs::read(self.dir.join("table.json")) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let doc: serde_json::Value = serde_json::from_slice(&text).map_err(io::Error::other)?;
        let columns = doc["StorageDescriptor"]["Columns"]
            .as_array()
            .map(|columns| {
                columns
                    .iter()
                    .map(|c| ColumnSpec {
                        name: c["Name"].as_str().unwrap_or_default().to_string(),
                        hive_type: c["Type"].as_str().unwrap_or("string").to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(columns))
    }
}

#[async_trait]
impl Catalog for LocalCatalog {
    /// A few small files written in place (the documents are rewritten atomically).
    async fn register(
        &self,
        schema: &TableSchema,
        evaluated_prefix: &str,
    ) -> Result<(), SinkError> {
        self.register_columns(&schema.columns(), evaluated_prefix)
            .map_err(|e| {
                from_io(
                    e,
                    &format!("updating the local catalog in {}", self.dir.display()),
                )
            })
    }
}

fn write_json(path: &Path, doc: &serde_json::Value) -> io::Result<()> {
    let text = serde_json::to_string_pretty(doc).map_err(io::Error::other)?;
    write_text(path, &text)
}

fn write_text(path: &Path, text: &str) -> io::Result<()> {
    write_atomically(path, |w| w.write_all(text.as_bytes()).map(|_| true)).map(|_| ())
}
