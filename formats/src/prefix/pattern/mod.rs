//! Java `DateTimeFormatter` patterns, evaluated the way Amazon Data Firehose evaluates them.
//!
//! Firehose formats the `!{timestamp:PATTERN}` expressions of S3 prefixes (the parent module's
//! `PrefixTemplate`) and the OpenSearch index rotation suffixes
//! (`OneHour` is `yyyy-MM-dd-HH`, `OneWeek` is `YYYY-'w'ww`, …) with Java's
//! `DateTimeFormatter.ofPattern(PATTERN, Locale.US)`, in UTC or in the stream's
//! `CustomTimeZone`. [`TimePattern`] is that pattern language: parsed once when the
//! configuration loads, formatted per object. It covers every letter Java 17 defines, quoted
//! literals, optional sections, padding, and every pattern Java refuses (unknown letters, the
//! reserved `#`, `{` and `}`, letter counts Java does not take), with the en-US texts and the
//! US week rules (weeks start on Sunday; the week holding January 1st is week 1).
//!
//! `pattern/java_vectors.tsv` holds Java's own output for a few thousand patterns,
//! instants and zones; the tests compare every row. `pattern/java_zone_names.tsv` is the data
//! that `z`, `zzzz`, `v` and `vvvv` print (Java's CLDR names in en-US); both come from
//! `PatternVectors.java`.
//!
//! Layout: this file parses; [`letters`] is the table of pattern letters (what each count
//! prints, what Java says for a count it refuses); `write` prints the fields of a
//! `moment` (an instant seen in a zone, with Java's US week rules); [`zone`] is the time zone
//! and the names Java prints for it.

mod letters;
mod moment;
mod write;
pub mod zone;

use std::fmt;

use chrono::{DateTime, Utc};

pub use self::letters::Refusal;
use self::letters::{Letter, Print};
use self::moment::Moment;
use self::write::write_parts;
pub use self::zone::{UnknownZone, Zone};

/// A `DateTimeFormatter` pattern, parsed once; [`TimePattern::format`] prints an instant in a
/// zone exactly as Java does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimePattern {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Quoted text and any character that is not a letter, `'`, `[`, `]`, `#`, `{` or `}`.
    Literal(String),
    Field(Field),
    /// `[...]`. Java prints a section when all its fields are available, and an instant with a
    /// zone has them all, so a section always prints.
    Optional(Vec<Part>),
}

/// A run of one pattern letter, e.g. `MMM`, with any `p` padding before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    letter: char,
    count: usize,
    /// `ppMM`: pad with spaces on the left to 2 characters; a longer output fails, as in Java.
    pad: Option<usize>,
    /// Character offset of the letter run in the pattern.
    position: usize,
    print: Print,
}

/// A pattern Java's `DateTimeFormatter.ofPattern` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at position {position} of timestamp pattern `{pattern}` (Java: {})", self.java_message())]
pub struct PatternError {
    pub kind: PatternErrorKind,
    /// Character offset (from 0) of the offending letter run or character.
    pub position: usize,
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternErrorKind {
    /// An ASCII letter Java gives no meaning, e.g. `b` or `T` (quote it: `'T'`).
    UnknownLetter(char),
    /// `#`, `{` or `}` outside quotes.
    ReservedCharacter(char),
    /// A letter repeated a number of times Java does not take, e.g. `MMMMMM`.
    LetterCount {
        letter: char,
        count: usize,
        refusal: Refusal,
        /// The counts Java takes, e.g. `1 to 5`.
        allowed: String,
    },
    /// A `'` with no closing `'`.
    UnterminatedQuote,
    /// A `]` with no open `[`.
    UnbalancedBracket,
    /// `p` not followed by a pattern letter.
    DanglingPad,
    /// A padded number directly followed by an unpadded number, e.g. `ppHmm`: Java's builder
    /// casts the padded printer to a number printer to chain the two, and fails with
    /// `ClassCastException`.
    PaddedNumberThenNumber { letter: char },
}

impl fmt::Display for PatternErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownLetter(letter) => write!(f, "unknown pattern letter '{letter}'"),
            Self::ReservedCharacter(c) => write!(f, "reserved character '{c}'"),
            Self::LetterCount {
                letter,
                count,
                allowed,
                ..
            } => {
                let run: String = std::iter::repeat_n(*letter, *count).collect();
                let too_many = Letter::find(*letter)
                    .and_then(|row| row.counts.last())
                    .is_some_and(|&(_, hi, _)| *count > hi);
                let problem = if too_many {
                    "too many"
                } else {
                    "wrong number of"
                };
                write!(
                    f,
                    "{problem} pattern letters: '{run}' ('{letter}' takes {allowed})"
                )
            }
            Self::UnterminatedQuote => write!(f, "unterminated quote"),
            Self::UnbalancedBracket => write!(f, "unbalanced ']'"),
            Self::DanglingPad => write!(f, "pad letter 'p' not followed by a pattern letter"),
            Self::PaddedNumberThenNumber { letter } => write!(
                f,
                "number '{letter}' directly after a padded number (put a literal between them)"
            ),
        }
    }
}

impl PatternError {
    /// Java's exception class and message for the same pattern, as `Class: message`.
    pub fn java_message(&self) -> String {
        let illegal = |message: String| format!("IllegalArgumentException: {message}");
        match &self.kind {
            PatternErrorKind::UnknownLetter(letter) => {
                illegal(format!("Unknown pattern letter: {letter}"))
            }
            PatternErrorKind::ReservedCharacter(c) => {
                illegal(format!("Pattern includes reserved character: '{c}'"))
            }
            PatternErrorKind::LetterCount {
                letter,
                count,
                refusal,
                ..
            } => illegal(match refusal {
                Refusal::TooMany => format!("Too many pattern letters: {letter}"),
                Refusal::MustBeTwo => format!("Pattern letter count must be 2: {letter}"),
                Refusal::OneOrFour => format!("Pattern letter count must be 1 or 4: {letter}"),
                Refusal::WrongNumber => format!("Wrong number of pattern letters: {letter}"),
                Refusal::MinimumWidth => {
                    format!("The minimum width must be from 1 to 19 inclusive but was {count}")
                }
                Refusal::FractionWidth => {
                    format!("Minimum width must be from 0 to 9 inclusive but was {count}")
                }
                Refusal::InvalidCc => "Invalid pattern \"cc\"".to_string(),
            }),
            PatternErrorKind::UnterminatedQuote => illegal(format!(
                "Pattern ends with an incomplete string literal: {}",
                self.pattern
            )),
            PatternErrorKind::UnbalancedBracket => {
                illegal("Pattern invalid as it contains ] without previous [".to_string())
            }
            PatternErrorKind::DanglingPad => illegal(format!(
                "Pad letter 'p' must be followed by valid pad pattern: {}",
                self.pattern
            )),
            PatternErrorKind::PaddedNumberThenNumber { .. } => {
                let class = "java.time.format.DateTimeFormatterBuilder$";
                format!(
                    "ClassCastException: class {class}PadPrinterParserDecorator cannot be cast to \
                     class {class}NumberPrinterParser ({class}PadPrinterParserDecorator and \
                     {class}NumberPrinterParser are in module java.base of loader 'bootstrap')"
                )
            }
        }
    }
}

/// A padded field whose output is wider than its padding: Java throws `DateTimeException` when
/// formatting (the pattern itself is valid), e.g. `pd` on the 10th of a month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{letter}' at position {position} printed {len} characters, more than its pad width of \
     {width} (Java: {})", self.java_message()
)]
pub struct FormatError {
    pub letter: char,
    pub position: usize,
    pub len: usize,
    pub width: usize,
}

impl FormatError {
    /// Java's exception class and message, as `Class: message`.
    pub fn java_message(&self) -> String {
        format!(
            "DateTimeException: Cannot print as output of {} characters exceeds pad width of {}",
            self.len, self.width
        )
    }
}

impl TimePattern {
    /// Parses `pattern` as Java's `DateTimeFormatter.ofPattern` does, refusing what it refuses.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let error = |(kind, position)| PatternError {
            kind,
            position,
            pattern: pattern.to_string(),
        };
        let chars: Vec<char> = pattern.chars().collect();
        // One list per open `[`; the first is the pattern itself.
        let mut sections: Vec<Vec<Part>> = vec![Vec::new()];
        // Whether the last thing appended was a padded number (Java's active value parser).
        let mut after_padded_number = false;
        let mut pos = 0;
        while let Some(&c) = chars.get(pos) {
            let mut next = pos + 1;
            let mut part = None;
            match c {
                _ if c.is_ascii_alphabetic() => {
                    let field;
                    (field, next) = read_field(&chars, pos).map_err(error)?;
                    let number = field.print.is_number();
                    if number && field.pad.is_none() && after_padded_number {
                        let kind = PatternErrorKind::PaddedNumberThenNumber {
                            letter: field.letter,
                        };
                        return Err(error((kind, field.position)));
                    }
                    after_padded_number = number && field.pad.is_some();
                    part = Some(Part::Field(field));
                }
                '\'' => {
                    let text;
                    (text, next) = read_quote(&chars, pos).map_err(error)?;
                    part = Some(Part::Literal(text));
                }
                '[' => sections.push(Vec::new()),
                ']' if sections.len() < 2 => {
                    return Err(error((PatternErrorKind::UnbalancedBracket, pos)));
                }
                ']' => close_section(&mut sections),
                '#' | '{' | '}' => {
                    return Err(error((PatternErrorKind::ReservedCharacter(c), pos)));
                }
                _ => part = Some(Part::Literal(c.to_string())),
            }
            if !matches!(part, Some(Part::Field(_))) {
                after_padded_number = false;
            }
            if let (Some(part), Some(section)) = (part, sections.last_mut()) {
                push_part(section, part);
            }
            pos = next;
        }
        // Java closes the sections still open at the end.
        while sections.len() > 1 {
            close_section(&mut sections);
        }
        Ok(Self {
            source: pattern.to_string(),
            parts: sections.pop().unwrap_or_default(),
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What the pattern prints, in order: `Some(text)` for literal text, `None` for a field
    /// (optional sections always print, so they are flattened). The prefix's table layout
    /// reads the folders and `name=` parts of a pattern's literals from this.
    pub fn pieces(&self) -> Vec<Option<&str>> {
        fn walk<'a>(parts: &'a [Part], out: &mut Vec<Option<&'a str>>) {
            for part in parts {
                match part {
                    Part::Literal(text) => out.push(Some(text)),
                    Part::Field(_) => out.push(None),
                    Part::Optional(inner) => walk(inner, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.parts, &mut out);
        out
    }

    /// Whether the output is the same for every instant of one hour in UTC: every letter of
    /// the pattern (outside quotes) prints a field of an hour or coarser — year, month, day,
    /// week, weekday, AM/PM, hour — or the zone (fixed text in UTC). Minutes, seconds,
    /// fractions, day periods (`B`: "noon" is a minute) and anything else make it `false`.
    pub fn same_within_utc_hour(&self) -> bool {
        const HOURLY: &str = "GuyYDMLdQqwWEecFaHkKhVzvOXxZ";
        let mut quoted = false;
        self.source.chars().all(|c| {
            if c == '\'' {
                quoted = !quoted; // `''` toggles twice: a literal quote
                return true;
            }
            quoted || !c.is_ascii_alphabetic() || HOURLY.contains(c)
        })
    }

    /// Whether the output shows the zone or its offset (letters `V`, `z`, `v`, `O`, `X`, `x`,
    /// `Z`). In UTC these print fixed text (`Z`, `UTC`, `+0000`, `GMT`), so such a pattern only
    /// tells something with a `CustomTimeZone`.
    pub fn shows_zone(&self) -> bool {
        fn any(parts: &[Part]) -> bool {
            parts.iter().any(|part| match part {
                Part::Field(field) => field.print.shows_zone(),
                Part::Optional(inner) => any(inner),
                Part::Literal(_) => false,
            })
        }
        any(&self.parts)
    }

    /// Formats `instant` in `zone`, as Java's
    /// `DateTimeFormatter.ofPattern(pattern, Locale.US).withZone(zone).format(instant)`.
    /// Fails only where Java does: a padded field printing wider than its padding.
    pub fn format(&self, instant: DateTime<Utc>, zone: &Zone) -> Result<String, FormatError> {
        let moment = Moment::new(instant, *zone);
        let mut out = String::with_capacity(self.source.len() + 16);
        write_parts(&self.parts, &moment, &mut out)?;
        Ok(out)
    }
}

fn run_length(chars: &[char], start: usize) -> usize {
    chars[start..]
        .iter()
        .take_while(|&&c| c == chars[start])
        .count()
}

/// A refusal and the character offset it is about.
type Refused = (PatternErrorKind, usize);

/// The letter run at `start`, with any `p` run before it as padding, and where it ends.
fn read_field(chars: &[char], start: usize) -> Result<(Field, usize), Refused> {
    let (mut letter, mut position) = (chars[start], start);
    let mut count = run_length(chars, start);
    let mut pad = None;
    if letter == 'p' {
        match chars.get(start + count) {
            Some(&next) if next.is_ascii_alphabetic() => {
                pad = Some(count);
                (letter, position) = (next, start + count);
                count = run_length(chars, position);
            }
            _ => return Err((PatternErrorKind::DanglingPad, start)),
        }
    }
    let print = field_print(letter, count).map_err(|kind| (kind, position))?;
    let field = Field {
        letter,
        count,
        pad,
        position,
        print,
    };
    Ok((field, position + count))
}

fn field_print(letter: char, count: usize) -> Result<Print, PatternErrorKind> {
    let row = Letter::find(letter).ok_or(PatternErrorKind::UnknownLetter(letter))?;
    row.print(count)
        .ok_or_else(|| PatternErrorKind::LetterCount {
            letter,
            count,
            refusal: row.refusal_for(count),
            allowed: row.allowed(),
        })
}

/// The quoted text at `start` and where it ends: up to the next lone `'`, with each doubled
/// `''` inside one quote. An empty quote, `''`, is a quote too, so `''''` is one quote.
fn read_quote(chars: &[char], start: usize) -> Result<(String, usize), Refused> {
    let mut pos = start + 1;
    while pos < chars.len() {
        if chars[pos] == '\'' {
            if chars.get(pos + 1) != Some(&'\'') {
                let text: String = chars[start + 1..pos].iter().collect();
                let text = match text.as_str() {
                    "" => "'".to_string(),
                    _ => text.replace("''", "'"),
                };
                return Ok((text, pos + 1));
            }
            pos += 1;
        }
        pos += 1;
    }
    Err((PatternErrorKind::UnterminatedQuote, start))
}

/// Ends the innermost `[` section; an empty one leaves nothing, as in Java.
fn close_section(sections: &mut Vec<Vec<Part>>) {
    if let Some(section) = sections.pop() {
        if let (false, Some(parent)) = (section.is_empty(), sections.last_mut()) {
            parent.push(Part::Optional(section));
        }
    }
}

/// Appends a part, merging literal text into a preceding literal.
fn push_part(parts: &mut Vec<Part>, part: Part) {
    match (parts.last_mut(), part) {
        (Some(Part::Literal(last)), Part::Literal(text)) => last.push_str(&text),
        (_, part) => parts.push(part),
    }
}

#[cfg(test)]
mod tests;
