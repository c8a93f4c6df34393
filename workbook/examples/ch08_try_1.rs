//! Chapter 8, Try it 1: the server renders the dict as Python would, with
//! its keys in insertion order: the order the workers reached the server.
//!
//! Run it a few times: `cargo run --example ch08_try_1`

use forklore::managers::{DictProxy, Manager};
use forklore::{outln, Process};

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let d: DictProxy<i32, i32> = manager.dict().expect("could not create the dict");
    let mut workers: Vec<Process> = (0..8)
        .map(|i| {
            let d = d.clone();
            Process::new(move || d.set(i, i * i).expect("set failed"))
        })
        .collect();
    for p in &mut workers {
        p.start().expect("start failed");
    }
    for p in &mut workers {
        p.join().expect("join failed");
    }
    outln!("{}", d.repr().expect("repr failed"));
}
