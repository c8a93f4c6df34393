//! Rows for `forklore::Pool` and `forklore::ProcessPoolExecutor`.
//!
//! Pools are created (and warmed up with one task) before the clock starts,
//! in forklore and in the CPython twins alike: the rows time the tasks, not
//! the forks of the workers.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use forklore::{Pool, Process, ProcessPoolExecutor};

use crate::harness::{round_trips, Spec};

fn tiny(x: u64) -> u64 {
    x + 1
}

fn square(x: u64) -> u64 {
    x * x
}

/// Fork a child that runs `serve` on one end of a socketpair, time `run`
/// on the other end, then let the child see EOF and reap it.
fn with_child(
    serve: impl FnOnce(UnixStream) + Send + 'static,
    run: impl FnOnce(&mut UnixStream),
) -> Duration {
    let (mut parent, child) = UnixStream::pair().unwrap();
    let mut p = Process::new(move || serve(child));
    p.start().unwrap();
    let t = Instant::now();
    run(&mut parent);
    let took = t.elapsed();
    // shutdown, not drop: the child holds a copy of this end too (fork), so
    // only shutting the socket down gives it EOF.
    parent.shutdown(std::net::Shutdown::Write).unwrap();
    p.join().unwrap();
    took
}

/// The floor of `pool.apply_async`: the same `ops` 16-byte messages sent
/// to a forked child that echoes them back, without waiting for one answer
/// before sending the next. `apply_async` does not wait either (the pool
/// hands a busy worker several tasks in one frame, and a worker sends
/// several answers in one), so a round trip per task is no floor for it:
/// the least any process pool can do is stream the bytes both ways. They
/// go in batches of [`STREAM_BATCH`] bytes, each written and then read
/// back, so neither side can block on a full socket buffer.
fn socketpair_stream(ops: usize) -> Duration {
    with_child(
        |mut child| {
            let mut buf = vec![0u8; STREAM_BATCH];
            while let Ok(n @ 1..) = child.read(&mut buf) {
                if child.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        },
        |parent| {
            let out = vec![7u8; 16 * ops];
            let mut back = vec![0u8; STREAM_BATCH];
            for batch in out.chunks(STREAM_BATCH) {
                parent.write_all(batch).unwrap();
                parent.read_exact(&mut back[..batch.len()]).unwrap();
            }
        },
    )
}

/// How many bytes [`socketpair_stream`] has in flight at once: 2,048
/// messages, well within a Unix socket's buffer.
const STREAM_BATCH: usize = 32 * 1024;

/// `pool.apply_async`: 5,000 `apply_async` of a tiny function on 2 workers,
/// then `get` every result. The workers are started by the forkserver, so
/// the pool streams the tasks from its background thread as CPython's does
/// (a pool of forked workers has no thread and moves inside its calls);
/// either way the pool is started before the clock starts.
pub fn apply_async() -> Spec<'static> {
    Spec {
        name: "pool.apply_async",
        unit: "µs per task",
        ops: 5_000,
        rounds: 5,
        pinned: false,
        forklore: Box::new(|ops| {
            let pool = Pool::builder(2)
                .start_method(forklore::StartMethod::ForkServer)
                .build()
                .unwrap();
            pool.apply(tiny, 0).unwrap();
            let t = Instant::now();
            let results: Vec<_> = (0..ops as u64)
                .map(|i| pool.apply_async(tiny, i).unwrap())
                .collect();
            for (i, r) in results.iter().enumerate() {
                assert_eq!(r.get().unwrap(), i as u64 + 1);
            }
            t.elapsed()
        }),
        floor: Some(Box::new(socketpair_stream)),
        python: Some(("pool_apply_async.py", vec![])),
    }
}

/// `pool.map`: `map` of x*x over 200,000 ints on 2 workers, with the
/// default chunksize.
pub fn map() -> Spec<'static> {
    Spec {
        name: "pool.map",
        unit: "µs per item",
        ops: 200_000,
        rounds: 5,
        pinned: false,
        forklore: Box::new(|ops| {
            let pool = Pool::new(2).unwrap();
            pool.apply(square, 0).unwrap();
            let t = Instant::now();
            let out = pool.map(square, 0..ops as u64).unwrap();
            let took = t.elapsed();
            assert_eq!(out[ops - 1], (ops as u64 - 1).pow(2));
            took
        }),
        floor: Some(Box::new(map_floor)),
        python: Some(("pool_map.py", vec![])),
    }
}

/// The floor of `pool.map`: the same work done by hand with one forked
/// child and a single round trip. The parent encodes the items with
/// postcard and writes them in one frame; the child decodes, squares,
/// encodes and writes the results back; the parent decodes them. Any map
/// that runs the function in another process must at least serialize, move
/// and deserialize the same bytes both ways; this does only that, with no
/// chunking, scheduling or second worker. (The function itself is nothing
/// next to it: squaring 200,000 ints in-process takes well under 1 ms.)
fn map_floor(ops: usize) -> Duration {
    fn send(s: &mut UnixStream, bytes: &[u8]) {
        s.write_all(&(bytes.len() as u64).to_le_bytes()).unwrap();
        s.write_all(bytes).unwrap();
    }
    fn recv(s: &mut UnixStream) -> Option<Vec<u8>> {
        let mut len = [0u8; 8];
        s.read_exact(&mut len).ok()?;
        let mut buf = vec![0u8; u64::from_le_bytes(len) as usize];
        s.read_exact(&mut buf).ok()?;
        Some(buf)
    }
    let items: Vec<u64> = (0..ops as u64).collect();
    let mut out: Vec<u64> = Vec::new();
    let took = with_child(
        |mut child| {
            while let Some(bytes) = recv(&mut child) {
                let items: Vec<u64> = postcard::from_bytes(&bytes).unwrap();
                let out: Vec<u64> = items.into_iter().map(square).collect();
                send(&mut child, &postcard::to_stdvec(&out).unwrap());
            }
        },
        |parent| {
            send(parent, &postcard::to_stdvec(&items).unwrap());
            out = postcard::from_bytes(&recv(parent).unwrap()).unwrap();
        },
    );
    assert_eq!(out[ops - 1], (ops as u64 - 1).pow(2));
    took
}

/// `executor.submit`: 5,000 times `submit` a tiny function and wait for its
/// `result`, on 2 workers.
pub fn submit() -> Spec<'static> {
    Spec {
        name: "executor.submit",
        unit: "µs per task",
        ops: 5_000,
        rounds: 5,
        pinned: false,
        forklore: Box::new(|ops| {
            let ex = ProcessPoolExecutor::new(2).unwrap();
            ex.submit(tiny, 0).unwrap().result().unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                assert_eq!(ex.submit(tiny, i).unwrap().result().unwrap(), i + 1);
            }
            t.elapsed()
        }),
        // Each submit waits for its result: one round trip per task.
        floor: Some(Box::new(round_trips)),
        python: Some(("executor_submit.py", vec![])),
    }
}

/// `pool.away`: issue 13's program. 40 `apply_async` of a 50 ms nap on 2
/// workers, 2.5 s away from the pool, then the time to `get` every result,
/// per task. Workers started by the forkserver, so the pool has its
/// background thread (a pool of forked workers has none, and would still
/// have 0.8 s of work queued); CPython's twin uses fork, whose pool has its
/// threads all the same.
pub fn away() -> Spec<'static> {
    Spec {
        name: "pool.away",
        unit: "µs wait per task",
        ops: 40,
        rounds: 3,
        pinned: false,
        forklore: Box::new(|ops| {
            let pool = Pool::builder(2)
                .start_method(forklore::StartMethod::ForkServer)
                .build()
                .unwrap();
            pool.apply(tiny, 0).unwrap();
            let results: Vec<_> = (0..ops)
                .map(|_| pool.apply_async(nap, 50).unwrap())
                .collect();
            std::thread::sleep(Duration::from_millis(2500));
            let t = Instant::now();
            for r in &results {
                assert_eq!(r.get().unwrap(), 50);
            }
            t.elapsed()
        }),
        floor: None,
        python: Some(("pool_away.py", vec![])),
    }
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}
