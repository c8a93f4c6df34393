//! Chapter 8 — workers fill a shared dict.
//!
//! Reproduces this Python program (`workbook/python/ch08_manager_dict.py`):
//!
//! ```python
//! def square(d, i):
//!     d[i] = i * i
//!     print(f'worker {i} set d[{i}] = {i * i}')
//!
//! with Manager() as manager:
//!     d = manager.dict()
//!     workers = [Process(target=square, args=(d, i)) for i in range(8)]
//!     for p in workers:
//!         p.start()
//!     for p in workers:
//!         p.join()
//!     print('len(d) =', len(d))
//!     print('d =', dict(sorted(d.items())))
//! ```
//!
//! Eight children each store one key in a dict that lives in the manager's
//! server process. Watch for: the `worker` lines come in any order, but the
//! parent's dict holds all eight keys, each with its square. The dict keeps
//! the keys in the order the children reached the server, which varies, so
//! the parent sorts the items before printing them, as the Python program
//! does.
//!
//! Run it: `cargo run --release --bin ch08_manager_dict`

use forklore::managers::{DictProxy, Manager};
use forklore::{outln, Process};

fn square(d: &DictProxy<i32, i32>, i: i32) {
    d.set(i, i * i).expect("setting a key failed");
    outln!("worker {i} set d[{i}] = {}", i * i);
}

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let d: DictProxy<i32, i32> = manager.dict().expect("could not create the dict");

    let mut workers: Vec<Process> = (0..8)
        .map(|i| {
            let d = d.clone();
            Process::new(move || square(&d, i))
        })
        .collect();
    for p in &mut workers {
        p.start().expect("start failed");
    }
    for p in &mut workers {
        p.join().expect("join failed");
    }
    outln!("len(d) = {}", d.len().expect("len failed"));
    // `items()` is one request that returns a plain Vec of the pairs, in the
    // order the keys arrived; sort it, then print it as Python prints a dict.
    let mut items = d.items().expect("reading the items failed");
    items.sort();
    let shown: Vec<String> = items.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    outln!("d = {{{}}}", shown.join(", "));
}
