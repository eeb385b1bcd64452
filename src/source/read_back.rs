//! Sources that read a stream's own output back: `spillway redrive` reads Firehose error
//! records from the dead letter and sends each `rawData` through the destination again;
//! `spillway replay` reads the raw source-record backup (gzip NDJSON) and sends every record
//! again, the "replay from day zero" that rebuilds a destination or fills a new one.
//!
//! A redriven record keeps its arrival time (so time-partitioned prefixes land where they
//! would have) and carries its `attemptsMade`, so a record that fails again is dead-lettered
//! with the attempts added up. A replayed record arrives at its backup object's time.
//!
//! The objects to read are listed once, before anything is sent, so what this run writes is
//! never read back by it. The originals are kept: reading back is at-least-once, and
//! idempotent destinations (`auto` document ids, DynamoDB keys) absorb a second pass.

use std::sync::{Arc, Mutex};

use std::io::Read;

use bytes::Bytes;
use chrono::NaiveDateTime;
use spillway_formats::record::{Record, RecordMeta};
use spillway_sinks::dead_letter::ErrorRecord;
use spillway_sinks::store::ObjectStore;
use tokio::sync::mpsc;

use super::SourceMessage;

/// Records sent to the pipeline per message.
const CHUNK_RECORDS: usize = 500;

/// What to read back.
#[derive(Clone, Debug)]
pub enum ReadBack {
    Redrive(Redrive),
    Replay(Replay),
}

/// Times in `[since, until)`, ms since the epoch; either end open.
#[derive(Clone, Debug, Default)]
pub struct TimeRange {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl TimeRange {
    fn contains(&self, ms: i64) -> bool {
        self.since_ms.is_none_or(|since| ms >= since)
            && self.until_ms.is_none_or(|until| ms < until)
    }
}

/// Which dead letters to redrive, and what to do with them after.
#[derive(Clone, Debug, Default)]
pub struct Redrive {
    /// Error-output types (`processing-failed`, `s3-failed`, …) to take; empty: all. Matched
    /// against the object key's path segments, where the error prefix puts the type.
    pub error_types: Vec<String>,
    /// Only records whose last attempt ended in this range.
    pub ended: TimeRange,
    /// Once the run has delivered or dead-lettered everything it read, delete the objects
    /// redriven whole (`--remove`).
    pub remove: bool,
}

/// Which backup objects to replay.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// Only objects whose names say they were written in this range.
    pub written: TimeRange,
    /// A folder or `s3://bucket/prefix` holding backup objects, instead of the config's own
    /// backup.
    pub from: Option<String>,
}

/// What a redrive or replay read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadBackStats {
    /// Objects listed to read, and read so far.
    pub objects_listed: usize,
    pub objects: usize,
    pub records: u64,
    /// Dead-letter records outside the time range, left alone.
    pub skipped: u64,
    /// Lines that are not error records (or whose `rawData` is not base64), or backup objects
    /// that are not gzip: reported, kept, not sent.
    pub unreadable: u64,
    /// Dead-letter objects every line of which was sent (none skipped, none unreadable): the
    /// ones `redrive --remove` may delete once the run has acknowledged everything.
    pub sent_whole: Vec<String>,
    /// Of those, deleted by `redrive --remove` after the run.
    pub removed: usize,
}

/// Where to read back from: a store and the fixed root of the prefix in it.
pub struct ReadBackSource {
    pub store: Arc<dyn ObjectStore>,
    pub root: String,
    pub what: ReadBack,
    pub stats: Arc<Mutex<ReadBackStats>>,
}

impl ReadBackSource {
    /// The objects this run reads, listed now.
    pub async fn objects(&self) -> anyhow::Result<Vec<String>> {
        let keys = self
            .store
            .list(&self.root)
            .await
            .map_err(|e| anyhow::anyhow!("cannot list {}: {e}", self.store.url(&self.root)))?;
        Ok(keys
            .into_iter()
            .filter(|key| match &self.what {
                ReadBack::Redrive(redrive) => {
                    key.ends_with(".json")
                        && (redrive.error_types.is_empty()
                            || key.split('/').any(|segment| {
                                redrive
                                    .error_types
                                    .iter()
                                    .any(|t| same_error_type(t, segment))
                            }))
                }
                ReadBack::Replay(replay) => {
                    key.ends_with(".json.gz")
                        && object_time_ms(key).is_none_or(|ms| replay.written.contains(ms))
                }
            })
            .collect())
    }

    /// Reads `objects` and sends their records; returns when all are sent.
    pub async fn run(
        self,
        objects: Vec<String>,
        tx: mpsc::Sender<SourceMessage>,
    ) -> anyhow::Result<()> {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .objects_listed = objects.len();
        for key in objects {
            let body = self
                .store
                .get(&key)
                .await
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", self.store.url(&key)))?;
            let records = match &self.what {
                ReadBack::Redrive(redrive) => self.dead_letter_records(redrive, &key, &body),
                ReadBack::Replay(_) => self.backup_records(&key, &body),
            };
            self.stats.lock().unwrap_or_else(|p| p.into_inner()).objects += 1;
            for chunk in records.chunks(CHUNK_RECORDS) {
                if tx
                    .send(SourceMessage::Records(chunk.to_vec()))
                    .await
                    .is_err()
                {
                    return Ok(()); // the pipeline stopped (shutdown)
                }
            }
        }
        Ok(())
    }

    /// The raw records of one backup object (gzip NDJSON, one record per line).
    fn backup_records(&self, key: &str, body: &[u8]) -> Vec<Record> {
        let mut text = Vec::new();
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = flate2::read::MultiGzDecoder::new(body).read_to_end(&mut text) {
            tracing::warn!(key, error = %e, "not a gzip backup object; kept, not replayed");
            stats.unreadable += 1;
            return Vec::new();
        }
        let shard: Arc<str> = Arc::from(format!("replay/{key}"));
        let arrival_ms =
            object_time_ms(key).unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let mut records = Vec::new();
        let mut position = 0u64;
        for line in text.split(|b| *b == b'\n') {
            position += line.len() as u64 + 1;
            if line.is_empty() {
                continue;
            }
            stats.records += 1;
            records.push(Record {
                data: Bytes::copy_from_slice(line),
                meta: RecordMeta::at(shard.clone(), position, arrival_ms),
            });
        }
        records
    }

    /// The records of one dead-letter object that pass the filter.
    fn dead_letter_records(&self, redrive: &Redrive, key: &str, body: &[u8]) -> Vec<Record> {
        let shard: Arc<str> = Arc::from(format!("redrive/{key}"));
        let mut records = Vec::new();
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let left_out_before = stats.skipped + stats.unreadable;
        for (line_number, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = serde_json::from_slice::<ErrorRecord>(line)
                .map_err(|e| e.to_string())
                .and_then(|r| r.raw_bytes().map(|raw| (r, raw)).map_err(|e| e.to_string()));
            let (error, raw) = match parsed {
                Ok(parsed) => parsed,
                Err(reason) => {
                    tracing::warn!(key, line = line_number + 1, %reason, "not an error record; kept, not redriven");
                    stats.unreadable += 1;
                    continue;
                }
            };
            if !redrive.ended.contains(error.attempt_ending_timestamp) {
                stats.skipped += 1;
                continue;
            }
            stats.records += 1;
            records.push(Record {
                data: Bytes::from(raw),
                meta: RecordMeta {
                    shard: shard.clone(),
                    position: line_number as u64 + 1,
                    sequence_number: Some(Arc::from(error.sequence_number.as_str())),
                    sub_sequence: error.sub_sequence_number,
                    arrival_ms: error.arrival_timestamp,
                    prior_attempts: error.attempts_made,
                },
            });
        }
        if stats.skipped + stats.unreadable == left_out_before {
            stats.sent_whole.push(key.to_string());
        }
        records
    }
}

/// Whether an `--error-type` names a folder: itself, or OpenSearch's under either name
/// (`AmazonOpenSearchService-failed` today, `elasticsearch-failed` before).
fn same_error_type(asked: &str, folder: &str) -> bool {
    const OPENSEARCH: [&str; 2] = ["AmazonOpenSearchService-failed", "elasticsearch-failed"];
    asked == folder || (OPENSEARCH.contains(&asked) && OPENSEARCH.contains(&folder))
}

/// The time in a Firehose object name (`<stream>-<version>-yyyy-MM-dd-HH-mm-ss-<id><ext>`),
/// in ms since the epoch; `None` for a name of another shape.
fn object_time_ms(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?;
    // The six numeric fields after the stream name and version; the stream name may hold
    // dashes, so find them as the first run of `-dddd-dd-dd-dd-dd-dd-`.
    let bytes = name.as_bytes();
    (0..bytes.len().saturating_sub(20)).find_map(|start| {
        let text = name.get(start..start + 19)?;
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d-%H-%M-%S")
            .ok()
            .filter(|_| start > 0 && bytes[start - 1] == b'-')
            .map(|t| t.and_utc().timestamp_millis())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_sinks::store::LocalStore;

    fn error_line(raw: &str, attempts: u32, ended_ms: i64) -> String {
        let record = ErrorRecord {
            attempts_made: attempts,
            arrival_timestamp: 1_714_521_600_000,
            error_code: "S3.SlowDown".into(),
            error_message: "slow down".into(),
            attempt_ending_timestamp: ended_ms,
            raw_data: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw),
            sequence_number: "42".into(),
            sub_sequence_number: None,
            shard_id: "events.ndjson".into(),
            data_catalog_table: None,
            destination: Default::default(),
        };
        serde_json::to_string(&record).unwrap()
    }

    #[tokio::test]
    async fn reads_the_chosen_types_keeps_arrival_and_attempts_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let write = |key: &str, lines: &[String]| {
            let path = dir.path().join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, lines.join("\n") + "\n").unwrap();
        };
        write(
            "errors/s3-failed/2024/a.json",
            &[
                error_line(r#"{"n":1}"#, 3, 1_000),
                "not an error record".into(),
                error_line(r#"{"n":2}"#, 5, 9_000),
            ],
        );
        write(
            "errors/processing-failed/2024/b.json",
            &[error_line(r#"{"n":3}"#, 1, 1_000)],
        );
        write(
            "errors/s3-failed/2024/c.json",
            &[error_line(r#"{"n":4}"#, 2, 2_000)],
        );
        let stats = Arc::new(Mutex::new(ReadBackStats::default()));
        let source = ReadBackSource {
            store: Arc::new(LocalStore::new(dir.path().to_path_buf(), "LocalLake")),
            root: "errors/".into(),
            what: ReadBack::Redrive(Redrive {
                error_types: vec!["s3-failed".into()],
                ended: TimeRange {
                    since_ms: None,
                    until_ms: Some(5_000),
                },
                remove: false,
            }),
            stats: stats.clone(),
        };
        let objects = source.objects().await.unwrap();
        assert_eq!(
            objects,
            [
                "errors/s3-failed/2024/a.json",
                "errors/s3-failed/2024/c.json"
            ]
        );
        let (tx, mut rx) = mpsc::channel(4);
        source.run(objects, tx).await.unwrap();
        let mut records = Vec::new();
        while let Some(message) = rx.recv().await {
            let SourceMessage::Records(chunk) = message else {
                panic!("records expected");
            };
            records.extend(chunk);
        }
        assert_eq!(records.len(), 2);
        assert_eq!(&records[1].data[..], br#"{"n":4}"#);
        assert_eq!(&records[0].data[..], br#"{"n":1}"#);
        assert_eq!(records[0].meta.prior_attempts, 3);
        assert_eq!(records[0].meta.arrival_ms, 1_714_521_600_000);
        assert_eq!(records[0].meta.sequence_number.as_deref(), Some("42"));
        let stats = stats.lock().unwrap().clone();
        assert_eq!(
            stats,
            ReadBackStats {
                objects_listed: 2,
                objects: 2,
                records: 2,
                skipped: 1,
                unreadable: 1,
                // a.json had a line skipped and one unreadable: only c.json went whole.
                sent_whole: vec!["errors/s3-failed/2024/c.json".to_string()],
                removed: 0,
            }
        );
    }

    #[test]
    fn object_names_give_their_time() {
        assert_eq!(
            object_time_ms("backup/2024/05/01/click-stream-1-2024-05-01-00-00-01-ab12.json.gz"),
            Some(1_714_521_601_000)
        );
        assert_eq!(object_time_ms("backup/other.json.gz"), None);
    }
}
