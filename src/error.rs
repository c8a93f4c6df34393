//! The one error type of the crate.
//!
//! Every fallible call in forklore returns [`Result<T>`](crate::Result), whose
//! error is [`Error`]. Each variant stands for one thing that went wrong, so a
//! caller can tell a timeout from an empty queue, a dead manager from a failed
//! authentication, with a `match` or with the `is_*` query methods, never by
//! parsing a message.

use std::io;
use std::time::Duration;

use crate::process::ExitStatus;

/// `Result<T, forklore::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in forklore.
///
/// Messages say what failed and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed. `op` names it (`"fork"`, `"waitpid"`, ...).
    #[error("{op} failed: {source}")]
    Os {
        /// The call that failed.
        op: &'static str,
        /// The errno it returned.
        #[source]
        source: nix::Error,
    },

    /// An I/O operation failed. `op` says what forklore was doing.
    #[error("{op}: {source}")]
    Io {
        /// What forklore was doing.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `start()` was called on a process that was already started
    /// (Python: `AssertionError: cannot start a process twice`).
    #[error("cannot start a process twice ({name} was already started)")]
    AlreadyStarted {
        /// The process's name.
        name: String,
    },

    /// An operation that needs a started process (`join`, `terminate`, ...)
    /// was called before `start()` (Python: `AssertionError: can only join a started process`).
    #[error("can only {op} a started process ({name} has not been started; call start() first)")]
    NotStarted {
        /// The operation that was refused.
        op: &'static str,
        /// The process's name.
        name: String,
    },

    /// The daemon flag was changed after `start()`
    /// (Python: `AssertionError: process has already started`).
    #[error("cannot set daemon on {name}: the process has already started")]
    DaemonAfterStart {
        /// The process's name.
        name: String,
    },

    /// An operation did not finish within its timeout.
    #[error("{op} timed out after {after:?}")]
    Timeout {
        /// What was being waited for.
        op: &'static str,
        /// The timeout that expired.
        after: Duration,
    },

    /// The peer closed the connection cleanly, between two messages (EOF
    /// before a frame header).
    #[error("connection closed by the peer")]
    Closed,

    /// The peer closed the connection in the middle of a frame.
    #[error(
        "frame truncated: expected {expected} bytes, the peer closed the connection after {got}"
    )]
    Truncated {
        /// Bytes the frame header promised (header included).
        expected: usize,
        /// Bytes that arrived before end of file.
        got: usize,
    },

    /// A frame's length prefix exceeds the receiver's limit. Nothing was
    /// allocated for it. Raise the limit with `Connection::set_max_message_size`
    /// if such messages are legitimate.
    #[error("frame of {len} bytes refused: the limit is {max} bytes")]
    FrameTooLarge {
        /// The length the header announced.
        len: usize,
        /// The receiver's limit.
        max: usize,
    },

    /// A frame arrived whole but its payload is not a valid encoding of the
    /// expected type.
    #[error("could not decode message: {0}")]
    Decode(String),

    /// A value could not be encoded (for example a serde `Serialize` impl
    /// that fails).
    #[error("could not encode message: {0}")]
    Encode(String),

    /// A child process exited with a status other than the one expected.
    #[error("process {pid} ended unexpectedly with exit status {status}")]
    ProcessFailed {
        /// The child's pid.
        pid: i32,
        /// How it ended.
        status: ExitStatus,
    },

    /// An external program could not be started: it does not exist, it is
    /// not executable, or the working directory given for it is missing.
    /// The child never ran; nothing exited 127 (Python: `FileNotFoundError`
    /// or `PermissionError` raised by `Popen`). `source.kind()` says which
    /// (`NotFound`, `PermissionDenied`, ...).
    #[error("cannot launch {}: {}{source}", .program.display(), launch_cwd(.cwd))]
    Launch {
        /// The program, as given (for a shell command, `/bin/sh`).
        program: std::path::PathBuf,
        /// The working directory, when it is the cause; `None` when the
        /// program itself is.
        cwd: Option<std::path::PathBuf>,
        /// Why the kernel refused.
        #[source]
        source: io::Error,
    },

    /// A command run by `subprocess` did not finish within its timeout
    /// (Python: `subprocess.TimeoutExpired`). After `communicate` or `wait`
    /// the child is still running; after `run` it has been killed and reaped,
    /// and `stdout`/`stderr` hold what it wrote before it died.
    #[error("Command '{cmd}' timed out after {} seconds", .timeout.as_secs_f64())]
    TimeoutExpired {
        /// The command, shown as Python shows it (`['sleep', '30']`).
        cmd: String,
        /// The timeout that expired.
        timeout: Duration,
        /// What the child wrote to a piped stdout, where it is returned here.
        stdout: Option<Vec<u8>>,
        /// What the child wrote to a piped stderr, where it is returned here.
        stderr: Option<Vec<u8>>,
    },

    /// A command run with `check` ended with a non-zero exit status or was
    /// killed by a signal (Python: `subprocess.CalledProcessError`).
    #[doc(alias = "CalledProcessError")]
    #[error("Command '{cmd}' {}", failed_status(.returncode))]
    CommandFailed {
        /// The command, shown as Python shows it (`['ls', 'no-such-file']`).
        cmd: String,
        /// How it ended (displays as Python's `returncode`, `-9` for SIGKILL).
        returncode: ExitStatus,
        /// Its captured stdout, if stdout was a pipe.
        stdout: Option<Vec<u8>>,
        /// Its captured stderr, if stderr was a pipe.
        stderr: Option<Vec<u8>>,
    },

    /// A call was given arguments that cannot work together, such as input
    /// for a child whose stdin is not a pipe (Python raises `ValueError`).
    /// The message says which, and what to change.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn launch_cwd(cwd: &Option<std::path::PathBuf>) -> String {
    match cwd {
        Some(dir) => format!("working directory {}: ", dir.display()),
        None => String::new(),
    }
}

fn failed_status(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Exited(code) => format!("returned non-zero exit status {code}."),
        // Python: `died with %r.` % signal.Signals(-returncode)
        ExitStatus::Signaled(sig) => format!("died with <Signals.{sig:?}: {}>.", *sig as i32),
    }
}

impl Error {
    /// True for every kind of timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::TimeoutExpired { .. })
    }

    /// True when the peer of a connection has gone away, cleanly or mid-frame.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Error::Closed | Error::Truncated { .. })
    }

    pub(crate) fn os(op: &'static str, source: nix::Error) -> Self {
        Error::Os { op, source }
    }
}
