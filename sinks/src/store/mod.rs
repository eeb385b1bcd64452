//! Object stores: where object destinations, dead letters and backups put their bytes — a
//! local folder or an S3 bucket — behind one small trait, so the object sink, the dead letter
//! and the backup are written once. Writers are used from a blocking thread (the encoder
//! writes straight into them) and an object becomes visible only when it is finished.

mod local;
mod s3;

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use async_trait::async_trait;

pub use self::local::LocalStore;
pub use self::s3::{Encryption, S3Options, S3Store, MIN_PART_SIZE};
use crate::sink::{ErrorClass, ErrorKind, SinkError};

/// The error a writer's `finish` returns when `PutOptions::if_absent` is set and the key is
/// taken (nothing was written): of kind [`ErrorKind::AlreadyExists`].
pub fn already_exists(message: impl Into<String>) -> SinkError {
    SinkError::permanent("Object.AlreadyExists", message).of_kind(ErrorKind::AlreadyExists)
}

/// Object metadata that depends on the format, and how to create the object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutOptions {
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
    /// Create the object only if its key is free (S3 `If-None-Match: *`); a taken key ends
    /// in an [`already_exists`] error.
    pub if_absent: bool,
    /// Asked before each request that sends the object's data and right before it is
    /// published; an error abandons the object unpublished.
    pub guard: Option<WriteGuard>,
}

/// A check a writer makes before each write it starts and before it publishes (a batch's
/// lease fence: a worker that lost the lease must not complete the object).
#[derive(Clone)]
pub struct WriteGuard(pub Arc<dyn Fn() -> Result<(), SinkError> + Send + Sync>);

impl WriteGuard {
    /// `Ok` when the writer may go on.
    pub fn check(guard: &Option<WriteGuard>) -> Result<(), SinkError> {
        guard.as_ref().map_or(Ok(()), |g| (g.0)())
    }
}

impl fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteGuard")
    }
}

impl PartialEq for WriteGuard {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for WriteGuard {}

/// A place objects are written.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Firehose-style destination name for metrics and logs: `S3`, `LocalLake`.
    fn destination_name(&self) -> &'static str;

    /// Where `key` lives, for people: `s3://bucket/key` or a path.
    fn url(&self, key: &str) -> String;

    /// Starts an object that a blocking thread writes; it is visible only once finished.
    fn writer(&self, key: &str, options: &PutOptions) -> Result<Box<dyn ObjectWriter>, SinkError>;

    /// Writes a whole small object.
    async fn put(&self, key: &str, body: Vec<u8>, options: &PutOptions) -> Result<(), SinkError>;

    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, SinkError>;

    async fn get(&self, key: &str) -> Result<Vec<u8>, SinkError>;

    /// Removes one object (an absent one is no error).
    async fn delete(&self, key: &str) -> Result<(), SinkError>;

    /// Removes what a crash left under `prefix` (temp files, unfinished multipart uploads of
    /// objects whose name starts with `name_start`, e.g. `clickstream-1-`); returns how many.
    async fn clean_up_after_crash(
        &self,
        prefix: &str,
        name_start: &str,
    ) -> Result<usize, SinkError>;
}

/// An object being written. Dropping it unfinished discards it.
pub trait ObjectWriter: Write + Send {
    /// Publishes the object; returns its size in bytes. With `if_absent`, a taken key is an
    /// [`already_exists`] error and the existing object is left as it is.
    fn finish(self: Box<Self>) -> Result<u64, SinkError>;
    /// Discards the object.
    fn abort(self: Box<Self>);
}

/// Wraps a classified error so it survives a trip through `io::Write`.
pub fn into_io(error: SinkError) -> io::Error {
    io::Error::other(error)
}

/// Recovers the classified error of a writer from an `io::Error`, or classifies a plain one:
/// a full disk and most I/O errors may pass; permission problems will not.
pub fn from_io(error: io::Error, context: &str) -> SinkError {
    let kind = error.kind();
    match error
        .into_inner()
        .map(|inner| inner.downcast::<SinkError>())
    {
        Some(Ok(sink_error)) => *sink_error,
        Some(Err(inner)) => classify_io(kind, format!("{context}: {inner}")),
        None => classify_io(kind, format!("{context}: {kind}")),
    }
}

fn classify_io(kind: io::ErrorKind, message: String) -> SinkError {
    let class = match kind {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            ErrorClass::Permanent
        }
        _ => ErrorClass::Retryable,
    };
    SinkError::new(class, "Io", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classified_errors_survive_io_and_plain_ones_are_classified() {
        let e = from_io(
            into_io(SinkError::permanent("S3.NoSuchBucket", "gone")),
            "ctx",
        );
        assert_eq!(
            (e.class, e.code.as_str()),
            (ErrorClass::Permanent, "S3.NoSuchBucket")
        );
        let full = from_io(
            io::Error::new(io::ErrorKind::StorageFull, "disk full"),
            "writing x",
        );
        assert_eq!(full.class, ErrorClass::Retryable);
        assert!(full.message.contains("writing x: disk full"));
        let denied = from_io(
            io::Error::from(io::ErrorKind::PermissionDenied),
            "writing y",
        );
        assert_eq!(denied.class, ErrorClass::Permanent);
    }
}
