//! What a destination is to the rest of Spillway: a [`DestinationType`] reads its section of
//! the config into a [`Destination`] (its own keys; the shared delivery keys are read once by
//! the caller, see [`crate::settings::DeliveryConfig`]), which says what its evaluated prefix
//! names and which shared settings it takes, and builds its [`Sink`] at start. Each
//! destination lives in a folder of its own and is registered with one word in `lib.rs`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use spillway_formats::prefix::{NameRule, PrefixTemplate};

use crate::aws::{Aws, AwsConnection};
use crate::naming::ObjectNaming;
use crate::settings::Problems;
use crate::sink::{Sink, SinkError};
use crate::store::ObjectStore;

/// A kind of destination: the `type` it answers to and how its section is read.
pub struct DestinationType {
    /// The section's `type`, e.g. `"s3"`.
    pub name: &'static str,
    /// Reads the destination's own keys of the section at `destination`, reporting problems
    /// with their keys; `None` when there were any.
    pub read: fn(&toml::Value, &ReadContext, &mut Problems) -> Option<Box<dyn Destination>>,
    /// The keys of its own structs (any other key, shared ones aside, is refused).
    pub keys: fn() -> Vec<&'static str>,
}

/// What a section is read with, beside its own keys.
pub struct ReadContext<'a> {
    /// The delivery stream's name (e.g. to name what the destination creates for it).
    pub stream: &'a str,
}

/// What a destination's evaluated prefix names, and where the config writes it.
#[derive(Clone, Debug)]
pub struct Target {
    /// The key of the template, e.g. `destination.prefix`, `destination.index`.
    pub key: &'static str,
    /// The template; `None` for Firehose's default prefix.
    pub template: Option<String>,
    pub rule: NameRule,
}

/// Which of the shared delivery settings a destination takes; the others are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// `exactly_once`: objects named from source positions and created only if absent.
    pub exactly_once: bool,
    /// `backup`: every raw record kept beside the destination.
    pub backup: Backup,
    /// `time_zone` and `file_extension`: objects named as Firehose names them.
    pub object_names: bool,
}

/// Whether a destination keeps the source-record backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backup {
    /// Never: a `backup` section is refused, with why.
    Refused(&'static str),
    /// When a `backup` section is given.
    Optional,
    /// Always, under this prefix unless a `backup` section gives another.
    Always { default_prefix: &'static str },
}

/// A destination as configured, checked: ready to build.
#[async_trait]
pub trait Destination: fmt::Debug + Send + Sync {
    /// What its evaluated prefix names.
    fn target(&self) -> Target;

    /// The shared settings it takes.
    fn features(&self) -> Features;

    /// The local folder its data goes to, if it is one: checkpoints go beside it by default.
    fn local_root(&self) -> Option<&Path> {
        None
    }

    /// Whether it has an object store of its own, where the dead letter can go by default.
    fn has_store(&self) -> bool;

    /// Its AWS endpoint settings: a dead letter in S3 uses them too.
    fn aws_connection(&self) -> Option<&AwsConnection> {
        None
    }

    /// The table it registers objects in, if any: `(database, table)`.
    fn catalog_table(&self) -> Option<(&str, &str)> {
        None
    }

    /// Checks that need the evaluated-prefix template (e.g. its partition columns).
    fn check(&self, _prefix: &PrefixTemplate, _p: &mut Problems) {}

    /// Connects and builds the sink.
    async fn build(&self, ctx: &BuildContext<'_>) -> Result<Built, BuildError>;

    /// For tests and tools that look at a particular destination's settings.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What a destination is built with.
pub struct BuildContext<'a> {
    /// The evaluated-prefix template (a prefix, an index or a table name).
    pub prefix: &'a PrefixTemplate,
    pub naming: &'a ObjectNaming,
    pub exactly_once: bool,
    /// How long a start-time check may retry (the retry budget, at most a minute).
    pub check_for: std::time::Duration,
    /// The SDK configuration of the destination's AWS settings, loaded on first use.
    pub aws: &'a Aws,
}

/// A built destination.
pub struct Built {
    pub sink: Arc<dyn Sink>,
    /// Its object store: where the dead letter and the backup go by default.
    pub store: Option<Arc<dyn ObjectStore>>,
    /// Where delivered data is, for people: a folder, `s3://…`, an index, a table.
    pub location: String,
    /// The catalog it registers in, for people.
    pub catalog: Option<String>,
    /// A command that counts what it holds, where there is one.
    pub query: Option<String>,
}

/// Why a destination cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting that only turned out wrong at start (the cluster refused a template, a
    /// table named as the schema source does not exist), with its key.
    #[error("{key}: {message}")]
    Setting { key: &'static str, message: String },
    /// The destination could not be reached or used.
    #[error("{0}")]
    Unavailable(#[from] SinkError),
}

impl BuildError {
    pub fn setting(key: &'static str, message: impl fmt::Display) -> Self {
        BuildError::Setting {
            key,
            message: message.to_string(),
        }
    }
}
