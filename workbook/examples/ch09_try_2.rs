//! Chapter 9, Try it 2: a bounded queue.
//!
//! With `queue_with_maxsize(2)`, the producer waits in `put` whenever two
//! items are queued; it prints the queue's size after each `put`, which
//! never exceeds 2.
//!
//! Run it: `cargo run --example ch09_try_2`

use std::time::Duration;

use forklore::managers::{ListProxy, Manager, QueueProxy};
use forklore::{outln, Process};

const N_ITEMS: u32 = 10;
const N_CONSUMERS: usize = 3;

type Items = QueueProxy<Option<u32>>;

fn producer(q: &Items) {
    for item in 0..N_ITEMS {
        q.put(Some(item)).expect("put failed");
        outln!(
            "producer put {item}, qsize {}",
            q.qsize().expect("qsize failed")
        );
    }
    for _ in 0..N_CONSUMERS {
        q.put(None).expect("put failed");
    }
}

fn consumer(q: &Items, done: &ListProxy<u32>) {
    while let Some(item) = q.get().expect("get failed") {
        done.append(item).expect("append failed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let q: Items = manager
        .queue_with_maxsize(2)
        .expect("could not create the queue");
    let done: ListProxy<u32> = manager.list().expect("could not create the list");
    let mut procs = vec![{
        let q = q.clone();
        Process::new(move || producer(&q))
    }];
    for _ in 0..N_CONSUMERS {
        let (q, done) = (q.clone(), done.clone());
        procs.push(Process::new(move || consumer(&q, &done)));
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
