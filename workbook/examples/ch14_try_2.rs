//! Chapter 14, Try it 2: four processes, 100 000 additions each, through
//! `get_lock()` and through `fetch_add`; both exact, and the time of each.
//!
//! Run it: `cargo run --release -p forklore-workbook --example ch14_try_2`

use std::time::Instant;

use forklore::sharedctypes::Value;
use forklore::{outln, Process};

const N_PROCS: usize = 4;
const N_INCS: i64 = 100_000;

fn run(target: impl FnOnce() + Clone + Send + 'static) {
    let mut procs: Vec<Process> = (0..N_PROCS).map(|_| Process::new(target.clone())).collect();
    for p in &mut procs {
        p.start().expect("start failed");
    }
    for p in &mut procs {
        p.join().expect("join failed");
    }
}

fn main() {
    let n = N_PROCS as i64 * N_INCS;
    let counter = Value::new(0i64).expect("could not create the value");
    let c = counter.clone();
    let t = Instant::now();
    run(move || {
        for _ in 0..N_INCS {
            let _held = c.get_lock().guard().expect("acquire failed");
            c.set(c.get() + 1);
        }
    });
    let locked = t.elapsed();
    outln!(
        "with get_lock(): counter = {} (expected {n}) in {locked:.2?}",
        counter.get()
    );

    counter.set(0);
    let c = counter.clone();
    let t = Instant::now();
    run(move || {
        for _ in 0..N_INCS {
            c.fetch_add(1);
        }
    });
    let atomic = t.elapsed();
    outln!(
        "with fetch_add: counter = {} (expected {n}) in {atomic:.2?}",
        counter.get()
    );
}
