//! Chapter 18 — a pipeline without a shell, and `run(check=True)`.
//!
//! The shell's `ls | wc -l`, built from two `Popen`s joined by a pipe, then
//! a command that fails, run with `check`, as in this Python program:
//!
//! ```python
//! import os
//! from subprocess import Popen, PIPE, run, check_output, CalledProcessError
//!
//! p1 = Popen(["ls"], stdout=PIPE)
//! p2 = Popen(["wc", "-l"], stdin=p1.stdout, stdout=PIPE)
//! p1.stdout.close()  # now only wc holds the read end
//! out, _ = p2.communicate()
//! p1.wait()
//! print("ls | wc -l, two Popens joined by a pipe:", out.decode().strip())
//! print("ls exited with", p1.returncode, "and wc with", p2.returncode)
//!
//! out = check_output("ls | wc -l", shell=True)
//! print("ls | wc -l, run by /bin/sh:", out.decode().strip())
//!
//! try:
//!     run(["ls", "no-such-file"], check=True, capture_output=True,
//!         env={**os.environ, "LC_ALL": "C"})
//! except CalledProcessError as e:
//!     print(e)
//!     print("returncode", e.returncode)
//!     print("stderr:", e.stderr.decode().strip())
//! ```
//!
//! Watch for: both pipelines count the same files; the failing `ls` is an
//! error value carrying its exit status and what it wrote on stderr, and it
//! prints exactly as Python's `CalledProcessError` does.
//!
//! Run it: `cargo run --release --bin ch18_pipeline` (it counts the files in
//! the folder you run it in).

use forklore::subprocess::{PopenBuilder, Redirect};
use forklore::{outln, Error};

pub fn main() {
    // ls writes into a pipe; wc reads the other end. Taking the read end
    // out of p1 moves it into p2's PopenBuilder, which closes the parent's copy
    // once wc has started: as in Python's p1.stdout.close(), only wc holds
    // it, so ls would get SIGPIPE if wc ended early.
    let mut p1 = PopenBuilder::new(["ls"])
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch ls");
    let mut p2 = PopenBuilder::new(["wc", "-l"])
        .stdin(p1.take_stdout().expect("ls's stdout is a pipe"))
        .stdout(Redirect::Pipe)
        .spawn()
        .expect("could not launch wc");
    let (out, _) = p2.communicate(None).expect("communicate failed");
    let ls = p1.wait().expect("wait failed");
    outln!(
        "ls | wc -l, two Popens joined by a pipe: {}",
        String::from_utf8_lossy(&out.unwrap_or_default()).trim()
    );
    outln!(
        "ls exited with {ls} and wc with {}",
        p2.returncode().expect("communicate waits")
    );

    // The same pipeline, parsed and plumbed by the shell.
    let out = PopenBuilder::shell("ls | wc -l")
        .check_output()
        .expect("the shell pipeline failed");
    outln!(
        "ls | wc -l, run by /bin/sh: {}",
        String::from_utf8_lossy(&out).trim()
    );

    // check=True: a non-zero exit becomes an error value. LC_ALL=C, added
    // to the inherited environment, keeps ls's complaint in English.
    let e = PopenBuilder::new(["ls", "no-such-file"])
        .capture_output()
        .env("LC_ALL", "C")
        .check()
        .run()
        .expect_err("ls no-such-file should fail");
    outln!("{e}");
    if let Error::CommandFailed {
        returncode, stderr, ..
    } = e
    {
        outln!("returncode {returncode}");
        let stderr = String::from_utf8_lossy(stderr.as_deref().unwrap_or_default()).into_owned();
        outln!("stderr: {}", stderr.trim());
    }
}
