//! `spillway serve`: the Prometheus endpoint reports Firehose-named metrics while the stream
//! runs, `/healthz` answers, and SIGTERM stops it cleanly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn serve_exposes_metrics_and_health_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spillway()
        .args([
            "serve",
            "--config",
            "config.example.toml",
            "--metrics-listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .env("SPILLWAY_LAKE", dir.path().join("lake"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        assert!(
            Instant::now() < deadline,
            "metrics never showed the whole input"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve must keep running after the input ends"
        );
        if let Some(text) = get(port, "/metrics") {
            if text.contains("spillway_delivered_records_total{stream=\"clickstream\",destination=\"LocalLake\"} 5000") {
                break text;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(metrics.starts_with("HTTP/1.1 200 OK"));
    assert!(
        metrics.contains("spillway_incoming_records_total{stream=\"clickstream\"} 5004"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spillway_dead_lettered_records_total{stream=\"clickstream\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE spillway_data_freshness_seconds gauge"));
    assert!(metrics.contains("# HELP spillway_incoming_records_total "));
    assert!(get(port, "/healthz").unwrap().ends_with("ok\n"));
    let ready = get(port, "/readyz").unwrap();
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.ends_with("ready\n"),
        "{ready}"
    );
    assert!(get(port, "/nope").unwrap().starts_with("HTTP/1.1 404"));

    let out = terminate(child);
    assert!(String::from_utf8_lossy(&out.stdout).contains("delivered 5000"));
}
