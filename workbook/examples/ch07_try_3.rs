//! Chapter 7, Try it 3: kill the manager's server in the middle.
//!
//! Child 0 kills the server with SIGKILL; the other children, started
//! after it, find it gone: their calls fail with `Error::ManagerGone`, at
//! once. Nothing hangs, and the parent's own call fails the same way.
//!
//! Run it: `cargo run --example ch07_try_3`

use forklore::managers::{ListProxy, Manager};
use forklore::{outln, Process};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub fn main() {
    let manager = Manager::start().expect("could not start the manager");
    let li: ListProxy<i32> = manager.list().expect("could not create the list");
    let server = manager
        .server_pid()
        .expect("a local manager has a server pid");
    let mut killer = Process::new(move || {
        kill(Pid::from_raw(server.as_raw()), Signal::SIGKILL).expect("kill failed");
    });
    killer.start().expect("start failed");
    killer.join().expect("join failed");
    let mut process_list: Vec<Process> = (1..4)
        .map(|i| {
            let li = li.clone();
            Process::new(move || match li.append(i) {
                Ok(()) => outln!("child {i}: append worked"),
                Err(e) => outln!("child {i}: {e} (is_manager_gone: {})", e.is_manager_gone()),
            })
        })
        .collect();
    for p in &mut process_list {
        p.start().expect("start failed");
    }
    for p in &mut process_list {
        p.join().expect("join failed");
    }
    match li.to_vec() {
        Ok(v) => outln!("parent: {v:?}"),
        Err(e) => outln!("parent: {e} (is_manager_gone: {})", e.is_manager_gone()),
    }
}
