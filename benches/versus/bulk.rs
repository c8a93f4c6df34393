//! Rows for bulk data through `forklore::managers` (issue 16): a million
//! integers into and out of a list, 16 MiB of bytes out of a dict, and
//! the server's memory per small dict.
//!
//! Each bulk row measures the steady state: every round does the
//! operation once untimed first, in forklore and in its CPython script
//! alike. The first call of a round pays for fresh memory on both sides
//! of the socket (the kernel zeroing a page per 4 KiB touched, about
//! 17 ms instead of 4 ms for the first 16 MiB get), which with five
//! calls a round would weigh as much as the other four.
//!
//! The floor of a bulk row is the same number of bytes through a Unix
//! socket pair to a forked child, which reads them all and answers with
//! one byte ([`one_way`]): what moving that data between two processes
//! costs at the least. Both ends ask for 4 MiB socket buffers
//! (`SO_SNDBUF`, `SO_RCVBUF`), as the manager's connections do: with the
//! kernel's default (about 208 KiB) the floor itself would be several
//! times slower, and an honest floor is the best the socket can do. The
//! kernel caps the size at `net.core.wmem_max`/`rmem_max` (212,992 bytes
//! on a stock kernel, where the floor and the manager both keep the
//! default).
//!
//! The manager itself no longer moves a bulk value through the socket once
//! its connection has an arena (shared memory beside the socket, see
//! `forklore::connection`): the value is copied once into a lane and once
//! out of it, where the floor's bytes are copied into the kernel and out
//! again, a few MiB at a time. So these rows can come out below their
//! floor: the floor is what the socket can do, as issue 16 defines it.
//! A connection asks for its arena before its first bulk request, or
//! after its first bulk reply: in the first round, the untimed `extend`
//! asks first, and the first timed `to_vec` or `d[k]` asks (one round trip)
//! after the untimed one came back through the socket. The median of five
//! rounds does not depend on that one call.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use forklore::managers::datum::Bytes;
use forklore::managers::Manager;

use crate::harness::Spec;

/// Items of the list rows.
const ITEMS: usize = 1_000_000;
/// Bytes of the bytes row.
const BYTES: usize = 16 << 20;
/// Calls per round of a bulk row, and rounds. Five rounds, where other
/// rows take three: on this VM a bulk call now and then takes ten times
/// its usual time for a second or so, in every column alike (fresh guest
/// memory the host has not backed yet, on a machine up for minutes, is
/// the likely cause), and the median of three rounds let one such spell
/// decide a row (`manager.list_to_vec_1m` once 19 ms against a usual
/// 1.3-1.8 ms, `manager.bytes_get_16mib` once 32 ms against 2.3-2.8 ms).
const OPS: usize = 5;
const ROUNDS: usize = 5;

// The bulk rows are not pinned (see `harness::on_server_cpu`): with the
// client on one CPU and the server on the other, every refill of a socket
// buffer waited for a wakeup across CPUs (tens of microseconds on this
// VM), and a pinned run measured those instead (`list_to_vec_1m` 12 ms,
// its floor 1 ms; the 1 k floor 34 µs against 10 µs unpinned).

fn lazy_manager() -> impl FnMut() -> Manager {
    let mut m: Option<Manager> = None;
    move || m.get_or_insert_with(|| Manager::start().unwrap()).clone()
}

/// The socket buffers the floor asks for: the manager's own
/// (`forklore::connection`'s `BULK_SOCKET_BUFFER`).
const SOCKET_BUFFER: usize = 4 << 20;

/// Ask for `SOCKET_BUFFER`-byte buffers on `s`, as the manager does.
fn widen(s: &UnixStream) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(s, sockopt::SndBuf, &SOCKET_BUFFER);
    let _ = setsockopt(s, sockopt::RcvBuf, &SOCKET_BUFFER);
}

/// `ops` transfers of `bytes` bytes, each answered by one byte, to a
/// forked child through a socket pair with the manager's socket buffers
/// (the fork is not timed).
pub fn one_way(bytes: usize) -> impl FnMut(usize) -> Duration {
    move |ops| {
        let (mut parent, child) = UnixStream::pair().unwrap();
        widen(&parent);
        widen(&child);
        let mut sink = forklore::Process::new(move || {
            let mut child = child;
            let mut buf = vec![0u8; bytes];
            while child.read_exact(&mut buf).is_ok() {
                if child.write_all(&[1]).is_err() {
                    break;
                }
            }
        });
        sink.start().unwrap();
        let data = vec![7u8; bytes];
        let mut ack = [0u8; 1];
        let t = Instant::now();
        for _ in 0..ops {
            parent.write_all(&data).unwrap();
            parent.read_exact(&mut ack).unwrap();
        }
        let took = t.elapsed();
        parent.shutdown(std::net::Shutdown::Both).unwrap();
        sink.join().unwrap();
        took
    }
}

/// The sizes of the growth rows (issue 16: how cost grows from 1 k to
/// 1 M items): their names' suffix, items, and calls per round (more for
/// small sizes, so that a round is long enough to time).
pub const GROWTH: [(&str, usize, usize); 4] = [
    ("1k", 1_000, 500),
    ("10k", 10_000, 100),
    ("100k", 100_000, 20),
    ("1m", ITEMS, OPS),
];

/// `manager.list_extend_1m`: `li.extend(range(1_000_000))` into an empty
/// list (emptied, untimed, between calls).
pub fn list_extend_1m() -> Spec<'static> {
    list_extend(GROWTH[3])
}

/// `manager.list_extend_<size>`: `li.extend(range(n))` into an empty list
/// (emptied, untimed, between calls); `list_extend_1m` and the growth rows.
pub fn list_extend((size, n, ops): (&'static str, usize, usize)) -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: leak(format!("manager.list_extend_{size}")),
        unit: leak(format!("µs per {} items", unit_size(size))),
        ops,
        rounds: ROUNDS,
        pinned: false,
        forklore: Box::new(move |ops| {
            let li = manager().list::<i64>().unwrap();
            // Once untimed (both sides): the steady state.
            li.extend(0..n as i64).unwrap();
            li.clear().unwrap();
            let mut took = Duration::ZERO;
            for _ in 0..ops {
                let t = Instant::now();
                li.extend(0..n as i64).unwrap();
                took += t.elapsed();
                assert_eq!(li.len().unwrap(), n);
                li.clear().unwrap();
            }
            took
        }),
        floor: Some(Box::new(one_way(8 * n))),
        python: Some(("manager_list_extend_1m.py", vec![n.to_string()])),
    }
}

/// `manager.list_to_vec_1m`: `li[:]` of a list of a million integers.
pub fn list_to_vec_1m() -> Spec<'static> {
    list_to_vec(GROWTH[3])
}

/// `manager.list_to_vec_<size>`: `li[:]` of a list of `n` integers;
/// `list_to_vec_1m` and the growth rows.
pub fn list_to_vec((size, n, ops): (&'static str, usize, usize)) -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: leak(format!("manager.list_to_vec_{size}")),
        unit: leak(format!("µs per {} items", unit_size(size))),
        ops,
        rounds: ROUNDS,
        pinned: false,
        forklore: Box::new(move |ops| {
            let li = manager().list_from(0..n as i64).unwrap();
            // Once untimed (both sides): the steady state.
            assert_eq!(li.to_vec().unwrap().len(), n);
            let t = Instant::now();
            for _ in 0..ops {
                let v = li.to_vec().unwrap();
                assert_eq!(v.len(), n);
            }
            t.elapsed()
        }),
        floor: Some(Box::new(one_way(8 * n))),
        python: Some(("manager_list_to_vec_1m.py", vec![n.to_string()])),
    }
}

/// `1M` for `1m`, as the 1 M rows have always said; `1k`, `10k`, `100k`.
fn unit_size(size: &str) -> String {
    size.replace('m', "M")
}

/// A row's name or unit, made once per row for the whole run.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// `manager.bytes_get_16mib`: `d['k']` of a 16 MiB bytes value.
pub fn bytes_get_16mib() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.bytes_get_16mib",
        unit: "µs per get",
        ops: OPS,
        rounds: ROUNDS,
        pinned: false,
        forklore: Box::new(move |ops| {
            // `Bytes`, Python's `bytes`: moved whole (a `Vec<u8>` value is
            // stored the same but serde reads it a byte at a time).
            let d = manager().dict::<String, Bytes>().unwrap();
            d.set("k".to_string(), Bytes(vec![7u8; BYTES])).unwrap();
            // Once untimed (both sides): the steady state.
            assert_eq!(d.get(&"k".to_string()).unwrap().unwrap().len(), BYTES);
            let t = Instant::now();
            for _ in 0..ops {
                let v = d.get(&"k".to_string()).unwrap().unwrap();
                assert_eq!(v.len(), BYTES);
            }
            t.elapsed()
        }),
        floor: Some(Box::new(one_way(BYTES))),
        python: Some(("manager_bytes_get_16mib.py", vec![])),
    }
}

/// Dicts of the `object_bytes` row, per op.
const DICTS: usize = 2000;

/// The server's resident memory, in bytes (`VmRSS` of its pid).
fn rss(pid: i32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// `manager.object_bytes`: the growth of the server's RSS per dict of 10
/// entries (`str` keys `'k0'`..`'k9'`, `int` values), over `DICTS` dicts.
/// Not a time: the row's "µs" column carries bytes per dict (the Duration
/// returned is that many microseconds times `ops`), as its CPython script
/// does.
pub fn object_bytes() -> Spec<'static> {
    Spec {
        name: "manager.object_bytes",
        unit: "bytes per dict",
        ops: 1,
        rounds: ROUNDS,
        pinned: false,
        forklore: Box::new(move |ops| {
            // A fresh server each round, so that rounds do not share pages.
            let manager = Manager::start().unwrap();
            let pid = manager.server_pid().unwrap().as_raw();
            let warm = manager.dict::<String, i64>().unwrap();
            warm.set("k".to_string(), 0).unwrap();
            let before = rss(pid);
            let mut dicts = Vec::with_capacity(DICTS);
            for n in 0..DICTS as i64 {
                let d = manager.dict::<String, i64>().unwrap();
                d.update((0..10).map(|i| (format!("k{i}"), n * 10 + i)))
                    .unwrap();
                dicts.push(d);
            }
            let per = rss(pid).saturating_sub(before) as f64 / DICTS as f64;
            drop(dicts);
            Duration::from_secs_f64(per * ops as f64 / 1e6)
        }),
        floor: None,
        python: Some(("manager_object_bytes.py", vec![])),
    }
}
