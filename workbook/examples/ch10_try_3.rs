//! Chapter 10, Try it 3: `is_set` before and after `set`.
//!
//! Run it: `cargo run --example ch10_try_3`

use forklore::managers::Manager;
use forklore::outln;

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let start = manager.event().expect("could not create the event");
    outln!(
        "before set(): is_set() = {}",
        start.is_set().expect("is_set failed")
    );
    start.set().expect("set failed");
    outln!(
        "after set(): is_set() = {}",
        start.is_set().expect("is_set failed")
    );
    start.clear().expect("clear failed");
    outln!(
        "after clear(): is_set() = {}",
        start.is_set().expect("is_set failed")
    );
}
