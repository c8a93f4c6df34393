//! Chapter 12 — the lost-update race on a shared Value, then its fix.
//!
//! Reproduces this Python program (`workbook/python/ch12_manager_value.py`):
//!
//! ```python
//! def add_without_lock(counter):
//!     for _ in range(250):
//!         counter.value += 1  # a get, then a set: two requests
//!
//! def add_with_lock(counter, lock):
//!     for _ in range(250):
//!         with lock:
//!             counter.value += 1
//!
//! with Manager() as manager:
//!     counter = manager.Value('i', 0)
//!     run(add_without_lock, (counter,))      # 4 processes, joined
//!     print(f'without lock: counter = {counter.value} (expected 1000)')
//!     counter.value = 0
//!     lock = manager.Lock()
//!     run(add_with_lock, (counter, lock))
//!     print(f'with lock: counter = {counter.value} (expected 1000)')
//! ```
//!
//! Four processes add 1 to one counter 250 times each. `counter.value += 1`
//! is two requests to the server: read the value, then write it plus one.
//! Between the two, another process can read the same old value, and one of
//! the two additions is lost. Watch for: without the lock the counter ends
//! below 1000, by a different amount in each run (it *can* reach 1000, if
//! the processes never overlap); with the lock around each read and write it
//! is exactly 1000, every time.
//!
//! With `--fetch-add` the program adds a third run, where each process calls
//! `counter.fetch_add(1)`: one request that the server carries out whole, so
//! nothing is lost and no lock is needed. Python's manager `Value` has no
//! such method.
//!
//! Run it: `cargo run --release --bin ch12_manager_value [-- --fetch-add]`

use forklore::managers::{LockProxy, Manager, ValueProxy};
use forklore::{outln, Process};

const N_PROCS: usize = 4;
const N_INCS: i32 = 250;

fn add_without_lock(counter: &ValueProxy<i32>) {
    for _ in 0..N_INCS {
        // Python's `counter.value += 1`: a get, then a set, two requests.
        let v = counter.get().expect("get failed");
        counter.set(v + 1).expect("set failed");
    }
}

fn add_with_lock(counter: &ValueProxy<i32>, lock: &LockProxy) {
    for _ in 0..N_INCS {
        let _held = lock.guard().expect("acquire failed");
        let v = counter.get().expect("get failed");
        counter.set(v + 1).expect("set failed");
    }
}

fn add_with_fetch_add(counter: &ValueProxy<i32>) {
    for _ in 0..N_INCS {
        counter.fetch_add(1).expect("fetch_add failed");
    }
}

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

pub fn main() {
    let fetch_add = std::env::args().skip(1).any(|a| a == "--fetch-add");
    let manager = Manager::start().expect("could not start the manager");
    let n = N_PROCS as i32 * N_INCS;
    outln!("{N_PROCS} processes add 1 to a shared counter {N_INCS} times each");
    let counter = manager.value(0i32).expect("could not create the value");
    let c = counter.clone();
    run(move || add_without_lock(&c));
    let x = counter.get().expect("get failed");
    outln!("without lock: counter = {x} (expected {n})");

    counter.set(0).expect("set failed");
    let lock = manager.lock().expect("could not create the lock");
    let (c, l) = (counter.clone(), lock.clone());
    run(move || add_with_lock(&c, &l));
    let x = counter.get().expect("get failed");
    outln!("with lock: counter = {x} (expected {n})");

    if fetch_add {
        counter.set(0).expect("set failed");
        let c = counter.clone();
        run(move || add_with_fetch_add(&c));
        let x = counter.get().expect("get failed");
        outln!("with fetch_add: counter = {x} (expected {n})");
    }
}
