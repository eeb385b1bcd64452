//! Parquet encoder: JSON records → Arrow (the fast path in `json_columns`, or arrow-json when
//! that gives up; both decode into the table schema) → `ArrowWriter`, with row groups cut by
//! encoded bytes. Records that do not fit the schema (wrong type, not an object) are isolated
//! by bisection with arrow-json and reported as `format-conversion-failed`; the rest of the
//! batch is written.

use std::io::Write;
use std::sync::{Arc, RwLock};

use arrow_array::RecordBatch;
use arrow_json::ReaderBuilder;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::dictionary::mostly_distinct_columns;
use super::json_columns;
use super::normalize::normalize;
use super::{EncodeError, EncodeOutcome, Encoder, Rejection};
use crate::record::{Batch, ErrorOutputType};
use crate::schema::TableSchema;

/// Rows decoded per Arrow batch on the happy path: small enough that a chunk's columns are
/// still in cache when the writer reads them (4096 was 3 % faster than 8192 on S3; 2048 was
/// slower again), and no fewer than the dictionary choice samples.
const DECODE_CHUNK_ROWS: usize = 4096;

/// Where the table schema comes from.
#[derive(Debug)]
pub enum SchemaSource {
    /// Given in config (or read from a catalog).
    Fixed(Arc<TableSchema>),
    /// Inferred from the first `sample` records of the first batch; each later batch's
    /// sample may add new top-level columns (never drop or retype one), so a catalog table
    /// evolves by addition and every file is readable with the table's latest columns.
    Infer {
        sample: usize,
        current: RwLock<Option<Arc<TableSchema>>>,
    },
}

/// Page compression for Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParquetCompression {
    None,
    Snappy,
    Zstd(i32),
    Gzip(u32),
}

#[derive(Debug)]
pub struct ParquetEncoder {
    schema: SchemaSource,
    properties: WriterProperties,
    row_group_bytes: usize,
}

impl ParquetEncoder {
    pub fn new(
        schema: SchemaSource,
        compression: ParquetCompression,
        row_group_bytes: usize,
    ) -> Result<Self, EncodeError> {
        let codec = match compression {
            ParquetCompression::None => Compression::UNCOMPRESSED,
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level)?),
            ParquetCompression::Gzip(level) => Compression::GZIP(GzipLevel::try_new(level)?),
        };
        let properties = WriterProperties::builder()
            .set_compression(codec)
            .set_created_by(concat!("spillway ", env!("CARGO_PKG_VERSION")).to_string())
            // Pages are cut by size alone (1 MiB): the default row limit (20,000) cuts narrow
            // columns into many small pages, each compressed, indexed and headed on its own,
            // which cost S3 (orders) about a tenth of its time for no smaller output.
            .set_data_page_row_count_limit(usize::MAX)
            .build();
        Ok(ParquetEncoder {
            schema,
            properties,
            row_group_bytes,
        })
    }

    /// A schema inferred from the first `sample` records of each batch, starting from
    /// `existing` (the catalog table's columns, when it already exists).
    pub fn inferring(sample: usize, existing: Option<TableSchema>) -> SchemaSource {
        SchemaSource::Infer {
            sample,
            current: RwLock::new(existing.map(Arc::new)),
        }
    }

    /// The table schema, once known (inferred schemas are known after the first batch).
    pub fn schema(&self) -> Option<Arc<TableSchema>> {
        match &self.schema {
            SchemaSource::Fixed(s) => Some(s.clone()),
            SchemaSource::Infer { current, .. } => {
                current.read().unwrap_or_else(|p| p.into_inner()).clone()
            }
        }
    }

    /// The writer properties for an object whose first decoded rows are `first`: mostly
    /// distinct columns are written without a dictionary (see [`super::dictionary`]).
    fn properties_for(&self, first: &RecordBatch) -> WriterProperties {
        let mut builder = self.properties.clone().into_builder();
        for column in mostly_distinct_columns(first) {
            builder = builder.set_column_dictionary_enabled(column, false);
        }
        builder.build()
    }

    fn schema_for(&self, batch: &Batch) -> Result<Arc<TableSchema>, EncodeError> {
        let (sample, current) = match &self.schema {
            SchemaSource::Fixed(schema) => return Ok(schema.clone()),
            SchemaSource::Infer { sample, current } => (sample, current),
        };
        let sample = (0..batch.len().min(*sample)).map(|i| batch.record_data(i));
        let inferred = match TableSchema::infer(sample) {
            Ok(inferred) => inferred,
            // No object in this batch's sample: the current schema, if any, decides.
            Err(e) => return self.schema().ok_or(EncodeError::Schema(e)),
        };
        let mut current = current.write().unwrap_or_else(|p| p.into_inner());
        let next = match current.as_ref() {
            None => Arc::new(inferred),
            Some(have) => match have.with_new_columns(&inferred) {
                Some(evolved) => Arc::new(evolved),
                None => return Ok(have.clone()),
            },
        };
        *current = Some(next.clone());
        Ok(next)
    }
}

impl Encoder for ParquetEncoder {
    fn encode(
        &self,
        batch: &Batch,
        out: &mut (dyn Write + Send),
    ) -> Result<EncodeOutcome, EncodeError> {
        let schema = self.schema_for(batch)?.arrow();
        let mut outcome = EncodeOutcome::default();
        let mut chunk_starts = (0..batch.len()).step_by(DECODE_CHUNK_ROWS);
        // Once the fast path gives up on a chunk, the rest of this batch goes to arrow-json
        // directly: a batch whose records it cannot take would otherwise be parsed twice.
        let mut fast_path = true;
        let mut sizes = json_columns::Sizes::default();
        let mut decode_chunk = |start: usize, decoded: &mut Vec<RecordBatch>| {
            let end = (start + DECODE_CHUNK_ROWS).min(batch.len());
            let fast = fast_path
                .then(|| json_columns::decode_sized(&schema, batch, start, end, &mut sizes))
                .flatten();
            fast_path = fast.is_some();
            match fast {
                Some(rows) => decoded.push(rows),
                None => decode_fallback(&schema, batch, start, end, decoded, &mut outcome.rejected),
            }
        };
        // Decode until the first rows appear: they decide the writer's dictionary columns.
        let mut decoded = Vec::new();
        let mut next = chunk_starts.next();
        while let (true, Some(start)) = (decoded.is_empty(), next) {
            decode_chunk(start, &mut decoded);
            next = chunk_starts.next();
        }
        let properties = decoded
            .first()
            .map_or_else(|| self.properties.clone(), |rb| self.properties_for(rb));
        let mut writer = ArrowWriter::try_new(out, schema.clone(), Some(properties))?;
        let mut rows = 0;
        loop {
            for rb in decoded.drain(..) {
                rows += rb.num_rows();
                writer.write(&rb)?;
                if writer.in_progress_size() >= self.row_group_bytes {
                    writer.flush()?;
                }
            }
            let Some(start) = next else { break };
            decode_chunk(start, &mut decoded);
            next = chunk_starts.next();
        }
        outcome.rows = rows;
        writer.close()?;
        Ok(outcome)
    }

    /// Firehose's `.parquet`, whatever the page compression.
    fn extension(&self) -> String {
        ".parquet".to_string()
    }

    fn content_type(&self) -> &'static str {
        "application/vnd.apache.parquet"
    }

    fn content_encoding(&self) -> Option<&'static str> {
        None
    }

    fn table_schema(&self) -> Option<Arc<TableSchema>> {
        self.schema()
    }
}

/// The records of `batch` that do not fit `schema`, by the same rules the Parquet encoder
/// applies (a destination without Parquet, such as OpenSearch with a schema, checks its
/// records before sending them). The decoded columns are discarded.
pub fn schema_rejections(schema: &TableSchema, batch: &Batch) -> Vec<Rejection> {
    let schema = schema.arrow();
    let mut rejected = Vec::new();
    let mut decoded = Vec::new();
    let mut sizes = json_columns::Sizes::default();
    for start in (0..batch.len()).step_by(DECODE_CHUNK_ROWS) {
        let end = (start + DECODE_CHUNK_ROWS).min(batch.len());
        if json_columns::decode_sized(&schema, batch, start, end, &mut sizes).is_none() {
            decode_fallback(&schema, batch, start, end, &mut decoded, &mut rejected);
            decoded.clear();
        }
    }
    rejected
}

/// Decodes records `start..end` of `batch` when the fast path gave up on them: the value rules
/// first ([`normalize`]), then arrow-json, isolating the records it refuses.
fn decode_fallback(
    schema: &SchemaRef,
    batch: &Batch,
    start: usize,
    end: usize,
    decoded: &mut Vec<RecordBatch>,
    rejected: &mut Vec<Rejection>,
) {
    let (normal, indices, refused) = normalize(schema, batch, start, end);
    let before = rejected.len();
    rejected.extend(refused);
    if !normal.is_empty() {
        let mut refused_by_arrow = Vec::new();
        decode_isolating(
            schema,
            &normal,
            0,
            normal.len(),
            decoded,
            &mut refused_by_arrow,
        );
        rejected.extend(refused_by_arrow.into_iter().map(|mut r| {
            r.index = indices[r.index];
            r
        }));
    }
    rejected[before..].sort_by_key(|r| r.index);
}

/// Decodes records `start..end` of `batch`; when a range fails, splits it in halves until
/// each failing record stands alone and is rejected with arrow-json's message.
fn decode_isolating(
    schema: &SchemaRef,
    batch: &Batch,
    start: usize,
    end: usize,
    decoded: &mut Vec<RecordBatch>,
    rejected: &mut Vec<Rejection>,
) {
    match decode_range(schema, batch, start, end) {
        Ok(Some(rb)) => decoded.push(rb),
        Ok(None) => {}
        Err(e) if end - start == 1 => rejected.push(Rejection {
            index: start,
            error_type: ErrorOutputType::FormatConversionFailed,
            code: "Format.SchemaMismatch",
            message: format!("record does not fit the table schema: {e}"),
        }),
        Err(_) => {
            let mid = start + (end - start) / 2;
            decode_isolating(schema, batch, start, mid, decoded, rejected);
            decode_isolating(schema, batch, mid, end, decoded, rejected);
        }
    }
}

fn decode_range(
    schema: &SchemaRef,
    batch: &Batch,
    start: usize,
    end: usize,
) -> Result<Option<RecordBatch>, arrow_schema::ArrowError> {
    let bytes = &batch.data[batch.records[start].range.start..batch.records[end - 1].range.end];
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(end - start)
        .build_decoder()?;
    let mut consumed = 0;
    while consumed < bytes.len() {
        let n = decoder.decode(&bytes[consumed..])?;
        if n == 0 {
            break;
        }
        consumed += n;
    }
    let rb = decoder.flush()?;
    if rb.as_ref().map(|b| b.num_rows()) != Some(end - start) {
        return Err(arrow_schema::ArrowError::JsonError(format!(
            "expected {} JSON objects, decoded {}",
            end - start,
            rb.as_ref().map_or(0, |b| b.num_rows())
        )));
    }
    Ok(rb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnSpec;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMillisecondType};
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn batch(lines: &[&str]) -> Batch {
        Batch::of_lines(lines)
    }

    fn fixed_schema() -> SchemaSource {
        let col = |name: &str, t: &str| ColumnSpec {
            name: name.into(),
            hive_type: t.into(),
        };
        let columns = [
            col("id", "bigint"),
            col("name", "string"),
            col("ts", "timestamp"),
        ];
        SchemaSource::Fixed(Arc::new(TableSchema::from_columns(&columns).unwrap()))
    }

    fn read_back(bytes: Vec<u8>) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn wrong_typed_records_are_rejected_alone_and_the_rest_is_written() {
        let encoder =
            ParquetEncoder::new(fixed_schema(), ParquetCompression::Zstd(3), 1 << 20).unwrap();
        let b = batch(&[
            r#"{"id":1,"name":"a","ts":"2024-05-01T00:00:00.250Z"}"#,
            r#"{"id":"not a number","name":"b"}"#,
            r#"{"id":3,"name":"c","extra":true}"#,
            r#"[1,2,3]"#,
            r#"{"id":5,"name":7}"#,
            r#"{"id":6}"#,
        ]);
        let mut out = Vec::new();
        let outcome = encoder.encode(&b, &mut out).unwrap();
        let rejected: Vec<usize> = outcome.rejected.iter().map(|r| r.index).collect();
        assert_eq!(rejected, vec![1, 3, 4]);
        assert!(outcome.rejected[0]
            .message
            .contains("does not fit the table schema"));
        assert_eq!(outcome.rows, 3);
        let batches = read_back(out);
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|rb| rb.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(ids, vec![1, 3, 6]);
        let ts = batches[0]
            .column(2)
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_714_521_600_250);
        assert!(ts.is_null(1));
    }

    #[test]
    fn schema_rejections_are_the_records_the_encoder_would_reject() {
        let SchemaSource::Fixed(schema) = fixed_schema() else {
            unreachable!()
        };
        let b = batch(&[
            r#"{"id":1,"name":"a","ts":"2024-05-01T00:00:00Z"}"#,
            r#"{"id":2,"name":12345}"#,
            r#"{"id":3,"name":"c","unknown":[1]}"#,
            r#"{"id":"four"}"#,
        ]);
        let rejected: Vec<(usize, &str)> = schema_rejections(&schema, &b)
            .iter()
            .map(|r| (r.index, r.code))
            .collect();
        assert_eq!(
            rejected,
            [(1, "Format.SchemaMismatch"), (3, "Format.SchemaMismatch")]
        );
    }

    #[test]
    fn inferred_schema_grows_by_new_columns_and_never_retypes() {
        let encoder = ParquetEncoder::new(
            ParquetEncoder::inferring(10, None),
            ParquetCompression::Snappy,
            1 << 20,
        )
        .unwrap();
        assert!(encoder.schema().is_none());
        let mut out = Vec::new();
        encoder
            .encode(&batch(&[r#"{"a":1,"b":"x"}"#]), &mut out)
            .unwrap();
        assert_eq!(encoder.schema().unwrap().columns().len(), 2);
        // A later batch with a new field adds a column; a conflicting type keeps the
        // column's type, and the record that conflicts is rejected.
        let mut out = Vec::new();
        let outcome = encoder
            .encode(
                &batch(&[r#"{"a":2,"c":true}"#, r#"{"a":"three","c":false}"#]),
                &mut out,
            )
            .unwrap();
        assert_eq!(outcome.rows, 1);
        let rejected: Vec<usize> = outcome.rejected.iter().map(|r| r.index).collect();
        assert_eq!(rejected, vec![1]);
        let columns: Vec<String> = encoder
            .schema()
            .unwrap()
            .columns()
            .into_iter()
            .map(|c| format!("{}:{}", c.name, c.hive_type))
            .collect();
        assert_eq!(columns, ["a:bigint", "b:string", "c:boolean"]);
        assert_eq!(read_back(out)[0].num_columns(), 3);
        assert_eq!(encoder.extension(), ".parquet");
    }

    #[test]
    fn mostly_distinct_columns_are_written_without_a_dictionary() {
        let col = |name: &str, t: &str| ColumnSpec {
            name: name.into(),
            hive_type: t.into(),
        };
        let columns = [
            col("id", "string"),
            col("kind", "string"),
            col("items", "array<struct<sku:string,qty:int>>"),
        ];
        let schema = SchemaSource::Fixed(Arc::new(TableSchema::from_columns(&columns).unwrap()));
        let encoder = ParquetEncoder::new(schema, ParquetCompression::Snappy, 1 << 20).unwrap();
        let lines: Vec<String> = (0..2000)
            .map(|i| {
                format!(
                    r#"{{"id":"id-{i}","kind":"{}","items":[{{"sku":"SKU-{i}","qty":{}}}]}}"#,
                    ["view", "click"][i % 2],
                    i % 3
                )
            })
            .collect();
        let b = batch(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let mut out = Vec::new();
        encoder.encode(&b, &mut out).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out)).unwrap();
        let row_group = &reader.metadata().row_groups()[0];
        let with_dictionary: Vec<(String, bool)> = row_group
            .columns()
            .iter()
            .map(|c| {
                let path = c.column_path().string();
                (path, c.dictionary_page_offset().is_some())
            })
            .collect();
        assert_eq!(
            with_dictionary,
            [
                ("id".to_string(), false),
                ("kind".to_string(), true),
                // Strings in lists follow the same rule; their numbers keep the default.
                ("items.list.element.sku".to_string(), false),
                ("items.list.element.qty".to_string(), true),
            ]
        );
    }
}
