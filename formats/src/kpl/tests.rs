use super::*;

fn split(aggregate: Vec<u8>) -> Result<Vec<UserRecord>, KplError> {
    deaggregate(&Bytes::from(aggregate))
}

fn user(key: &str, data: &'static [u8], sub_sequence: u32) -> UserRecord {
    let (partition_key, data) = (key.to_owned(), Bytes::from_static(data));
    UserRecord {
        partition_key,
        explicit_hash_key: None,
        data,
        sub_sequence,
    }
}

/// An encoded `Record` message.
fn record(key_index: u64, hash_key_index: Option<u64>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint_field(&mut out, 1, key_index);
    if let Some(index) = hash_key_index {
        put_varint_field(&mut out, 2, index);
    }
    put_len_field(&mut out, 3, data);
    out
}

#[test]
fn round_trip_dedupes_keys_and_numbers_sub_sequences() {
    let input = Bytes::from(aggregate(&[("a", b"one"), ("b", b"two"), ("a", b"three")]));
    assert!(is_aggregated(&input));
    // Key table is exactly ["a", "b"], then records (field 3) start.
    assert_eq!(input[4..11], [0x0A, 1, b'a', 0x0A, 1, b'b', 0x1A]);
    let records = deaggregate(&input).expect("valid aggregate");
    let expected = [
        user("a", b"one", 0),
        user("b", b"two", 1),
        user("a", b"three", 2),
    ];
    assert_eq!(records, expected);
    // Payloads are slices of the input, not copies.
    let span = input.as_ptr_range();
    assert!(records.iter().all(|r| span.contains(&r.data.as_ptr())));
}

#[test]
fn hand_written_vector_pins_wire_format() {
    let body = [
        0x0A, 0x02, b'p', b'k', // partition_key_table[0] = "pk"
        0x1A, 0x07, // records[0], 7 bytes:
        0x08, 0x00, //   partition_key_index = 0
        0x1A, 0x03, b'a', b'b', b'c', //   data = "abc"
    ];
    let mut bytes = KPL_MAGIC.to_vec();
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(Md5::digest(body).as_slice());
    assert_eq!(aggregate(&[("pk", b"abc")]), bytes);
    assert_eq!(split(bytes), Ok(vec![user("pk", b"abc", 0)]));
}

#[test]
fn explicit_hash_key_is_resolved_from_its_table() {
    let mut body = Vec::new();
    put_len_field(&mut body, 3, &record(0, Some(1), b"x")); // records before tables is legal
    for (field, text) in [(1, "pk"), (2, "1111"), (2, "2222")] {
        put_len_field(&mut body, field, text.as_bytes());
    }
    let explicit_hash_key = Some("2222".to_owned());
    let expected = UserRecord {
        explicit_hash_key,
        ..user("pk", b"x", 0)
    };
    assert_eq!(split(frame(&body)), Ok(vec![expected]));
}

#[test]
fn unknown_fields_and_tags_are_skipped() {
    let mut rec = Vec::new();
    put_varint_field(&mut rec, 9, 300); // unknown varint
    put_varint(&mut rec, 10 << 3 | u64::from(WIRE_FIXED64));
    rec.extend_from_slice(&[0; 8]);
    put_varint(&mut rec, 11 << 3 | u64::from(WIRE_FIXED32));
    rec.extend_from_slice(&[0; 4]);
    put_len_field(&mut rec, 4, &[0x0A, 0x01, b'k']); // tag { key: "k" }
    rec.extend_from_slice(&record(0, None, b"payload"));
    let mut body = Vec::new();
    put_len_field(&mut body, 1, b"pk");
    put_len_field(&mut body, 3, &rec);
    put_len_field(&mut body, 7, b"unknown top-level field");
    assert_eq!(split(frame(&body)), Ok(vec![user("pk", b"payload", 0)]));
}

#[test]
fn flipped_byte_is_a_digest_mismatch() {
    let mut bytes = aggregate(&[("pk", b"abc")]);
    bytes[6] ^= 0x01;
    assert_eq!(split(bytes), Err(KplError::DigestMismatch));
}

#[test]
fn malformed_protobuf_is_typed_out() {
    let with_table = |key: &[u8], rec: Vec<u8>| {
        let mut body = Vec::new();
        put_len_field(&mut body, 1, key);
        put_len_field(&mut body, 3, &rec);
        body
    };
    let cases = [
        // Table entry claims 5 bytes, only 2 follow; its length prefix is at byte 5.
        (vec![0x0A, 0x05, b'p', b'k'], KplError::Truncated { at: 5 }),
        (
            with_table(b"only", record(1, None, b"x")),
            KplError::IndexOutOfRange {
                field: "partition_key_index",
                index: 1,
                len: 1,
            },
        ),
        (
            with_table(b"pk", vec![0x08, 0x00]),
            KplError::MissingField { field: "data" },
        ),
        (
            with_table(&[0xFF], record(0, None, b"x")),
            KplError::BadUtf8 {
                field: "partition_key_table",
            },
        ),
        // Field 1 with wire type 3 (start group).
        (
            vec![0x0B],
            KplError::BadWireType {
                wire_type: 3,
                at: 4,
            },
        ),
        (vec![0xFF; 11], KplError::BadVarint { at: 4 }),
    ];
    for (body, expected) in cases {
        assert_eq!(split(frame(&body)), Err(expected), "body {body:02X?}");
    }
}

#[test]
fn plain_data_is_not_aggregated() {
    assert!(!is_aggregated(b"{\"plain\": \"json record\"}"));
    assert!(!is_aggregated(&KPL_MAGIC)); // magic but no room for a digest
    let err = KplError::NotAggregated { len: 5 };
    assert_eq!(deaggregate(&Bytes::from_static(b"hello")), Err(err));
}

#[test]
fn empty_aggregate_has_no_records() {
    let bytes = aggregate(&[]);
    assert!(is_aggregated(&bytes));
    assert_eq!(split(bytes), Ok(vec![]));
}
