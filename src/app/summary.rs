//! What a run tells people: the progress line while it runs, and the summary at its end
//! (what was read, delivered and dead-lettered, what the source could not read, and where
//! everything is).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::pipeline::StopReason;
use crate::source::read_back::ReadBackStats;
use crate::source::SourceStats;

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub stop: StopReason,
    pub elapsed: Duration,
    pub records_in: u64,
    pub bytes_in: u64,
    pub delivered: u64,
    pub dead_lettered: u64,
    pub objects: u64,
    pub source: SourceStats,
    /// What a redrive or replay read ("redrive" or "replay", and the figures).
    pub read_back: Option<(&'static str, ReadBackStats)>,
    /// Where the table's objects are: a folder or `s3://bucket/prefix`.
    pub table_url: String,
    pub dead_letter_url: String,
    pub catalog: Option<String>,
    /// A ready-to-run query over what was delivered, where there is one.
    pub query: Option<String>,
}

/// A progress line every second: records/s, MiB/s, buffered bytes, objects written; for a
/// redrive or replay also the objects read of those listed, and an ETA from that share.
pub(super) async fn print_progress(
    metrics: Arc<Metrics>,
    read_back: Option<Arc<Mutex<ReadBackStats>>>,
) {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last = (0u64, 0u64, Instant::now());
    let mut ticks = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        ticks += 1;
        let records = Metrics::get(&metrics.incoming_records);
        let bytes = Metrics::get(&metrics.incoming_bytes);
        let secs = last.2.elapsed().as_secs_f64().max(1e-3);
        let line = format!(
            "records {records} ({:.0}/s) · {:.1} MiB/s · buffered {:.1} MiB · objects {} · dead-lettered {}",
            (records - last.0) as f64 / secs,
            (bytes - last.1) as f64 / secs / 1048576.0,
            metrics.buffered_bytes.load(Ordering::Relaxed) as f64 / 1048576.0,
            Metrics::get(&metrics.objects_written),
            Metrics::get(&metrics.dead_lettered_records),
        );
        let line = match &read_back {
            Some(stats) => {
                let stats = stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
                format!(
                    "{line} · read {}/{} objects{}",
                    stats.objects,
                    stats.objects_listed,
                    eta(started.elapsed(), stats.objects, stats.objects_listed)
                )
            }
            None => line,
        };
        last = (records, bytes, Instant::now());
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else if ticks.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }
}

/// " · ETA 12 s" from the time `elapsed` that `done` of `total` took; empty before the first.
fn eta(elapsed: Duration, done: usize, total: usize) -> String {
    if done == 0 || done >= total {
        return String::new();
    }
    let left = elapsed.as_secs_f64() / done as f64 * (total - done) as f64;
    format!(" · ETA {left:.0} s")
}

impl RunSummary {
    /// Whether the run must end with a failure exit code although it finished: some input
    /// could not be read at all (everything else was delivered or dead-lettered), or the
    /// shutdown ran out of time.
    pub fn failed(&self) -> bool {
        !self.source.unreadable.is_empty()
            || matches!(self.stop, StopReason::ShutdownTimedOut { .. })
    }

    /// The human summary printed at the end of `spillway run`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "spillway: {} in {:.1} s — read {} records ({:.1} MiB), delivered {}{}, dead-lettered {}\n",
            match self.stop {
                StopReason::SourceEnded => "input done",
                StopReason::Shutdown => "stopped by signal",
                StopReason::ShutdownTimedOut { .. } => "stopped by signal, shutdown_timeout passed",
            },
            self.elapsed.as_secs_f64(),
            self.records_in,
            self.bytes_in as f64 / 1048576.0,
            self.delivered,
            if self.objects > 0 { format!(" in {} objects", self.objects) } else { String::new() },
            self.dead_lettered,
        );
        if let StopReason::ShutdownTimedOut { unacknowledged } = self.stop {
            out.push_str(&format!(
                "  unfinished:  {unacknowledged} records were still being delivered; they are not checkpointed, so the next run reads them again\n"
            ));
        }
        if self.source.resumed_bytes > 0 {
            out.push_str(&format!(
                "  resumed:     skipped {:.1} MiB already delivered by an earlier run (checkpoint)\n",
                self.source.resumed_bytes as f64 / 1048576.0
            ));
        }
        for file in &self.source.replaced {
            out.push_str(&format!(
                "  replaced:    {file} is not the file its checkpoint was for; read from its start\n"
            ));
        }
        for damaged in &self.source.damaged {
            let what = match damaged.dead_lettered_now {
                true => "the partial line and the undecodable rest are in the dead letter",
                false => "dead-lettered by an earlier run",
            };
            out.push_str(&format!(
                "  damaged:     {} after {} decompressed bytes ({}); {what}\n",
                damaged.file, damaged.decoded_bytes, damaged.error
            ));
        }
        for (file, error) in &self.source.unreadable {
            out.push_str(&format!(
                "  unreadable:  {file}: {error} — not read; the run fails so it is not missed\n"
            ));
        }
        if let Some((name, stats)) = &self.read_back {
            out.push_str(&format!(
                "  {name}:     {} records from {} objects ({} outside the time range, {} unreadable); {}\n",
                stats.records,
                stats.objects,
                stats.skipped,
                stats.unreadable,
                match stats.removed {
                    0 => "the objects are kept".to_string(),
                    n => format!("{n} objects redriven whole were removed"),
                }
            ));
        }
        out.push_str(&format!("  table:       {}\n", self.table_url));
        out.push_str(&format!("  dead letter: {}\n", self.dead_letter_url));
        if let Some(catalog) = &self.catalog {
            out.push_str(&format!("  catalog:     {catalog}\n"));
        }
        if let Some(query) = &self.query {
            out.push_str(&format!("  query it:    {query}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_the_time_per_object_read_times_the_objects_left() {
        assert_eq!(eta(Duration::from_secs(10), 2, 6), " · ETA 20 s");
        assert_eq!(
            eta(Duration::from_secs(10), 0, 6),
            "",
            "nothing to go by yet"
        );
        assert_eq!(eta(Duration::from_secs(10), 6, 6), "", "done");
    }
}
