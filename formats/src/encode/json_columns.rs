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
use arrow_cast::parse::parse_decimal;
use arrow_schema::{DataType, FieldRef, Fields, SchemaRef, TimeUnit};

use crate::record::Batch;
use crate::value::{float_from_number, timestamp_millis_from_number, timestamp_millis_from_text};

/// A floating-point value under the value rules; a misfit is left to the slow path, which
/// refuses it with the reason.
fn float(text: &str, single: bool) -> Step<f64> {
    float_from_number(text, single).map_err(|_| GiveUp)
}

/// Records `start..end` of `batch` as one Arrow batch of `schema`, or `None` when any of them
/// is outside what this fast path takes (the caller then uses arrow-json).
#[cfg(test)]
pub fn decode(schema: &SchemaRef, batch: &Batch, start: usize, end: usize) -> Option<RecordBatch> {
    decode_sized(schema, batch, start, end, &mut Sizes::default())
}

/// What the columns of the previous chunk held, to size the builders of the next one: a
/// list's values and long strings outgrow a guess made from the row count, and each time a
/// builder grows it copies what it holds.
#[derive(Debug, Default)]
pub struct Sizes {
    rows: usize,
    /// (values, value bytes) of each column, in schema order, a nested one's after it.
    columns: Vec<(usize, usize)>,
}

/// Hands out the sizes for the columns of a chunk of `rows`, scaled from the previous one's.
struct Sizer<'a> {
    sizes: &'a Sizes,
    rows: usize,
    next: usize,
}

impl Sizer<'_> {
    /// (values, value bytes) for the next column: the previous chunk's, scaled to this
    /// chunk's rows with a sixteenth to spare, or (`rows`, 16 bytes a row) for the first.
    fn next(&mut self) -> (usize, usize) {
        let seen = self.sizes.columns.get(self.next).copied();
        self.next += 1;
        match seen {
            Some((values, bytes)) if self.sizes.rows > 0 => {
                let scale = |n: usize| {
                    let n = n.saturating_mul(self.rows) / self.sizes.rows;
                    n + n / 16
                };
                (scale(values), scale(bytes))
            }
            _ => (self.rows, self.rows * 16),
        }
    }
}

/// [`decode`], with builders sized from `sizes`, which it then updates with this chunk's.
pub fn decode_sized(
    schema: &SchemaRef,
    batch: &Batch,
    start: usize,
    end: usize,
    sizes: &mut Sizes,
) -> Option<RecordBatch> {
    let mut sizer = Sizer {
        sizes,
        rows: end - start,
        next: 0,
    };
    let mut root = StructColumn::new(schema.fields(), end - start, &mut sizer)?;
    let mut scratch = String::new();
    // The chunk's bytes validated as UTF-8 in one pass; a record is then its slice of them
    // (`get` checks it starts and ends on a character boundary), or, when the chunk as a whole
    // is not valid, validated on its own.
    let first = batch.records[start].range.start;
    let chunk = std::str::from_utf8(&batch.data[first..batch.records[end - 1].range.end]).ok();
    for index in start..end {
        let range = &batch.records[index].range;
        let text = match chunk.and_then(|c| c.get(range.start - first..range.end - first)) {
            Some(text) => text,
            None => std::str::from_utf8(batch.record_data(index)).ok()?,
        };
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
    sizes.rows = end - start;
    sizes.columns.clear();
    for child in &root.children {
        child.record_sizes(&mut sizes.columns);
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
    /// Each field's key as it appears in a record, quotes included (`"name"`), matched
    /// against the record's bytes without scanning for the key's end; empty for a name
    /// with a quote or backslash, which only the slow lookup may match.
    quoted_keys: Vec<Box<[u8]>>,
}

struct ListColumn {
    field: FieldRef,
    values: Column,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Column {
    /// A builder for `data_type`, or `None` when the fast path does not build it.
    fn new(data_type: &DataType, sizer: &mut Sizer) -> Option<Column> {
        let (rows, bytes) = sizer.next();
        Some(match data_type {
            DataType::Utf8 => Column::Utf8(StringBuilder::with_capacity(rows, bytes)),
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
            DataType::Struct(fields) => {
                Column::Struct(Box::new(StructColumn::new(fields, rows, sizer)?))
            }
            DataType::List(field) if field.is_nullable() => Column::List(Box::new(ListColumn {
                field: field.clone(),
                values: Column::new(field.data_type(), sizer)?,
                offsets: vec![0],
                nulls: NullBufferBuilder::new(rows),
            })),
            _ => return None,
        })
    }

    /// Appends (values, value bytes) of this column and those nested in it, in the order
    /// [`Column::new`] takes them from a [`Sizer`].
    fn record_sizes(&self, out: &mut Vec<(usize, usize)>) {
        use arrow_array::builder::ArrayBuilder;
        match self {
            Column::Utf8(b) => out.push((b.len(), b.values_slice().len())),
            Column::Int8(b) => out.push((b.len(), 0)),
            Column::Int16(b) => out.push((b.len(), 0)),
            Column::Int32(b) => out.push((b.len(), 0)),
            Column::Int64(b) => out.push((b.len(), 0)),
            Column::Float32(b) => out.push((b.len(), 0)),
            Column::Float64(b) => out.push((b.len(), 0)),
            Column::Boolean(b) => out.push((b.len(), 0)),
            Column::TimestampMillis(b) => out.push((b.len(), 0)),
            Column::Decimal128(b, _, _) => out.push((b.len(), 0)),
            Column::Struct(s) => {
                out.push((s.nulls.len(), 0));
                for child in &s.children {
                    child.record_sizes(out);
                }
            }
            Column::List(l) => {
                out.push((l.offsets.len() - 1, 0));
                l.values.record_sizes(out);
            }
        }
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
        if cursor.peek() == Some(b'n') && cursor.take_literal("null") {
            self.append_null();
            return Ok(());
        }
        match self {
            Column::Utf8(b) => b.append_value(cursor.string()?),
            Column::Int8(b) => b.append_value(cursor.integer()?),
            Column::Int16(b) => b.append_value(cursor.integer()?),
            Column::Int32(b) => b.append_value(cursor.integer()?),
            Column::Int64(b) => b.append_value(cursor.integer()?),
            Column::Float32(b) => b.append_value(float(cursor.number()?, true)? as f32),
            Column::Float64(b) => b.append_value(float(cursor.number()?, false)?),
            Column::Boolean(b) => b.append_value(cursor.boolean()?),
            Column::TimestampMillis(b) => {
                let millis = if cursor.peek() == Some(b'"') {
                    let text = cursor.string()?;
                    match utc_millis(text.as_bytes()) {
                        Some(millis) => millis,
                        None => timestamp_millis_from_text(text).ok_or(GiveUp)?,
                    }
                } else {
                    timestamp_millis_from_number(cursor.number()?).map_err(|_| GiveUp)?
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
    fn new(fields: &Fields, rows: usize, sizer: &mut Sizer) -> Option<StructColumn> {
        let children = fields
            .iter()
            .map(|f| f.is_nullable().then(|| Column::new(f.data_type(), sizer))?)
            .collect::<Option<Vec<_>>>()?;
        Some(StructColumn {
            fields: fields.clone(),
            children,
            nulls: NullBufferBuilder::new(rows),
            seen: vec![0; fields.len()],
            object_number: 0,
            next_field: 0,
            quoted_keys: fields
                .iter()
                .map(|f| {
                    let name = f.name().as_bytes();
                    if name.contains(&b'"') || name.contains(&b'\\') {
                        Box::default()
                    } else {
                        [&b"\""[..], name, &b"\""[..]].concat().into_boxed_slice()
                    }
                })
                .collect(),
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
                let index = match self.quoted_key_at(cursor) {
                    Some(i) => Some(i),
                    None => self.field_index(cursor.plain_string()?),
                };
                cursor.skip_whitespace();
                cursor.expect(b':')?;
                cursor.skip_whitespace();
                match index {
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

    /// The field whose quoted key starts at the cursor, moving past the key; tries the
    /// expected field first, then the others in order.
    #[inline]
    fn quoted_key_at(&self, cursor: &mut Cursor) -> Option<usize> {
        let rest = &cursor.bytes[cursor.pos..];
        let n = self.quoted_keys.len();
        let hint = self.next_field;
        let found = (hint..n)
            .chain(0..hint.min(n))
            .find(|&i| starts_with(rest, &self.quoted_keys[i]))?;
        cursor.pos += self.quoted_keys[found].len();
        Some(found)
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

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, the shape almost every
/// producer writes; `None` for anything else, which [`timestamp_millis_from_text`] then decides.
/// Digits past the millisecond are dropped, as `timestamp_millis` does.
fn utc_millis(text: &[u8]) -> Option<i64> {
    if text.len() < 20 || *text.last()? != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        text[range].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| text[i] != c) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let fraction = &text[19..text.len() - 1];
    let millis = match fraction {
        [] => 0,
        [b'.', rest @ ..] if (1..=9).contains(&rest.len()) => {
            let all = digits(20..text.len() - 1)?;
            all / 10u32.pow(rest.len().saturating_sub(3) as u32)
                * 10u32.pow(3u32.saturating_sub(rest.len() as u32))
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day == 0
        || day > month_days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's `days_from_civil`).
    let (y, m, d) = (
        i64::from(year) - i64::from(month <= 2),
        i64::from(month),
        i64::from(day),
    );
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1000 + i64::from(millis))
}

/// Whether `hay` starts with `needle` (non-empty), compared a word at a time, the last word
/// overlapping the one before: keys are short, and a call to `memcmp` costs more than this.
#[inline]
fn starts_with(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    if n == 0 || hay.len() < n {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
    let half = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap());
    match n {
        1..=3 => hay[..n].iter().zip(needle).all(|(a, b)| a == b),
        4..=7 => half(hay, 0) == half(needle, 0) && half(hay, n - 4) == half(needle, n - 4),
        _ => {
            let mut at = 0;
            while at + 8 < n {
                if word(hay, at) != word(needle, at) {
                    return false;
                }
                at += 8;
            }
            word(hay, n - 8) == word(needle, n - 8)
        }
    }
}

/// The index in `bytes` of the first `"` or `\\` at or after `start`, scanning eight bytes at
/// a time (most strings are short, where `memchr2`'s setup costs more than the scan).
#[inline]
fn find_quote_or_backslash(bytes: &[u8], start: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = start;
    while i + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte of `quote` or `backslash` is zero where `word` has that character; the
        // lowest flagged byte is exact (borrows only spill into higher bytes).
        let found =
            (quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash) & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|p| i + p)
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
        let end = find_quote_or_backslash(self.bytes, start).ok_or(GiveUp)?;
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
        let first = find_quote_or_backslash(self.bytes, start).ok_or(GiveUp)?;
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
    fn integer<T: TryFrom<i64>>(&mut self) -> Step<T> {
        let negative = self.take(b'-');
        let start = self.pos;
        // Up to 18 digits cannot overflow a u64; longer literals take the checked path.
        let mut magnitude: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(digit - b'0')))
                .ok_or(GiveUp)?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return Err(GiveUp); // no digits, or a leading zero
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(GiveUp);
        }
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude).ok_or(GiveUp)?
        } else {
            i64::try_from(magnitude).map_err(|_| GiveUp)?
        };
        T::try_from(value).map_err(|_| GiveUp)
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

    /// The slow path's answer for the whole batch: the value rules, then arrow-json (`None`
    /// when either refuses a record).
    fn arrow_json(schema: &SchemaRef, batch: &Batch) -> Option<RecordBatch> {
        let (batch, _, refused) = super::super::normalize::normalize(schema, batch, 0, batch.len());
        if !refused.is_empty() {
            return None;
        }
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
        // In chunks, each sized from the one before (the last one smaller), as the encoder does.
        let mut sizes = Sizes::default();
        for chunk in accepted.chunks(700) {
            let b = batch(chunk);
            let fast = decode_sized(&schema, &b, 0, b.len(), &mut sizes).unwrap();
            assert_eq!(Some(fast), arrow_json(&schema, &b));
        }
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
    fn the_timestamp_shortcut_agrees_with_the_value_rules() {
        let mut x = 7u64;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let mut shortcut = 0;
        for i in 0..20_000 {
            let fraction = match next(5) {
                0 => String::new(),
                1 => format!(".{:03}", next(1000)),
                2 => format!(".{}", next(10)),
                3 => format!(".{:06}", next(1_000_000)),
                _ => format!(".{:09}", next(1_000_000_000)),
            };
            // Mostly valid fields, now and then one out of range (day 29..31 of any month,
            // hour 24, second 60, year 0000).
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{}",
                if i % 97 == 0 { 0 } else { 1900 + next(250) },
                1 + next(12),
                1 + next(31),
                next(25),
                next(60),
                next(61),
                ["Z", "Z", "Z", "+00:00", "z"][next(5) as usize],
            );
            let fast = utc_millis(text.as_bytes());
            let slow = timestamp_millis_from_text(&text);
            if let Some(millis) = fast {
                shortcut += 1;
                assert_eq!(Some(millis), slow, "{text}");
            }
        }
        assert!(shortcut > 8000, "{shortcut}");
        for text in [
            "2024-02-29T23:59:59.999Z",
            "1969-12-31T23:59:59.5Z",
            "0000-01-01T00:00:00Z",
        ] {
            let slow = timestamp_millis_from_text(text).unwrap();
            assert_eq!(utc_millis(text.as_bytes()), Some(slow), "{text}");
        }
        for text in [
            "2023-02-29T00:00:00Z",
            "2024-05-01 00:00:00Z",
            "2024-05-01T00:00:00.Z",
        ] {
            assert_eq!(utc_millis(text.as_bytes()), None, "{text}");
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
