//! Criterion benchmarks of the conversion and of its stages, on 64 MiB of clickstream NDJSON
//! (made at bench time by the project's generator, spillway-gen, not committed), `ts` a timestamp:
//! - `encode_parquet/whole`: the pipeline's `ParquetEncoder`, NDJSON → Parquet zstd(3);
//! - `stages/decode_json`: NDJSON → Arrow columns (arrow-json, the table schema);
//! - `stages/write_parquet_plain` and `…_zstd3`: Arrow columns → Parquet, no compression / zstd;
//! - `stages/zstd3_of_ndjson`: zstd level 3 of the raw input, for scale.
//!
//! All report MB/s of the NDJSON input, so the stages' times add up against the whole.
//! Run: `cargo bench --bench encode_parquet`; compare with pyarrow on the same input, same
//! sitting: `cargo bench --bench convert` runs it beside pyarrow and DuckDB (README,
//! "Benchmarks").

mod common;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::ReaderBuilder;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spillway_formats::encode::{Encoder, ParquetCompression, ParquetEncoder, SchemaSource};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use common::{batch_of, bench_input, clickstream_schema};

fn encode_parquet(c: &mut Criterion) {
    spillway::allocator::keep_freed_memory(); // as the `spillway` binary does
    let data = std::fs::read(bench_input("clickstream", 140_000, 1, Some(64 << 20))).unwrap();
    let batch = batch_of(&data);
    let encoder = ParquetEncoder::new(
        SchemaSource::Fixed(Arc::new(clickstream_schema())),
        ParquetCompression::Zstd(3),
        32 << 20,
    )
    .unwrap();
    let mut out = Vec::with_capacity(32 << 20);
    let outcome = encoder.encode(&batch, &mut out).unwrap();
    assert_eq!(outcome.rows, batch.len(), "every record converts");
    eprintln!(
        "input {} bytes, {} records → Parquet/zstd {} bytes",
        data.len(),
        batch.len(),
        out.len()
    );

    let mut group = c.benchmark_group("encode_parquet");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("clickstream_64mib_zstd", |b| {
        b.iter(|| {
            out.clear();
            encoder.encode(&batch, &mut out).unwrap()
        })
    });
    group.finish();
}

fn stages(c: &mut Criterion) {
    spillway::allocator::keep_freed_memory();
    let data = std::fs::read(bench_input("clickstream", 140_000, 1, Some(64 << 20))).unwrap();
    let schema = clickstream_schema().arrow();
    let decode = || -> Vec<RecordBatch> {
        let mut decoder = ReaderBuilder::new(schema.clone())
            .with_batch_size(8192)
            .build_decoder()
            .unwrap();
        let (mut consumed, mut batches) = (0, Vec::new());
        while consumed < data.len() {
            consumed += decoder.decode(&data[consumed..]).unwrap();
            batches.extend(decoder.flush().unwrap());
        }
        batches.extend(decoder.flush().unwrap());
        batches
    };
    let columns = decode();
    let write = |compression: Compression, out: &mut Vec<u8>| {
        out.clear();
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .build();
        let mut writer = ArrowWriter::try_new(out, schema.clone(), Some(properties)).unwrap();
        for rb in &columns {
            writer.write(rb).unwrap();
        }
        writer.close().unwrap();
    };
    let mut out = Vec::with_capacity(64 << 20);

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("decode_json", |b| b.iter(decode));
    group.bench_function("write_parquet_plain", |b| {
        b.iter(|| write(Compression::UNCOMPRESSED, &mut out))
    });
    let zstd3 = Compression::ZSTD(ZstdLevel::try_new(3).unwrap());
    group.bench_function("write_parquet_zstd3", |b| b.iter(|| write(zstd3, &mut out)));
    group.bench_function("zstd3_of_ndjson", |b| {
        b.iter(|| zstd::bulk::compress(&data, 3).unwrap().len())
    });
    group.finish();
}

criterion_group!(benches, encode_parquet, stages);
criterion_main!(benches);
