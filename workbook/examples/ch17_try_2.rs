//! Chapter 17, Try it 2: the shell command without `exec`.
//!
//! Where `/bin/sh` is dash, the shell forks `sleep` and waits for it;
//! `kill()` kills only the shell, and the orphaned `sleep` keeps the pipe
//! open: the last `communicate` waits until it ends. Where `/bin/sh` is
//! bash 5.1 or later, bash execs the last command itself, and nothing
//! waits. The program prints how long the last `communicate` took. The
//! argument is the sleep, in seconds (30 by default).
//!
//! Run it: `cargo run --example ch17_try_2 -- 3`

use std::time::{Duration, Instant};

use forklore::outln;
use forklore::subprocess::{PopenBuilder, Redirect};

pub fn main() {
    let sleep: u64 = std::env::args()
        .nth(1)
        .map_or(30, |a| a.parse().expect("seconds"));
    let mut p = PopenBuilder::shell(format!("echo started; sleep {sleep}"))
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch sh");
    match p.communicate_timeout(None, Duration::from_secs(1)) {
        Err(e) if e.is_timeout() => outln!("{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    p.kill().expect("kill failed");
    let start = Instant::now();
    let (out, _) = p.communicate(None).expect("communicate failed");
    outln!(
        "after kill(), communicate() returned {:?} after {:.1} s",
        String::from_utf8_lossy(&out.unwrap_or_default()).trim(),
        start.elapsed().as_secs_f64()
    );
}
