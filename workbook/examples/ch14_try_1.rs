//! Chapter 14, Try it 1: the four ways without the `yield_now()` between
//! the read and the write. The window is a few nanoseconds wide: the counts
//! without a lock may come out short or exact, run by run; `get_lock()` and
//! `fetch_add` are exact either way.
//!
//! Run it: `cargo run -p forklore-workbook --example ch14_try_1`

use forklore::sharedctypes::{RawValue, Value};
use forklore::{outln, Process};

const N_PROCS: usize = 4;
const N_INCS: i64 = 250;

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
    let raw = RawValue::new(0i64).expect("could not create the value");
    let c = raw.clone();
    run(move || {
        for _ in 0..N_INCS {
            c.set(c.get() + 1);
        }
    });
    outln!("without lock: counter = {} (expected {n})", raw.get());

    let counter = Value::new(0i64).expect("could not create the value");
    let c = counter.clone();
    run(move || {
        for _ in 0..N_INCS {
            c.set(c.get() + 1);
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
            c.set(c.get() + 1);
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
}
