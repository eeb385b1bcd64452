//! The Parquet encoder's fast path: JSON records parsed straight into Arrow builders for the
//! table schema's columns, with no intermediate tape or value tree (arrow-json builds a tape
//! of every token first, then walks it once per column).
//!
//! It is strict on purpose. It takes the common shapes (objects of strings, integers, floats,
//! booleans, timestamps, decimals, structs and lists, unknown fields skipped, standard
//! escapes) and gives up — [`decode`] returns `None` — on anything else: a type mismatch, a
//! number where a string is expected, an integer written as `1.0`, a duplicate key, a lone
//! surrogate, a column type it does not build (`date`, `binary`, `map`). The caller then
//! decodes the same records with arrow-json, which decides what fits and what is rejected.
//! So for every input the result is arrow-json's: either arrow-json's own, or this one,
//! which the tests hold equal to it on the inputs this accepts.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, Int8Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::types::Decimal128Type;
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_cast::parse::{parse_decimal, string_to_datetime};
use arrow_schema::{DataType, FieldRef, Fields, SchemaRef, TimeUnit};
use chrono::Utc;

use crate::record::Batch;

/// Records `start..end` of `batch` as one Arrow batch of `schema`, or `None` when any of them
/// is outside what this fast path takes (the caller then uses arrow-json).
pub fn decode(schema: &SchemaRef, batch: &Batch, start: usize, end: usize) -> Option<RecordBatch> {
    let mut root = StructColumn::new(schema.fields(), end - start)?;
    let mut scratch = String::new();
    for index in start..end {
        let text = std::str::from_utf8(batch.record_data(index)).ok()?;
        let mut cursor = Cursor {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            scratch: &mut scratch,
        };
        cursor.skip_whitespace();
        root.parse_object(&mut cursor).ok()?;
        cursor.skip_whitespace();
        if cursor.pos != cursor.bytes.len() {
            return None;
        }
    }
    let columns: Result<Vec<ArrayRef>, _> = root.children.into_iter().map(Column::finish).collect();
    RecordBatch::try_new(schema.clone(), columns.ok()?).ok()
}

/// The fast path gave up on this input.
struct GiveUp;

type Step<T = ()> = Result<T, GiveUp>;

/// One column being built.
enum Column {
    Utf8(StringBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    TimestampMillis(TimestampMillisecondBuilder),
    Decimal128(Decimal128Builder, u8, i8),
    Struct(Box<StructColumn>),
    List(Box<ListColumn>),
}

struct StructColumn {
    fields: Fields,
    children: Vec<Column>,
    nulls: NullBufferBuilder,
    /// `seen[i] == object_number` when field `i` appeared in the current object.
    seen: Vec<u64>,
    object_number: u64,
    /// Where the next key is expected: records usually repeat one field order.
    next_field: usize,
}

struct ListColumn {
    field: FieldRef,
    values: Column,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Column {
    /// A builder for `data_type`, or `None` when the fast path does not build it.
    fn new(data_type: &DataType, rows: usize) -> Option<Column> {
        Some(match data_type {
            DataType::Utf8 => Column::Utf8(StringBuilder::with_capacity(rows, rows * 16)),
            DataType::Int8 => Column::Int8(Int8Builder::with_capacity(rows)),
            DataType::Int16 => Column::Int16(Int16Builder::with_capacity(rows)),
            DataType::Int32 => Column::Int32(Int32Builder::with_capacity(rows)),
            DataType::Int64 => Column::Int64(Int64Builder::with_capacity(rows)),
            DataType::Float32 => Column::Float32(Float32Builder::with_capacity(rows)),
            DataType::Float64 => Column::Float64(Float64Builder::with_capacity(rows)),
            DataType::Boolean => Column::Boolean(BooleanBuilder::with_capacity(rows)),
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                Column::TimestampMillis(TimestampMillisecondBuilder::with_capacity(rows))
            }
            DataType::Decimal128(precision, scale) => {
                Column::Decimal128(Decimal128Builder::with_capacity(rows), *precision, *scale)
            }
            DataType::Struct(fields) => Column::Struct(Box::new(StructColumn::new(fields, rows)?)),
            DataType::List(field) if field.is_nullable() => Column::List(Box::new(ListColumn {
                field: field.clone(),
                values: Column::new(field.data_type(), rows)?,
                offsets: vec![0],
                nulls: NullBufferBuilder::new(rows),
            })),
            _ => return None,
        })
    }

    fn append_null(&mut self) {
        match self {
            Column::Utf8(b) => b.append_null(),
            Column::Int8(b) => b.append_null(),
            Column::Int16(b) => b.append_null(),
            Column::Int32(b) => b.append_null(),
            Column::Int64(b) => b.append_null(),
            Column::Float32(b) => b.append_null(),
            Column::Float64(b) => b.append_null(),
            Column::Boolean(b) => b.append_null(),
            Column::TimestampMillis(b) => b.append_null(),
            Column::Decimal128(b, _, _) => b.append_null(),
            Column::Struct(s) => s.append_null(),
            Column::List(l) => {
                l.nulls.append_null();
                l.offsets.push(*l.offsets.last().unwrap_or(&0));
            }
        }
    }

    /// Parses the value at the cursor into this column.
    fn parse_value(&mut self, cursor: &mut Cursor) -> Step {
        if cursor.take_literal("null") {
            self.append_null();
            return Ok(());
        }
        match self {
            Column::Utf8(b) => b.append_value(cursor.string()?),
            Column::Int8(b) => b.append_value(cursor.integer()?),
            Column::Int16(b) => b.append_value(cursor.integer()?),
            Column::Int32(b) => b.append_value(cursor.integer()?),
            Column::Int64(b) => b.append_value(cursor.integer()?),
            Column::Float32(b) => b.append_value(cursor.number()?.parse().map_err(|_| GiveUp)?),
            Column::Float64(b) => b.append_value(cursor.number()?.parse().map_err(|_| GiveUp)?),
            Column::Boolean(b) => b.append_value(cursor.boolean()?),
            Column::TimestampMillis(b) => {
                let millis = if cursor.peek() == Some(b'"') {
                    let text = cursor.string()?;
                    string_to_datetime(&Utc, text)
                        .map_err(|_| GiveUp)?
                        .timestamp_millis()
                } else {
                    cursor.integer()?
                };
                b.append_value(millis)
            }
            Column::Decimal128(b, precision, scale) => {
                let text = if cursor.peek() == Some(b'"') {
                    cursor.string()?
                } else {
                    cursor.number()?
                };
                let value = parse_decimal::<Decimal128Type>(text, *precision, *scale)
                    .map_err(|_| GiveUp)?;
                b.append_value(value)
            }
            Column::Struct(s) => s.parse_object(cursor)?,
            Column::List(l) => l.parse_list(cursor)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<ArrayRef, arrow_schema::ArrowError> {
        Ok(match self {
            Column::Utf8(mut b) => Arc::new(b.finish()),
            Column::Int8(mut b) => Arc::new(b.finish()),
            Column::Int16(mut b) => Arc::new(b.finish()),
            Column::Int32(mut b) => Arc::new(b.finish()),
            Column::Int64(mut b) => Arc::new(b.finish()),
            Column::Float32(mut b) => Arc::new(b.finish()),
            Column::Float64(mut b) => Arc::new(b.finish()),
            Column::Boolean(mut b) => Arc::new(b.finish()),
            Column::TimestampMillis(mut b) => Arc::new(b.finish()),
            Column::Decimal128(mut b, precision, scale) => {
                Arc::new(b.finish().with_precision_and_scale(precision, scale)?)
            }
            Column::Struct(s) => {
                let mut s = *s;
                let nulls = s.nulls.finish();
                let children = s
                    .children
                    .into_iter()
                    .map(Column::finish)
                    .collect::<Result<_, _>>()?;
                Arc::new(StructArray::try_new(s.fields, children, nulls)?)
            }
            Column::List(l) => {
                let mut l = *l;
                let nulls = l.nulls.finish();
                let offsets = OffsetBuffer::new(l.offsets.into());
                Arc::new(ListArray::try_new(
                    l.field,
                    offsets,
                    l.values.finish()?,
                    nulls,
                )?)
            }
        })
    }
}

impl StructColumn {
    /// `None` when a field is not nullable or of a type the fast path does not build.
    fn new(fields: &Fields, rows: usize) -> Option<StructColumn> {
        let children = fields
            .iter()
            .map(|f| f.is_nullable().then(|| Column::new(f.data_type(), rows))?)
            .collect::<Option<Vec<_>>>()?;
        Some(StructColumn {
            fields: fields.clone(),
            children,
            nulls: NullBufferBuilder::new(rows),
            seen: vec![0; fields.len()],
            object_number: 0,
            next_field: 0,
        })
    }

    fn append_null(&mut self) {
        self.nulls.append_null();
        for child in &mut self.children {
            child.append_null();
        }
    }

    /// Parses one object: known fields into their columns, unknown ones skipped, missing
    /// ones null.
    fn parse_object(&mut self, cursor: &mut Cursor) -> Step {
        cursor.expect(b'{')?;
        self.object_number += 1;
        cursor.skip_whitespace();
        if !cursor.take(b'}') {
            loop {
                cursor.skip_whitespace();
                let key = cursor.plain_string()?;
                cursor.skip_whitespace();
                cursor.expect(b':')?;
                cursor.skip_whitespace();
                match self.field_index(key) {
                    Some(i) => {
                        if self.seen[i] == self.object_number {
                            return Err(GiveUp); // a duplicate key: arrow-json keeps the last
                        }
                        self.seen[i] = self.object_number;
                        self.children[i].parse_value(cursor)?;
                        self.next_field = i + 1;
                    }
                    None => cursor.skip_value(0)?,
                }
                cursor.skip_whitespace();
                if cursor.take(b'}') {
                    break;
                }
                cursor.expect(b',')?;
            }
        }
        for (child, seen) in self.children.iter_mut().zip(&self.seen) {
            if *seen != self.object_number {
                child.append_null();
            }
        }
        self.nulls.append_non_null();
        Ok(())
    }

    fn field_index(&self, key: &str) -> Option<usize> {
        let hint = self.next_field;
        if self.fields.get(hint).is_some_and(|f| f.name() == key) {
            return Some(hint);
        }
        self.fields.iter().position(|f| f.name() == key)
    }
}

impl ListColumn {
    fn parse_list(&mut self, cursor: &mut Cursor) -> Step {
        cursor.expect(b'[')?;
        let mut count = *self.offsets.last().unwrap_or(&0);
        cursor.skip_whitespace();
        if !cursor.take(b']') {
            loop {
                cursor.skip_whitespace();
                self.values.parse_value(cursor)?;
                count = count.checked_add(1).ok_or(GiveUp)?;
                cursor.skip_whitespace();
                if cursor.take(b']') {
                    break;
                }
                cursor.expect(b',')?;
            }
        }
        self.offsets.push(count);
        self.nulls.append_non_null();
        Ok(())
    }
}

/// Nesting deeper than this is left to arrow-json.
const MAX_SKIP_DEPTH: usize = 64;

/// A position in one record's text.
struct Cursor<'a, 's> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Where strings with escapes are unescaped.
    scratch: &'s mut String,
}

impl<'a> Cursor<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    fn take(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8) -> Step {
        if self.take(byte) {
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    fn take_literal(&mut self, literal: &str) -> bool {
        let found = self.bytes[self.pos..].starts_with(literal.as_bytes());
        if found {
            self.pos += literal.len();
        }
        found
    }

    fn boolean(&mut self) -> Step<bool> {
        if self.take_literal("true") {
            Ok(true)
        } else if self.take_literal("false") {
            Ok(false)
        } else {
            Err(GiveUp)
        }
    }

    /// A string without escapes, borrowed from the record (object keys).
    fn plain_string(&mut self) -> Step<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = start + memchr::memchr2(b'"', b'\\', &self.bytes[start..]).ok_or(GiveUp)?;
        if self.bytes[end] != b'"' {
            return Err(GiveUp);
        }
        self.pos = end + 1;
        Ok(&self.text[start..end])
    }

    /// A string value, unescaped.
    fn string(&mut self) -> Step<&str> {
        self.expect(b'"')?;
        let start = self.pos;
        let first = start + memchr::memchr2(b'"', b'\\', &self.bytes[start..]).ok_or(GiveUp)?;
        if self.bytes[first] == b'"' {
            self.pos = first + 1;
            return Ok(&self.text[start..first]);
        }
        self.scratch.clear();
        self.scratch.push_str(&self.text[start..first]);
        self.pos = first;
        loop {
            let rest = &self.bytes[self.pos..];
            let next = memchr::memchr2(b'"', b'\\', rest).ok_or(GiveUp)?;
            self.scratch.push_str(&self.text[self.pos..self.pos + next]);
            self.pos += next;
            if self.bytes[self.pos] == b'"' {
                self.pos += 1;
                return Ok(self.scratch.as_str());
            }
            let escaped = *self.bytes.get(self.pos + 1).ok_or(GiveUp)?;
            self.pos += 2;
            let c = match escaped {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = self.text.get(self.pos..self.pos + 4).ok_or(GiveUp)?;
                    let code = u32::from_str_radix(hex, 16).map_err(|_| GiveUp)?;
                    self.pos += 4;
                    // Surrogate pairs are left to arrow-json.
                    char::from_u32(code).ok_or(GiveUp)?
                }
                _ => return Err(GiveUp),
            };
            self.scratch.push(c);
        }
    }

    /// The text of a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Step<&'a str> {
        let start = self.pos;
        self.take(b'-');
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(GiveUp),
        }
        if self.take(b'.') {
            self.digits()?;
        }
        if self.take(b'e') || self.take(b'E') {
            if !self.take(b'+') {
                self.take(b'-');
            }
            self.digits()?;
        }
        Ok(&self.text[start..self.pos])
    }

    /// An integer literal (no fraction, no exponent) that fits `T`.
    fn integer<T: std::str::FromStr>(&mut self) -> Step<T> {
        let text = self.number()?;
        if text.contains(['.', 'e', 'E']) {
            return Err(GiveUp);
        }
        text.parse().map_err(|_| GiveUp)
    }

    fn skip_digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn digits(&mut self) -> Step {
        let start = self.pos;
        self.skip_digits();
        if self.pos == start {
            Err(GiveUp)
        } else {
            Ok(())
        }
    }

    /// Skips one value of a field that is not in the schema.
    fn skip_value(&mut self, depth: usize) -> Step {
        if depth > MAX_SKIP_DEPTH {
            return Err(GiveUp);
        }
        match self.peek().ok_or(GiveUp)? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let close = if self.take(b'{') {
                    b'}'
                } else {
                    self.pos += 1;
                    b']'
                };
                self.skip_whitespace();
                if self.take(close) {
                    return Ok(());
                }
                loop {
                    self.skip_whitespace();
                    if close == b'}' {
                        self.string()?;
                        self.skip_whitespace();
                        self.expect(b':')?;
                        self.skip_whitespace();
                    }
                    self.skip_value(depth + 1)?;
                    self.skip_whitespace();
                    if self.take(close) {
                        return Ok(());
                    }
                    self.expect(b',')?;
                }
            }
            b't' | b'f' => self.boolean().map(drop),
            b'n' if self.take_literal("null") => Ok(()),
            _ => self.number().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnSpec, TableSchema};
    use arrow_json::ReaderBuilder;

    fn schema() -> SchemaRef {
        let col = |name: &str, t: &str| ColumnSpec {
            name: name.into(),
            hive_type: t.into(),
        };
        TableSchema::from_columns(&[
            col("s", "string"),
            col("i8", "tinyint"),
            col("i16", "smallint"),
            col("i32", "int"),
            col("i64", "bigint"),
            col("f", "float"),
            col("d", "double"),
            col("b", "boolean"),
            col("ts", "timestamp"),
            col("dec", "decimal(12,2)"),
            col("st", "struct<a:string,n:int,inner:struct<x:double>>"),
            col("l", "array<bigint>"),
            col("ls", "array<struct<sku:string,qty:int>>"),
        ])
        .unwrap()
        .arrow()
    }

    fn batch(lines: &[String]) -> Batch {
        Batch::of_lines(lines)
    }

    /// arrow-json's answer for the whole batch, as the encoder's slow path decodes it.
    fn arrow_json(schema: &SchemaRef, batch: &Batch) -> Option<RecordBatch> {
        let mut decoder = ReaderBuilder::new(schema.clone())
            .with_batch_size(batch.len())
            .build_decoder()
            .unwrap();
        decoder.decode(&batch.data).ok()?;
        decoder
            .flush()
            .ok()?
            .filter(|rb| rb.num_rows() == batch.len())
    }

    /// Each field's value is one of the ordinary texts (`None`: the field is left out), or,
    /// now and then, one of the unusual ones the fast path gives up on or arrow-json rejects.
    fn choices(field: &str) -> (&'static [Option<&'static str>], &'static [&'static str]) {
        match field {
            "s" => (
                &[
                    Some(r#""plain""#),
                    Some(r#""tab\t \"q\" \\ \/ \u00e9 \u65e5""#),
                    Some(r#""日本 é""#),
                    Some("null"),
                    None,
                ],
                &["17", "true", r#""\ud83d\ude00""#],
            ),
            "i8" => (&[Some("7"), Some("-128"), None], &["300", "1.0", r#""5""#]),
            "i16" => (
                &[Some("-32768"), Some("0"), Some("-0"), Some("null")],
                &["1e2"],
            ),
            "i32" => (
                &[Some("2147483647"), Some("12"), Some(" 42 "), None],
                &["2147483648"],
            ),
            "i64" => (
                &[
                    Some("9223372036854775807"),
                    Some("-9223372036854775808"),
                    Some("1"),
                ],
                &["9223372036854775808", "01"],
            ),
            "f" => (
                &[
                    Some("1.5"),
                    Some("-0.0"),
                    Some("3.4028235e38"),
                    Some("1e-7"),
                    Some("2"),
                ],
                &[r#""1.5""#],
            ),
            "d" => (
                &[
                    Some("0.1"),
                    Some("-2.5E+3"),
                    Some("1.7976931348623157e308"),
                    Some("5"),
                ],
                &["NaN", ".5"],
            ),
            "b" => (
                &[Some("true"), Some("false"), Some("null")],
                &["1", r#""true""#],
            ),
            "ts" => (
                &[
                    Some(r#""2024-05-01T00:00:00.250Z""#),
                    Some(r#""2024-05-01 00:00:00""#),
                    Some(r#""2024-05-01T02:00:00+02:00""#),
                    Some("1714521600250"),
                    None,
                ],
                &[r#""yesterday""#, "1.5e12"],
            ),
            "dec" => (
                &[
                    Some(r#""188.50""#),
                    Some("12.3"),
                    Some(r#""-0.01""#),
                    Some("7"),
                    Some(r#""1.005""#),
                ],
                &[r#""12345678901.5""#, r#""abc""#],
            ),
            "st" => (
                &[
                    Some(r#"{"a":"x","n":1,"inner":{"x":2.5}}"#),
                    Some(r#"{"inner":null,"zz":[1,{"q":"}"}]}"#),
                    Some("null"),
                    Some(r#"{ "a" : "y" , "extra" : {"deep":[true,false,null,"s\"x"]} }"#),
                    Some("{}"),
                ],
                &[r#"{"n":1,"n":2}"#, "[]"],
            ),
            "l" => (
                &[
                    Some("[1,2,3]"),
                    Some("[]"),
                    Some("null"),
                    Some("[1,null,3]"),
                    Some("[ 4 , 5 ]"),
                ],
                &[r#"["1"]"#],
            ),
            "ls" => (
                &[
                    Some(r#"[{"sku":"A","qty":1},{"qty":2,"sku":"B"}]"#),
                    Some("[null]"),
                    Some("[]"),
                    None,
                ],
                &[r#"[{"sku":1}]"#],
            ),
            _ => (&[None], &[]),
        }
    }

    /// Seeded records mixing every choice, with unknown fields and varied field order.
    fn records(count: usize, seed: u64) -> Vec<String> {
        let schema = schema();
        let mut x = seed;
        let mut next = |n: usize| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as usize) % n
        };
        (0..count)
            .map(|_| {
                let mut parts: Vec<String> = Vec::new();
                for field in schema.fields() {
                    let (ordinary, unusual) = choices(field.name());
                    let value = if next(40) == 0 && !unusual.is_empty() {
                        Some(unusual[next(unusual.len())])
                    } else {
                        ordinary[next(ordinary.len())]
                    };
                    if let Some(value) = value {
                        parts.push(format!("\"{}\":{value}", field.name()));
                    }
                }
                if next(3) == 0 {
                    parts.push(r#""unknown":{"a":[1,2,{"b":"\"}"}],"c":null}"#.into());
                }
                if next(4) == 0 {
                    let i = next(parts.len().max(1));
                    let j = next(parts.len().max(1));
                    if i < parts.len() && j < parts.len() {
                        parts.swap(i, j);
                    }
                }
                format!("{{{}}}", parts.join(","))
            })
            .collect()
    }

    #[test]
    fn whatever_the_fast_path_accepts_it_decodes_exactly_as_arrow_json() {
        let schema = schema();
        let lines = records(3000, 11);
        let mut accepted = Vec::new();
        for line in &lines {
            let one = batch(std::slice::from_ref(line));
            if let Some(fast) = decode(&schema, &one, 0, 1) {
                let slow = arrow_json(&schema, &one);
                assert_eq!(Some(&fast), slow.as_ref(), "{line}");
                accepted.push(line.clone());
            }
        }
        // It takes the ordinary records and leaves the unusual ones (about a quarter have one).
        assert!(
            (1500..2900).contains(&accepted.len()),
            "accepted {} of 3000",
            accepted.len()
        );
        let all = batch(&accepted);
        let fast = decode(&schema, &all, 0, all.len()).unwrap();
        assert_eq!(Some(fast), arrow_json(&schema, &all));
    }

    #[test]
    fn ordinary_records_take_the_fast_path() {
        let schema = schema();
        let lines = [
            r#"{"s":"a","i8":1,"i16":2,"i32":3,"i64":4,"f":1.5,"d":2.5,"b":true,"ts":"2024-05-01T00:00:00.250Z","dec":"188.50","st":{"a":"x","n":1,"inner":{"x":0.5}},"l":[1,2],"ls":[{"sku":"A","qty":1}]}"#,
            r#"{"other":{"deep":[1,{"x":"]"}]},"s":"esc \"q\" \u00e9"}"#,
            r#" { "i64" : -5 , "st" : null , "l" : [ ] } "#,
        ]
        .map(String::from);
        let b = batch(&lines);
        let fast = decode(&schema, &b, 0, b.len()).expect("the fast path takes these");
        assert_eq!(Some(fast), arrow_json(&schema, &b));
    }

    #[test]
    fn anything_unusual_is_left_to_arrow_json() {
        let schema = schema();
        for line in [
            r#"{"s":17}"#,
            r#"{"i32":1.0}"#,
            r#"{"i32":"5"}"#,
            r#"{"i8":300}"#,
            r#"{"s":"a","s":"b"}"#,
            r#"{"s":"\ud83d\ude00"}"#,
            r#"{"s\u0041":"a"}"#,
            r#"[1,2]"#,
            r#"{"s":"a"} {"s":"b"}"#,
            r#"{"s":"bad \x escape"}"#,
            r#"{"b":"true"}"#,
            r#"{"ts":"yesterday"}"#,
            r#"{"s":"unterminated}"#,
            "",
        ] {
            let b = batch(&[line.to_string()]);
            assert!(decode(&schema, &b, 0, 1).is_none(), "{line}");
        }
    }

    #[test]
    fn schemas_with_types_it_does_not_build_are_left_to_arrow_json() {
        let col = |name: &str, t: &str| ColumnSpec {
            name: name.into(),
            hive_type: t.into(),
        };
        let schema = TableSchema::from_columns(&[col("s", "string"), col("day", "date")])
            .unwrap()
            .arrow();
        let b = batch(&[r#"{"s":"a","day":"2024-05-01"}"#.to_string()]);
        assert!(decode(&schema, &b, 0, 1).is_none());
    }
}
