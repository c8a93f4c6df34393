//! Chapter 6, Try it 1: print outside the lock, two lines per child.
//!
//! The lines of different children interleave, but each line stays whole:
//! each is one `write(2)`.
//!
//! Run it: `cargo run --example ch06_try_1 | cat`

use std::sync::Mutex;

use forklore::{outln, Process};

static LI: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn foo(i: i32) {
    let li = {
        let mut li = LI.lock().unwrap();
        li.push(i);
        li.clone()
    };
    outln!("say hi {li:?}");
    outln!("child {i} again");
}

pub fn main() {
    let mut process_list: Vec<Process> = (0..10).map(|i| Process::new(move || foo(i))).collect();
    for p in &mut process_list {
        p.start().expect("start failed");
    }
    for p in &mut process_list {
        p.join().expect("join failed");
    }
    outln!("ending {:?}", *LI.lock().unwrap());
}
