//! The file source: NDJSON from a file, every file of a folder (in name order, hidden files
//! skipped), or stdin; gzip input is recognised by its magic bytes (stdin too). Each record's
//! position is the byte offset just past its line (in the decompressed stream), so a rerun
//! resumes after the last checkpointed record by skipping that many bytes — of the same file:
//! a checkpoint knows its file by inode and a fingerprint of its first bytes, and a file that
//! was replaced or rotated under the same path is read from its start as a new shard
//! (`<path>#<fingerprint>`). Runs on a blocking thread.
//!
//! Bad input never stops the run and is never silently dropped:
//! - a line longer than the line cap is consumed whole, and goes to the dead letter with its
//!   first bytes and the byte range it had in the file;
//! - a damaged gzip stream (truncated, corrupt) delivers what decoded, dead-letters the
//!   partial line before the damage and the compressed bytes after it, and goes on with the
//!   next file; the summary names the file;
//! - a file that cannot be opened or read is skipped, named in the summary, and the run
//!   ends with exit code 1 once the other files are done.

mod config;
mod input;
mod lines;

pub use self::config::{FileSource, FileSourceConfig, TYPE};

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use spillway_formats::record::{ErrorOutputType, FailedRecord, Record, RecordMeta, ShardId};
use thiserror::Error;
use tokio::sync::mpsc;

use self::input::{decode, is_same_file, open_file, Decoded, OpenedFile};
use super::{DamagedInput, SourceMessage, SourceStats};
use crate::checkpoint::{FileCheckpoint, FileIdentities};

pub use self::input::FINGERPRINT_BYTES;

/// Records per chunk sent to the pipeline.
const CHUNK_RECORDS: usize = 1024;
/// Bytes per chunk sent to the pipeline.
const CHUNK_BYTES: usize = 1 << 20;
/// Lines up to this long (or `max_record_size`, if larger) are kept whole, even when they
/// are too large to deliver: the dead letter then holds all of them.
const KEEP_WHOLE_LINES_UP_TO: usize = 16 << 20;
/// The undecodable rest of a damaged gzip file is dead-lettered in pieces of this size.
const DAMAGED_PIECE_BYTES: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("cannot list input folder {path}: {source}")]
    List { path: PathBuf, source: io::Error },
}

/// What to read: a file or folder, or stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSpec {
    Stdin,
    /// A file, or a folder whose files are read in name order.
    Path(PathBuf),
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

/// How the file source reads.
#[derive(Clone, Debug)]
pub struct FileSourceOptions {
    pub arrival: ArrivalTime,
    /// The pipeline's maximum record size: longer lines are kept whole up to
    /// [`KEEP_WHOLE_LINES_UP_TO`] (so the dead letter holds them), beyond that cut.
    pub max_record_size: usize,
}

/// Where the source resumes: the stored checkpoints, and where it registers the identity of
/// each file it reads (the checkpoint store saves it with the positions).
#[derive(Clone, Default)]
pub struct Resume {
    pub checkpoints: BTreeMap<String, FileCheckpoint>,
    pub identities: FileIdentities,
}

/// The input files of `input`, in reading order, as (path key, path).
pub fn input_files(input: &InputSpec) -> Result<Vec<(String, Option<PathBuf>)>, SourceError> {
    match input {
        InputSpec::Stdin => Ok(vec![("stdin".to_string(), None)]),
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
            Ok(files.into_iter().map(|f| (path_key(&f), Some(f))).collect())
        }
        InputSpec::Path(path) => Ok(vec![(path_key(path), Some(path.clone()))]),
    }
}

/// A file's key: its absolute path, so checkpoints survive a change of folder.
fn path_key(path: &Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    absolute.to_string_lossy().into_owned()
}

/// Reads every input, resuming each file after its checkpoint, sending chunks to `tx` until
/// the inputs end or the receiver is dropped (shutdown). Blocking: run on a blocking thread.
pub fn read_inputs(
    input: &InputSpec,
    resume: &Resume,
    options: &FileSourceOptions,
    tx: &mpsc::Sender<SourceMessage>,
) -> Result<SourceStats, SourceError> {
    let mut stats = SourceStats::default();
    for (key, path) in input_files(input)? {
        let reader = FileReader {
            options,
            tx,
            stats: &mut stats,
        };
        let finished = match path {
            None => reader.read_stdin(),
            Some(path) => reader.read_file(&key, &path, resume),
        };
        if !finished {
            break;
        }
    }
    Ok(stats)
}

/// Where a file's reading starts: its shard and how many decoded bytes to skip.
#[derive(Debug, PartialEq, Eq)]
struct Start {
    shard: String,
    skip: u64,
    /// The file is not the one the path's checkpoint was for.
    replaced: bool,
}

/// Picks the shard of a file at `key`: the checkpointed shard of this very file (the path, or
/// an earlier `path#…` shard of a replaced file), else the path when no checkpoint has it,
/// else a new `path#<fingerprint>` shard, so positions of other content are never applied.
/// With `shorter`, the checkpoint that matched turned out to be past the file's end: the
/// content changed, so a new shard is taken.
fn choose_start(
    key: &str,
    opened: &OpenedFile,
    checkpoints: &BTreeMap<String, FileCheckpoint>,
    shorter: bool,
) -> Start {
    let generation_prefix = format!("{key}#");
    let candidates = checkpoints
        .iter()
        .filter(|(shard, _)| *shard == key || shard.starts_with(&generation_prefix));
    for (shard, checkpoint) in candidates.filter(|_| !shorter) {
        let same = match &checkpoint.identity {
            Some(identity) => is_same_file(opened, identity),
            // A version-1 checkpoint of the path: trusted unless the file is now shorter
            // (known only once read for a gzip file, whose positions are decoded bytes).
            None => shard == key && (checkpoint.position <= opened.len || opened.is_gzip()),
        };
        if same {
            return Start {
                shard: shard.clone(),
                skip: checkpoint.position,
                replaced: false,
            };
        }
    }
    if !checkpoints.contains_key(key) {
        return Start {
            shard: key.to_string(),
            skip: 0,
            replaced: false,
        };
    }
    let base = format!("{generation_prefix}{}", &opened.identity.fingerprint[..12]);
    let shard = (1..)
        .map(|n| match n {
            1 => base.clone(),
            n => format!("{base}.{n}"),
        })
        .find(|shard| !checkpoints.contains_key(shard))
        .unwrap_or(base);
    Start {
        shard,
        skip: 0,
        replaced: true,
    }
}

/// Reads one input after another into the pipeline.
struct FileReader<'a> {
    options: &'a FileSourceOptions,
    tx: &'a mpsc::Sender<SourceMessage>,
    stats: &'a mut SourceStats,
}

impl FileReader<'_> {
    /// Reads stdin; false when the pipeline stopped listening.
    fn read_stdin(mut self) -> bool {
        let shard: ShardId = Arc::from("stdin");
        match decode(Box::new(io::stdin())) {
            Ok(decoded) => self.read_decoded(decoded, "stdin", &shard, 0, None) != Outcome::Stopped,
            Err(e) => {
                self.unreadable("stdin", e);
                true
            }
        }
    }

    /// Reads one file from its checkpoint; false when the pipeline stopped listening.
    fn read_file(self, key: &str, path: &Path, resume: &Resume) -> bool {
        self.read_file_from(key, path, resume, false)
    }

    /// As [`FileReader::read_file`]; `shorter` when a first try found the file shorter than
    /// its checkpoint.
    fn read_file_from(mut self, key: &str, path: &Path, resume: &Resume, shorter: bool) -> bool {
        let display = path.display().to_string();
        let opened = match open_file(path) {
            Ok(opened) => opened,
            Err(e) => {
                self.unreadable(&display, e);
                return true;
            }
        };
        let start = choose_start(key, &opened, &resume.checkpoints, shorter);
        if start.replaced {
            tracing::warn!(file = %path.display(), shard = %start.shard, "the file is not the one its checkpoint was for (other first bytes or another inode): reading it from its start");
            self.stats.replaced.push(display.clone());
        }
        resume
            .identities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(start.shard.clone(), opened.identity.clone());
        let arrival_ms = match self.options.arrival {
            ArrivalTime::FileModified => opened.file.metadata().and_then(|m| m.modified()).ok(),
            ArrivalTime::Read => None,
        }
        .map(|modified| chrono::DateTime::<chrono::Utc>::from(modified).timestamp_millis());
        let shard: ShardId = Arc::from(start.shard.as_str());
        let decoded = match decode(Box::new(opened.file)) {
            Ok(decoded) => decoded,
            Err(e) => {
                self.unreadable(&display, e);
                return true;
            }
        };
        match self.read_decoded(decoded, &display, &shard, start.skip, arrival_ms) {
            Outcome::Done => true,
            Outcome::Stopped => false,
            Outcome::Shorter if !shorter => {
                resume
                    .identities
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&start.shard);
                self.stats.files -= 1;
                self.read_file_from(key, path, resume, true)
            }
            Outcome::Shorter => true,
        }
    }

    fn unreadable(mut self, name: &str, error: io::Error) {
        self.unreadable_ref(name, error);
    }

    /// Skips `skip` bytes, then reads lines into the pipeline.
    fn read_decoded(
        &mut self,
        decoded: Decoded,
        name: &str,
        shard: &ShardId,
        skip: u64,
        arrival_ms: Option<i64>,
    ) -> Outcome {
        let mut reader = BufReader::with_capacity(1 << 20, decoded);
        self.stats.files += 1;
        match io::copy(&mut reader.by_ref().take(skip), &mut io::sink()) {
            Ok(skipped) if skipped < skip => {
                tracing::warn!(file = %name, checkpoint = skip, size = skipped, "the file is shorter than its checkpoint: reading it from its start");
                return Outcome::Shorter;
            }
            Ok(skipped) => self.stats.resumed_bytes += skipped,
            Err(e) if reader.get_ref().is_damage(&e) => {
                // The checkpoint is past the damage: an earlier run dead-lettered it.
                self.stats.damaged.push(DamagedInput {
                    file: name.to_string(),
                    decoded_bytes: skip.saturating_sub(1),
                    error: e.to_string(),
                    dead_lettered_now: false,
                });
                return Outcome::Done;
            }
            Err(e) => {
                self.unreadable_ref(name, e);
                return Outcome::Done;
            }
        }
        let mut lines = Lines {
            tx: self.tx,
            shard,
            name,
            offset: skip,
            arrival_ms,
            keep_up_to: self.options.max_record_size.max(KEEP_WHOLE_LINES_UP_TO),
            max_record_size: self.options.max_record_size,
            chunk: Chunk::default(),
            sent: 0,
        };
        let outcome = lines.read(&mut reader);
        let listening = match outcome {
            Ok(listening) => listening,
            Err(e) if reader.get_ref().is_damage(&e) => {
                let decoded_bytes = lines.offset + lines.chunk.partial_len() as u64;
                let listening = lines.dead_letter_damage(reader.into_inner(), &e);
                self.stats.damaged.push(DamagedInput {
                    file: name.to_string(),
                    decoded_bytes,
                    error: e.to_string(),
                    dead_lettered_now: true,
                });
                listening
            }
            Err(e) => {
                let listening = lines.flush();
                let error = io::Error::new(e.kind(), format!("after byte {}: {e}", lines.offset));
                self.unreadable_ref(name, error);
                listening
            }
        };
        self.stats.records += lines.sent;
        match listening {
            true => Outcome::Done,
            false => Outcome::Stopped,
        }
    }

    fn unreadable_ref(&mut self, name: &str, error: io::Error) {
        tracing::error!(input = %name, error = %error, "cannot read the input; going on with the next");
        self.stats
            .unreadable
            .push((name.to_string(), error.to_string()));
    }
}

/// How reading one input ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    /// The pipeline stopped listening (shutdown).
    Stopped,
    /// The file ended before its checkpoint: other content; read it again as a new file.
    Shorter,
}

/// The lines of one input, cut into chunks for the pipeline.
struct Lines<'a> {
    tx: &'a mpsc::Sender<SourceMessage>,
    shard: &'a ShardId,
    name: &'a str,
    /// Decoded bytes consumed so far (the position of the last whole line).
    offset: u64,
    arrival_ms: Option<i64>,
    keep_up_to: usize,
    max_record_size: usize,
    chunk: Chunk,
    sent: u64,
}

impl Lines<'_> {
    /// Reads to the end (`Ok(true)`), until the pipeline stops listening (`Ok(false)`), or
    /// until an error, with every whole line before it sent.
    fn read(&mut self, reader: &mut impl BufRead) -> io::Result<bool> {
        loop {
            let start = self.chunk.data.len();
            let line = lines::read_line(reader, &mut self.chunk.data, self.keep_up_to);
            if let Some(e) = line.error {
                self.chunk.partial = Some(start);
                if !self.flush() {
                    return Ok(false);
                }
                return Err(e);
            }
            if line.consumed == 0 {
                return Ok(self.flush());
            }
            let line_start = self.offset;
            self.offset += line.consumed;
            if line.truncated {
                let data = Bytes::copy_from_slice(&self.chunk.data[start..]);
                self.chunk.data.truncate(start);
                let message = format!(
                    "record at bytes {line_start}–{} of {} is {} bytes, above the {}-byte maximum record size; too large to keep whole, the dead letter holds its first {} bytes",
                    self.offset, self.name, line.consumed, self.max_record_size, data.len()
                );
                if !self.send_failed(data, "Decode.RecordTooLarge", message, self.offset) {
                    return Ok(false);
                }
                continue;
            }
            let mut end = self.chunk.data.len();
            while end > start && matches!(self.chunk.data[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            if self.chunk.data[start..end]
                .iter()
                .all(u8::is_ascii_whitespace)
            {
                self.chunk.data.truncate(start);
                continue;
            }
            self.chunk.lines.push((start..end, self.offset));
            let full =
                self.chunk.lines.len() >= CHUNK_RECORDS || self.chunk.data.len() >= CHUNK_BYTES;
            if full && !self.flush() {
                return Ok(false);
            }
        }
    }

    /// Sends the whole lines read so far; false when the pipeline stopped listening.
    fn flush(&mut self) -> bool {
        let chunk = std::mem::take(&mut self.chunk);
        let partial = chunk.partial.map(|at| chunk.data[at..].to_vec());
        if !chunk.lines.is_empty() {
            self.sent += chunk.lines.len() as u64;
            let records = chunk.into_records(self.shard, self.arrival_ms);
            if self
                .tx
                .blocking_send(SourceMessage::Records(records))
                .is_err()
            {
                return false;
            }
        }
        if let Some(partial) = partial {
            self.chunk.data = partial;
            self.chunk.partial = Some(0);
        }
        true
    }

    fn meta(&self, position: u64) -> RecordMeta {
        let arrival_ms = self
            .arrival_ms
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        RecordMeta::at(self.shard.clone(), position, arrival_ms)
    }

    fn send_failed(&mut self, data: Bytes, code: &str, message: String, position: u64) -> bool {
        let failed = FailedRecord {
            data,
            meta: self.meta(position),
            error_type: ErrorOutputType::ProcessingFailed,
            error_code: code.to_string(),
            error_message: message,
            attempts_made: 1,
            destination_fields: Vec::new(),
        };
        self.sent += 1;
        self.tx
            .blocking_send(SourceMessage::Failed(vec![failed]))
            .is_ok()
    }

    /// Dead-letters what a damaged gzip stream left: the partial line decoded before the
    /// damage, then the compressed bytes not decoded, in pieces. Their positions lie past the
    /// decodable end, so once they are checkpointed a rerun knows the damage is dealt with.
    fn dead_letter_damage(&mut self, decoded: Decoded, error: &io::Error) -> bool {
        let partial = std::mem::take(&mut self.chunk.data);
        let decoded_end = self.offset + partial.len() as u64;
        let mut position = decoded_end;
        if !partial.is_empty() {
            position += 1;
            let message = format!(
                "gzip data of {} is damaged after {decoded_end} decompressed bytes ({error}); this is the partial line read before the damage",
                self.name
            );
            if !self.send_failed(
                Bytes::from(partial),
                "Source.DamagedInput",
                message,
                position,
            ) {
                return false;
            }
        }
        let mut rest = decoded.undecoded();
        let mut piece_number = 0;
        loop {
            let mut piece = Vec::with_capacity(DAMAGED_PIECE_BYTES);
            match (&mut rest)
                .take(DAMAGED_PIECE_BYTES as u64)
                .read_to_end(&mut piece)
            {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(file = %self.name, error = %e, "cannot read the rest of a damaged input");
                    return true;
                }
            }
            piece_number += 1;
            position += 1;
            let message = format!(
                "gzip data of {} is damaged after {decoded_end} decompressed bytes ({error}); this is piece {piece_number} of the compressed bytes that follow the damage, kept as they were",
                self.name
            );
            if !self.send_failed(
                Bytes::from(piece),
                "Source.UndecodableInput",
                message,
                position,
            ) {
                return false;
            }
        }
    }
}

/// Lines read into one buffer, shared by the records cut from it.
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    lines: Vec<(std::ops::Range<usize>, u64)>,
    /// Where an unfinished line starts in `data` (an error stopped its read).
    partial: Option<usize>,
}

impl Chunk {
    fn partial_len(&self) -> usize {
        self.partial.map_or(0, |at| self.data.len() - at)
    }

    fn into_records(self, shard: &ShardId, arrival_ms: Option<i64>) -> Vec<Record> {
        let arrival_ms = arrival_ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let end = self.partial.unwrap_or(self.data.len());
        let mut data = self.data;
        data.truncate(end);
        let data = Bytes::from(data);
        self.lines
            .into_iter()
            .map(|(range, position)| Record {
                data: data.slice(range),
                meta: RecordMeta::at(shard.clone(), position, arrival_ms),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
