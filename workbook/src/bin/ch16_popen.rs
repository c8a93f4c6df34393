//! Chapter 16 — `subprocess.Popen`: start an external program and go on.
//!
//! Reproduces the article's third section:
//!
//! ```python
//! import subprocess
//! child = subprocess.Popen(["ls"])
//! print("parent process")
//! ```
//!
//! `Popen` starts `ls` and returns at once; the parent prints its line while
//! `ls` is still starting up, and then `ls` prints the folder listing on the
//! same terminal. Watch for: `parent process` usually comes first, above
//! the listing, as in CPython. That is a race, not a guarantee: run it a few
//! times and the listing may come first (the workbook page says why).
//!
//! Run it: `cargo run --release --bin ch16_popen` (it lists the folder you
//! run it in).

use forklore::outln;
use forklore::subprocess::Popen;

pub fn main() {
    // Starting ls takes a fork-and-exec and loading a program; printing one
    // line takes one write(2). Popen does not wait for ls to get anywhere.
    let mut child = Popen::new(["ls"]).expect("could not launch ls");
    outln!("parent process");
    // The Python program stops here and never waits for ls. Waiting keeps
    // the listing from landing after this program has exited, and reaps ls.
    child.wait().expect("wait failed");
}
