//! How the manager's server learns that it must go although nobody asked
//! it to shut down: its owner died, or a termination signal came. Server
//! side only.
//!
//! The server already watches the "owner alive" pipe (see `server::run`),
//! which reports end of file once the owner *and every process that
//! inherited the pipe* have gone. Two cases escaped it, and left the server
//! running, or its socket directory behind in the temp dir:
//! - **the owner is killed while a process it forked still holds the pipe**:
//!   the server went on serving that process. Now the server also asks the
//!   kernel for a signal when its parent dies (`PR_SET_PDEATHSIG`, with the
//!   per-thread caveat handled as `crate::orphan` explains), and then exits
//!   like a server whose owner left: it removes its socket and directory.
//! - **a termination signal for the whole process group** (`timeout` sends
//!   `SIGTERM` to the group, a closed terminal `SIGHUP`, Ctrl-\ `SIGQUIT`):
//!   the server died along with its owner, without a chance to clean up.
//!   Now it receives `SIGTERM`, `SIGHUP` and `SIGQUIT` through a
//!   `signalfd`, removes its socket and directory, and then dies of the
//!   same signal, as before (the exit status is unchanged).
//!
//! Only `SIGKILL` of the server itself still leaves the directory behind
//! (nothing can run after it); the owner removes it when it reaps the
//! server, and a killed owner's server removes it as above.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::raw::c_int;

use crate::orphan::Owner;

/// The signals that end the server after it has cleaned up.
const TERMINATING: [c_int; 3] = [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The signal the kernel sends when the server's parent (thread) dies: the
/// first real-time signal free for applications, which nobody else sends.
fn death_signal() -> c_int {
    libc::SIGRTMIN()
}

/// The signals the server receives on its `signalfd`.
fn watched() -> libc::sigset_t {
    // SAFETY: `set` is a local sigset_t, initialised by sigemptyset before
    // any other use; sigaddset only writes into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in TERMINATING.into_iter().chain([death_signal()]) {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// The calling thread's signal mask, as it was before [`hold`].
pub(crate) struct Held(libc::sigset_t);

/// Block the server's signals on the calling thread for the instant of the
/// fork: the server inherits the mask, so a signal that comes before it has
/// made its `signalfd` waits there instead of killing it uncleaned. Give
/// the mask back with [`Held::release`] in the parent.
pub(crate) fn hold() -> Held {
    let set = watched();
    // SAFETY: `old` is a local sigset_t that pthread_sigmask fills in.
    let old = unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut old);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        old
    };
    Held(old)
}

impl Held {
    /// After `fork`: restore the mask in the parent, and when the fork
    /// failed (there is no child). The child keeps the signals blocked until
    /// its `signalfd` is made.
    pub(crate) fn release_in_parent(&self, forked: &crate::Result<crate::Fork>) {
        if !matches!(forked, Ok(crate::Fork::Child)) {
            self.release();
        }
    }

    /// Restore the mask (in the parent, after the fork); a signal that
    /// came meanwhile is delivered now, as if it had come a moment later.
    pub(crate) fn release(&self) {
        // SAFETY: `self.0` is the mask pthread_sigmask returned.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}

/// What a signal means for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The owner process has died: exit, cleaning up.
    OwnerDied,
    /// Clean up, then die of this signal.
    Terminate(c_int),
    /// The thread that forked the server ended, but the owner lives on.
    Ignored,
}

/// The server's `signalfd` and its owner.
pub(crate) struct Lifeline {
    fd: OwnedFd,
    owner: Owner,
}

impl Lifeline {
    /// Block the signals above and receive them on a `signalfd` instead;
    /// ask for the death signal.
    ///
    /// Call it in the freshly forked server before it starts any thread:
    /// threads started later inherit the signal mask, so no thread runs a
    /// default action behind the loop's back.
    ///
    /// # Errors
    /// The system calls' errors.
    pub(crate) fn install(owner: Owner) -> std::io::Result<Lifeline> {
        let set = watched();
        // SAFETY: `set` is a valid signal set; the old mask is not asked for.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        // SAFETY: -1 asks for a new descriptor; `set` is valid.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by signalfd and belongs to nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // If the owner died before this point, `owner_gone` says so.
        owner.arm(death_signal());
        Ok(Lifeline { fd, owner })
    }

    /// Whether the owner process is gone (it may have died before the
    /// death signal was asked for).
    pub(crate) fn owner_gone(&self) -> bool {
        self.owner.gone()
    }

    /// Read one pending signal and say what it means.
    pub(crate) fn read(&self) -> Event {
        let mut info = std::mem::MaybeUninit::<libc::signalfd_siginfo>::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` has room for one signalfd_siginfo, and the kernel
        // writes whole ones; the read is only used if it was complete.
        let n = unsafe {
            libc::read(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                info.as_mut_ptr().cast(),
                size,
            )
        };
        if usize::try_from(n).ok() != Some(size) {
            return Event::Ignored;
        }
        // SAFETY: the kernel filled all of it (checked above), and all bit
        // patterns are valid for its integer fields.
        let sig = unsafe { info.assume_init() }.ssi_signo as c_int;
        if sig == death_signal() {
            if self.owner.gone() {
                Event::OwnerDied
            } else {
                Event::Ignored
            }
        } else {
            Event::Terminate(sig)
        }
    }
}

impl AsFd for Lifeline {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Die of `sig` as if it had never been caught: its default action, on a
/// thread where it is not blocked.
pub(crate) fn die_by(sig: c_int) -> ! {
    // SAFETY: resetting a disposition to SIG_DFL installs no code; the set
    // is a local, initialised before use; raise targets this thread, where
    // the signal is now unblocked, so the default action ends the process.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    // A signal whose default action does not end the process: exit as a
    // shell reports a death by signal.
    crate::process::exit_child(128 + sig)
}
