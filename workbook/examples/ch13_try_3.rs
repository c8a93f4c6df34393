//! Chapter 13, Try it 3: four workers add 1 to slot 0 a hundred times each,
//! with a get and then a set.
//!
//! Slot 0 usually ends below 400: the lost update of chapter 12, on an
//! array slot. It never ends above 400.
//!
//! Run it: `cargo run --example ch13_try_3`

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

fn add_to_slot_0(arr: &ArrayProxy<i64>, _w: i64) {
    for _ in 0..100 {
        let v = arr.get(0).expect("get failed");
        arr.set(0, v + 1).expect("set failed");
    }
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let arr = manager
        .array(vec![0i64; (N_WORKERS * SLOTS) as usize])
        .expect("could not create the array");
    run(&arr, add_to_slot_0);
    outln!(
        "arr[0] = {} (expected 400)",
        arr.get(0).expect("get failed")
    );
}
