//! The fast path's JSON reader: a cursor over one record's text that reads strings (with
//! escapes), numbers and literals a token at a time, skips what no column wants, and reads
//! the common UTC timestamp shape without a general parser.

use super::{GiveUp, Step};

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, the shape almost every
/// producer writes; `None` for anything else, which [`timestamp_millis_from_text`] then decides.
/// Digits past the millisecond are dropped, as `timestamp_millis` does.
#[inline]
pub(super) fn utc_millis(text: &[u8]) -> Option<i64> {
    if text.len() < 20 || *text.last()? != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        text[range].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| text[i] != c) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let fraction = &text[19..text.len() - 1];
    let millis = match fraction {
        [] => 0,
        [b'.', rest @ ..] if (1..=9).contains(&rest.len()) => {
            let all = digits(20..text.len() - 1)?;
            all / 10u32.pow(rest.len().saturating_sub(3) as u32)
                * 10u32.pow(3u32.saturating_sub(rest.len() as u32))
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day == 0
        || day > month_days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's `days_from_civil`).
    let (y, m, d) = (
        i64::from(year) - i64::from(month <= 2),
        i64::from(month),
        i64::from(day),
    );
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1000 + i64::from(millis))
}

/// Whether `hay` starts with `needle` (non-empty), compared a word at a time, the last word
/// overlapping the one before: keys are short, and a call to `memcmp` costs more than this.
#[inline]
pub(super) fn starts_with(hay: &[u8], needle: &[u8]) -> bool {
    let n = needle.len();
    if n == 0 || hay.len() < n {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
    let half = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap());
    match n {
        1..=3 => hay[..n].iter().zip(needle).all(|(a, b)| a == b),
        4..=7 => half(hay, 0) == half(needle, 0) && half(hay, n - 4) == half(needle, n - 4),
        _ => {
            let mut at = 0;
            while at + 8 < n {
                if word(hay, at) != word(needle, at) {
                    return false;
                }
                at += 8;
            }
            word(hay, n - 8) == word(needle, n - 8)
        }
    }
}

/// The index in `bytes` of the first `"` or `\\` at or after `start`, scanning eight bytes at
/// a time (most strings are short, where `memchr2`'s setup costs more than the scan).
#[inline]
pub(super) fn find_quote_or_backslash(bytes: &[u8], start: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = start;
    while i + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte of `quote` or `backslash` is zero where `word` has that character; the
        // lowest flagged byte is exact (borrows only spill into higher bytes).
        let found =
            (quote.wrapping_sub(ONES) & !quote | backslash.wrapping_sub(ONES) & !backslash) & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|p| i + p)
}

/// Nesting deeper than this is left to arrow-json.
pub(super) const MAX_SKIP_DEPTH: usize = 64;

/// A position in one record's text.
pub(super) struct Cursor<'a, 's> {
    pub(super) text: &'a str,
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    /// Where strings with escapes are unescaped.
    pub(super) scratch: &'s mut String,
}

impl<'a> Cursor<'a, '_> {
    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub(super) fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    #[inline]
    pub(super) fn take(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    #[inline]
    pub(super) fn expect(&mut self, byte: u8) -> Step {
        if self.take(byte) {
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    #[inline]
    pub(super) fn take_literal(&mut self, literal: &str) -> bool {
        let found = self.bytes[self.pos..].starts_with(literal.as_bytes());
        if found {
            self.pos += literal.len();
        }
        found
    }

    #[inline]
    pub(super) fn boolean(&mut self) -> Step<bool> {
        if self.take_literal("true") {
            Ok(true)
        } else if self.take_literal("false") {
            Ok(false)
        } else {
            Err(GiveUp)
        }
    }

    /// A string without escapes, borrowed from the record (object keys).
    #[inline]
    pub(super) fn plain_string(&mut self) -> Step<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = find_quote_or_backslash(self.bytes, start).ok_or(GiveUp)?;
        if self.bytes[end] != b'"' {
            return Err(GiveUp);
        }
        self.pos = end + 1;
        Ok(&self.text[start..end])
    }

    /// A string value, unescaped.
    #[inline]
    pub(super) fn string(&mut self) -> Step<&str> {
        self.expect(b'"')?;
        let start = self.pos;
        let first = find_quote_or_backslash(self.bytes, start).ok_or(GiveUp)?;
        if self.bytes[first] == b'"' {
            self.pos = first + 1;
            return Ok(&self.text[start..first]);
        }
        self.scratch.clear();
        self.scratch.push_str(&self.text[start..first]);
        self.pos = first;
        loop {
            let rest = &self.bytes[self.pos..];
            let next = memchr::memchr2(b'"', b'\\', rest).ok_or(GiveUp)?;
            self.scratch.push_str(&self.text[self.pos..self.pos + next]);
            self.pos += next;
            if self.bytes[self.pos] == b'"' {
                self.pos += 1;
                return Ok(self.scratch.as_str());
            }
            let escaped = *self.bytes.get(self.pos + 1).ok_or(GiveUp)?;
            self.pos += 2;
            let c = match escaped {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = self.text.get(self.pos..self.pos + 4).ok_or(GiveUp)?;
                    // Four hex digits exactly (`from_str_radix` would take a sign too).
                    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(GiveUp);
                    }
                    let code = u32::from_str_radix(hex, 16).map_err(|_| GiveUp)?;
                    self.pos += 4;
                    // Surrogate pairs are left to arrow-json.
                    char::from_u32(code).ok_or(GiveUp)?
                }
                _ => return Err(GiveUp),
            };
            self.scratch.push(c);
        }
    }

    /// The text of a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    #[inline]
    pub(super) fn number(&mut self) -> Step<&'a str> {
        let start = self.pos;
        self.take(b'-');
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(GiveUp),
        }
        if self.take(b'.') {
            self.digits()?;
        }
        if self.take(b'e') || self.take(b'E') {
            if !self.take(b'+') {
                self.take(b'-');
            }
            self.digits()?;
        }
        Ok(&self.text[start..self.pos])
    }

    /// An integer literal (no fraction, no exponent) that fits `T`.
    #[inline]
    pub(super) fn integer<T: TryFrom<i64>>(&mut self) -> Step<T> {
        let negative = self.take(b'-');
        let start = self.pos;
        // Up to 18 digits cannot overflow a u64; longer literals take the checked path.
        let mut magnitude: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(digit - b'0')))
                .ok_or(GiveUp)?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return Err(GiveUp); // no digits, or a leading zero
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(GiveUp);
        }
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude).ok_or(GiveUp)?
        } else {
            i64::try_from(magnitude).map_err(|_| GiveUp)?
        };
        T::try_from(value).map_err(|_| GiveUp)
    }

    #[inline]
    pub(super) fn skip_digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    #[inline]
    pub(super) fn digits(&mut self) -> Step {
        let start = self.pos;
        self.skip_digits();
        if self.pos == start {
            Err(GiveUp)
        } else {
            Ok(())
        }
    }

    /// Skips one value of a field that is not in the schema.
    #[inline]
    pub(super) fn skip_value(&mut self, depth: usize) -> Step {
        if depth > MAX_SKIP_DEPTH {
            return Err(GiveUp);
        }
        match self.peek().ok_or(GiveUp)? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let close = if self.take(b'{') {
                    b'}'
                } else {
                    self.pos += 1;
                    b']'
                };
                self.skip_whitespace();
                if self.take(close) {
                    return Ok(());
                }
                loop {
                    self.skip_whitespace();
                    if close == b'}' {
                        self.string()?;
                        self.skip_whitespace();
                        self.expect(b':')?;
                        self.skip_whitespace();
                    }
                    self.skip_value(depth + 1)?;
                    self.skip_whitespace();
                    if self.take(close) {
                        return Ok(());
                    }
                    self.expect(b',')?;
                }
            }
            b't' | b'f' => self.boolean().map(drop),
            b'n' if self.take_literal("null") => Ok(()),
            _ => self.number().map(drop),
        }
    }
}
