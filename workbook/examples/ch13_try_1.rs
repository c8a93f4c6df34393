//! Chapter 13, Try it 1: a stride instead of a block.
//!
//! Worker `w` fills slots `w`, `w + 4` and `w + 8`. The slots are still
//! disjoint, so the final array does not change.
//!
//! Run it: `cargo run --example ch13_try_1`

use forklore::managers::{ArrayProxy, Manager};
use forklore::{outln, Process};

const N_WORKERS: i64 = 4;
const SLOTS: i64 = 3;

fn run(arr: &ArrayProxy<i64>, f: fn(&ArrayProxy<i64>, i64)) {
    let mut workers: Vec<Process> = (0..N_WORKERS)
        .map(|w| {
            let arr = arr.clone();
            Process::new(move || f(&arr, w))
        })
        .collect();
    for p in &mut workers {
        p.start().expect("start failed");
    }
    for p in &mut workers {
        p.join().expect("join failed");
    }
}

fn fill_stride(arr: &ArrayProxy<i64>, w: i64) {
    for k in 0..SLOTS {
        let i = w + k * N_WORKERS;
        arr.set(i, i * i).expect("set failed");
    }
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let arr = manager
        .array(vec![0i64; (N_WORKERS * SLOTS) as usize])
        .expect("could not create the array");
    run(&arr, fill_stride);
    outln!(
        "arr = {:?}",
        arr.to_vec().expect("reading the array failed")
    );
}
