//! Start times and event timestamps: naive UTC date-times, the proleptic Gregorian calendar,
//! millisecond resolution. The day arithmetic is Howard Hinnant's `days_from_civil` /
//! `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).

use std::fmt;
use std::str::FromStr;

use crate::rng::Rng;

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_DAY: i64 = 86_400 * MS_PER_SECOND;

/// The time of the first event, a naive UTC date-time written `YYYY-MM-DDTHH:MM:SS`
/// (e.g. `2024-05-01T00:00:00`, the default). Parse one with [`str::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartTime {
    unix_seconds: i64,
}

impl StartTime {
    /// The default start, `2024-05-01T00:00:00`, as in the Python reference.
    pub const DEFAULT: StartTime = StartTime {
        unix_seconds: 1_714_521_600,
    };

    /// Seconds since 1970-01-01T00:00:00 UTC.
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }
}

impl Default for StartTime {
    fn default() -> StartTime {
        StartTime::DEFAULT
    }
}

impl fmt::Display for StartTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format_unix_ms(self.unix_seconds * MS_PER_SECOND);
        // Without the milliseconds and the Z: the form that parses back.
        f.write_str(&text[..19])
    }
}

/// Why a start time did not parse: the input and the problem, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseStartError {
    input: String,
    problem: String,
}

impl fmt::Display for ParseStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid start time {:?}: {} (expected YYYY-MM-DDTHH:MM:SS, UTC)",
            self.input, self.problem
        )
    }
}

impl std::error::Error for ParseStartError {}

impl FromStr for StartTime {
    type Err = ParseStartError;

    /// Parses exactly `YYYY-MM-DDTHH:MM:SS` (year 0001–9999), checking that the date exists.
    fn from_str(input: &str) -> Result<StartTime, ParseStartError> {
        let error = |problem: String| ParseStartError {
            input: input.to_owned(),
            problem,
        };
        let fields = split_fields(input).ok_or_else(|| error("not of that form".to_owned()))?;
        let [year, month, day, hour, minute, second] = fields;
        if year < 1 {
            return Err(error("year 0000 is out of range".to_owned()));
        }
        if !(1..=12).contains(&month) {
            return Err(error(format!("month {month:02} is out of range")));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(error(format!("{year:04}-{month:02} has no day {day:02}")));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(error(format!(
                "time {hour:02}:{minute:02}:{second:02} is out of range"
            )));
        }
        let days = days_from_civil(year, month, day);
        let unix_seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
        Ok(StartTime { unix_seconds })
    }
}

/// The six numbers of `YYYY-MM-DDTHH:MM:SS`, or `None` when the text is not of that form.
fn split_fields(input: &str) -> Option<[i64; 6]> {
    let bytes = input.as_bytes();
    if bytes.len() != 19 {
        return None;
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, sep)| bytes[at] != sep) {
        return None;
    }
    let spans = [(0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19)];
    let mut fields = [0; 6];
    for (field, (from, to)) in fields.iter_mut().zip(spans) {
        *field = parse_digits(&bytes[from..to])?;
    }
    Some(fields)
}

/// The value of a run of ASCII digits (no sign, no spaces), or `None`.
fn parse_digits(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + i64::from(b - b'0'))
    })
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (negative before it).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // [0, 399]
    let month_from_march = (month + 9) % 12; // March = 0 … February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month, day) that is `days` after 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a time in milliseconds since the Unix epoch.
pub(crate) fn format_unix_ms(unix_ms: i64) -> String {
    let (year, month, day) = civil_from_days(unix_ms.div_euclid(MS_PER_DAY));
    let ms_of_day = unix_ms.rem_euclid(MS_PER_DAY);
    let hour = ms_of_day / 3_600_000;
    let minute = ms_of_day / 60_000 % 60;
    let second = ms_of_day / 1_000 % 60;
    let milli = ms_of_day % 1_000;
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// Event time like the reference's `Clock`: every record moves the clock 0–12 ms on (6 ms on
/// average), and each timestamp lies 0–50 ms before the clock, so neighbouring records can be
/// slightly out of order and the first ones can precede the start by up to 50 ms.
pub(crate) struct Clock {
    start_ms: i64,
    elapsed_ms: i64,
}

impl Clock {
    pub(crate) fn new(start: StartTime) -> Clock {
        Clock {
            start_ms: start.unix_seconds * MS_PER_SECOND,
            elapsed_ms: 0,
        }
    }

    /// The next record's timestamp, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub(crate) fn next_ts(&mut self, rng: &mut Rng) -> String {
        self.elapsed_ms += rng.range(0, 12) as i64;
        let jitter_ms = rng.range(0, 50) as i64;
        format_unix_ms(self.start_ms + self.elapsed_ms - jitter_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(text: &str) -> StartTime {
        text.parse().unwrap()
    }

    fn problem(text: &str) -> String {
        text.parse::<StartTime>().unwrap_err().to_string()
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(start("2024-05-01T00:00:00").unix_seconds(), 1_714_521_600);
        assert_eq!(start("2024-02-29T12:34:56").unix_seconds(), 1_709_210_096);
        assert_eq!(start("1900-03-01T00:00:00").unix_seconds(), -2_203_891_200);
        assert_eq!(start("0001-01-01T00:00:00").unix_seconds(), -62_135_596_800);
        assert_eq!(start("9999-12-31T23:59:59").unix_seconds(), 253_402_300_799);
    }

    #[test]
    fn civil_round_trip() {
        for days in -800_000..800_000 {
            let (year, month, day) = civil_from_days(days);
            assert!((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month));
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn formats_milliseconds_across_midnight_and_before_the_epoch() {
        let t = start("2023-12-31T23:59:59").unix_seconds() * 1000;
        assert_eq!(format_unix_ms(t + 999), "2023-12-31T23:59:59.999Z");
        assert_eq!(format_unix_ms(t + 1000), "2024-01-01T00:00:00.000Z");
        assert_eq!(format_unix_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn default_and_display() {
        assert_eq!(StartTime::default(), start("2024-05-01T00:00:00"));
        assert_eq!(StartTime::DEFAULT.to_string(), "2024-05-01T00:00:00");
        assert_eq!(
            start("2024-02-29T01:02:03").to_string(),
            "2024-02-29T01:02:03"
        );
    }

    #[test]
    fn start_parse_errors_name_the_problem() {
        for not_the_form in [
            "",
            "2024-05-01",
            "2024-05-01 00:00:00",
            "2024-05-01T00:00:00Z",
            "2024-05-01T00:00:00.000",
            "2024/05/01T00:00:00",
            "2024-5-01T00:00:000",
            "+024-05-01T00:00:00",
            "2024-05-01T0a:00:00",
        ] {
            assert!(
                problem(not_the_form).contains("not of that form"),
                "{not_the_form:?}: {}",
                problem(not_the_form)
            );
        }
        assert!(problem("2024-13-01T00:00:00").contains("month 13"));
        assert!(problem("2024-00-01T00:00:00").contains("month 00"));
        assert!(problem("2023-02-29T00:00:00").contains("2023-02 has no day 29"));
        assert!(problem("2024-04-31T00:00:00").contains("2024-04 has no day 31"));
        assert!(problem("2024-05-00T00:00:00").contains("no day 00"));
        assert!(problem("2024-05-01T24:00:00").contains("time 24:00:00"));
        assert!(problem("2024-05-01T00:60:00").contains("out of range"));
        assert!(problem("2024-05-01T00:00:60").contains("out of range"));
        assert!(problem("0000-01-01T00:00:00").contains("year 0000"));
        let message = problem("yesterday");
        assert!(message.contains("\"yesterday\""), "{message}");
        assert!(message.contains("YYYY-MM-DDTHH:MM:SS"), "{message}");
    }

    #[test]
    fn clock_advances_a_few_ms_per_record_with_jitter() {
        let mut rng = Rng::new(5);
        let mut clock = Clock::new(start("2024-05-01T00:00:00"));
        let first = clock.next_ts(&mut rng);
        assert!(
            first.as_str() >= "2024-04-30T23:59:59.950Z"
                && first.as_str() <= "2024-05-01T00:00:00.012Z",
            "{first}"
        );
        for _ in 0..9_999 {
            clock.next_ts(&mut rng);
        }
        // 10,000 records at 6 ms on average: about a minute.
        assert!(clock.elapsed_ms > 55_000 && clock.elapsed_ms < 65_000);
    }
}
