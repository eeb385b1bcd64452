//! Catalogs: after an object is durable, its table and partition are registered so that
//! Athena, Trino or DuckDB can query it at once. [`Catalog`] is what the object sink calls;
//! [`TableDefinition`] builds the Glue-shaped table and partition documents and the matching
//! Athena DDL from the table schema and the prefix's layout (pure) — the [`local`] catalog
//! writes them as files, the [`glue`] catalog sends the same fields through the API.

pub mod glue;
pub mod local;

use async_trait::async_trait;
use serde_json::{json, Value};
use spillway_formats::schema::{ColumnSpec, TableSchema};

use crate::sink::SinkError;

/// Registers tables and partitions, after the object is durable.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// `schema` is the schema the object was written with (new columns are added to the
    /// table, none dropped); `evaluated_prefix` is the object's partition.
    async fn register(&self, schema: &TableSchema, evaluated_prefix: &str)
        -> Result<(), SinkError>;
}

/// The catalog table objects are registered in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogTarget {
    pub database: String,
    pub table: String,
}

pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

/// A Parquet table over a partitioned prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDefinition {
    pub database: String,
    pub table: String,
    /// Data columns (lower-case names, Hive types).
    pub columns: Vec<ColumnSpec>,
    /// Partition columns, all `string`, from the prefix layout.
    pub partition_columns: Vec<String>,
    /// Table location, ending in `/` (e.g. `s3://bucket/events/`).
    pub location: String,
}

/// A Hive identifier in backticks, a backtick in it doubled.
fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A Hive string literal in single quotes, with backslash escapes (Hive's DDL grammar).
fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl TableDefinition {
    /// The data columns, without any that is also a partition column: a table cannot list a
    /// name twice (Athena refuses it), and the partition's value is the record's value (a
    /// partition key from a record field), so readers lose nothing.
    pub fn data_columns(&self) -> Vec<&ColumnSpec> {
        let partitions: Vec<String> = self
            .partition_columns
            .iter()
            .map(|p| p.to_lowercase())
            .collect();
        self.columns
            .iter()
            .filter(|c| !partitions.contains(&c.name.to_lowercase()))
            .collect()
    }

    fn storage_descriptor(&self, location: &str) -> Value {
        let columns: Vec<Value> = self
            .data_columns()
            .iter()
            .map(|c| json!({"Name": c.name.to_lowercase(), "Type": c.hive_type}))
            .collect();
        json!({
            "Columns": columns,
            "Location": location,
            "InputFormat": PARQUET_INPUT_FORMAT,
            "OutputFormat": PARQUET_OUTPUT_FORMAT,
            "Compressed": false,
            "SerdeInfo": {
                "SerializationLibrary": PARQUET_SERDE,
                "Parameters": {"serialization.format": "1"}
            }
        })
    }

    pub fn database_json(&self) -> Value {
        json!({"Name": self.database, "Description": "Created by Spillway"})
    }

    pub fn table_json(&self) -> Value {
        let keys: Vec<Value> = self
            .partition_columns
            .iter()
            .map(|name| json!({"Name": name, "Type": "string"}))
            .collect();
        json!({
            "Name": self.table,
            "DatabaseName": self.database,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
            "PartitionKeys": keys,
            "StorageDescriptor": self.storage_descriptor(&self.location),
        })
    }

    /// The partition document for `values` (one per partition column) at `location`.
    pub fn partition_json(&self, values: &[String], location: &str) -> Value {
        json!({
            "DatabaseName": self.database,
            "TableName": self.table,
            "Values": values,
            "StorageDescriptor": self.storage_descriptor(location),
        })
    }

    /// Athena `CREATE EXTERNAL TABLE` for this table: identifiers in backticks, strings in
    /// quotes, each escaped, so any column name (a reserved word, a quote, a backtick) works.
    pub fn create_table_ddl(&self) -> String {
        let columns: Vec<String> = self
            .data_columns()
            .iter()
            .map(|c| {
                format!(
                    "  {} {}",
                    quote_identifier(&c.name.to_lowercase()),
                    c.hive_type
                )
            })
            .collect();
        let mut ddl = format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{} (\n{}\n)\n",
            quote_identifier(&self.database),
            quote_identifier(&self.table),
            columns.join(",\n")
        );
        if !self.partition_columns.is_empty() {
            let keys: Vec<String> = self
                .partition_columns
                .iter()
                .map(|k| format!("{} string", quote_identifier(k)))
                .collect();
            ddl.push_str(&format!("PARTITIONED BY ({})\n", keys.join(", ")));
        }
        ddl.push_str(&format!(
            "STORED AS PARQUET\nLOCATION {}\nTBLPROPERTIES ('classification'='parquet');\n",
            quote_string(&self.location)
        ));
        ddl
    }

    /// Athena `ALTER TABLE … ADD IF NOT EXISTS PARTITION` for one partition.
    pub fn add_partition_ddl(&self, values: &[String], location: &str) -> String {
        let spec: Vec<String> = self
            .partition_columns
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{} = {}", quote_identifier(k), quote_string(v)))
            .collect();
        format!(
            "ALTER TABLE {}.{} ADD IF NOT EXISTS PARTITION ({}) LOCATION {};\n",
            quote_identifier(&self.database),
            quote_identifier(&self.table),
            spec.join(", "),
            quote_string(location)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableDefinition {
        TableDefinition {
            database: "db".into(),
            table: "events".into(),
            columns: vec![
                ColumnSpec {
                    name: "user_id".into(),
                    hive_type: "string".into(),
                },
                ColumnSpec {
                    name: "TS".into(),
                    hive_type: "timestamp".into(),
                },
            ],
            partition_columns: vec!["dt".into(), "hour".into()],
            location: "s3://b/events/".into(),
        }
    }

    #[test]
    fn table_document_has_glue_fields_and_parquet_serde() {
        let doc = table().table_json();
        assert_eq!(
            doc["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"],
            PARQUET_SERDE
        );
        assert_eq!(doc["StorageDescriptor"]["Columns"][1]["Name"], "ts");
        assert_eq!(doc["PartitionKeys"][1]["Name"], "hour");
        assert_eq!(doc["Parameters"]["classification"], "parquet");
        let p = table().partition_json(
            &["2024-05-01".into(), "00".into()],
            "s3://b/events/dt=2024-05-01/hour=00/",
        );
        assert_eq!(p["Values"][0], "2024-05-01");
    }

    #[test]
    fn odd_names_are_quoted_and_a_partition_key_is_not_listed_twice() {
        let col = |name: &str, t: &str| ColumnSpec {
            name: name.into(),
            hive_type: t.into(),
        };
        let table = TableDefinition {
            database: "db".into(),
            table: "t".into(),
            columns: vec![
                col("we`ird", "string"),
                col("it's", "bigint"),
                col("select", "string"),
                col("Country", "string"),
            ],
            partition_columns: vec!["country".into()],
            location: "/data/o'brien\\lake/".into(),
        };
        let ddl = table.create_table_ddl();
        assert!(
            ddl.contains("  `we``ird` string,\n  `it's` bigint,\n  `select` string\n)"),
            "{ddl}"
        );
        assert!(ddl.contains("PARTITIONED BY (`country` string)"), "{ddl}");
        assert_eq!(ddl.matches("country").count(), 1, "{ddl}");
        assert!(ddl.contains("LOCATION '/data/o\\'brien\\\\lake/'"), "{ddl}");
        let columns = table.table_json()["StorageDescriptor"]["Columns"].clone();
        assert_eq!(columns.as_array().unwrap().len(), 3);
        assert_eq!(
            table.add_partition_ddl(&["O'Neil".into()], "/x/"),
            "ALTER TABLE `db`.`t` ADD IF NOT EXISTS PARTITION (`country` = 'O\\'Neil') LOCATION '/x/';\n"
        );
    }

    #[test]
    fn ddl_matches_the_definition() {
        let ddl = table().create_table_ddl();
        assert!(ddl.contains("`ts` timestamp"));
        assert!(ddl.contains("PARTITIONED BY (`dt` string, `hour` string)"));
        assert!(ddl.contains("LOCATION 's3://b/events/'"));
        assert_eq!(
            table().add_partition_ddl(&["2024-05-01".into(), "00".into()], "s3://b/x/"),
            "ALTER TABLE `db`.`events` ADD IF NOT EXISTS PARTITION (`dt` = '2024-05-01', `hour` = '00') LOCATION 's3://b/x/';\n"
        );
    }
}
