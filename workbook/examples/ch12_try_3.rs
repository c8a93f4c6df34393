//! Chapter 12, Try it 3: the update as a `compare_and_swap` loop.
//!
//! Read the value, then ask the server to replace it with `v + 1` only if
//! it still is `v`; on `Err(actual)`, another process got there first:
//! retry from `actual`. Nothing is lost, and no lock is held. Each process
//! reports how many retries it needed (a different number every run).
//!
//! Run it: `cargo run --example ch12_try_3`

use forklore::managers::{Manager, ValueProxy};
use forklore::{outln, Process};

/// Run `target` in `n` processes at once and wait for them all.
fn run(n: usize, target: impl FnOnce() + Clone + Send + 'static) {
    let mut procs: Vec<Process> = (0..n).map(|_| Process::new(target.clone())).collect();
    for p in &mut procs {
        p.start().expect("start failed");
    }
    for p in &mut procs {
        p.join().expect("join failed");
    }
}

const N_PROCS: usize = 4;
const N_INCS: i32 = 250;

fn add_with_cas(counter: &ValueProxy<i32>) {
    let mut retries = 0;
    let mut v = counter.get().expect("get failed");
    for _ in 0..N_INCS {
        loop {
            match counter
                .compare_and_swap(&v, v + 1)
                .expect("compare_and_swap failed")
            {
                Ok(_) => {
                    v += 1;
                    break;
                }
                Err(actual) => {
                    retries += 1;
                    v = actual;
                }
            }
        }
    }
    outln!("a process needed {retries} retries");
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let counter = manager.value(0i32).expect("could not create the value");
    let c = counter.clone();
    run(N_PROCS, move || add_with_cas(&c));
    let x = counter.get().expect("get failed");
    outln!("with compare_and_swap: counter = {x} (expected 1000)");
}
