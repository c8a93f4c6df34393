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

    /// A count that must be at least 1 was 0: a pool or executor with no
    /// workers, a chunk size of 0, a `maxtasksperchild` of 0 (Python:
    /// `ValueError: Number of processes must be at least 1`).
    #[error("{what} must be at least 1 (got {got})")]
    InvalidCount {
        /// What was counted (`"the number of worker processes"`, `"chunksize"`).
        what: &'static str,
        /// The value given.
        got: usize,
    },

    /// A task was submitted to a pool after `close()` or `terminate()`
    /// (Python: `ValueError: Pool not running`).
    #[error("pool not running: it was closed or terminated, so it takes no new tasks")]
    PoolNotRunning,

    /// `join()` was called on a pool that is still running
    /// (Python: `ValueError: Pool is still running`).
    #[error("pool is still running: call close() or terminate() before join()")]
    PoolStillRunning,

    /// A task was submitted to an executor after `shutdown()`
    /// (Python: `RuntimeError: cannot schedule new futures after shutdown`).
    #[error("cannot schedule new futures after shutdown")]
    ExecutorShutdown,

    /// A task panicked in a worker process. The worker caught the panic and
    /// carries on; `message` is the panic's payload and `location` where it
    /// was raised (Python re-raises the worker's exception in the parent).
    #[error("task panicked in a worker process: {message}{}", location_suffix(.location))]
    TaskPanicked {
        /// The panic message.
        message: String,
        /// `file:line:column` of the panic, when known.
        location: Option<String>,
    },

    /// The pool worker holding this task died (killed by a signal, or it
    /// exited) before sending its result. The pool replaced the worker and
    /// goes on; CPython's `Pool` waits forever for such a task instead.
    /// The task may have run in part, in full or not at all: resubmit it if
    /// it is safe to run it again.
    #[error("worker process {pid} died ({}) before finishing this task; the pool replaced it", describe_status(*.status))]
    WorkerDied {
        /// The dead worker's pid.
        pid: i32,
        /// How it ended.
        status: ExitStatus,
    },

    /// A worker of a `ProcessPoolExecutor` died abruptly, so the executor
    /// is broken: every pending future and every later `submit` fails with
    /// this error (Python: `concurrent.futures.process.BrokenProcessPool`).
    /// Create a new executor.
    #[error("a child process terminated abruptly (worker {pid}, {}); the process pool is not usable anymore", describe_status(*.status))]
    BrokenProcessPool {
        /// The pid of the worker that died.
        pid: i32,
        /// How it ended.
        status: ExitStatus,
    },

    /// The task was cancelled before it ran: `Future::cancel`,
    /// `shutdown(cancel_futures)`, or a pool terminated with the task
    /// unfinished (Python: `CancelledError`).
    #[error("the task was cancelled before it finished")]
    Cancelled,
}

impl Error {
    /// True for every kind of timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// True when a task panicked in a worker ([`Error::TaskPanicked`]).
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::TaskPanicked { .. })
    }

    /// True when a task was cancelled ([`Error::Cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled)
    }

    /// True when a task was lost with its worker: [`Error::WorkerDied`] in a
    /// `Pool`, [`Error::BrokenProcessPool`] in an executor.
    pub fn is_worker_death(&self) -> bool {
        matches!(
            self,
            Error::WorkerDied { .. } | Error::BrokenProcessPool { .. }
        )
    }

    /// True when the peer of a connection has gone away, cleanly or mid-frame.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Error::Closed | Error::Truncated { .. })
    }

    pub(crate) fn os(op: &'static str, source: nix::Error) -> Self {
        Error::Os { op, source }
    }
}

/// `" (at file:line:col)"`, or nothing.
fn location_suffix(location: &Option<String>) -> String {
    location
        .as_ref()
        .map(|l| format!(" (at {l})"))
        .unwrap_or_default()
}

/// How a worker ended, in words: `killed by SIGKILL`, `exit code 3`.
fn describe_status(status: ExitStatus) -> String {
    match status {
        ExitStatus::Signaled(sig) => format!("killed by {sig}"),
        ExitStatus::Exited(code) => format!("exit code {code}"),
    }
}
