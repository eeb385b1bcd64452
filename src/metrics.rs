//! Metrics, the Prometheus way, with Firehose's names recognisable: snake_case, `_total` on
//! counters, base units (seconds, bytes), a `# HELP` and a `# TYPE` line each, labels for the
//! stream, the destination (delivery metrics) and the shard (Kinesis). Kept as atomics and
//! served with axum on `/metrics`, beside `/healthz` (the process answers) and `/readyz` (not
//! stopping, and the destination's circuit is closed). Every metric name is a constant here,
//! and [`FIREHOSE_NAMES`] maps each to the Firehose (CloudWatch) metric it stands for.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use spillway_sinks::retry::RetryStats;
use tokio::net::TcpListener;

pub const INCOMING_RECORDS: &str = "spillway_incoming_records_total";
pub const INCOMING_BYTES: &str = "spillway_incoming_bytes_total";
pub const DELIVERED_RECORDS: &str = "spillway_delivered_records_total";
pub const DELIVERED_BYTES: &str = "spillway_delivered_bytes_total";
pub const DELIVERED_OBJECTS: &str = "spillway_delivered_objects_total";
pub const DATA_FRESHNESS: &str = "spillway_data_freshness_seconds";
pub const DELIVERY_ATTEMPTS: &str = "spillway_delivery_attempts_total";
pub const DELIVERY_RETRIES: &str = "spillway_delivery_retries_total";
pub const DELIVERY_GIVE_UPS: &str = "spillway_delivery_give_ups_total";
pub const CIRCUIT_OPENS: &str = "spillway_circuit_opens_total";
pub const DEAD_LETTERED_RECORDS: &str = "spillway_dead_lettered_records_total";
pub const BUFFERED_BYTES: &str = "spillway_buffered_bytes";
pub const OPEN_PARTITIONS: &str = "spillway_open_partitions";
pub const EARLY_FLUSHES_MEMORY: &str = "spillway_early_flushes_memory_budget_total";
pub const EARLY_FLUSHES_PARTITIONS: &str = "spillway_early_flushes_open_partitions_total";
pub const KINESIS_BEHIND_LATEST: &str = "spillway_kinesis_behind_latest_seconds";
pub const KINESIS_BEHIND_LATEST_MAX: &str = "spillway_kinesis_behind_latest_max_seconds";
pub const LEASES_HELD: &str = "spillway_leases_held";
pub const LEASES_TAKEN: &str = "spillway_leases_taken_total";
pub const LEASES_LOST: &str = "spillway_leases_lost_total";
pub const LEASES_HANDED_OVER: &str = "spillway_leases_handed_over_total";
pub const RECORDS_FENCED: &str = "spillway_records_fenced_total";
pub const LEASE_RENEWAL: &str = "spillway_lease_renewal_seconds";
pub const UP: &str = "spillway_up";

/// Each metric, the Firehose metric it stands for (`-` where Firehose has none), its type and
/// its help text: what the README's table shows.
pub const FIREHOSE_NAMES: &[(&str, &str, &str, &str)] = &[
    (
        INCOMING_RECORDS,
        "IncomingRecords",
        "counter",
        "Records read from the source.",
    ),
    (
        INCOMING_BYTES,
        "IncomingBytes",
        "counter",
        "Bytes of the records read from the source.",
    ),
    (
        DELIVERED_RECORDS,
        "DeliveryTo<Destination>.Records",
        "counter",
        "Records delivered to the destination.",
    ),
    (
        DELIVERED_BYTES,
        "DeliveryTo<Destination>.Bytes",
        "counter",
        "Bytes written to the destination.",
    ),
    (
        DELIVERED_OBJECTS,
        "-",
        "counter",
        "Objects (files) written to the destination.",
    ),
    (
        DATA_FRESHNESS,
        "DeliveryTo<Destination>.DataFreshness",
        "gauge",
        "Age of the oldest record of the last delivered batch, when it was delivered.",
    ),
    (
        DELIVERY_ATTEMPTS,
        "-",
        "counter",
        "Delivery requests made, retries included.",
    ),
    (
        DELIVERY_RETRIES,
        "-",
        "counter",
        "Delivery requests retried.",
    ),
    (
        DELIVERY_GIVE_UPS,
        "-",
        "counter",
        "Batches whose retry budget (retry_duration) ran out.",
    ),
    (
        CIRCUIT_OPENS,
        "-",
        "counter",
        "Times the destination's circuit opened (deliveries wait).",
    ),
    (
        DEAD_LETTERED_RECORDS,
        "DeliveryTo<Destination>.Failed…",
        "counter",
        "Records written to the dead letter.",
    ),
    (
        BUFFERED_BYTES,
        "-",
        "gauge",
        "Incoming bytes in open partition buffers.",
    ),
    (
        OPEN_PARTITIONS,
        "-",
        "gauge",
        "Open partition buffers (Firehose: PartitionCount).",
    ),
    (
        EARLY_FLUSHES_MEMORY,
        "-",
        "counter",
        "Buffers closed before their size or interval because the memory budget was reached.",
    ),
    (
        EARLY_FLUSHES_PARTITIONS,
        "-",
        "counter",
        "Buffers closed before their size or interval because the cap on open partitions was reached.",
    ),
    (
        KINESIS_BEHIND_LATEST,
        "KinesisMillisBehindLatest",
        "gauge",
        "How far a shard's reader is behind the tip of the stream.",
    ),
    (
        KINESIS_BEHIND_LATEST_MAX,
        "KinesisMillisBehindLatest (Maximum)",
        "gauge",
        "The largest of the shards' lag: the value to autoscale on.",
    ),
    (
        LEASES_HELD,
        "-",
        "gauge",
        "Kinesis shard leases this worker holds.",
    ),
    (
        LEASES_TAKEN,
        "-",
        "counter",
        "Leases this worker took: new, released, expired or handed to it.",
    ),
    (
        LEASES_LOST,
        "-",
        "counter",
        "Leases this worker stopped reading because it could not renew them.",
    ),
    (
        LEASES_HANDED_OVER,
        "-",
        "counter",
        "Leases this worker drained and handed to a worker that asked for them.",
    ),
    (
        LEASE_RENEWAL,
        "-",
        "gauge",
        "How long the last round of lease renewals took (all of this worker's leases, renewed at once).",
    ),
    (
        RECORDS_FENCED,
        "-",
        "counter",
        "Records not written because their lease was lost before the write began (the new owner reads them again).",
    ),
    (UP, "-", "gauge", "1 while the process serves metrics."),
];

/// Counters and gauges of one delivery stream.
#[derive(Default)]
pub struct Metrics {
    pub incoming_records: AtomicU64,
    pub incoming_bytes: AtomicU64,
    pub delivered_records: AtomicU64,
    pub delivered_bytes: AtomicU64,
    pub objects_written: AtomicU64,
    pub dead_lettered_records: AtomicU64,
    /// Gauge: incoming bytes in open buffers.
    pub buffered_bytes: AtomicU64,
    pub open_partitions: AtomicU64,
    /// Buffers closed early by the memory budget, and by the cap on open partitions.
    pub early_flushes_memory: AtomicU64,
    pub early_flushes_partitions: AtomicU64,
    /// Gauge: age in ms of the oldest record of the last delivered batch, at delivery.
    pub data_freshness_ms: AtomicU64,
    pub retry: Arc<RetryStats>,
    /// Gauge per Kinesis shard: how far its reader is behind the tip, in ms.
    pub millis_behind: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
    /// Set once a shutdown began: `/readyz` answers 503 from then on.
    pub stopping: AtomicBool,
    /// Set while the source cannot reach what it reads (Kinesis: from its start until a
    /// shard listing succeeds, and again while listing fails): `/readyz` answers 503.
    pub source_disconnected: AtomicBool,
    /// Kinesis leases: held (gauge), taken, lost and handed over (counters).
    pub leases_held: AtomicU64,
    pub leases_taken: AtomicU64,
    pub leases_lost: AtomicU64,
    pub leases_handed_over: AtomicU64,
    /// Records set aside unwritten because their lease was lost (see `RECORDS_FENCED`).
    pub records_fenced: AtomicU64,
    /// How long the last round of lease renewals took, in milliseconds.
    pub lease_renewal_ms: AtomicU64,
}

/// Appends one metric's `# HELP` and `# TYPE` lines.
fn head(out: &mut String, name: &str) {
    if let Some((_, _, kind, help)) = FIREHOSE_NAMES.iter().find(|(n, ..)| *n == name) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    }
}

impl Metrics {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set_millis_behind(&self, shard: &str, millis: i64) {
        let mut lag = self.millis_behind.lock().unwrap_or_else(|p| p.into_inner());
        lag.insert(shard.to_string(), millis);
    }

    /// Whether the stream should get traffic: not stopping, its destination's circuit not
    /// open, its source connected.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err("stopping");
        }
        if self.retry.circuit.is_open() {
            return Err("the destination keeps failing: its circuit is open");
        }
        if self.source_disconnected.load(Ordering::Relaxed) {
            return Err("the source is not connected");
        }
        Ok(())
    }

    /// The Prometheus text exposition, labelled with the stream (and destination).
    pub fn render(&self, stream: &str, destination: &str) -> String {
        let mut out = String::new();
        let stream_label = format!("stream=\"{stream}\"");
        let delivery_label = format!("stream=\"{stream}\",destination=\"{destination}\"");
        let seconds = |ms: u64| ms as f64 / 1000.0;
        let rows: [(&str, &str, f64); 22] = [
            (
                INCOMING_RECORDS,
                &stream_label,
                Metrics::get(&self.incoming_records) as f64,
            ),
            (
                INCOMING_BYTES,
                &stream_label,
                Metrics::get(&self.incoming_bytes) as f64,
            ),
            (
                DELIVERED_RECORDS,
                &delivery_label,
                Metrics::get(&self.delivered_records) as f64,
            ),
            (
                DELIVERED_BYTES,
                &delivery_label,
                Metrics::get(&self.delivered_bytes) as f64,
            ),
            (
                DELIVERED_OBJECTS,
                &delivery_label,
                Metrics::get(&self.objects_written) as f64,
            ),
            (
                DATA_FRESHNESS,
                &delivery_label,
                seconds(Metrics::get(&self.data_freshness_ms)),
            ),
            (
                DELIVERY_ATTEMPTS,
                &delivery_label,
                Metrics::get(&self.retry.attempts) as f64,
            ),
            (
                DELIVERY_RETRIES,
                &delivery_label,
                Metrics::get(&self.retry.retries) as f64,
            ),
            (
                DELIVERY_GIVE_UPS,
                &delivery_label,
                Metrics::get(&self.retry.give_ups) as f64,
            ),
            (
                CIRCUIT_OPENS,
                &delivery_label,
                Metrics::get(&self.retry.circuit.opens) as f64,
            ),
            (
                DEAD_LETTERED_RECORDS,
                &stream_label,
                Metrics::get(&self.dead_lettered_records) as f64,
            ),
            (
                BUFFERED_BYTES,
                &stream_label,
                Metrics::get(&self.buffered_bytes) as f64,
            ),
            (
                OPEN_PARTITIONS,
                &stream_label,
                Metrics::get(&self.open_partitions) as f64,
            ),
            (
                EARLY_FLUSHES_MEMORY,
                &stream_label,
                Metrics::get(&self.early_flushes_memory) as f64,
            ),
            (
                EARLY_FLUSHES_PARTITIONS,
                &stream_label,
                Metrics::get(&self.early_flushes_partitions) as f64,
            ),
            (
                LEASES_HELD,
                &stream_label,
                Metrics::get(&self.leases_held) as f64,
            ),
            (
                LEASES_TAKEN,
                &stream_label,
                Metrics::get(&self.leases_taken) as f64,
            ),
            (
                LEASES_LOST,
                &stream_label,
                Metrics::get(&self.leases_lost) as f64,
            ),
            (
                LEASES_HANDED_OVER,
                &stream_label,
                Metrics::get(&self.leases_handed_over) as f64,
            ),
            (
                LEASE_RENEWAL,
                &stream_label,
                Metrics::get(&self.lease_renewal_ms) as f64 / 1000.0,
            ),
            (
                RECORDS_FENCED,
                &stream_label,
                Metrics::get(&self.records_fenced) as f64,
            ),
            (UP, &stream_label, 1.0),
        ];
        for (name, labels, value) in rows {
            head(&mut out, name);
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
        let lag = self.millis_behind.lock().unwrap_or_else(|p| p.into_inner());
        if !lag.is_empty() {
            head(&mut out, KINESIS_BEHIND_LATEST);
            for (shard, millis) in lag.iter() {
                let value = seconds((*millis).max(0) as u64);
                let _ = writeln!(
                    out,
                    "{KINESIS_BEHIND_LATEST}{{{stream_label},shard=\"{shard}\"}} {value}"
                );
            }
            let max = lag.values().copied().max().unwrap_or(0).max(0) as u64;
            head(&mut out, KINESIS_BEHIND_LATEST_MAX);
            let _ = writeln!(
                out,
                "{KINESIS_BEHIND_LATEST_MAX}{{{stream_label}}} {}",
                seconds(max)
            );
        }
        out
    }
}

/// What the endpoint serves.
#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    stream: String,
    destination: &'static str,
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stream: String,
    destination: &'static str,
) {
    let served = Served {
        metrics,
        stream,
        destination,
    };
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(served);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}

async fn metrics_page(State(served): State<Served>) -> impl IntoResponse {
    let body = served.metrics.render(&served.stream, served.destination);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

async fn readiness(State(served): State<Served>) -> impl IntoResponse {
    match served.metrics.ready() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Binds the metrics endpoint.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_names_with_help_type_and_labels() {
        let m = Metrics::default();
        Metrics::add(&m.incoming_records, 7);
        m.data_freshness_ms.store(1500, Ordering::Relaxed);
        m.set_millis_behind("shardId-1", 2_000);
        m.set_millis_behind("shardId-2", 500);
        let text = m.render("clicks", "LocalLake");
        assert!(
            text.contains("# HELP spillway_incoming_records_total Records read from the source.\n")
        );
        assert!(text.contains("# TYPE spillway_incoming_records_total counter\n"));
        assert!(text.contains("spillway_incoming_records_total{stream=\"clicks\"} 7\n"));
        assert!(text.contains(
            "spillway_data_freshness_seconds{stream=\"clicks\",destination=\"LocalLake\"} 1.5\n"
        ));
        assert!(text.contains(
            "spillway_kinesis_behind_latest_seconds{stream=\"clicks\",shard=\"shardId-1\"} 2\n"
        ));
        assert!(text.contains("spillway_kinesis_behind_latest_max_seconds{stream=\"clicks\"} 2\n"));
        // Every metric has its help and type; counters end in _total.
        for (name, _, kind, _) in FIREHOSE_NAMES {
            assert!(text.contains(&format!("# TYPE {name} {kind}")), "{name}");
            assert_eq!(name.ends_with("_total"), *kind == "counter", "{name}");
        }
    }
}
