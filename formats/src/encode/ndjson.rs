//! NDJSON encoder: the batch's records, one per line, compressed whole with a [`Codec`].
//! Records were validated as JSON by the decode step, so nothing is rejected here.

use std::io::Write;

use super::{EncodeError, EncodeOutcome, Encoder};
use crate::compression::Codec;
use crate::record::Batch;

#[derive(Clone, Debug)]
pub struct NdjsonEncoder {
    pub codec: Codec,
    /// gzip 0–9 or zstd 1–22; `None` for the codec's default.
    pub level: Option<i32>,
}

impl Encoder for NdjsonEncoder {
    fn encode(
        &self,
        batch: &Batch,
        out: &mut (dyn Write + Send),
    ) -> Result<EncodeOutcome, EncodeError> {
        let mut writer = self.codec.writer(out, self.level)?;
        writer.write_all(&batch.data)?;
        writer.finish()?.flush()?;
        Ok(EncodeOutcome {
            rows: batch.len(),
            rejected: Vec::new(),
        })
    }

    /// Firehose's: the compression's extension (`.gz`, `.snappy`; `.zst` for zstd, which
    /// Firehose lacks), none when uncompressed.
    fn extension(&self) -> String {
        self.codec.object_suffix().to_string()
    }

    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn content_encoding(&self) -> Option<&'static str> {
        self.codec.content_encoding()
    }
}
