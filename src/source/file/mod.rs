//! The file source: NDJSON from a file, every file of a folder (in name order, hidden files
//! skipped), or stdin; gzip input is recognised by its magic bytes. Each record's position is
//! the byte offset just past its line (in the decompressed stream), so a rerun resumes after
//! the last checkpointed record by skipping that many bytes. Runs on a blocking thread.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use spillway_formats::record::{Record, RecordMeta, ShardId};
use thiserror::Error;
use tokio::sync::mpsc;

use super::SourceMessage;
use crate::config::InputSpec;

/// Records per chunk sent to the pipeline.
const CHUNK_RECORDS: usize = 1024;
/// Bytes per chunk sent to the pipeline.
const CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot list input folder {path}: {source}")]
    List { path: PathBuf, source: io::Error },
    #[error("cannot read input {path}: {source}")]
    Read { path: String, source: io::Error },
}

/// What the source read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileSourceStats {
    pub files: usize,
    pub records: u64,
    /// Bytes skipped because a checkpoint said they were already delivered.
    pub resumed_bytes: u64,
}

/// The input files of `input`, in reading order, with their shard ids.
pub fn input_files(input: &InputSpec) -> Result<Vec<(ShardId, Option<PathBuf>)>, SourceError> {
    match input {
        InputSpec::Stdin => Ok(vec![(Arc::from("stdin"), None)]),
        InputSpec::Path(path) if path.is_dir() => {
            let list_err = |source| SourceError::List {
                path: path.clone(),
                source,
            };
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(list_err)? {
                let entry = entry.map_err(list_err)?;
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().map_err(list_err)?.is_file() {
                    files.push(entry.path());
                }
            }
            files.sort();
            Ok(files.into_iter().map(|f| (shard_id(&f), Some(f))).collect())
        }
        InputSpec::Path(path) => Ok(vec![(shard_id(path), Some(path.clone()))]),
    }
}

/// A file's shard id: its absolute path, so checkpoints survive a change of folder.
fn shard_id(path: &Path) -> ShardId {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Arc::from(absolute.to_string_lossy().as_ref())
}

/// What a record's arrival time is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalTime {
    /// When the record was read (Firehose's arrival time).
    Read,
    /// The file's modification time: the same on every read of an unchanged file, so
    /// `exactly_once` names objects and `!{timestamp:…}` prefixes the same on a rerun.
    FileModified,
}

/// Reads every input, skipping what `resume` says is delivered, sending chunks to `tx` until
/// the inputs end or the receiver is dropped (shutdown). Blocking: run on a blocking thread.
pub fn read_inputs(
    input: &InputSpec,
    resume: &BTreeMap<String, u64>,
    arrival: ArrivalTime,
    tx: &mpsc::Sender<SourceMessage>,
) -> Result<FileSourceStats, SourceError> {
    let mut stats = FileSourceStats::default();
    for (shard, path) in input_files(input)? {
        let skip = resume.get(shard.as_ref()).copied().unwrap_or(0);
        let display = path
            .as_ref()
            .map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
        let read_err = |source| SourceError::Read {
            path: display.clone(),
            source,
        };
        let reader: Box<dyn Read> = match &path {
            None => Box::new(io::stdin()),
            Some(path) => open_maybe_gzip(path).map_err(read_err)?,
        };
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let skipped =
            io::copy(&mut reader.by_ref().take(skip), &mut io::sink()).map_err(read_err)?;
        stats.resumed_bytes += skipped;
        stats.files += 1;
        let modified_ms = match (arrival, &path) {
            (ArrivalTime::FileModified, Some(path)) => {
                let modified = std::fs::metadata(path).and_then(|m| m.modified());
                let modified = chrono::DateTime::<chrono::Utc>::from(modified.map_err(read_err)?);
                Some(modified.timestamp_millis())
            }
            _ => None,
        };
        let (records, finished) =
            read_lines(&mut reader, &shard, skipped, modified_ms, tx).map_err(read_err)?;
        stats.records += records;
        if !finished {
            break;
        }
    }
    Ok(stats)
}

fn open_maybe_gzip(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    file.rewind()?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    })
}

/// Reads lines from `reader` (positioned at `offset`); returns the records sent and whether
/// the input was read to its end (false: the pipeline stopped listening). Records arrive at
/// `arrival_ms`, or when read.
fn read_lines(
    reader: &mut impl BufRead,
    shard: &ShardId,
    mut offset: u64,
    arrival_ms: Option<i64>,
    tx: &mpsc::Sender<SourceMessage>,
) -> io::Result<(u64, bool)> {
    let mut sent = 0u64;
    let mut chunk = Chunk::default();
    loop {
        let start = chunk.data.len();
        let n = reader.read_until(b'\n', &mut chunk.data)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        let mut end = chunk.data.len();
        while end > start && matches!(chunk.data[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if chunk.data[start..end].iter().all(u8::is_ascii_whitespace) {
            chunk.data.truncate(start);
            continue;
        }
        chunk.lines.push((start..end, offset));
        if chunk.lines.len() >= CHUNK_RECORDS || chunk.data.len() >= CHUNK_BYTES {
            sent += chunk.lines.len() as u64;
            if tx
                .blocking_send(SourceMessage::Records(
                    chunk.into_records(shard, arrival_ms),
                ))
                .is_err()
            {
                return Ok((sent, false));
            }
            chunk = Chunk::default();
        }
    }
    if !chunk.lines.is_empty() {
        sent += chunk.lines.len() as u64;
        if tx
            .blocking_send(SourceMessage::Records(
                chunk.into_records(shard, arrival_ms),
            ))
            .is_err()
        {
            return Ok((sent, false));
        }
    }
    Ok((sent, true))
}

/// Lines read into one buffer, shared by the records cut from it.
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    lines: Vec<(std::ops::Range<usize>, u64)>,
}

impl Chunk {
    fn into_records(self, shard: &ShardId, arrival_ms: Option<i64>) -> Vec<Record> {
        let arrival_ms = arrival_ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let data = Bytes::from(self.data);
        self.lines
            .into_iter()
            .map(|(range, position)| Record {
                data: data.slice(range),
                meta: RecordMeta {
                    shard: shard.clone(),
                    position,
                    sequence_number: None,
                    sub_sequence: None,
                    arrival_ms,
                    prior_attempts: 0,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn read_all(
        input: &InputSpec,
        resume: &BTreeMap<String, u64>,
    ) -> (Vec<Record>, FileSourceStats) {
        let (tx, mut rx) = mpsc::channel(1000);
        let stats = read_inputs(input, resume, ArrivalTime::Read, &tx).unwrap();
        drop(tx);
        let mut records = Vec::new();
        while let Ok(SourceMessage::Records(chunk)) = rx.try_recv() {
            records.extend(chunk);
        }
        (records, stats)
    }

    #[test]
    fn reads_plain_and_gzip_files_of_a_folder_and_resumes_after_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.ndjson"),
            b"{\"n\":1}\r\n\n  \n{\"n\":2}\n{\"n\":3}",
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"n\":4}\n{\"n\":5}\n").unwrap();
        std::fs::write(dir.path().join("b.ndjson.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join(".hidden"), b"{\"n\":99}\n").unwrap();

        let input = InputSpec::Path(dir.path().to_path_buf());
        let (records, stats) = read_all(&input, &BTreeMap::new());
        let texts: Vec<&[u8]> = records.iter().map(|r| r.data.as_ref()).collect();
        assert_eq!(
            texts,
            vec![
                &b"{\"n\":1}"[..],
                b"{\"n\":2}",
                b"{\"n\":3}",
                b"{\"n\":4}",
                b"{\"n\":5}"
            ]
        );
        assert_eq!(stats.files, 2);
        let positions: Vec<u64> = records.iter().map(|r| r.meta.position).collect();
        assert_eq!(positions, vec![9, 21, 28, 8, 16]);

        // Resume file a after its second record, and b entirely.
        let resume = BTreeMap::from([
            (records[0].meta.shard.to_string(), 21),
            (records[3].meta.shard.to_string(), 16),
        ]);
        let (again, stats) = read_all(&input, &resume);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].data.as_ref(), b"{\"n\":3}");
        assert_eq!(stats.resumed_bytes, 21 + 16);
    }
}
