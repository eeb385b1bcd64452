//! Issue 7's scenario 6: the local lake's disk fills up mid-run. The run reports the cause
//! clearly, keeps the records unacknowledged and retries; once space returns it finishes, and
//! every record is in the lake exactly once, with no half-written file left behind.
//!
//! The "disk" is a 2 MiB tmpfs mounted over the lake folder, grown to 64 MiB to give space
//! back; mounting needs root, so elsewhere the test says it was skipped and why.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A tmpfs mounted at a folder, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_nothing_is_lost_once_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let Some(disk) = Tmpfs::mount(&lake, "2m") else {
        assert_ne!(
            current_uid(),
            0,
            "root could not mount a tmpfs at {}",
            lake.display()
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let input = gen_events("clickstream", 8000, 61, "2024-05-01T00:00:00");
    let input_path = dir.path().join("events.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let ids = ndjson_field(&input, "event_id");
    let config = dir.path().join("full.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "full"
[source]
type = "file"
path = {input_path:?}
checkpoint_file = "{dir}/checkpoint.json"
[destination]
type = "local"
path = {lake:?}
prefix = "events/"
retry_duration = "300s"
[destination.buffering]
size = "1 MiB"
interval = "1s"
[destination.format]
type = "ndjson"
[dead_letter]
type = "local"
path = "{dir}/dead"
"#,
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let log = dir.path().join("stderr.log");
    let child = spillway()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // The disk fills: the log names the cause and the file, and the run keeps going.
    let started = Instant::now();
    let complaint = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("no storage space")) {
            break line.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no disk-full error in 60 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("disk full reported as: {complaint}");
    assert!(complaint.contains("will retry"), "{complaint}");
    assert!(
        complaint.contains(&lake.display().to_string()),
        "{complaint}"
    );

    // Space returns: the run finishes with every record in the lake once.
    disk.resize("64m");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let mut delivered = Vec::new();
    for file in files_under(&lake.join("events"), "") {
        delivered.extend(ndjson_field(&std::fs::read(file).unwrap(), "event_id"));
    }
    let ledger = Ledger::count(&ids, &delivered, &[]);
    println!(
        "{}",
        ledger.line("local lake disk full, then space returns")
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    let leftovers: Vec<PathBuf> = files_under(&lake, "")
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(".spillway-tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "half-written files left: {leftovers:?}"
    );
}

/// This process's user id, from /proc (no libc call needed).
fn current_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(u32::MAX)
}
