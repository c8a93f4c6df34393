//! Chapter 1, Try it 1: without `wait_pid`, a finished child stays a zombie.
//!
//! The parent does not reap its child. Instead of `ps` in another terminal,
//! it reads the child's state from `/proc/<pid>/stat` until the child has
//! exited: `Z`, a zombie. Then it reaps it, and the entry is gone.
//!
//! Run it: `cargo run --example ch01_try_1`

use std::time::{Duration, Instant};

use forklore::process::{exit_child, wait_pid};
use forklore::{fork, outln, Fork};

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, …), if the pid exists.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: skip past it.
    stat.rsplit_once(") ")?.1.chars().next()
}

pub fn main() {
    // SAFETY: single-threaded when it forks; the child only leaves.
    match unsafe { fork() }.expect("fork failed") {
        Fork::Child => exit_child(0),
        Fork::Parent { child } => {
            let pid = child.as_raw();
            let deadline = Instant::now() + Duration::from_secs(30);
            while state(pid) != Some('Z') && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            outln!("before wait_pid, the child's state: {:?}", state(pid));
            wait_pid(child).expect("waitpid failed");
            outln!("after wait_pid, the child's state: {:?}", state(pid));
        }
    }
}
