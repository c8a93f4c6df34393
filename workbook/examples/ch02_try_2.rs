//! Chapter 2, Try it 2: `terminate()` a child that sleeps, and `join` says
//! `-15`, Python's way of writing "killed by SIGTERM".
//!
//! Run it: `cargo run --example ch02_try_2`

use std::time::Duration;

use forklore::{outln, Process};

pub fn main() {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(10)));
    p.start().expect("start failed");
    p.terminate().expect("terminate failed");
    let status = p.join().expect("join failed");
    outln!("join returned {status}");
}
