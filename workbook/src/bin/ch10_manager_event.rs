//! Chapter 10 — workers wait for a start signal.
//!
//! Reproduces this Python program (`workbook/python/ch10_manager_event.py`):
//!
//! ```python
//! def worker(start, i):
//!     start.wait()
//!     print(f'worker {i} started')
//!
//! with Manager() as manager:
//!     start = manager.Event()
//!     workers = [Process(target=worker, args=(start, i)) for i in range(4)]
//!     for p in workers:
//!         p.start()
//!     time.sleep(0.1)
//!     print('main: setting the event', flush=True)
//!     start.set()
//!     for p in workers:
//!         p.join()
//!     print('main: every worker has finished')
//! ```
//!
//! An event is a flag in the manager's server. `wait()` is a request the
//! server answers only once the flag is set, so the four workers block until
//! the parent calls `set()`, which wakes them all at once. Watch for: the
//! parent's `setting the event` line comes before every `worker ... started`
//! line, in every run; the workers then start in any order. The short sleep
//! only gives every worker time to reach `wait()`, so that the event really
//! is what holds them; the order holds without it.
//!
//! Run it: `cargo run --release --bin ch10_manager_event`

use std::time::Duration;

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
    std::thread::sleep(Duration::from_millis(100));
    // `outln!` has written this line before `set()` is sent: no worker can
    // print before it.
    outln!("main: setting the event");
    start.set().expect("set failed");
    for p in &mut workers {
        p.join().expect("join failed");
    }
    outln!("main: every worker has finished");
}
