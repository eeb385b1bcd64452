//! Compression codecs for whole objects (NDJSON output, dead letters, raw backups) and the
//! Parquet page codec choice. Sits at the end of the encode step, just before a sink writes.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

/// The zlib-rs level for a configured gzip level (0–9). zlib-rs's level 1 is a "quick"
/// strategy whose output is about 28 % larger than zlib's level 1 (21.1 MB against pigz's
/// 16.5 MB on S4 of `cargo bench --bench convert`); its level 2 is still faster than zlib's
/// level 1 and smaller (15.0 MB), so level 1 means zlib-rs's level 2: the size a user of
/// gzip -1 expects, at least at gzip -1's speed.
fn gzip_level(configured: i32) -> u32 {
    match configured.clamp(0, 9) {
        1 => 2,
        level => level as u32,
    }
}

/// A compression codec, as named in config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    None,
    Gzip,
    Zstd,
    #[default]
    Snappy,
}

impl Codec {
    /// File-name suffix for an object compressed whole with this codec (empty for none).
    pub fn object_suffix(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip => ".gz",
            Codec::Zstd => ".zst",
            Codec::Snappy => ".snappy",
        }
    }

    /// HTTP `Content-Encoding` for an object compressed whole with this codec.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Codec::None => None,
            Codec::Gzip => Some("gzip"),
            Codec::Zstd => Some("zstd"),
            Codec::Snappy => Some("x-snappy-framed"),
        }
    }

    /// Wraps `out` so that what is written is compressed (gzip and zstd at `level`, or the
    /// codec's default level when `None`; snappy uses the framing format).
    pub fn writer<'a, W: Write + Send + 'a>(
        self,
        out: W,
        level: Option<i32>,
    ) -> io::Result<CompressedWriter<'a, W>> {
        Ok(match self {
            Codec::None => CompressedWriter::Plain(out),
            Codec::Gzip => {
                let level = gzip_level(level.unwrap_or(6));
                CompressedWriter::Gzip(flate2::write::GzEncoder::new(
                    out,
                    flate2::Compression::new(level),
                ))
            }
            Codec::Zstd => {
                CompressedWriter::Zstd(zstd::stream::write::Encoder::new(out, level.unwrap_or(3))?)
            }
            Codec::Snappy => {
                CompressedWriter::Snappy(Box::new(snap::write::FrameEncoder::new(out)))
            }
        })
    }
}

/// A writer that compresses; call [`CompressedWriter::finish`] to write the trailer and get
/// the inner writer back.
pub enum CompressedWriter<'a, W: Write + Send + 'a> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'a, W>),
    Snappy(Box<snap::write::FrameEncoder<W>>),
}

impl<'a, W: Write + Send + 'a> CompressedWriter<'a, W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            CompressedWriter::Plain(w) => Ok(w),
            CompressedWriter::Gzip(w) => w.finish(),
            CompressedWriter::Zstd(w) => w.finish(),
            CompressedWriter::Snappy(w) => w.into_inner().map_err(|e| e.into_error()),
        }
    }
}

impl<'a, W: Write + Send + 'a> Write for CompressedWriter<'a, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            CompressedWriter::Plain(w) => w.write(buf),
            CompressedWriter::Gzip(w) => w.write(buf),
            CompressedWriter::Zstd(w) => w.write(buf),
            CompressedWriter::Snappy(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            CompressedWriter::Plain(w) => w.write_all(buf),
            CompressedWriter::Gzip(w) => w.write_all(buf),
            CompressedWriter::Zstd(w) => w.write_all(buf),
            CompressedWriter::Snappy(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            CompressedWriter::Plain(w) => w.flush(),
            CompressedWriter::Gzip(w) => w.flush(),
            CompressedWriter::Zstd(w) => w.flush(),
            CompressedWriter::Snappy(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn compress(codec: Codec, data: &[u8]) -> Vec<u8> {
        let mut w = codec.writer(Vec::new(), None).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn every_codec_round_trips_through_its_standard_reader() {
        let data = b"{\"a\":1}\n".repeat(1000);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&compress(Codec::Gzip, &data)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(
            zstd::decode_all(&compress(Codec::Zstd, &data)[..]).unwrap(),
            data
        );
        out.clear();
        snap::read::FrameDecoder::new(&compress(Codec::Snappy, &data)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(compress(Codec::None, &data), data);
        assert!(compress(Codec::Gzip, &data).len() < data.len() / 10);
    }

    #[test]
    fn gzip_level_1_keeps_a_zlib_like_ratio() {
        // Log-like lines with some variety, as the NDJSON destinations carry.
        let mut data = Vec::new();
        let mut x: u64 = 7;
        for i in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let line = format!(
                "{{\"ts\":\"2024-05-01T00:{:02}:{:02}Z\",\"level\":\"{}\",\"trace_id\":\"{:016x}\",\"latency_ms\":{},\"n\":{i}}}\n",
                (x >> 8) % 60,
                (x >> 16) % 60,
                ["INFO", "WARN", "ERROR"][(x % 3) as usize],
                x,
                (x >> 24) % 3000
            );
            data.extend_from_slice(line.as_bytes());
        }
        let gzip = |level| {
            let mut w = Codec::Gzip.writer(Vec::new(), Some(level)).unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap().len()
        };
        let (fast, default) = (gzip(1), gzip(6));
        // zlib's level 1 is ~1.25× its level 6 on such data; zlib-rs's own level 1 is ~1.7×.
        assert!(
            fast * 10 < default * 13,
            "level 1: {fast} bytes, level 6: {default}"
        );
    }
}
