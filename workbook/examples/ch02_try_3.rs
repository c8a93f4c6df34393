//! Chapter 2, Try it 3: `join_timeout` on a child that is still running
//! returns `None` (Python: `p.join(0.1)` returns, and `p.exitcode` is `None`).
//!
//! Run it: `cargo run --example ch02_try_3`

use std::time::Duration;

use forklore::{outln, Process};

pub fn main() {
    let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(10)));
    p.start().expect("start failed");
    let r = p
        .join_timeout(Duration::from_millis(100))
        .expect("join_timeout failed");
    outln!("join_timeout returned {r:?}");
    p.terminate().expect("terminate failed");
    p.join().expect("join failed");
}
