//! Chapter 12, Try it 2: the lock held around the whole loop.
//!
//! The count is right, and the processes no longer overlap at all: each
//! holds the lock for all its 250 additions, one process after another.
//!
//! Run it: `cargo run --example ch12_try_2`

use forklore::managers::LockProxy;

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

fn add_holding_the_lock(counter: &ValueProxy<i32>, lock: &LockProxy) {
    let _held = lock.guard().expect("acquire failed");
    let before = counter.get().expect("get failed");
    for _ in 0..N_INCS {
        let v = counter.get().expect("get failed");
        counter.set(v + 1).expect("set failed");
    }
    // Nobody else ran in between: this process added its 250 in one run.
    let after = counter.get().expect("get failed");
    outln!(
        "one process went from {} to {}: +{}",
        before,
        after,
        after - before
    );
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let counter = manager.value(0i32).expect("could not create the value");
    let lock = manager.lock().expect("could not create the lock");
    let (c, l) = (counter.clone(), lock.clone());
    run(N_PROCS, move || add_holding_the_lock(&c, &l));
    let x = counter.get().expect("get failed");
    outln!("with the lock around the loop: counter = {x} (expected 1000)");
}
