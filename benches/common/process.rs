//! Running a benchmark's processes: wall time, CPU time and peak RSS of one run (from
//! `wait4`), medians, and DuckDB's one-statement jobs (`benches/duckdb_copy.py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One measured run of one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measure {
    pub wall: f64,
    pub cpu: f64,
    pub peak_rss_mib: f64,
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// Runs `command` to its end: wall time, and the CPU time and peak RSS the kernel counted
/// for it (and its children).
// The child is reaped by `wait4` (for its resource usage), which clippy does not see.
#[allow(clippy::zombie_processes)]
pub fn measured(mut command: Command) -> (Measure, bool) {
    command.stdout(std::process::Stdio::null());
    let started = Instant::now();
    let child = command.spawn().expect("start the process");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our child's, not yet waited for; both pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed().as_secs_f64();
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let measure = Measure {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    };
    let ok = pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (measure, ok)
}

pub fn median(measures: &[Measure]) -> Measure {
    let pick = |f: fn(&Measure) -> f64| {
        let mut values: Vec<f64> = measures.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    Measure {
        wall: pick(|m| m.wall),
        cpu: pick(|m| m.cpu),
        peak_rss_mib: pick(|m| m.peak_rss_mib),
    }
}

/// DuckDB's one-statement `job` (see `benches/duckdb_copy.py`) with `threads`, timed inside
/// the process (its statement, not its start), and the files it wrote; or the last line of
/// its error when the statement fails (it can run out of memory).
pub fn duckdb(
    root: &Path,
    job: &str,
    threads: usize,
    input: &Path,
    out: &Path,
) -> Result<(Measure, u64), String> {
    let _ = std::fs::remove_dir_all(out);
    let python = std::env::var("SPILLWAY_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(root.join("benches/duckdb_copy.py"))
        .args(["--job", job, "--threads", &threads.to_string(), "--input"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run benches/duckdb_copy.py (is duckdb installed? set SPILLWAY_PYTHON)");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr.trim().lines().last().unwrap_or("failed").to_string());
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let value: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    let measure = Measure {
        wall: value["seconds"].as_f64().unwrap_or(f64::NAN),
        cpu: value["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        peak_rss_mib: value["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
    };
    Ok((measure, value["files"].as_u64().unwrap_or(0)))
}
