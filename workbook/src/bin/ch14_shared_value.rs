//! Chapter 14 — chapter 12's lost update, with a `Value` in
//! shared memory instead of a Manager's.
//!
//! Reproduces `workbook/python/ch14_shared_value.py`. Part one: four processes add 1 to one
//! counter 250 times each, four ways: read then write on a `RawValue`
//! (Python's `Value('q', 0, lock=False)`); the same on a `Value`, whose read
//! and write each take its lock, but not the pair; with `get_lock()` held
//! around the pair; and with `fetch_add`, one atomic instruction (CPython
//! has no such thing). Between the read and the write each process yields
//! the CPU (`sched_yield`, Python's `os.sched_yield()`): the window is a few
//! nanoseconds wide, too narrow to hit reliably on a busy machine, and the
//! yield widens it, as the round trip to the server did in chapter 12.
//! Part two: what one locked increment costs, in one process with no
//! contention: through `get_lock()`, through `fetch_add`, and through a
//! Manager's `Value` and `Lock`.
//!
//! Watch for: the first two counts are short, by a different amount each
//! run; the last two are exact; and the costs — nanoseconds to tens of them in
//! shared memory, tens of microseconds through the Manager's server.
//!
//! Run it: `cargo run --release --bin ch14_shared_value`

use std::time::Instant;

use forklore::sharedctypes::{RawValue, Value};
use forklore::{outln, Manager, Process};

const N_PROCS: usize = 4;
const N_INCS: i64 = 250;
const N_COST: i64 = 100_000;
const N_MANAGER_COST: i64 = 2_000;

/// Run `target` in `N_PROCS` processes at once and wait for them all.
fn run(target: impl FnOnce() + Clone + Send + 'static) {
    let mut procs: Vec<Process> = (0..N_PROCS).map(|_| Process::new(target.clone())).collect();
    for p in &mut procs {
        p.start().expect("start failed");
    }
    for p in &mut procs {
        p.join().expect("join failed");
    }
}

/// Time `ops` calls of `f`, and say what one cost.
fn cost(ops: i64, mut f: impl FnMut()) -> String {
    let t = Instant::now();
    for _ in 0..ops {
        f();
    }
    let ns = t.elapsed().as_secs_f64() * 1e9 / ops as f64;
    if ns < 1000.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{:.1} µs", ns / 1000.0)
    }
}

pub fn main() {
    let n = N_PROCS as i64 * N_INCS;
    outln!("{N_PROCS} processes add 1 to a shared-memory counter {N_INCS} times each");

    let raw = RawValue::new(0i64).expect("could not create the value");
    let c = raw.clone();
    run(move || {
        for _ in 0..N_INCS {
            let v = c.get();
            std::thread::yield_now();
            c.set(v + 1);
        }
    });
    outln!("without lock: counter = {} (expected {n})", raw.get());

    let counter = Value::new(0i64).expect("could not create the value");
    let c = counter.clone();
    run(move || {
        for _ in 0..N_INCS {
            let v = c.get(); // takes and releases the lock
            std::thread::yield_now();
            c.set(v + 1); // takes and releases it again
        }
    });
    outln!(
        "lock per access: counter = {} (expected {n})",
        counter.get()
    );

    counter.set(0);
    let c = counter.clone();
    run(move || {
        for _ in 0..N_INCS {
            let _held = c.get_lock().guard().expect("acquire failed");
            let v = c.get();
            std::thread::yield_now();
            c.set(v + 1);
        }
    });
    outln!(
        "with get_lock(): counter = {} (expected {n})",
        counter.get()
    );

    counter.set(0);
    let c = counter.clone();
    run(move || {
        for _ in 0..N_INCS {
            c.fetch_add(1);
        }
    });
    outln!("with fetch_add: counter = {} (expected {n})", counter.get());

    outln!("one process alone, cost of one increment:");
    let locked = cost(N_COST, || {
        let _held = counter.get_lock().guard().expect("acquire failed");
        counter.set(counter.get() + 1);
    });
    outln!("  with get_lock(): {locked}");
    outln!(
        "  with fetch_add: {}",
        cost(N_COST, || {
            counter.fetch_add(1);
        })
    );
    let manager = Manager::start().expect("could not start the manager");
    let mcounter = manager.value(0i64).expect("could not create the value");
    let lock = manager.lock().expect("could not create the lock");
    let m = cost(N_MANAGER_COST, || {
        let _held = lock.guard().expect("acquire failed");
        let v = mcounter.get().expect("get failed");
        mcounter.set(v + 1).expect("set failed");
    });
    outln!("  manager Value with manager Lock: {m}");
}
