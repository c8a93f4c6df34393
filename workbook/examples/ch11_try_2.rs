//! Chapter 11, Try it 2: all four items under one lock, one `notify_n(4)`.
//!
//! Run it: `cargo run --example ch11_try_2`

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
    {
        let _held = cond.guard().expect("acquire failed");
        items.extend(0..N).expect("extend failed");
        outln!("producer: items 0 to {} ready, notify 4", N - 1);
        cond.notify_n(4).expect("notify_n failed");
    }
    for p in &mut consumers {
        p.join().expect("join failed");
    }
    outln!(
        "items left: {:?}",
        items.to_vec().expect("reading the list failed")
    );
}
