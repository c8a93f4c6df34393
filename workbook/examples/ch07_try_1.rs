//! Chapter 7, Try it 1: the server's object count, before and after the
//! last proxy of the list is dropped.
//!
//! Run it: `cargo run --example ch07_try_1`

use forklore::managers::{ListProxy, Manager};
use forklore::{outln, Process};

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let li: ListProxy<i32> = manager.list().expect("could not create the list");
    let mut process_list: Vec<Process> = (0..10)
        .map(|i| {
            let li = li.clone();
            Process::new(move || li.append(i).expect("append failed"))
        })
        .collect();
    for p in &mut process_list {
        p.start().expect("start failed");
    }
    for p in &mut process_list {
        p.join().expect("join failed");
    }
    outln!(
        "objects with li: {}",
        manager.object_count().expect("object_count failed")
    );
    drop(li);
    outln!(
        "objects without li: {}",
        manager.object_count().expect("object_count failed")
    );
}
