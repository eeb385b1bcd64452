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
//!
//! Layout: `cursor` reads JSON text a token at a time; `columns` holds a builder per column
//! type and parses a value into it; `tests` hold it equal to arrow-json.

mod columns;
mod cursor;
#[cfg(test)]
mod tests;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;

use self::columns::{Column, StructColumn};
use self::cursor::Cursor;
use crate::record::Batch;
use crate::value::float_from_number;

/// A floating-point value under the value rules; a misfit is left to the slow path, which
/// refuses it with the reason.
#[inline]
pub(super) fn float(text: &str, single: bool) -> Step<f64> {
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
pub(super) struct Sizer<'a> {
    sizes: &'a Sizes,
    rows: usize,
    next: usize,
}

impl Sizer<'_> {
    /// (values, value bytes) for the next column: the previous chunk's, scaled to this
    /// chunk's rows with a sixteenth to spare, or (`rows`, 16 bytes a row) for the first.
    pub(super) fn next(&mut self) -> (usize, usize) {
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
pub(super) struct GiveUp;

pub(super) type Step<T = ()> = Result<T, GiveUp>;
