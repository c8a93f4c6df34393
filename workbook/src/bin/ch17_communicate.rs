//! Chapter 17 — `communicate`: pipes both ways, and a timeout that does not
//! kill.
//!
//! Goes one step past the article's `Popen(["ls"])`: the parent talks to
//! the child through pipes, as in this Python program:
//!
//! ```python
//! from subprocess import Popen, PIPE, TimeoutExpired
//!
//! p = Popen(["tr", "a-z", "A-Z"], stdin=PIPE, stdout=PIPE)
//! out, err = p.communicate(b"hello from the parent\n")
//! print("tr answered:", out.decode(), end="")
//! print("tr exited with", p.returncode)
//!
//! p = Popen("echo started; exec sleep 30", shell=True, stdout=PIPE)
//! try:
//!     p.communicate(timeout=1)
//! except TimeoutExpired as e:
//!     print(e)
//! print("after the timeout, poll() =", p.poll())
//! p.kill()
//! out, err = p.communicate()
//! print("after kill(), communicate() returned:", out.decode().strip())
//! print("returncode", p.returncode)
//! ```
//!
//! Watch for: the timeout does not kill the child (`poll()` is still
//! `None`), and the `started` line, written before the timeout, is not lost:
//! the second `communicate` returns it.
//!
//! Run it: `cargo run --release --bin ch17_communicate` (about one second).

use std::time::Duration;

use forklore::outln;
use forklore::subprocess::{PopenBuilder, Redirect};

pub fn main() {
    // Both ways: the input goes down one pipe, the answer comes up another.
    let mut p = PopenBuilder::new(["tr", "a-z", "A-Z"])
        .stdin(Redirect::Pipe)
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch tr");
    let (out, _err) = p
        .communicate(Some(b"hello from the parent\n"))
        .expect("communicate failed");
    print_lines("tr answered: ", &out.unwrap_or_default());
    outln!(
        "tr exited with {}",
        p.returncode().expect("communicate waits")
    );

    // A child that will not finish in time. `exec` makes sleep take the
    // shell's place, so killing this pid kills the sleep, and nothing else
    // keeps the pipe open.
    let mut p = PopenBuilder::shell("echo started; exec sleep 30")
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch sh");
    match p.communicate_timeout(None, Duration::from_secs(1)) {
        Err(e) if e.is_timeout() => outln!("{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let still = p.poll().expect("poll failed");
    outln!("after the timeout, poll() = {still:?}");
    p.kill().expect("kill failed");
    let (out, _err) = p.communicate(None).expect("communicate failed");
    print_lines(
        "after kill(), communicate() returned: ",
        &out.unwrap_or_default(),
    );
    outln!("returncode {}", p.returncode().expect("communicate waits"));
}

fn print_lines(prefix: &str, bytes: &[u8]) {
    for line in String::from_utf8_lossy(bytes).lines() {
        outln!("{prefix}{line}");
    }
}
