//! The fast path held equal to arrow-json: every shape it takes, and every shape it must
//! leave to arrow-json.

use super::cursor::utc_millis;
use super::*;
use crate::schema::{ColumnSpec, TableSchema};
use crate::value::timestamp_millis_from_text;
use arrow_json::ReaderBuilder;

fn schema() -> SchemaRef {
    let col = |name: &str, t: &str| ColumnSpec {
        name: name.into(),
        hive_type: t.into(),
    };
    TableSchema::from_columns(&[
        col("s", "string"),
        col("i8", "tinyint"),
        col("i16", "smallint"),
        col("i32", "int"),
        col("i64", "bigint"),
        col("f", "float"),
        col("d", "double"),
        col("b", "boolean"),
        col("ts", "timestamp"),
        col("dec", "decimal(12,2)"),
        col("st", "struct<a:string,n:int,inner:struct<x:double>>"),
        col("l", "array<bigint>"),
        col("ls", "array<struct<sku:string,qty:int>>"),
    ])
    .unwrap()
    .arrow()
}

fn batch(lines: &[String]) -> Batch {
    Batch::of_lines(lines)
}

/// The slow path's answer for the whole batch: the value rules, then arrow-json (`None`
/// when either refuses a record).
fn arrow_json(schema: &SchemaRef, batch: &Batch) -> Option<RecordBatch> {
    let (batch, _, refused) = super::super::normalize::normalize(schema, batch, 0, batch.len());
    if !refused.is_empty() {
        return None;
    }
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(batch.len())
        .build_decoder()
        .unwrap();
    decoder.decode(&batch.data).ok()?;
    decoder
        .flush()
        .ok()?
        .filter(|rb| rb.num_rows() == batch.len())
}

/// Each field's value is one of the ordinary texts (`None`: the field is left out), or,
/// now and then, one of the unusual ones the fast path gives up on or arrow-json rejects.
fn choices(field: &str) -> (&'static [Option<&'static str>], &'static [&'static str]) {
    match field {
        "s" => (
            &[
                Some(r#""plain""#),
                Some(r#""tab\t \"q\" \\ \/ \u00e9 \u65e5""#),
                Some(r#""日本 é""#),
                Some("null"),
                None,
            ],
            &["17", "true", r#""\ud83d\ude00""#],
        ),
        "i8" => (&[Some("7"), Some("-128"), None], &["300", "1.0", r#""5""#]),
        "i16" => (
            &[Some("-32768"), Some("0"), Some("-0"), Some("null")],
            &["1e2"],
        ),
        "i32" => (
            &[Some("2147483647"), Some("12"), Some(" 42 "), None],
            &["2147483648"],
        ),
        "i64" => (
            &[
                Some("9223372036854775807"),
                Some("-9223372036854775808"),
                Some("1"),
            ],
            &["9223372036854775808", "01"],
        ),
        "f" => (
            &[
                Some("1.5"),
                Some("-0.0"),
                Some("3.4028235e38"),
                Some("1e-7"),
                Some("2"),
            ],
            &[r#""1.5""#],
        ),
        "d" => (
            &[
                Some("0.1"),
                Some("-2.5E+3"),
                Some("1.7976931348623157e308"),
                Some("5"),
            ],
            &["NaN", ".5"],
        ),
        "b" => (
            &[Some("true"), Some("false"), Some("null")],
            &["1", r#""true""#],
        ),
        "ts" => (
            &[
                Some(r#""2024-05-01T00:00:00.250Z""#),
                Some(r#""2024-05-01 00:00:00""#),
                Some(r#""2024-05-01T02:00:00+02:00""#),
                Some("1714521600250"),
                None,
            ],
            &[r#""yesterday""#, "1.5e12"],
        ),
        "dec" => (
            &[
                Some(r#""188.50""#),
                Some("12.3"),
                Some(r#""-0.01""#),
                Some("7"),
                Some(r#""1.005""#),
            ],
            &[r#""12345678901.5""#, r#""abc""#],
        ),
        "st" => (
            &[
                Some(r#"{"a":"x","n":1,"inner":{"x":2.5}}"#),
                Some(r#"{"inner":null,"zz":[1,{"q":"}"}]}"#),
                Some("null"),
                Some(r#"{ "a" : "y" , "extra" : {"deep":[true,false,null,"s\"x"]} }"#),
                Some("{}"),
            ],
            &[r#"{"n":1,"n":2}"#, "[]"],
        ),
        "l" => (
            &[
                Some("[1,2,3]"),
                Some("[]"),
                Some("null"),
                Some("[1,null,3]"),
                Some("[ 4 , 5 ]"),
            ],
            &[r#"["1"]"#],
        ),
        "ls" => (
            &[
                Some(r#"[{"sku":"A","qty":1},{"qty":2,"sku":"B"}]"#),
                Some("[null]"),
                Some("[]"),
                None,
            ],
            &[r#"[{"sku":1}]"#],
        ),
        _ => (&[None], &[]),
    }
}

/// Seeded records mixing every choice, with unknown fields and varied field order.
fn records(count: usize, seed: u64) -> Vec<String> {
    let schema = schema();
    let mut x = seed;
    let mut next = |n: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) as usize) % n
    };
    (0..count)
        .map(|_| {
            let mut parts: Vec<String> = Vec::new();
            for field in schema.fields() {
                let (ordinary, unusual) = choices(field.name());
                let value = if next(40) == 0 && !unusual.is_empty() {
                    Some(unusual[next(unusual.len())])
                } else {
                    ordinary[next(ordinary.len())]
                };
                if let Some(value) = value {
                    parts.push(format!("\"{}\":{value}", field.name()));
                }
            }
            if next(3) == 0 {
                parts.push(r#""unknown":{"a":[1,2,{"b":"\"}"}],"c":null}"#.into());
            }
            if next(4) == 0 {
                let i = next(parts.len().max(1));
                let j = next(parts.len().max(1));
                if i < parts.len() && j < parts.len() {
                    parts.swap(i, j);
                }
            }
            format!("{{{}}}", parts.join(","))
        })
        .collect()
}

#[test]
fn whatever_the_fast_path_accepts_it_decodes_exactly_as_arrow_json() {
    let schema = schema();
    let lines = records(3000, 11);
    let mut accepted = Vec::new();
    for line in &lines {
        let one = batch(std::slice::from_ref(line));
        if let Some(fast) = decode(&schema, &one, 0, 1) {
            let slow = arrow_json(&schema, &one);
            assert_eq!(Some(&fast), slow.as_ref(), "{line}");
            accepted.push(line.clone());
        }
    }
    // It takes the ordinary records and leaves the unusual ones (about a quarter have one).
    assert!(
        (1500..2900).contains(&accepted.len()),
        "accepted {} of 3000",
        accepted.len()
    );
    let all = batch(&accepted);
    let fast = decode(&schema, &all, 0, all.len()).unwrap();
    assert_eq!(Some(fast), arrow_json(&schema, &all));
    // In chunks, each sized from the one before (the last one smaller), as the encoder does.
    let mut sizes = Sizes::default();
    for chunk in accepted.chunks(700) {
        let b = batch(chunk);
        let fast = decode_sized(&schema, &b, 0, b.len(), &mut sizes).unwrap();
        assert_eq!(Some(fast), arrow_json(&schema, &b));
    }
}

#[test]
fn ordinary_records_take_the_fast_path() {
    let schema = schema();
    let lines = [
        r#"{"s":"a","i8":1,"i16":2,"i32":3,"i64":4,"f":1.5,"d":2.5,"b":true,"ts":"2024-05-01T00:00:00.250Z","dec":"188.50","st":{"a":"x","n":1,"inner":{"x":0.5}},"l":[1,2],"ls":[{"sku":"A","qty":1}]}"#,
        r#"{"other":{"deep":[1,{"x":"]"}]},"s":"esc \"q\" \u00e9"}"#,
        r#" { "i64" : -5 , "st" : null , "l" : [ ] } "#,
    ]
    .map(String::from);
    let b = batch(&lines);
    let fast = decode(&schema, &b, 0, b.len()).expect("the fast path takes these");
    assert_eq!(Some(fast), arrow_json(&schema, &b));
}

#[test]
fn anything_unusual_is_left_to_arrow_json() {
    let schema = schema();
    for line in [
        r#"{"s":17}"#,
        r#"{"i32":1.0}"#,
        r#"{"i32":"5"}"#,
        r#"{"i8":300}"#,
        r#"{"s":"a","s":"b"}"#,
        r#"{"s":"\ud83d\ude00"}"#,
        r#"{"s\u0041":"a"}"#,
        r#"[1,2]"#,
        r#"{"s":"a"} {"s":"b"}"#,
        r#"{"s":"bad \x escape"}"#,
        r#"{"s":"sign in a hex escape \u+041"}"#,
        r#"{"b":"true"}"#,
        r#"{"ts":"yesterday"}"#,
        r#"{"s":"unterminated}"#,
        "",
    ] {
        let b = batch(&[line.to_string()]);
        assert!(decode(&schema, &b, 0, 1).is_none(), "{line}");
    }
}

#[test]
fn the_timestamp_shortcut_agrees_with_the_value_rules() {
    let mut x = 7u64;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let mut shortcut = 0;
    for i in 0..20_000 {
        let fraction = match next(5) {
            0 => String::new(),
            1 => format!(".{:03}", next(1000)),
            2 => format!(".{}", next(10)),
            3 => format!(".{:06}", next(1_000_000)),
            _ => format!(".{:09}", next(1_000_000_000)),
        };
        // Mostly valid fields, now and then one out of range (day 29..31 of any month,
        // hour 24, second 60, year 0000).
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{}",
            if i % 97 == 0 { 0 } else { 1900 + next(250) },
            1 + next(12),
            1 + next(31),
            next(25),
            next(60),
            next(61),
            ["Z", "Z", "Z", "+00:00", "z"][next(5) as usize],
        );
        let fast = utc_millis(text.as_bytes());
        let slow = timestamp_millis_from_text(&text);
        if let Some(millis) = fast {
            shortcut += 1;
            assert_eq!(Some(millis), slow, "{text}");
        }
    }
    assert!(shortcut > 8000, "{shortcut}");
    for text in [
        "2024-02-29T23:59:59.999Z",
        "1969-12-31T23:59:59.5Z",
        "0000-01-01T00:00:00Z",
    ] {
        let slow = timestamp_millis_from_text(text).unwrap();
        assert_eq!(utc_millis(text.as_bytes()), Some(slow), "{text}");
    }
    for text in [
        "2023-02-29T00:00:00Z",
        "2024-05-01 00:00:00Z",
        "2024-05-01T00:00:00.Z",
    ] {
        assert_eq!(utc_millis(text.as_bytes()), None, "{text}");
    }
}

#[test]
fn schemas_with_types_it_does_not_build_are_left_to_arrow_json() {
    let col = |name: &str, t: &str| ColumnSpec {
        name: name.into(),
        hive_type: t.into(),
    };
    let schema = TableSchema::from_columns(&[col("s", "string"), col("day", "date")])
        .unwrap()
        .arrow();
    let b = batch(&[r#"{"s":"a","day":"2024-05-01"}"#.to_string()]);
    assert!(decode(&schema, &b, 0, 1).is_none());
}
