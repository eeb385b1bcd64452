//! Config handling as a user meets it: the shipped example loads; a bad config is refused
//! with exit code 2 and a message naming each bad key, never a panic or a stack trace.

use std::path::Path;

use crate::support::*;
use spillway::source::kinesis::KinesisStream;
use spillway_sinks::dynamodb::config::DynamodbDestination;
use spillway_sinks::object::{ObjectDestination, StoreSpec};

fn validate(dir: &Path, toml: &str) -> (i32, String) {
    let path = dir.join("bad.toml");
    std::fs::write(&path, toml).unwrap();
    let out = spillway()
        .args(["validate", "--config"])
        .arg(&path)
        .env_remove("SPILLWAY_UNSET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    (out.status.code().unwrap(), stderr)
}

const GOOD: &str = r#"
name = "t"
[source]
type = "file"
path = "examples/clickstream"
[destination]
type = "local"
path = "lake"
"#;

#[test]
fn the_example_config_loads_with_its_documented_values() {
    let config = spillway::config::load(&repo_root().join("config.example.toml")).unwrap();
    assert_eq!(config.name, "clickstream");
    assert_eq!(config.flush.max_bytes, 64 << 20);
    assert_eq!(config.flush.max_age, std::time::Duration::from_secs(60));
    assert_eq!(config.decoder.max_record_size, 1 << 20);
    assert_eq!(
        config.prefix.table_layout().partition_columns,
        ["dt", "hour"]
    );
    assert_eq!(
        config.destination.catalog_table(),
        Some(("spillway", "events"))
    );
}

#[test]
fn a_minimal_config_validates_and_gets_firehose_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = validate(dir.path(), GOOD);
    assert_eq!(code, 0, "{stderr}");
    let config = spillway::config::load_str(GOOD, &|_| None).unwrap();
    assert_eq!(config.prefix.source(), "!{timestamp:yyyy/MM/dd/HH}/");
    assert_eq!(
        config.retry.retry_duration,
        std::time::Duration::from_secs(300)
    );
}

#[test]
fn every_problem_is_reported_with_its_key_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!(
        "{GOOD}prefix = \"x/!{{timestamp:yyyy}}/\"\nerror_output_prefix = \"errors/\"\nretry_duration = \"3h\"\n[destination.buffering]\nsize = \"200 MiB\"\ninterval = \"901s\"\n"
    );
    let (code, stderr) = validate(dir.path(), &bad);
    assert_eq!(code, 2, "{stderr}");
    for expected in [
        "destination.buffering.size: 200 MiB is above the 128 MiB maximum",
        "destination.buffering.interval: 15m 1s is above the 900 s maximum",
        "destination.retry_duration: 3h is above the 7200 s maximum",
        "destination.error_output_prefix: ErrorOutputPrefix must contain !{firehose:error-output-type}",
        "config has 4 problem(s)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn unknown_keys_bad_values_and_unset_variables_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (GOOD.replace("path = \"lake\"", "path = \"lake\"\nbuffer = 5"), "destination.buffer: unknown field `buffer` (did you mean `buffering`?), expected one of `backup`, `buffering`"),
        (format!("{GOOD}[destination.buffering]\nsize = \"lots\"\n"), "destination.buffering.size: invalid size \"lots\""),
        (GOOD.replace("lake", "${SPILLWAY_UNSET}"), "destination.path: environment variable SPILLWAY_UNSET is not set"),
        (GOOD.replace("examples/clickstream", "no/such/input"), "source.path: no such file or folder: no/such/input"),
        (format!("{GOOD}[destination.format]\ntype = \"parquet\"\nschema = {{ columns = [{{ name = \"a\", type = \"strin\" }}] }}\n"), "destination.format.schema.columns: column \"a\": unknown type"),
        (format!("{GOOD}[processing]\ntime_field = \"ts\"\n"), "processing.time_field: invalid field path \"ts\""),
        ("name = \"t\"\n[source\n".to_string(), "config is not valid TOML"),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = validate(dir.path(), &toml);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn run_with_a_bad_config_exits_2_before_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let lake = dir.path().join("lake");
    std::fs::write(
        &path,
        GOOD.replace("\"lake\"", &format!("{:?}", lake))
            .replace("clickstream", "missing"),
    )
    .unwrap();
    let out = spillway()
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("source.path"));
    assert!(!lake.exists());
}

const S3: &str = r#"
name = "t"
[source]
type = "file"
path = "examples/clickstream"
[destination]
type = "s3"
"#;

#[test]
fn s3_destination_problems_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (S3.to_string(), "destination.bucket: missing field `bucket`"),
        (
            format!("{S3}bucket = \"b-1\"\nserver_side_encryption = \"rot13\"\n"),
            "destination.server_side_encryption: \"rot13\" is not one of \"AES256\", \"aws:kms\"",
        ),
        (
            format!("{S3}bucket = \"b-1\"\nprefix = \"e/!{{timestamp:yyyy}}/\"\nerror_output_prefix = \"errors/\"\n"),
            "destination.error_output_prefix: ErrorOutputPrefix must contain !{firehose:error-output-type} when Prefix contains expressions",
        ),
        (format!("{S3}bucket = \"Bad_Bucket\"\n"), "destination.bucket: \"Bad_Bucket\" is not a valid bucket name"),
        (format!("{S3}bucket = \"b-1\"\npart_size = \"1 MiB\"\n"), "destination.part_size: 1 MiB is outside S3's 5 MiB – 5 GiB part size"),
        (
            format!("{S3}bucket = \"b-1\"\n[destination.catalog]\ntype = \"local\"\ndatabase = \"d\"\ntable = \"t\"\n"),
            "destination.catalog.type: \"local\" needs a local destination",
        ),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = validate(dir.path(), &toml);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn the_s3_example_config_validates() {
    let config = spillway::config::load_str(
        &std::fs::read_to_string(repo_root().join("examples/s3-glue.toml")).unwrap(),
        &|name| (name == "SPILLWAY_BUCKET").then(|| "my-bucket".to_string()),
    )
    .unwrap();
    let destination = config
        .destination
        .as_any()
        .downcast_ref::<ObjectDestination>();
    let Some(StoreSpec::S3 { options, .. }) = destination.map(|d| &d.store) else {
        panic!("an S3 destination");
    };
    assert_eq!(options.bucket, "my-bucket");
    assert_eq!(
        config.destination.catalog_table().unwrap().0,
        "spillway_demo"
    );
}

#[test]
fn dynamodb_destination_problems_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name = \"t\"\n[source]\ntype = \"file\"\npath = \"examples/orders\"\n[destination]\ntype = \"dynamodb\"\n";
    let cases = [
        (
            format!("{base}table = \"orders\"\npartition_key = {{ attribute = \"id\", field = \".id\" }}\n"),
            "dead_letter: is required for a destination without an object store of its own (dynamodb, opensearch)",
        ),
        (
            format!("{base}table = \"orders\"\npartition_key = {{ attribute = \"id\", field = \"id\" }}\n[dead_letter]\ntype = \"local\"\npath = \"d\"\n"),
            "destination.partition_key.field: invalid field path \"id\"",
        ),
        (
            format!("{base}table = \"o\"\npartition_key = {{ attribute = \"id\", field = \".id\" }}\n[dead_letter]\ntype = \"local\"\npath = \"d\"\n"),
            "destination.table: \"o\" is not a valid table name",
        ),
        (
            format!("{base}table = \"orders\"\npartition_key = {{ attribute = \"id\", field = \".id\" }}\nordering = \"newest\"\n[dead_letter]\ntype = \"local\"\npath = \"d\"\n"),
            "destination.ordering: unknown variant `newest`",
        ),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = validate(dir.path(), &toml);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn the_dynamodb_example_config_validates() {
    let text = std::fs::read_to_string(repo_root().join("examples/dynamodb.toml")).unwrap();
    let config = spillway::config::load_str(&text, &|_| None).unwrap();
    let Some(DynamodbDestination {
        mapping,
        create_table,
        ..
    }) = config.destination.as_any().downcast_ref()
    else {
        panic!("a DynamoDB destination");
    };
    assert_eq!(config.prefix.source(), "spillway-orders");
    assert_eq!(mapping.partition_key.attribute, "order_id");
    assert!(create_table.is_some());
}

#[test]
fn kinesis_source_problems_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let tail = "[destination]\ntype = \"local\"\npath = \"lake\"\n";
    let cases = [
        (format!("name = \"t\"\n[source]\ntype = \"kinesis\"\nstream = \"s\"\n{tail}"), "source.lease_table: missing field `lease_table`"),
        (
            format!("name = \"t\"\n[source]\ntype = \"kinesis\"\nstream = \"s\"\nlease_table = \"leases\"\nmode = \"push\"\n{tail}"),
            "source.mode: unknown variant `push`, expected `efo` or `polling`",
        ),
        (
            format!("name = \"t\"\n[source]\ntype = \"kinesis\"\nstream = \"s\"\nlease_table = \"leases\"\nstart_position = \"AT_TIMESTAMP\"\n{tail}"),
            "source.start_timestamp: is required with start_position = \"AT_TIMESTAMP\"",
        ),
        (
            format!("name = \"t\"\n[source]\ntype = \"kinesis\"\nstream = \"s\"\nlease_table = \"x\"\n{tail}"),
            "source.lease_table: \"x\" is not a valid DynamoDB table name",
        ),
        (
            format!("name = \"t\"\n[source]\ntype = \"kinesis\"\nstream = \"s\"\nlease_table = \"leases\"\nmax_lease_requests = 0\nfailover_time = \"500ms\"\n{tail}"),
            "source.max_lease_requests: must be at least 1",
        ),
        (
            format!("name = \"t\"\n[source]\ntype = \"kinesis\"\nstream = \"s\"\nlease_table = \"leases\"\nfailover_time = \"500ms\"\n{tail}"),
            "source.failover_time: 500ms is outside 1 s – 10 min",
        ),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = validate(dir.path(), &toml);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn the_kinesis_example_config_validates_with_enhanced_fan_out_by_default() {
    let text = std::fs::read_to_string(repo_root().join("examples/kinesis-to-lake.toml")).unwrap();
    let config = spillway::config::load_str(&text, &|_| None).unwrap();
    let Some(KinesisStream { settings, .. }) = config.source.as_any().downcast_ref() else {
        panic!("a Kinesis source");
    };
    assert_eq!(settings.stream, "spillway-demo");
    assert_eq!(settings.lease_table, "spillway-leases");
    assert_eq!(
        settings.mode,
        spillway::source::kinesis::ReadMode::EnhancedFanOut
    );
    assert_eq!(settings.consumer_name, "spillway-kinesis-to-lake");
}

#[test]
fn opensearch_destination_problems_name_their_key_and_the_example_validates() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name = \"t\"\n[source]\ntype = \"file\"\npath = \"examples/clickstream\"\n[dead_letter]\ntype = \"local\"\npath = \"d\"\n[destination]\ntype = \"opensearch\"\n";
    let cases = [
        (
            format!("{base}endpoint = \"localhost:9200\"\nindex = \"logs\"\n"),
            "destination.endpoint: \"localhost:9200\" is not an http:// or https:// URL",
        ),
        (
            format!("{base}endpoint = \"http://h:9200\"\nindex = \"Logs\"\n"),
            "destination.index: \"Logs\" is not a valid index name",
        ),
        (
            format!("{base}endpoint = \"http://h:9200\"\nindex = \"logs\"\nrotation = \"Daily\"\n"),
            "destination.rotation: unknown variant `Daily`",
        ),
        (
            format!("{base}endpoint = \"http://h:9200\"\nindex = \"logs\"\ndocument_id = \"id\"\n"),
            "destination.document_id: is not auto, none or a field path",
        ),
        (
            format!("{base}endpoint = \"http://h:9200\"\nindex = \"logs\"\nca_file = \"Cargo.toml\"\n"),
            "destination.ca_file: is only used with an https:// endpoint",
        ),
        (
            format!("{base}endpoint = \"https://h:9200\"\nindex = \"logs\"\nca_file = \"Cargo.toml\"\n"),
            "destination.ca_file: Cargo.toml: holds no PEM certificate",
        ),
        (
            format!("{base}endpoint = \"https://h:9200\"\nindex = \"logs\"\nca_file = \"no-such.pem\"\n"),
            "destination.ca_file: cannot read no-such.pem",
        ),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = validate(dir.path(), &toml);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let text = std::fs::read_to_string(repo_root().join("examples/opensearch.toml")).unwrap();
    let config = spillway::config::load_str(&text, &|_| None).unwrap();
    assert_eq!(
        config.prefix.source(),
        "spillway-demo-!{timestamp:yyyy-MM-dd}"
    );
}

#[test]
fn exactly_once_refuses_what_a_rerun_cannot_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let once = GOOD.replace("path = \"lake\"", "path = \"lake\"\nexactly_once = true");
    let config = spillway::config::load_str(&once, &|_| None).unwrap();
    assert!(config.exactly_once);

    let random = once.replace(
        "exactly_once = true",
        "exactly_once = true\nprefix = \"e/!{firehose:random-string}/\"",
    );
    let (code, stderr) = validate(dir.path(), &random);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("destination.prefix: uses !{firehose:random-string}")
            && stderr.contains("exactly_once needs keys a re-read reproduces"),
        "{stderr}"
    );

    let stdin = once.replace("path = \"examples/clickstream\"", "path = \"-\"");
    let (code, stderr) = validate(dir.path(), &stdin);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr
            .contains("destination.exactly_once: needs a source that reads the same records again"),
        "{stderr}"
    );
}

#[test]
fn prefixes_and_paths_that_would_leave_their_destination_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let with = |extra: &str| format!("{GOOD}{extra}\n");
    let cases = [
        (with("prefix = \"../../escape/\""), "destination.prefix: object prefix `../../escape/` has a `..` folder"),
        (with("prefix = \"a/./b/\""), "destination.prefix: object prefix `a/./b/` has a `.` folder"),
        (
            with("prefix = \"d/!{timestamp:yyyy}/\"\nerror_output_prefix = \"../errors/!{firehose:error-output-type}/\""),
            "destination.error_output_prefix: object prefix `../errors/!{firehose:error-output-type}/` has a `..` folder",
        ),
        (with("[destination.backup]\nprefix = \"../backup/\""), "destination.backup.prefix: object prefix `../backup/` has a `..` folder"),
        (GOOD.replace("\"lake\"", "\"${SPILLWAY_UNSET:-}\""), "destination.path: is empty"),
        (format!("{GOOD}[dead_letter]\ntype = \"local\"\npath = \"\"\n"), "dead_letter.path: is empty"),
        (GOOD.replace("path = \"examples/clickstream\"", "path = \"examples/clickstream\"\ncheckpoint_file = \"\""), "source.checkpoint_file: is empty"),
        (GOOD.replace("examples/clickstream", ""), "source.path: is empty"),
        (
            with("[destination.catalog]\ndatabase = \"../../x\"\ntable = \"t/y\""),
            "destination.catalog.database: \"../../x\" is not a valid catalog name",
        ),
        (with("[destination.catalog]\ndatabase = \"db\"\ntable = \"t/y\""), "destination.catalog.table: \"t/y\" is not a valid catalog name"),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = validate(dir.path(), &toml);
        assert_eq!(code, 2, "{toml}\n{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn a_problem_with_a_dynamodb_table_or_opensearch_index_names_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let dynamodb = r#"
name = "t"
[source]
type = "file"
path = "examples/orders"
[destination]
type = "dynamodb"
table = "orders-!{partitionKeyFromQuery:region}"
partition_key = { attribute = "pk", field = ".order_id" }
[dead_letter]
type = "local"
path = "dl"
"#;
    let (code, stderr) = validate(dir.path(), dynamodb);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("destination.table: uses !{partitionKeyFromQuery:region} but processing.partition_keys has no `region`"),
        "{stderr}"
    );
}

#[test]
fn a_shared_setting_a_destination_does_not_take_is_refused_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let dynamodb = "name = \"t\"\n[source]\ntype = \"file\"\npath = \"examples/orders\"\n[dead_letter]\ntype = \"local\"\npath = \"d\"\n[destination]\ntype = \"dynamodb\"\ntable = \"orders\"\npartition_key = { attribute = \"id\", field = \".id\" }\n";
    let opensearch = "name = \"t\"\n[source]\ntype = \"file\"\npath = \"examples/clickstream\"\n[dead_letter]\ntype = \"local\"\npath = \"d\"\n[destination]\ntype = \"opensearch\"\nendpoint = \"http://h:9200\"\nindex = \"logs\"\n";
    let cases = [
        (
            format!("{dynamodb}exactly_once = true\n"),
            "destination.exactly_once: is only available for object destinations",
        ),
        (
            format!("{dynamodb}[destination.backup]\nprefix = \"b/\"\n"),
            "destination.backup: is not kept by DynamoDB destinations",
        ),
        (
            format!("{opensearch}time_zone = \"Asia/Tokyo\"\n"),
            "destination.time_zone: only applies to object destinations",
        ),
        (
            format!("{opensearch}[destination.backup]\nprefix = \"b/\"\n"),
            "destination.backup: is only used with backup_mode = \"AllDocuments\"",
        ),
        (
            GOOD.replace("type = \"local\"", "type = \"lokal\""),
            "destination.type: unknown variant `lokal`, expected one of `local`, `s3`",
        ),
        (
            GOOD.replace("type = \"file\"", "type = \"files\""),
            "source.type: unknown variant `files`, expected one of `file`, `kinesis`",
        ),
        (
            format!("{GOOD}[dead_letter]\ntype = \"s3\"\npath = \"d\"\n"),
            "dead_letter.path: only applies with type = \"local\"",
        ),
    ];
    for (toml, expected) in cases {
        let (code, stderr) = validate(dir.path(), &toml);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}
