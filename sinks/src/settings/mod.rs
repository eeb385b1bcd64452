//! Reading configuration sections, shared by every destination and source: human sizes and
//! durations, problems collected with the key they are about, a section read into its struct
//! with the failing key named (and unknown keys refused), and the delivery settings every
//! destination shares ([`DeliveryConfig`]), written once.

mod delivery;
mod section;
mod size;

pub use self::delivery::{BackupConfig, BufferingConfig, DeliveryConfig};
pub use self::section::{field_names, read_section, refuse_unknown_keys, SectionError};
pub use self::size::{HumanDuration, HumanSize};

use std::fmt;

/// One thing wrong with a config, at a key path such as `destination.buffering.size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found, not just the first.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<ConfigProblem>);

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem::new(path, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems so far: compare before and after a check to see whether it added any.
    pub fn count(&self) -> usize {
        self.0.len()
    }
}

/// A path that must name something: an empty one would mean the current folder (an unset
/// `${VAR:-}` gives one), which is never what a delivery stream should write into.
pub fn check_folder(key: &str, path: &std::path::Path, p: &mut Problems) {
    if path.as_os_str().is_empty() {
        p.add(
            key,
            "is empty; give a folder (an unset ${VAR:-} gives an empty value)",
        );
    }
}
