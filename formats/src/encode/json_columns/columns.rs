//! The column builders of the fast path: one per Arrow type it builds, each parsing a JSON
//! value from the [`Cursor`] into its builder, and structs and lists made of them.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, Int8Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::types::Decimal128Type;
use arrow_array::{ArrayRef, ListArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_cast::parse::parse_decimal;
use arrow_schema::{DataType, FieldRef, Fields, TimeUnit};

use crate::value::{timestamp_millis_from_number, timestamp_millis_from_text};

use super::cursor::{starts_with, utc_millis, Cursor};
use super::{float, GiveUp, Sizer, Step};

/// One column being built.
pub(super) enum Column {
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

pub(super) struct StructColumn {
    pub(super) fields: Fields,
    pub(super) children: Vec<Column>,
    pub(super) nulls: NullBufferBuilder,
    /// `seen[i] == object_number` when field `i` appeared in the current object.
    pub(super) seen: Vec<u64>,
    pub(super) object_number: u64,
    /// Where the next key is expected: records usually repeat one field order.
    pub(super) next_field: usize,
    /// Each field's key as it appears in a record, quotes included (`"name"`), matched
    /// against the record's bytes without scanning for the key's end; empty for a name
    /// with a quote or backslash, which only the slow lookup may match.
    pub(super) quoted_keys: Vec<Box<[u8]>>,
}

pub(super) struct ListColumn {
    pub(super) field: FieldRef,
    pub(super) values: Column,
    pub(super) offsets: Vec<i32>,
    pub(super) nulls: NullBufferBuilder,
}

impl Column {
    /// A builder for `data_type`, or `None` when the fast path does not build it.
    pub(super) fn new(data_type: &DataType, sizer: &mut Sizer) -> Option<Column> {
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
    pub(super) fn record_sizes(&self, out: &mut Vec<(usize, usize)>) {
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

    pub(super) fn append_null(&mut self) {
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
    pub(super) fn parse_value(&mut self, cursor: &mut Cursor) -> Step {
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

    pub(super) fn finish(self) -> Result<ArrayRef, arrow_schema::ArrowError> {
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
    pub(super) fn new(fields: &Fields, rows: usize, sizer: &mut Sizer) -> Option<StructColumn> {
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

    pub(super) fn append_null(&mut self) {
        self.nulls.append_null();
        for child in &mut self.children {
            child.append_null();
        }
    }

    /// Parses one object: known fields into their columns, unknown ones skipped, missing
    /// ones null.
    pub(super) fn parse_object(&mut self, cursor: &mut Cursor) -> Step {
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
    pub(super) fn quoted_key_at(&self, cursor: &mut Cursor) -> Option<usize> {
        let rest = &cursor.bytes[cursor.pos..];
        let n = self.quoted_keys.len();
        let hint = self.next_field;
        let found = (hint..n)
            .chain(0..hint.min(n))
            .find(|&i| starts_with(rest, &self.quoted_keys[i]))?;
        cursor.pos += self.quoted_keys[found].len();
        Some(found)
    }

    pub(super) fn field_index(&self, key: &str) -> Option<usize> {
        let hint = self.next_field;
        if self.fields.get(hint).is_some_and(|f| f.name() == key) {
            return Some(hint);
        }
        self.fields.iter().position(|f| f.name() == key)
    }
}

impl ListColumn {
    pub(super) fn parse_list(&mut self, cursor: &mut Cursor) -> Step {
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
