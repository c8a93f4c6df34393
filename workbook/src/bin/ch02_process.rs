//! Chapter 2 — `multiprocessing.Process`: start a child, then join it.
//!
//! Reproduces the second of the article's four ways to create a process:
//!
//! ```python
//! def run_proc(name):
//!     print('Run child process %s (%s)...' % (name, os.getpid()))
//!
//! print('Parent process %s.' % os.getpid())
//! p = Process(target=run_proc, args=('test',))
//! print('Child process will start.')
//! p.start()
//! p.join()
//! print('Child process end.')
//! ```
//!
//! Watch for: the four lines always come in this order, because the parent
//! prints its last line only after `join` has waited for the child.
//!
//! Run it: `cargo run --release --bin ch02_process`

use forklore::{outln, Process};
use nix::unistd::getpid;

fn run_proc(name: &str) {
    outln!("Run child process {} ({})...", name, getpid());
}

pub fn main() {
    outln!("Parent process {}.", getpid());
    let mut p = Process::new(|| run_proc("test"));
    outln!("Child process will start.");
    p.start().expect("start failed");
    p.join().expect("join failed");
    outln!("Child process end.");
}
