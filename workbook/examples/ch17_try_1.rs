//! Chapter 17, Try it 1: a timeout longer than the child needs.
//!
//! Chapter 17's child with a 40 s timeout: the `sleep` finishes,
//! `communicate` returns normally, and the return code is 0. Arguments
//! shorten the wait: `SLEEP TIMEOUT` in seconds (30 and 40 by default).
//!
//! Run it: `cargo run --example ch17_try_1 -- 1 5`

use std::time::Duration;

use forklore::outln;
use forklore::subprocess::{PopenBuilder, Redirect};

pub fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("seconds"))
        .collect();
    let (sleep, timeout) = (
        args.first().copied().unwrap_or(30),
        args.get(1).copied().unwrap_or(40),
    );
    let mut p = PopenBuilder::shell(format!("echo started; exec sleep {sleep}"))
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch sh");
    let (out, _) = p
        .communicate_timeout(None, Duration::from_secs(timeout))
        .expect("communicate failed");
    outln!(
        "communicate returned: {}",
        String::from_utf8_lossy(&out.unwrap_or_default()).trim()
    );
    outln!("returncode {}", p.returncode().expect("communicate waits"));
}
