//! The index template an OpenSearch destination installs for its indices, so the cluster's
//! mappings come from the stream's schema — the same Hive-style column types the Parquet
//! destination takes — instead of from whichever document happens to arrive first (dynamic
//! mapping: one `"user_id": 12345` first in a day's index makes the field `long`, and every
//! later string id is refused). Composable templates (`PUT _index_template/<name>`) are
//! understood by OpenSearch 1/2 and Elasticsearch 7.8+ alike. Pure: builds JSON only.

use arrow_schema::DataType;
use serde_json::{json, Map, Value};
use spillway_formats::schema::TableSchema;

/// Priority of Spillway's templates (composable templates of equal priority must not
/// overlap: a clash is reported by the cluster at start).
pub const TEMPLATE_PRIORITY: u32 = 200;

/// What the cluster does with fields the mappings do not list (`mappings.dynamic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dynamic {
    /// Map them from the first value seen (the cluster's own default).
    True,
    /// Keep them in `_source` without indexing them (Spillway's default with a schema).
    False,
    /// Refuse documents that have them (they go to the dead letter).
    Strict,
}

impl Dynamic {
    pub fn as_str(self) -> &'static str {
        match self {
            Dynamic::True => "true",
            Dynamic::False => "false",
            Dynamic::Strict => "strict",
        }
    }
}

/// An index template: its name and the body of `PUT _index_template/<name>`.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexTemplate {
    pub name: String,
    pub body: Value,
}

impl IndexTemplate {
    /// A template for the indices whose names start with `root` (`pattern` is `root*`, or the
    /// whole name of an index that does not rotate), with `mappings`. Named after the stream
    /// and the root, so streams writing different indices never replace each other's.
    pub fn new(stream: &str, root: &str, pattern: String, mappings: Value) -> Self {
        let root = root.trim_end_matches(['-', '_', '.']);
        IndexTemplate {
            name: format!("spillway-{stream}-{root}"),
            body: json!({
                "index_patterns": [pattern],
                "priority": TEMPLATE_PRIORITY,
                "template": { "mappings": mappings },
                "_meta": { "managed_by": "spillway", "stream": stream },
            }),
        }
    }
}

/// Mappings for `schema`: one property per column, nested structs as objects.
pub fn mappings_from_schema(schema: &TableSchema, dynamic: Dynamic) -> Value {
    let arrow = schema.arrow();
    let properties: Map<String, Value> = arrow
        .fields()
        .iter()
        .map(|f| (f.name().clone(), field_mapping(f.data_type())))
        .collect();
    json!({ "dynamic": dynamic.as_str(), "properties": properties })
}

/// The mapping of one column type. Strings are `keyword` (ids, codes, names — exact values;
/// give a mapping file for full-text fields); arrays map as their elements (every field of
/// OpenSearch may hold several values); maps are kept in `_source` without being indexed, so
/// their keys cannot grow the mappings without bound.
fn field_mapping(data_type: &DataType) -> Value {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 => json!({ "type": "keyword" }),
        DataType::Boolean => json!({ "type": "boolean" }),
        DataType::Int8 => json!({ "type": "byte" }),
        DataType::Int16 => json!({ "type": "short" }),
        DataType::Int32 => json!({ "type": "integer" }),
        DataType::Int64 => json!({ "type": "long" }),
        DataType::Float32 => json!({ "type": "float" }),
        DataType::Float64 => json!({ "type": "double" }),
        DataType::Timestamp(..) => {
            json!({ "type": "date", "format": "strict_date_optional_time||epoch_millis" })
        }
        DataType::Date32 | DataType::Date64 => {
            json!({ "type": "date", "format": "strict_date||epoch_millis" })
        }
        DataType::Decimal128(_, scale) => match u32::try_from(*scale) {
            Ok(scale) if scale <= 18 => {
                json!({ "type": "scaled_float", "scaling_factor": 10u64.pow(scale) })
            }
            _ => json!({ "type": "double" }),
        },
        DataType::Binary | DataType::LargeBinary => json!({ "type": "binary" }),
        DataType::List(item) | DataType::LargeList(item) => field_mapping(item.data_type()),
        DataType::Struct(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|f| (f.name().clone(), field_mapping(f.data_type())))
                .collect();
            json!({ "properties": properties })
        }
        _ => json!({ "type": "object", "enabled": false }),
    }
}

#[cfg(test)]
mod tests {
    use spillway_formats::schema::ColumnSpec;

    use super::*;

    #[test]
    fn hive_columns_become_mappings() {
        let col = |name: &str, hive_type: &str| ColumnSpec {
            name: name.into(),
            hive_type: hive_type.into(),
        };
        let schema = TableSchema::from_columns(&[
            col("user_id", "string"),
            col("n", "bigint"),
            col("ok", "boolean"),
            col("ts", "timestamp"),
            col("total", "decimal(12,2)"),
            col("geo", "struct<country:string,depth:int>"),
            col("tags", "array<string>"),
            col("attrs", "map<string,string>"),
        ])
        .unwrap();
        let mappings = mappings_from_schema(&schema, Dynamic::False);
        assert_eq!(
            mappings,
            json!({
                "dynamic": "false",
                "properties": {
                    "user_id": { "type": "keyword" },
                    "n": { "type": "long" },
                    "ok": { "type": "boolean" },
                    "ts": { "type": "date", "format": "strict_date_optional_time||epoch_millis" },
                    "total": { "type": "scaled_float", "scaling_factor": 100 },
                    "geo": { "properties": {
                        "country": { "type": "keyword" },
                        "depth": { "type": "integer" }
                    } },
                    "tags": { "type": "keyword" },
                    "attrs": { "type": "object", "enabled": false }
                }
            })
        );
        let template = IndexTemplate::new("s", "logs-", "logs-*".into(), mappings);
        assert_eq!(template.name, "spillway-s-logs");
        assert_eq!(template.body["index_patterns"], json!(["logs-*"]));
        assert_eq!(template.body["template"]["mappings"]["dynamic"], "false");
    }
}
