//! Table schemas: Hive/Glue type strings ↔ Arrow types, explicit schemas from config, and
//! schema inference from JSON records.
//!
//! Sits between the decoders and the Parquet encoder: a [`TableSchema`] is built once per
//! stream (from config via [`TableSchema::from_columns`], or from the first buffered records
//! via [`TableSchema::infer`]); the encoder writes `arrow()` and the Glue-style catalog
//! registers `columns()`. Only types Athena reads are representable (DESIGN.md, "Parquet that
//! Athena reads"): timestamps are milliseconds, decimals are `Decimal128` with precision ≤ 38,
//! no unsigned integers. Every column is nullable, and column names must be unique ignoring case.
//!
//! # Inference rules (stable; changing them changes tables)
//! - Only the records passed are read; callers bound the sample with `.take(n)`. Records that
//!   are not JSON objects (scalars, arrays, invalid JSON) are skipped here and fail later in the
//!   encoder; if none is an object the result is [`SchemaError::NoRecords`].
//! - Types come from arrow-json's inference, then are normalized: integers → `bigint`;
//!   floats, integers beyond i64, or a mix of integers and floats → `double`; strings →
//!   `string`; booleans → `boolean`; objects → `struct` (recursively); arrays →
//!   `array<element type>`; a scalar seen alongside arrays of it → `array`; any other mix of
//!   scalar types (e.g. bool and string) → `string`; a field only ever null, an array only
//!   ever empty, or an object only ever `{}` → `string`. Null never decides a type when a
//!   value is seen. An object in one record and a scalar in another is an error
//!   ([`SchemaError::Inference`]).
//! - Names are the JSON keys exactly. Column (and struct field) order is first-seen: by the
//!   first record a key appears in, and alphabetically among keys new in the same record (keys
//!   are sorted per object first, so the order does not depend on serde_json's features).
//! - The result must still pass the column checks: keys that differ only in case, or an empty
//!   key, are an error.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// A column as config and the catalog spell it: a name and a Hive type string.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name; must be non-empty and unique ignoring case (Athena folds case).
    pub name: String,
    /// Hive type string, e.g. `bigint`, `decimal(12,2)`, `array<struct<sku:string>>`.
    #[serde(rename = "type")]
    pub hive_type: String,
}

/// Why a schema could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SchemaError {
    /// A Hive type string did not parse; `pos` is the byte offset in `input`.
    #[error("{reason} at {pos} in \"{input}\"")]
    Parse {
        input: String,
        pos: usize,
        reason: String,
    },
    /// An Arrow type that Athena cannot read, or has no Hive spelling.
    #[error("Arrow type {data_type} has no Athena-readable Hive type ({reason})")]
    Unsupported {
        data_type: String,
        reason: &'static str,
    },
    /// A column's type was rejected; `error` says why.
    #[error("column \"{column}\": {error}")]
    Column {
        column: String,
        error: Box<SchemaError>,
    },
    #[error("column {index} has an empty name")]
    EmptyColumnName { index: usize },
    #[error("duplicate column \"{column}\" (same as \"{previous}\" ignoring case)")]
    DuplicateColumn { column: String, previous: String },
    #[error("a table needs at least one column")]
    NoColumns,
    /// Inference was given no record that is a JSON object.
    #[error("no JSON object records to infer a schema from")]
    NoRecords,
    /// arrow-json's inference failed, e.g. a field is an object in one record and a scalar in
    /// another.
    #[error("schema inference failed: {message}")]
    Inference { message: String },
}

/// Hive `timestamp`: milliseconds, no zone (Athena never reads nanos).
const MILLIS: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

/// Hive names of the non-parameterized types, in canonical spelling (`integer` is an alias).
const PRIMITIVES: [(&str, DataType); 11] = [
    ("string", DataType::Utf8),
    ("bigint", DataType::Int64),
    ("int", DataType::Int32),
    ("smallint", DataType::Int16),
    ("tinyint", DataType::Int8),
    ("double", DataType::Float64),
    ("float", DataType::Float32),
    ("boolean", DataType::Boolean),
    ("timestamp", MILLIS),
    ("date", DataType::Date32),
    ("binary", DataType::Binary),
];

/// Parses a Hive/Glue type string (case-insensitive, whitespace tolerated) into an Arrow type.
pub fn parse_hive_type(s: &str) -> Result<DataType, SchemaError> {
    let mut p = Parser { input: s, pos: 0 };
    let dt = p.parse_type()?;
    p.skip_ws();
    if p.pos < s.len() {
        return Err(p.err(
            p.pos,
            format!("unexpected trailing text \"{}\"", &s[p.pos..]),
        ));
    }
    Ok(dt)
}

/// The canonical lower-case Hive type string for an Arrow type; errors on types Athena can't read.
pub fn hive_type_name(dt: &DataType) -> Result<String, SchemaError> {
    let unsupported = |reason| SchemaError::Unsupported {
        data_type: dt.to_string(),
        reason,
    };
    let canonical = match dt {
        DataType::LargeUtf8 => DataType::Utf8,
        DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(TimeUnit::Microsecond, None) => MILLIS,
        other => other.clone(),
    };
    if let Some((name, _)) = PRIMITIVES.iter().find(|(_, p)| *p == canonical) {
        return Ok(name.to_string());
    }
    Ok(match dt {
        DataType::Timestamp(..) => {
            return Err(unsupported(
                "timestamps must be millis or micros without a time zone",
            ))
        }
        DataType::Decimal128(p, s) if (1..=38).contains(p) && (0..=*p as i8).contains(s) => {
            format!("decimal({p},{s})")
        }
        DataType::List(f) | DataType::LargeList(f) => {
            format!("array<{}>", hive_type_name(f.data_type())?)
        }
        DataType::Struct(fields) => {
            if fields.is_empty() {
                return Err(unsupported("a struct needs at least one field"));
            }
            check_names(fields.iter().map(|f| f.name().as_str()))?;
            let parts: Result<Vec<_>, _> = fields
                .iter()
                .map(|f| {
                    Ok(format!(
                        "{}:{}",
                        quote_name(f.name()),
                        hive_type_name(f.data_type())?
                    ))
                })
                .collect();
            format!("struct<{}>", parts?.join(","))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                if is_nested(kv[0].data_type()) {
                    return Err(unsupported("map keys must be a primitive type"));
                }
                let key = hive_type_name(kv[0].data_type())?;
                format!("map<{key},{}>", hive_type_name(kv[1].data_type())?)
            }
            _ => return Err(unsupported("map entries must be a key/value struct")),
        },
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            return Err(unsupported("Athena has no unsigned integers"))
        }
        _ => return Err(unsupported("no Hive equivalent Athena reads")),
    })
}

/// A validated table schema: the Arrow schema the encoder writes and the Hive columns the
/// catalog registers, which always describe the same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    arrow: SchemaRef,
    columns: Vec<ColumnSpec>,
}

impl TableSchema {
    /// Builds a schema from config columns, naming the column in every error.
    pub fn from_columns(columns: &[ColumnSpec]) -> Result<Self, SchemaError> {
        let fields = columns
            .iter()
            .map(|c| {
                let dt = parse_hive_type(&c.hive_type).map_err(|e| SchemaError::Column {
                    column: c.name.clone(),
                    error: Box::new(e),
                })?;
                Ok(Field::new(&c.name, dt, true))
            })
            .collect::<Result<Vec<_>, SchemaError>>()?;
        Self::from_fields(fields)
    }

    /// Validates an existing Arrow schema (fields are made nullable; metadata is dropped).
    pub fn from_arrow(schema: &Schema) -> Result<Self, SchemaError> {
        Self::from_fields(schema.fields().iter().map(|f| f.as_ref().clone()).collect())
    }

    /// Infers a schema from raw JSON record bytes; see the module doc for the rules.
    pub fn infer<'a>(records: impl Iterator<Item = &'a [u8]>) -> Result<Self, SchemaError> {
        let mut saw_object = false;
        let objects = records.filter_map(|bytes| {
            let object = json_object(bytes)?;
            saw_object = true;
            Some(Ok::<_, arrow_schema::ArrowError>(object))
        });
        let inferred =
            arrow_json::reader::infer_json_schema_from_iterator(objects).map_err(|e| {
                SchemaError::Inference {
                    message: e.to_string(),
                }
            })?;
        if !saw_object {
            return Err(SchemaError::NoRecords);
        }
        let fields = inferred
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), normalize(f.data_type()), true));
        Self::from_fields(fields.collect())
    }

    /// Schema evolution: this schema plus the top-level columns of `newer` that it lacks
    /// (names compared ignoring case), appended in `newer`'s order; `None` when nothing is
    /// new. Existing columns are never dropped or retyped — a record whose field conflicts
    /// with its column's type fails conversion instead. Nested struct fields do not evolve.
    pub fn with_new_columns(&self, newer: &TableSchema) -> Option<TableSchema> {
        let have: std::collections::HashSet<String> = self
            .arrow
            .fields()
            .iter()
            .map(|f| f.name().to_lowercase())
            .collect();
        let added: Vec<_> = newer
            .arrow
            .fields()
            .iter()
            .filter(|f| !have.contains(&f.name().to_lowercase()))
            .cloned()
            .collect();
        if added.is_empty() {
            return None;
        }
        let fields: Vec<_> = self.arrow.fields().iter().cloned().chain(added).collect();
        TableSchema::from_arrow(&Schema::new(fields)).ok()
    }

    /// The Arrow schema for the Parquet encoder.
    pub fn arrow(&self) -> SchemaRef {
        Arc::clone(&self.arrow)
    }

    /// The columns with canonical Hive type names, for the catalog.
    pub fn columns(&self) -> Vec<ColumnSpec> {
        self.columns.clone()
    }

    fn from_fields(fields: Vec<Field>) -> Result<Self, SchemaError> {
        if fields.is_empty() {
            return Err(SchemaError::NoColumns);
        }
        check_names(fields.iter().map(|f| f.name().as_str()))?;
        let columns = fields
            .iter()
            .map(|f| {
                let hive_type = hive_type_name(f.data_type()).map_err(|e| SchemaError::Column {
                    column: f.name().clone(),
                    error: Box::new(e),
                })?;
                Ok(ColumnSpec {
                    name: f.name().clone(),
                    hive_type,
                })
            })
            .collect::<Result<Vec<_>, SchemaError>>()?;
        let fields: Vec<Field> = fields.into_iter().map(|f| f.with_nullable(true)).collect();
        Ok(Self {
            arrow: Arc::new(Schema::new(fields)),
            columns,
        })
    }
}

/// The record parsed as a JSON object with keys sorted recursively, or `None` if it is not one.
fn json_object(bytes: &[u8]) -> Option<serde_json::Value> {
    match serde_json::from_slice(bytes) {
        Ok(mut value @ serde_json::Value::Object(_)) => {
            value.sort_all_objects();
            Some(value)
        }
        _ => None,
    }
}

/// Rejects empty names and names equal ignoring case.
fn check_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), SchemaError> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (index, name) in names.enumerate() {
        if name.is_empty() {
            return Err(SchemaError::EmptyColumnName { index });
        }
        if let Some(previous) = seen.insert(name.to_lowercase(), name) {
            return Err(SchemaError::DuplicateColumn {
                column: name.to_string(),
                previous: previous.to_string(),
            });
        }
    }
    Ok(())
}

/// Maps arrow-json's inferred types onto the ones this module documents.
fn normalize(dt: &DataType) -> DataType {
    match dt {
        DataType::Null => DataType::Utf8,
        DataType::List(f) => list_of(normalize(f.data_type())),
        DataType::Struct(fields) if fields.is_empty() => DataType::Utf8,
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), normalize(f.data_type()), true))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("element", element, true)))
}

fn is_nested(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(..)
    )
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Struct field names that are not plain identifiers are backtick-quoted (`` ` `` doubled).
fn quote_name(name: &str) -> String {
    if is_plain_name(name) {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

/// Recursive-descent parser over a Hive type string; `pos` is a byte offset.
struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, pos: usize, reason: impl Into<String>) -> SchemaError {
        SchemaError::Parse {
            input: self.input.to_string(),
            pos,
            reason: reason.into(),
        }
    }

    fn skip_ws(&mut self) {
        let rest = &self.input[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.input[self.pos..].chars().next()
    }

    fn found(&mut self) -> String {
        match self.peek() {
            Some(c) => format!("\"{c}\""),
            None => "end of input".to_string(),
        }
    }

    fn expect(&mut self, want: char) -> Result<(), SchemaError> {
        if self.peek() == Some(want) {
            self.pos += 1;
            return Ok(());
        }
        let found = self.found();
        Err(self.err(self.pos, format!("expected '{want}', found {found}")))
    }

    /// An identifier (`[A-Za-z0-9_]+`) and where it starts.
    fn word(&mut self, what: &str) -> Result<(usize, &'a str), SchemaError> {
        self.skip_ws();
        let start = self.pos;
        let rest = &self.input[start..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if len == 0 {
            let found = self.found();
            return Err(self.err(start, format!("expected {what}, found {found}")));
        }
        self.pos += len;
        Ok((start, &rest[..len]))
    }

    fn number(&mut self) -> Result<(usize, u64), SchemaError> {
        let (pos, w) = self.word("a number")?;
        w.parse()
            .map(|n| (pos, n))
            .map_err(|_| self.err(pos, format!("expected a number, found \"{w}\"")))
    }

    fn field_name(&mut self) -> Result<(usize, String), SchemaError> {
        if self.peek() != Some('`') {
            return self
                .word("a field name")
                .map(|(pos, w)| (pos, w.to_string()));
        }
        let start = self.pos;
        let mut name = String::new();
        let mut rest = &self.input[start + 1..];
        loop {
            let Some(i) = rest.find('`') else {
                return Err(self.err(start, "unterminated backtick-quoted name"));
            };
            name.push_str(&rest[..i]);
            if rest[i + 1..].starts_with('`') {
                name.push('`');
                rest = &rest[i + 2..];
            } else if name.is_empty() {
                return Err(self.err(start, "empty field name"));
            } else {
                self.pos = self.input.len() - rest.len() + i + 1;
                return Ok((start, name));
            }
        }
    }

    fn length(&mut self, kw: &str, max: u64) -> Result<(), SchemaError> {
        self.expect('(')?;
        let (pos, n) = self.number()?;
        if n == 0 || n > max {
            return Err(self.err(pos, format!("{kw} length {n} is not in 1..={max}")));
        }
        self.expect(')')
    }

    fn parse_type(&mut self) -> Result<DataType, SchemaError> {
        let (start, word) = self.word("a type")?;
        let keyword = word.to_ascii_lowercase();
        if let Some((_, dt)) = PRIMITIVES.iter().find(|(name, _)| *name == keyword) {
            return Ok(dt.clone());
        }
        Ok(match keyword.as_str() {
            "integer" => DataType::Int32,
            "varchar" => self.length("varchar", 65535).map(|()| DataType::Utf8)?,
            "char" => self.length("char", 255).map(|()| DataType::Utf8)?,
            "decimal" => self.decimal()?,
            "array" => {
                self.expect('<')?;
                let element = self.parse_type()?;
                self.expect('>')?;
                list_of(element)
            }
            "map" => {
                self.expect('<')?;
                self.skip_ws();
                let key_pos = self.pos;
                let key = self.parse_type()?;
                if is_nested(&key) {
                    return Err(self.err(key_pos, "map key must be a primitive type"));
                }
                self.expect(',')?;
                let value = self.parse_type()?;
                self.expect('>')?;
                let kv = Fields::from(vec![
                    Field::new("key", key, false),
                    Field::new("value", value, true),
                ]);
                DataType::Map(
                    Arc::new(Field::new("key_value", DataType::Struct(kv), false)),
                    false,
                )
            }
            "struct" => self.struct_fields()?,
            _ => return Err(self.err(start, format!("unknown type \"{word}\""))),
        })
    }

    fn decimal(&mut self) -> Result<DataType, SchemaError> {
        if self.peek() != Some('(') {
            return Ok(DataType::Decimal128(10, 0));
        }
        self.expect('(')?;
        let (p_pos, precision) = self.number()?;
        let (s_pos, scale) = if self.peek() == Some(',') {
            self.expect(',')?;
            self.number()?
        } else {
            (self.pos, 0)
        };
        self.expect(')')?;
        if precision == 0 {
            return Err(self.err(p_pos, "decimal precision 0 is below 1"));
        }
        if precision > 38 {
            return Err(self.err(p_pos, format!("decimal precision {precision} is above 38")));
        }
        if scale > precision {
            let reason = format!("decimal scale {scale} is above precision {precision}");
            return Err(self.err(s_pos, reason));
        }
        // Both fit: precision ≤ 38 and scale ≤ precision.
        Ok(DataType::Decimal128(precision as u8, scale as i8))
    }

    fn struct_fields(&mut self) -> Result<DataType, SchemaError> {
        self.expect('<')?;
        if self.peek() == Some('>') {
            return Err(self.err(self.pos, "struct must have at least one field"));
        }
        let mut fields: Vec<Field> = Vec::new();
        loop {
            let (pos, name) = self.field_name()?;
            if let Some(prev) = fields
                .iter()
                .find(|f| f.name().to_lowercase() == name.to_lowercase())
            {
                let reason = format!(
                    "duplicate struct field \"{name}\" (same as \"{}\")",
                    prev.name()
                );
                return Err(self.err(pos, reason));
            }
            self.expect(':')?;
            fields.push(Field::new(name, self.parse_type()?, true));
            if self.peek() == Some(',') {
                self.pos += 1;
            } else {
                self.expect('>')?;
                return Ok(DataType::Struct(fields.into()));
            }
        }
    }
}

#[cfg(test)]
mod tests;
