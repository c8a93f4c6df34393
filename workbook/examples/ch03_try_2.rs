//! Chapter 3, Try it 2: `main` without `forklore::init()`. The `forkserver`
//! and `spawn` starts are refused with `Error::SpawnNotInitialized`, and no
//! process is started (a re-executed program would otherwise run all of
//! `main` again).
//!
//! Run it: `cargo run -p forklore-workbook --example ch03_try_2`

use forklore::start::{get_context, StartMethod};
use forklore::{outln, Error};

fn hello(i: u32) {
    outln!("child {i}: hello");
}

fn main() {
    // forklore::init();   <- removed
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let mut p = get_context(method).process(hello, 0);
        match p.start() {
            Err(e @ Error::SpawnNotInitialized) => outln!("{method}: {e}"),
            other => panic!("{method}: expected SpawnNotInitialized, got {other:?}"),
        }
    }
}
