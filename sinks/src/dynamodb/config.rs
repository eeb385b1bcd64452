//! The DynamoDB section (`type = "dynamodb"`): the table (a name or a `!{…}` template), the
//! key attributes and the record fields they come from, the item mapping (renames, include
//! and exclude lists, string sets, a TTL), the write mode, and the AWS settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use spillway_formats::decode::FieldPath;
use spillway_formats::prefix::NameRule;

use super::{ensure_table, DynamoSink, ItemMapping, KeyField, KeyType, Ordering, TtlField};
use crate::aws::AwsConnection;
use crate::destination::{
    Backup, BuildContext, BuildError, Built, Destination, DestinationType, Features, Target,
};
use crate::settings::{field_names, read_section, HumanDuration, Problems};

const KEY: &str = "destination";

/// This folder's destination.
pub const TYPE: DestinationType = DestinationType {
    name: "dynamodb",
    read: |table, _, p| Some(Box::new(read(table, p)?)),
    keys: || field_names::<DynamodbDestinationConfig>().to_vec(),
};

/// A DynamoDB table: each record becomes an item, for key-value lookups of the latest state.
#[derive(Debug, Deserialize)]
pub struct DynamodbDestinationConfig {
    /// Table name; may use `!{timestamp:…}` and `!{partitionKeyFromQuery:…}` expressions.
    pub table: String,
    pub partition_key: KeyConfig,
    #[serde(default)]
    pub sort_key: Option<KeyConfig>,
    /// Top-level field → attribute name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Top-level fields kept; default: all.
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Top-level fields dropped.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Attributes whose arrays of strings are written as string sets (`SS`).
    #[serde(default)]
    pub string_sets: Vec<String>,
    #[serde(default)]
    pub ttl: Option<TtlConfig>,
    /// `none` (last write wins, BatchWriteItem) or `sequence` (conditional writes by source
    /// position: an older record never overwrites a newer one).
    #[serde(default)]
    pub ordering: OrderingConfig,
    /// Attribute holding the source position in `sequence` mode.
    #[serde(default = "defaults::sequence_attribute")]
    pub sequence_attribute: String,
    /// Create the table (on-demand) if it does not exist; for development.
    #[serde(default)]
    pub create_table: bool,
    /// Conditional writes in flight at once in `sequence` mode.
    #[serde(default = "defaults::write_concurrency")]
    pub write_concurrency: usize,
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override; default: the AWS SDK chain (`AWS_ENDPOINT_URL_DYNAMODB`, …).
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

/// A key attribute and the record field it is taken from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub attribute: String,
    /// jq-like path, e.g. `.order_id`.
    pub field: String,
    /// `S` (default) or `N`; used when creating the table.
    #[serde(rename = "type", default)]
    pub kind: KeyTypeConfig,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
pub enum KeyTypeConfig {
    #[default]
    S,
    N,
}

/// A TTL attribute: the record's time field plus `after`, in epoch seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtlConfig {
    pub attribute: String,
    pub field: String,
    pub after: HumanDuration,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrderingConfig {
    #[default]
    None,
    Sequence,
}

mod defaults {
    pub fn sequence_attribute() -> String {
        "_spillway_seq".into()
    }
    pub fn write_concurrency() -> usize {
        16
    }
}

/// A checked DynamoDB destination.
#[derive(Debug)]
pub struct DynamodbDestination {
    pub table: String,
    pub mapping: ItemMapping,
    pub ordering: Ordering,
    pub write_concurrency: usize,
    /// Create the table if missing, with these key types.
    pub create_table: Option<(KeyType, Option<KeyType>)>,
    pub connection: AwsConnection,
}

/// Reads and checks the section.
pub fn read(table: &toml::Value, p: &mut Problems) -> Option<DynamodbDestination> {
    let d: DynamodbDestinationConfig = read_section(table, KEY, p).ok()?;
    let before = p.count();
    let static_name = !d.table.contains("!{");
    let name_ok = (3..=255).contains(&d.table.len())
        && d.table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if static_name && !name_ok {
        p.add(
            format!("{KEY}.table"),
            format!(
                "{:?} is not a valid table name (3–255 characters of A–Z, a–z, 0–9, _ . -)",
                d.table
            ),
        );
    }
    let mut field = |path: &str, text: &str| {
        FieldPath::parse(text)
            .map_err(|e| p.add(format!("{KEY}.{path}"), e.to_string()))
            .ok()
    };
    let partition_field = field("partition_key.field", &d.partition_key.field);
    let sort_field = (d.sort_key.as_ref()).map(|k| field("sort_key.field", &k.field));
    let ttl_field = d.ttl.as_ref().map(|t| field("ttl.field", &t.field));
    let key_type = |k: &KeyConfig| match k.kind {
        KeyTypeConfig::S => KeyType::String,
        KeyTypeConfig::N => KeyType::Number,
    };
    if !(1..=256).contains(&d.write_concurrency) {
        p.add(
            format!("{KEY}.write_concurrency"),
            format!("{} is outside 1–256", d.write_concurrency),
        );
    }
    (p.count() == before).then_some(())?;
    let ordering = match d.ordering {
        OrderingConfig::None => Ordering::None,
        OrderingConfig::Sequence => Ordering::Sequence,
    };
    let mapping = ItemMapping {
        partition_key: KeyField {
            attribute: d.partition_key.attribute.clone(),
            field: partition_field?,
        },
        sort_key: match (&d.sort_key, sort_field.flatten()) {
            (Some(k), Some(field)) => Some(KeyField {
                attribute: k.attribute.clone(),
                field,
            }),
            _ => None,
        },
        renames: d.rename,
        include: d.include,
        exclude: d.exclude,
        string_sets: d.string_sets,
        ttl: match (d.ttl, ttl_field.flatten()) {
            (Some(t), Some(field)) => Some(TtlField {
                attribute: t.attribute,
                field,
                add: t.after.0,
            }),
            _ => None,
        },
        sequence_attribute: (ordering == Ordering::Sequence).then_some(d.sequence_attribute),
    };
    let create_table = d.create_table.then(|| {
        (
            key_type(&d.partition_key),
            d.sort_key.as_ref().map(key_type),
        )
    });
    Some(DynamodbDestination {
        table: d.table,
        mapping,
        ordering,
        write_concurrency: d.write_concurrency,
        create_table,
        connection: AwsConnection {
            region: d.region,
            endpoint_url: d.endpoint_url,
            force_path_style: None,
            request_timeout: None,
        },
    })
}

#[async_trait]
impl Destination for DynamodbDestination {
    fn target(&self) -> Target {
        Target {
            key: "destination.table",
            template: Some(self.table.clone()),
            rule: NameRule::TableName,
        }
    }

    fn features(&self) -> Features {
        Features {
            exactly_once: false,
            backup: Backup::Refused("is not kept by DynamoDB destinations"),
            object_names: false,
        }
    }

    fn has_store(&self) -> bool {
        false
    }

    fn aws_connection(&self) -> Option<&AwsConnection> {
        Some(&self.connection)
    }

    async fn build(&self, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let client = ctx.aws.dynamodb().await;
        if let Some((partition_type, sort_type)) = self.create_table {
            let partition = (self.mapping.partition_key.attribute.as_str(), partition_type);
            let sort = (self.mapping.sort_key.as_ref())
                .zip(sort_type)
                .map(|(k, t)| (k.attribute.as_str(), t));
            ensure_table(&client, ctx.prefix.source(), partition, sort)
                .await
                .map_err(|e| BuildError::setting("destination.create_table", e))?;
        }
        let sink = DynamoSink::new(
            client,
            self.mapping.clone(),
            self.ordering,
            self.write_concurrency,
        );
        Ok(Built {
            sink: Arc::new(sink),
            store: None,
            location: format!("DynamoDB table {}", ctx.prefix.source()),
            catalog: None,
            query: None,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
