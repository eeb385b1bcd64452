//! De-aggregation of Kinesis Producer Library (KPL) aggregated records, as the KCL does it.
//! Sits at the very start of the flow: each Kinesis record read from a shard goes through
//! [`is_aggregated`]; aggregated ones are split by [`deaggregate`] into user records before
//! decoding, others pass through untouched. A record that carries the magic but fails to
//! parse (including a digest mismatch) is dead-lettered whole as `processing-failed`.
//!
//! Wire format: 4-byte [`KPL_MAGIC`], a protobuf `AggregatedRecord`, then the 16-byte MD5 of
//! the protobuf bytes. Protobuf is read by a small hand-rolled reader; tags are skipped.

use std::ops::Range;

use bytes::Bytes;
use md5::{Digest, Md5};
use thiserror::Error;

/// Prefix that marks a Kinesis record's data as a KPL aggregate.
pub const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// One user record taken out of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    /// Zero-copy slice of the aggregated record's data.
    pub data: Bytes,
    /// Position in the aggregate; with the Kinesis sequence number it identifies the record.
    pub sub_sequence: u32,
}

/// Why an aggregated record could not be split. Offsets (`at`) are byte positions in the
/// whole Kinesis record data, magic included.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KplError {
    #[error(
        "record is not KPL-aggregated ({len} bytes; needs the magic prefix and an MD5 digest)"
    )]
    NotAggregated { len: usize },
    #[error("KPL aggregate digest mismatch: trailing MD5 does not match the protobuf body")]
    DigestMismatch,
    #[error("truncated KPL protobuf: value at byte {at} runs past the end of its message")]
    Truncated { at: usize },
    #[error("bad varint at byte {at} in KPL protobuf (longer than 10 bytes or above u64)")]
    BadVarint { at: usize },
    #[error("unsupported protobuf wire type {wire_type} at byte {at} in KPL aggregate")]
    BadWireType { wire_type: u8, at: usize },
    #[error("KPL record {field} = {index} is out of range (table has {len} entries)")]
    IndexOutOfRange {
        field: &'static str,
        index: u64,
        len: usize,
    },
    #[error("KPL record is missing required field {field}")]
    MissingField { field: &'static str },
    #[error("KPL field {field} is not valid UTF-8")]
    BadUtf8 { field: &'static str },
    #[error("KPL aggregate holds {count} records, more than a u32 sub-sequence can number")]
    TooManyRecords { count: usize },
}

/// True when `data` starts with the KPL magic and is long enough for magic + digest.
pub fn is_aggregated(data: &[u8]) -> bool {
    data.len() >= KPL_MAGIC.len() + DIGEST_LEN && data.starts_with(&KPL_MAGIC)
}

/// De-aggregates `data` (which must be aggregated) into user records, sub-sequence numbers
/// 0..n in order.
pub fn deaggregate(data: &Bytes) -> Result<Vec<UserRecord>, KplError> {
    if !is_aggregated(data) {
        return Err(KplError::NotAggregated { len: data.len() });
    }
    let body_end = data.len() - DIGEST_LEN;
    if Md5::digest(&data[KPL_MAGIC.len()..body_end]).as_slice() != &data[body_end..] {
        return Err(KplError::DigestMismatch);
    }

    // Tables may come after the records on the wire, so resolve indexes once all is read.
    let mut partition_keys = Vec::new();
    let mut hash_keys = Vec::new();
    let mut raw_records = Vec::new();
    let mut reader = Reader {
        buf: &data[..body_end],
        pos: KPL_MAGIC.len(),
    };
    while !reader.at_end() {
        let (field, wire_type, at) = reader.key()?;
        match (field, wire_type) {
            (1, WIRE_LEN) => partition_keys.push(reader.string("partition_key_table")?),
            (2, WIRE_LEN) => hash_keys.push(reader.string("explicit_hash_key_table")?),
            (3, WIRE_LEN) => raw_records.push(RawRecord::parse(reader.message()?)?),
            _ => reader.skip(wire_type, at)?,
        }
    }

    let count = raw_records.len();
    raw_records
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let sub_sequence = u32::try_from(i).map_err(|_| KplError::TooManyRecords { count })?;
            let partition_key = lookup(
                &partition_keys,
                raw.partition_key_index,
                "partition_key_index",
            )?;
            let explicit_hash_key = raw
                .explicit_hash_key_index
                .map(|index| lookup(&hash_keys, index, "explicit_hash_key_index"))
                .transpose()?;
            Ok(UserRecord {
                partition_key,
                explicit_hash_key,
                data: data.slice(raw.data),
                sub_sequence,
            })
        })
        .collect()
}

/// Builds a KPL aggregated record (magic + protobuf + MD5) — used to make test vectors.
/// Takes `(partition_key, data)` pairs; partition keys are deduplicated into the table.
pub fn aggregate(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let mut encoded_records = Vec::new();
    for &(key, data) in records {
        let index = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
            keys.push(key);
            keys.len() - 1
        });
        let mut record = Vec::new();
        put_varint_field(&mut record, 1, index as u64);
        put_len_field(&mut record, 3, data);
        encoded_records.push(record);
    }
    let mut body = Vec::new();
    for key in keys {
        put_len_field(&mut body, 1, key.as_bytes());
    }
    for record in &encoded_records {
        put_len_field(&mut body, 3, record);
    }
    frame(&body)
}

/// Wraps a protobuf body in magic and digest.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(KPL_MAGIC.len() + body.len() + DIGEST_LEN);
    out.extend_from_slice(&KPL_MAGIC);
    out.extend_from_slice(body);
    out.extend_from_slice(Md5::digest(body).as_slice());
    out
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    put_varint(out, field << 3 | u64::from(WIRE_VARINT));
    put_varint(out, value);
}

fn put_len_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, field << 3 | u64::from(WIRE_LEN));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn lookup(table: &[String], index: u64, field: &'static str) -> Result<String, KplError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .cloned()
        .ok_or(KplError::IndexOutOfRange {
            field,
            index,
            len: table.len(),
        })
}

/// A `Record` message before its indexes are resolved; `data` is a range into the input.
struct RawRecord {
    partition_key_index: u64,
    explicit_hash_key_index: Option<u64>,
    data: Range<usize>,
}

impl RawRecord {
    fn parse(mut reader: Reader<'_>) -> Result<Self, KplError> {
        let (mut partition_key_index, mut explicit_hash_key_index, mut data) = (None, None, None);
        while !reader.at_end() {
            let (field, wire_type, at) = reader.key()?;
            match (field, wire_type) {
                (1, WIRE_VARINT) => partition_key_index = Some(reader.varint()?),
                (2, WIRE_VARINT) => explicit_hash_key_index = Some(reader.varint()?),
                (3, WIRE_LEN) => data = Some(reader.len_delimited()?),
                _ => reader.skip(wire_type, at)?, // tags (4) and unknown fields
            }
        }
        let missing = |field| KplError::MissingField { field };
        Ok(RawRecord {
            partition_key_index: partition_key_index.ok_or(missing("partition_key_index"))?,
            explicit_hash_key_index,
            data: data.ok_or(missing("data"))?,
        })
    }
}

/// Protobuf reader over one message. `buf` ends where the message ends but starts at the
/// beginning of the record data, so positions and ranges are absolute.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, KplError> {
        let at = self.pos;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(KplError::Truncated { at })?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(KplError::BadVarint { at });
            }
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(KplError::BadVarint { at })
    }

    /// Reads a field key; returns (field number, wire type, offset of the key).
    fn key(&mut self) -> Result<(u64, u8, usize), KplError> {
        let at = self.pos;
        let key = self.varint()?;
        Ok((key >> 3, (key & 7) as u8, at))
    }

    fn take(&mut self, len: usize, at: usize) -> Result<Range<usize>, KplError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len());
        let end = end.ok_or(KplError::Truncated { at })?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    fn len_delimited(&mut self) -> Result<Range<usize>, KplError> {
        let at = self.pos;
        let len = usize::try_from(self.varint()?).map_err(|_| KplError::Truncated { at })?;
        self.take(len, at)
    }

    fn string(&mut self, field: &'static str) -> Result<String, KplError> {
        let range = self.len_delimited()?;
        let text =
            std::str::from_utf8(&self.buf[range]).map_err(|_| KplError::BadUtf8 { field })?;
        Ok(text.to_owned())
    }

    /// A reader over an embedded message.
    fn message(&mut self) -> Result<Reader<'a>, KplError> {
        let range = self.len_delimited()?;
        Ok(Reader {
            buf: &self.buf[..range.end],
            pos: range.start,
        })
    }

    fn skip(&mut self, wire_type: u8, at: usize) -> Result<(), KplError> {
        match wire_type {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8, self.pos).map(drop),
            WIRE_LEN => self.len_delimited().map(drop),
            WIRE_FIXED32 => self.take(4, self.pos).map(drop),
            _ => Err(KplError::BadWireType { wire_type, at }),
        }
    }
}

#[cfg(test)]
mod tests;
