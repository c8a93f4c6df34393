//! Hostile input, generated: random and mutated frames and handshakes fed
//! to a server connection handler and to `Connection::recv`. Nothing may
//! panic, and no single allocation may exceed the frame limit (which is
//! checked before anything is allocated for a frame).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use proptest::prelude::*;

use super::*;
use crate::managers::datum::{Datum, F64};
use std::time::Duration;

use crate::managers::protocol::{
    BarrierOp, ConditionOp, DictOp, EventOp, Kind, ListOp, LockOp, Method, QueueOp, Slice, ValueOp,
};

/// Counts, for the thread that armed it, the largest single allocation.
struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator;
// the bookkeeping only touches const-initialised thread-locals, which
// do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The largest single allocation `f` makes on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, LARGEST.with(Cell::get))
}

/// The frame limit of the fuzzed connections. Frames may announce far
/// more; serde's own preallocation is capped at 1 MiB, so the limit is
/// at least that.
const LIMIT: usize = 1 << 20;
const KEY: &[u8] = b"fuzz key";

/// How many items the fuzz server's list (object 1) holds at the start.
const LIST_ITEMS: usize = 5;

/// A server with one object of several kinds, ids 1 to 5.
fn server() -> Arc<Server> {
    let kinds = [
        Kind::List(vec![Datum::Int(1); LIST_ITEMS]),
        Kind::Dict(vec![]),
        Kind::Queue { maxsize: 2 },
        Kind::Lock,
        Kind::Barrier {
            parties: 2,
            timeout: None,
        },
        Kind::Semaphore {
            value: u64::MAX,
            bounded: false,
        },
        Kind::Value(Datum::Int(i64::MAX.into())),
        Kind::Condition,
        Kind::Event,
        Kind::Array(vec![Datum::Int(0); 3]),
        Kind::RobustLock,
    ];
    let objects = kinds
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let e = Entry {
                obj: Arc::new(Object::new(k)),
                refs: 1,
            };
            (i as u64 + 1, e)
        })
        .collect();
    Arc::new(Server {
        authkey: KEY.to_vec(),
        objects: Mutex::new(objects),
        next_id: AtomicU64::new(100),
        next_conn: AtomicU64::new(1),
        names: Mutex::new(HashMap::from([("q".to_string(), 3)])),
        dir: None,
        gate: Gate::default(),
        tcp: false,
        procs: procs::Procs::default(),
        parked: Mutex::new(HashMap::new()),
        panics: AtomicU64::new(0),
        nested: std::sync::atomic::AtomicBool::new(false),
        on_shutdown: OnShutdown::Call(Box::new(|| {})),
    })
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Well-formed requests, the starting points of mutations.
fn seeds() -> Vec<Vec<u8>> {
    let d = |v: i128| Datum::Int(v);
    let reqs = [
        Request::Call(1, Method::List(ListOp::Append(d(2)))),
        Request::Call(1, Method::List(ListOp::GetSlice(Default::default()))),
        Request::Call(2, Method::Dict(DictOp::Set(d(1), d(2)))),
        Request::Call(2, Method::Dict(DictOp::Items)),
        Request::Call(
            3,
            Method::Queue(QueueOp::Put {
                item: d(3),
                block: false,
                timeout: None,
            }),
        ),
        Request::Call(
            3,
            Method::Queue(QueueOp::Get {
                block: false,
                timeout: None,
            }),
        ),
        Request::Call(
            4,
            Method::Lock(LockOp::Acquire {
                blocking: false,
                timeout: None,
            }),
        ),
        Request::Create(Kind::List(vec![d(1), d(2)])),
        // Packed runs: their lengths and elements get mutated too.
        Request::Call(
            1,
            Method::List(ListOp::Extend(Datum::Ints(vec![1, -300, 1 << 40]))),
        ),
        Request::Call(
            1,
            Method::List(ListOp::Extend(Datum::Floats(vec![F64(0.5), F64(-2.0)]))),
        ),
        Request::Call(1, Method::List(ListOp::Append(Datum::Str("s".into())))),
        Request::Adopt(vec![1, 2]),
        Request::Decref(1),
        Request::ObjectCount,
        Request::Register("r".into(), 1),
        Request::Lookup {
            name: "q".into(),
            accept: vec!["Queue".into()],
        },
    ];
    reqs.iter()
        .map(|r| postcard::to_allocvec(r).unwrap())
        .collect()
}

/// One piece of a hostile byte stream.
#[derive(Debug, Clone)]
enum Piece {
    /// A seed request, its bytes edited and maybe cut short.
    Mutated {
        seed: usize,
        edits: Vec<(usize, u8)>,
        cut: Option<usize>,
    },
    /// Random bytes as one well-framed payload.
    Junk(Vec<u8>),
    /// Random bytes with no framing at all.
    Noise(Vec<u8>),
    /// A header announcing any length (maybe -1 and a 64-bit length).
    Header(i32, u64),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => (
            0..13usize,
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            prop::option::of(any::<usize>())
        )
            .prop_map(|(seed, edits, cut)| Piece::Mutated { seed, edits, cut }),
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Piece::Junk),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Piece::Noise),
        1 => (any::<i32>(), any::<u64>()).prop_map(|(h, l)| Piece::Header(h, l)),
    ]
}

fn render(pieces: &[Piece], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Mutated { seed, edits, cut } => {
                let mut b = seeds[*seed].clone();
                for (at, v) in edits {
                    if !b.is_empty() {
                        let i = at % b.len();
                        b[i] = *v;
                    }
                }
                if let Some(c) = cut {
                    b.truncate(c % (b.len() + 1));
                }
                out.extend(frame(&b));
            }
            Piece::Junk(b) => out.extend(frame(b)),
            Piece::Noise(b) => out.extend(b),
            Piece::Header(h, l) => {
                out.extend(h.to_be_bytes());
                if *h == -1 {
                    out.extend(l.to_be_bytes());
                }
            }
        }
    }
    out
}

/// Run `serve` on this thread against a peer that (maybe) passes the
/// handshake and then writes `bytes`; return the largest allocation. A
/// panic caught by the server (which answers the client and goes on) fails.
fn serve_against(bytes: Vec<u8>, handshake: bool, mutate_digest: Option<(usize, u8)>) -> usize {
    let srv = server();
    let (largest, _) = serve_with(&srv, bytes, handshake, mutate_digest);
    assert_eq!(
        srv.panics.load(Ordering::Relaxed),
        0,
        "the server caught a panic"
    );
    largest
}

/// As [`serve_against`], on `srv`; also return the bytes the server sent
/// after the handshake.
fn serve_with(
    srv: &Arc<Server>,
    bytes: Vec<u8>,
    handshake: bool,
    mutate_digest: Option<(usize, u8)>,
) -> (usize, Vec<u8>) {
    let (s, c) = UnixStream::pair().unwrap();
    let peer = std::thread::spawn(move || {
        let mut c = c;
        if handshake {
            let mut conn = Connection::from(c.try_clone().unwrap());
            let ok = match mutate_digest {
                None => answer_challenge(&mut conn, KEY)
                    .and_then(|()| deliver_challenge(&mut conn, KEY))
                    .is_ok(),
                // Answer the challenge with a digest with one byte changed.
                Some((at, v)) => {
                    let challenge = conn.recv_bytes().unwrap();
                    let msg = &challenge[b"#CHALLENGE#".len()..];
                    let mut mac = hmac_of(msg);
                    let i = at % mac.len();
                    mac[i] ^= v | 1;
                    let mut resp = b"{sha256}".to_vec();
                    resp.extend(mac);
                    let _ = conn.send_bytes(&resp);
                    false
                }
            };
            if !ok {
                return Vec::new();
            }
        }
        // Write the requests while reading the replies: a reply larger
        // than the socket's buffer, sent while requests are still being
        // written, would otherwise block both ends for ever.
        let mut w = c.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(&bytes);
            let _ = w.shutdown(std::net::Shutdown::Write);
        });
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
        writer.join().unwrap();
        sink
    });
    let mut conn = Connection::from(s);
    conn.set_max_message_size(LIMIT);
    let ((), largest) = largest_allocation(|| serve(Arc::clone(srv), conn, 1, "fuzz".into()));
    (largest, peer.join().unwrap())
}

fn hmac_of(msg: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// After a good handshake: any stream of mutated and random frames.
    #[test]
    fn hostile_frames_never_panic_the_server_or_overallocate(
        pieces in prop::collection::vec(piece(), 1..6)
    ) {
        let bytes = render(&pieces, &seeds());
        // The decoder's budget for these bytes (some seeds carry long
        // packed runs, which outgrow the 1 MiB frame limit by themselves).
        let justified = LIMIT.max(bytes.len().saturating_mul(crate::managers::datum::DECODE_FACTOR));
        let largest = serve_against(bytes, true, None);
        prop_assert!(largest <= justified, "an allocation of {largest} bytes (at most {justified})");
    }

    /// Before the handshake: noise instead of a digest, or a digest
    /// one byte off.
    #[test]
    fn hostile_handshakes_never_panic_the_server(
        noise in prop::collection::vec(any::<u8>(), 0..600),
        digest_edit in prop::option::of((any::<usize>(), any::<u8>())),
    ) {
        let largest = match digest_edit {
            Some(edit) => serve_against(Vec::new(), true, Some(edit)),
            None => serve_against(noise, false, None),
        };
        prop_assert!(largest <= LIMIT, "an allocation of {largest} bytes");
    }

    /// `Connection::recv` itself, for both directions' message types.
    #[test]
    fn hostile_frames_never_panic_recv(pieces in prop::collection::vec(piece(), 1..8)) {
        let bytes = render(&pieces, &seeds());
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&bytes).unwrap();
        drop(a);
        let mut conn = Connection::from(b);
        conn.set_max_message_size(LIMIT);
        let (errors, largest) = largest_allocation(|| {
            let mut errors = Vec::new();
            // A whole frame that does not decode leaves the stream in
            // step, so reading goes on; a bad header does not (a
            // negative length stays unread), and the server hangs up
            // then: so do we. At most one read per input byte.
            for i in 0..=bytes.len() {
                let r = if i % 2 == 0 {
                    conn.recv::<Request>().map(drop)
                } else {
                    conn.recv::<Response>().map(drop)
                };
                match r {
                    Ok(()) => {}
                    Err(Error::Closed) => break,
                    Err(Error::Decode(m)) if !m.starts_with("invalid frame length") => {
                        errors.push(Error::Decode(m))
                    }
                    Err(e) => {
                        errors.push(e);
                        break;
                    }
                }
            }
            errors
        });
        prop_assert!(largest <= LIMIT, "an allocation of {largest} bytes");
        for e in errors {
            prop_assert!(
                matches!(
                    e,
                    Error::Decode(_) | Error::Truncated { .. } | Error::FrameTooLarge { .. }
                ),
                "unexpected error {e:?}"
            );
        }
    }
}

/// The allocation check sees a frame's allocation: a frame under the
/// limit but over the read buffer is allocated whole (so the property
/// above would catch an allocation made before the limit check).
#[test]
fn the_counter_sees_a_large_frame_and_the_limit_refuses_a_larger_one() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let big = 200_000usize;
    let writer = std::thread::spawn(move || {
        a.write_all(&frame(&vec![7u8; big])).unwrap();
        a.write_all(&((LIMIT + 1) as i32).to_be_bytes()).unwrap();
    });
    let mut conn = Connection::from(b);
    conn.set_max_message_size(LIMIT);
    let (r, largest) = largest_allocation(|| conn.recv_bytes());
    assert_eq!(r.unwrap().len(), big);
    assert!(largest >= big, "{largest}");
    let (r, largest) = largest_allocation(|| conn.recv_bytes());
    assert!(matches!(r, Err(Error::FrameTooLarge { .. })), "{r:?}");
    assert!(
        largest < 1024,
        "nothing allocated for a refused frame: {largest}"
    );
    writer.join().unwrap();
}

/// The name of a `Lookup` that panics in a test build (see `handle`).
pub(super) const PANIC_NAME: &str = "\u{0}panic";

/// Numbers at and near the edges, and some ordinary ones.
fn edge_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => Just(i64::MIN),
        1 => Just(i64::MIN + 1),
        2 => Just(i64::MAX),
        1 => Just(i64::MAX - 1),
        3 => -8i64..8,
        1 => any::<i64>(),
    ]
}

fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(1u64), Just(u64::MAX), any::<u64>()]
}

fn edge_timeout() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        Just(Some(Duration::ZERO)),
        Just(Some(Duration::MAX)),
        Just(Some(Duration::new(u64::MAX, 0))),
        (0u64..3).prop_map(|ms| Some(Duration::from_millis(ms))),
    ]
}

fn edge_slice() -> impl Strategy<Value = Slice> {
    (
        prop::option::weighted(0.8, edge_i64()),
        prop::option::weighted(0.8, edge_i64()),
        prop::option::weighted(0.8, edge_i64()),
    )
        .prop_map(|(start, stop, step)| Slice { start, stop, step })
}

fn edge_int() -> impl Strategy<Value = Datum> {
    prop_oneof![
        Just(Datum::Int(i128::MAX)),
        Just(Datum::Int(i128::MIN)),
        edge_i64().prop_map(|i| Datum::Int(i.into())),
    ]
}

/// Long lists: up to 20,000 items.
fn long_list() -> impl Strategy<Value = Vec<Datum>> {
    (0usize..20_000, edge_int()).prop_map(|(n, d)| vec![d; n])
}

/// Well-formed requests with extreme numbers, to the objects of `server()`.
fn extreme_request() -> impl Strategy<Value = Request> {
    let list = |op: ListOp| Request::Call(1, Method::List(op));
    prop_oneof![
        8 => edge_slice().prop_map(move |s| list(ListOp::GetSlice(s))),
        4 => edge_slice().prop_map(move |s| list(ListOp::DelSlice(s))),
        4 => (edge_slice(), long_list()).prop_map(move |(s, v)| list(ListOp::SetSlice(s, v))),
        4 => (edge_slice(), edge_int()).prop_map(move |(s, d)| list(ListOp::Index(d, s))),
        1 => edge_i64().prop_map(move |i| list(ListOp::Get(i))),
        1 => edge_i64().prop_map(move |i| list(ListOp::Del(i))),
        1 => (edge_i64(), edge_int()).prop_map(move |(i, d)| list(ListOp::Insert(i, d))),
        1 => prop::option::of(edge_i64()).prop_map(move |i| list(ListOp::Pop(i))),
        1 => long_list().prop_map(move |v| list(ListOp::Extend(Datum::Seq(v)))),
        1 => (0usize..20_000, edge_i64())
            .prop_map(move |(n, i)| list(ListOp::Extend(Datum::Ints(vec![i; n])))),
        1 => (0usize..2_000, any::<f64>())
            .prop_map(move |(n, f)| list(ListOp::Extend(Datum::Floats(vec![F64(f); n])))),
        1 => long_list().prop_map(|v| Request::Create(Kind::List(v))),
        1 => (edge_slice(), long_list())
            .prop_map(|(s, v)| Request::Call(10, Method::List(ListOp::SetSlice(s, v)))),
        1 => edge_i64().prop_map(|i| Request::Call(10, Method::List(ListOp::Get(i)))),
        1 => (any::<bool>(), edge_timeout()).prop_map(|(block, timeout)| Request::Call(
            3,
            Method::Queue(QueueOp::Get { block, timeout })
        )),
        1 => edge_timeout().prop_map(|timeout| Request::Call(
            4,
            Method::Lock(LockOp::Acquire {
                blocking: true,
                timeout
            })
        )),
        1 => edge_timeout().prop_map(|timeout| Request::Call(
            11,
            Method::Lock(LockOp::Acquire {
                blocking: true,
                timeout
            })
        )),
        1 => Just(Request::Call(6, Method::Lock(LockOp::Release))),
        1 => edge_timeout().prop_map(|t| Request::Call(9, Method::Event(EventOp::Wait(t)))),
        1 => edge_timeout().prop_map(|t| Request::Call(5, Method::Barrier(BarrierOp::Wait(t)))),
        1 => edge_u64().prop_map(|n| Request::Call(8, Method::Condition(ConditionOp::Notify(n)))),
        1 => edge_timeout().prop_map(|t| Request::Call(8, Method::Condition(ConditionOp::Wait(t)))),
        1 => (edge_int(), prop::option::of((any::<i128>(), any::<i128>()))).prop_map(
            |(delta, range)| Request::Call(7, Method::Value(ValueOp::FetchAdd { delta, range }))
        ),
        1 => (edge_u64(), any::<bool>())
            .prop_map(|(value, bounded)| Request::Create(Kind::Semaphore { value, bounded })),
        1 => edge_u64().prop_map(|parties| Request::Create(Kind::Barrier {
            parties,
            timeout: None,
        })),
        1 => edge_u64().prop_map(|maxsize| Request::Create(Kind::Queue { maxsize })),
        1 => edge_u64().prop_map(Request::Decref),
        1 => prop::collection::vec(edge_u64(), 0..50).prop_map(Request::Adopt),
        1 => (edge_u64(), edge_u64(), any::<u32>(), any::<bool>()).prop_map(
            |(process, thread, pid, session)| Request::Hello {
                process,
                pid,
                thread,
                session,
            }
        ),
        1 => Just(Request::Arena),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Well-formed requests with extreme indices, slices, steps, counts,
    /// timeouts and long lists: answered (or refused) without a panic.
    #[test]
    fn extreme_values_never_panic_the_server(reqs in prop::collection::vec(extreme_request(), 1..5)) {
        let mut bytes = Vec::new();
        for r in &reqs {
            bytes.extend(frame(&postcard::to_allocvec(r).unwrap()));
        }
        // Long lists are legitimate input, and the server stores what it is
        // sent: a single allocation may be what the decoder's budget allows
        // for these bytes, or the storage of the items sent (a vector of
        // one `Datum` node per item, at most twice as long as the items
        // while it grows). A list of 20,000 items outgrows the 1 MiB frame
        // limit by itself. The list the server starts with counts too: a
        // value that unpacks it makes a node of each of its items as well.
        let stored = (LIST_ITEMS + reqs.iter().map(items_sent).sum::<usize>())
            .saturating_mul(2 * std::mem::size_of::<Datum>());
        let justified = LIMIT
            .max(bytes.len().saturating_mul(crate::managers::datum::DECODE_FACTOR))
            .max(stored);
        let largest = serve_against(bytes, true, None);
        prop_assert!(largest <= justified, "an allocation of {largest} bytes (at most {justified})");
    }
}

/// How many list items `req` sends (what the server may then store).
fn items_sent(req: &Request) -> usize {
    match req {
        Request::Create(Kind::List(v)) => v.len(),
        Request::Call(_, Method::List(ListOp::SetSlice(_, v))) => v.len(),
        Request::Call(_, Method::List(ListOp::Extend(d))) => {
            d.clone().into_items().map_or(0, |v| v.len())
        }
        _ => 0,
    }
}

/// The responses in `bytes`, frame by frame.
fn responses(bytes: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 4 {
        let n = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(postcard::from_bytes(&rest[4..4 + n]).unwrap());
        rest = &rest[4 + n..];
    }
    out
}

fn frames(reqs: &[Request]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for r in reqs {
        bytes.extend(frame(&postcard::to_allocvec(r).unwrap()));
    }
    bytes
}

mod cases;
