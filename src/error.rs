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
}

impl Error {
    /// True for every kind of timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// True when the peer of a connection has gone away, cleanly or mid-frame.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Error::Closed | Error::Truncated { .. })
    }

    pub(crate) fn os(op: &'static str, source: nix::Error) -> Self {
        Error::Os { op, source }
    }
}
