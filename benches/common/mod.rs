//! What the benchmarks share: the generated inputs (made on first use by the project's
//! generator, `spillway-gen`, and cached under the target directory, never committed),
//! the table schemas of the clickstream and orders examples, and splitting NDJSON into a
//! [`Batch`] the way the pipeline does.

#![allow(dead_code)] // each bench uses its own part

pub mod process;

use std::path::PathBuf;
use std::sync::Arc;

use spillway_formats::record::{Batch, PartitionKey, RecordMeta};
use spillway_formats::schema::{ColumnSpec, TableSchema};

/// The generator's output for (`kind`, `count`, `seed`), cut at the last whole line within
/// `cut_bytes` when given; generated once and cached as a file, whose path is returned.
pub fn bench_input(kind: &str, count: usize, seed: u64, cut_bytes: Option<usize>) -> PathBuf {
    let name = match cut_bytes {
        Some(cut) => format!("gen-{kind}-{}mib.ndjson", cut >> 20),
        None => format!("gen-{kind}-{count}-seed{seed}.ndjson"),
    };
    let cache =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
            .join("bench-data")
            .join(name);
    if cache.exists() {
        return cache;
    }
    eprintln!("generating {} …", cache.display());
    let mut data = spillway_gen::events(&spillway_gen::Options {
        kind: kind.parse().expect("a known kind"),
        count,
        seed,
        start: spillway_gen::StartTime::default(),
    });
    if let Some(cut) = cut_bytes {
        let end = data[..cut.min(data.len())]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        data.truncate(end);
    }
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::write(&cache, &data).unwrap();
    cache
}

fn col(name: &str, hive_type: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        hive_type: hive_type.into(),
    }
}

/// The clickstream table schema, as in config.example.toml (`ts` a timestamp).
pub fn clickstream_schema() -> TableSchema {
    TableSchema::from_columns(&[
        col("event_id", "string"),
        col("user_id", "string"),
        col("session_id", "string"),
        col("event_type", "string"),
        col("url", "string"),
        col("referrer", "string"),
        col("user_agent", "string"),
        col("ts", "timestamp"),
        col("geo", "struct<country:string,city:string>"),
        col("props", "struct<device:string,screen:string,lang:string,ab_bucket:string,element_id:string,sku:string,query:string,depth_pct:int,cart_value:double>"),
    ])
    .unwrap()
}

/// The orders table schema: money as `decimal(12,2)`, line items as an array of structs.
pub fn orders_schema() -> TableSchema {
    TableSchema::from_columns(&[
        col("order_id", "string"),
        col("customer_id", "string"),
        col("items", "array<struct<sku:string,qty:int,price:double>>"),
        col("total", "decimal(12,2)"),
        col("currency", "string"),
        col("status", "string"),
        col("payment_method", "string"),
        col(
            "shipping",
            "struct<country:string,city:string,method:string>",
        ),
        col("ts", "timestamp"),
    ])
    .unwrap()
}

/// An empty batch, as the batcher opens one.
pub fn new_batch() -> Batch {
    Batch::new(PartitionKey(Arc::from("bench/")))
}

/// The metadata the file source gives the record ending at byte `position` of `shard`.
pub fn meta_at(shard: &Arc<str>, position: u64) -> RecordMeta {
    RecordMeta {
        shard: shard.clone(),
        position,
        sequence_number: None,
        sub_sequence: None,
        arrival_ms: 0,
        prior_attempts: 0,
    }
}

/// One batch holding every non-empty line of `data`, as the file source would cut it.
pub fn batch_of(data: &[u8]) -> Batch {
    let mut batch = new_batch();
    let shard: Arc<str> = Arc::from("bench");
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len()));
    for end in ends {
        let line = &data[start..end];
        start = end + 1;
        if !line.is_empty() {
            batch.push(line, meta_at(&shard, end as u64 + 1));
        }
    }
    batch
}
