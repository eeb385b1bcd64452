//! Printing a parsed pattern: each field of a [`Moment`] as Java's printers print it —
//! numbers with their sign styles, fractions, texts, day periods, zone ids and names, and the
//! offset styles of `Z`, `X`, `x` and `O`.

use super::letters::Sign::ExceedsPad;
use super::letters::Style::Narrow;
use super::letters::{Print, Sign, Style};
use super::moment::Moment;
use super::{Field, FormatError, Part};

pub(super) fn write_parts(
    parts: &[Part],
    moment: &Moment,
    out: &mut String,
) -> Result<(), FormatError> {
    for part in parts {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Optional(inner) => write_parts(inner, moment, out)?,
            Part::Field(field) => {
                let start = out.len();
                write_field(field, moment, out);
                if let Some(width) = field.pad {
                    let len = out[start..].chars().count();
                    if len > width {
                        return Err(FormatError {
                            letter: field.letter,
                            position: field.position,
                            len,
                            width,
                        });
                    }
                    out.insert_str(start, &" ".repeat(width - len));
                }
            }
        }
    }
    Ok(())
}

fn write_field(field: &Field, moment: &Moment, out: &mut String) {
    let count = field.count;
    match field.print {
        Print::Number(value, sign) => write_number(moment.value(value), count, sign, out),
        Print::TwoDigits(value) => {
            let last_two = moment.value(value).unsigned_abs() % 100;
            out.push_str(&format!("{last_two:02}"));
        }
        Print::Fraction => {
            let nanos = format!("{:09}", moment.nano());
            out.extend(nanos.chars().take(count));
        }
        Print::Text(text, style) => out.push_str(moment.text(text, style)),
        Print::DayPeriod(style) => out.push_str(day_period(moment.minute_of_day(), style)),
        Print::ZoneId => out.push_str(moment.zone.id()),
        Print::ZoneName { long, generic } => out.push_str(moment.zone_name(long, generic)),
        Print::Offset(style, zero) => write_offset(moment.offset, style, zero, out),
        Print::LocalizedOffset { long } => write_localized_offset(moment.offset, long, out),
    }
}

/// Java's `NumberPrinterParser`: the minimum width is the letter count, and widths are never
/// exceeded by the values chrono can hold.
fn write_number(value: i64, count: usize, sign: Sign, out: &mut String) {
    let digits = value.unsigned_abs().to_string();
    if value < 0 {
        out.push('-');
    } else if sign == ExceedsPad && count < 19 && value >= 10_i64.pow(count as u32) {
        out.push('+');
    }
    for _ in digits.len()..count {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Java's `OffsetIdPrinterParser` for the styles `ofPattern` uses (all with two-digit hours):
/// the zero text also stands for an offset whose printed parts are all zero.
fn write_offset(total: i32, style: u8, zero: &str, out: &mut String) {
    let (hours, minutes, seconds) = offset_parts(total);
    let colon = if style > 0 && style.is_multiple_of(2) {
        ":"
    } else {
        ""
    };
    let sign = if total < 0 { '-' } else { '+' };
    let mut text = format!("{sign}{hours:02}");
    let mut printed = hours;
    if (3..=8).contains(&style) || (style >= 9 && seconds > 0) || (style >= 1 && minutes > 0) {
        text.push_str(&format!("{colon}{minutes:02}"));
        printed += minutes;
        if style == 7 || style == 8 || (style >= 5 && seconds > 0) {
            text.push_str(&format!("{colon}{seconds:02}"));
            printed += seconds;
        }
    }
    out.push_str(if printed == 0 { zero } else { &text });
}

/// Java's `LocalizedOffsetIdPrinterParser`: `GMT`, then `+5:30` (short) or `+05:30` (long).
fn write_localized_offset(total: i32, long: bool, out: &mut String) {
    out.push_str("GMT");
    if total == 0 {
        return;
    }
    let (hours, minutes, seconds) = offset_parts(total);
    out.push(if total < 0 { '-' } else { '+' });
    if long {
        out.push_str(&format!("{hours:02}:{minutes:02}"));
    } else {
        out.push_str(&hours.to_string());
        if minutes == 0 && seconds == 0 {
            return;
        }
        out.push_str(&format!(":{minutes:02}"));
    }
    if seconds != 0 {
        out.push_str(&format!(":{seconds:02}"));
    }
}

fn offset_parts(total: i32) -> (u32, u32, u32) {
    let abs = total.unsigned_abs();
    ((abs / 3600) % 100, (abs / 60) % 60, abs % 60)
}

/// CLDR's en day periods as Java 17 picks them: the matching period with the shortest span,
/// so midnight (00:00) and noon (12:00) win over night and afternoon for that one minute.
fn day_period(minute_of_day: u32, style: Style) -> &'static str {
    match (minute_of_day, style) {
        (0, Narrow) => "mi",
        (0, _) => "midnight",
        (720, Narrow) => "n",
        (720, _) => "noon",
        (360..=719, _) => "in the morning",
        (720..=1079, _) => "in the afternoon",
        (1080..=1259, _) => "in the evening",
        _ => "at night",
    }
}
