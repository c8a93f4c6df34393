use super::*;

#[test]
fn ints_round_trip_at_every_width() {
    for i in [
        0,
        1,
        255,
        256,
        65535,
        65536,
        -1,
        -129,
        i32::MAX as i64,
        i32::MIN as i64,
        i64::MAX,
        i64::MIN,
    ] {
        let v = Value::Int(i);
        assert_eq!(decode(&encode(&v).unwrap()).unwrap(), v, "{i}");
    }
}

#[test]
fn a_memo_bomb_is_refused_not_expanded() {
    // [x, x] where x = [y, y] ... 40 levels: 2^40 nodes if expanded.
    let mut p = vec![0x80, 4, b']', 0x94];
    for k in 0..40u32 {
        p.extend_from_slice(&[b']', 0x94, b'(', b'h', k as u8, b'h', k as u8, b'e', b'0']);
        // leave the new list on the stack? simpler: pop it after memoizing
    }
    p.extend_from_slice(&[b'h', 40, b'.']);
    let e = decode(&p).unwrap_err();
    assert!(e.0.contains("too large"), "{e}");
}

#[test]
fn a_huge_length_allocates_nothing() {
    let p = [0x80, 4, b'B', 0xff, 0xff, 0xff, 0x7f];
    assert!(decode(&p).unwrap_err().0.contains("truncated"));
    let p = [
        0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    assert!(decode(&p).is_err());
    let p = [0x80, 4, b'N', b'r', 0xff, 0xff, 0xff, 0xff, b'.'];
    assert_eq!(decode(&p).unwrap(), Value::None);
}

#[test]
fn a_flood_of_one_byte_objects_is_refused_at_the_limit() {
    let mut p = vec![0x80, 4, b'('];
    p.extend(vec![b'N'; 5000]);
    p.extend_from_slice(b"l.");
    assert!(decode_with_limit(&p, 1000)
        .unwrap_err()
        .0
        .contains("more than 1000"));
    let mut marks = vec![0x80, 4];
    marks.extend(vec![b'('; 5000]);
    assert!(decode_with_limit(&marks, 1000)
        .unwrap_err()
        .0
        .contains("more than 1000"));
    assert_eq!(
        decode_with_limit(&p, 10_000)
            .unwrap()
            .as_seq()
            .map(<[Value]>::len),
        Some(5000)
    );
}

#[test]
fn a_list_that_contains_itself_is_refused() {
    let p = [0x80, 4, b']', 0x94, b'h', 0, b'a', b'.'];
    assert!(decode(&p).unwrap_err().0.contains("recursive"));
}

#[test]
fn the_memo_takes_puts_in_order_out_of_order_and_overwritten() {
    // BININT1 5, BINPUT 7 (past the end: the sparse map), BINGET 7 → (5, 5)
    let p = b"\x80\x02K\x05q\x07h\x07\x86.";
    assert_eq!(
        decode(p).unwrap(),
        Value::Tuple(vec![Value::Int(5), Value::Int(5)])
    );
    // MEMOIZE 1 at 0, then BINPUT 0 overwrites it with 2: BINGET 0 → 2
    let p = b"\x80\x04K\x01\x94K\x02q\x00h\x00\x87.";
    assert_eq!(
        decode(p).unwrap(),
        Value::Tuple(vec![Value::Int(1), Value::Int(2), Value::Int(2)])
    );
    // A GET of an index never stored is refused.
    assert!(decode(b"\x80\x02K\x05q\x07h\x06\x86.").is_err());
}
