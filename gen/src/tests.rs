//! The crate's tests: determinism, the shape of every kind, timestamps, order totals, sizes.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::*;

fn options(kind: Kind, count: usize, seed: u64) -> Options {
    Options {
        kind,
        count,
        seed,
        start: StartTime::DEFAULT,
    }
}

fn lines(ndjson: &[u8]) -> Vec<&str> {
    let text = std::str::from_utf8(ndjson).expect("output is UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "last line ends in \\n"
    );
    text.lines().collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn str_field<'a>(record: &'a Value, pointer: &str) -> &'a str {
    record
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {record}"))
}

fn u64_field(record: &Value, pointer: &str) -> u64 {
    record
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no unsigned integer at {pointer} in {record}"))
}

/// FNV-1a, 64 bits: a stable fingerprint of the output.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// ---- determinism ----

#[test]
fn same_options_give_the_same_bytes() {
    for kind in Kind::ALL {
        let options = options(kind, 2_000, 11);
        assert_eq!(events(&options), events(&options), "{kind}");
        let mut written = Vec::new();
        write_events(&options, &mut written).unwrap();
        assert_eq!(written, events(&options), "{kind}");
    }
}

#[test]
fn different_seeds_give_different_records() {
    for kind in Kind::ALL {
        let one = events(&options(kind, 100, 1));
        let two = events(&options(kind, 100, 2));
        let (one, two) = (lines(&one), lines(&two));
        assert_eq!(one.len(), two.len());
        let same = one.iter().zip(&two).filter(|(a, b)| a == b).count();
        assert_eq!(same, 0, "{kind}: {same} identical lines");
    }
}

#[test]
fn a_longer_run_starts_with_the_shorter_one() {
    for kind in Kind::ALL {
        let short = events(&options(kind, 300, 5));
        let long = events(&options(kind, 1_000, 5));
        assert!(long.starts_with(&short), "{kind}");
    }
}

#[test]
fn the_start_only_moves_the_timestamps() {
    for kind in Kind::ALL {
        let mut later = options(kind, 500, 3);
        later.start = "2031-12-31T23:59:58".parse().unwrap();
        let a = events(&options(kind, 500, 3));
        let b = events(&later);
        for (a, b) in lines(&a).into_iter().zip(lines(&b)) {
            let (mut a, mut b) = (parse(a), parse(b));
            assert_ne!(a["ts"], b["ts"]);
            a["ts"] = Value::Null;
            b["ts"] = Value::Null;
            assert_eq!(a, b, "{kind}");
        }
    }
}

/// Pins the output, so that no change to the crate alters it by accident: tests and
/// benchmark results rely on `(kind, count, seed, start)` meaning the same bytes forever.
/// Only update these numbers for a deliberate change of the output, and say so loudly.
#[test]
fn output_is_pinned() {
    let pinned = [
        (Kind::Clickstream, 0x95bc_2487_f126_3a9d_u64),
        (Kind::Orders, 0xd0d8_7e92_a6ea_7f67),
        (Kind::Logs, 0x1ed8_48a5_0b56_4a03),
    ];
    for (kind, hash) in pinned {
        let ndjson = events(&options(kind, 1_000, 1));
        assert_eq!(
            fnv1a(&ndjson),
            hash,
            "{kind}: 0x{:016x}; first line: {}",
            fnv1a(&ndjson),
            lines(&ndjson)[0]
        );
    }
}

#[test]
fn zero_records_is_empty_output() {
    for kind in Kind::ALL {
        assert!(events(&options(kind, 0, 1)).is_empty());
    }
}

#[test]
fn one_line_per_record() {
    for kind in Kind::ALL {
        let ndjson = events(&options(kind, 1_234, 8));
        assert_eq!(ndjson.iter().filter(|b| **b == b'\n').count(), 1_234);
        assert!(!ndjson.contains(&b'\r'));
        assert_eq!(lines(&ndjson).len(), 1_234);
    }
}

#[test]
fn writer_errors_are_returned() {
    struct Broken;
    impl io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let error = write_events(&options(Kind::Logs, 10, 1), &mut Broken).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
}

// ---- key order ----

/// Every object key of a JSON document in document order; nested keys as `outer.inner`,
/// the objects in an array under the array's name.
fn key_paths(line: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_str(line);
    KeyPaths {
        prefix: String::new(),
        paths: &mut paths,
    }
    .deserialize(&mut deserializer)
    .unwrap();
    deserializer.end().unwrap();
    paths
}

/// With serde_json's `arbitrary_precision` feature (the Spillway workspace turns it on) a
/// number reaches `deserialize_any` as a one-entry map under this key.
const SERDE_JSON_NUMBER_KEY: &str = "$serde_json::private::Number";

struct KeyPaths<'a> {
    prefix: String,
    paths: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for KeyPaths<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyPaths<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == SERDE_JSON_NUMBER_KEY {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let path = if self.prefix.is_empty() {
                key
            } else {
                format!("{}.{key}", self.prefix)
            };
            self.paths.push(path.clone());
            map.next_value_seed(KeyPaths {
                prefix: path,
                paths: &mut *self.paths,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(KeyPaths {
                prefix: self.prefix.clone(),
                paths: &mut *self.paths,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[test]
fn key_paths_sees_nested_order_and_numbers() {
    assert_eq!(
        key_paths(r#"{"b":1.5,"a":{"z":[{"y":2},{"y":3}],"x":null},"c":"s"}"#),
        ["b", "a", "a.z", "a.z.y", "a.z.y", "a.x", "c"]
    );
}

fn strs(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[test]
fn clickstream_keys_in_reference_order() {
    for line in lines(&events(&options(Kind::Clickstream, 3_000, 21))) {
        let record = parse(line);
        let mut expected = strs(&[
            "event_id",
            "user_id",
            "session_id",
            "event_type",
            "url",
            "referrer",
            "user_agent",
            "ts",
            "geo",
            "geo.country",
            "geo.city",
            "props",
            "props.device",
            "props.screen",
            "props.lang",
            "props.ab_bucket",
        ]);
        let extra: &[&str] = match str_field(&record, "/event_type") {
            "click" | "add_to_cart" => &["props.element_id", "props.sku"],
            "search" => &["props.query"],
            "scroll" => &["props.depth_pct"],
            "checkout" | "purchase" => &["props.cart_value"],
            "page_view" => &[],
            other => panic!("event_type {other}"),
        };
        expected.extend(strs(extra));
        assert_eq!(key_paths(line), expected, "{line}");
    }
}

#[test]
fn orders_keys_in_reference_order() {
    for line in lines(&events(&options(Kind::Orders, 3_000, 22))) {
        let items = parse(line)["items"].as_array().unwrap().len();
        assert!((1..=5).contains(&items), "{line}");
        let mut expected = strs(&["order_id", "customer_id", "items"]);
        for _ in 0..items {
            expected.extend(strs(&["items.sku", "items.qty", "items.price"]));
        }
        expected.extend(strs(&[
            "total",
            "currency",
            "status",
            "payment_method",
            "shipping",
            "shipping.country",
            "shipping.city",
            "shipping.method",
            "ts",
        ]));
        assert_eq!(key_paths(line), expected, "{line}");
    }
}

#[test]
fn logs_keys_in_reference_order() {
    let expected = strs(&[
        "ts",
        "level",
        "service",
        "host",
        "region",
        "message",
        "trace_id",
        "span_id",
        "latency_ms",
        "status_code",
    ]);
    for line in lines(&events(&options(Kind::Logs, 3_000, 23))) {
        assert_eq!(key_paths(line), expected, "{line}");
    }
}

// ---- value shapes ----

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_prefixed_number(text: &str, prefix: &str, digits: usize) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|n| n.len() == digits && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The text of a JSON number has at most two decimals and lies in `low..=high`.
fn is_two_decimal_number(value: &Value, low: f64, high: f64) -> bool {
    let text = value.to_string();
    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
    let number = value.as_f64().unwrap_or(f64::NAN);
    !text.contains(['e', 'E']) && decimals <= 2 && (low..=high).contains(&number)
}

#[test]
fn clickstream_values_have_the_reference_shapes() {
    let mut event_types = BTreeSet::new();
    let mut with_utm = 0;
    let records: Vec<Value> = lines(&events(&options(Kind::Clickstream, 5_000, 31)))
        .into_iter()
        .map(parse)
        .collect();
    for record in &records {
        let event_id = str_field(record, "/event_id");
        let groups: Vec<&str> = event_id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups.iter().all(|g| is_hex(g, g.len())) && groups[2].starts_with('4'));
        assert!(is_prefixed_number(str_field(record, "/user_id"), "u_", 7));
        let session = str_field(record, "/session_id");
        assert!(session.strip_prefix("s_").is_some_and(|h| is_hex(h, 16)));
        let url = str_field(record, "/url");
        assert!(url.starts_with("https://shop.example.com/"), "{url}");
        with_utm += usize::from(url.ends_with("?utm_source=newsletter&utm_campaign=spring"));
        assert!(vocab::REFERRERS.contains(&str_field(record, "/referrer")));
        assert!(vocab::USER_AGENTS.contains(&str_field(record, "/user_agent")));
        let geo = (
            str_field(record, "/geo/country"),
            str_field(record, "/geo/city"),
        );
        assert!(vocab::GEO.contains(&geo));
        assert!(vocab::DEVICES.contains(&str_field(record, "/props/device")));
        assert!(vocab::SCREENS.contains(&str_field(record, "/props/screen")));
        assert!(vocab::LANGS.contains(&str_field(record, "/props/lang")));
        assert!(vocab::AB_BUCKETS.contains(&str_field(record, "/props/ab_bucket")));
        let event_type = str_field(record, "/event_type");
        event_types.insert(event_type.to_owned());
        match event_type {
            "click" | "add_to_cart" => {
                let element = str_field(record, "/props/element_id");
                assert!(vocab::ELEMENTS.contains(&element.strip_prefix("btn-").unwrap()));
                assert!(is_prefixed_number(
                    str_field(record, "/props/sku"),
                    "SKU-",
                    6
                ));
            }
            "search" => {
                let query = str_field(record, "/props/query");
                let words: Vec<&str> = query.split(' ').collect();
                assert!((1..=4).contains(&words.len()), "{query}");
                assert!(
                    words.iter().all(|w| vocab::QUERY_WORDS.contains(w)),
                    "{query}"
                );
            }
            "scroll" => assert!((5..=100).contains(&u64_field(record, "/props/depth_pct"))),
            "checkout" | "purchase" => {
                let value = &record["props"]["cart_value"];
                assert!(is_two_decimal_number(value, 5.0, 900.0), "{value}");
            }
            _ => {}
        }
    }
    let all_types: BTreeSet<String> = vocab::EVENT_TYPES
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(event_types, all_types);
    assert!(
        (500..=1_000).contains(&with_utm),
        "{with_utm} of 5000 with utm (15 %)"
    );
    let page_views = records
        .iter()
        .filter(|r| r["event_type"] == "page_view")
        .count();
    assert!(
        (2_300..=2_700).contains(&page_views),
        "{page_views} of 5000 page views (50 %)"
    );
}

#[test]
fn order_totals_are_the_sum_of_the_items() {
    let mut currencies = BTreeSet::new();
    for (index, line) in lines(&events(&options(Kind::Orders, 5_000, 32)))
        .into_iter()
        .enumerate()
    {
        let record = parse(line);
        assert_eq!(
            str_field(&record, "/order_id"),
            format!("ord_{:010}", 10_000_000 + index)
        );
        assert!(is_prefixed_number(
            str_field(&record, "/customer_id"),
            "c_",
            7
        ));
        let mut sum_cents = 0;
        for item in record["items"].as_array().unwrap() {
            assert!(is_prefixed_number(str_field(item, "/sku"), "SKU-", 6));
            let qty = u64_field(item, "/qty");
            assert!((1..=3).contains(&qty));
            assert!(is_two_decimal_number(&item["price"], 1.99, 250.0), "{line}");
            let price = item["price"].as_f64().unwrap();
            sum_cents += qty * (price * 100.0).round() as u64;
        }
        let total = str_field(&record, "/total");
        let (units, cents) = total.split_once('.').expect("a decimal point");
        assert!(
            cents.len() == 2 && cents.bytes().all(|b| b.is_ascii_digit()),
            "{total}"
        );
        assert!(
            !units.is_empty() && units.bytes().all(|b| b.is_ascii_digit()),
            "{total}"
        );
        assert_eq!(format!("{}.{:02}", sum_cents / 100, sum_cents % 100), total);
        let currency = str_field(&record, "/currency");
        assert!(vocab::CURRENCIES.iter().any(|(c, _)| *c == currency));
        currencies.insert(currency.to_owned());
        assert!(vocab::ORDER_STATUSES.contains(&str_field(&record, "/status")));
        assert!(vocab::PAYMENT_METHODS.contains(&str_field(&record, "/payment_method")));
        let shipping = (
            str_field(&record, "/shipping/country"),
            str_field(&record, "/shipping/city"),
        );
        assert!(vocab::GEO.contains(&shipping));
        assert!(vocab::SHIPPING_METHODS.contains(&str_field(&record, "/shipping/method")));
    }
    assert_eq!(currencies.len(), vocab::CURRENCIES.len());
}

#[test]
fn log_values_have_the_reference_shapes() {
    let mut levels = BTreeSet::new();
    let mut message_starts = BTreeSet::new();
    for line in lines(&events(&options(Kind::Logs, 5_000, 33))) {
        let record = parse(line);
        let level = str_field(&record, "/level");
        assert!(vocab::LEVELS.iter().any(|(l, _)| *l == level));
        levels.insert(level.to_owned());
        let service = str_field(&record, "/service");
        assert!(vocab::SERVICES.contains(&service));
        let host = str_field(&record, "/host");
        let suffix = host.strip_prefix(service).and_then(|h| h.strip_prefix('-'));
        let (a, b) = suffix.and_then(|s| s.split_once('-')).expect(host);
        assert!(is_hex(a, 10) && is_hex(b, 5), "{host}");
        assert!(vocab::REGIONS.contains(&str_field(&record, "/region")));
        assert!(is_hex(str_field(&record, "/trace_id"), 32));
        assert!(is_hex(str_field(&record, "/span_id"), 16));
        let latency = u64_field(&record, "/latency_ms");
        assert!((1..=3_000).contains(&latency));
        let status = u64_field(&record, "/status_code");
        assert!(vocab::STATUS_CODES.iter().any(|s| u64::from(*s) == status));
        let message = str_field(&record, "/message");
        if message.starts_with("GC pause") || message.starts_with("upstream timeout") {
            assert!(message.contains(&format!(" {latency}ms")), "{line}");
        }
        if message.starts_with("db query slow") {
            assert!(
                message.contains(&format!("duration_ms={latency} ")),
                "{line}"
            );
        }
        message_starts.insert(message.split(' ').next().unwrap().to_owned());
    }
    assert_eq!(levels.len(), 4);
    assert_eq!(message_starts.len(), 8, "{message_starts:?}");
}

// ---- timestamps ----

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn ts_unix_ms(ts: &str) -> i64 {
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    let seconds: StartTime = ts[..19].parse().unwrap();
    let millis: i64 = ts[20..23].parse().unwrap();
    seconds.unix_seconds() * 1000 + millis
}

#[test]
fn timestamps_stay_within_seconds_of_the_start() {
    for start in [
        "2024-05-01T00:00:00",
        "2024-12-31T23:59:59",
        "2024-02-28T23:59:58",
    ] {
        for kind in Kind::ALL {
            let options = Options {
                kind,
                count: 500,
                seed: 4,
                start: start.parse().unwrap(),
            };
            let start_ms = options.start.unix_seconds() * 1000;
            let mut out_of_order = 0;
            let mut previous = i64::MIN;
            for line in lines(&events(&options)) {
                let ts = ts_unix_ms(str_field(&parse(line), "/ts"));
                // The clock moves at most 12 ms a record, the jitter is at most 50 ms back.
                assert!(ts >= start_ms - 50 && ts <= start_ms + 12 * 500, "{line}");
                out_of_order += usize::from(ts < previous);
                previous = ts;
            }
            assert!(out_of_order > 0 && out_of_order < 500, "{start} {kind}");
        }
    }
}

#[test]
fn timestamps_cross_midnight_and_leap_days() {
    let options = Options {
        kind: Kind::Logs,
        count: 2_000,
        seed: 9,
        start: "2024-02-28T23:59:59".parse().unwrap(),
    };
    let days: BTreeSet<String> = lines(&events(&options))
        .into_iter()
        .map(|line| str_field(&parse(line), "/ts")[..10].to_owned())
        .collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["2024-02-28", "2024-02-29"]
    );
}

// ---- sizes ----

/// Average line length (without the `\n`) of the Python reference, 20,000 records, seed 1.
const REFERENCE_AVERAGE_BYTES: [(Kind, f64); 3] = [
    (Kind::Clickstream, 518.4),
    (Kind::Orders, 342.9),
    (Kind::Logs, 321.6),
];

#[test]
fn average_line_sizes_match_the_reference() {
    for (kind, reference) in REFERENCE_AVERAGE_BYTES {
        let ndjson = events(&options(kind, 20_000, 1));
        let lines = lines(&ndjson);
        let average = lines.iter().map(|l| l.len()).sum::<usize>() as f64 / lines.len() as f64;
        let off = (average - reference).abs() / reference;
        assert!(off < 0.15, "{kind}: {average:.1} B vs {reference} B");
    }
}

// ---- kinds ----

#[test]
fn kind_names_round_trip() {
    for kind in Kind::ALL {
        assert_eq!(kind.name().parse::<Kind>(), Ok(kind));
        assert_eq!(kind.to_string(), kind.name());
    }
    let error = "Logs".parse::<Kind>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown kind \"Logs\" (expected clickstream, orders or logs)"
    );
}

#[test]
fn options_new_uses_the_reference_defaults() {
    let options = Options::new(Kind::Orders, 10);
    assert_eq!(options.seed, 42);
    assert_eq!(options.start.to_string(), "2024-05-01T00:00:00");
}
