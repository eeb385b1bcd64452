//! Reading one line at a time with a cap on what is kept: a line longer than the cap is
//! still consumed to its end (so the next line starts in the right place), but only its
//! first `cap` bytes are kept — a file with a multi-gigabyte line cannot exhaust memory.

use std::io::{self, BufRead};

/// What one call of [`read_line`] consumed.
#[derive(Debug, Default)]
pub struct LineRead {
    /// Bytes consumed from the input, the newline included; 0 at the end of the input.
    pub consumed: u64,
    /// Bytes of the line appended to the buffer (at most the cap).
    pub kept: usize,
    /// Whether the line was longer than the cap (so `kept < consumed` minus the newline).
    pub truncated: bool,
    /// An error that stopped the read part-way; `consumed` and `kept` say what came before.
    pub error: Option<io::Error>,
}

/// Reads up to and including the next `\n`, appending at most `cap` bytes of it to `buf`.
pub fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, cap: usize) -> LineRead {
    let mut read = LineRead::default();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read.error = Some(e);
                return read;
            }
        };
        if available.is_empty() {
            return read;
        }
        let (piece, done) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..=at], true),
            None => (available, false),
        };
        let room = cap.saturating_sub(read.kept);
        let keep = piece.len().min(room);
        buf.extend_from_slice(&piece[..keep]);
        read.kept += keep;
        // A newline that does not fit is not a kept byte of the line anyway.
        read.truncated |= keep < piece.len() && !(done && keep + 1 == piece.len());
        let used = piece.len();
        read.consumed += used as u64;
        reader.consume(used);
        if done {
            return read;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_consumed_whole_and_kept_up_to_the_cap() {
        let data = b"short\n0123456789abcdef\nlast".to_vec();
        let mut reader = io::BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        let first = read_line(&mut reader, &mut buf, 8);
        assert_eq!((first.consumed, first.kept, first.truncated), (6, 6, false));
        assert_eq!(buf, b"short\n");
        buf.clear();
        let long = read_line(&mut reader, &mut buf, 8);
        assert_eq!((long.consumed, long.kept, long.truncated), (17, 8, true));
        assert_eq!(buf, b"01234567");
        buf.clear();
        let last = read_line(&mut reader, &mut buf, 8);
        assert_eq!((last.consumed, last.kept, last.truncated), (4, 4, false));
        assert_eq!(read_line(&mut reader, &mut buf, 8).consumed, 0);
        // Exactly cap bytes plus the newline is not truncated.
        let mut exact = io::BufReader::new(&b"12345678\n"[..]);
        let mut buf = Vec::new();
        let read = read_line(&mut exact, &mut buf, 8);
        assert!(!read.truncated && read.consumed == 9, "{read:?}");
    }
}
