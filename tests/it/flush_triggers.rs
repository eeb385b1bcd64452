//! The pipeline's flush triggers with paused time: a buffer flushes when it reaches the size
//! hint (without waiting), and when its interval elapses (not before). Runs the real pipeline
//! into a real local lake; only the clock is virtual.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use spillway::checkpoint::Progress;
use spillway::metrics::Metrics;
use spillway::pipeline::{
    Concurrency, Deliverer, FlushPolicy, MemoryBudget, Partitioner, Pipeline, StopReason,
};
use spillway::source::SourceMessage;
use spillway_formats::decode::RecordDecoder;
use spillway_formats::encode::NdjsonEncoder;
use spillway_formats::prefix::{NameRule, PrefixTemplate};
use spillway_formats::record::{ErrorOutputType, Record, RecordMeta};
use spillway_sinks::dead_letter::{DeadLetter, ObjectDeadLetter};
use spillway_sinks::object::ObjectSink;
use spillway_sinks::retry::{RetryPolicy, RetryingSink};
use spillway_sinks::store::{LocalStore, ObjectStore};
use tokio::sync::mpsc;
use tokio::time::Instant;

struct Harness {
    tx: mpsc::Sender<SourceMessage>,
    metrics: Arc<Metrics>,
    progress: Progress,
    run: tokio::task::JoinHandle<StopReason>,
    _dir: tempfile::TempDir,
}

fn start(policy: FlushPolicy) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let prefix = PrefixTemplate::parse("p/").unwrap();
    let encoder = Arc::new(NdjsonEncoder {
        codec: spillway_formats::compression::Codec::None,
        level: None,
    });
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalStore::new(dir.path().to_path_buf(), "LocalLake"));
    let sink = Arc::new(ObjectSink::new(store.clone(), naming("t"), encoder, None));
    let sink = Arc::new(RetryingSink::new(
        sink,
        RetryPolicy::default(),
        ErrorOutputType::S3Failed,
    ));
    let dead_letter: Arc<dyn DeadLetter> = Arc::new(ObjectDeadLetter::new(
        store,
        PrefixTemplate::parse("errors/!{firehose:error-output-type}/").unwrap(),
        "t".into(),
    ));
    let metrics = Arc::new(Metrics::default());
    let progress = Progress::start();
    let budget = policy.memory_budget;
    let deliverer = Deliverer::new(
        sink,
        dead_letter,
        None,
        progress.clone(),
        metrics.clone(),
        Concurrency {
            slots: 2,
            full_batch_bytes: policy.max_bytes,
        },
        MemoryBudget::new(budget),
    );
    let decoder = RecordDecoder::new(1 << 20, None, vec![]);
    let pipeline = Pipeline::new(
        Partitioner::new(prefix, decoder, NameRule::ObjectKey),
        policy,
        deliverer,
        progress.clone(),
        metrics.clone(),
        None,
    );
    let (tx, rx) = mpsc::channel(4);
    let run = tokio::spawn(pipeline.run(rx, std::future::pending()));
    Harness {
        tx,
        metrics,
        progress,
        run,
        _dir: dir,
    }
}

fn records(n: usize, size: usize, first_position: u64) -> Vec<Record> {
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(size - 10));
    (0..n)
        .map(|i| Record {
            data: Bytes::from(body.clone()),
            meta: RecordMeta {
                shard: Arc::from("s"),
                position: first_position + i as u64,
                sequence_number: None,
                sub_sequence: None,
                arrival_ms: 0,
                prior_attempts: 0,
            },
        })
        .collect()
}

/// Waits (in virtual time, in small steps) until `objects` objects are written.
async fn wait_for_objects(metrics: &Metrics, objects: u64) {
    for _ in 0..10_000 {
        if Metrics::get(&metrics.objects_written) >= objects {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "expected {objects} objects, have {}",
        Metrics::get(&metrics.objects_written)
    );
}

#[tokio::test(start_paused = true)]
async fn the_size_hint_flushes_without_waiting_for_the_interval() {
    let h = start(FlushPolicy {
        max_bytes: 1 << 20,
        max_age: Duration::from_secs(900),
        memory_budget: 64 << 20,
        max_open_partitions: 10,
    });
    let started = Instant::now();
    // 1,100 records of 1,000 bytes: one full 1 MiB buffer, the rest stays buffered.
    h.tx.send(SourceMessage::Records(records(1100, 1000, 1)))
        .await
        .unwrap();
    wait_for_objects(&h.metrics, 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "flushed by size, not by age"
    );
    assert_eq!(Metrics::get(&h.metrics.delivered_records), 1049); // ceil(1 MiB / 1000 B)
    assert_eq!(
        h.progress
            .snapshot()
            .await
            .checkpoints
            .get("s")
            .map(|c| c.position),
        Some(1049)
    );
    drop(h.tx);
    assert_eq!(h.run.await.unwrap(), StopReason::SourceEnded);
    assert_eq!(
        Metrics::get(&h.metrics.delivered_records),
        1100,
        "the rest flushes at the end"
    );
}

#[tokio::test(start_paused = true)]
async fn the_interval_flushes_a_small_buffer_when_it_elapses_and_not_before() {
    let h = start(FlushPolicy {
        max_bytes: 64 << 20,
        max_age: Duration::from_secs(60),
        memory_budget: 128 << 20,
        max_open_partitions: 10,
    });
    h.tx.send(SourceMessage::Records(records(10, 100, 1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(
        Metrics::get(&h.metrics.objects_written),
        0,
        "nothing flushes before the interval"
    );
    assert_eq!(Metrics::get(&h.metrics.buffered_bytes), 1000);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    wait_for_objects(&h.metrics, 1).await;
    assert_eq!(Metrics::get(&h.metrics.delivered_records), 10);
    assert_eq!(
        h.progress
            .snapshot()
            .await
            .checkpoints
            .get("s")
            .map(|c| c.position),
        Some(10)
    );
    drop(h.tx);
    h.run.await.unwrap();
}

/// Firehose's object names for stream `stream`, in UTC, with the format's extension.
fn naming(stream: &str) -> spillway_sinks::naming::ObjectNaming {
    spillway_sinks::naming::ObjectNaming {
        stream: stream.into(),
        ..Default::default()
    }
}
