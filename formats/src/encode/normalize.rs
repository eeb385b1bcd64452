//! Before arrow-json decodes what the fast path gave up on, each record is brought under
//! Spillway's value rules ([`crate::value`]): timestamps in any accepted form become epoch
//! milliseconds (which arrow-json stores as they are), numbers are checked against integer
//! and floating-point columns, and a record with a value that does not fit is refused with
//! the field and the reason. arrow-json then decides everything else (types, shapes), so the
//! fast path and this one agree on every record.

use arrow_schema::{DataType, Field, Fields, SchemaRef};
use serde_json::{Map, Number, Value};

use super::Rejection;
use crate::record::{Batch, ErrorOutputType};
use crate::value::{
    float_from_number, integer_from_number, timestamp_millis_from_number,
    timestamp_millis_from_text, ValueError,
};

/// Records `start..end` of `batch` under the value rules: the records that fit (rewritten
/// where a value changed form) as a batch, the original index of each, and the refused ones.
pub fn normalize(
    schema: &SchemaRef,
    batch: &Batch,
    start: usize,
    end: usize,
) -> (Batch, Vec<usize>, Vec<Rejection>) {
    let mut kept = Batch::new(batch.key.clone());
    kept.segment = batch.segment.clone();
    let (mut indices, mut rejected) = (Vec::new(), Vec::new());
    for index in start..end {
        let data = batch.record_data(index);
        let meta = batch.records[index].meta.clone();
        // Not a JSON object: arrow-json refuses it with its own message.
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(data) else {
            kept.push(data, meta);
            indices.push(index);
            continue;
        };
        match normalize_object(&mut object, schema.fields(), "") {
            Ok(false) => kept.push(data, meta),
            Ok(true) => kept.push(Value::Object(object).to_string().as_bytes(), meta),
            Err(message) => {
                rejected.push(Rejection {
                    index,
                    error_type: ErrorOutputType::FormatConversionFailed,
                    code: "Format.SchemaMismatch",
                    message: format!("record does not fit the table schema: {message}"),
                });
                continue;
            }
        }
        indices.push(index);
    }
    (kept, indices, rejected)
}

/// A field whose value does not fit its column, and why.
#[derive(Debug)]
struct Misfit {
    /// The field's path, e.g. `geo.lat` or `items[2].qty`.
    field: String,
    column_type: Option<&'static str>,
    error: ValueError,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column_type {
            Some(column_type) => write!(f, "field {} ({column_type}): {}", self.field, self.error),
            None => write!(f, "field {}: {}", self.field, self.error),
        }
    }
}

/// Brings the fields of `object` that `fields` name under the value rules; whether any
/// changed. `path` names the object in messages.
fn normalize_object(
    object: &mut Map<String, Value>,
    fields: &Fields,
    path: &str,
) -> Result<bool, Misfit> {
    let mut changed = false;
    for field in fields {
        if let Some(value) = object.get_mut(field.name()) {
            let path = format!("{path}{}", field.name());
            changed |= normalize_value(value, field, &path)?;
        }
    }
    Ok(changed)
}

fn normalize_value(value: &mut Value, field: &Field, path: &str) -> Result<bool, Misfit> {
    let fail = |error: ValueError| Misfit {
        field: path.to_string(),
        column_type: None,
        error,
    };
    match (field.data_type(), &*value) {
        (_, Value::Null) => Ok(false),
        (DataType::Timestamp(..), Value::Number(n)) => {
            let millis = timestamp_millis_from_number(&n.to_string()).map_err(fail)?;
            *value = Value::Number(Number::from(millis));
            Ok(true)
        }
        (DataType::Timestamp(..), Value::String(text)) => {
            let millis = timestamp_millis_from_text(text)
                .ok_or_else(|| fail(ValueError::NotATimestamp(format!("{text:?}"))))?;
            *value = Value::Number(Number::from(millis));
            Ok(true)
        }
        (DataType::Int8, Value::Number(_)) => {
            integer(value, i8::MIN.into(), i8::MAX.into(), "tinyint", path)
        }
        (DataType::Int16, Value::Number(_)) => {
            integer(value, i16::MIN.into(), i16::MAX.into(), "smallint", path)
        }
        (DataType::Int32, Value::Number(_)) => {
            integer(value, i32::MIN.into(), i32::MAX.into(), "int", path)
        }
        (DataType::Int64, Value::Number(_)) => integer(value, i64::MIN, i64::MAX, "bigint", path),
        (DataType::Float32 | DataType::Float64, Value::Number(n)) => {
            let single = matches!(field.data_type(), DataType::Float32);
            float_from_number(&n.to_string(), single).map_err(fail)?;
            Ok(false)
        }
        (DataType::Struct(fields), Value::Object(_)) => match value {
            Value::Object(object) => normalize_object(object, fields, &format!("{path}.")),
            _ => Ok(false),
        },
        (DataType::List(item) | DataType::LargeList(item), Value::Array(_)) => {
            let Value::Array(items) = value else {
                return Ok(false);
            };
            let mut changed = false;
            for (i, element) in items.iter_mut().enumerate() {
                changed |= normalize_value(element, item, &format!("{path}[{i}]"))?;
            }
            Ok(changed)
        }
        _ => Ok(false),
    }
}

/// An integer column's value (a number): written back as a plain integer (`1.0` → `1`).
fn integer(
    value: &mut Value,
    min: i64,
    max: i64,
    type_name: &'static str,
    path: &str,
) -> Result<bool, Misfit> {
    let text = value.to_string();
    let n = integer_from_number(&text, min, max, type_name).map_err(|error| Misfit {
        field: path.to_string(),
        column_type: Some(type_name),
        error,
    })?;
    let plain = n.to_string();
    if plain == text {
        return Ok(false);
    }
    *value = Value::Number(Number::from(n));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::schema::{ColumnSpec, TableSchema};

    fn schema() -> SchemaRef {
        let col = |name: &str, hive_type: &str| ColumnSpec {
            name: name.into(),
            hive_type: hive_type.into(),
        };
        let columns = [
            col("n", "bigint"),
            col("x", "double"),
            col("ts", "timestamp"),
            col("s", "struct<t:timestamp,i:int>"),
            col("l", "array<timestamp>"),
        ];
        TableSchema::from_columns(&columns).unwrap().arrow()
    }

    #[test]
    fn values_are_rewritten_to_what_arrow_json_stores_and_misfits_refused() {
        let b = Batch::of_lines(&[
            r#"{"n":1.0,"ts":1714557600,"s":{"t":"2017-2-7 15:13:01.14","i":3},"l":[1518033528123]}"#,
            r#"{"n":1.5}"#,
            r#"{"x":1e400}"#,
            r#"{"s":{"i":3000000000}}"#,
            r#"{"ts":"yesterday"}"#,
            r#"{"n":7,"other":"kept"}"#,
            r#"not json at all"#,
        ]);
        let (kept, indices, rejected) = normalize(&schema(), &b, 0, b.len());
        assert_eq!(indices, [0, 5, 6]);
        let first: Value = serde_json::from_slice(kept.record_data(0)).unwrap();
        assert_eq!(first["n"], 1);
        assert_eq!(first["ts"], 1_714_557_600_000i64);
        assert_eq!(first["s"]["t"], 1_486_480_381_140i64);
        assert_eq!(first["l"][0], 1_518_033_528_123i64);
        assert_eq!(
            kept.record_data(1),
            br#"{"n":7,"other":"kept"}"#,
            "untouched"
        );
        let reasons: Vec<(usize, String)> = rejected
            .iter()
            .map(|r| (r.index, r.message.clone()))
            .collect();
        let want = [
            (1, "field n (bigint): 1.5 is not an integer"),
            (2, "is beyond the range of double"),
            (3, "field s.i (int): 3000000000 is beyond the range of int"),
            (4, "field ts: \"yesterday\" is not a timestamp"),
        ];
        for ((index, message), (want_index, want_message)) in reasons.iter().zip(want) {
            assert_eq!(*index, want_index);
            assert!(message.contains(want_message), "{message}");
        }
        assert_eq!(reasons.len(), 4);
        let _ = Arc::new(kept);
    }
}
