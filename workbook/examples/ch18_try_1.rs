//! Chapter 18, Try it 1: a third stage, `tr 0-9 a-j`, after `wc -l`.
//!
//! Run it: `cargo run --example ch18_try_1` (it lists the folder you run it
//! in; in a folder of two files it prints `c`).

use forklore::outln;
use forklore::subprocess::{PopenBuilder, Redirect};

pub fn main() {
    let mut p1 = PopenBuilder::new(["ls"])
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch ls");
    let mut p2 = PopenBuilder::new(["wc", "-l"])
        .stdin(p1.take_stdout().expect("ls's stdout is a pipe"))
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch wc");
    let mut p3 = PopenBuilder::new(["tr", "0-9", "a-j"])
        .stdin(p2.take_stdout().expect("wc's stdout is a pipe"))
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch tr");
    let (out, _) = p3.communicate(None).expect("communicate failed");
    p1.wait().expect("wait failed");
    p2.wait().expect("wait failed");
    outln!(
        "ls | wc -l | tr 0-9 a-j: {}",
        String::from_utf8_lossy(&out.unwrap_or_default()).trim()
    );
}
