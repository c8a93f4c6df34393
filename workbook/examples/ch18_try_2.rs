//! Chapter 18, Try it 2: `check=True` on a command killed by a signal.
//!
//! The shell kills itself with SIGKILL; the error says so as Python's
//! `CalledProcessError` does, and the return code is -9.
//!
//! Run it: `cargo run --example ch18_try_2`

use forklore::subprocess::PopenBuilder;
use forklore::{outln, Error};

pub fn main() {
    let e = PopenBuilder::shell("kill -KILL $$")
        .check()
        .run()
        .expect_err("the shell was killed");
    outln!("{e}");
    if let Error::CommandFailed { returncode, .. } = e {
        outln!("returncode {returncode}");
    }
}
