//! Chapter 9, Try it 3: `task_done` and `join` on the queue.
//!
//! Each consumer marks every item it takes done, sentinels included; the
//! parent's `q.join()` returns once every item put has been marked done
//! (Python's `JoinableQueue`), before the processes are joined.
//!
//! Run it: `cargo run --example ch09_try_3`

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
    for _ in 0..N_CONSUMERS {
        q.put(None).expect("put failed");
    }
}

fn consumer(q: &Items, done: &ListProxy<u32>) {
    loop {
        let item = q.get().expect("get failed");
        if let Some(item) = item {
            done.append(item).expect("append failed");
            std::thread::sleep(Duration::from_millis(10));
        }
        q.task_done().expect("task_done failed");
        if item.is_none() {
            return;
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
    for _ in 0..N_CONSUMERS {
        let (q, done) = (q.clone(), done.clone());
        procs.push(Process::new(move || consumer(&q, &done)));
    }
    for p in &mut procs {
        p.start().expect("start failed");
    }
    // The producer may not have put anything yet: wait for it first, so
    // that join() waits for its items rather than returning on an empty queue.
    procs[0].join().expect("join failed");
    q.join().expect("q.join failed");
    outln!(
        "q.join() returned with {} items done",
        done.len().expect("len failed")
    );
    for p in &mut procs[1..] {
        p.join().expect("join failed");
    }
}
