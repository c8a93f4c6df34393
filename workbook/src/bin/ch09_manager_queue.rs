//! Chapter 9 — a producer, consumers, and a sentinel to stop them.
//!
//! Reproduces this Python program (`workbook/python/ch09_manager_queue.py`):
//!
//! ```python
//! def producer(q):
//!     for item in range(10):
//!         q.put(item)
//!     for _ in range(3):
//!         q.put(None)  # one sentinel per consumer
//!     print('producer put 10 items and 3 sentinels')
//!
//! def consumer(q, done, c):
//!     while True:
//!         item = q.get()
//!         if item is None:
//!             print(f'consumer {c} got the sentinel, stopping')
//!             break
//!         print(f'consumer {c} got {item}')
//!         done.append(item)
//!         time.sleep(0.01)  # work on the item
//!
//! with Manager() as manager:
//!     q = manager.Queue()
//!     done = manager.list()
//!     # start one producer and three consumers, join them all
//!     print('consumed', sorted(done))
//! ```
//!
//! The queue lives in the manager's server; `get` blocks *in the server*
//! until an item is there. The producer puts ten numbers, then one `None`
//! per consumer: a consumer stops when it takes a `None`, and since each
//! takes exactly one, all three stop. Watch for: which consumer gets which
//! item varies from run to run, but every item is consumed exactly once,
//! each consumer's last line is its sentinel line, and the sorted list of
//! consumed items is 0 to 9.
//!
//! Run it: `cargo run --release --bin ch09_manager_queue`

use std::time::Duration;

use forklore::managers::{ListProxy, Manager, QueueProxy};
use forklore::{outln, Process};

const N_ITEMS: u32 = 10;
const N_CONSUMERS: usize = 3;

/// Items are `Some(n)`; `None` is the sentinel, as Python's `None` is.
type Items = QueueProxy<Option<u32>>;

fn producer(q: &Items) {
    for item in 0..N_ITEMS {
        q.put(Some(item)).expect("put failed");
    }
    for _ in 0..N_CONSUMERS {
        q.put(None).expect("put failed"); // one sentinel per consumer
    }
    outln!("producer put {N_ITEMS} items and {N_CONSUMERS} sentinels");
}

fn consumer(q: &Items, done: &ListProxy<u32>, c: usize) {
    while let Some(item) = q.get().expect("get failed") {
        outln!("consumer {c} got {item}");
        done.append(item).expect("append failed");
        // Work on the item; without it the first consumer to start would
        // empty the queue before the others have connected.
        std::thread::sleep(Duration::from_millis(10));
    }
    outln!("consumer {c} got the sentinel, stopping");
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
