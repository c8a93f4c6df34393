//! Chapter 1, Try it 2: print without a newline, then fork with
//! `nix::unistd::fork`, which does not flush stdout first.
//!
//! Three changes to chapter 1's program: the `print!` before the fork, the
//! call (`nix::unistd::fork` instead of `forklore::fork`), and the `match`
//! arms, which now name nix's `ForkResult::Child` and
//! `ForkResult::Parent { child }`. The unflushed `before fork ` sits in
//! std's stdout buffer, is copied into the child, and both processes flush
//! it: it is printed twice, usually at the start of each side's line (the
//! flush and the line are two writes, so both copies may come first).
//!
//! Run it: `cargo run --example ch01_try_2`

use forklore::outln;
use forklore::process::{exit_child, wait_pid};
use nix::unistd::{fork, getpid, getppid, ForkResult};

pub fn main() {
    print!("before fork ");
    // SAFETY: this program is single-threaded when it forks, and the child
    // only prints a line and leaves with `exit_child` (`_exit`).
    match unsafe { fork() }.expect("fork failed") {
        ForkResult::Child => {
            outln!(
                "I am child process ({}) and my parent is {}.",
                getpid(),
                getppid()
            );
            exit_child(0);
        }
        ForkResult::Parent { child } => {
            outln!("I ({}) just created a child process ({}).", getpid(), child);
            wait_pid(forklore::Pid::from_raw(child.as_raw())).expect("waitpid failed");
        }
    }
}
