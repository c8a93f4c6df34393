//! Chapter 4, Try it 2: with `Pool::new(5)`, all five tasks start at once,
//! each in a worker of its own.
//!
//! forklore's pool hands a task to an idle worker as soon as it is
//! submitted, so five tasks submitted to five idle workers run in five
//! different processes, at the same time: the five pids differ.
//!
//! Run it: `cargo run --example ch04_try_2`

use std::time::Duration;

use forklore::{outln, Pool};

fn long_time_task(_name: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(200));
    std::process::id()
}

pub fn main() {
    let p = Pool::new(5).expect("could not start the pool");
    let results: Vec<_> = (0..5u32)
        .map(|i| {
            p.apply_async(long_time_task, i)
                .expect("the pool is running")
        })
        .collect();
    p.close();
    p.join().expect("join failed");
    let mut pids: Vec<u32> = results
        .iter()
        .map(|r| r.get().expect("task failed"))
        .collect();
    pids.sort();
    pids.dedup();
    outln!("five tasks ran in {} different workers", pids.len());
}
