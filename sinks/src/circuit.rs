//! The circuit breaker in front of a destination. Every batch in flight retries on its own
//! schedule, so a destination that is down gets `concurrency` retry loops hammering it. The
//! circuit counts whole-request failures in a row across all batches; at the threshold it
//! opens, and deliveries wait for it instead of sending. When the cooldown has passed, one
//! request goes through as a probe: success closes the circuit and wakes every waiter, failure
//! doubles the cooldown (up to a cap). Waiting deliveries hold their batches, the delivery
//! stage fills, and intake stops: back-pressure pauses the sources while the destination is
//! down. Waiting counts against each batch's `retry_duration` like any other retry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Whole-request failures in a row that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 5;
/// First cooldown; doubled by each failed probe up to [`MAX_COOLDOWN`].
pub const FIRST_COOLDOWN: Duration = Duration::from_secs(1);
pub const MAX_COOLDOWN: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Circuit {
    state: Mutex<State>,
    closed: Notify,
    /// Times the circuit opened, for metrics.
    pub opens: AtomicU64,
}

#[derive(Debug)]
struct State {
    failures_in_a_row: u32,
    /// Set while open: no request before this (the next one after it is the probe).
    open_until: Option<Instant>,
    /// A probe is in flight: everyone else waits for its answer.
    probing: bool,
    cooldown: Duration,
}

impl Default for Circuit {
    fn default() -> Self {
        Circuit {
            state: Mutex::new(State {
                failures_in_a_row: 0,
                open_until: None,
                probing: false,
                cooldown: FIRST_COOLDOWN,
            }),
            closed: Notify::new(),
            opens: AtomicU64::new(0),
        }
    }
}

impl Circuit {
    /// How long a request must wait at `now`; `None`: send it. Once an open circuit's
    /// cooldown has passed, the first caller is the probe and the others wait another
    /// cooldown (or until the probe closes the circuit).
    fn wait_at(&self, now: Instant) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = state.open_until?;
        if state.probing {
            return Some(state.cooldown);
        }
        if now < until {
            return Some(until - now);
        }
        state.probing = true;
        None
    }

    /// Waits until a request may be sent, or at most `budget`.
    pub async fn wait(&self, budget: Duration) {
        let deadline = Instant::now() + budget;
        loop {
            let now = Instant::now();
            let Some(wait) = self.wait_at(now) else {
                return;
            };
            if now >= deadline {
                return;
            }
            let closed = self.closed.notified();
            tokio::select! {
                _ = tokio::time::sleep(wait.min(deadline - now)) => {}
                _ = closed => return,
            }
        }
    }

    /// Whether the circuit is open (the destination keeps failing; deliveries wait).
    pub fn is_open(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.open_until.is_some()
    }

    /// The destination answered: accepted the request (whatever it said about single
    /// records) or refused it for good (a permanent error is an answer too).
    pub fn success(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.failures_in_a_row = 0;
        state.cooldown = FIRST_COOLDOWN;
        state.probing = false;
        if state.open_until.take().is_some() {
            tracing::info!("destination answers again; circuit closed");
            self.closed.notify_waiters();
        }
    }

    /// A whole request failed retryably at `now`. Requests already in flight when the
    /// circuit opened fail without changing it; a failed probe doubles the cooldown.
    pub fn failure(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.failures_in_a_row += 1;
        if state.probing {
            state.probing = false;
            state.cooldown = (state.cooldown * 2).min(MAX_COOLDOWN);
            state.open_until = Some(now + state.cooldown);
        } else if state.open_until.is_none() && state.failures_in_a_row >= FAILURES_TO_OPEN {
            self.opens.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(failures = state.failures_in_a_row, cooldown = ?state.cooldown, "destination keeps failing; circuit open, deliveries wait");
            state.open_until = Some(now + state.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_failures_in_a_row_probes_after_the_cooldown_and_closes_on_success() {
        let circuit = Circuit::default();
        let t0 = Instant::now();
        for _ in 0..FAILURES_TO_OPEN - 1 {
            circuit.failure(t0);
        }
        assert_eq!(
            circuit.wait_at(t0),
            None,
            "still closed below the threshold"
        );
        circuit.failure(t0);
        assert_eq!(circuit.wait_at(t0), Some(FIRST_COOLDOWN));
        // A request that was in flight when it opened fails without changing anything.
        circuit.failure(t0);
        assert_eq!(circuit.wait_at(t0), Some(FIRST_COOLDOWN));
        // After the cooldown one probe goes; the others wait for its answer.
        let later = t0 + FIRST_COOLDOWN;
        assert_eq!(circuit.wait_at(later), None);
        assert_eq!(circuit.wait_at(later), Some(FIRST_COOLDOWN));
        // The probe fails: the cooldown doubles.
        circuit.failure(later);
        assert_eq!(circuit.wait_at(later), Some(FIRST_COOLDOWN * 2));
        circuit.success();
        assert_eq!(circuit.wait_at(later), None);
        assert_eq!(circuit.opens.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_when_the_circuit_closes_and_never_waits_past_its_budget() {
        let circuit = std::sync::Arc::new(Circuit::default());
        for _ in 0..FAILURES_TO_OPEN {
            circuit.failure(Instant::now());
        }
        let start = Instant::now();
        circuit.wait(Duration::from_millis(300)).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(300),
            "the budget bounds the wait"
        );

        let waiter = {
            let circuit = circuit.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                circuit.wait(Duration::from_secs(60)).await;
                start.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        circuit.success();
        let waited = waiter.await.unwrap();
        assert!(
            waited < Duration::from_millis(200),
            "woken by the close: {waited:?}"
        );
    }
}
