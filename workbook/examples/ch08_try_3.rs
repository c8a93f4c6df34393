//! Chapter 8, Try it 3: `setdefault(i % 3, i)` in eight workers.
//!
//! Three keys, and each holds the value of the first worker that reached
//! it: `setdefault` is one request, so it checks and sets in one step.
//!
//! Run it: `cargo run --example ch08_try_3`

use forklore::managers::{DictProxy, Manager};
use forklore::{outln, Process};

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let d: DictProxy<i32, i32> = manager.dict().expect("could not create the dict");
    let mut workers: Vec<Process> = (0..8)
        .map(|i| {
            let d = d.clone();
            Process::new(move || {
                d.setdefault(i % 3, i).expect("setdefault failed");
            })
        })
        .collect();
    for p in &mut workers {
        p.start().expect("start failed");
    }
    for p in &mut workers {
        p.join().expect("join failed");
    }
    let mut items = d.items().expect("items failed");
    items.sort();
    for (k, v) in items {
        outln!("d[{k}] = {v}");
    }
}
