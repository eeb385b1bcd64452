//! The pattern letters of Java 17's `DateTimeFormatter.ofPattern`: for each, the letter
//! counts Java takes and how each prints, and what Java says for any other count.

/// How a field prints, as Java's `DateTimeFormatterBuilder.parsePattern` chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Print {
    /// Decimal digits, zero-padded to the letter count.
    Number(Value, Sign),
    /// The last two digits of the absolute value (`yy`, `uu`, `YY`).
    TwoDigits(Value),
    /// The nano-of-second as a fraction, truncated to the letter count (`S`).
    Fraction,
    Text(Text, Style),
    /// `B`: midnight, noon, in the morning, …
    DayPeriod(Style),
    /// `VV`: the zone id.
    ZoneId,
    /// `z`, `zzzz`, `v`, `vvvv`: the zone's name.
    ZoneName {
        long: bool,
        generic: bool,
    },
    /// `Z`, `X`, `x`: Java's `OffsetIdPrinterParser` style (1 `+HHmm`, 3 `+HHMM`, 4 `+HH:MM`,
    /// 5 `+HHMMss`, 6 `+HH:MM:ss`; `mm` and `ss` only when non-zero) and the zero-offset text.
    Offset(u8, &'static str),
    /// `O`, `OOOO`, `ZZZZ`: `GMT+5:30` or `GMT+05:30`.
    LocalizedOffset {
        long: bool,
    },
}

impl Print {
    /// Java appends these through `appendValue(NumberPrinterParser)`, which matters for padding
    /// (see [`PatternErrorKind::PaddedNumberThenNumber`]).
    pub(super) fn is_number(self) -> bool {
        matches!(
            self,
            Print::Number(..) | Print::TwoDigits(_) | Print::Fraction
        )
    }

    pub(super) fn shows_zone(self) -> bool {
        matches!(
            self,
            Print::ZoneId
                | Print::ZoneName { .. }
                | Print::Offset(..)
                | Print::LocalizedOffset { .. }
        )
    }
}

/// Numeric fields (Java's `ChronoField`s and week fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value {
    YearOfEra,
    Year,
    Quarter,
    Month,
    DayOfYear,
    DayOfMonth,
    AlignedDayOfWeekInMonth,
    /// Day of week counted from the locale's first day: Sunday is 1 in the US.
    LocalDayOfWeek,
    HourOfDay,
    ClockHourOfDay,
    HourOfAmPm,
    ClockHourOfAmPm,
    Minute,
    Second,
    NanoOfSecond,
    MilliOfDay,
    NanoOfDay,
    ModifiedJulianDay,
    WeekBasedYear,
    WeekOfWeekBasedYear,
    WeekOfMonth,
}

/// Java's `SignStyle`. `NOT_NEGATIVE` fields are never negative here, so it prints as `Normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sign {
    Normal,
    NotNegative,
    /// `+` before a value wider than the letter count (`yyyy` prints year 10000 as `+10000`).
    ExceedsPad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text {
    Era,
    Quarter,
    Month,
    DayOfWeek,
    AmPm,
}

/// Java's `TextStyle`. The stand-alone styles of `L`, `q` and `c` print the same in en-US.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Short,
    Full,
    Narrow,
}

/// What Java says for a letter count it does not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Too many pattern letters: M`
    TooMany,
    /// `Pattern letter count must be 2: V`
    MustBeTwo,
    /// `Pattern letter count must be 1 or 4: O`
    OneOrFour,
    /// `Wrong number of pattern letters: v`
    WrongNumber,
    /// `The minimum width must be from 1 to 19 inclusive but was 20`
    MinimumWidth,
    /// `Minimum width must be from 0 to 9 inclusive but was 10`
    FractionWidth,
    /// `Invalid pattern "cc"`
    InvalidCc,
}

/// One pattern letter: the counts Java takes, each with how it prints, and what Java says for
/// any other count.
pub(super) struct Letter {
    letter: char,
    pub(super) counts: &'static [(usize, usize, Print)],
    refusal: Refusal,
}

use Print::{Number as Num, Text as Txt, TwoDigits};
use Refusal::{FractionWidth, MinimumWidth, MustBeTwo, OneOrFour, TooMany, WrongNumber};
use Sign::{ExceedsPad, Normal, NotNegative as NotNeg};
use Style::{Full, Narrow, Short};
use Text as T;
use Value as V;

const fn row(letter: char, refusal: Refusal, counts: &'static [(usize, usize, Print)]) -> Letter {
    Letter {
        letter,
        counts,
        refusal,
    }
}

const fn zone_name(long: bool, generic: bool) -> Print {
    Print::ZoneName { long, generic }
}

/// Every letter Java 17's `DateTimeFormatter.ofPattern` defines, with Java's choices from
/// `DateTimeFormatterBuilder.parsePattern`: the letter, what Java says for a count it does not
/// take, and for each range of counts it takes, how the field prints. Any other ASCII letter is
/// an unknown letter; any character outside ASCII is literal text.
#[rustfmt::skip]
const LETTERS: &[Letter] = &[
    row('G', TooMany, &[(1, 3, Txt(T::Era, Short)), (4, 4, Txt(T::Era, Full)), (5, 5, Txt(T::Era, Narrow))]),
    row('u', MinimumWidth, &[
        (1, 1, Num(V::Year, Normal)), (2, 2, TwoDigits(V::Year)), (3, 3, Num(V::Year, Normal)),
        (4, 19, Num(V::Year, ExceedsPad)),
    ]),
    row('y', MinimumWidth, &[
        (1, 1, Num(V::YearOfEra, Normal)), (2, 2, TwoDigits(V::YearOfEra)), (3, 3, Num(V::YearOfEra, Normal)),
        (4, 19, Num(V::YearOfEra, ExceedsPad)),
    ]),
    row('D', TooMany, &[(1, 1, Num(V::DayOfYear, Normal)), (2, 3, Num(V::DayOfYear, NotNeg))]),
    row('M', TooMany, &[
        (1, 1, Num(V::Month, Normal)), (2, 2, Num(V::Month, NotNeg)),
        (3, 3, Txt(T::Month, Short)), (4, 4, Txt(T::Month, Full)), (5, 5, Txt(T::Month, Narrow)),
    ]),
    // Stand-alone month: the same texts in en-US.
    row('L', TooMany, &[
        (1, 1, Num(V::Month, Normal)), (2, 2, Num(V::Month, NotNeg)),
        (3, 3, Txt(T::Month, Short)), (4, 4, Txt(T::Month, Full)), (5, 5, Txt(T::Month, Narrow)),
    ]),
    row('d', TooMany, &[(1, 1, Num(V::DayOfMonth, Normal)), (2, 2, Num(V::DayOfMonth, NotNeg))]),
    row('Q', TooMany, &[
        (1, 1, Num(V::Quarter, Normal)), (2, 2, Num(V::Quarter, NotNeg)),
        (3, 3, Txt(T::Quarter, Short)), (4, 4, Txt(T::Quarter, Full)), (5, 5, Txt(T::Quarter, Narrow)),
    ]),
    // Stand-alone quarter: the same texts in en-US.
    row('q', TooMany, &[
        (1, 1, Num(V::Quarter, Normal)), (2, 2, Num(V::Quarter, NotNeg)),
        (3, 3, Txt(T::Quarter, Short)), (4, 4, Txt(T::Quarter, Full)), (5, 5, Txt(T::Quarter, Narrow)),
    ]),
    // Week-based year: Java checks no width, so any count of `Y` is taken.
    row('Y', TooMany, &[
        (1, 1, Num(V::WeekBasedYear, Normal)), (2, 2, TwoDigits(V::WeekBasedYear)),
        (3, 3, Num(V::WeekBasedYear, Normal)), (4, usize::MAX, Num(V::WeekBasedYear, ExceedsPad)),
    ]),
    row('w', TooMany, &[(1, 2, Num(V::WeekOfWeekBasedYear, NotNeg))]),
    row('W', TooMany, &[(1, 1, Num(V::WeekOfMonth, NotNeg))]),
    row('E', TooMany, &[(1, 3, Txt(T::DayOfWeek, Short)), (4, 4, Txt(T::DayOfWeek, Full)), (5, 5, Txt(T::DayOfWeek, Narrow))]),
    row('e', TooMany, &[
        (1, 2, Num(V::LocalDayOfWeek, NotNeg)),
        (3, 3, Txt(T::DayOfWeek, Short)), (4, 4, Txt(T::DayOfWeek, Full)), (5, 5, Txt(T::DayOfWeek, Narrow)),
    ]),
    // Stand-alone day of week; `cc` has its own message (see `Letter::refusal_for`).
    row('c', TooMany, &[
        (1, 1, Num(V::LocalDayOfWeek, NotNeg)),
        (3, 3, Txt(T::DayOfWeek, Short)), (4, 4, Txt(T::DayOfWeek, Full)), (5, 5, Txt(T::DayOfWeek, Narrow)),
    ]),
    row('F', TooMany, &[(1, 1, Num(V::AlignedDayOfWeekInMonth, Normal))]),
    row('a', TooMany, &[(1, 1, Txt(T::AmPm, Short))]),
    row('B', WrongNumber, &[(1, 1, Print::DayPeriod(Short)), (4, 4, Print::DayPeriod(Full)), (5, 5, Print::DayPeriod(Narrow))]),
    row('h', TooMany, &[(1, 1, Num(V::ClockHourOfAmPm, Normal)), (2, 2, Num(V::ClockHourOfAmPm, NotNeg))]),
    row('K', TooMany, &[(1, 1, Num(V::HourOfAmPm, Normal)), (2, 2, Num(V::HourOfAmPm, NotNeg))]),
    row('k', TooMany, &[(1, 1, Num(V::ClockHourOfDay, Normal)), (2, 2, Num(V::ClockHourOfDay, NotNeg))]),
    row('H', TooMany, &[(1, 1, Num(V::HourOfDay, Normal)), (2, 2, Num(V::HourOfDay, NotNeg))]),
    row('m', TooMany, &[(1, 1, Num(V::Minute, Normal)), (2, 2, Num(V::Minute, NotNeg))]),
    row('s', TooMany, &[(1, 1, Num(V::Second, Normal)), (2, 2, Num(V::Second, NotNeg))]),
    row('S', FractionWidth, &[(1, 9, Print::Fraction)]),
    row('A', MinimumWidth, &[(1, 19, Num(V::MilliOfDay, NotNeg))]),
    row('n', MinimumWidth, &[(1, 19, Num(V::NanoOfSecond, NotNeg))]),
    row('N', MinimumWidth, &[(1, 19, Num(V::NanoOfDay, NotNeg))]),
    row('g', MinimumWidth, &[(1, 19, Num(V::ModifiedJulianDay, Normal))]),
    row('V', MustBeTwo, &[(2, 2, Print::ZoneId)]),
    row('v', WrongNumber, &[(1, 1, zone_name(false, true)), (4, 4, zone_name(true, true))]),
    row('z', TooMany, &[(1, 3, zone_name(false, false)), (4, 4, zone_name(true, false))]),
    row('O', OneOrFour, &[(1, 1, Print::LocalizedOffset { long: false }), (4, 4, Print::LocalizedOffset { long: true })]),
    row('X', TooMany, &[
        (1, 1, Print::Offset(1, "Z")), (2, 2, Print::Offset(3, "Z")), (3, 3, Print::Offset(4, "Z")),
        (4, 4, Print::Offset(5, "Z")), (5, 5, Print::Offset(6, "Z")),
    ]),
    row('x', TooMany, &[
        (1, 1, Print::Offset(1, "+00")), (2, 2, Print::Offset(3, "+0000")), (3, 3, Print::Offset(4, "+00:00")),
        (4, 4, Print::Offset(5, "+0000")), (5, 5, Print::Offset(6, "+00:00")),
    ]),
    row('Z', TooMany, &[
        (1, 3, Print::Offset(3, "+0000")), (4, 4, Print::LocalizedOffset { long: true }),
        (5, 5, Print::Offset(6, "Z")),
    ]),
];

impl Letter {
    pub(super) fn find(letter: char) -> Option<&'static Letter> {
        LETTERS.iter().find(|row| row.letter == letter)
    }

    pub(super) fn print(&self, count: usize) -> Option<Print> {
        let row = self
            .counts
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&count));
        row.map(|&(_, _, print)| print)
    }

    pub(super) fn refusal_for(&self, count: usize) -> Refusal {
        match (self.letter, count) {
            ('c', 2) => Refusal::InvalidCc,
            _ => self.refusal,
        }
    }

    /// The counts Java takes, e.g. `1 to 5` or `1 or 3 to 5`.
    pub(super) fn allowed(&self) -> String {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for &(lo, hi, _) in self.counts {
            match ranges.last_mut() {
                Some(last) if last.1 + 1 == lo => last.1 = hi,
                _ => ranges.push((lo, hi)),
            }
        }
        let words: Vec<String> = ranges
            .iter()
            .flat_map(|&(lo, hi)| match hi - lo {
                0 => vec![lo.to_string()],
                1 => vec![lo.to_string(), hi.to_string()],
                _ if hi == usize::MAX => vec![format!("{lo} or more")],
                _ => vec![format!("{lo} to {hi}")],
            })
            .collect();
        match words.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => words.concat(),
        }
    }
}
