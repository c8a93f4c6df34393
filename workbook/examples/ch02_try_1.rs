//! Chapter 2, Try it 1: a panic in the child.
//!
//! `run_proc` panics; `join` returns exit code 1, and the child prints the
//! `Process Process-1:` header and the panic message on stderr, as CPython
//! prints a traceback under the same header.
//!
//! Run it: `cargo run --example ch02_try_1`

use forklore::{outln, Process};

fn run_proc(name: &str) {
    panic!("run_proc({name}) gave up");
}

pub fn main() {
    let mut p = Process::new(|| run_proc("test"));
    p.start().expect("start failed");
    let status = p.join().expect("join failed");
    outln!("join returned {status}");
}
