//! How a JSON value becomes a column value, and an event time: Spillway's rules in one place,
//! used by the Parquet fast path, by the fallback before arrow-json, by the OpenSearch schema
//! check and by the event-time field of `!{timestamp:…}`, so a column and its partition can
//! never disagree. Where Firehose documents a rule (its OpenX JSON deserializer's timestamps),
//! this follows it; elsewhere the rule is: never silently change a value — refuse it instead,
//! and the record goes to the dead letter with the reason.
//!
//! - **Timestamps.** Text: ISO 8601 / RFC 3339 date-times with `T` or a space, any fraction
//!   of a second, `Z` or an offset (`+02:00`, `+0200`, `+02`) or none (UTC), and the loose
//!   forms `java.sql.Timestamp` takes (`2017-2-7 15:13:01.14`: one-digit month, day, hour,
//!   minute or second), and a date alone (midnight UTC). Numbers are epoch time, told apart by
//!   magnitude: below 10^11 seconds (fractions allowed: `1518033528.123`), below 10^14
//!   milliseconds, below 10^17 microseconds, else nanoseconds. A string of digits is not read
//!   as epoch time (`"20240501"` is refused, not 1970-08-23). Values are kept to the
//!   millisecond, the precision of Spillway's timestamp columns.
//! - **Integers.** A number with a fraction (`1.5`) is refused from an integer column;
//!   `1.0` and `1e3` are integers. Beyond the column's range is refused.
//! - **Floating point.** A number beyond the type's range (`1e400` would be infinity) is
//!   refused, and so is an integer literal the type cannot hold exactly (beyond 2^53 for
//!   `double`, 2^24 for `float`): it would come back as another number. Fractions are
//!   rounded to the nearest binary value, as every reader expects of a `double`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use thiserror::Error;

/// Why a value does not fit its column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("{0} is not a timestamp (ISO 8601 text, or epoch seconds or milliseconds)")]
    NotATimestamp(String),
    #[error("{0} is not an integer")]
    NotAnInteger(String),
    #[error("{0} is beyond the range of {1}")]
    OutOfRange(String, &'static str),
    #[error("{0} has more digits than {1} keeps: it would be stored as another number")]
    Inexact(String, &'static str),
}

/// Epoch time below this is seconds; then milliseconds, microseconds, nanoseconds.
const SECONDS_BELOW: i128 = 100_000_000_000;
const MILLIS_BELOW: i128 = 100_000_000_000_000;
const MICROS_BELOW: i128 = 100_000_000_000_000_000;

/// A JSON number's text as `digits × 10^exponent`, with its sign.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// Without leading zeros; empty for zero.
    digits: String,
    exponent: i32,
}

/// Reads a JSON number (`-12.50e3`); `None` for anything else.
fn decimal(text: &str) -> Option<Decimal> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let digits: String = format!("{whole}{fraction}").trim_start_matches('0').into();
    let exponent = exponent.checked_sub(i32::try_from(fraction.len()).ok()?)?;
    Some(Decimal {
        negative,
        digits,
        exponent,
    })
}

impl Decimal {
    /// The value × 10^`shift`, truncated toward zero; `None` beyond i128.
    fn scaled(&self, shift: i32) -> Option<i128> {
        if self.digits.is_empty() {
            return Some(0);
        }
        let exponent = self.exponent.checked_add(shift)?;
        let magnitude = if exponent >= 0 {
            let base: i128 = self.digits.parse().ok()?;
            base.checked_mul(10i128.checked_pow(u32::try_from(exponent).ok()?)?)?
        } else {
            let cut = usize::try_from(-exponent).ok()?;
            match self.digits.len().checked_sub(cut) {
                Some(0) | None => 0,
                Some(keep) => self.digits[..keep].parse().ok()?,
            }
        };
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// Whether the digits after the point (if any) are all zero.
    fn is_integral(&self) -> bool {
        match usize::try_from(-self.exponent) {
            Ok(cut) if cut > 0 => {
                let tail = &self.digits[self.digits.len().saturating_sub(cut)..];
                tail.bytes().all(|b| b == b'0')
            }
            _ => true,
        }
    }
}

/// Epoch time in a JSON number, by magnitude (see the module doc), in milliseconds.
pub fn timestamp_millis_from_number(text: &str) -> Result<i64, ValueError> {
    let bad = || ValueError::NotATimestamp(text.to_string());
    let number = decimal(text).ok_or_else(bad)?;
    let whole = number.scaled(0).ok_or_else(bad)?.abs();
    let shift = match whole {
        w if w < SECONDS_BELOW => 3,
        w if w < MILLIS_BELOW => 0,
        w if w < MICROS_BELOW => -3,
        _ => -6,
    };
    let millis = number.scaled(shift).ok_or_else(bad)?;
    let millis = i64::try_from(millis).map_err(|_| bad())?;
    DateTime::from_timestamp_millis(millis).ok_or_else(bad)?;
    Ok(millis)
}

/// A date-time in text (see the module doc), in milliseconds since the epoch.
pub fn timestamp_millis_from_text(text: &str) -> Option<i64> {
    let mut s = Scanner { text, pos: 0 };
    let year = s.number(4, 4)?;
    s.expect(b'-')?;
    let month = s.number(1, 2)?;
    s.expect(b'-')?;
    let day = s.number(1, 2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if s.done() {
        return Some(date.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
    }
    s.expect_any(b"T ")?;
    let hour = s.number(1, 2)?;
    s.expect(b':')?;
    let minute = s.number(1, 2)?;
    let (second, nanos) = if s.take(b':') {
        let second = s.number(1, 2)?;
        let nanos = if s.take(b'.') || s.take(b',') {
            s.fraction_nanos()?
        } else {
            0
        };
        (second, nanos)
    } else {
        (0, 0)
    };
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset_seconds = s.offset()?;
    if !s.done() {
        return None;
    }
    let local = NaiveDateTime::new(date, time).and_utc().timestamp_millis();
    local.checked_sub(i64::from(offset_seconds) * 1000)
}

/// Walks a date-time text.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn done(&self) -> bool {
        self.pos == self.text.len()
    }

    fn take(&mut self, byte: u8) -> bool {
        let found = self.text.as_bytes().get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.take(byte).then_some(())
    }

    fn expect_any(&mut self, bytes: &[u8]) -> Option<()> {
        bytes.iter().any(|&b| self.take(b)).then_some(())
    }

    /// `min..=max` digits as a number.
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let digits = self.text.as_bytes()[self.pos..]
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits < min {
            return None;
        }
        let value = self.text[self.pos..self.pos + digits].parse().ok()?;
        self.pos += digits;
        Some(value)
    }

    /// 1 or more digits of a fraction of a second, as nanoseconds (beyond 9 digits cut).
    fn fraction_nanos(&mut self) -> Option<u32> {
        let start = self.pos;
        while self
            .text
            .as_bytes()
            .get(self.pos)
            .is_some_and(u8::is_ascii_digit)
        {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        if digits.is_empty() {
            return None;
        }
        let kept = &digits[..digits.len().min(9)];
        let nanos: u32 = kept.parse().ok()?;
        Some(nanos * 10u32.pow(9 - kept.len() as u32))
    }

    /// `Z`, `±hh`, `±hhmm`, `±hh:mm`, or nothing (UTC): seconds east of UTC.
    fn offset(&mut self) -> Option<i32> {
        if self.take(b'Z') || self.take(b'z') || self.done() {
            return Some(0);
        }
        let sign = match () {
            _ if self.take(b'+') => 1,
            _ if self.take(b'-') => -1,
            _ => return None,
        };
        let hours = self.number(2, 2)?;
        self.take(b':');
        let minutes = if self.done() { 0 } else { self.number(2, 2)? };
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * i32::try_from(hours * 3600 + minutes * 60).ok()?)
    }
}

/// A JSON number for an integer column of `type_name` holding `min..=max`.
pub fn integer_from_number(
    text: &str,
    min: i64,
    max: i64,
    type_name: &'static str,
) -> Result<i64, ValueError> {
    let number = decimal(text).ok_or_else(|| ValueError::NotAnInteger(text.to_string()))?;
    if !number.is_integral() {
        return Err(ValueError::NotAnInteger(text.to_string()));
    }
    let value = number.scaled(0);
    match value.and_then(|v| i64::try_from(v).ok()) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ValueError::OutOfRange(text.to_string(), type_name)),
    }
}

/// A JSON number for a floating-point column: refused beyond the range of `f64` (or `f32`
/// with `single`), or as an integer literal the type cannot hold exactly.
pub fn float_from_number(text: &str, single: bool) -> Result<f64, ValueError> {
    let type_name = if single { "float" } else { "double" };
    let value: f64 = text
        .parse()
        .map_err(|_| ValueError::OutOfRange(text.to_string(), type_name))?;
    let finite = match single {
        true => (value as f32).is_finite(),
        false => value.is_finite(),
    };
    if !finite {
        return Err(ValueError::OutOfRange(text.to_string(), type_name));
    }
    // An integer literal must come back as itself.
    if !text.contains(['.', 'e', 'E']) {
        let stored = match single {
            true => f64::from(value as f32),
            false => value,
        };
        let exact = text
            .parse::<i128>()
            .is_ok_and(|n| stored == n as f64 && stored as i128 == n);
        if !exact {
            return Err(ValueError::Inexact(text.to_string(), type_name));
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn epoch_numbers_are_told_apart_by_magnitude_as_firehose_does() {
        let table = [
            ("1518033528", "2018-02-07T19:58:48Z"),
            ("1518033528.123", "2018-02-07T19:58:48.123Z"),
            ("1518033528123", "2018-02-07T19:58:48.123Z"),
            ("1518033528123456", "2018-02-07T19:58:48.123Z"),
            ("1518033528123456789", "2018-02-07T19:58:48.123Z"),
            ("1714557600", "2024-05-01T10:00:00Z"),
            ("1.5180335281E9", "2018-02-07T19:58:48.1Z"),
            ("0", "1970-01-01T00:00:00Z"),
            ("-1.5", "1969-12-31T23:59:58.5Z"),
        ];
        for (number, want) in table {
            assert_eq!(
                timestamp_millis_from_number(number),
                Ok(at(want)),
                "{number}"
            );
        }
        assert!(timestamp_millis_from_number("1e400").is_err());
        assert!(timestamp_millis_from_number("abc").is_err());
    }

    #[test]
    fn text_timestamps_take_iso_8601_and_the_loose_sql_forms() {
        let table = [
            ("2018-02-07T19:58:48Z", "2018-02-07T19:58:48Z"),
            ("2018-02-07T19:58:48.123456789Z", "2018-02-07T19:58:48.123Z"),
            ("2018-02-07 19:58:48", "2018-02-07T19:58:48Z"),
            ("2017-2-7 15:13:01.14", "2017-02-07T15:13:01.140Z"),
            ("2017-02-07T15:13", "2017-02-07T15:13:00Z"),
            ("2018-02-07T21:58:48+02:00", "2018-02-07T19:58:48Z"),
            ("2018-02-07T21:58:48+0200", "2018-02-07T19:58:48Z"),
            ("2018-02-07T14:58:48-05", "2018-02-07T19:58:48Z"),
            ("2018-02-07", "2018-02-07T00:00:00Z"),
        ];
        for (text, want) in table {
            assert_eq!(timestamp_millis_from_text(text), Some(at(want)), "{text}");
        }
        for bad in [
            "yesterday",
            "20240501",
            "2018-13-01",
            "2018-02-30T00:00:00Z",
            "2018-02-07T25:00:00Z",
            "2018-02-07T19:58:48+25:00",
            "2018-02-07T19:58:48 junk",
            "",
        ] {
            assert_eq!(timestamp_millis_from_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn integers_refuse_fractions_and_their_columns_range() {
        assert_eq!(
            integer_from_number("42", i64::MIN, i64::MAX, "bigint"),
            Ok(42)
        );
        assert_eq!(
            integer_from_number("1.0", i64::MIN, i64::MAX, "bigint"),
            Ok(1)
        );
        assert_eq!(
            integer_from_number("1e3", i64::MIN, i64::MAX, "bigint"),
            Ok(1000)
        );
        assert_eq!(
            integer_from_number("-2.55e1", -100, 100, "int"),
            Err(ValueError::NotAnInteger("-2.55e1".into()))
        );
        assert_eq!(integer_from_number("-2.50e1", -100, 100, "int"), Ok(-25));
        assert_eq!(
            integer_from_number("1.5", i64::MIN, i64::MAX, "bigint")
                .unwrap_err()
                .to_string(),
            "1.5 is not an integer"
        );
        assert!(matches!(
            integer_from_number("3000000000", i32::MIN.into(), i32::MAX.into(), "int"),
            Err(ValueError::OutOfRange(_, "int"))
        ));
        assert!(integer_from_number(
            "123456789012345678901234567890",
            i64::MIN,
            i64::MAX,
            "bigint"
        )
        .is_err());
    }

    #[test]
    fn floats_refuse_infinity_and_integers_they_cannot_hold() {
        assert_eq!(float_from_number("0.1", false), Ok(0.1));
        assert_eq!(float_from_number("1.5e300", false), Ok(1.5e300));
        assert_eq!(
            float_from_number("1e400", false).unwrap_err().to_string(),
            "1e400 is beyond the range of double"
        );
        assert!(matches!(
            float_from_number("123456789012345678901234567890", false),
            Err(ValueError::Inexact(..))
        ));
        assert_eq!(
            float_from_number("9007199254740992", false),
            Ok(9_007_199_254_740_992.0)
        );
        assert!(float_from_number("9007199254740993", false).is_err());
        assert!(float_from_number("1e39", true).is_err(), "beyond f32");
        assert!(float_from_number("16777217", true).is_err());
        assert_eq!(float_from_number("16777216", true), Ok(16_777_216.0));
        assert_eq!(float_from_number("-42", false), Ok(-42.0));
    }
}
