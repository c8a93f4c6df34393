//! Chapter 10, Try it 2: `wait_timeout` shorter than the parent's sleep.
//!
//! Each worker waits at most 50 ms; the parent sets the event only after
//! 500 ms. `wait_timeout` returns `false`: the wait timed out, and the
//! worker goes on without the signal.
//!
//! Run it: `cargo run --example ch10_try_2`

use std::time::Duration;

use forklore::managers::{EventProxy, Manager};
use forklore::{outln, Process};

fn worker(start: &EventProxy, i: usize) {
    let signalled = start
        .wait_timeout(Duration::from_millis(50))
        .expect("wait failed");
    outln!("worker {i}: wait_timeout returned {signalled}");
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
    std::thread::sleep(Duration::from_millis(500));
    outln!("main: setting the event");
    start.set().expect("set failed");
    for p in &mut workers {
        p.join().expect("join failed");
    }
}
