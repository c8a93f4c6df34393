//! Chapter 11, Try it 1: `notify_all` instead of `notify`.
//!
//! Every waiter wakes for each item; all but one find the list empty (or
//! take a later item) and wait again, because `wait_for` checks its
//! predicate after each wake-up. The output has the same shape: each item
//! taken once.
//!
//! Run it: `cargo run --example ch11_try_1`

use std::time::Duration;

use forklore::managers::{ConditionProxy, ListProxy, Manager};
use forklore::{outln, Process};

const N: u32 = 4;

fn consumer(cond: &ConditionProxy, items: &ListProxy<u32>, c: u32) {
    let _held = cond.guard().expect("acquire failed");
    cond.wait_for(|| Ok(items.len()? > 0)).expect("wait failed");
    let item = items.pop_at(0).expect("pop failed");
    outln!("consumer {c} got item {item}");
}

fn start_consumers(cond: &ConditionProxy, items: &ListProxy<u32>) -> Vec<Process> {
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
    consumers
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let cond = manager.condition().expect("could not create the condition");
    let items: ListProxy<u32> = manager.list().expect("could not create the list");
    let mut consumers = start_consumers(&cond, &items);
    for item in 0..N {
        let _held = cond.guard().expect("acquire failed");
        outln!("producer: item {item} ready, notify all");
        items.append(item).expect("append failed");
        cond.notify_all().expect("notify_all failed");
    }
    for p in &mut consumers {
        p.join().expect("join failed");
    }
    outln!(
        "items left: {:?}",
        items.to_vec().expect("reading the list failed")
    );
}
