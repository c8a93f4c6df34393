//! Chapter 8, Try it 2: every worker sets the same key.
//!
//! One entry is left, and the value of the last worker to reach the server
//! wins.
//!
//! Run it: `cargo run --example ch08_try_2`

use forklore::managers::{DictProxy, Manager};
use forklore::{outln, Process};

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let d: DictProxy<i32, i32> = manager.dict().expect("could not create the dict");
    let mut workers: Vec<Process> = (0..8)
        .map(|i| {
            let d = d.clone();
            Process::new(move || d.set(0, i).expect("set failed"))
        })
        .collect();
    for p in &mut workers {
        p.start().expect("start failed");
    }
    for p in &mut workers {
        p.join().expect("join failed");
    }
    outln!("len(d) = {}", d.len().expect("len failed"));
    outln!("d = {}", d.repr().expect("repr failed"));
}
