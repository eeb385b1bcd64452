//! The image, run the way users run it. `scripts/image` builds it once per test process from
//! the binary these tests use (`Containerfile`'s runtime stage), and podman runs it (root
//! podman with runc and the host network, as the testbed sets up): the embedded default into
//! a mounted volume on a read-only root filesystem as uid 10001; the S3 + Glue example against
//! moto; `podman stop` (SIGTERM) mid-run → exit 0, `/healthz` and `/readyz` answered, JSON
//! logs on stdout, and a rerun that delivers the rest and nothing twice; the image's metadata
//! against the Containerfile, whose build stage must stay in step with the runtime stage; and
//! the Kubernetes Deployment played with `podman kube play`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::aws::*;
use crate::support::*;

const TAG: &str = "localhost/spillway:it";
/// Where the image keeps its state (its WORKDIR and the embedded default's lake).
const STATE: &str = "/var/lib/spillway";

/// The image, built once for the whole test process.
fn image() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/image"))
            .args(["--binary", env!("CARGO_BIN_EXE_spillway"), "--tag", TAG])
            .output()
            .expect("scripts/image starts");
        assert!(
            out.status.success(),
            "scripts/image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TAG.to_string()
    })
}

fn podman() -> Command {
    Command::new("podman")
}

fn output_text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A named container that is removed when the test ends, however it ends.
struct Container(String);

impl Container {
    fn new(stem: &str) -> Self {
        Container(unique_name(&format!("spillway-it-{stem}")))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "-f", "-t", "0", &self.0]).output();
    }
}

/// A host folder the image's user (10001) can write, mounted at /var/lib/spillway.
fn state_volume() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(10001), Some(10001))
        .expect("the tests run as root, as podman does here");
    dir
}

fn volume_arg(dir: &Path) -> String {
    format!("{}:{STATE}", dir.display())
}

/// Every line of the shipped sample input (`examples/clickstream/*.gz`).
fn sample_event_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for file in files_under(&repo_root().join("examples/clickstream"), ".gz") {
        let mut text = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()),
            &mut text,
        )
        .unwrap();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            ids.push(event_id_of(line).expect("every sample line has an event_id"));
        }
    }
    ids.sort();
    ids
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The metric's value on a Prometheus page (its first series, labelled or not).
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let value = match rest.strip_prefix('{') {
            Some(labelled) => labelled.split_once("} ")?.1,
            None => rest.strip_prefix(' ')?,
        };
        value.trim().parse().ok()
    })
}

#[test]
fn the_embedded_default_runs_read_only_as_non_root_into_a_mounted_volume() {
    let state = state_volume();
    let out = podman()
        .args(["run", "--rm", "--read-only", "--network", "host", "-v"])
        .arg(volume_arg(state.path()))
        .args([image(), "run", "--config", "/etc/spillway/spillway.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("delivered 5000 in"), "{summary}");
    assert!(
        summary.contains("/var/lib/spillway/lake/events/"),
        "{summary}"
    );

    // Rows read back equal the input minus the dead letters, each once.
    let lake = state.path().join("lake");
    let mut delivered = parquet_strings(&lake.join("events"), "event_id");
    delivered.sort();
    let dead: BTreeSet<String> = dead_letters(&lake)
        .iter()
        .map(|(_, r)| event_id_of(&r.raw_bytes().unwrap()).unwrap())
        .collect();
    assert_eq!(dead.len(), 4, "the sample's four bad records");
    let expected: Vec<String> = sample_event_ids()
        .into_iter()
        .filter(|id| !dead.contains(id))
        .collect();
    assert_eq!(delivered, expected);

    // Everything written is the image user's, inside the volume (the root is read-only).
    for file in files_under(state.path(), "") {
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            10001,
            "{}",
            file.display()
        );
    }
    assert!(lake.join("_checkpoints").is_dir());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_s3_glue_example_runs_in_the_image_against_moto() {
    let moto = moto_url();
    let (s3, glue) = (s3(&moto).await, glue(&moto).await);
    let bucket = unique_name("spillway-image");
    let database = unique_name("db").replace('-', "_");
    create_bucket(&s3, &bucket).await;
    let state = state_volume();
    let container = Container::new("s3");
    let mut run = podman();
    run.args([
        "run",
        "--name",
        &container.0,
        "--read-only",
        "--network",
        "host",
    ])
    .arg("-v")
    .arg(volume_arg(state.path()));
    for (key, value) in [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("SPILLWAY_BUCKET", bucket.as_str()),
        ("SPILLWAY_GLUE_DATABASE", database.as_str()),
    ] {
        run.arg("-e").arg(format!("{key}={value}"));
    }
    let out = run
        .args([
            image(),
            "run",
            "--config",
            "/usr/share/spillway/examples/s3-glue.toml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("delivered 5000"), "{summary}");

    // The objects, and exactly their partitions in Glue.
    let folders: BTreeSet<String> = list_keys(&s3, &bucket, "events/")
        .await
        .iter()
        .map(|key| key.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert!(!folders.is_empty());
    let partitions = glue
        .get_partitions()
        .database_name(&database)
        .table_name("events")
        .send()
        .await
        .unwrap();
    let registered: BTreeSet<String> = partitions
        .partitions()
        .iter()
        .map(|p| format!("events/dt={}/hour={}", p.values()[0], p.values()[1]))
        .collect();
    assert_eq!(registered, folders);
    let local = tempfile::tempdir().unwrap();
    download(&s3, &bucket, "events/", local.path()).await;
    assert_eq!(parquet_strings(local.path(), "event_id").len(), 5000);
    // The file checkpoint went to the working folder, in the volume.
    assert!(state.path().join(".spillway/s3-glue.json").is_file());
}

#[test]
fn sigterm_mid_run_exits_0_and_a_rerun_delivers_the_rest_once() {
    const EVENTS: usize = 300_000;
    let state = state_volume();
    let input = state.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let events = gen_events("clickstream", EVENTS, 7, "2024-05-01T00:00:00");
    std::fs::write(input.join("events.ndjson"), &events).unwrap();
    let port = free_port();
    let container = Container::new("sigterm");
    let start = |name: &str, detach: bool, command: &[&str]| {
        let mut run = podman();
        run.args(["run", "--name", name, "--read-only", "--network", "host"])
            .args(detach.then_some("--detach"))
            .arg("-v")
            .arg(volume_arg(state.path()))
            .args(["-e", &format!("SPILLWAY_INPUT={STATE}/input")])
            .args(["-e", "SPILLWAY_LOG_FORMAT=json"])
            .arg(image())
            .args(command)
            .output()
            .unwrap()
    };
    let listen = format!("127.0.0.1:{port}");
    let config = "/etc/spillway/spillway.toml";
    let out = start(
        &container.0,
        true,
        &["serve", "--config", config, "--metrics-listen", &listen],
    );
    assert!(out.status.success(), "{}", output_text(&out));

    // Health answered while records come in; stop as soon as some are read.
    let deadline = Instant::now() + Duration::from_secs(120);
    let read_at_stop = loop {
        assert!(Instant::now() < deadline, "no records read within 120 s");
        if let Some((200, page)) = http_get(port, "/metrics") {
            let read = metric(&page, "spillway_incoming_records_total").unwrap_or(0.0);
            if read > 0.0 {
                assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
                assert_eq!(http_get(port, "/readyz").map(|r| r.0), Some(200));
                break read;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        (read_at_stop as usize) < EVENTS,
        "the input was read whole before the stop"
    );
    let stop = podman()
        .args(["stop", "-t", "90", &container.0])
        .output()
        .unwrap();
    assert!(stop.status.success(), "{}", output_text(&stop));
    let code = podman()
        .args(["inspect", "--format", "{{.State.ExitCode}}", &container.0])
        .output()
        .unwrap();
    let logs = podman().args(["logs", &container.0]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "0",
        "a graceful stop exits 0:\n{}",
        output_text(&logs)
    );
    // JSON mode: stdout is log lines only, each a JSON object with level, target, message.
    let stdout = String::from_utf8_lossy(&logs.stdout);
    assert!(stdout.contains("stopping"), "{}", output_text(&logs));
    for line in stdout.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(entry.get(key).is_some(), "{key} missing: {line}");
        }
    }
    assert!(String::from_utf8_lossy(&logs.stderr).contains("delivered"));
    let ended: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|entry| entry["message"] == "run ended")
        .unwrap_or_else(|| panic!("no 'run ended' line:\n{stdout}"));
    let delivered_first = ended["delivered"].as_u64().unwrap();
    assert!(delivered_first > 0, "{ended}");

    // The rerun reads from the checkpoint: the rest only, and every event lands once.
    let rerun = Container::new("rerun");
    let out = start(&rerun.0, false, &["run", "--config", config]);
    assert!(out.status.success(), "{}", output_text(&out));
    let summary = String::from_utf8_lossy(&out.stderr);
    let read_again: usize = summary
        .split("read ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'read N records' in the summary: {summary}"));
    assert_eq!(
        read_again as u64 + delivered_first,
        EVENTS as u64,
        "the rerun reads exactly what the stopped run did not deliver: {summary}"
    );
    let mut delivered = parquet_strings(&state.path().join("lake/events"), "event_id");
    delivered.sort();
    let mut expected = ndjson_field(&events, "event_id");
    expected.sort();
    assert_eq!(
        delivered.len(),
        expected.len(),
        "nothing lost, nothing twice"
    );
    assert_eq!(delivered, expected);
}

/// The image built from a prebuilt binary carries what the Containerfile says, and the build
/// stage (which cannot run here: no Rust image can be pulled) still matches it: it leaves the
/// binary where the runtime stage copies it from and copies every workspace member's manifest
/// into its dependency layer.
#[test]
fn the_image_matches_the_containerfile_and_its_build_stage_stays_in_step() {
    let containerfile = std::fs::read_to_string(repo_root().join("Containerfile")).unwrap();
    let (build, runtime) = containerfile
        .split_once(" AS runtime\n")
        .expect("a runtime stage");
    assert!(build.contains(" AS build\n"), "a build stage");
    assert!(runtime.contains("COPY --from=build /out/spillway /usr/local/bin/spillway"));
    assert!(
        build.contains("/out/spillway\n"),
        "the build stage leaves the binary at /out/spillway"
    );
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .unwrap()
        .0;
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member == "." || member.is_empty() {
            continue;
        }
        assert!(
            build.contains(&format!("COPY {member}/Cargo.toml {member}/")),
            "the build stage's dependency layer lacks {member}/Cargo.toml"
        );
        assert!(
            build.contains(&format!(" {member}")) && build.contains("for crate in ."),
            "{member} has no stub in the dependency layer"
        );
    }

    let inspect = podman()
        .args(["image", "inspect", image()])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", output_text(&inspect));
    let inspected: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let config = &inspected[0]["Config"];
    assert_eq!(config["User"], "10001:10001");
    assert_eq!(config["Entrypoint"], serde_json::json!(["spillway"]));
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["serve", "--config", "/etc/spillway/spillway.toml"])
    );
    assert_eq!(config["WorkingDir"], STATE);
    assert!(config["ExposedPorts"].get("9108/tcp").is_some());
    let labels = &config["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert!(labels["org.opencontainers.image.source"].is_string());
    // The shipped binary is stripped, and the image is the binary plus a slim base.
    let size = inspected[0]["Size"].as_u64().unwrap();
    assert!(size < 300 << 20, "image of {size} bytes");
    let version = podman()
        .args(["run", "--rm", "--network", "host", image(), "--version"])
        .output()
        .unwrap();
    assert!(version.status.success(), "{}", output_text(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("spillway {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The Kubernetes Deployment, run: `deploy/kubernetes/overlays/podman-smoke` (the base's
/// Deployment with the embedded default, its state folder on a host folder and the host
/// network) rendered with `kubectl kustomize` and played with `podman kube play` on the
/// image; podman runs no probes here, so the test asks `/healthz` and `/readyz` itself.
#[test]
fn the_kubernetes_deployment_plays_in_podman_and_delivers_the_embedded_default() {
    const PLACEHOLDER: &str = "/var/tmp/spillway-podman-smoke";
    let state = state_volume();
    let rendered = Command::new("kubectl")
        .args(["kustomize", "deploy/kubernetes/overlays/podman-smoke"])
        .current_dir(repo_root())
        .output()
        .expect("kubectl runs");
    assert!(rendered.status.success(), "{}", output_text(&rendered));
    let manifest = String::from_utf8(rendered.stdout).unwrap();
    assert!(manifest.contains(PLACEHOLDER), "{manifest}");
    // The manifests name the image by its release tag: give the test image that name.
    let image_name = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .expect("the Deployment names an image")
        .to_string();
    let tagged = podman()
        .args(["tag", image(), &format!("localhost/{image_name}")])
        .output()
        .unwrap();
    assert!(tagged.status.success(), "{}", output_text(&tagged));
    let file = state.path().join("smoke.yaml");
    std::fs::write(
        &file,
        manifest.replace(PLACEHOLDER, &state.path().display().to_string()),
    )
    .unwrap();

    struct Played<'a>(&'a Path);
    impl Drop for Played<'_> {
        fn drop(&mut self) {
            let _ = podman().args(["kube", "down"]).arg(self.0).output();
            // `kube down` leaves the ConfigMaps' volumes.
            if let Ok(list) = podman()
                .args(["volume", "ls", "--format", "{{.Name}}"])
                .output()
            {
                for volume in String::from_utf8_lossy(&list.stdout).lines() {
                    if volume.starts_with("podman-smoke-") {
                        let _ = podman().args(["volume", "rm", "-f", volume]).output();
                    }
                }
            }
        }
    }
    let out = podman()
        .args(["kube", "play", "--replace"])
        .arg(&file)
        .output()
        .unwrap();
    let played = Played(&file);
    assert!(out.status.success(), "{}", output_text(&out));

    // The sample is delivered while the pod serves; then it answers its probes.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let delivered = http_get(9108, "/metrics")
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, page)| metric(&page, "spillway_delivered_records_total"));
        if delivered == Some(5000.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pod delivered {delivered:?} of 5000 records in 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(http_get(9108, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http_get(9108, "/readyz").map(|r| r.0), Some(200));
    let delivered: BTreeSet<String> =
        parquet_strings(&state.path().join("lake/events"), "event_id")
            .into_iter()
            .collect();
    let rows = parquet_strings(&state.path().join("lake/events"), "event_id").len();
    assert_eq!(
        (delivered.len(), rows),
        (5000, 5000),
        "every good sample record, once"
    );
    drop(played);
    assert!(
        http_get(9108, "/healthz").is_none(),
        "the pod stopped at kube down"
    );
}
