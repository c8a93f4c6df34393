//! Chapter 13, Try it 2: a slot past the end.
//!
//! `arr.set(12, 0)` on a 12-slot array is refused by the server with
//! `Error::IndexOutOfRange` (Python: `IndexError`), and the array is unchanged.
//!
//! Run it: `cargo run --example ch13_try_2`

use forklore::managers::Manager;
use forklore::{outln, Process};

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let arr = manager
        .array(vec![0i64; 12])
        .expect("could not create the array");
    let a = arr.clone();
    let mut p = Process::new(move || match a.set(12, 0) {
        Ok(()) => outln!("set(12, 0) worked"),
        Err(e) => outln!(
            "set(12, 0): {e} (is_index_out_of_range: {})",
            e.is_index_out_of_range()
        ),
    });
    p.start().expect("start failed");
    p.join().expect("join failed");
    outln!(
        "arr = {:?}",
        arr.to_vec().expect("reading the array failed")
    );
}
