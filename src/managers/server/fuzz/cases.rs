//! Hand-picked requests the fuzzing properties reach only by luck: a
//! panicking request, refusals, huge frames, adoption and parked references.

use super::*;

/// A panic inside a request (a bug) is caught: the client is told, the
/// connection goes on, and at its end the references are given back.
#[test]
fn a_panicking_request_is_answered_and_cleaned_up() {
    let srv = server();
    let before = srv.objects().len();
    let reqs = [
        Request::Create(Kind::List(vec![])),
        Request::Lookup {
            name: PANIC_NAME.into(),
            accept: vec![],
        },
        Request::ObjectCount,
    ];
    let (_, sent) = serve_with(&srv, frames(&reqs), true, None);
    let replies = responses(&sent);
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(
        matches!(&replies[1], Err(RemoteError::Panicked(m)) if m.contains("asked for by a test")),
        "{replies:?}"
    );
    assert_eq!(replies[2], Ok(Reply::Size(before as u64 + 1)));
    assert_eq!(srv.panics.load(Ordering::Relaxed), 1);
    // The connection's reference to the list it created was given back.
    assert_eq!(srv.objects().len(), before);
}

/// A refused request leaves the connection open: the next one is answered.
/// (Old code closed the connection after each of these.)
#[test]
fn refusals_keep_the_connection() {
    let srv = server();
    let mut bytes = frames(&[Request::Call(999, Method::List(ListOp::Len))]);
    // A frame that is no request.
    bytes.extend(frame(&[0xff, 0xfe, 0x00, 0x13]));
    // A method of another type of object.
    bytes.extend(frames(&[Request::Call(2, Method::List(ListOp::Len))]));
    // A frame over the limit, skipped whole.
    bytes.extend(frame(&vec![0u8; LIMIT + 10]));
    bytes.extend(frames(&[Request::Call(1, Method::List(ListOp::Len))]));
    let (_, sent) = serve_with(&srv, bytes, true, None);
    let replies = responses(&sent);
    assert_eq!(replies.len(), 5, "{replies:?}");
    assert_eq!(replies[0], Err(RemoteError::UnknownObject(999)));
    assert!(
        matches!(&replies[1], Err(RemoteError::Refused(_))),
        "{replies:?}"
    );
    assert!(
        matches!(&replies[2], Err(RemoteError::Refused(_))),
        "{replies:?}"
    );
    assert!(
        matches!(&replies[3], Err(RemoteError::Refused(m)) if m.contains("over the limit")),
        "{replies:?}"
    );
    assert_eq!(replies[4], Ok(Reply::Size(5)));
}

/// A frame that announces millions of unit values is refused as soon as
/// its length is read: nothing near 32 bytes per value is allocated.
#[test]
fn a_frame_of_millions_of_units_is_refused_before_allocating() {
    // Request::Create (variant 1), Kind::List (0), a varint length, units.
    let n: usize = 3_000_000;
    let mut payload = vec![1u8, 0];
    let mut v = n;
    while v >= 0x80 {
        payload.push((v as u8) | 0x80);
        v >>= 7;
    }
    payload.push(v as u8);
    payload.resize(payload.len() + n, 0);
    let (r, largest) =
        largest_allocation(|| crate::managers::datum::decode_bounded::<Request>(&payload));
    let e = r.unwrap_err();
    assert!(e.contains("once decoded"), "{e}");
    assert!(largest < 1 << 20, "{largest} bytes allocated");
    // Fewer values fit the budget and decode.
    payload.truncate(payload.len() - n);
    let r = crate::managers::datum::decode_bounded::<Request>(&[1, 0, 3, 0, 0, 0]);
    assert!(
        matches!(r, Ok(Request::Create(Kind::List(ref v))) if v.len() == 3),
        "{r:?}"
    );
}

/// Adopting a list of ids takes every object that still exists and reports
/// the first that does not (a session that reconnects re-adopts its live
/// references this way); the references go with the connection.
#[test]
fn adopt_takes_what_exists_and_reports_the_rest() {
    let srv = server();
    let before = srv.objects().len();
    let reqs = [
        Request::Create(Kind::List(vec![])),
        Request::Adopt(vec![1, 999, 998]),
        Request::Decref(1),
        Request::ObjectCount,
    ];
    let (_, sent) = serve_with(&srv, frames(&reqs), true, None);
    let replies = responses(&sent);
    assert_eq!(replies.len(), 4, "{replies:?}");
    let Ok(Reply::Id(id)) = replies[0] else {
        panic!("{replies:?}")
    };
    assert_eq!(replies[1], Err(RemoteError::UnknownObject(999)));
    assert_eq!(replies[2], Ok(Reply::Unit));
    assert_eq!(replies[3], Ok(Reply::Size(before as u64 + 1)));
    // Object 1 kept the reference it had before; the new list is freed.
    assert_eq!(srv.objects().get(&1).map(|e| e.refs), Some(1));
    assert!(!srv.objects().contains_key(&id));
}

/// A connection that fails (here: a frame header that is no length) keeps
/// its references for its process while that process lives; the process's
/// next connection takes them back when it says hello, and re-adopting
/// them does not count them twice. A process that is gone gets nothing
/// kept.
#[test]
fn references_of_a_failed_connection_wait_for_their_process() {
    let srv = server();
    let before = srv.objects().len();
    let hello = |process: u64, pid: u32| Request::Hello {
        process,
        pid,
        thread: 1,
        session: true,
    };
    let broken = |process: u64, pid: u32| {
        let mut bytes = frames(&[hello(process, pid), Request::Create(Kind::List(vec![]))]);
        bytes.extend((-5i32).to_be_bytes());
        let (_, sent) = serve_with(&srv, bytes, true, None);
        match responses(&sent)[..] {
            [Ok(Reply::Unit), Ok(Reply::Id(id))] => id,
            ref other => panic!("{other:?}"),
        }
    };
    // This test process is alive: its list is kept.
    let id = broken(77, std::process::id());
    assert!(srv.objects().contains_key(&id), "kept for a live process");
    let reqs = [
        hello(77, std::process::id()),
        Request::Adopt(vec![id]),
        Request::Decref(id),
        Request::ObjectCount,
    ];
    let (_, sent) = serve_with(&srv, frames(&reqs), true, None);
    let replies = responses(&sent);
    assert_eq!(
        replies,
        [
            Ok(Reply::Unit),
            Ok(Reply::Unit),
            Ok(Reply::Unit),
            Ok(Reply::Size(before as u64))
        ]
    );
    assert!(!srv.objects().contains_key(&id));
    // A process that has exited: nothing is kept.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let id = broken(78, dead);
    assert!(
        !srv.objects().contains_key(&id),
        "released for a dead process"
    );
    assert_eq!(srv.objects().len(), before);
}

/// Issue 16: a 57 MiB frame of packed integers (7.5 million) decodes
/// into one allocation of its own size: a packed run costs the server no
/// more memory than the bytes that carried it (the decoding budget allows
/// `DECODE_FACTOR` times as much).
#[test]
fn a_57_mib_frame_of_packed_integers_decodes_to_its_own_size() {
    let n = (57 << 20) / 8;
    let v: Vec<i64> = (0..n as i64).collect();
    let payload = postcard::to_allocvec(&Request::Call(
        1,
        Method::List(ListOp::Extend(Datum::Ints(v))),
    ))
    .unwrap();
    assert!(payload.len() >= 57 << 20);
    let (r, largest) =
        largest_allocation(|| crate::managers::datum::decode_bounded::<Request>(&payload));
    match r {
        Ok(Request::Call(1, Method::List(ListOp::Extend(Datum::Ints(v))))) => {
            assert_eq!(v.len(), n);
            assert_eq!(v[n - 1], n as i64 - 1);
        }
        Ok(_) => panic!("decoded to another request"),
        Err(e) => panic!("{e}"),
    }
    assert!(
        largest <= payload.len(),
        "{largest} bytes for a frame of {}",
        payload.len()
    );
}
