//! Chapter 9, Try it 1: one sentinel short, and a timeout instead of a hang.
//!
//! Only two sentinels for three consumers: with `get()`, the third
//! consumer would wait for ever (and the parent's `join` with it). With
//! `get_timeout(1 s)`, it gets `Error::QueueEmpty` and stops.
//!
//! Run it: `cargo run --example ch09_try_1`

use std::time::Duration;

use forklore::managers::{ListProxy, Manager, QueueProxy};
use forklore::{outln, Process};

const N_ITEMS: u32 = 10;
const N_CONSUMERS: usize = 3;

type Items = QueueProxy<Option<u32>>;

fn producer(q: &Items) {
    for item in 0..N_ITEMS {
        q.put(Some(item)).expect("put failed");
    }
    for _ in 0..N_CONSUMERS - 1 {
        q.put(None).expect("put failed"); // one sentinel short
    }
}

fn consumer(q: &Items, done: &ListProxy<u32>, c: usize) {
    loop {
        match q.get_timeout(Duration::from_secs(1)) {
            Ok(Some(item)) => {
                done.append(item).expect("append failed");
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => return outln!("consumer {c} got the sentinel, stopping"),
            Err(e) if e.is_queue_empty() => {
                return outln!("consumer {c} waited 1 s for nothing ({e}), stopping")
            }
            Err(e) => panic!("get failed: {e}"),
        }
    }
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let q: Items = manager.queue().expect("could not create the queue");
    let done: ListProxy<u32> = manager.list().expect("could not create the list");
    let mut procs = vec![{
        let q = q.clone();
        Process::new(move || producer(&q))
    }];
    for c in 0..N_CONSUMERS {
        let (q, done) = (q.clone(), done.clone());
        procs.push(Process::new(move || consumer(&q, &done, c)));
    }
    for p in &mut procs {
        p.start().expect("start failed");
    }
    for p in &mut procs {
        p.join().expect("join failed");
    }
    let mut consumed = done.to_vec().expect("reading the list failed");
    consumed.sort();
    outln!("consumed {consumed:?}");
}
