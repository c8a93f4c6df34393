//! Chapter 4, Try it 3: a worker killed while it runs a task.
//!
//! Instead of `kill -9` from another terminal, task 2 sends SIGKILL to its
//! own worker, which the pool cannot tell apart. `join` still returns, the
//! other tasks' results are there, and task 2's `get()` says which worker
//! died and how. (CPython's pool replaces the worker too, but its `join()`
//! then waits for ever for the lost task.)
//!
//! Run it: `cargo run --example ch04_try_3`

use forklore::{outln, Pool};

fn task(name: u32) -> u32 {
    if name == 2 {
        // `kill -9` of this worker, from inside.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    name * name
}

pub fn main() {
    let p = Pool::new(4).expect("could not start the pool");
    let results: Vec<_> = (0..5)
        .map(|i| p.apply_async(task, i).expect("the pool is running"))
        .collect();
    p.close();
    p.join().expect("join failed");
    for (i, r) in results.iter().enumerate() {
        match r.get() {
            Ok(v) => outln!("task {i}: Ok({v})"),
            Err(e) => outln!("task {i}: {e}"),
        }
    }
}
