//! Chapter 6, Try it 2: replace `outln!` with two `print!` calls.
//!
//! `cargo run --example ch06_try_2 | cat` runs chapter 6's program with
//! `print!("say hi ")` then `println!("{:?}", li)`; add `-- --flush` to flush
//! stdout between the two. Each child counts the `write(2)` calls its two
//! prints made (the `syscw` counter of `/proc/self/io`) and reports the
//! count on stderr, after its line: one write without the flush (Rust's
//! stdout is line-buffered, so both pieces leave together at the newline),
//! two with it, and only then can another child's line land in between.

use std::io::Write;
use std::sync::Mutex;

use forklore::{errln, Process};

static LI: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// How many `write`-family system calls this process has made so far.
fn writes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a syscw line")
}

fn foo(i: i32, flush: bool) {
    let mut li = LI.lock().unwrap();
    li.push(i);
    let before = writes();
    print!("say hi ");
    if flush {
        std::io::stdout().flush().unwrap();
    }
    println!("{:?}", *li);
    let made = writes() - before;
    errln!("writes: {made}");
}

pub fn main() {
    let flush = std::env::args().any(|a| a == "--flush");
    let mut process_list: Vec<Process> = (0..10)
        .map(|i| Process::new(move || foo(i, flush)))
        .collect();
    for p in &mut process_list {
        p.start().expect("start failed");
    }
    for p in &mut process_list {
        p.join().expect("join failed");
    }
    println!("ending {:?}", *LI.lock().unwrap());
}
