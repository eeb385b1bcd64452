use chrono::NaiveDateTime;
use chrono_tz::Tz;

use super::zone::JAVA_ZONE_NAMES;
use super::*;

/// Java's output: `pattern \t instant \t zone \t output`, after a comment line and a header.
/// An output `ERROR Class: message` is an exception; with instant and zone `-` it came from
/// `ofPattern`, so the pattern itself is refused.
const JAVA_VECTORS: &str = include_str!("java_vectors.tsv");

/// `Instant.toString()`: RFC 3339 in UTC, with a sign on years outside 0000–9999.
fn instant(text: &str) -> DateTime<Utc> {
    let naive = text
        .strip_suffix('Z')
        .and_then(|local| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f").ok());
    naive.expect("an Instant.toString() value").and_utc()
}

fn zone(id: &str) -> Zone {
    id.parse().expect("a zone id chrono-tz knows")
}

fn parse(pattern: &str) -> TimePattern {
    TimePattern::parse(pattern).expect("pattern parses")
}

fn format(pattern: &str, at: &str, zone_id: &str) -> String {
    parse(pattern)
        .format(instant(at), &zone(zone_id))
        .expect("formats")
}

fn parse_error(pattern: &str) -> PatternError {
    TimePattern::parse(pattern).expect_err("pattern is refused")
}

/// What this module says for one row, in the TSV's words.
fn evaluate(pattern: &str, at: &str, zone_id: &str) -> String {
    let parsed = match TimePattern::parse(pattern) {
        Ok(parsed) => parsed,
        Err(e) => return format!("ERROR {}", e.java_message()),
    };
    if at == "-" {
        return "(accepted)".to_string();
    }
    match parsed.format(instant(at), &zone(zone_id)) {
        Ok(out) => out,
        Err(e) => format!("ERROR {}", e.java_message()),
    }
}

#[test]
fn every_java_vector_matches() {
    let mut lines = JAVA_VECTORS.lines();
    let comment = lines.next().expect("comment line");
    assert!(comment.starts_with("# java 17"), "{comment}");
    assert_eq!(lines.next(), Some("pattern\tinstant\tzone\toutput"));
    let (mut rows, mut refused) = (0, 0);
    let mut mismatches = Vec::new();
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        let [pattern, at, zone_id, java] = cols[..] else {
            panic!("malformed row {line:?}");
        };
        rows += 1;
        if at == "-" {
            refused += 1;
        }
        let ours = evaluate(pattern, at, zone_id);
        if ours != java {
            mismatches.push(format!(
                "{pattern:?} at {at} in {zone_id}:\n  java {java:?}\n  ours {ours:?}"
            ));
        }
    }
    assert!(
        rows > 3000 && refused > 80,
        "{rows} rows, {refused} refused"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {rows} vectors differ:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(40)].join("\n")
    );
}

#[test]
fn one_week_rotation_uses_us_weeks() {
    // OpenSearch `OneWeek` rotation. US weeks start on Sunday and week 1 holds January 1st,
    // so these differ from ISO weeks (2016-02-25 is ISO week 8, 2016-01-01 ISO 2015-W53).
    let cases = [
        ("2016-02-25T13:00:00Z", "2016-w09"),
        ("2016-01-01T00:00:00Z", "2016-w01"),
        ("2015-12-31T23:59:59Z", "2016-w01"),
        ("2016-01-03T00:00:00Z", "2016-w02"),
        ("2016-02-29T12:00:00Z", "2016-w10"),
        ("2018-08-27T10:30:00Z", "2018-w35"),
        ("2019-12-28T12:00:00Z", "2019-w52"),
        ("2019-12-29T00:00:00Z", "2020-w01"),
        ("2019-12-31T23:59:59Z", "2020-w01"),
        ("2020-12-26T12:00:00Z", "2020-w52"),
        ("2020-12-27T00:00:00Z", "2021-w01"),
        ("2020-12-31T12:00:00Z", "2021-w01"),
        ("2021-01-02T23:59:59Z", "2021-w01"),
        ("2021-01-03T00:00:00Z", "2021-w02"),
        ("2021-01-10T00:00:00Z", "2021-w03"),
        // A US year can have a week 53: 2022-12-25..31, as 2023 starts on a Sunday.
        ("2022-12-31T12:00:00Z", "2022-w53"),
        ("2023-01-01T00:00:00Z", "2023-w01"),
        ("2024-12-29T00:00:00Z", "2025-w01"),
    ];
    for (at, week) in cases {
        assert_eq!(format("YYYY-'w'ww", at, "Z"), week, "{at}");
    }
    // The zone decides the day: still Saturday the 26th (2020-w52) in New York.
    let new_york = [
        ("2019-12-29T00:00:00Z", "2019-w52"),
        ("2020-12-27T00:00:00Z", "2020-w52"),
        ("2021-01-03T00:00:00Z", "2021-w01"),
        ("2024-12-29T00:00:00Z", "2024-w52"),
    ];
    for (at, week) in new_york {
        assert_eq!(format("YYYY-'w'ww", at, "America/New_York"), week, "{at}");
    }
}

#[test]
fn week_letters_one_by_one() {
    // Sunday 2019-12-29: US week 1 of 2020, day 1 of the week, week 5 of December.
    let sunday = "2019-12-29T08:05:03Z";
    assert_eq!(
        format("Y YY YYYY w ww W e ee c", sunday, "Z"),
        "2020 20 2020 1 01 5 1 01 1"
    );
    // Thursday 2020-12-31: week 1 of 2021; `yyyy` is still 2020.
    let thursday = "2020-12-31T12:00:00Z";
    assert_eq!(
        format("yyyy YYYY ww e EEE", thursday, "Z"),
        "2020 2021 01 5 Thu"
    );
}

#[test]
fn refusals_name_the_letter_and_say_what_java_says() {
    let e = parse_error("yyyy-MM-dd#");
    assert_eq!(e.kind, PatternErrorKind::ReservedCharacter('#'));
    assert_eq!(e.position, 10);
    assert_eq!(
        e.java_message(),
        "IllegalArgumentException: Pattern includes reserved character: '#'"
    );
    assert!(e
        .to_string()
        .starts_with("reserved character '#' at position 10"));

    let e = parse_error("yyyyMMMMMM");
    assert_eq!(e.position, 4);
    assert_eq!(
        e.to_string(),
        "too many pattern letters: 'MMMMMM' ('M' takes 1 to 5) at position 4 of timestamp \
         pattern `yyyyMMMMMM` (Java: IllegalArgumentException: Too many pattern letters: M)"
    );

    let e = parse_error("yyyy-MM-ddTHH");
    assert_eq!(e.kind, PatternErrorKind::UnknownLetter('T'));
    assert!(e
        .to_string()
        .starts_with("unknown pattern letter 'T' at position 10"));

    let e = parse_error("'w'ww '");
    assert_eq!(
        (&e.kind, e.position),
        (&PatternErrorKind::UnterminatedQuote, 6)
    );
    assert!(e.to_string().starts_with("unterminated quote"));

    let e = parse_error("yyyy]");
    assert_eq!(
        (&e.kind, e.position),
        (&PatternErrorKind::UnbalancedBracket, 4)
    );
    assert!(e.to_string().starts_with("unbalanced ']'"));

    let e = parse_error("V");
    assert!(e
        .to_string()
        .starts_with("wrong number of pattern letters: 'V' ('V' takes 2)"));
    let e = parse_error("VVV");
    assert!(e
        .to_string()
        .starts_with("too many pattern letters: 'VVV' ('V' takes 2)"));
    assert!(parse_error("cc")
        .to_string()
        .contains("'c' takes 1 or 3 to 5"));
    assert!(parse_error("cc")
        .java_message()
        .ends_with("Invalid pattern \"cc\""));
    assert!(parse_error("BB")
        .to_string()
        .contains("'B' takes 1, 4 or 5"));

    let e = parse_error("yyyyppMMdd");
    assert_eq!(
        (&e.kind, e.position),
        (&PatternErrorKind::PaddedNumberThenNumber { letter: 'd' }, 8)
    );
    assert!(e.java_message().starts_with("ClassCastException: "));
}

#[test]
fn literals_quotes_and_sections_print_as_java_does() {
    let at = "2018-08-27T10:30:00Z";
    assert_eq!(
        format("'year='yyyy/'it''s'/''", at, "Z"),
        "year=2018/it's/'"
    );
    // Four quotes are one quoted `''`, which is one quote.
    assert_eq!(format("''''", at, "Z"), "'");
    // Quoted reserved characters are fine; letters outside ASCII are literal text.
    assert_eq!(format("'#{}'yyyy", at, "Z"), "#{}2018");
    assert_eq!(format("yyyy年MM月", at, "Z"), "2018年08月");
    // Optional sections always print: an instant with a zone has every field.
    assert_eq!(format("yyyy[MM[dd]][VV]", at, "Z"), "20180827Z");
    assert_eq!(format("yyyy[-MM", at, "UTC"), "2018-08");
}

#[test]
fn padding_pads_left_and_fails_when_too_narrow() {
    let at = "2018-08-27T10:30:00Z";
    assert_eq!(format("pppd|ppH|pppppMMM", at, "Z"), " 27|10|  Aug");
    let e = parse("pd")
        .format(instant(at), &Zone::Utc)
        .expect_err("27 is wider than 1");
    assert_eq!(
        e.java_message(),
        "DateTimeException: Cannot print as output of 2 characters exceeds pad width of 1"
    );
    assert_eq!(format("pd", "2018-08-07T10:30:00Z", "Z"), "7");
}

#[test]
fn years_outside_four_digits() {
    let year_10000 = "+10000-01-01T00:00:00Z";
    assert_eq!(format("yyyy/MM/dd/HH", year_10000, "Z"), "+10000/01/01/00");
    assert_eq!(
        format("y yy yyy yyyyy uuuu", year_10000, "Z"),
        "10000 00 10000 10000 +10000"
    );
    let caesar = "-0044-03-15T12:00:00Z";
    assert_eq!(
        format("G y yy yyyy u uu uuuu", caesar, "Z"),
        "BC 45 45 0045 -44 44 -0044"
    );
    // `Y` takes any count; `y` stops at 19.
    assert_eq!(
        format(&"Y".repeat(20), "2016-01-01T00:00:00Z", "Z"),
        "00000000000000002016"
    );
    assert!(TimePattern::parse(&"y".repeat(20)).is_err());
}

#[test]
fn zones() {
    assert_eq!(zone("Z"), Zone::Utc);
    assert_eq!(zone("UTC"), Zone::Region(Tz::UTC));
    assert_eq!(Zone::default().id(), "Z");
    assert_eq!(zone("Asia/Kolkata").id(), "Asia/Kolkata");
    assert!("utc".parse::<Zone>().is_err());
    assert!("+05:30".parse::<Zone>().is_err());

    let at = "2018-08-27T10:30:00Z";
    let names = "VV|z|zzzz|v|vvvv|O|XXX";
    assert_eq!(format(names, at, "Z"), "Z|Z|Z|Z|Z|GMT|Z");
    assert_eq!(
        format(names, at, "UTC"),
        "UTC|UTC|Coordinated Universal Time|UTC|Coordinated Universal Time|GMT|Z"
    );
    assert_eq!(
        format(names, at, "America/New_York"),
        "America/New_York|EDT|Eastern Daylight Time|ET|Eastern Time|GMT-4|-04:00"
    );
    assert_eq!(
        format("HH:mm zzzz xxx", at, "Asia/Kolkata"),
        "16:00 India Standard Time +05:30"
    );
}

#[test]
fn shows_zone_marks_patterns_that_need_a_custom_time_zone() {
    assert!(!parse("yyyy/MM/dd/HH").shows_zone());
    assert!(!parse("'Z'yyyy").shows_zone());
    for pattern in ["VV", "z", "vvvv", "O", "X", "x", "Z", "yyyy[ZZZZ]"] {
        assert!(parse(pattern).shows_zone(), "{pattern}");
    }
    assert_eq!(parse("yyyy-'w'ww").source(), "yyyy-'w'ww");
}

#[test]
fn java_and_chrono_tz_know_the_same_zones() {
    let java: Vec<&str> = JAVA_ZONE_NAMES
        .lines()
        .skip(2)
        .filter_map(|line| line.split('\t').next())
        .collect();
    // Java 17 still ships the obsolete `SystemV/*` zones; tzdata dropped them in 2020.
    let unknown: Vec<&&str> = (java.iter())
        .filter(|id| !id.starts_with("SystemV/") && id.parse::<Zone>().is_err())
        .collect();
    assert!(
        unknown.is_empty(),
        "zones Java has and chrono-tz lacks: {unknown:?}"
    );
    let refused: Vec<&str> = (chrono_tz::TZ_VARIANTS.iter())
        .map(|tz| tz.name())
        .filter(|id| id.parse::<Zone>().is_err())
        .collect();
    // Java's ZoneId.of refuses these, and reads `GMT+0` and `GMT-0` as `GMT`.
    assert_eq!(refused, ["EST", "HST", "MST", "ROC"]);
    assert_eq!(zone("GMT+0"), Zone::Region(Tz::GMT));
}
