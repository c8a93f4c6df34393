//! Chapter 11 — wait and notify between a producer and consumers.
//!
//! Reproduces this Python program (`workbook/python/ch11_manager_condition.py`):
//!
//! ```python
//! def consumer(cond, items, c):
//!     with cond:
//!         cond.wait_for(lambda: len(items) > 0)
//!         item = items.pop(0)
//!         print(f'consumer {c} got item {item}', flush=True)
//!
//! with Manager() as manager:
//!     cond = manager.Condition()
//!     items = manager.list()
//!     # start four consumers, then sleep 0.1 s
//!     for item in range(4):
//!         with cond:
//!             print(f'producer: item {item} ready, notify one', flush=True)
//!             items.append(item)
//!             cond.notify()
//!     # join the consumers
//!     print('items left:', list(items))
//! ```
//!
//! A condition is a lock plus a list of waiters, both in the manager's
//! server. Each consumer takes the lock and waits: `wait` releases the lock
//! and blocks until a `notify`, then takes the lock back. The parent, as
//! producer, appends one item at a time and wakes one consumer for it.
//! Watch for: every `consumer ... got item k` line comes after the
//! `producer: item k ready` line, each item is taken exactly once, and no
//! item is left. Which consumer gets which item varies from run to run.
//!
//! Run it: `cargo run --release --bin ch11_manager_condition`

use std::time::Duration;

use forklore::managers::{ConditionProxy, ListProxy, Manager};
use forklore::{outln, Process};

const N: u32 = 4;

fn consumer(cond: &ConditionProxy, items: &ListProxy<u32>, c: u32) {
    let _held = cond.guard().expect("acquire failed");
    // Wait (releasing the lock) until notified *and* there is an item: the
    // predicate is checked again, with the lock held, after each wake-up.
    cond.wait_for(|| Ok(items.len()? > 0)).expect("wait failed");
    let item = items.pop_at(0).expect("pop failed");
    outln!("consumer {c} got item {item}");
    // `_held` is dropped here: the lock is released, as at the end of `with`.
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let cond = manager.condition().expect("could not create the condition");
    let items: ListProxy<u32> = manager.list().expect("could not create the list");

    let mut consumers: Vec<Process> = (0..N)
        .map(|c| {
            let (cond, items) = (cond.clone(), items.clone());
            Process::new(move || consumer(&cond, &items, c))
        })
        .collect();
    for p in &mut consumers {
        p.start().expect("start failed");
    }
    std::thread::sleep(Duration::from_millis(100));
    for item in 0..N {
        let _held = cond.guard().expect("acquire failed");
        outln!("producer: item {item} ready, notify one");
        items.append(item).expect("append failed");
        cond.notify().expect("notify failed");
    }
    for p in &mut consumers {
        p.join().expect("join failed");
    }
    outln!(
        "items left: {:?}",
        items.to_vec().expect("reading the list failed")
    );
}
