//! Chapter 10, Try it 1: without the parent's sleep.
//!
//! The output has the same shape: the workers may not have reached
//! `wait()` yet when `set()` arrives, but then their `wait()` returns at
//! once, and the parent's line was written before `set()` either way.
//!
//! Run it: `cargo run --example ch10_try_1`

use forklore::managers::{EventProxy, Manager};
use forklore::{outln, Process};

fn worker(start: &EventProxy, i: usize) {
    start.wait().expect("wait failed");
    outln!("worker {i} started");
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let start = manager.event().expect("could not create the event");
    let mut workers: Vec<Process> = (0..4)
        .map(|i| {
            let start = start.clone();
            Process::new(move || worker(&start, i))
        })
        .collect();
    for p in &mut workers {
        p.start().expect("start failed");
    }
    outln!("main: setting the event");
    start.set().expect("set failed");
    for p in &mut workers {
        p.join().expect("join failed");
    }
    outln!("main: every worker has finished");
}
