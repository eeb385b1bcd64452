//! Metrics named after Firehose's (`IncomingRecords`, `IncomingBytes`,
//! `DeliveryTo<Destination>.Records`, `DataFreshness`, …), kept as atomics and rendered in the
//! Prometheus text format (dots become underscores), served on `/metrics` with `/healthz`.
//! Every metric name is a constant here.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use spillway_sinks::retry::RetryStats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const INCOMING_RECORDS: &str = "IncomingRecords";
pub const INCOMING_BYTES: &str = "IncomingBytes";
pub const DELIVERY_RECORDS: &str = "Records";
pub const DELIVERY_BYTES: &str = "Bytes";
pub const DELIVERY_OBJECTS: &str = "Objects";
pub const DELIVERY_DATA_FRESHNESS: &str = "DataFreshness";
pub const DELIVERY_ATTEMPTS: &str = "Attempts";
pub const DELIVERY_RETRIES: &str = "Retries";
pub const DELIVERY_GIVE_UPS: &str = "GiveUps";
/// Times the destination's circuit opened (it keeps failing; deliveries wait).
pub const DELIVERY_CIRCUIT_OPENS: &str = "CircuitOpens";
pub const DEAD_LETTER_RECORDS: &str = "DeadLetter_Records";
pub const BUFFERED_BYTES: &str = "BufferedBytes";
pub const OPEN_PARTITIONS: &str = "OpenPartitions";
pub const KINESIS_MILLIS_BEHIND_LATEST: &str = "KinesisMillisBehindLatest";

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
    /// Gauge: age in ms of the oldest record of the last delivered batch, at delivery.
    pub data_freshness_ms: AtomicU64,
    pub retry: Arc<RetryStats>,
    /// Gauge per Kinesis shard: how far its reader is behind the tip.
    pub millis_behind: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
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

    /// Prometheus text exposition, labelled with the stream name.
    pub fn render(&self, stream: &str, destination: &str) -> String {
        let mut out = String::new();
        let delivery = |name: &str| format!("DeliveryTo{destination}_{name}");
        let rows: [(String, &AtomicU64, &str); 14] = [
            (INCOMING_RECORDS.into(), &self.incoming_records, "counter"),
            (INCOMING_BYTES.into(), &self.incoming_bytes, "counter"),
            (
                delivery(DELIVERY_RECORDS),
                &self.delivered_records,
                "counter",
            ),
            (delivery(DELIVERY_BYTES), &self.delivered_bytes, "counter"),
            (delivery(DELIVERY_OBJECTS), &self.objects_written, "counter"),
            (
                delivery(DELIVERY_DATA_FRESHNESS),
                &self.data_freshness_ms,
                "gauge",
            ),
            (delivery(DELIVERY_ATTEMPTS), &self.retry.attempts, "counter"),
            (delivery(DELIVERY_RETRIES), &self.retry.retries, "counter"),
            (delivery(DELIVERY_GIVE_UPS), &self.retry.give_ups, "counter"),
            (
                delivery(DELIVERY_CIRCUIT_OPENS),
                &self.retry.circuit.opens,
                "counter",
            ),
            (
                DEAD_LETTER_RECORDS.into(),
                &self.dead_lettered_records,
                "counter",
            ),
            (BUFFERED_BYTES.into(), &self.buffered_bytes, "gauge"),
            (OPEN_PARTITIONS.into(), &self.open_partitions, "gauge"),
            ("Up".into(), &AtomicU64::new(1), "gauge"),
        ];
        for (name, value, kind) in rows {
            let _ = writeln!(out, "# TYPE spillway_{name} {kind}");
            let _ = writeln!(
                out,
                "spillway_{name}{{stream=\"{stream}\"}} {}",
                Metrics::get(value)
            );
        }
        let lag = self.millis_behind.lock().unwrap_or_else(|p| p.into_inner());
        if !lag.is_empty() {
            let _ = writeln!(out, "# TYPE spillway_{KINESIS_MILLIS_BEHIND_LATEST} gauge");
            for (shard, millis) in lag.iter() {
                let _ = writeln!(out, "spillway_{KINESIS_MILLIS_BEHIND_LATEST}{{stream=\"{stream}\",shard=\"{shard}\"}} {millis}");
            }
        }
        out
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stream: String,
    destination: &'static str,
) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let stream = stream.clone();
        tokio::spawn(async move {
            // Read the request head (until a blank line); the path is all that matters.
            let mut request = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            let n = request.len();
            let line = String::from_utf8_lossy(&request[..n]);
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", metrics.render(&stream, destination)),
                "/healthz" => ("200 OK", "ok\n".to_string()),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
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
    fn renders_firehose_names_with_the_stream_label() {
        let m = Metrics::default();
        Metrics::add(&m.incoming_records, 7);
        let text = m.render("clicks", "LocalLake");
        assert!(text.contains("spillway_IncomingRecords{stream=\"clicks\"} 7\n"));
        assert!(text.contains("# TYPE spillway_DeliveryToLocalLake_DataFreshness gauge"));
    }
}
