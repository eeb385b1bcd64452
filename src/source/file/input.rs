//! Opening one input of the file source: a file (with the identity its checkpoint is matched
//! against) or stdin, and gzip recognised by its magic bytes in both. Also what is left of a
//! damaged gzip stream, so the source can keep it in the dead letter.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use md5::{Digest, Md5};

use crate::checkpoint::FileIdentity;

/// Leading bytes of a file that its fingerprint covers (fewer in a smaller file).
pub const FINGERPRINT_BYTES: usize = 1024;

type RawReader = io::Chain<Cursor<Vec<u8>>, Box<dyn Read + Send>>;

/// An input as it is read: plain, or gzip-decoded.
pub enum Decoded {
    Plain(RawReader),
    Gzip(Box<MultiGzDecoder<BufReader<RawReader>>>),
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
        }
    }
}

impl Decoded {
    pub fn is_gzip(&self) -> bool {
        matches!(self, Decoded::Gzip(_))
    }

    /// Whether `error` from reading means the compressed data is damaged (as opposed to the
    /// file or pipe failing to read).
    pub fn is_damage(&self, error: &io::Error) -> bool {
        self.is_gzip()
            && matches!(
                error.kind(),
                io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::UnexpectedEof
            )
    }

    /// The compressed bytes a damaged gzip stream had not decoded yet (the decoder's
    /// read-ahead included), to be kept as they are.
    pub fn undecoded(self) -> Box<dyn Read + Send> {
        match self {
            Decoded::Plain(_) => Box::new(io::empty()),
            Decoded::Gzip(decoder) => Box::new(decoder.into_inner()),
        }
    }
}

/// Reads two bytes to tell gzip from plain text, then gives back a reader of everything.
pub fn decode(mut raw: Box<dyn Read + Send>) -> io::Result<Decoded> {
    let mut magic = Vec::with_capacity(2);
    (&mut raw).take(2).read_to_end(&mut magic)?;
    let gzip = magic == [0x1f, 0x8b];
    let whole = Cursor::new(magic).chain(raw);
    Ok(match gzip {
        true => Decoded::Gzip(Box::new(MultiGzDecoder::new(BufReader::new(whole)))),
        false => Decoded::Plain(whole),
    })
}

/// An opened input file: its reader (at byte 0), its identity and its first bytes.
pub struct OpenedFile {
    pub file: File,
    pub identity: FileIdentity,
    /// The first [`FINGERPRINT_BYTES`] bytes (or the whole of a smaller file).
    pub head: Vec<u8>,
    /// Size in bytes when opened.
    pub len: u64,
}

impl OpenedFile {
    /// Whether the file is gzip (its positions are then decoded bytes, not file bytes).
    pub fn is_gzip(&self) -> bool {
        self.head.starts_with(&[0x1f, 0x8b])
    }
}

/// Opens `path` and reads what identifies it.
pub fn open_file(path: &Path) -> io::Result<OpenedFile> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a folder"));
    }
    let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
    (&mut file)
        .take(FINGERPRINT_BYTES as u64)
        .read_to_end(&mut head)?;
    let file = {
        use std::io::Seek;
        let mut file = file;
        file.rewind()?;
        file
    };
    Ok(OpenedFile {
        identity: FileIdentity {
            device: meta.dev(),
            inode: meta.ino(),
            fingerprint_bytes: head.len() as u64,
            fingerprint: fingerprint(&head),
        },
        head,
        len: meta.len(),
        file,
    })
}

/// MD5 of `bytes`, hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the opened file is the one `stored` describes: the same inode, and the same
/// bytes where the stored fingerprint was taken (a file that only grew still matches).
pub fn is_same_file(opened: &OpenedFile, stored: &FileIdentity) -> bool {
    let covered = stored.fingerprint_bytes as usize;
    opened.identity.inode == stored.inode
        && opened.head.len() >= covered
        && fingerprint(&opened.head[..covered]) == stored.fingerprint
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn read_all(decoded: &mut Decoded) -> Vec<u8> {
        let mut out = Vec::new();
        decoded.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn gzip_is_recognised_by_its_magic_bytes_on_any_reader() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n").unwrap();
        let compressed = gz.finish().unwrap();
        let mut decoded = decode(Box::new(Cursor::new(compressed))).unwrap();
        assert!(decoded.is_gzip());
        assert_eq!(read_all(&mut decoded), b"{\"a\":1}\n");
        let mut plain = decode(Box::new(Cursor::new(b"{}\n".to_vec()))).unwrap();
        assert!(!plain.is_gzip());
        assert_eq!(read_all(&mut plain), b"{}\n");
        let mut one_byte = decode(Box::new(Cursor::new(b"x".to_vec()))).unwrap();
        assert_eq!(read_all(&mut one_byte), b"x");
    }

    #[test]
    fn a_file_that_grew_is_the_same_file_and_a_rewritten_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        std::fs::write(&path, b"{\"n\":1}\n").unwrap();
        let first = open_file(&path).unwrap();
        assert_eq!(first.identity.fingerprint_bytes, 8);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[b'x'; 3000])
            .unwrap();
        let grown = open_file(&path).unwrap();
        assert_eq!(grown.identity.fingerprint_bytes, FINGERPRINT_BYTES as u64);
        assert!(is_same_file(&grown, &first.identity));
        // Same inode, new first bytes (copytruncate-style rewrite).
        std::fs::write(&path, b"{\"n\":2}\n").unwrap();
        assert!(!is_same_file(&open_file(&path).unwrap(), &first.identity));
        // Same bytes, new file (rotated and recreated).
        std::fs::remove_file(&path).unwrap();
        let keep = dir.path().join("keep");
        std::fs::write(&keep, b"hold the inode").unwrap();
        std::fs::write(&path, b"{\"n\":1}\n").unwrap();
        let recreated = open_file(&path).unwrap();
        assert_ne!(recreated.identity.inode, first.identity.inode);
        assert!(!is_same_file(&recreated, &first.identity));
    }
}
