//! Chapter 4, Try it 1: keep the results, and make task 2 panic.
//!
//! After `join`, four results are `Ok(())` and task 2's `get()` is
//! `Error::TaskPanicked`, with the panic message. The worker caught the
//! panic and went on.
//!
//! Run it: `cargo run --example ch04_try_1`

use forklore::{outln, Pool};

fn task(name: u32) {
    if name == 2 {
        panic!("task {name} gave up");
    }
}

pub fn main() {
    let p = Pool::new(4).expect("could not start the pool");
    let results: Vec<_> = (0..5)
        .map(|i| p.apply_async(task, i).expect("the pool is running"))
        .collect();
    p.close();
    p.join().expect("join failed");
    for (i, r) in results.iter().enumerate() {
        match r.get() {
            Ok(()) => outln!("task {i}: Ok(())"),
            Err(e) => outln!("task {i}: {e}"),
        }
    }
}
