//! Memory of the encode + upload path for a large object: a 24 MiB object streams to S3
//! (moto) as 5 parts of 5 MiB while it is being encoded, and the bytes allocated at the peak,
//! above what the batch itself holds, stay under 2 × part size (the part being filled and the
//! part in flight; NDJSON has no row group) plus the SDK's fixed per-request buffers, allowed
//! 512 KiB (measured: about 160 KiB) — measured with a counting allocator, not guessed.

#[path = "it/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use spillway_formats::compression::Codec;
use spillway_formats::encode::NdjsonEncoder;
use spillway_formats::record::{Batch, PartitionKey, RecordMeta};
use spillway_sinks::aws::{s3_client, sdk_config, AwsConnection};
use spillway_sinks::object::ObjectSink;
use spillway_sinks::store::{S3Options, S3Store};
use spillway_sinks::Sink;
use support::aws::*;

struct CountingAllocator;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const PART: usize = 5 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_24_mib_object_uploads_in_5_parts_within_two_parts_of_memory() {
    let moto = moto_url();
    let s3_for_test = s3(&moto).await;
    let bucket = unique_name("spillway-memory");
    create_bucket(&s3_for_test, &bucket).await;

    // SAFETY: set before any thread of this test reads the environment.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let connection = AwsConnection {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.clone()),
        force_path_style: Some(true),
        request_timeout: None,
    };
    let config = sdk_config(&connection).await;
    let options = S3Options {
        bucket: bucket.clone(),
        part_size: PART,
        upload_concurrency: 1,
        encryption: None,
        storage_class: None,
        tags: Vec::new(),
    };
    let store = Arc::new(S3Store::new(s3_client(&config, &connection), options));
    let encoder = Arc::new(NdjsonEncoder {
        codec: Codec::None,
        level: None,
    });
    let sink = ObjectSink::new(store, naming("mem"), encoder, None);

    let mut batch = Batch::new(PartitionKey(Arc::from("mem/")));
    let record = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
    let shard: Arc<str> = Arc::from("s");
    let mut position = 0;
    while batch.data.len() < 24 << 20 {
        position += 1;
        let meta = RecordMeta {
            shard: shard.clone(),
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms: 0,
            prior_attempts: 0,
        };
        batch.push(record.as_bytes(), meta);
    }
    let batch = Arc::new(batch);
    let object_bytes = batch.data.len();

    // Warm up the client (connection pool, credentials) so the measurement is the upload path.
    sink.deliver(Arc::new(Batch::new(PartitionKey(Arc::from("warm/")))))
        .await
        .unwrap();
    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let delivery = sink.deliver(batch.clone()).await.unwrap();
    let peak_above_baseline = PEAK.load(Ordering::Relaxed) - baseline;

    assert_eq!(delivery.delivered, batch.len());
    let key = &delivery.objects[0];
    let head = s3_for_test
        .head_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(object_bytes as i64));
    assert!(
        head.e_tag().unwrap().ends_with("-5\""),
        "5 parts: {:?}",
        head.e_tag()
    );
    println!(
        "multipart: object {:.1} MiB in 5 parts of 5 MiB; peak allocation above baseline {:.2} MiB (2 × part size = {:.1} MiB)",
        object_bytes as f64 / 1048576.0,
        peak_above_baseline as f64 / 1048576.0,
        (2 * PART) as f64 / 1048576.0
    );
    let sdk_request_buffers = 512 << 10;
    assert!(
        peak_above_baseline < 2 * PART + sdk_request_buffers,
        "peak {peak_above_baseline} bytes ≥ 2 × part size + 512 KiB"
    );
}

/// Firehose's object names for stream `stream`, in UTC, with the format's extension.
fn naming(stream: &str) -> spillway_sinks::naming::ObjectNaming {
    spillway_sinks::naming::ObjectNaming {
        stream: stream.into(),
        ..Default::default()
    }
}
