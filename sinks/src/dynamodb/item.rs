//! JSON record → DynamoDB item, pure: strings `S`, numbers `N` with their exact decimal text
//! (no float round trip), booleans `BOOL`, null `NULL`, arrays `L` (or `SS` for configured
//! attributes), objects `M`; key attributes from jq-like paths, renames, include/exclude
//! lists, a TTL attribute, and the source position for ordered writes. A record that cannot
//! become a valid item is an [`ItemError`] naming why; it goes to the dead letter as
//! `dynamodb-failed`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use spillway_formats::decode::{parse_time_text, FieldPath};
use spillway_formats::record::RecordMeta;
use spillway_formats::value::timestamp_millis_from_number;
use thiserror::Error;

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// A key attribute and the record field it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyField {
    pub attribute: String,
    pub field: FieldPath,
}

/// A TTL attribute: the record's time field plus a duration, in epoch seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TtlField {
    pub attribute: String,
    pub field: FieldPath,
    pub add: Duration,
}

/// How records become items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemMapping {
    pub partition_key: KeyField,
    pub sort_key: Option<KeyField>,
    /// Top-level field → attribute name.
    pub renames: BTreeMap<String, String>,
    /// Top-level fields kept (by field name); `None`: all.
    pub include: Option<Vec<String>>,
    /// Top-level fields dropped (by field name).
    pub exclude: Vec<String>,
    /// Attributes whose arrays of strings are written as string sets (`SS`).
    pub string_sets: Vec<String>,
    pub ttl: Option<TtlField>,
    /// Attribute holding the source position, for ordered writes.
    pub sequence_attribute: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ItemError {
    #[error("record is not valid JSON: {0}")]
    NotJson(String),
    #[error("record is not a JSON object")]
    NotAnObject,
    #[error("record has no key field {field} (for key attribute {attribute})")]
    MissingKey { attribute: String, field: String },
    #[error("key field {field} is {found}; a key must be a non-empty string or a number")]
    BadKey { field: String, found: String },
    #[error("TTL field {field} is missing or not a time")]
    BadTtl { field: String },
    #[error("item is {size} bytes, above DynamoDB's 400 KB limit")]
    TooLarge { size: usize },
    #[error("attribute {attribute}: a string set cannot be empty or hold an empty string")]
    BadStringSet { attribute: String },
}

/// An item and its key, rendered for de-duplication.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub attributes: HashMap<String, AttributeValue>,
    pub key: String,
}

impl ItemMapping {
    pub fn to_item(&self, data: &[u8], meta: &RecordMeta) -> Result<Item, ItemError> {
        let record: Value =
            serde_json::from_slice(data).map_err(|e| ItemError::NotJson(e.to_string()))?;
        let Value::Object(fields) = &record else {
            return Err(ItemError::NotAnObject);
        };
        let mut attributes = HashMap::with_capacity(fields.len() + 3);
        for (name, value) in fields {
            let kept = self.include.as_ref().is_none_or(|keep| keep.contains(name))
                && !self.exclude.contains(name);
            if kept {
                let attribute = self.renames.get(name).unwrap_or(name).clone();
                let value = self.convert(&attribute, value)?;
                attributes.insert(attribute, value);
            }
        }
        let mut key = key_value(&self.partition_key, &record)?;
        let mut rendered = render(&key);
        attributes.insert(self.partition_key.attribute.clone(), key);
        if let Some(sort) = &self.sort_key {
            key = key_value(sort, &record)?;
            rendered = format!("{rendered}\u{1f}{}", render(&key));
            attributes.insert(sort.attribute.clone(), key);
        }
        if let Some(ttl) = &self.ttl {
            let bad = || ItemError::BadTtl {
                field: ttl.field.as_str().to_string(),
            };
            let millis = match ttl.field.extract(&record) {
                Some(Value::String(text)) => parse_time_text(text).ok_or_else(bad)?,
                Some(Value::Number(n)) => {
                    timestamp_millis_from_number(&n.to_string()).map_err(|_| bad())?
                }
                _ => return Err(bad()),
            };
            let expires = millis / 1000 + ttl.add.as_secs() as i64;
            attributes.insert(
                ttl.attribute.clone(),
                AttributeValue::N(expires.to_string()),
            );
        }
        if let Some(attribute) = &self.sequence_attribute {
            attributes.insert(attribute.clone(), AttributeValue::S(position_text(meta)));
        }
        let size: usize = attributes
            .iter()
            .map(|(k, v)| k.len() + value_size(v))
            .sum();
        if size > MAX_ITEM_BYTES {
            return Err(ItemError::TooLarge { size });
        }
        Ok(Item {
            attributes,
            key: rendered,
        })
    }

    fn convert(&self, attribute: &str, value: &Value) -> Result<AttributeValue, ItemError> {
        if let (Value::Array(items), true) =
            (value, self.string_sets.iter().any(|a| a == attribute))
        {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string))
                .collect();
            return match strings {
                Some(mut set) if !set.is_empty() => {
                    set.sort();
                    set.dedup();
                    Ok(AttributeValue::Ss(set))
                }
                _ => Err(ItemError::BadStringSet {
                    attribute: attribute.to_string(),
                }),
            };
        }
        Ok(to_attribute(value))
    }
}

/// A JSON value as an attribute value; numbers keep their exact text.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

fn key_value(key: &KeyField, record: &Value) -> Result<AttributeValue, ItemError> {
    let field = key.field.as_str().to_string();
    match key.field.extract(record) {
        None | Some(Value::Null) => Err(ItemError::MissingKey {
            attribute: key.attribute.clone(),
            field,
        }),
        Some(Value::String(s)) if !s.is_empty() => Ok(AttributeValue::S(s.clone())),
        Some(Value::Number(n)) => Ok(AttributeValue::N(n.to_string())),
        Some(other) => Err(ItemError::BadKey {
            field,
            found: describe(other),
        }),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(_) => "an empty string".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        _ => value.to_string(),
    }
}

fn render(key: &AttributeValue) -> String {
    match key {
        AttributeValue::S(s) => format!("S:{s}"),
        AttributeValue::N(n) => format!("N:{n}"),
        other => format!("{other:?}"),
    }
}

/// The source position as fixed-width text that sorts like the position: the sequence
/// number zero-padded to 64 digits, then the sub-sequence to 10.
pub fn position_text(meta: &RecordMeta) -> String {
    format!(
        "{:0>64}.{:010}",
        meta.sequence_text(),
        meta.sub_sequence.unwrap_or(0)
    )
}

/// DynamoDB's size of an attribute value (close to its published rules).
fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn mapping() -> ItemMapping {
        ItemMapping {
            partition_key: KeyField {
                attribute: "pk".into(),
                field: FieldPath::parse(".order_id").unwrap(),
            },
            sort_key: None,
            renames: BTreeMap::from([("customer_id".into(), "customer".into())]),
            include: None,
            exclude: vec!["secret".into()],
            string_sets: vec!["tags".into()],
            ttl: Some(TtlField {
                attribute: "expires".into(),
                field: FieldPath::parse(".ts").unwrap(),
                add: Duration::from_secs(3600),
            }),
            sequence_attribute: Some("_seq".into()),
        }
    }

    fn meta(position: u64) -> RecordMeta {
        RecordMeta {
            shard: Arc::from("s"),
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms: 0,
            prior_attempts: 0,
        }
    }

    #[test]
    fn converts_every_json_type_and_keeps_number_text() {
        let record = br#"{"order_id":"o1","customer_id":"c9","total":"12.30","amount":12.30,"big":123456789012345678901234567890,
            "paid":true,"note":null,"items":[{"sku":"A","qty":2}],"tags":["b","a","b"],"secret":"x","ts":"2024-05-01T00:00:00Z"}"#;
        let item = mapping().to_item(record, &meta(7)).unwrap();
        let a = &item.attributes;
        assert_eq!(a["pk"], AttributeValue::S("o1".into()));
        assert_eq!(a["customer"], AttributeValue::S("c9".into()));
        assert!(!a.contains_key("customer_id") && !a.contains_key("secret"));
        assert_eq!(a["total"], AttributeValue::S("12.30".into()));
        assert_eq!(a["amount"], AttributeValue::N("12.30".into()));
        assert_eq!(
            a["big"],
            AttributeValue::N("123456789012345678901234567890".into())
        );
        assert_eq!(a["paid"], AttributeValue::Bool(true));
        assert_eq!(a["note"], AttributeValue::Null(true));
        let AttributeValue::L(items) = &a["items"] else {
            panic!("a list")
        };
        let AttributeValue::M(first) = &items[0] else {
            panic!("a map")
        };
        assert_eq!(first["qty"], AttributeValue::N("2".into()));
        assert_eq!(a["tags"], AttributeValue::Ss(vec!["a".into(), "b".into()]));
        assert_eq!(
            a["expires"],
            AttributeValue::N((1_714_521_600 + 3600).to_string())
        );
        assert_eq!(
            a["_seq"],
            AttributeValue::S(format!("{:0>64}.{:010}", 7, 0))
        );
        assert_eq!(item.key, "S:o1");
    }

    #[test]
    fn records_that_cannot_be_items_say_why() {
        let m = mapping();
        let err = |data: &[u8]| m.to_item(data, &meta(1)).unwrap_err().to_string();
        assert_eq!(
            err(br#"{"ts":"2024-05-01T00:00:00Z"}"#),
            "record has no key field .order_id (for key attribute pk)"
        );
        assert_eq!(
            err(br#"{"order_id":"","ts":1}"#),
            "key field .order_id is an empty string; a key must be a non-empty string or a number"
        );
        assert_eq!(
            err(br#"{"order_id":"o","ts":"soon"}"#),
            "TTL field .ts is missing or not a time"
        );
        assert_eq!(err(br#"[1]"#), "record is not a JSON object");
        assert_eq!(
            err(br#"{"order_id":"o","ts":1,"tags":[]}"#),
            "attribute tags: a string set cannot be empty or hold an empty string"
        );
        let big = format!(
            r#"{{"order_id":"o","ts":1,"pad":"{}"}}"#,
            "x".repeat(MAX_ITEM_BYTES)
        );
        assert!(
            err(big.as_bytes()).starts_with("item is 4097"),
            "{}",
            err(big.as_bytes())
        );
    }

    #[test]
    fn position_text_sorts_like_the_position() {
        assert!(position_text(&meta(9)) < position_text(&meta(10)));
        let mut kinesis = meta(0);
        kinesis.sequence_number = Some(Arc::from(
            "49590338271490256608559692538361571095921575989136588898",
        ));
        kinesis.sub_sequence = Some(3);
        assert!(position_text(&kinesis).ends_with("98.0000000003"));
    }
}
