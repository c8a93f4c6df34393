//! Chapter 7, Try it 2: print each child's length instead of its list.
//!
//! Two children can print the same length: another append can land between
//! a child's `append` and its `len`, so a pair of calls is not atomic even
//! though each call is.
//!
//! Run it a few times: `cargo run --example ch07_try_2`

use forklore::managers::{ListProxy, Manager};
use forklore::{outln, Process};

fn foo(li: &ListProxy<i32>, i: i32) {
    li.append(i).expect("append failed");
    outln!("say hi {}", li.len().expect("len failed"));
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let li: ListProxy<i32> = manager.list().expect("could not create the list");
    let mut process_list: Vec<Process> = (0..10)
        .map(|i| {
            let li = li.clone();
            Process::new(move || foo(&li, i))
        })
        .collect();
    for p in &mut process_list {
        p.start().expect("start failed");
    }
    for p in &mut process_list {
        p.join().expect("join failed");
    }
    outln!("ending {}", li.len().expect("len failed"));
}
