//! Chapter 16, Try it 3: a program that does not exist.
//!
//! `Popen::new` fails in the parent with `Error::Launch`, naming the
//! program; through the shell, the shell starts fine, prints its own
//! complaint on stderr, and exits with 127.
//!
//! Run it: `cargo run --example ch16_try_3`

use forklore::subprocess::Popen;
use forklore::{outln, Error};

pub fn main() {
    match Popen::new(["no-such-program"]) {
        Ok(_) => outln!("Popen::new started it"),
        Err(e) => outln!(
            "Popen::new: {e} (Launch: {})",
            matches!(e, Error::Launch { .. })
        ),
    }
    let mut p = Popen::shell("no-such-program").expect("the shell starts");
    let status = p.wait().expect("wait failed");
    outln!("Popen::shell: the shell exited with {status}");
}
