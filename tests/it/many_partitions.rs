//! Dynamic partitioning by a field of many values, as a user runs it (`spillway run` into a
//! local lake, NDJSON so every record reads back as written): with the defaults, one object
//! per key (the cap on open partitions no longer thrashes); with a cap far below the keys and
//! a small memory budget, buffers close early, and still every record is delivered exactly
//! once, under its own key, in order within each object — a ledger of the input against
//! the lake.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::*;

/// `records` records of `keys` keys drawn at random; `n` numbers them.
fn input(dir: &Path, records: usize, keys: usize) -> std::path::PathBuf {
    let mut state = 7u64;
    let mut text = String::new();
    for n in 0..records {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = (state >> 33) as usize % keys;
        text.push_str(&format!(
            "{{\"k\":\"k{key:04}\",\"n\":{n},\"pad\":\"{}\"}}\n",
            "x".repeat(60)
        ));
    }
    let path = dir.join("input.ndjson");
    std::fs::write(&path, text).unwrap();
    path
}

fn config(dir: &Path, input: &Path, buffering: &str) -> std::path::PathBuf {
    let path = dir.join("by-key.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"by-key\"\n[source]\ntype = \"file\"\npath = \"{}\"\n\
             checkpoint_file = \"{}\"\n[processing]\npartition_keys = {{ k = \".k\" }}\n\
             [destination]\ntype = \"local\"\npath = \"{}\"\n\
             prefix = \"t/k=!{{partitionKeyFromQuery:k}}/\"\n\
             [destination.buffering]\n{buffering}\n[destination.format]\ntype = \"ndjson\"\n",
            input.display(),
            dir.join("checkpoint.json").display(),
            dir.join("lake").display(),
        ),
    )
    .unwrap();
    path
}

/// Every record in the lake, by `n`: the key of the folder it is in; and the objects. Panics
/// on a record read twice, a record under another key's folder, or one object whose records
/// are out of order.
fn ledger(lake: &Path) -> (BTreeMap<u64, String>, usize) {
    let objects = files_under(&lake.join("t"), "");
    let mut seen = BTreeMap::new();
    for object in &objects {
        let folder = object
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        let key = folder.strip_prefix("k=").unwrap().to_string();
        let text = std::fs::read_to_string(object).unwrap();
        let mut last = None;
        for line in text.lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let n = record["n"].as_u64().unwrap();
            assert_eq!(record["k"], key.as_str(), "record {n} is under k={key}");
            assert!(
                last < Some(n),
                "records out of order in {}",
                object.display()
            );
            last = Some(n);
            assert!(seen.insert(n, key.clone()).is_none(), "record {n} twice");
        }
    }
    (seen, objects.len())
}

#[test]
fn with_the_defaults_each_key_gets_one_object() {
    let tmp = tempfile::tempdir().unwrap();
    let (records, keys) = (20_000, 2_000);
    let input = input(tmp.path(), records, keys);
    // The old default cap (1,000 open partitions) wrote an object for most records here.
    let config = config(tmp.path(), &input, "interval = \"900s\"");
    let out = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let (seen, objects) = ledger(&tmp.path().join("lake"));
    assert_eq!(seen.len(), records, "every record, once");
    let distinct: std::collections::BTreeSet<&String> = seen.values().collect();
    assert_eq!(objects, distinct.len(), "one object per key");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("max_open_partitions"), "{stderr}");
}

#[test]
fn a_cap_below_the_keys_and_a_small_budget_lose_and_repeat_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // 30,000 records of ~90 bytes (2.7 MB) over 1,500 keys, a 1 MiB budget and 100 open
    // partitions at most: both limits bite.
    let (records, keys) = (30_000, 1_500);
    let input = input(tmp.path(), records, keys);
    let config = config(
        tmp.path(),
        &input,
        "size = \"1 MiB\"\ninterval = \"900s\"\nmemory_budget = \"1 MiB\"\nmax_open_partitions = 100",
    );
    let out = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let (seen, objects) = ledger(&tmp.path().join("lake"));
    assert_eq!(seen.len(), records, "every record, once");
    assert_eq!(seen.keys().last(), Some(&(records as u64 - 1)));
    assert!(
        objects > keys,
        "the cap closed buffers early: {objects} objects"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("buffering.max_open_partitions"),
        "the cap is warned about: {stderr}"
    );
    let again = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let summary = String::from_utf8_lossy(&again.stdout);
    assert!(summary.contains("read 0 records"), "{summary}");
}
