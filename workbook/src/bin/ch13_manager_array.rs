//! Chapter 13 — workers fill their own slots of a shared Array.
//!
//! Reproduces this Python program (`workbook/python/ch13_manager_array.py`):
//!
//! ```python
//! def fill(arr, w):
//!     lo, hi = w * 3, (w + 1) * 3
//!     for i in range(lo, hi):
//!         arr[i] = i * i
//!     print(f'worker {w} filled arr[{lo}:{hi}]')
//!
//! with Manager() as manager:
//!     arr = manager.Array('i', [0] * 12)
//!     workers = [Process(target=fill, args=(arr, w)) for w in range(4)]
//!     for p in workers:
//!         p.start()
//!     for p in workers:
//!         p.join()
//!     print('arr =', list(arr))
//! ```
//!
//! The array lives in the manager's server and has a fixed length. It has
//! no lock, like Python's, and here it needs none: worker `w` writes only
//! slots `3w` to `3w + 2`, so no two processes ever write the same slot.
//! Watch for: the `worker` lines come in any order, yet the final array is
//! the same in every run, the squares of 0 to 11.
//!
//! Run it: `cargo run --release --bin ch13_manager_array`

use forklore::managers::{ArrayProxy, Manager};
use forklore::{outln, Process};

const N_WORKERS: i64 = 4;
const SLOTS: i64 = 3; // slots per worker

fn fill(arr: &ArrayProxy<i64>, w: i64) {
    let (lo, hi) = (w * SLOTS, (w + 1) * SLOTS);
    for i in lo..hi {
        arr.set(i, i * i).expect("set failed");
    }
    outln!("worker {w} filled arr[{lo}:{hi}]");
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let arr = manager
        .array(vec![0i64; (N_WORKERS * SLOTS) as usize])
        .expect("could not create the array");

    let mut workers: Vec<Process> = (0..N_WORKERS)
        .map(|w| {
            let arr = arr.clone();
            Process::new(move || fill(&arr, w))
        })
        .collect();
    for p in &mut workers {
        p.start().expect("start failed");
    }
    for p in &mut workers {
        p.join().expect("join failed");
    }
    outln!(
        "arr = {:?}",
        arr.to_vec().expect("reading the array failed")
    );
}
