//! The server's table of client processes: which are alive, for robust
//! locks (see [`RobustLockProxy`](crate::managers::RobustLockProxy)).
//!
//! A process is known by the random token it sends in
//! [`Request::Hello`](crate::managers::protocol::Request::Hello). On a Unix
//! socket the client runs on this host, and the server watches its pid
//! through a pidfd (`pidfd_open(2)`), which tells death apart from a
//! connection that merely closed and cannot be fooled by a reused pid.
//! Over TCP (or without pidfds) a process is alive while it has at least
//! one connection open to the server.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

struct Proc {
    /// Open connections that said they belong to this process.
    conns: usize,
    pidfd: Option<OwnedFd>,
}

impl Proc {
    fn alive(&self) -> bool {
        match &self.pidfd {
            // A pidfd becomes readable when the process has exited.
            Some(fd) => !matches!(
                crate::sys::poll_readable(&fd.as_fd(), std::time::Duration::ZERO),
                Ok(true)
            ),
            None => self.conns > 0,
        }
    }
}

/// Client processes, by token.
#[derive(Default)]
pub(crate) struct Procs {
    map: Mutex<HashMap<u64, Proc>>,
}

impl Procs {
    fn map(&self) -> MutexGuard<'_, HashMap<u64, Proc>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection of `process` opened; `pid` is watched when `local`.
    pub(crate) fn attach(&self, process: u64, pid: Option<u32>, local: bool) {
        let mut map = self.map();
        // Forget processes that have no connection and have died.
        map.retain(|_, p| p.conns > 0 || p.alive());
        let p = map.entry(process).or_insert(Proc {
            conns: 0,
            pidfd: None,
        });
        p.conns += 1;
        if p.pidfd.is_none() && local {
            let pid = pid
                .and_then(|pid| i32::try_from(pid).ok())
                .filter(|&p| p > 0);
            p.pidfd = pid.and_then(|pid| crate::sys::pidfd_open(nix::unistd::Pid::from_raw(pid)));
        }
    }

    /// A connection of `process` closed.
    pub(crate) fn detach(&self, process: u64) {
        let mut map = self.map();
        if let Some(p) = map.get_mut(&process) {
            p.conns = p.conns.saturating_sub(1);
            if p.conns == 0 && !p.alive() {
                map.remove(&process);
            }
        }
    }

    /// Whether `process` is alive, as far as the server can tell.
    pub(crate) fn alive(&self, process: u64) -> bool {
        self.map().get(&process).is_some_and(Proc::alive)
    }
}
