use std::io::Write;

use super::*;

fn options() -> FileSourceOptions {
    FileSourceOptions {
        arrival: ArrivalTime::Read,
        max_record_size: 1 << 20,
    }
}

/// Everything the source sent: records and dead-letter records, in order.
#[derive(Default)]
struct Sent {
    records: Vec<Record>,
    failed: Vec<FailedRecord>,
}

fn read_all_with(
    input: &InputSpec,
    resume: &Resume,
    options: &FileSourceOptions,
) -> (Sent, SourceStats) {
    let (tx, mut rx) = mpsc::channel(10_000);
    let stats = read_inputs(input, resume, options, &tx).unwrap();
    drop(tx);
    let mut sent = Sent::default();
    while let Ok(message) = rx.try_recv() {
        match message {
            SourceMessage::Records(chunk) => sent.records.extend(chunk),
            SourceMessage::Failed(failed) => sent.failed.extend(failed),
            SourceMessage::ShardEnd(_) | SourceMessage::Drain { .. } => {}
        }
    }
    (sent, stats)
}

fn read_all(input: &InputSpec, resume: &Resume) -> (Sent, SourceStats) {
    read_all_with(input, resume, &options())
}

/// The resume state a run that acknowledged everything it sent would leave.
fn resume_after(sent: &Sent, resume: &Resume) -> Resume {
    let mut checkpoints = resume.checkpoints.clone();
    let identities = resume.identities.lock().unwrap().clone();
    let positions = sent
        .records
        .iter()
        .map(|r| &r.meta)
        .chain(sent.failed.iter().map(|f| &f.meta));
    for meta in positions {
        let entry = checkpoints
            .entry(meta.shard.to_string())
            .or_insert(FileCheckpoint {
                position: 0,
                identity: None,
            });
        entry.position = entry.position.max(meta.position);
        entry.identity = identities.get(meta.shard.as_ref()).cloned();
    }
    Resume {
        checkpoints,
        identities: FileIdentities::default(),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect()
}

#[test]
fn reads_plain_and_gzip_files_of_a_folder_and_resumes_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.ndjson"),
        b"{\"n\":1}\r\n\n  \n{\"n\":2}\n{\"n\":3}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.ndjson.gz"),
        gzip(b"{\"n\":4}\n{\"n\":5}\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join(".hidden"), b"{\"n\":99}\n").unwrap();

    let input = InputSpec::Path(dir.path().to_path_buf());
    let resume = Resume::default();
    let (sent, stats) = read_all(&input, &resume);
    assert_eq!(
        texts(&sent.records),
        [
            "{\"n\":1}",
            "{\"n\":2}",
            "{\"n\":3}",
            "{\"n\":4}",
            "{\"n\":5}"
        ]
    );
    assert_eq!(stats.files, 2);
    let positions: Vec<u64> = sent.records.iter().map(|r| r.meta.position).collect();
    assert_eq!(positions, vec![9, 21, 28, 8, 16]);

    // Resume file a after its second record, and b entirely.
    let mut resume = resume_after(&sent, &resume);
    resume
        .checkpoints
        .get_mut(sent.records[0].meta.shard.as_ref())
        .unwrap()
        .position = 21;
    let (again, stats) = read_all(&input, &resume);
    assert_eq!(texts(&again.records), ["{\"n\":3}"]);
    assert_eq!(stats.resumed_bytes, 21 + 16);
    assert!(stats.replaced.is_empty());
}

#[test]
fn a_replaced_or_rotated_file_is_read_from_its_start_as_a_new_shard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.ndjson");
    let lines = |from: usize, to: usize| -> String {
        (from..to).map(|n| format!("{{\"n\":{n}}}\n")).collect()
    };
    std::fs::write(&path, lines(0, 100)).unwrap();
    let input = InputSpec::Path(path.clone());
    let fresh = Resume::default();
    let (first, _) = read_all(&input, &fresh);
    assert_eq!(first.records.len(), 100);
    let resume = resume_after(&first, &fresh);

    // Appended to: the same file, read on from its checkpoint.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(lines(100, 103).as_bytes())
        .unwrap();
    let (grown, stats) = read_all(&input, &resume);
    assert_eq!(
        texts(&grown.records),
        ["{\"n\":100}", "{\"n\":101}", "{\"n\":102}"]
    );
    assert!(stats.replaced.is_empty());
    assert_eq!(grown.records[0].meta.shard, first.records[0].meta.shard);

    // Replaced by a shorter file: every record of it, none lost.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, lines(500, 510)).unwrap();
    let (shorter, stats) = read_all(&input, &resume);
    assert_eq!(shorter.records.len(), 10, "{:?}", texts(&shorter.records));
    assert_eq!(texts(&shorter.records)[0], "{\"n\":500}");
    assert_eq!(stats.replaced.len(), 1);
    let shard = shorter.records[0].meta.shard.to_string();
    assert!(
        shard.starts_with(&format!("{}#", first.records[0].meta.shard)),
        "{shard}"
    );

    // Replaced in place by a longer file with other first bytes: from its start, no fragment.
    let resume = resume_after(&shorter, &resume);
    std::fs::write(&path, lines(1000, 1300)).unwrap();
    let (longer, stats) = read_all(&input, &resume);
    assert_eq!(longer.records.len(), 300);
    assert_eq!(texts(&longer.records)[0], "{\"n\":1000}");
    assert!(longer.failed.is_empty());
    assert_eq!(stats.replaced.len(), 1);
    let newest = longer.records[0].meta.shard.to_string();
    assert_ne!(newest, shard, "a third generation gets a shard of its own");

    // Reading the latest generation again resumes it: nothing twice.
    let resume = resume_after(&longer, &resume);
    let (again, stats) = read_all(&input, &resume);
    assert!(again.records.is_empty() && stats.replaced.is_empty());
}

#[test]
fn a_gzip_file_shorter_than_its_checkpoint_is_read_anew() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ndjson.gz");
    std::fs::write(&path, gzip(b"{\"n\":1}\n{\"n\":2}\n")).unwrap();
    let fresh = Resume::default();
    let input = InputSpec::Path(path.clone());
    let (first, _) = read_all(&input, &fresh);
    let mut resume = resume_after(&first, &fresh);
    // Version-1 entry (no identity) past the decoded end: found out while skipping.
    for checkpoint in resume.checkpoints.values_mut() {
        checkpoint.position = 1000;
        checkpoint.identity = None;
    }
    let (again, stats) = read_all(&input, &resume);
    assert_eq!(texts(&again.records), ["{\"n\":1}", "{\"n\":2}"]);
    assert_eq!(stats.files, 1);
    assert!(again.records[0].meta.shard.contains('#'));
}

#[test]
fn a_version_one_checkpoint_beyond_the_end_of_the_file_reads_it_anew() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ndjson");
    std::fs::write(&path, b"{\"n\":1}\n{\"n\":2}\n").unwrap();
    let key = path_key(&path);
    let resume = Resume {
        checkpoints: BTreeMap::from([(
            key.clone(),
            FileCheckpoint {
                position: 5000,
                identity: None,
            },
        )]),
        identities: FileIdentities::default(),
    };
    let (sent, stats) = read_all(&InputSpec::Path(path), &resume);
    assert_eq!(sent.records.len(), 2);
    assert_eq!(stats.replaced.len(), 1);
}

#[test]
fn a_truncated_gzip_file_delivers_what_decodes_and_dead_letters_the_rest_then_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let good: String = (0..2000)
        .map(|n| format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(n % 50)))
        .collect();
    let compressed = gzip(good.as_bytes());
    std::fs::write(
        dir.path().join("a.ndjson.gz"),
        &compressed[..compressed.len() / 2],
    )
    .unwrap();
    std::fs::write(dir.path().join("b.ndjson"), b"{\"after\":1}\n").unwrap();
    let input = InputSpec::Path(dir.path().to_path_buf());
    let fresh = Resume::default();
    let (sent, stats) = read_all(&input, &fresh);
    let from_a = sent
        .records
        .iter()
        .filter(|r| r.meta.shard.ends_with("a.ndjson.gz"))
        .count();
    assert!(
        from_a > 100 && from_a < 2000,
        "{from_a} whole lines before the damage"
    );
    assert_eq!(
        texts(&sent.records).last().unwrap(),
        "{\"after\":1}",
        "the next file is read"
    );
    assert_eq!(
        sent.failed.len(),
        1,
        "the partial line; nothing after a truncation"
    );
    let partial = &sent.failed[0];
    assert_eq!(partial.error_code, "Source.DamagedInput");
    assert!(
        partial.error_message.contains("a.ndjson.gz is damaged"),
        "{}",
        partial.error_message
    );
    assert!(good.as_bytes()[..]
        .windows(partial.data.len())
        .any(|w| w == &partial.data[..]));
    assert_eq!(stats.damaged.len(), 1);
    assert!(stats.damaged[0].dead_lettered_now);
    // Every line before the damage plus the partial line is all that decoded.
    let decoded: usize = sent
        .records
        .iter()
        .filter(|r| r.meta.shard.ends_with("a.ndjson.gz"))
        .map(|r| r.data.len() + 1)
        .sum::<usize>()
        + partial.data.len();
    assert_eq!(decoded as u64, stats.damaged[0].decoded_bytes);

    // A rerun after all of it was acknowledged reads nothing of a twice.
    let resume = resume_after(&sent, &fresh);
    let (again, stats) = read_all(&input, &resume);
    assert!(again.records.is_empty() && again.failed.is_empty());
    assert_eq!(stats.damaged.len(), 1);
    assert!(!stats.damaged[0].dead_lettered_now);
}

#[test]
fn a_corrupt_gzip_file_keeps_the_compressed_bytes_after_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let good: String = (0..5000).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    let mut compressed = gzip(good.as_bytes());
    let at = compressed.len() / 3;
    for b in &mut compressed[at..at + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(dir.path().join("c.ndjson.gz"), &compressed).unwrap();
    let (sent, stats) = read_all(
        &InputSpec::Path(dir.path().to_path_buf()),
        &Resume::default(),
    );
    assert_eq!(stats.damaged.len(), 1, "{stats:?}");
    let kept: Vec<&FailedRecord> = sent
        .failed
        .iter()
        .filter(|f| f.error_code == "Source.UndecodableInput")
        .collect();
    assert!(!kept.is_empty());
    let tail: Vec<u8> = kept.iter().flat_map(|f| f.data.to_vec()).collect();
    assert!(
        compressed.ends_with(&tail),
        "the kept bytes are the file's own tail"
    );
    // What the decoder had read ahead of the damage (its 8 KiB buffer at most) is not kept.
    assert!(
        tail.len() + 8192 >= compressed.len() - at,
        "{} kept",
        tail.len()
    );
    let positions: Vec<u64> = sent
        .records
        .iter()
        .map(|r| r.meta.position)
        .chain(sent.failed.iter().map(|f| f.meta.position))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions increase"
    );
}

#[test]
fn a_huge_line_is_consumed_and_dead_lettered_with_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.ndjson");
    let mut data = b"{\"n\":1}\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', 3000));
    data.extend_from_slice(b"\n{\"n\":2}\n");
    std::fs::write(&path, &data).unwrap();
    let options = FileSourceOptions {
        arrival: ArrivalTime::Read,
        max_record_size: 100,
    };
    let mut sent = Sent::default();
    let (tx, mut rx) = mpsc::channel(100);
    // A cap below the whole-line allowance only applies past it: use a tiny allowance.
    let reader = FileReader {
        options: &options,
        tx: &tx,
        stats: &mut SourceStats::default(),
    };
    let opened = open_file(&path).unwrap();
    let shard: ShardId = Arc::from("big");
    let mut lines = Lines {
        tx: reader.tx,
        shard: &shard,
        name: "big.ndjson",
        offset: 0,
        arrival_ms: None,
        keep_up_to: 1000,
        max_record_size: 100,
        chunk: Chunk::default(),
        sent: 0,
    };
    let mut buffered = BufReader::new(decode(Box::new(opened.file)).unwrap());
    assert!(lines.read(&mut buffered).unwrap());
    drop(tx);
    while let Ok(message) = rx.try_recv() {
        match message {
            SourceMessage::Records(r) => sent.records.extend(r),
            SourceMessage::Failed(f) => sent.failed.extend(f),
            SourceMessage::ShardEnd(_) | SourceMessage::Drain { .. } => {}
        }
    }
    assert_eq!(texts(&sent.records), ["{\"n\":1}", "{\"n\":2}"]);
    assert_eq!(sent.failed.len(), 1);
    let big = &sent.failed[0];
    assert_eq!(big.error_code, "Decode.RecordTooLarge");
    assert_eq!(big.data.len(), 1000);
    assert!(
        big.error_message
            .contains("bytes 8–3009 of big.ndjson is 3001 bytes"),
        "{}",
        big.error_message
    );
    assert_eq!(big.meta.position, 3009);
    assert_eq!(sent.records[1].meta.position, 3017);
}

#[test]
fn an_unreadable_file_is_named_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.ndjson"), b"{\"n\":1}\n").unwrap();
    std::fs::create_dir(dir.path().join("b.ndjson")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("missing"), dir.path().join("c.ndjson")).unwrap();
    std::fs::write(dir.path().join("d.ndjson"), b"{\"n\":4}\n").unwrap();
    let (sent, stats) = read_all(
        &InputSpec::Path(dir.path().join("c.ndjson")),
        &Resume::default(),
    );
    assert!(sent.records.is_empty());
    assert_eq!(stats.unreadable.len(), 1, "{stats:?}");
    let (sent, stats) = read_all(
        &InputSpec::Path(dir.path().to_path_buf()),
        &Resume::default(),
    );
    assert_eq!(texts(&sent.records), ["{\"n\":1}", "{\"n\":4}"]);
    assert!(
        stats.unreadable.is_empty(),
        "folders and dangling links are not input files"
    );
}
