//! How a child process ended: [`ExitStatus`], the enum behind Python's
//! `exitcode`. Next to the bottom: it depends only on [`os`](crate::os)'s
//! `Signal`, so the error type and the system-call layer can both name it.

use crate::os::Signal;

/// How a child process ended: the enum behind Python's `exitcode`.
///
/// It displays as Python prints `exitcode`: the code for a normal exit, or the
/// negated signal number for a death by signal (`-15` after
/// [`Process::terminate`](crate::Process::terminate), `-9` after [`Process::kill`](crate::Process::kill)).
///
/// The name is std's ([`std::process::ExitStatus`]) on purpose: it is the
/// same thing (how a child ended, as `waitpid` reports it) and answers the
/// same questions (`code`, `success`), and forklore's subprocesses and
/// processes give this one wherever std would give std's, so a program has
/// no reason to import both. It is named in every chapter of the workbook;
/// a rename would cost every reader a lookup for no clash in practice.
/// (Python has no type here: `exitcode` and `returncode` are ints.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The child called `exit(code)` or returned (C: `WIFEXITED`, `WEXITSTATUS`).
    Exited(i32),
    /// The child was killed by a signal (C: `WIFSIGNALED`, `WTERMSIG`).
    Signaled(Signal),
    /// The child was killed by a signal that [`Signal`] has no name for: a
    /// real-time signal, `SIGRTMIN` (34) to `SIGRTMAX` (64). The number is
    /// kept, so `code()` is still Python's `-34`.
    SignaledOther(i32),
}

impl ExitStatus {
    /// Python's `exitcode`: the exit code, or minus the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => -(s as i32),
            ExitStatus::SignaledOther(n) => -n,
        }
    }

    /// True for `Exited(0)`.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The signal that killed the child, if any.
    pub fn signal(self) -> Option<Signal> {
        match self {
            ExitStatus::Signaled(s) => Some(s),
            ExitStatus::Exited(_) | ExitStatus::SignaledOther(_) => None,
        }
    }

    /// The number of the signal that killed the child, named or not.
    pub fn signal_number(self) -> Option<i32> {
        match self {
            ExitStatus::Signaled(s) => Some(s as i32),
            ExitStatus::SignaledOther(n) => Some(n),
            ExitStatus::Exited(_) => None,
        }
    }

    /// Decode a raw `waitpid` status; `None` for stops and continues.
    pub(crate) fn from_raw(status: i32) -> Option<Self> {
        if libc::WIFEXITED(status) {
            Some(ExitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            let n = libc::WTERMSIG(status);
            Some(match Signal::from_raw(n) {
                Some(sig) => ExitStatus::Signaled(sig),
                None => ExitStatus::SignaledOther(n),
            })
        } else {
            None
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}
