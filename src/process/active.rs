//! `multiprocessing.active_children()`: the registry of this process's
//! started children.
//!
//! CPython keeps a set of the `Process` objects this process started;
//! `active_children()` polls each (reaping those that ended) and returns
//! the live ones. A Rust [`Process`](super::Process) is owned by the caller,
//! so forklore keeps a small registry beside it instead: each handle that
//! starts registers its child, and a status reaped here is kept for the
//! handle's own `join`, which then returns it as if it had reaped the child.

use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nix::errno::Errno;
use nix::unistd::{getpid, Pid};

use crate::error::Error;
use crate::exit_status::ExitStatus;

/// How to tell that a registered child has ended.
enum Watch {
    /// Our own child (fork, spawn): `waitpid(WNOHANG)` reaps it.
    Child,
    /// A child of the fork server: its connection, which becomes readable
    /// when the fork server reports the end (the handle reads the status).
    Served(OwnedFd),
}

struct Entry {
    pid: Pid,
    name: String,
    /// The process that started it: a forked child's copy of the registry
    /// lists none of its parent's children.
    owner: Pid,
    watch: Watch,
    /// The status, once reaped here, until the handle takes it.
    reaped: Option<ExitStatus>,
}

static CHILDREN: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A live child of this process, as [`active_children`] lists it (Python:
/// the `Process` objects of `multiprocessing.active_children()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveChild {
    /// Its pid (Python: `p.pid`).
    pub pid: crate::Pid,
    /// Its name (Python: `p.name`).
    pub name: String,
}

/// The children this process started with [`Process::start`](super::Process::start)
/// that are still running (Python: `multiprocessing.active_children()`).
///
/// As in CPython, asking reaps the children that have ended: no zombie is
/// left behind by a program that only calls `active_children()`. The
/// status reaped is kept for the child's [`Process`](super::Process) handle:
/// its `join`, `exitcode` and `is_alive` report it as usual.
///
/// Listed: the children started by `fork` and `spawn`, and those started
/// through the fork server. The latter are children of the fork server, not
/// of this process (the fork server reaps them), but this process started
/// them, as CPython lists them too: one is listed until the fork server
/// reports its end. Not listed: a [`Pool`](crate::Pool)'s or an executor's
/// workers, a [`Manager`](crate::Manager)'s server and [`Popen`](crate::Popen)
/// children, which are not `Process` handles of the caller; and, in a
/// forked child, its parent's children.
///
/// # Example
/// ```
/// use forklore::{process::active_children, Process};
///
/// let mut p = Process::new(|| std::thread::sleep(std::time::Duration::from_millis(100)));
/// p.start().unwrap();
/// let pid = p.pid().unwrap();
/// assert!(active_children().iter().any(|c| c.pid == pid));
/// p.join().unwrap();
/// assert!(!active_children().iter().any(|c| c.pid == pid));
/// ```
pub fn active_children() -> Vec<ActiveChild> {
    let me = getpid();
    let mut reg = registry();
    reg.retain(|e| e.owner == me);
    // Non-blocking checks only (`waitpid(WNOHANG)`, a zero-timeout poll):
    // the lock is never held across a wait.
    reg.retain_mut(|e| {
        if e.reaped.is_some() {
            return true;
        }
        match &e.watch {
            Watch::Child => match crate::sys::try_wait_pid(e.pid) {
                Ok(None) => true,
                Ok(Some(st)) => {
                    e.reaped = Some(st);
                    true
                }
                // Reaped by someone else (its handle, between its wait
                // and its `forget`): not ours to list any more.
                Err(_) => false,
            },
            Watch::Served(fd) => !crate::sys::poll_readable(fd, Duration::ZERO).unwrap_or(true),
        }
    });
    reg.iter()
        .filter(|e| e.reaped.is_none())
        .map(|e| ActiveChild {
            pid: crate::Pid::from_nix(e.pid),
            name: e.name.clone(),
        })
        .collect()
}

/// Register a child just started by this process.
pub(super) fn register(pid: Pid, name: &str, served: Option<OwnedFd>) {
    registry().push(Entry {
        pid,
        name: name.to_string(),
        owner: getpid(),
        watch: served.map_or(Watch::Child, Watch::Served),
        reaped: None,
    });
}

/// The child's handle has its status: drop the entry.
pub(super) fn forget(pid: Pid) {
    let me = getpid();
    registry().retain(|e| !(e.pid == pid && e.owner == me));
}

/// The status [`active_children`] reaped for `pid`, if it did.
pub(super) fn reaped(pid: Pid) -> Option<ExitStatus> {
    let me = getpid();
    registry()
        .iter()
        .find(|e| e.pid == pid && e.owner == me)
        .and_then(|e| e.reaped)
}

/// Whether `e` says that the child was already reaped (by
/// [`active_children`], racing with the handle's own wait).
pub(super) fn is_echild(e: &Error) -> bool {
    matches!(
        e,
        Error::Os { source, .. } if source.raw_os_error() == Some(Errno::ECHILD as i32)
    )
}
