use super::*;

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().expect("valid test time")
}

fn parse(template: &str) -> PrefixTemplate {
    PrefixTemplate::parse(template).expect("template parses")
}

/// Evaluates at 2024-05-01T07:08:09.123Z, a Wednesday.
fn eval(template: &str, keys: &[(&str, &str)], kind: Option<&str>) -> Result<String, String> {
    eval_at(template, at("2024-05-01T07:08:09.123Z"), keys, kind)
}

fn eval_at(
    t: &str,
    ts: DateTime<Utc>,
    keys: &[(&str, &str)],
    kind: Option<&str>,
) -> Result<String, String> {
    let ctx = PrefixContext {
        timestamp: ts,
        partition_keys: keys,
        error_output_type: kind,
    };
    parse(t).evaluate(&ctx).map_err(|e| e.to_string())
}

/// Rows of `|`-separated cells, trimmed; blank lines skipped.
fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
    let lines = table.lines().filter(|line| !line.trim().is_empty());
    lines.map(|line| line.split('|').map(str::trim).collect())
}

#[test]
fn default_prefix_gives_hourly_folders_and_four_partitions() {
    let t = parse(DEFAULT_PREFIX);
    assert_eq!(
        eval(DEFAULT_PREFIX, &[], None).as_deref(),
        Ok("2024/05/01/07/")
    );
    let layout = t.table_layout();
    assert_eq!(layout.root, "");
    let columns = ["partition_0", "partition_1", "partition_2", "partition_3"];
    assert_eq!(layout.partition_columns, columns);
    assert_eq!(
        t.partition_values("2024/05/01/07/"),
        ["2024", "05", "01", "07"]
    );
    assert!(t.has_expressions() && t.uses_timestamp() && !t.uses_error_output_type());
}

#[test]
fn hive_style_prefix_gives_named_columns() {
    let t = parse("events/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/");
    let evaluated = eval(t.source(), &[], None).expect("evaluates");
    assert_eq!(evaluated, "events/dt=2024-05-01/hour=07/");
    let layout = t.table_layout();
    assert_eq!(layout.root, "events/");
    assert_eq!(layout.partition_columns, ["dt", "hour"]);
    assert_eq!(t.partition_values(&evaluated), ["2024-05-01", "07"]);
}

#[test]
fn layout_reads_quoted_and_upper_case_keys_and_skips_object_name_text() {
    let t = parse("a/b/!{timestamp:'Year='yyyy}/static/Tenant=!{partitionKeyFromQuery:t}/x-");
    let layout = t.table_layout();
    assert_eq!(layout.root, "a/b/");
    assert_eq!(layout.partition_columns, ["year", "partition_1", "tenant"]);
    let values = t.partition_values("a/b/Year=2024/static/Tenant=acme/x-");
    assert_eq!(values, ["2024", "static", "acme"]);
    let literal = parse("logs/app/");
    assert_eq!(literal.table_layout().root, "logs/app/");
    assert!(!literal.has_expressions() && literal.table_layout().partition_columns.is_empty());
}

#[test]
fn timestamp_patterns() {
    // 2016-01-01 is a Friday in US week 1 of 2016 (ISO week 53 of 2015): Java en-US weeks.
    let table = "
        !{timestamp:'year='yyyy}        | 2024-05-01T07:08:09.123Z | year=2024
        !{timestamp:yyyy''MM 'it''s'}   | 2024-05-01T07:08:09.123Z | 2024'05 it's
        !{timestamp:YYYY-'w'ww}         | 2016-02-25T00:00:00Z     | 2016-w09
        !{timestamp:YYYY-w/yy}          | 2016-01-01T00:00:00Z     | 2016-1/16
        !{timestamp:uuuu M d H m s}     | 2024-05-01T07:08:09.123Z | 2024 5 1 7 8 9
        !{timestamp:SSS S SSSSSS}       | 2024-05-01T07:08:09.123Z | 123 1 123000
        !{timestamp:DDD D w a hh h E}   | 2024-05-01T07:08:09.123Z | 122 122 18 AM 07 7 Wed
        !{timestamp:h a EEE}            | 2024-05-05T00:30:00Z     | 12 AM Sun
        !{timestamp:hh a, DD}           | 2024-01-02T13:00:00Z     | 01 PM, 02
    ";
    for row in rows(table) {
        let got = eval_at(row[0], at(row[1]), &[], None);
        assert_eq!(got.as_deref(), Ok(row[2]), "{}", row[0]);
    }
}

#[test]
fn partition_keys_are_substituted_and_listed_once() {
    let q = "c=!{partitionKeyFromQuery:id}/!{partitionKeyFromLambda:region}/!{partitionKeyFromQuery:id}/";
    assert_eq!(parse(q).partition_key_names(), ["id", "region"]);
    let keys = [("region", "eu-west-1"), ("id", "42")];
    assert_eq!(eval(q, &keys, None).as_deref(), Ok("c=42/eu-west-1/42/"));
    let want = format!("prefix `{q}` uses partition key `id`, which the record does not have");
    assert_eq!(eval(q, &keys[..1], None), Err(want));
}

#[test]
fn error_output_type_is_required_when_used() {
    let t = "errors/!{firehose:error-output-type}/";
    let failed = eval(t, &[], Some("processing-failed"));
    assert_eq!(failed.as_deref(), Ok("errors/processing-failed/"));
    let want = format!("prefix `{t}` uses !{{firehose:error-output-type}} but none was given");
    assert_eq!(eval(t, &[], None), Err(want));
}

#[test]
fn random_string_stays_until_filled() {
    let evaluated = eval("!{firehose:random-string}/data/", &[], None).expect("evaluates");
    assert_eq!(evaluated, "!{firehose:random-string}/data/");
    assert_eq!(
        fill_random_strings_with(&evaluated, || "5abf82daaa5".into()),
        "5abf82daaa5/data/"
    );
    let (a, b) = (random_string(), random_string());
    assert_eq!(a.len(), 11);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
        "{a}"
    );
    assert_ne!(a, b);
}

#[test]
fn parse_errors_name_the_expression_and_position() {
    let table = "
        a/!{timestamp:H         | unterminated expression `!{timestamp:H` at byte 2: missing `}`
        !{timestamp:y/!{firehose:random-string} | unterminated expression `!{timestamp:y/` at byte 0: missing `}`
        x/!{}                   | empty expression `!{}` at byte 2
        !{foo:bar}              | unknown expression `!{foo:bar}` at byte 0
        k/!{firehose:nope}      | unknown expression `!{firehose:nope}` at byte 2
        !{partitionKeyFromQuery:} | expression `!{partitionKeyFromQuery:}` at byte 0 has no value
        !{timestamp}            | expression `!{timestamp}` at byte 0 has no value
        !{timestamp:yyyy-b}     | unknown pattern letter 'b' at position 5 of timestamp pattern `yyyy-b`
        !{timestamp:ddd}        | too many pattern letters: 'ddd' ('d' takes 1 or 2) at position 0 of timestamp pattern `ddd`
        x!{timestamp:'abc}      | unterminated quote at position 0 of timestamp pattern `'abc`
        !{timestamp:yyyy#}      | reserved character '#' at position 4 of timestamp pattern `yyyy#`
    ";
    for row in rows(table) {
        let err = PrefixTemplate::parse(row[0]).expect_err(row[0]);
        assert!(err.to_string().starts_with(row[1]), "{}: {err}", row[0]);
    }
}

fn validate(prefix: &str, error_prefix: &str) -> Result<(), String> {
    let (prefix, error_prefix) = (parse(prefix), parse(error_prefix));
    let both = validate_prefix(&prefix, NameRule::ObjectKey)
        .and_then(|()| validate_error_prefix(&prefix, &error_prefix));
    both.map_err(|e| e.to_string())
}

#[test]
fn validation_reports_firehose_messages() {
    let dynamic = "data/!{timestamp:yyyy}/";
    let required = "ErrorOutputPrefix can't be null when Prefix contains expressions \
        (Prefix is `data/!{timestamp:yyyy}/`)";
    assert_eq!(validate(dynamic, ""), Err(required.into()));
    let needs_type = "ErrorOutputPrefix must contain !{firehose:error-output-type} when Prefix \
        contains expressions (ErrorOutputPrefix is `errors/`)";
    assert_eq!(validate(dynamic, "errors/"), Err(needs_type.into()));
    // Prefix | ErrorOutputPrefix | start of the error, or `ok`.
    let table = "
        data/                 | e/!{timestamp:yyyy}/              | ErrorOutputPrefix expressions must include
        x/!{firehose:error-output-type}/ | x/                     | Prefix can't contain !{firehose:error-output-type}
        /data/                |                                   | Prefix and ErrorOutputPrefix must not start with '/'
        data/!{timestamp:yyyy}/ | /e/!{firehose:error-output-type} | Prefix and ErrorOutputPrefix must not start with '/'
        data/!{timestamp:yyyy}/ | e/!{firehose:error-output-type}/!{partitionKeyFromLambda:k}/ | ErrorOutputPrefix can't contain partitionKey
        !{timestamp:yyyy/MM/dd/HH}/ | e/!{firehose:error-output-type}/!{timestamp:yyyy/MM}/ | ok
        data/                 |                                   | ok
        data/                 | errors/                           | ok
    ";
    for row in rows(table) {
        match validate(row[0], row[1]) {
            Ok(()) => assert_eq!(row[2], "ok", "{row:?}"),
            Err(err) => assert!(err.starts_with(row[2]), "{row:?}: {err}"),
        }
    }
}

#[test]
fn partition_values_are_escaped_as_hive_does_and_read_back_unescaped() {
    let t = parse("t/k=!{partitionKeyFromQuery:k}/");
    let table = [
        ("plain-value_1", "plain-value_1"),
        ("a/b", "a%2Fb"),
        ("50%", "50%25"),
        ("x=y:z", "x%3Dy%3Az"),
        ("quote\"'*?#", "quote%22%27%2A%3F%23"),
        ("[a]{b}^", "%5Ba%5D%7Bb}%5E"),
        ("tab\tdel\u{7f}", "tab%09del%7F"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "..."),
        ("a..b", "a..b"),
        ("über straße", "über straße"),
    ];
    for (value, folder) in table {
        let evaluated = eval(t.source(), &[("k", value)], None).expect("evaluates");
        assert_eq!(evaluated, format!("t/k={folder}/"), "{value:?}");
        assert_eq!(t.partition_values(&evaluated), [value], "{value:?}");
    }
    assert_eq!(
        eval(t.source(), &[("k", "")], None),
        Err("partition key `k` is an empty string, which names no partition".into())
    );
    assert_eq!(unescape_partition_value("100%zz%4"), "100%zz%4");
}

#[test]
fn config_prefixes_that_leave_the_destination_are_refused() {
    let refused = [
        ("../../escape/", "has a `..` folder"),
        ("a/../../b/", "has a `..` folder"),
        ("a/./b/", "has a `.` folder"),
        ("!{timestamp:'..'}/x/", "has a `..` folder"),
        ("a\u{0}b/", "control character"),
    ];
    for (prefix, reason) in refused {
        let err = validate_prefix(&parse(prefix), NameRule::ObjectKey).unwrap_err();
        assert!(err.to_string().contains(reason), "{prefix:?}: {err}");
        assert!(err.to_string().starts_with("object prefix `"), "{err}");
    }
    for ok in [
        "events/..x/",
        "a.b/c/",
        "dt=!{timestamp:yyyy}/",
        "x..y/!{partitionKeyFromQuery:k}/",
    ] {
        assert!(
            validate_prefix(&parse(ok), NameRule::ObjectKey).is_ok(),
            "{ok}"
        );
    }
    let err = validate_error_prefix(&parse("d/"), &parse("../errors/")).unwrap_err();
    assert!(err.to_string().contains("`..` folder"), "{err}");
}

#[test]
fn name_rules_for_indices_and_tables() {
    assert!(NameRule::IndexName.check("logs-2024-05-01").is_ok());
    for bad in ["Logs", "_x", "a b", "a/b", "..", "a:b", "a#b"] {
        assert!(NameRule::IndexName.check(bad).is_err(), "{bad}");
    }
    assert!(NameRule::IndexName.check(&"a".repeat(256)).is_err());
    assert!(NameRule::TableName.check("orders-eu_1.v2").is_ok());
    for bad in ["ab", "a/b/c", "a%2Fb", &"t".repeat(256)] {
        assert!(NameRule::TableName.check(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_prefix_without_a_timestamp_gets_firehoses_default_appended() {
    let at_ = at("2018-08-27T10:30:00Z");
    let table = [
        ("myFirehosePrefix", "myFirehosePrefix/2018/08/27/10/"),
        ("data/", "data/2018/08/27/10/"),
        (
            "r=!{firehose:random-string}/",
            "r=!{firehose:random-string}/2018/08/27/10/",
        ),
        ("dt=!{timestamp:yyyy}/", "dt=2018/"),
    ];
    for (prefix, want) in table {
        let text = with_default_timestamp(prefix);
        assert_eq!(
            eval_at(&text, at_, &[], None).as_deref(),
            Ok(want),
            "{prefix}"
        );
    }
    // Dynamic partitioning keeps its prefix; an empty one takes the default prefix later.
    let keyed = "k=!{partitionKeyFromQuery:k}/";
    assert_eq!(with_default_timestamp(keyed), keyed);
    assert_eq!(with_default_timestamp(""), "");
    let layout = parse(&with_default_timestamp("data/")).table_layout();
    assert_eq!(layout.root, "data/");
    assert_eq!(layout.partition_columns.len(), 4);
}

#[test]
fn each_random_string_is_its_own() {
    let evaluated = eval(
        "a=!{firehose:random-string}/b=!{firehose:random-string}/",
        &[],
        None,
    )
    .unwrap();
    let filled = fill_random_strings(&evaluated);
    let parts: Vec<&str> = filled.trim_end_matches('/').split('/').collect();
    let (a, b) = (&parts[0][2..], &parts[1][2..]);
    assert_eq!((a.len(), b.len()), (11, 11), "{filled}");
    assert_ne!(a, b);
    let mut n = 0;
    let counted = fill_random_strings_with(&evaluated, || {
        n += 1;
        format!("r{n}")
    });
    assert_eq!(counted, "a=r1/b=r2/");
}

#[test]
fn the_guides_examples_evaluate_as_documented() {
    // docs: s3-prefixes, "Examples" — at 10:30 AM UTC on 2018-08-27.
    let at_ = at("2018-08-27T10:30:00Z");
    let table = [
        (
            "myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}/",
            "myFirehose/DeliveredYear=2018/anyMonth/rand=RANDOM/",
        ),
        (
            "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
            "myPrefix/year=2018/month=08/day=27/hour=10/",
        ),
        ("!{timestamp:yyyy/MM/dd/HH}/", "2018/08/27/10/"),
    ];
    for (prefix, want) in table {
        let evaluated = eval_at(prefix, at_, &[], None).unwrap();
        let filled = fill_random_strings_with(&evaluated, || "RANDOM".into());
        assert_eq!(filled, want, "{prefix}");
    }
    let error = "myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}";
    assert_eq!(
        eval_at(error, at_, &[], Some("processing-failed")).as_deref(),
        Ok("myFirehoseFailures/processing-failed/2018/anyMonth/27")
    );
}

#[test]
fn patterns_take_javas_whole_language_in_the_configured_zone() {
    let at_ = at("2018-08-27T10:30:00Z");
    let table = [
        ("!{timestamp:MMM}/", "Aug/"),
        ("!{timestamp:MMMM EEEE}/", "August Monday/"),
        ("!{timestamp:e Q k K}/", "2 3 10 10/"),
        ("!{timestamp:yyyy[MM]}/", "201808/"),
        ("!{timestamp:XXX}/", "Z/"),
    ];
    for (prefix, want) in table {
        assert_eq!(
            eval_at(prefix, at_, &[], None).as_deref(),
            Ok(want),
            "{prefix}"
        );
    }
    let tokyo = parse("!{timestamp:yyyy-MM-dd HH XXX}/").in_zone("Asia/Tokyo".parse().unwrap());
    let ctx = PrefixContext {
        timestamp: at("2018-08-27T20:30:00Z"),
        partition_keys: &[],
        error_output_type: None,
    };
    assert_eq!(tokyo.evaluate(&ctx).unwrap(), "2018-08-28 05 +09:00/");
    for refused in [
        "!{timestamp:yyyy#}",
        "!{timestamp:bb}",
        "!{timestamp:MMMMMM}",
    ] {
        assert!(PrefixTemplate::parse(refused).is_err(), "{refused}");
    }
}

#[test]
fn us_weeks_at_the_year_boundaries() {
    let table = [
        ("2016-01-01T00:00:00Z", "2016-w01"),
        ("2016-02-25T13:00:00Z", "2016-w09"),
        ("2019-12-29T00:00:00Z", "2020-w01"),
        ("2020-12-31T00:00:00Z", "2021-w01"),
        ("2021-01-03T00:00:00Z", "2021-w02"),
    ];
    for (time, want) in table {
        let got = eval_at("!{timestamp:YYYY-'w'ww}", at(time), &[], None);
        assert_eq!(got.as_deref(), Ok(want), "{time}");
    }
}

#[test]
fn templates_know_when_one_utc_hour_evaluates_to_one_prefix() {
    for (template, hourly) in [
        (
            "events/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
            true,
        ),
        (DEFAULT_PREFIX, true),
        ("k=!{partitionKeyFromQuery:k}/", true),
        ("!{timestamp:yyyy-MM-dd'T'HH'm'}/", true),
        ("!{timestamp:EEE a hh}/", true),
        ("!{timestamp:yyyy-MM-dd HH:mm}/", false),
        ("!{timestamp:ss}/", false),
        ("!{timestamp:HH''mm}/", false),
        ("!{timestamp:B}/", false),
    ] {
        assert_eq!(parse(template).same_within_utc_hour(), hourly, "{template}");
    }
    let tokyo = parse("!{timestamp:HH}/").in_zone("Asia/Tokyo".parse().unwrap());
    assert!(!tokyo.same_within_utc_hour(), "only in UTC");
    // What it promises, checked: every minute of an hour evaluates as its first.
    let template = "a/!{timestamp:yyyy-MM-dd EEE a hh HH'mm'}/";
    assert!(parse(template).same_within_utc_hour());
    let first = eval_at(template, at("2024-02-29T23:00:00Z"), &[], None);
    for minute in 0..60 {
        let at_minute = format!("2024-02-29T23:{minute:02}:59.999Z");
        let evaluated = eval_at(template, at(&at_minute), &[], None);
        assert_eq!(evaluated, first, "{at_minute}");
    }
}

#[test]
fn object_prefixes_keep_within_file_name_and_s3_key_lengths() {
    let rule = NameRule::ObjectKey;
    let folder = "f".repeat(255);
    assert!(rule.check(&format!("t/{folder}/")).is_ok());
    let err = rule
        .check(&format!("t/{folder}x/"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("folder of 256 bytes"), "{err}");
    let long = format!("{}/", [folder.as_str(); 4].join("/"));
    assert_eq!(long.len(), 1024);
    let err = rule.check(&long).unwrap_err().to_string();
    assert!(err.contains("is 1024 bytes, above 900"), "{err}");
}
