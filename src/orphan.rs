//! Processes that forklore forks for its own use — a manager's server, a
//! pool's workers — must not outlive the process that owns them when it is
//! killed. The kernel's tool for that is `PR_SET_PDEATHSIG`: a signal sent
//! to a child when its parent dies.
//!
//! # The per-thread caveat
//! "Parent" there means the parent *thread*: the thread that called
//! `fork`. If that thread ends while the rest of the process goes on (a
//! manager started from a short-lived thread), the child gets the signal
//! although its owner lives; the kernel then hands the child to another
//! thread of the same process, and sends the signal again each time such a
//! thread ends. Two ways out, one per kind of child:
//! - the manager's server asks for a signal it catches (see
//!   `managers::server`), and on receiving it checks `getppid()`: while the
//!   owner process lives, the child's parent is still a thread of it, so
//!   the pid is the owner's and the signal is ignored; once the whole owner
//!   is gone, the child has been handed to init (or a subreaper) and the
//!   pid differs;
//! - a forked pool worker runs the caller's tasks and forklore installs no
//!   signal handler there, so it asks for `SIGKILL`. Pools are `Send + Sync`,
//!   but that is still right: a fork is refused in a process with more than
//!   one thread ([`crate::fork()`]), so the thread that forks a worker is the
//!   process's only thread, its main thread, whose end is the end of the
//!   process. (That is also why a pool that forks its workers has no
//!   background thread: it could not fork their replacements.)
//! - a pool whose workers are spawned (`spawn`, `forkserver`) is driven by
//!   its background thread, which also starts the replacements; those
//!   workers ask for no death signal at all, since the thread that starts
//!   them is not the owner's lifetime. They end when their socket to the
//!   owner reaches end-of-file, which happens when the owner process dies,
//!   after the task in hand (as CPython's workers do).
//!
//! There is a race: the owner may die between `fork` and the child's
//! `prctl`. So the child checks afterwards that its parent is still the
//! owner ([`Owner::arm`]), and if not, acts as if the signal had come.

use std::os::raw::c_int;

/// The owner of a forked helper, as seen before the fork.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pid: libc::pid_t,
}

impl Owner {
    /// The calling process and thread, which are about to fork.
    pub(crate) fn here() -> Owner {
        // SAFETY: getpid cannot fail and touches no memory.
        Owner {
            pid: unsafe { libc::getpid() },
        }
    }

    /// The parent of the calling process: the owner of a helper that was
    /// spawned (not forked) and asks this as its first act.
    pub(crate) fn parent() -> Owner {
        // SAFETY: getppid cannot fail and touches no memory.
        Owner {
            pid: unsafe { libc::getppid() },
        }
    }

    /// In the child: have `sig` sent when the parent (thread) dies. Returns
    /// `false` if the owner is already gone.
    pub(crate) fn arm(&self, sig: c_int) -> bool {
        // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no
        // memory; a failure (an invalid signal) leaves nothing half done.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0);
        }
        !self.gone()
    }

    /// Whether the owner process has died: this process has been handed
    /// to another parent.
    pub(crate) fn gone(&self) -> bool {
        // SAFETY: getppid cannot fail and touches no memory.
        unsafe { libc::getppid() != self.pid }
    }
}
