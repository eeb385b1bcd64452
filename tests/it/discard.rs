//! The discard destination as a user runs it: the sample events go through the whole
//! pipeline, every record that processes is acknowledged and kept nowhere, the ones that do
//! not still reach the dead letter, and the checkpoint moves so a rerun reads nothing again.

use crate::support::*;

#[test]
fn discard_acknowledges_every_good_record_and_still_dead_letters_the_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dead = tmp.path().join("dead");
    let checkpoint = tmp.path().join("checkpoint.json");
    let config = tmp.path().join("discard.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"measure\"\n[source]\ntype = \"file\"\npath = \"{}\"\ncheckpoint_file = \"{}\"\n\
             [processing]\ntime_field = \".ts\"\npartition_keys = {{ kind = \".event_type\" }}\n\
             [destination]\ntype = \"discard\"\nprefix = \"t/kind=!{{partitionKeyFromQuery:kind}}/\"\n\
             [dead_letter]\ntype = \"local\"\npath = \"{}\"\n",
            repo_root().join("examples/clickstream").display(),
            checkpoint.display(),
            dead.display()
        ),
    )
    .unwrap();
    let out = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let summary = String::from_utf8(out.stdout).unwrap();
    // Of the sample's 4 bad records, the 3 that fail processing (not JSON, no partition key,
    // …) are dead-lettered; the one that only a Parquet schema refuses is not converted here.
    assert!(summary.contains("read 5004 records"), "{summary}");
    assert!(summary.contains("delivered 5001,"), "{summary}");
    assert!(summary.contains("dead-lettered 3"), "{summary}");
    assert!(summary.contains("nowhere (discard)"), "{summary}");
    let dead_lettered = dead_letters(&dead);
    assert_eq!(
        dead_lettered.len(),
        3,
        "the bad records are in the dead letter"
    );
    assert!(dead_lettered
        .iter()
        .all(|(kind, _)| kind == "processing-failed"));
    let written: Vec<_> = files_under(tmp.path(), "")
        .into_iter()
        .filter(|f| !f.starts_with(&dead) && *f != config)
        .filter(|f| !f.to_string_lossy().contains("checkpoint"))
        .collect();
    assert!(written.is_empty(), "discard writes no data: {written:?}");

    let again = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let summary = String::from_utf8(again.stdout).unwrap();
    assert!(
        summary.contains("read 0 records"),
        "the checkpoint moved: {summary}"
    );
}
