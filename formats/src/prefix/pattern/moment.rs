//! An instant seen in a zone: every value and text a field prints, with Java's US week
//! rules (weeks start on Sunday; the week holding January 1st is week 1) and Java's
//! "last rules forever" for instants past the end of the zone tables.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::OffsetComponents;

use super::letters::Style::{Full, Narrow, Short};
use super::letters::{Style, Text, Value};
use super::zone::{java_daylight, zone_names, Zone};

const MONTHS: [[&str; 12]; 3] = [
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"],
];

/// From Monday.
const DAYS: [[&str; 7]; 3] = [
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    ["M", "T", "W", "T", "F", "S", "S"],
];

const QUARTERS: [[&str; 4]; 3] = [
    ["Q1", "Q2", "Q3", "Q4"],
    ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"],
    ["1", "2", "3", "4"],
];

/// BC, AD.
const ERAS: [[&str; 2]; 3] = [["BC", "AD"], ["Before Christ", "Anno Domini"], ["B", "A"]];

/// The US week: Java's `WeekFields.of(Locale.US)`.
const FIRST_DAY_OF_WEEK: u32 = 7; // ISO day number of Sunday
const MINIMAL_DAYS_IN_FIRST_WEEK: i64 = 1;

/// An instant seen in a zone: everything a field prints.
pub(super) struct Moment {
    pub(super) local: NaiveDateTime,
    /// Seconds east of UTC.
    pub(super) offset: i32,
    pub(super) zone: Zone,
    /// Whether Java's zone text would use the daylight-saving name.
    daylight: bool,
}

impl Moment {
    pub(super) fn new(instant: DateTime<Utc>, zone: Zone) -> Self {
        match zone {
            Zone::Utc => Moment {
                local: instant.naive_utc(),
                offset: 0,
                zone,
                daylight: false,
            },
            Zone::Region(tz) => {
                let rules = tz.offset_from_utc_datetime(&rules_instant(instant.naive_utc()));
                let offset = rules.fix();
                let dst = rules.dst_offset().num_seconds();
                let seconds = offset.local_minus_utc();
                Moment {
                    local: instant.with_timezone(&offset).naive_local(),
                    offset: seconds,
                    zone,
                    daylight: java_daylight(tz, instant.timestamp(), seconds, dst),
                }
            }
        }
    }

    pub(super) fn date(&self) -> NaiveDate {
        self.local.date()
    }

    /// Java has no leap seconds: chrono's leap-second nanos are clamped into the second.
    pub(super) fn nano(&self) -> i64 {
        i64::from(self.local.nanosecond().min(999_999_999))
    }

    pub(super) fn minute_of_day(&self) -> u32 {
        self.local.hour() * 60 + self.local.minute()
    }

    pub(super) fn value(&self, value: Value) -> i64 {
        let date = self.date();
        let hour = i64::from(self.local.hour());
        let second_of_day = i64::from(self.local.num_seconds_from_midnight().min(86_399));
        match value {
            Value::YearOfEra if date.year() < 1 => 1 - i64::from(date.year()),
            Value::YearOfEra | Value::Year => i64::from(date.year()),
            Value::Quarter => i64::from(date.month0() / 3 + 1),
            Value::Month => i64::from(date.month()),
            Value::DayOfYear => i64::from(date.ordinal()),
            Value::DayOfMonth => i64::from(date.day()),
            Value::AlignedDayOfWeekInMonth => i64::from(date.day0() % 7 + 1),
            Value::LocalDayOfWeek => local_day_of_week(date),
            Value::HourOfDay => hour,
            Value::ClockHourOfDay if hour == 0 => 24,
            Value::ClockHourOfDay => hour,
            Value::HourOfAmPm => hour % 12,
            Value::ClockHourOfAmPm if hour % 12 == 0 => 12,
            Value::ClockHourOfAmPm => hour % 12,
            Value::Minute => i64::from(self.local.minute()),
            Value::Second => i64::from(self.local.second()),
            Value::NanoOfSecond => self.nano(),
            Value::MilliOfDay => second_of_day * 1_000 + self.nano() / 1_000_000,
            Value::NanoOfDay => second_of_day * 1_000_000_000 + self.nano(),
            // Days since 1858-11-17; 1970-01-01 is day 719163 of the common era.
            Value::ModifiedJulianDay => i64::from(date.num_days_from_ce()) - 719_163 + 40_587,
            Value::WeekBasedYear => week_based_year(date),
            Value::WeekOfWeekBasedYear => week_of_week_based_year(date),
            Value::WeekOfMonth => {
                let day = i64::from(date.day());
                compute_week(start_of_week_offset(day, local_day_of_week(date)), day)
            }
        }
    }

    pub(super) fn text(&self, text: Text, style: Style) -> &'static str {
        let style = match style {
            Short => 0,
            Full => 1,
            Narrow => 2,
        };
        let date = self.date();
        match text {
            Text::Era => ERAS[style][usize::from(date.year() >= 1)],
            Text::Quarter => QUARTERS[style][(date.month0() / 3) as usize],
            Text::Month => MONTHS[style][date.month0() as usize],
            Text::DayOfWeek => DAYS[style][date.weekday().num_days_from_monday() as usize],
            Text::AmPm if self.local.hour() < 12 => "AM",
            Text::AmPm => "PM",
        }
    }

    /// `z`, `zzzz`, `v`, `vvvv`: Java prints the id of a `ZoneOffset`, else the zone's CLDR
    /// name for standard, daylight or generic time, else (a zone Java does not name) the id.
    pub(super) fn zone_name(&self, long: bool, generic: bool) -> &'static str {
        let Zone::Region(tz) = self.zone else {
            return self.zone.id();
        };
        let Some(names) = zone_names(tz.name()) else {
            return tz.name();
        };
        let index = match (generic, self.daylight) {
            (true, _) => 4,
            (false, false) => 0,
            (false, true) => 2,
        };
        names[index + usize::from(long)]
    }
}

/// The instant whose zone rules apply to `utc`. chrono-tz's tables end in 2099, where Java
/// applies a zone's last rules forever; those rules name days of a calendar (`Mar Sun>=8`), so
/// a later instant is looked up in the year of 2072–2099 with the same calendar: the same
/// weekday on January 1st and the same leap year.
fn rules_instant(utc: NaiveDateTime) -> NaiveDateTime {
    const TABLES_END: i32 = 2100;
    if utc.year() < TABLES_END {
        return utc;
    }
    let calendar = |year: i32| {
        let january_first = NaiveDate::from_ymd_opt(year, 1, 1).map(|date| date.weekday());
        (
            january_first,
            NaiveDate::from_ymd_opt(year, 2, 29).is_some(),
        )
    };
    let same = (TABLES_END - 28..TABLES_END).find(|&year| calendar(year) == calendar(utc.year()));
    same.and_then(|year| utc.with_year(year)).unwrap_or(utc)
}

/// Java's `WeekFields` day of week: Sunday is 1 in the US.
fn local_day_of_week(date: NaiveDate) -> i64 {
    let iso = date.weekday().number_from_monday();
    i64::from((iso + 7 - FIRST_DAY_OF_WEEK) % 7 + 1)
}

/// Java's `WeekFields.ComputedDayOfField.startOfWeekOffset`.
fn start_of_week_offset(day: i64, day_of_week: i64) -> i64 {
    let week_start = (day - day_of_week).rem_euclid(7);
    if week_start + 1 > MINIMAL_DAYS_IN_FIRST_WEEK {
        7 - week_start
    } else {
        -week_start
    }
}

fn compute_week(offset: i64, day: i64) -> i64 {
    (7 + offset + (day - 1)).div_euclid(7)
}

fn year_length(date: NaiveDate) -> i64 {
    if NaiveDate::from_ymd_opt(date.year(), 2, 29).is_some() {
        366
    } else {
        365
    }
}

/// Java's `localizedWeekBasedYear`: the year of the week holding `date`.
fn week_based_year(date: NaiveDate) -> i64 {
    let year = i64::from(date.year());
    let day_of_year = i64::from(date.ordinal());
    let offset = start_of_week_offset(day_of_year, local_day_of_week(date));
    let week = compute_week(offset, day_of_year);
    if week == 0 {
        return year - 1;
    }
    let new_year_week = compute_week(offset, year_length(date) + MINIMAL_DAYS_IN_FIRST_WEEK);
    if week >= new_year_week {
        year + 1
    } else {
        year
    }
}

/// Java's `localizedWeekOfWeekBasedYear`.
fn week_of_week_based_year(date: NaiveDate) -> i64 {
    let day_of_year = i64::from(date.ordinal());
    let offset = start_of_week_offset(day_of_year, local_day_of_week(date));
    let week = compute_week(offset, day_of_year);
    if week == 0 {
        // In the last week of the previous year (never with the US rule of one minimal day).
        return match date.checked_sub_days(Days::new(u64::from(date.ordinal()))) {
            Some(last_year_end) => week_of_week_based_year(last_year_end),
            None => week,
        };
    }
    if week > 50 {
        let new_year_week = compute_week(offset, year_length(date) + MINIMAL_DAYS_IN_FIRST_WEEK);
        if week >= new_year_week {
            return week - new_year_week + 1;
        }
    }
    week
}
