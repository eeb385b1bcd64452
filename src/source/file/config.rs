//! The file source's section (`type = "file"`): a file, a folder or `-` for stdin, and where
//! its read positions are checkpointed; and its start — the checkpoint store opened under
//! the lock taken for it, the reader resumed after the stored positions on a blocking thread.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use spillway_sinks::settings::{check_folder, read_section, Problems};

use super::{read_inputs, ArrivalTime, FileSourceOptions, InputSpec, Resume};
use crate::checkpoint::{Checkpoint, CheckpointStore, FileCheckpointStore, FileSegmentLog, SegmentLog};
use crate::source::{Source, SourceType, StartContext, StartedSource};

/// How often checkpoints are written while running.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

pub const TYPE: SourceType = SourceType {
    name: "file",
    read: |table, _, p| Some(Box::new(read(table, p)?)),
};

/// NDJSON from a file, every file of a folder (sorted by name), or `-` for stdin;
/// gzip-compressed input is detected and accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// File, folder or `-`.
    pub path: String,
    /// Where read positions are checkpointed, so a rerun resumes after the last durable
    /// record. Default: `<lake>/_checkpoints/<name>.json` for a local destination,
    /// `.spillway/checkpoints/<name>.json` otherwise.
    #[serde(default)]
    pub checkpoint_file: Option<PathBuf>,
}

/// A checked file source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSource {
    pub input: InputSpec,
    /// Where read positions are kept; `None` for stdin (nothing to resume).
    pub checkpoint_file: Option<PathBuf>,
}

fn read(table: &toml::Value, p: &mut Problems) -> Option<FileSource> {
    let c: FileSourceConfig = read_section(table, "source", p).ok()?;
    let before = p.count();
    if let Some(file) = &c.checkpoint_file {
        check_folder("source.checkpoint_file", file, p);
    }
    let input = if c.path == "-" {
        InputSpec::Stdin
    } else if c.path.is_empty() {
        p.add(
            "source.path",
            "is empty: give a file, a folder, or - for stdin (an unset ${VAR:-} gives an empty value)",
        );
        InputSpec::Path(PathBuf::new())
    } else {
        let path = PathBuf::from(c.path);
        if !path.exists() {
            p.add(
                "source.path",
                format!("no such file or folder: {}", path.display()),
            );
        }
        InputSpec::Path(path)
    };
    let checkpoint_file = match input {
        InputSpec::Stdin => None,
        InputSpec::Path(_) => c.checkpoint_file,
    };
    (p.count() == before).then_some(FileSource {
        input,
        checkpoint_file,
    })
}

#[async_trait]
impl Source for FileSource {
    fn rereadable(&self) -> bool {
        self.input != InputSpec::Stdin
    }

    fn checkpoint_file(&self) -> Option<&Path> {
        self.checkpoint_file.as_deref()
    }

    fn default_checkpoint_file(&mut self, path: PathBuf) {
        if self.checkpoint_file.is_none() && self.input != InputSpec::Stdin {
            self.checkpoint_file = Some(path);
        }
    }

    async fn start(&self, ctx: StartContext) -> anyhow::Result<StartedSource> {
        let store = match (&self.checkpoint_file, ctx.lock) {
            (Some(path), Some(lock)) => Some(FileCheckpointStore::open(path, lock)?),
            _ => None,
        };
        let resume = store
            .as_ref()
            .map(|s| Resume {
                checkpoints: s.checkpoints().clone(),
                identities: s.identities(),
            })
            .unwrap_or_default();
        let positions = resume.checkpoints.iter().map(|(shard, c)| {
            let checkpoint = Checkpoint {
                position: c.position,
                sequence: None,
                sub_sequence: None,
            };
            (shard.clone(), checkpoint)
        });
        ctx.stored.record(&positions.collect());
        let segment_log = match &self.checkpoint_file {
            Some(path) if ctx.exactly_once => {
                let log = FileSegmentLog::open(&FileSegmentLog::beside(path))?;
                Some(Arc::new(log) as Arc<dyn SegmentLog>)
            }
            _ => None,
        };
        let options = FileSourceOptions {
            arrival: match ctx.exactly_once {
                true => ArrivalTime::FileModified,
                false => ArrivalTime::Read,
            },
            max_record_size: ctx.max_record_size,
        };
        let input = self.input.clone();
        let tx = ctx.tx;
        let task =
            tokio::task::spawn_blocking(move || Ok(read_inputs(&input, &resume, &options, &tx)?));
        Ok(StartedSource {
            task,
            checkpoints: store.map(|s| Box::new(s) as Box<dyn CheckpointStore>),
            checkpoint_every: CHECKPOINT_EVERY,
            segment_log,
            fence: None,
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
