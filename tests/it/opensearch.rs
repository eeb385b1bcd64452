//! The OpenSearch destination against a real OpenSearch 2.19 node, and the main tests also
//! against a real Elasticsearch 7.17 node (both started by the testbed): the shipped example
//! as it is (its schema's index template, the bad sample records dead-lettered by Spillway),
//! documents indexed into OneDay-rotated indices, type conflicts dead-lettered with their
//! reason and ids, a redelivery with `auto` ids leaving the count unchanged, a 429 storm on
//! 30 % of bulk items (the fault proxy rewrites real bulk answers) ending with every document
//! indexed exactly once, and a password in the endpoint URL that no output shows.

use std::io::{Read, Write};
use std::path::Path;

use crate::support::aws::unique_name;
use crate::support::fault_proxy::{FaultProxy, Plan};
use crate::support::*;
use bytes::Bytes;
use serde_json::Value;

fn opensearch_url() -> String {
    std::env::var("SPILLWAY_OPENSEARCH_URL")
        .unwrap_or_else(|_| panic!("SPILLWAY_OPENSEARCH_URL is not set: run the suite with scripts/test, which starts OpenSearch"))
}

/// A plain HTTP/1.0 request (so the answer is not chunked); returns the status and body.
fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn count(index_pattern: &str) -> u64 {
    count_at(&opensearch_url(), index_pattern)
}

fn count_at(base: &str, index_pattern: &str) -> u64 {
    http("POST", &format!("{base}/{index_pattern}/_refresh"), "");
    let (status, body) = http("GET", &format!("{base}/{index_pattern}/_count"), "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["count"]
        .as_u64()
        .unwrap()
}

/// 10,000 log events across midnight, five of them with a latency that is not a number.
fn logs_with_bad_documents(dir: &Path) -> std::path::PathBuf {
    let input = gen_events("logs", 10_000, 51, "2024-05-01T23:59:30");
    let mut lines: Vec<String> = String::from_utf8(input)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    for i in [6000, 7000, 8000, 9000, 9999] {
        let mut doc: Value = serde_json::from_str(&lines[i]).unwrap();
        doc["latency_ms"] = Value::String("slow".into());
        lines[i] = doc.to_string();
    }
    let path = dir.join("logs.ndjson");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The logs of [`logs_with_bad_documents`] into `index-yyyy-MM-dd` by event time, with no
/// schema: the cluster maps the fields and refuses what conflicts.
fn daily_logs_config(state: &Path) -> std::path::PathBuf {
    let path = state.join("daily.toml");
    std::fs::write(
        &path,
        r#"
name = "daily-logs"
[source]
type = "file"
path = "${SPILLWAY_INPUT}"
checkpoint_file = "${SPILLWAY_CHECKPOINT_DIR}/opensearch.json"
[processing]
time_field = ".ts"
[destination]
type = "opensearch"
endpoint = "${OPENSEARCH_URL}"
index = "${SPILLWAY_INDEX}"
rotation = "OneDay"
[destination.buffering]
size = "4 MiB"
interval = "1s"
[dead_letter]
type = "local"
path = "${SPILLWAY_DEAD_LETTER}"
"#,
    )
    .unwrap();
    path
}

fn run(endpoint: &str, index: &str, input: &Path, state: &Path) -> String {
    let config = daily_logs_config(state);
    let mut cmd = spillway();
    cmd.args(["run", "--config"])
        .arg(&config)
        .env("OPENSEARCH_URL", endpoint)
        .env("SPILLWAY_INDEX", index)
        .env("SPILLWAY_INPUT", input)
        .env("SPILLWAY_CHECKPOINT_DIR", state)
        .env("SPILLWAY_DEAD_LETTER", state.join("dead"));
    String::from_utf8(run_ok(&mut cmd).stdout).unwrap()
}

/// The shipped example as a new user runs it, on the shipped sample events: its schema
/// becomes an index template, the bad samples are dead-lettered — `bad-3`, whose `user_id`
/// is a number, by Spillway itself before any bulk request — and every good event is indexed.
fn the_example_as_shipped(base: &str) {
    let dir = tempfile::tempdir().unwrap();
    let index = unique_name("example");
    let mut cmd = spillway();
    cmd.args(["run", "--config", "examples/opensearch.toml"])
        .env("OPENSEARCH_URL", base)
        .env("SPILLWAY_INDEX", &index)
        .env("SPILLWAY_CHECKPOINT_DIR", dir.path())
        .env("SPILLWAY_DEAD_LETTER", dir.path().join("dead"));
    let summary = String::from_utf8(run_ok(&mut cmd).stdout).unwrap();
    assert!(
        summary.contains("delivered 5000") && summary.contains("dead-lettered 4"),
        "{summary}"
    );
    assert_eq!(count_at(base, &format!("{index}-*")), 5000);

    let mut letters: Vec<(String, String, String)> = dead_letters(&dir.path().join("dead"))
        .into_iter()
        .map(|(kind, record)| {
            let id = event_id_of(&record.raw_bytes().unwrap()).unwrap_or_default();
            (id, kind, record.error_code)
        })
        .collect();
    letters.sort();
    let want = [
        ("bad-1", "processing-failed", "Decode.InvalidJson"),
        ("bad-2", "processing-failed", "Decode.RecordTooLarge"),
        ("bad-3", "format-conversion-failed", "Format.SchemaMismatch"),
        ("bad-4", "processing-failed", "Decode.MissingField"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(letters, want);

    // The mappings are the template's, whatever document came first.
    let (_, mapping) = http("GET", &format!("{base}/{index}-*/_mapping"), "");
    let mapping: Value = serde_json::from_str(&mapping).unwrap();
    for (name, index_mapping) in mapping.as_object().unwrap() {
        let properties = &index_mapping["mappings"]["properties"];
        assert_eq!(properties["user_id"]["type"], "keyword", "{name}");
        assert_eq!(properties["ts"]["type"], "date", "{name}");
        assert_eq!(
            properties["props"]["properties"]["depth_pct"]["type"],
            "integer"
        );
    }
}

#[test]
fn the_shipped_example_indexes_every_good_event_and_dead_letters_the_four_bad_ones() {
    the_example_as_shipped(&opensearch_url());
}

#[test]
fn the_shipped_example_runs_the_same_on_elasticsearch_7() {
    the_example_as_shipped(&elasticsearch_url());
}

fn elasticsearch_url() -> String {
    std::env::var("SPILLWAY_ELASTICSEARCH_URL").unwrap_or_else(|_| {
        panic!("SPILLWAY_ELASTICSEARCH_URL is not set: run the suite with scripts/test, which starts Elasticsearch")
    })
}

/// A password in the endpoint URL is sent as basic auth and shown nowhere: not by
/// `validate`, not in the log lines (text or JSON) or the summary of `run`, not in a dead letter (the
/// endpoint is unreachable, so every record is dead-lettered with the connection error).
#[test]
fn a_password_in_the_endpoint_url_appears_in_no_output() {
    const MARKER: &str = "Sekr1tMarker";
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("logs.ndjson");
    std::fs::write(&input, gen_events("logs", 50, 54, "2024-05-01T00:00:00")).unwrap();
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoints = [
        format!("http://admin:{MARKER}@127.0.0.1:{unreachable}"),
        format!(
            "http://admin:{MARKER}@{}",
            opensearch_url().trim_start_matches("http://")
        ),
    ];
    for (n, endpoint) in endpoints.iter().enumerate() {
        let name = format!("secret{n}");
        let index = unique_name("secret");
        let config = write_config(dir.path(), &name, endpoint, &index, &input, "");
        let mut outputs = Vec::new();
        // `run` twice: logs as JSON lines on stdout, then (resuming) as text on stderr.
        for (command, log_format) in [("validate", "text"), ("run", "json"), ("run", "text")] {
            let out = spillway()
                .args([command, "--config"])
                .arg(&config)
                .env("RUST_LOG", "debug")
                .env("SPILLWAY_LOG_FORMAT", log_format)
                .output()
                .unwrap();
            if log_format == "json" {
                let logs = String::from_utf8_lossy(&out.stdout);
                assert!(
                    logs.lines().count() > 0,
                    "debug logs as JSON lines:\n{logs}\nstderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                for line in logs.lines() {
                    let entry: Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                    assert!(entry["level"].is_string() && entry["target"].is_string());
                }
            }
            outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
            outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        // `redrive` of what the run dead-lettered, and `serve` with its metrics page.
        let out = spillway()
            .args(["redrive", "--config"])
            .arg(&config)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
        outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
        outputs.push(serve_and_scrape(&config));
        // A config whose endpoint is also wrong: the problem quotes the URL.
        let broken = std::fs::read_to_string(&config)
            .unwrap()
            .replace("endpoint = \"http://", "endpoint = \"htp://");
        std::fs::write(dir.path().join("broken.toml"), broken).unwrap();
        let out = spillway()
            .args(["validate", "--config"])
            .arg(dir.path().join("broken.toml"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
        for file in files_under(dir.path(), "") {
            if file.extension().is_some_and(|e| e == "toml") {
                continue;
            }
            outputs.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
        }
        for output in &outputs {
            assert!(!output.contains(MARKER), "the password leaked:\n{output}");
        }
        let all = outputs.join("\n");
        assert!(
            all.contains("htp://127.0.0.1:"),
            "the URL is still named, without its password"
        );
    }
    // The reachable endpoint indexed everything (the password went as basic auth).
    let letters = dead_letters(&dir.path().join("dead-secret0"));
    let distinct: std::collections::HashSet<String> =
        letters.iter().map(|(_, r)| r.raw_data.clone()).collect();
    assert_eq!(
        distinct.len(),
        50,
        "the unreachable one dead-lettered everything (the redrive again)"
    );
    assert!(dead_letters(&dir.path().join("dead-secret1")).is_empty());
}

/// Runs `spillway serve` on `config` until its input is done, then returns its metrics page
/// and everything it printed after SIGTERM.
fn serve_and_scrape(config: &Path) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = spillway()
        .args(["serve", "--config"])
        .arg(config)
        .arg("--metrics-listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let page = loop {
        assert!(std::time::Instant::now() < deadline, "no metrics page");
        let (status, body) = match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => http("GET", &format!("http://127.0.0.1:{port}/metrics"), ""),
            Err(_) => (0, String::new()),
        };
        if status == 200 && body.contains("spillway_incoming_records_total") {
            break body;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    std::thread::sleep(std::time::Duration::from_secs(1));
    let out = terminate(child);
    format!(
        "{page}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn documents_are_indexed_by_day_bad_ones_dead_lettered_and_redelivery_does_not_duplicate() {
    index_by_day_dead_letter_and_redeliver(&opensearch_url());
}

/// The same against Elasticsearch 7.17: one client, both engines.
#[test]
fn elasticsearch_7_indexes_dead_letters_and_redelivers_the_same_way() {
    index_by_day_dead_letter_and_redeliver(&elasticsearch_url());
}

fn index_by_day_dead_letter_and_redeliver(base: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = logs_with_bad_documents(dir.path());
    let index = unique_name("logs");
    let summary = run(base, &index, &input, dir.path());
    assert!(
        summary.contains("delivered 9995") && summary.contains("dead-lettered 5"),
        "{summary}"
    );

    // OneDay rotation by event time: the two days the events span, nothing else.
    let (_, indices) = http(
        "GET",
        &format!("{base}/_cat/indices/{index}-*?format=json"),
        "",
    );
    let mut names: Vec<String> = serde_json::from_str::<Value>(&indices)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [format!("{index}-2024-05-01"), format!("{index}-2024-05-02")]
    );
    assert_eq!(count_at(base, &format!("{index}-*")), 9995);

    let letters = dead_letters(&dir.path().join("dead"));
    assert_eq!(letters.len(), 5);
    for (kind, record) in &letters {
        assert_eq!(kind, "AmazonOpenSearchService-failed");
        assert!(
            record.error_message.contains("mapper_parsing_exception"),
            "{}",
            record.error_message
        );
        assert!(record.destination["esIndexName"].starts_with(&index));
        assert_eq!(record.destination["esDocumentId"].len(), 32);
        assert!(String::from_utf8(record.raw_bytes().unwrap())
            .unwrap()
            .contains("\"slow\""));
    }

    // Redeliver everything (no checkpoint): `auto` ids overwrite, the count stays.
    std::fs::remove_file(dir.path().join("opensearch.json")).unwrap();
    run(base, &index, &input, dir.path());
    assert_eq!(count_at(base, &format!("{index}-*")), 9995);
}

/// Marks about 30 % of a real bulk answer's items as rejected with 429.
fn reject_30_percent(body: Bytes) -> Bytes {
    let Ok(mut response) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let Some(items) = response["items"].as_array_mut() else {
        return body;
    };
    for item in items.iter_mut() {
        if fastrand::f64() < 0.3 {
            if let Some(result) = item.as_object_mut().and_then(|o| o.values_mut().next()) {
                result["status"] = Value::from(429);
                result["error"] = serde_json::json!({"type": "es_rejected_execution_exception", "reason": "rejected execution of bulk item (fault proxy)"});
            }
        }
    }
    response["errors"] = Value::Bool(true);
    Bytes::from(response.to_string())
}

#[test]
fn a_429_storm_on_30_percent_of_items_ends_with_every_document_indexed_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("logs", 10_000, 52, "2024-05-01T00:00:00");
    let path = dir.path().join("logs.ndjson");
    std::fs::write(&path, &input).unwrap();
    let index = unique_name("storm");
    let mut plan = Plan::pass();
    plan.only = Some(|method, path| method == hyper::Method::POST && path.starts_with("/_bulk"));
    plan.rewrite = Some(reject_30_percent);
    let proxy = FaultProxy::start(&opensearch_url(), plan);
    let summary = run(&proxy.url, &index, &path, dir.path());
    assert!(
        summary.contains("delivered 10000") && summary.contains("dead-lettered 0"),
        "{summary}"
    );
    let rewritten = proxy
        .stats
        .injected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(rewritten > 3, "bulk answers rewritten: {rewritten}");
    let indexed = count(&format!("{index}-*"));
    println!("ledger[opensearch 429 on 30% of items]: input=10000 indexed={indexed} bulk answers rewritten={rewritten}");
    assert_eq!(indexed, 10_000, "every document exactly once");
}

/// A config for `name` in `dir`: `input` into `endpoint`/`index` (no rotation, 2 s retry
/// budget), dead letter in `dir/dead-<name>`, `extra` lines in `[destination]`.
fn write_config(
    dir: &Path,
    name: &str,
    endpoint: &str,
    index: &str,
    input: &Path,
    extra: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
name = "{name}"
[source]
type = "file"
path = {input:?}
checkpoint_file = "{checkpoint}"
[destination]
type = "opensearch"
endpoint = "{endpoint}"
index = "{index}"
rotation = "NoRotation"
retry_duration = "2s"
{extra}
[destination.buffering]
size = "1 MiB"
interval = "1s"
[dead_letter]
type = "local"
path = "{dead}"
"#,
            dead = dir.join(format!("dead-{name}")).display(),
            checkpoint = dir.join(format!("{name}.checkpoint.json")).display(),
        ),
    )
    .unwrap();
    path
}

/// An https:// endpoint (a TLS proxy in front of the node, with a self-signed certificate):
/// with `ca_file` naming that certificate every document is indexed; without it the
/// handshake is refused, the run says why, and every record is in the dead letter.
#[test]
fn https_with_a_custom_ca_is_trusted_and_without_it_every_record_is_dead_lettered() {
    let proxy = crate::support::tls_proxy::TlsProxy::start(&opensearch_url());
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("logs", 2_000, 53, "2024-05-01T00:00:00");
    let input_path = dir.path().join("logs.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let index = unique_name("tls");
    let config = |name: &str, ca_line: &str| {
        write_config(dir.path(), name, &proxy.url, &index, &input_path, ca_line)
    };

    let trusted = config("trusted", &format!("ca_file = {:?}", proxy.ca_file));
    let out = run_ok(spillway().args(["run", "--config"]).arg(&trusted));
    let summary = String::from_utf8_lossy(&out.stdout);
    let refused = dead_letters(&dir.path().join("dead-trusted"));
    assert!(
        summary.contains("delivered 2000"),
        "{summary}{:?}",
        refused.first().map(|(_, r)| &r.error_message)
    );
    assert_eq!(count(&index), 2000);

    let untrusted = config("untrusted", "");
    let out = run_ok(spillway().args(["run", "--config"]).arg(&untrusted));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("dead-lettered 2000"), "{summary}");
    let letters = dead_letters(&dir.path().join("dead-untrusted"));
    assert_eq!(letters.len(), 2000);
    let message = &letters[0].1.error_message;
    assert!(
        letters[0].1.error_code == "Elasticsearch.ConnectionFailed"
            && message.to_lowercase().contains("certificate"),
        "{message}"
    );
}

/// `backup_mode = "AllDocuments"`: every raw record is kept beside the dead letter, and that
/// backup rebuilds the index elsewhere with `spillway replay`.
#[test]
fn all_documents_backup_keeps_every_record_and_replays_into_a_new_index() {
    let dir = tempfile::tempdir().unwrap();
    let input = logs_with_bad_documents(dir.path());
    let (first, second) = (unique_name("all"), unique_name("replayed"));
    let backup = "backup_mode = \"AllDocuments\"";
    let config = write_config(dir.path(), "all", &opensearch_url(), &first, &input, backup);
    let out = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("delivered 9995") && summary.contains("dead-lettered 5"),
        "{summary}"
    );
    let backup_dir = dir.path().join("dead-all/backup");
    let mut kept = 0;
    for file in files_under(&backup_dir, ".json.gz") {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(file).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        kept += text.lines().count();
    }
    assert_eq!(kept, 10_000, "the backup holds every record, failed or not");

    // Backup objects replay in name order, not arrival order: fix the mapping up front so the
    // five bad documents are the ones refused whichever object comes first.
    let mapping = r#"{"mappings":{"properties":{"latency_ms":{"type":"long"}}}}"#;
    let (status, body) = http("PUT", &format!("{}/{second}", opensearch_url()), mapping);
    assert_eq!(status, 200, "{body}");
    let never_read = dir.path().join("never-read.ndjson");
    std::fs::write(&never_read, "").unwrap();
    let config = write_config(
        dir.path(),
        "replayed",
        &opensearch_url(),
        &second,
        &never_read,
        "",
    );
    let out = run_ok(
        spillway()
            .args(["replay", "--config"])
            .arg(&config)
            .arg("--from")
            .arg(&backup_dir),
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("replay:     10000 records"), "{summary}");
    assert_eq!(count(&second), 9995);
    assert_eq!(dead_letters(&dir.path().join("dead-replayed")).len(), 5);
}
