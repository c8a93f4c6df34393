//! Chapter 6 — processes do not share memory.
//!
//! Reproduces the article's first communication example:
//!
//! ```python
//! li = []
//!
//! def foo(i):
//!     li.append(i)
//!     print('say hi', li)
//!
//! process_list = [Process(target=foo, args=(i,)) for i in range(10)]
//! for p in process_list:
//!     p.start()
//! for p in process_list:
//!     p.join()
//! print('ending', li)
//! ```
//!
//! Even a global list is not shared: each child appends to its own copy,
//! made when it was forked. Watch for: every `say hi` line holds exactly one
//! number, the child's own, and the parent's list is still empty at the end.
//! The `say hi` lines come in whatever order the children run.
//!
//! Run it: `cargo run --release --bin ch06_isolation`

use std::sync::Mutex;

use forklore::{outln, Process};

/// The module-level `li = []` of the Python program.
static LI: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn foo(i: i32) {
    let mut li = LI.lock().unwrap();
    li.push(i);
    // One line, one write: ten children share this stdout and no line tears.
    outln!("say hi {:?}", *li);
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
