//! Chapter 1 — the raw `fork()` system call.
//!
//! Reproduces the first of the article's four ways to create a process,
//! Python's `os.fork()`:
//!
//! ```python
//! pid = os.fork()
//! if pid == 0:
//!     print('I am child process (%s) and my parent is %s.' % (os.getpid(), os.getppid()))
//! else:
//!     print('I (%s) just created a child process (%s).' % (os.getpid(), pid))
//! ```
//!
//! `fork` returns twice: once in the parent, with the child's pid, and once in
//! the child. Watch for: the pid the parent prints is the child's own pid, and
//! the child's parent is the process that printed the first pid. The two lines
//! may come in either order.
//!
//! Run it: `cargo run --release --bin ch01_fork`

use forklore::process::{exit_child, wait_pid};
use forklore::{fork, outln, Fork};
use nix::unistd::{getpid, getppid};

pub fn main() {
    // SAFETY: this program is single-threaded when it forks, and the child
    // only prints a line and leaves with `exit_child` (`_exit`).
    match unsafe { fork() }.expect("fork failed") {
        Fork::Child => {
            outln!(
                "I am child process ({}) and my parent is {}.",
                getpid(),
                getppid()
            );
            exit_child(0);
        }
        Fork::Parent { child } => {
            outln!("I ({}) just created a child process ({}).", getpid(), child);
            // Reap the child, or it stays a zombie until we exit.
            wait_pid(child).expect("waitpid failed");
        }
    }
}
