//! forklore's own small types for the operating system's numbers: a process
//! id ([`Pid`]) and a signal ([`Signal`]).
//!
//! They keep nix out of the public API: a nix release that changes its
//! `Pid` or `Signal` is then not a breaking change of forklore. Inside the
//! crate they convert to nix's types where a system call needs them. A leaf:
//! it depends on nothing else in the crate.

use std::fmt;

/// A process id (C: `pid_t`).
///
/// Displays as the bare number, as Python prints `p.pid`.
///
/// ```
/// let me = forklore::Pid::this();
/// assert_eq!(me.as_raw() as u32, std::process::id());
/// assert_eq!(me.to_string(), std::process::id().to_string());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    /// The pid with this number. Any `i32` is accepted: a pid that names
    /// no process only makes the calls that use it fail.
    pub const fn from_raw(pid: i32) -> Pid {
        Pid(pid)
    }

    /// The number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The calling process's pid (C: `getpid`).
    pub fn this() -> Pid {
        Pid(nix::unistd::getpid().as_raw())
    }

    /// The parent's pid (C: `getppid`).
    pub fn parent() -> Pid {
        Pid(nix::unistd::getppid().as_raw())
    }

    pub(crate) fn to_nix(self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.0)
    }

    pub(crate) fn from_nix(pid: nix::unistd::Pid) -> Pid {
        Pid(pid.as_raw())
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

macro_rules! signals {
    ($($(#[$doc:meta])* $name:ident = $value:ident,)*) => {
        /// A standard Linux signal, by its C name.
        ///
        /// Real-time signals (`SIGRTMIN`..`SIGRTMAX`) have no name here: a
        /// child killed by one ends as
        /// [`ExitStatus::SignaledOther`](crate::ExitStatus::SignaledOther).
        ///
        /// ```
        /// use forklore::Signal;
        /// assert_eq!(Signal::SIGTERM.as_raw(), 15);
        /// assert_eq!(Signal::from_raw(9), Some(Signal::SIGKILL));
        /// assert_eq!(Signal::SIGKILL.to_string(), "SIGKILL");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i32)]
        #[non_exhaustive]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Signal {
            $($(#[$doc])* $name = libc::$value,)*
        }

        impl Signal {
            /// The signal with this number; `None` for 0, a real-time
            /// signal or a number that is no signal.
            pub fn from_raw(n: i32) -> Option<Signal> {
                match n {
                    $(libc::$value => Some(Signal::$name),)*
                    _ => None,
                }
            }

            /// Its C name, such as `"SIGTERM"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Signal::$name => stringify!($name),)*
                }
            }
        }
    };
}

signals! {
    /// Hangup.
    SIGHUP = SIGHUP,
    /// Interrupt (Ctrl-C).
    SIGINT = SIGINT,
    /// Quit (Ctrl-\\).
    SIGQUIT = SIGQUIT,
    /// Illegal instruction.
    SIGILL = SIGILL,
    /// Trace or breakpoint trap.
    SIGTRAP = SIGTRAP,
    /// Abort (`abort(3)`).
    SIGABRT = SIGABRT,
    /// Bus error.
    SIGBUS = SIGBUS,
    /// Floating-point exception.
    SIGFPE = SIGFPE,
    /// Kill: cannot be caught or ignored.
    SIGKILL = SIGKILL,
    /// User-defined signal 1.
    SIGUSR1 = SIGUSR1,
    /// Invalid memory reference.
    SIGSEGV = SIGSEGV,
    /// User-defined signal 2.
    SIGUSR2 = SIGUSR2,
    /// Write to a pipe with no reader.
    SIGPIPE = SIGPIPE,
    /// Timer from `alarm(2)`.
    SIGALRM = SIGALRM,
    /// Termination request (the default of `kill(1)`).
    SIGTERM = SIGTERM,
    /// Stack fault on a coprocessor (unused).
    SIGSTKFLT = SIGSTKFLT,
    /// A child stopped or ended.
    SIGCHLD = SIGCHLD,
    /// Continue if stopped.
    SIGCONT = SIGCONT,
    /// Stop: cannot be caught or ignored.
    SIGSTOP = SIGSTOP,
    /// Stop typed at a terminal (Ctrl-Z).
    SIGTSTP = SIGTSTP,
    /// Terminal input for a background process.
    SIGTTIN = SIGTTIN,
    /// Terminal output for a background process.
    SIGTTOU = SIGTTOU,
    /// Urgent condition on a socket.
    SIGURG = SIGURG,
    /// CPU time limit exceeded.
    SIGXCPU = SIGXCPU,
    /// File size limit exceeded.
    SIGXFSZ = SIGXFSZ,
    /// Virtual alarm clock.
    SIGVTALRM = SIGVTALRM,
    /// Profiling timer expired.
    SIGPROF = SIGPROF,
    /// Window resize.
    SIGWINCH = SIGWINCH,
    /// I/O now possible.
    SIGIO = SIGIO,
    /// Power failure.
    SIGPWR = SIGPWR,
    /// Bad system call.
    SIGSYS = SIGSYS,
}

impl Signal {
    /// The signal's number.
    pub const fn as_raw(self) -> i32 {
        self as i32
    }

    pub(crate) fn to_nix(self) -> nix::sys::signal::Signal {
        // Every variant is a standard signal that nix names too.
        nix::sys::signal::Signal::try_from(self.as_raw())
            .expect("nix names every standard Linux signal")
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_round_trips_through_its_number_and_nix() {
        for n in 0..=64 {
            if let Some(s) = Signal::from_raw(n) {
                assert_eq!(s.as_raw(), n);
                assert_eq!(s.to_nix() as i32, n);
                assert_eq!(s.as_str(), s.to_nix().as_str());
            }
        }
        assert_eq!(Signal::from_raw(0), None);
        assert_eq!(Signal::from_raw(libc::SIGRTMIN()), None);
    }
}
