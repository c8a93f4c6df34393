//! Chapter 18, Try it 3: `run` with a timeout kills the child.
//!
//! `sleep 5` with a 100 ms timeout: `run` kills and reaps the child, then
//! returns `Error::TimeoutExpired`, long before the 5 s are up.
//!
//! Run it: `cargo run --example ch18_try_3`

use std::time::{Duration, Instant};

use forklore::outln;
use forklore::subprocess::PopenBuilder;

pub fn main() {
    let start = Instant::now();
    let e = PopenBuilder::new(["sleep", "5"])
        .timeout(Duration::from_millis(100))
        .run()
        .expect_err("sleep 5 outlasts 100 ms");
    outln!("{e} (is_timeout: {})", e.is_timeout());
    outln!(
        "run returned before the sleep ended: {}",
        start.elapsed() < Duration::from_secs(5)
    );
}
