//! Decode: the first step after a source. Validates each raw record (size, JSON syntax) and
//! extracts what partitioning needs — the event time and the `partitionKeyFromQuery` values —
//! with simple jq-like field paths (`.geo.country`). A record that fails is not dropped: the
//! caller sends it to the dead letter as `processing-failed` with the [`DecodeError`] text.

mod fields;

use crate::value::{timestamp_millis_from_number, timestamp_millis_from_text};
use serde::de::IgnoredAny;
use serde_json::Value;
use thiserror::Error;

use self::fields::FieldTree;

/// A jq-like path to a field: `.a.b.c` (keys only; `."key with spaces"` is allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    keys: Vec<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid field path {path:?}: {reason} (expected a jq-like path such as .geo.country)")]
pub struct FieldPathError {
    pub path: String,
    pub reason: &'static str,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<Self, FieldPathError> {
        let err = |reason| FieldPathError {
            path: text.to_string(),
            reason,
        };
        let mut rest = text.trim();
        if !rest.starts_with('.') {
            return Err(err("it must start with '.'"));
        }
        let mut keys = Vec::new();
        while let Some(after_dot) = rest.strip_prefix('.') {
            if let Some(quoted) = after_dot.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| err("unterminated quoted key"))?;
                keys.push(quoted[..end].to_string());
                rest = &quoted[end + 1..];
            } else {
                let end = after_dot.find('.').unwrap_or(after_dot.len());
                let key = &after_dot[..end];
                if key.is_empty() {
                    return Err(err("empty key"));
                }
                if !key
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$')
                {
                    return Err(err(
                        "only plain keys are supported; quote others as .\"key\"",
                    ));
                }
                keys.push(key.to_string());
                rest = &after_dot[end..];
            }
        }
        if !rest.is_empty() {
            return Err(err("unexpected text after a key"));
        }
        Ok(FieldPath {
            text: text.trim().to_string(),
            keys,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path, if every key along it exists.
    pub fn extract<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.keys.iter().try_fold(value, |v, key| v.get(key))
    }
}

/// Why a record could not be decoded. Each goes to the dead letter as `processing-failed`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record is {size} bytes, above the {max}-byte maximum record size")]
    TooLarge { size: usize, max: usize },
    #[error("record is not valid JSON: {reason}")]
    InvalidJson { reason: String },
    #[error("field {path} is missing or null (needed for partitioning)")]
    MissingField { path: String },
    #[error("field {path} is {found}, expected a string, number or boolean")]
    NotScalar { path: String, found: &'static str },
    #[error("field {path} = {value} is not a timestamp (ISO 8601 text, or epoch seconds or milliseconds)")]
    BadTime { path: String, value: String },
}

impl DecodeError {
    /// The `errorCode` written into the dead-letter record.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "Decode.RecordTooLarge",
            DecodeError::InvalidJson { .. } => "Decode.InvalidJson",
            DecodeError::MissingField { .. } => "Decode.MissingField",
            DecodeError::NotScalar { .. } => "Decode.NotScalar",
            DecodeError::BadTime { .. } => "Decode.BadTimestamp",
        }
    }
}

/// What the partitioner needs from one record.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Event time from the configured time field, ms since the epoch; `None` when no time
    /// field is configured (the partitioner then uses arrival time).
    pub event_time_ms: Option<i64>,
    /// One value per configured partition key, in configuration order.
    pub partition_values: Vec<String>,
}

/// Validates records and extracts fields, as configured.
#[derive(Clone, Debug)]
pub struct RecordDecoder {
    pub max_record_size: usize,
    pub time_field: Option<FieldPath>,
    pub partition_keys: Vec<(String, FieldPath)>,
    /// The time field (first, when there is one) and the partition keys, as one tree.
    fields: FieldTree,
}

impl RecordDecoder {
    pub fn new(
        max_record_size: usize,
        time_field: Option<FieldPath>,
        partition_keys: Vec<(String, FieldPath)>,
    ) -> Self {
        let fields = FieldTree::new(
            time_field
                .iter()
                .chain(partition_keys.iter().map(|(_, p)| p)),
        );
        RecordDecoder {
            max_record_size,
            time_field,
            partition_keys,
            fields,
        }
    }

    pub fn decode(&self, data: &[u8]) -> Result<DecodedRecord, DecodeError> {
        if data.len() > self.max_record_size {
            return Err(DecodeError::TooLarge {
                size: data.len(),
                max: self.max_record_size,
            });
        }
        if self.time_field.is_none() && self.partition_keys.is_empty() {
            // Validation only: skip building a value tree.
            serde_json::from_slice::<IgnoredAny>(data).map_err(invalid_json)?;
            return Ok(DecodedRecord::default());
        }
        // One pass: the record validated, only the wanted fields kept.
        let mut values = self.fields.extract(data).map_err(invalid_json)?.into_iter();
        let event_time_ms = match &self.time_field {
            Some(path) => Some(extract_time(path, values.next().flatten().as_ref())?),
            None => None,
        };
        let partition_values = self
            .partition_keys
            .iter()
            .zip(values)
            .map(|((_, path), value)| extract_scalar(path, value.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(DecodedRecord {
            event_time_ms,
            partition_values,
        })
    }
}

fn invalid_json(e: serde_json::Error) -> DecodeError {
    DecodeError::InvalidJson {
        reason: e.to_string(),
    }
}

fn extract_scalar(path: &FieldPath, value: Option<&Value>) -> Result<String, DecodeError> {
    match value {
        None | Some(Value::Null) => Err(DecodeError::MissingField {
            path: path.as_str().to_string(),
        }),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(other) => Err(DecodeError::NotScalar {
            path: path.as_str().to_string(),
            found: if other.is_array() {
                "an array"
            } else {
                "an object"
            },
        }),
    }
}

/// The event time at `path`, by the same rules as a timestamp column ([`crate::value`]).
fn extract_time(path: &FieldPath, value: Option<&Value>) -> Result<i64, DecodeError> {
    let field = value.ok_or_else(|| DecodeError::MissingField {
        path: path.as_str().to_string(),
    })?;
    let bad = || DecodeError::BadTime {
        path: path.as_str().to_string(),
        value: field.to_string(),
    };
    match field {
        Value::String(text) => parse_time_text(text).ok_or_else(bad),
        // The number's own text (serde_json keeps it): seconds and millis by magnitude.
        Value::Number(n) => timestamp_millis_from_number(&n.to_string()).map_err(|_| bad()),
        Value::Null => Err(DecodeError::MissingField {
            path: path.as_str().to_string(),
        }),
        _ => Err(bad()),
    }
}

/// A date-time in text, to epoch millis, by the rules of [`crate::value`].
pub fn parse_time_text(text: &str) -> Option<i64> {
    timestamp_millis_from_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder() -> RecordDecoder {
        RecordDecoder::new(
            200,
            Some(FieldPath::parse(".ts").unwrap()),
            vec![("country".into(), FieldPath::parse(".geo.country").unwrap())],
        )
    }

    #[test]
    fn extracts_event_time_and_partition_values() {
        let r = decoder()
            .decode(br#"{"ts":"2024-05-01T00:00:01.500Z","geo":{"country":"DE"}}"#)
            .unwrap();
        assert_eq!(r.event_time_ms, Some(1_714_521_601_500));
        assert_eq!(r.partition_values, vec!["DE".to_string()]);
        let r = decoder()
            .decode(br#"{"ts":1714521601,"geo":{"country":7}}"#)
            .unwrap();
        assert_eq!(r.event_time_ms, Some(1_714_521_601_000));
        assert_eq!(r.partition_values, vec!["7".to_string()]);
    }

    #[test]
    fn each_failure_names_its_cause() {
        let d = decoder();
        assert_eq!(
            d.decode(&[b' '; 201]).unwrap_err().code(),
            "Decode.RecordTooLarge"
        );
        let e = d.decode(b"{\"ts\": ").unwrap_err();
        assert!(matches!(e, DecodeError::InvalidJson { .. }), "{e}");
        assert_eq!(
            d.decode(br#"{"ts":"2024-05-01T00:00:00Z"}"#)
                .unwrap_err()
                .to_string(),
            "field .geo.country is missing or null (needed for partitioning)"
        );
        assert_eq!(
            d.decode(br#"{"ts":"yesterday","geo":{"country":"DE"}}"#)
                .unwrap_err()
                .to_string(),
            "field .ts = \"yesterday\" is not a timestamp (ISO 8601 text, or epoch seconds or milliseconds)"
        );
        assert_eq!(
            d.decode(br#"{"ts":1,"geo":{"country":["DE"]}}"#)
                .unwrap_err()
                .code(),
            "Decode.NotScalar"
        );
    }

    #[test]
    fn validation_only_decoder_accepts_any_json_and_rejects_garbage() {
        let d = RecordDecoder::new(100, None, vec![]);
        assert_eq!(d.decode(b"[1,2]").unwrap(), DecodedRecord::default());
        assert!(d.decode(b"not json").is_err());
    }

    #[test]
    fn field_paths_parse_and_reject() {
        assert_eq!(
            FieldPath::parse(".a.\"b c\".d").unwrap().keys,
            vec!["a", "b c", "d"]
        );
        assert!(FieldPath::parse("a.b").is_err());
        assert!(FieldPath::parse(".a..b").is_err());
        assert!(FieldPath::parse(".a[0]").is_err());
        assert_eq!(
            parse_time_text("2024-05-01 00:00:00"),
            Some(1_714_521_600_000)
        );
    }
}
