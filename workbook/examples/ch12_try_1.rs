//! Chapter 12, Try it 1: one process alone loses nothing.
//!
//! With `N_PROCS = 1`, no other process can read between a get and its
//! set: the count without a lock is exactly 250.
//!
//! Run it: `cargo run --example ch12_try_1`

use forklore::managers::{Manager, ValueProxy};
use forklore::{outln, Process};

/// Run `target` in `n` processes at once and wait for them all.
fn run(n: usize, target: impl FnOnce() + Clone + Send + 'static) {
    let mut procs: Vec<Process> = (0..n).map(|_| Process::new(target.clone())).collect();
    for p in &mut procs {
        p.start().expect("start failed");
    }
    for p in &mut procs {
        p.join().expect("join failed");
    }
}

const N_INCS: i32 = 250;

fn add_without_lock(counter: &ValueProxy<i32>) {
    for _ in 0..N_INCS {
        let v = counter.get().expect("get failed");
        counter.set(v + 1).expect("set failed");
    }
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let counter = manager.value(0i32).expect("could not create the value");
    let c = counter.clone();
    run(1, move || add_without_lock(&c));
    let x = counter.get().expect("get failed");
    outln!("1 process, without lock: counter = {x} (expected {N_INCS})");
}
