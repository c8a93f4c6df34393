//! Chapter 16, Try it 1: the parent waits 20 ms before its line.
//!
//! 20 ms is far longer than `ls` needs to start and list a small folder, so
//! the listing now comes first (a race still: on a very busy machine `ls`
//! can take longer).
//!
//! Run it: `cargo run --example ch16_try_1`

use forklore::outln;
use forklore::subprocess::Popen;

pub fn main() {
    let mut child = Popen::new(["ls"]).expect("could not launch ls");
    std::thread::sleep(std::time::Duration::from_millis(20));
    outln!("parent process");
    child.wait().expect("wait failed");
}
