//! Chapter 11, Try it 3: `notify` without holding the lock.
//!
//! The server refuses it with `Error::NotOwner`, as CPython raises
//! `RuntimeError: cannot notify on un-acquired lock`.
//!
//! Run it: `cargo run --example ch11_try_3`

use forklore::managers::Manager;
use forklore::{outln, Error};

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let cond = manager.condition().expect("could not create the condition");
    match cond.notify() {
        Ok(()) => outln!("notify worked without the lock"),
        Err(e) => outln!(
            "notify: {e} (NotOwner: {})",
            matches!(e, Error::NotOwner { .. })
        ),
    }
}
