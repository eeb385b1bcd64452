//! The `spillway-gen` binary: its output is the library's, its errors exit 2 with the usage.

use std::process::{Command, Output};

use spillway_gen::{events, Kind, Options};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spillway-gen"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn writes_the_library_output() {
    let out = run(&["--kind", "clickstream", "--count", "3000", "--seed", "9"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut options = Options::new(Kind::Clickstream, 3000);
    options.seed = 9;
    assert_eq!(out.stdout, events(&options));
    assert!(out.stderr.is_empty());
}

#[test]
fn bad_arguments_exit_2_with_the_usage() {
    let out = run(&["--kind", "metrics", "--count", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("unknown kind \"metrics\""), "{stderr}");
    assert!(stderr.contains("usage: spillway-gen --kind"), "{stderr}");
}

#[test]
fn help_exits_0() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("usage: spillway-gen"));
}
