//! Chapter 15 — `multiprocessing.Queue`: producers and consumers
//! with no server, beside chapter 9's Manager queue.
//!
//! Reproduces `workbook/python/ch15_queue.py`. Two producers put 2 000 numbers each, two
//! consumers get until they see a `None` (one per consumer), and the
//! parent checks the sum; once through a `forklore::queues::Queue`, once
//! through a Manager's queue, with the cost per item. Then CPython's
//! documented trap, "joining processes that use queues": a producer puts
//! five 100 kB items and the parent joins it *before* getting them. In
//! CPython the producer cannot exit until its feeder thread has pushed the
//! items into the pipe, which holds 64 kB, so `join(timeout=2)` returns with
//! the producer still alive. Here `put` copies each item into shared memory
//! before it returns, so the producer exits at once. Watch for: equal sums;
//! the per-item costs; and `alive after join: false`.
//!
//! Run it: `cargo run --release --bin ch15_queue`

use std::time::{Duration, Instant};

use forklore::queues::Queue;
use forklore::{outln, Manager, Process};

const PRODUCERS: u64 = 2;
const CONSUMERS: usize = 2;
const ITEMS: u64 = 2_000;

fn start(f: impl FnOnce() + Send + 'static) -> Process {
    let mut p = Process::new(f);
    p.start().expect("start failed");
    p
}

pub fn main() {
    let expected: u64 = (0..PRODUCERS * ITEMS).sum();
    outln!("{PRODUCERS} producers put {ITEMS} numbers each; {CONSUMERS} consumers add them up");

    // multiprocessing.Queue: shared memory, no server, no feeder thread.
    let q = Queue::<Option<u64>>::new().expect("could not create the queue");
    let results = Queue::<u64>::new().expect("could not create the queue");
    let t = Instant::now();
    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|_| {
            let (q, results) = (q.clone(), results.clone());
            start(move || {
                let mut sum = 0;
                while let Some(x) = q.get().expect("get failed") {
                    sum += x;
                }
                results.put(&sum).expect("put failed");
            })
        })
        .collect();
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
    for _ in 0..CONSUMERS {
        q.put(&None).expect("put failed");
    }
    let sum: u64 = (0..CONSUMERS)
        .map(|_| results.get().expect("get failed"))
        .sum();
    for mut c in consumers {
        c.join().expect("join failed");
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / (PRODUCERS * ITEMS) as f64;
    outln!("Queue: sum = {sum} (expected {expected}), {per:.1} µs per item");

    // Chapter 9's Manager queue, the same work.
    let manager = Manager::start().expect("could not start the manager");
    let q = manager
        .queue::<Option<u64>>()
        .expect("could not create the queue");
    let results = manager.queue::<u64>().expect("could not create the queue");
    let t = Instant::now();
    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|_| {
            let (q, results) = (q.clone(), results.clone());
            start(move || {
                let mut sum = 0;
                while let Some(x) = q.get().expect("get failed") {
                    sum += x;
                }
                results.put(sum).expect("put failed");
            })
        })
        .collect();
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            start(move || {
                for i in 0..ITEMS {
                    q.put(Some(p * ITEMS + i)).expect("put failed");
                }
            })
        })
        .collect();
    for mut p in producers {
        p.join().expect("join failed");
    }
    for _ in 0..CONSUMERS {
        q.put(None).expect("put failed");
    }
    let sum: u64 = (0..CONSUMERS)
        .map(|_| results.get().expect("get failed"))
        .sum();
    for mut c in consumers {
        c.join().expect("join failed");
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / (PRODUCERS * ITEMS) as f64;
    outln!("Manager queue: sum = {sum} (expected {expected}), {per:.1} µs per item");

    // Joining a producer before getting what it put.
    let q = Queue::<Vec<u8>>::new().expect("could not create the queue");
    let mut producer = {
        let q = q.clone();
        start(move || {
            for i in 0..5u8 {
                q.put(&vec![i; 100_000]).expect("put failed");
            }
        })
    };
    let status = producer
        .join_timeout(Duration::from_secs(2))
        .expect("join failed");
    outln!("join before get: alive after join: {}", status.is_none());
    let got: usize = (0..5).map(|_| q.get().expect("get failed").len()).sum();
    outln!("then got {got} bytes");
    if status.is_none() {
        producer.join().expect("join failed");
    }
}
