//! The one retry policy every sink uses: exponential backoff with full jitter inside a time
//! budget (`retry_duration`) and an attempt cap. [`RetryPolicy::next_delay`] is pure (elapsed
//! time and jitter passed in); [`RetryingSink`] applies it, retrying only the records that
//! failed retryably and returning the rest as failures for the dead letter, behind the
//! destination's [`Circuit`] so that a destination that is down is not hammered.
//!
//! Before every attempt the batch's fence is asked (see [`Batch::fenced_out`]): records whose
//! lease this worker lost are set aside as `fenced` — not written, retried, dead-lettered or
//! acknowledged — so a worker that lost a lease while its delivery hung starts no new write
//! under it. A sink that finds its batch fenced mid-write abandons the write unpublished.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway_formats::record::{Batch, ErrorOutputType};
use tokio::time::Instant;

use crate::circuit::Circuit;
use crate::sink::{Delivery, ErrorClass, ErrorKind, FailedItem, Sink, SinkError};

/// How long and how often to retry.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Upper bound of the first backoff.
    pub initial_backoff: Duration,
    /// Upper bound of any one backoff.
    pub max_backoff: Duration,
    /// Total time to keep retrying a batch (Firehose's `retry_duration`); zero: no retries.
    pub retry_duration: Duration,
    /// Attempts at most, counting the first.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(20),
            retry_duration: Duration::from_secs(300),
            max_attempts: u32::MAX,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `attempts_made` attempts over `elapsed`, with
    /// `jitter` in `[0, 1)`; `None` when the budget (time or attempts) is spent.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        elapsed: Duration,
        jitter: f64,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts || elapsed >= self.retry_duration {
            return None;
        }
        let exponent = attempts_made.saturating_sub(1).min(30);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let delay = ceiling.mul_f64(jitter.clamp(0.0, 1.0));
        Some(delay.min(self.retry_duration - elapsed))
    }
}

/// Counters of what retrying did, for metrics.
#[derive(Debug, Default)]
pub struct RetryStats {
    pub attempts: AtomicU64,
    pub retries: AtomicU64,
    pub give_ups: AtomicU64,
    /// The destination's circuit; its `opens` is a metric too.
    pub circuit: Circuit,
}

/// A sink wrapped in the retry policy. Whole-request retryable errors retry the batch;
/// retryable per-record failures retry only those records. What is left when the budget is
/// spent, and every permanent failure, comes back in `Delivery::failed`.
///
/// This is also where the [`Sink`] contract is checked, once for every destination: an
/// answer must account for every record it was given (delivered + failed = sent, each
/// failure a distinct record of the batch). An answer that does not is a bug in the sink —
/// a record would be acknowledged without being delivered or dead-lettered — so it is
/// treated as a retryable failure of the whole request and logged as an error.
pub struct RetryingSink {
    inner: Arc<dyn Sink>,
    policy: RetryPolicy,
    /// Error-output type for records of a request that failed as a whole.
    error_type: ErrorOutputType,
    pub stats: Arc<RetryStats>,
}

impl RetryingSink {
    pub fn new(inner: Arc<dyn Sink>, policy: RetryPolicy, error_type: ErrorOutputType) -> Self {
        RetryingSink {
            inner,
            policy,
            error_type,
            stats: Arc::default(),
        }
    }

    pub async fn deliver(&self, batch: Arc<Batch>) -> Delivery {
        let started = Instant::now();
        let mut result = Delivery::default();
        let mut pending = batch;
        // Index in the original batch of each record of `pending`.
        let mut original_index: Vec<usize> = (0..pending.len()).collect();
        let mut attempts = 0u32;
        let circuit = &self.stats.circuit;
        loop {
            let budget_left = self.policy.retry_duration.saturating_sub(started.elapsed());
            circuit.wait(budget_left).await;
            let fenced = pending.fenced_out();
            if !fenced.is_empty() {
                tracing::warn!(sink = self.inner.name(), records = fenced.len(), "records of a lease this worker lost are not written; the lease's new owner reads them again");
                result
                    .fenced
                    .extend(fenced.iter().map(|&i| original_index[i]));
                let kept: Vec<usize> = (0..pending.len())
                    .filter(|i| fenced.binary_search(i).is_err())
                    .collect();
                original_index = kept.iter().map(|&i| original_index[i]).collect();
                pending = Arc::new(pending.select(&kept));
                if pending.is_empty() {
                    return result;
                }
            }
            attempts += 1;
            self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let answer = self
                .inner
                .deliver(pending.clone())
                .await
                .and_then(|delivery| check_accounted(delivery, pending.len(), self.inner.name()));
            // Fenced mid-write: nothing was published; go again without the fenced records.
            if let Err(e) = &answer {
                if e.kind == ErrorKind::Fenced && !pending.fenced_out().is_empty() {
                    continue;
                }
            }
            match &answer {
                Err(e) if e.class == ErrorClass::Retryable => circuit.failure(Instant::now()),
                Err(_) | Ok(_) => circuit.success(),
            }
            let retry_now: Vec<FailedItem> = match answer {
                Ok(delivery) => {
                    result.delivered += delivery.delivered;
                    result.objects.extend(delivery.objects);
                    result.bytes += delivery.bytes;
                    let (retryable, permanent): (Vec<_>, Vec<_>) = delivery
                        .failed
                        .into_iter()
                        .partition(|f| f.class == ErrorClass::Retryable);
                    for item in permanent {
                        result.failed.push(remap(item, &original_index, attempts));
                    }
                    retryable
                }
                Err(e) => {
                    let class = e.class;
                    let items = (0..pending.len()).map(|index| FailedItem {
                        index,
                        class,
                        error_type: self.error_type,
                        code: e.code.clone(),
                        message: e.message.clone(),
                        attempts,
                        destination_fields: Vec::new(),
                    });
                    if class == ErrorClass::Permanent {
                        tracing::warn!(sink = self.inner.name(), error = %e, records = pending.len(), "permanent delivery error; sending records to the dead letter");
                        result
                            .failed
                            .extend(items.map(|item| remap(item, &original_index, attempts)));
                        return result;
                    }
                    tracing::warn!(sink = self.inner.name(), error = %e, attempt = attempts, "delivery failed; will retry");
                    items.collect()
                }
            };
            if retry_now.is_empty() {
                return result;
            }
            match self
                .policy
                .next_delay(attempts, started.elapsed(), fastrand::f64())
            {
                Some(delay) => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    let indices: Vec<usize> = retry_now.iter().map(|f| f.index).collect();
                    original_index = indices.iter().map(|&i| original_index[i]).collect();
                    pending = Arc::new(pending.select(&indices));
                }
                None => {
                    self.stats.give_ups.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        sink = self.inner.name(),
                        records = retry_now.len(),
                        attempts,
                        "retry budget spent; sending records to the dead letter"
                    );
                    result.failed.extend(
                        retry_now
                            .into_iter()
                            .map(|item| remap(item, &original_index, attempts)),
                    );
                    return result;
                }
            }
        }
    }
}

/// Runs `attempt` until it succeeds, with capped exponential backoff, logging each failure.
/// For writes that are never given up — dead letters and backups — because acknowledgement
/// waits for them: data is never dropped to make progress.
pub async fn until_durable<T, F, Fut>(what: &str, records: usize, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::sink::SinkError>>,
{
    let mut delay = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::error!(error = %e, records, retry_in = ?delay, "{what} failed; retrying (records stay unacknowledged)");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The code of the error that stands in for an answer that lost records.
pub const UNACCOUNTED: &str = "Sink.Unaccounted";

/// Checks that `delivery` accounts for each of `sent` records exactly once.
fn check_accounted(delivery: Delivery, sent: usize, sink: &str) -> Result<Delivery, SinkError> {
    let mut seen = vec![false; sent];
    let distinct = delivery
        .failed
        .iter()
        .all(|f| f.index < sent && !std::mem::replace(&mut seen[f.index], true));
    if distinct && delivery.delivered + delivery.failed.len() == sent {
        return Ok(delivery);
    }
    let message = format!(
        "{sink} answered for {} delivered and {} failed records of {sent} sent; the batch is sent again so that no record is acknowledged without being delivered",
        delivery.delivered,
        delivery.failed.len()
    );
    tracing::error!(sink, "{message}");
    Err(SinkError::retryable(UNACCOUNTED, message))
}

fn remap(mut item: FailedItem, original_index: &[usize], attempts: u32) -> FailedItem {
    item.index = original_index[item.index];
    item.attempts = attempts;
    item
}

#[cfg(test)]
mod tests;
