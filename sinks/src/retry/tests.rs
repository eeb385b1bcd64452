use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::sink::SinkError;
use spillway_formats::record::{PartitionKey, RecordMeta};

fn policy(budget_secs: u64) -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        retry_duration: Duration::from_secs(budget_secs),
        max_attempts: u32::MAX,
    }
}

#[test]
fn backoff_grows_exponentially_under_a_cap_and_stops_at_the_budget() {
    let p = policy(10);
    let zero = Duration::ZERO;
    assert_eq!(p.next_delay(1, zero, 1.0), Some(Duration::from_millis(100)));
    assert_eq!(p.next_delay(3, zero, 1.0), Some(Duration::from_millis(400)));
    assert_eq!(p.next_delay(3, zero, 0.5), Some(Duration::from_millis(200)));
    assert_eq!(p.next_delay(20, zero, 1.0), Some(Duration::from_secs(2)));
    // Never sleeps past the budget, and stops once it is spent.
    assert_eq!(
        p.next_delay(20, Duration::from_millis(9_500), 1.0),
        Some(Duration::from_millis(500))
    );
    assert_eq!(p.next_delay(1, Duration::from_secs(10), 0.3), None);
    assert_eq!(policy(0).next_delay(1, zero, 0.3), None);
    let capped = RetryPolicy {
        max_attempts: 2,
        ..policy(10)
    };
    assert!(capped.next_delay(1, zero, 0.1).is_some());
    assert_eq!(capped.next_delay(2, zero, 0.1), None);
}

/// One scripted answer: per-record failures, or a whole-request error.
type Answer = Result<Vec<(usize, ErrorClass)>, SinkError>;

/// A sink that answers from a script, one entry per call, and records what it was sent.
struct ScriptedSink {
    script: Mutex<Vec<Answer>>,
    seen: Mutex<Vec<Vec<u64>>>,
}

#[async_trait]
impl Sink for ScriptedSink {
    fn name(&self) -> &'static str {
        "Scripted"
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::S3Failed
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        let positions = batch.records.iter().map(|r| r.meta.position).collect();
        self.seen.lock().unwrap().push(positions);
        let failures = self.script.lock().unwrap().remove(0)?;
        Ok(Delivery {
            delivered: batch.len() - failures.len(),
            failed: failures
                .into_iter()
                .map(|(index, class)| FailedItem {
                    index,
                    class,
                    error_type: ErrorOutputType::OpenSearchFailed,
                    code: format!("{class:?}"),
                    message: "scripted".into(),
                    attempts: 0,
                    destination_fields: Vec::new(),
                })
                .collect(),
            ..Delivery::default()
        })
    }
}

fn batch(n: u64) -> Arc<Batch> {
    let mut b = Batch::new(PartitionKey(Arc::from("k")));
    for position in 0..n {
        let meta = RecordMeta {
            shard: Arc::from("s"),
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms: 0,
            prior_attempts: 0,
        };
        b.push(b"{}", meta);
    }
    Arc::new(b)
}

fn retrying(script: Vec<Answer>, budget: u64) -> (RetryingSink, Arc<ScriptedSink>) {
    let inner = Arc::new(ScriptedSink {
        script: Mutex::new(script),
        seen: Mutex::new(Vec::new()),
    });
    let sink = RetryingSink::new(inner.clone(), policy(budget), ErrorOutputType::S3Failed);
    (sink, inner)
}

#[tokio::test(start_paused = true)]
async fn retries_only_the_records_that_failed_retryably() {
    use ErrorClass::*;
    let (sink, inner) = retrying(
        vec![
            Ok(vec![(1, Retryable), (2, Permanent), (3, Retryable)]),
            Ok(vec![(1, Retryable)]),
            Ok(vec![]),
        ],
        60,
    );
    let delivery = sink.deliver(batch(5)).await;
    assert_eq!(
        *inner.seen.lock().unwrap(),
        vec![vec![0, 1, 2, 3, 4], vec![1, 3], vec![3]]
    );
    assert_eq!(delivery.delivered, 4);
    assert_eq!(delivery.failed.len(), 1);
    assert_eq!(delivery.failed[0].index, 2);
    assert_eq!(delivery.failed[0].attempts, 1);
    assert_eq!(sink.stats.retries.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn whole_request_errors_retry_then_dead_letter_everything_with_the_sink_error_type() {
    let storm = (0..1000)
        .map(|_| Err(SinkError::retryable("S3.SlowDown", "503")))
        .collect();
    let (sink, _) = retrying(storm, 5);
    let started = Instant::now();
    let delivery = sink.deliver(batch(3)).await;
    assert!(started.elapsed() <= Duration::from_secs(5));
    assert_eq!(delivery.delivered, 0);
    let indices: Vec<usize> = delivery.failed.iter().map(|f| f.index).collect();
    assert_eq!(indices, vec![0, 1, 2]);
    assert!(delivery
        .failed
        .iter()
        .all(|f| f.error_type == ErrorOutputType::S3Failed
            && f.code == "S3.SlowDown"
            && f.attempts > 1));
    assert_eq!(sink.stats.give_ups.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn permanent_request_errors_are_not_retried() {
    let (sink, inner) = retrying(
        vec![Err(SinkError::permanent("S3.NoSuchBucket", "gone"))],
        60,
    );
    let delivery = sink.deliver(batch(2)).await;
    assert_eq!(inner.seen.lock().unwrap().len(), 1);
    assert_eq!(delivery.failed.len(), 2);
    assert_eq!(delivery.failed[0].attempts, 1);
}

/// A destination that is down (every request fails retryably) until `back_at`.
struct DownUntil {
    back_at: Instant,
    calls_while_down: AtomicU64,
}

#[async_trait]
impl Sink for DownUntil {
    fn name(&self) -> &'static str {
        "DownUntil"
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::S3Failed
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        if Instant::now() < self.back_at {
            self.calls_while_down.fetch_add(1, Ordering::Relaxed);
            return Err(SinkError::retryable("S3.SlowDown", "503"));
        }
        Ok(Delivery {
            delivered: batch.len(),
            ..Delivery::default()
        })
    }
}

#[tokio::test(start_paused = true)]
async fn an_outage_opens_the_circuit_so_concurrent_batches_wait_instead_of_hammering() {
    let inner = Arc::new(DownUntil {
        back_at: Instant::now() + Duration::from_secs(20),
        calls_while_down: AtomicU64::new(0),
    });
    let sink = Arc::new(RetryingSink::new(
        inner.clone(),
        policy(120),
        ErrorOutputType::S3Failed,
    ));
    let deliveries: Vec<_> = (0..8)
        .map(|_| {
            let sink = sink.clone();
            tokio::spawn(async move { sink.deliver(batch(10)).await })
        })
        .collect();
    for delivery in deliveries {
        let delivery = delivery.await.unwrap();
        assert_eq!((delivery.delivered, delivery.failed.len()), (10, 0));
    }
    // Without the circuit, 8 loops backing off to a 2 s cap made 189 calls in these 20 s
    // (checked by taking the wait out). With it: the first failures, then one probe per
    // cooldown (1, 2, 4, 8 s).
    let calls = inner.calls_while_down.load(Ordering::Relaxed);
    assert!(
        calls <= 20,
        "{calls} requests while the destination was down"
    );
    assert_eq!(sink.stats.circuit.opens.load(Ordering::Relaxed), 1);
}

/// A sink that loses track of one record on its first answer (as a panicked write task
/// did), then answers for everything.
struct LosesOneRecord {
    calls: AtomicU64,
}

#[async_trait]
impl Sink for LosesOneRecord {
    fn name(&self) -> &'static str {
        "LosesOne"
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::DynamodbFailed
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        let first = self.calls.fetch_add(1, Ordering::Relaxed) == 0;
        Ok(Delivery {
            delivered: batch.len() - usize::from(first),
            ..Delivery::default()
        })
    }
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_loses_a_record_is_retried_not_acknowledged() {
    let inner = Arc::new(LosesOneRecord {
        calls: AtomicU64::new(0),
    });
    let sink = RetryingSink::new(inner.clone(), policy(60), ErrorOutputType::DynamodbFailed);
    let delivery = sink.deliver(batch(4)).await;
    assert_eq!((delivery.delivered, delivery.failed.len()), (4, 0));
    assert_eq!(inner.calls.load(Ordering::Relaxed), 2, "sent again whole");

    // With no retry budget, every record of the unaccounted answer is dead-lettered.
    let inner = Arc::new(LosesOneRecord {
        calls: AtomicU64::new(0),
    });
    let sink = RetryingSink::new(inner, policy(0), ErrorOutputType::DynamodbFailed);
    let delivery = sink.deliver(batch(4)).await;
    assert_eq!(delivery.delivered, 0);
    assert_eq!(delivery.failed.len(), 4);
    assert!(delivery.failed.iter().all(|f| f.code == UNACCOUNTED));
}

#[tokio::test(start_paused = true)]
async fn a_failure_named_twice_or_out_of_range_breaks_the_contract() {
    use ErrorClass::*;
    let (sink, inner) = retrying(
        vec![
            Ok(vec![(1, Permanent), (1, Permanent)]),
            Ok(vec![(9, Permanent)]),
            Ok(vec![]),
        ],
        60,
    );
    let delivery = sink.deliver(batch(3)).await;
    assert_eq!(inner.seen.lock().unwrap().len(), 3);
    assert_eq!((delivery.delivered, delivery.failed.len()), (3, 0));
}

/// Admits positions from a floor on, which a test raises (as a lease lost and taken again
/// would: the records of the reading before are refused).
#[derive(Debug, Default)]
struct RaisableFence {
    from: std::sync::atomic::AtomicU64,
}

impl spillway_formats::record::Fence for RaisableFence {
    fn admits(&self, _shard: &spillway_formats::record::ShardId, position: u64) -> bool {
        position >= self.from.load(Ordering::Relaxed)
    }
}

#[tokio::test(start_paused = true)]
async fn records_the_fence_stops_admitting_are_set_aside_before_the_next_attempt() {
    let fence = Arc::new(RaisableFence::default());
    let mut fenced_batch = (*batch(4)).clone();
    fenced_batch.fence = Some(fence.clone());
    // The first attempt fails as a whole; before the retry, positions 0 and 1 are fenced.
    let inner = Arc::new(ScriptedSink {
        script: Mutex::new(vec![
            Err(SinkError::retryable("S3.Timeout", "hung")),
            Ok(vec![]),
        ]),
        seen: Mutex::new(Vec::new()),
    });
    let sink = RetryingSink::new(inner.clone(), policy(60), ErrorOutputType::S3Failed);
    let raise = {
        let fence = fence.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            fence.from.store(2, Ordering::Relaxed);
        }
    };
    let (delivery, ()) = tokio::join!(sink.deliver(Arc::new(fenced_batch.clone())), raise);
    assert_eq!(
        *inner.seen.lock().unwrap(),
        vec![vec![0, 1, 2, 3], vec![2, 3]]
    );
    assert_eq!(delivery.delivered, 2);
    assert_eq!(delivery.fenced, vec![0, 1]);
    assert!(delivery.failed.is_empty());

    // A batch fenced whole before its first attempt is never sent.
    fence.from.store(u64::MAX, Ordering::Relaxed);
    let (sink, inner) = retrying(vec![], 60);
    let delivery = sink.deliver(Arc::new(fenced_batch)).await;
    assert!(inner.seen.lock().unwrap().is_empty());
    assert_eq!(delivery.fenced, vec![0, 1, 2, 3]);
    assert_eq!(delivery.delivered, 0);
}

/// A sink whose first write finds the lease lost mid-write (it raises the fence and abandons
/// the write as fenced); later writes succeed. Records what each write was sent.
#[derive(Debug)]
struct LosesItsLease {
    fence: Arc<RaisableFence>,
    seen: Mutex<Vec<Vec<u64>>>,
}

#[async_trait]
impl Sink for LosesItsLease {
    fn name(&self) -> &'static str {
        "LosesItsLease"
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::S3Failed
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        let mut seen = self.seen.lock().unwrap();
        seen.push(batch.records.iter().map(|r| r.meta.position).collect());
        if seen.len() == 1 {
            self.fence.from.store(2, Ordering::Relaxed);
            return Err(SinkError::retryable("Lease.Lost", "fenced").of_kind(ErrorKind::Fenced));
        }
        Ok(Delivery {
            delivered: batch.len(),
            ..Delivery::default()
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_write_abandoned_as_fenced_goes_again_at_once_without_the_fenced_records() {
    let fence = Arc::new(RaisableFence::default());
    let mut fenced_batch = (*batch(3)).clone();
    fenced_batch.fence = Some(fence.clone());
    let inner = Arc::new(LosesItsLease {
        fence,
        seen: Mutex::new(Vec::new()),
    });
    let sink = RetryingSink::new(inner.clone(), policy(60), ErrorOutputType::S3Failed);
    let started = Instant::now();
    let delivery = sink.deliver(Arc::new(fenced_batch)).await;
    assert_eq!(*inner.seen.lock().unwrap(), vec![vec![0, 1, 2], vec![2]]);
    assert_eq!(delivery.delivered, 1);
    assert_eq!(delivery.fenced, vec![0, 1]);
    assert!(delivery.failed.is_empty());
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no backoff after a fenced write"
    );
    assert_eq!(sink.stats.retries.load(Ordering::Relaxed), 0);
}
