//! Chapter 15, Try it 2: one consumer instead of two, and one `None`: the
//! sum is the same.
//!
//! Run it: `cargo run --release -p forklore-workbook --example ch15_try_2`

use std::time::Instant;

use forklore::queues::Queue;
use forklore::{outln, Process};

const PRODUCERS: u64 = 2;
const ITEMS: u64 = 2_000;

fn start(f: impl FnOnce() + Send + 'static) -> Process {
    let mut p = Process::new(f);
    p.start().expect("start failed");
    p
}

fn main() {
    let expected: u64 = (0..PRODUCERS * ITEMS).sum();
    let q = Queue::<Option<u64>>::new().expect("could not create the queue");
    let results = Queue::<u64>::new().expect("could not create the queue");
    let t = Instant::now();
    let mut consumer = {
        let (q, results) = (q.clone(), results.clone());
        start(move || {
            let mut sum = 0;
            while let Some(x) = q.get().expect("get failed") {
                sum += x;
            }
            results.put(&sum).expect("put failed");
        })
    };
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            start(move || {
                for i in 0..ITEMS {
                    q.put(&Some(p * ITEMS + i)).expect("put failed");
                }
            })
        })
        .collect();
    for mut p in producers {
        p.join().expect("join failed");
    }
    q.put(&None).expect("put failed");
    let sum = results.get().expect("get failed");
    consumer.join().expect("join failed");
    let per = t.elapsed().as_secs_f64() * 1e6 / (PRODUCERS * ITEMS) as f64;
    outln!("one consumer: sum = {sum} (expected {expected}), {per:.1} µs per item");
}
