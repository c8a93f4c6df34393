use super::*;
use crate::managers::datum::F64;
use proptest::prelude::{any, Just, Strategy};

/// A bulk value of each kind whose wire image is `n` bytes (runs:
/// `n / 8` words).
fn values(n: usize) -> Vec<Datum> {
    vec![
        Datum::Bytes((0..n).map(|i| (i * 7 % 251) as u8).collect()),
        Datum::Str("é".repeat(n / 2) + &"a".repeat(n % 2)),
        Datum::Ints(
            (0..n as i64 / 8)
                .map(|i| i.wrapping_mul(-0x1234_5678_9abc))
                .collect(),
        ),
        Datum::Floats((0..n / 8).map(|i| F64(i as f64 * -1.5e-7)).collect()),
    ]
}

fn responses(d: &Datum) -> Vec<Response> {
    vec![
        Ok(Reply::Datum(d.clone())),
        Ok(Reply::Maybe(Some(d.clone()))),
    ]
}

fn requests(d: &Datum) -> Vec<Request> {
    let call = |m| Request::Call(u64::MAX - 3, m);
    vec![
        call(Method::List(ListOp::Extend(d.clone()))),
        call(Method::List(ListOp::Append(d.clone()))),
        call(Method::Value(ValueOp::Set(d.clone()))),
        call(Method::Dict(DictOp::Set(
            Datum::Str("key".into()),
            d.clone(),
        ))),
        Request::Call(5, Method::List(ListOp::Extend(d.clone()))),
    ]
}

const SIZES: [usize; 5] = [
    BULK_MIN - 8,
    BULK_MIN,
    BULK_MIN + 8,
    BULK_MIN * 2 + 16,
    1 << 20,
];

/// The head and the value's bytes are, end to end, exactly what
/// postcard writes for the whole message: a peer that reads the frame
/// whole decodes the same message.
#[test]
fn bulk_parts_are_exactly_the_postcard_encoding() {
    for n in SIZES {
        for d in values(n) {
            let big = d.bulk().unwrap().1.len() >= BULK_MIN;
            for r in responses(&d) {
                let whole = postcard::to_stdvec(&r).unwrap();
                match response_parts(&r) {
                    Some(p) => {
                        assert!(big, "{n}");
                        assert_eq!([&p.head[..], p.tail].concat(), whole, "{n}");
                        assert_eq!(p.len(), whole.len());
                    }
                    None => assert!(!big, "a {n}-byte value not cut"),
                }
            }
            for req in requests(&d) {
                let whole = postcard::to_stdvec(&req).unwrap();
                match request_parts(&req) {
                    Some(p) => {
                        assert!(big, "{n}");
                        assert_eq!([&p.head[..], p.tail].concat(), whole, "{n}");
                    }
                    None => assert!(!big, "a {n}-byte value not cut"),
                }
            }
        }
    }
    // Other shapes are never cut.
    let seq: Response = Ok(Reply::Seq(vec![Datum::Bytes(vec![1; BULK_MIN * 2])]));
    assert!(response_parts(&seq).is_none());
    let key_too: Request = Request::Call(
        1,
        Method::Dict(DictOp::Set(
            Datum::Bytes(vec![1; BULK_MIN]),
            Datum::Bytes(vec![2; BULK_MIN]),
        )),
    );
    assert!(request_parts(&key_too).is_none());
}

/// Send `parts` as one frame from another thread (a large frame does
/// not fit the socket's buffer), and hand back the receiving end.
fn sent(parts: Vec<Vec<u8>>) -> (crate::connection::Connection, std::thread::JoinHandle<()>) {
    let (mut a, b) = crate::connection::pipe().unwrap();
    let t = std::thread::spawn(move || {
        let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        a.send_parts(&refs).unwrap();
        // Keep the socket open until the reader is done.
        let _ = a.recv_bytes();
    });
    (b, t)
}

/// A bulk reply read into its final buffer is the reply that was
/// sent, and so is one read whole (a shape that is not cut).
#[test]
fn bulk_replies_arrive_as_they_were_sent() {
    let mut cases: Vec<Response> = Vec::new();
    for n in SIZES {
        for d in values(n) {
            cases.extend(responses(&d));
        }
    }
    cases.push(Ok(Reply::Seq(vec![Datum::Int(1); BULK_MIN])));
    cases.push(Ok(Reply::Maybe(None)));
    for r in cases {
        let (head, tail) = match response_parts(&r) {
            Some(p) => (p.head, p.tail.to_vec()),
            None => (postcard::to_stdvec(&r).unwrap(), Vec::new()),
        };
        let (mut conn, t) = sent(vec![head, tail]);
        let got = recv_response(&mut conn).unwrap();
        assert_eq!(got, r);
        drop(conn);
        t.join().unwrap();
    }
}

/// Receive `req` as the server does; assert that it is the request the
/// decoder makes of its frame, and say whether it was read straight
/// into its value's buffer.
fn server_reads(req: &Request) -> bool {
    let whole = postcard::to_stdvec(req).unwrap();
    let (mut conn, t) = sent(vec![whole.clone()]);
    let want = crate::managers::datum::decode_bounded::<Request>(&whole).unwrap();
    let (got, direct) = match recv_request(&mut conn).unwrap() {
        Received::Request(r) => {
            assert!(whole.len() >= BULK_MIN);
            (r, true)
        }
        Received::Frame(f) => {
            assert_eq!(f, whole);
            (
                crate::managers::datum::decode_bounded::<Request>(&f).unwrap(),
                false,
            )
        }
    };
    assert_eq!(format!("{got:?}"), format!("{want:?}"));
    drop(conn);
    t.join().unwrap();
    direct
}

/// The server reads a bulk `extend` into its run, and a bulk `d[k] = v`
/// into its value, and gets the request that the decoder would have
/// made of the frame; other requests are read whole.
#[test]
fn bulk_requests_are_received_as_the_decoder_reads_them() {
    for n in SIZES {
        for d in values(n) {
            let kind = d.bulk().unwrap().0;
            for req in requests(&d) {
                // The server looks at frames of 64 KiB or more.
                let big = postcard::to_stdvec(&req).unwrap().len() >= BULK_MIN;
                let direct = server_reads(&req);
                let expected = match &req {
                    Request::Call(_, Method::List(ListOp::Extend(_))) => {
                        big && kind != BulkKind::Str
                    }
                    Request::Call(_, Method::Dict(DictOp::Set(..))) => big && kind != BulkKind::Str,
                    _ => false,
                };
                assert_eq!(direct, expected, "{n} {kind:?}");
            }
        }
    }
}

/// `d[k] = v` under keys of every shape: read directly when the key
/// fits the first 4 KiB and holds no proxy; else read whole. The
/// request is the decoder's either way.
#[test]
fn a_bulk_set_under_any_key_is_the_decoders_request() {
    let v = Datum::Bytes(vec![3; BULK_MIN + 1]);
    let set = |k: Datum| Request::Call(77, Method::Dict(DictOp::Set(k, v.clone())));
    for (k, direct) in [
        (Datum::Unit, true),
        (Datum::Int(-5), true),
        (Datum::Float(F64(0.5)), true),
        (Datum::Str("k".repeat(100)), true),
        (
            Datum::Seq(vec![Datum::Int(1), Datum::Str("a".into()), Datum::None]),
            true,
        ),
        (
            Datum::Map(vec![(Datum::Int(1), Datum::Bytes(vec![9; 30]))]),
            true,
        ),
        (Datum::Ints(vec![1, 2, 3]), true),
        // Longer than the part the server looks at first.
        (Datum::Str("k".repeat(KEY_PEEK)), false),
        // A proxy in the key: read whole, for the server to trace it.
        (
            Datum::Ref(Box::new(Datum::Seq(vec![
                Datum::Str("/tmp/x".into()),
                Datum::Int(3),
                Datum::Str("list".into()),
            ]))),
            false,
        ),
    ] {
        let what = format!("{k:?}");
        assert_eq!(
            server_reads(&set(k)),
            direct,
            "{}",
            &what[..what.len().min(80)]
        );
    }
    // A key followed by a value that is no bulk value, or too short.
    let small = Request::Call(
        1,
        Method::Dict(DictOp::Set(
            Datum::Int(1),
            Datum::Seq(vec![Datum::Unit; BULK_MIN]),
        )),
    );
    assert!(!server_reads(&small));
}

/// A frame whose bulk head lies is not trusted: an announced run
/// longer than the frame (which would allocate what it announces), or
/// shorter, or not whole words, is read as a plain frame of the size
/// the frame header gave (within the frame limit), and the decoder
/// refuses it. Nothing is allocated for the announced size.
#[test]
fn a_lying_bulk_head_is_read_as_a_plain_frame_and_refused() {
    let skeleton = Request::Call(9, Method::List(ListOp::Extend(Datum::Bytes(Vec::new()))));
    let prefix = prefix_of(&skeleton);
    let body = vec![0u8; BULK_MIN];
    for (tag, announced) in [
        (BulkKind::Ints.tag(), 1u64 << 62),
        (BulkKind::Ints.tag(), BULK_MIN as u64 - 8),
        (BulkKind::Ints.tag(), BULK_MIN as u64 + 8),
        (BulkKind::Floats.tag(), u64::MAX),
        (BulkKind::Bytes.tag(), BULK_MIN as u64 * 1000),
    ] {
        let mut head = prefix.clone();
        head.push(tag);
        head.extend_from_slice(&postcard::to_stdvec(&announced).unwrap());
        let frame = [&head[..], &body].concat();
        let (mut conn, t) = sent(vec![frame.clone()]);
        match recv_request(&mut conn).unwrap() {
            Received::Frame(f) => {
                assert_eq!(f.len(), frame.len());
                assert!(crate::managers::datum::decode_bounded::<Request>(&f).is_err());
            }
            Received::Request(r) => panic!("trusted a lying head: {announced}: {r:?}"),
        }
        drop(conn);
        t.join().unwrap();
    }
    // The same lie in a `d[k] = v`.
    let set = prefix_of(&Request::Call(
        9,
        Method::Dict(DictOp::Set(Datum::Int(1), Datum::Bytes(Vec::new()))),
    ));
    for announced in [1u64 << 62, BULK_MIN as u64 + 1] {
        let mut head = set.clone();
        head.push(BulkKind::Bytes.tag());
        head.extend_from_slice(&postcard::to_stdvec(&announced).unwrap());
        let frame = [&head[..], &body].concat();
        let (mut conn, t) = sent(vec![frame.clone()]);
        match recv_request(&mut conn).unwrap() {
            Received::Frame(f) => {
                assert_eq!(f.len(), frame.len());
                assert!(crate::managers::datum::decode_bounded::<Request>(&f).is_err());
            }
            Received::Request(_) => panic!("trusted a lying head: {announced}"),
        }
        drop(conn);
        t.join().unwrap();
    }
    // A run whose bytes are not whole words, announced truthfully.
    let mut head = prefix.clone();
    head.push(BulkKind::Ints.tag());
    head.extend_from_slice(&postcard::to_stdvec(&(BULK_MIN as u64 + 3)).unwrap());
    let frame = [&head[..], &vec![1u8; BULK_MIN + 3]].concat();
    let (mut conn, t) = sent(vec![frame]);
    match recv_request(&mut conn).unwrap() {
        Received::Frame(f) => {
            assert!(crate::managers::datum::decode_bounded::<Request>(&f).is_err())
        }
        Received::Request(r) => panic!("trusted a partial word: {r:?}"),
    }
    drop(conn);
    t.join().unwrap();
}

/// Receive `frame` as the server does: the request it was read as
/// directly, or `None` if it was read whole (then it is `frame`).
fn received(frame: Vec<u8>) -> Option<Request> {
    let (mut conn, t) = sent(vec![frame.clone()]);
    let r = match recv_request(&mut conn).unwrap() {
        Received::Request(r) => Some(r),
        Received::Frame(f) => {
            assert_eq!(f, frame);
            None
        }
    };
    drop(conn);
    t.join().unwrap();
    r
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
    /// Whatever follows a bulk request's prefix (a kind, a length,
    /// a key, any bytes), a frame that the server reads directly is
    /// one that the decoder decodes, to the same request; any other
    /// is read whole. The direct path never accepts more than the
    /// decoder does, nor allocates more than the frame holds.
    #[test]
    fn the_direct_path_agrees_with_the_decoder(
        id in any::<u64>(),
        set in any::<bool>(),
        key in proptest::prop_oneof![
            // Keys that decode, and any bytes.
            2 => proptest::sample::select(vec![
                postcard::to_stdvec(&Datum::Unit).unwrap(),
                postcard::to_stdvec(&Datum::Int(-7)).unwrap(),
                postcard::to_stdvec(&Datum::Str("key".into())).unwrap(),
                postcard::to_stdvec(&Datum::Seq(vec![Datum::None])).unwrap(),
            ]),
            1 => proptest::collection::vec(any::<u8>(), 0..6),
        ],
        tag in proptest::prop_oneof![Just(5u8), Just(6u8), Just(13u8), Just(14u8), any::<u8>()],
        delta in proptest::prop_oneof![2 => Just(0i64), 1 => -9i64..9],
        extra in proptest::prop_oneof![2 => (0usize..3).prop_map(|k| k * 8), 1 => 0usize..24],
        fill in any::<u8>(),
    ) {
        let skeleton = if set {
            Request::Call(id, Method::Dict(DictOp::Set(Datum::Unit, empty())))
        } else {
            Request::Call(id, Method::List(ListOp::Extend(empty())))
        };
        let mut frame = prefix_of(&skeleton);
        if set {
            // Any bytes where the key goes (the `Unit` key is `[0]`).
            frame.pop();
            frame.extend_from_slice(&key);
        }
        frame.push(tag);
        let body = BULK_MIN + extra;
        // A length near the truth: exact, or off by a little.
        let announced = (body as i64 + delta).max(0) as u64;
        frame.extend_from_slice(&postcard::to_stdvec(&announced).unwrap());
        frame.extend(std::iter::repeat_n(fill, body));
        let decoded = crate::managers::datum::decode_bounded::<Request>(&frame);
        if let Some(r) = received(frame) {
            let want = decoded.expect("read directly, so the decoder decodes it");
            proptest::prop_assert_eq!(format!("{r:?}"), format!("{want:?}"));
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
    /// Whatever follows a bulk reply's prefix, the client gets what
    /// the decoder makes of the frame: the same reply, or an error
    /// where it errs.
    #[test]
    fn the_client_reads_a_reply_as_the_decoder_does(
        maybe in any::<bool>(),
        tag in proptest::prop_oneof![Just(5u8), Just(6u8), Just(13u8), Just(14u8), any::<u8>()],
        delta in proptest::prop_oneof![2 => Just(0i64), 1 => -9i64..9],
        extra in proptest::prop_oneof![2 => (0usize..3).prop_map(|k| k * 8), 1 => 0usize..24],
        fill in proptest::prop_oneof![Just(b'a'), any::<u8>()],
    ) {
        let skeleton: Response = if maybe {
            Ok(Reply::Maybe(Some(empty())))
        } else {
            Ok(Reply::Datum(empty()))
        };
        let mut frame = prefix_of(&skeleton);
        frame.push(tag);
        let body = BULK_MIN + extra;
        let announced = (body as i64 + delta).max(0) as u64;
        frame.extend_from_slice(&postcard::to_stdvec(&announced).unwrap());
        frame.extend(std::iter::repeat_n(fill, body));
        let decoded = crate::connection::decode_payload::<Response>(&frame);
        let (mut conn, t) = sent(vec![frame]);
        let got = recv_response(&mut conn);
        drop(conn);
        t.join().unwrap();
        match (got, decoded) {
            (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
            (Err(Error::Decode(_)), Err(Error::Decode(_))) => {}
            (a, b) => proptest::prop_assert!(false, "{:?} against {:?}", a.map(|_| ()), b.map(|_| ())),
        }
    }
}

/// Varints are read as postcard writes them, and only so.
#[test]
fn varints_are_canonical() {
    for v in [
        0u64,
        1,
        127,
        128,
        300,
        u32::MAX.into(),
        u64::MAX - 1,
        u64::MAX,
    ] {
        let b = postcard::to_stdvec(&v).unwrap();
        assert_eq!(varint(&b), Some((v, b.len())), "{v}");
    }
    assert_eq!(varint(&[0x80, 0x00]), None, "an overlong zero");
    assert_eq!(
        varint(&[0xff; 9].iter().copied().chain([2]).collect::<Vec<_>>()),
        None
    );
    assert_eq!(varint(&[0x80; 3]), None, "cut short");
    assert_eq!(varint(&[]), None);
}

/// A bulk reply cut short by the peer's end is `Truncated`, with the
/// frame's size and what arrived, as for any frame.
#[test]
fn a_bulk_reply_cut_short_is_truncated() {
    let r: Response = Ok(Reply::Datum(Datum::Bytes(vec![5; BULK_MIN * 3])));
    let p = response_parts(&r).unwrap();
    let len = p.len();
    let (a, mut b) = crate::connection::pipe().unwrap();
    let mut frame = (len as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&p.head);
    frame.extend_from_slice(&p.tail[..BULK_MIN * 2]);
    let t = std::thread::spawn(move || {
        a.send_raw_for_tests(&frame);
    });
    match recv_response(&mut b) {
        Err(Error::Truncated { expected, got }) => {
            assert_eq!(expected, 4 + len);
            assert_eq!(got, 4 + p.head.len() + BULK_MIN * 2);
        }
        other => panic!("{other:?}"),
    }
    t.join().unwrap();
}
