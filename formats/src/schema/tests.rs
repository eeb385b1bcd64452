use super::*;

fn col(name: &str, hive_type: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        hive_type: hive_type.into(),
    }
}

fn parse_err(s: &str) -> String {
    match parse_hive_type(s) {
        Ok(dt) => panic!("{s:?} parsed as {dt}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn canonical_names_round_trip() {
    let names = [
        "string",
        "bigint",
        "int",
        "smallint",
        "tinyint",
        "double",
        "float",
        "boolean",
        "timestamp",
        "date",
        "binary",
        "decimal(12,2)",
        "decimal(38,38)",
        "array<bigint>",
        "array<struct<sku:string,qty:bigint,price:double>>",
        "map<string,string>",
        "map<string,array<int>>",
        "struct<a:int,`user id`:string,`b``q`:date>",
    ];
    for name in names {
        let dt = parse_hive_type(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hive_type_name(&dt).as_deref(), Ok(name));
    }
}

#[test]
fn aliases_case_and_whitespace() {
    for (input, canonical) in [
        ("varchar(255)", "string"),
        ("CHAR(1)", "string"),
        ("Integer", "int"),
        ("decimal", "decimal(10,0)"),
        ("decimal( 5 )", "decimal(5,0)"),
        (
            " struct< a : int , `B c`:ARRAY< String > > ",
            "struct<a:int,`B c`:array<string>>",
        ),
        ("MAP<INT , Double>", "map<int,double>"),
    ] {
        let dt = parse_hive_type(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(hive_type_name(&dt).as_deref(), Ok(canonical), "{input}");
    }
}

#[test]
fn arrow_shapes_match_the_mapping() {
    assert_eq!(parse_hive_type("timestamp"), Ok(MILLIS));
    assert_eq!(
        parse_hive_type("decimal(12,2)"),
        Ok(DataType::Decimal128(12, 2))
    );
    assert_eq!(parse_hive_type("array<int>"), Ok(list_of(DataType::Int32)));
    let DataType::Map(entries, false) = parse_hive_type("map<string,bigint>").unwrap() else {
        panic!("not a map");
    };
    assert_eq!(entries.name(), "key_value");
    let DataType::Struct(kv) = entries.data_type() else {
        panic!("entries not a struct")
    };
    assert_eq!((kv[0].name().as_str(), kv[0].is_nullable()), ("key", false));
    assert_eq!(
        (kv[1].name().as_str(), kv[1].is_nullable()),
        ("value", true)
    );
    let DataType::Struct(fields) = parse_hive_type("struct<a:int>").unwrap() else {
        panic!("not a struct");
    };
    assert!(fields[0].is_nullable());
}

#[test]
fn parse_errors_name_text_and_position() {
    let cases = [
        ("strin", r#"unknown type "strin" at 0 in "strin""#),
        (
            "array<strin>",
            r#"unknown type "strin" at 6 in "array<strin>""#,
        ),
        (
            "decimal(40,2)",
            r#"decimal precision 40 is above 38 at 8 in "decimal(40,2)""#,
        ),
        (
            "decimal(0)",
            r#"decimal precision 0 is below 1 at 8 in "decimal(0)""#,
        ),
        (
            "decimal(3,5)",
            r#"decimal scale 5 is above precision 3 at 10 in "decimal(3,5)""#,
        ),
        (
            "varchar",
            r#"expected '(', found end of input at 7 in "varchar""#,
        ),
        (
            "char(300)",
            r#"char length 300 is not in 1..=255 at 5 in "char(300)""#,
        ),
        (
            "array<int",
            r#"expected '>', found end of input at 9 in "array<int""#,
        ),
        (
            "int int",
            r#"unexpected trailing text "int" at 4 in "int int""#,
        ),
        ("", r#"expected a type, found end of input at 0 in """#),
        (
            "struct<``:int>",
            r#"empty field name at 7 in "struct<``:int>""#,
        ),
        (
            "struct<>",
            r#"struct must have at least one field at 7 in "struct<>""#,
        ),
        (
            "struct<a int>",
            r#"expected ':', found "i" at 9 in "struct<a int>""#,
        ),
        (
            "struct<`a:int>",
            r#"unterminated backtick-quoted name at 7 in "struct<`a:int>""#,
        ),
        (
            "struct<a:int,A:int>",
            r#"duplicate struct field "A" (same as "a") at 13 in "struct<a:int,A:int>""#,
        ),
        (
            "map<array<int>,int>",
            r#"map key must be a primitive type at 4 in "map<array<int>,int>""#,
        ),
    ];
    for (input, message) in cases {
        assert_eq!(parse_err(input), message);
    }
}

#[test]
fn athena_unreadable_arrow_types_are_named() {
    let err = |dt: DataType| hive_type_name(&dt).map_err(|e| e.to_string()).unwrap_err();
    assert_eq!(
        err(DataType::UInt32),
        "Arrow type UInt32 has no Athena-readable Hive type (Athena has no unsigned integers)"
    );
    assert!(err(DataType::Timestamp(TimeUnit::Nanosecond, None)).contains("Timestamp(ns)"));
    assert!(err(DataType::Utf8View).contains("Utf8View"));
    assert!(err(list_of(DataType::UInt8)).contains("UInt8"));
    assert!(err(DataType::Decimal256(50, 2)).contains("Decimal256(50, 2)"));
    assert_eq!(
        hive_type_name(&DataType::Timestamp(TimeUnit::Microsecond, None)).as_deref(),
        Ok("timestamp")
    );
}

#[test]
fn from_columns_builds_nullable_fields_and_canonical_columns() {
    let schema = TableSchema::from_columns(&[
        col("id", "BIGINT"),
        col("price", "decimal(12, 2)"),
        col("tags", "array<varchar(10)>"),
    ])
    .unwrap();
    let arrow = schema.arrow();
    assert!(arrow.fields().iter().all(|f| f.is_nullable()));
    assert_eq!(arrow.field(1).data_type(), &DataType::Decimal128(12, 2));
    assert_eq!(
        schema.columns(),
        vec![
            col("id", "bigint"),
            col("price", "decimal(12,2)"),
            col("tags", "array<string>")
        ]
    );
}

#[test]
fn from_columns_rejects_bad_columns_naming_them() {
    let err = |cols: &[ColumnSpec]| TableSchema::from_columns(cols).unwrap_err().to_string();
    assert_eq!(
        err(&[col("userId", "string"), col("userid", "int")]),
        r#"duplicate column "userid" (same as "userId" ignoring case)"#
    );
    assert_eq!(
        err(&[col("a", "int"), col("", "int")]),
        "column 1 has an empty name"
    );
    assert_eq!(
        err(&[col("amount", "decimal(40,2)")]),
        r#"column "amount": decimal precision 40 is above 38 at 8 in "decimal(40,2)""#
    );
    assert_eq!(err(&[]), "a table needs at least one column");
}

#[test]
fn column_spec_config_shape() {
    let spec: ColumnSpec = serde_json::from_str(r#"{"name":"id","type":"bigint"}"#).unwrap();
    assert_eq!(spec, col("id", "bigint"));
    assert!(serde_json::from_str::<ColumnSpec>(r#"{"name":"id","type":"int","x":1}"#).is_err());
}

#[test]
fn infers_clickstream_records() {
    let records: [&[u8]; 4] = [
        br#"{"user_id":"u1","page":"/home","duration_ms":120,"score":1,"geo":{"country":"DE","city":"Berlin"},"referrer":null}"#,
        br#"{"user_id":"u2","page":"/cart","duration_ms":80,"score":2.5,"geo":{"country":"FR","city":"Paris"},"referrer":"ad","items":[{"sku":"a1","qty":2}]}
"#,
        b"not json at all",
        br#"{"user_id":"u3","page":"/buy","duration_ms":45,"score":3,"geo":{"country":"US"}}"#,
    ];
    let schema = TableSchema::infer(records.into_iter()).unwrap();
    let columns: Vec<_> = schema
        .columns()
        .into_iter()
        .map(|c| (c.name, c.hive_type))
        .collect();
    let expected = [
        ("duration_ms", "bigint"),
        ("geo", "struct<city:string,country:string>"),
        ("page", "string"),
        ("referrer", "string"),
        ("score", "double"),
        ("user_id", "string"),
        ("items", "array<struct<qty:bigint,sku:string>>"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(columns, expected);
    let arrow = schema.arrow();
    assert!(arrow.fields().iter().all(|f| f.is_nullable()));
    let DataType::List(element) = arrow.field(6).data_type() else {
        panic!("not a list")
    };
    assert_eq!(
        (element.name().as_str(), element.is_nullable()),
        ("element", true)
    );
}

#[test]
fn inference_normalizes_nulls_empties_and_mixes() {
    let records: [&[u8]; 2] = [
        br#"{"n":null,"e":[],"o":{},"m":true,"s":1,"k":null}"#,
        br#"{"m":"yes","s":[2,3],"k":5}"#,
    ];
    let schema = TableSchema::infer(records.into_iter()).unwrap();
    let columns: Vec<_> = schema
        .columns()
        .into_iter()
        .map(|c| (c.name, c.hive_type))
        .collect();
    let expected = [
        ("e", "array<string>"),
        ("k", "bigint"),
        ("m", "string"),
        ("n", "string"),
        ("o", "string"),
        ("s", "array<bigint>"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(columns, expected);
}

#[test]
fn inference_errors() {
    let infer = |records: &[&[u8]]| TableSchema::infer(records.iter().copied());
    assert_eq!(
        infer(&[b"[1,2]", b"42", b"{oops"]),
        Err(SchemaError::NoRecords)
    );
    assert_eq!(infer(&[]), Err(SchemaError::NoRecords));
    let conflict = infer(&[br#"{"geo":{"c":"DE"}}"#, br#"{"geo":"DE"}"#]).unwrap_err();
    assert!(
        matches!(conflict, SchemaError::Inference { .. }),
        "{conflict}"
    );
    assert!(
        conflict
            .to_string()
            .starts_with("schema inference failed: "),
        "{conflict}"
    );
    assert_eq!(
        infer(&[br#"{"userId":1,"userid":2}"#])
            .unwrap_err()
            .to_string(),
        r#"duplicate column "userid" (same as "userId" ignoring case)"#
    );
    assert_eq!(infer(&[b"{}"]), Err(SchemaError::NoColumns));
}
