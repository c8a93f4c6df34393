//! The one error type of the crate.
//!
//! Every fallible call in forklore returns [`Result<T>`](crate::Result), whose
//! error is [`Error`]. Each variant stands for one thing that went wrong, so a
//! caller can tell a timeout from an empty queue, a dead manager from a failed
//! authentication, with a `match` or with the `is_*` query methods, never by
//! parsing a message.

use std::io;
use std::time::Duration;

use crate::exit_status::ExitStatus;

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
        /// The errno it returned, as the standard library's error
        /// (`raw_os_error()` gives the number).
        #[source]
        source: io::Error,
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

    /// A fork was refused because the calling process has more than one
    /// thread: `fork` copies only the calling thread, so a lock another
    /// thread held at that instant (the allocator's, stdout's, any `Mutex`)
    /// would stay held for ever in the child.
    #[error(
        "fork refused: this process has {threads} threads, and fork copies only the calling \
         one, so the child could deadlock on a lock another thread holds; start it with the \
         forkserver or spawn method, or opt in with the unsafe start_with_threads / \
         fork_with_threads and keep the child to async-signal-safe calls"
    )]
    ForkWithThreads {
        /// How many threads the process had.
        threads: usize,
    },

    /// `spawn` or `forkserver` was asked for, but `main` never called
    /// [`forklore::init()`](crate::init): without it a re-executed program
    /// would run `main` again instead of the target.
    #[error(
        "the spawn and forkserver start methods need forklore::init() as the first call in main \
         (it runs the target in the new process); it was never called"
    )]
    SpawnNotInitialized,

    /// The fork server went away (killed, or it failed) before it reported
    /// on a child; `op` says at which step.
    #[error("the fork server is gone ({op}): the child's status is unknown")]
    ForkServerGone {
        /// The step: `connect`, `handshake`, `send`, `recv`, `fork`, `wait`.
        op: &'static str,
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

    /// The challenge–response handshake of a connection failed: the two
    /// sides do not share the same authkey, or the peer does not speak the
    /// handshake. `reason` says which side found out (Python:
    /// `AuthenticationError: digest received was wrong` on the side that
    /// checked, `digest sent was rejected` on the side that answered).
    #[error("authentication failed: {reason} (both sides must use the same authkey)")]
    AuthenticationFailed {
        /// What went wrong.
        reason: String,
    },

    /// The manager's server process is gone (killed, crashed or shut down):
    /// the socket was closed, reset or refused. No call on a proxy of that
    /// manager can succeed any more.
    #[error(
        "manager gone: {op} failed because the manager's server process is not there any more"
    )]
    ManagerGone {
        /// What the client was doing.
        op: &'static str,
    },

    /// The manager's server stopped answering: a TCP connection to it was
    /// cut or its host went away, and the keepalive probes or an
    /// unacknowledged request timed out (see
    /// [`managers::tcp`](crate::managers::tcp) for the bound), or a connect
    /// found no route to it, or its host fell silent during the handshake. No call on a proxy of that manager can succeed
    /// over this connection; [`Error::is_manager_gone`] is true for it too.
    #[error(
        "manager unreachable: {op} failed: {source} (the link to the manager's host is down \
         or the host is gone; check the address and the network)"
    )]
    ManagerUnreachable {
        /// What the client was doing.
        op: &'static str,
        /// The socket error (`ETIMEDOUT`, `EHOSTUNREACH`, ...).
        #[source]
        source: io::Error,
    },

    /// A manager did not answer a call in time: no reply came within the
    /// call's own timeout plus [`pyproto::client::REPLY_GRACE`](crate::pyproto::client::REPLY_GRACE)
    /// (`get_timeout`, `wait_timeout`, `acquire_timeout`, ...), within the
    /// reply timeout set with
    /// [`PyManager::connect_options`](crate::pyproto::PyManager::connect_options),
    /// or within the handshake's bound for a new connection. The link to the
    /// server may be cut while both ends' sockets stay open (a stalled relay
    /// or NAT, a firewall that drops packets), or the server is stuck.
    ///
    /// This is not the call's own timeout (that is [`Error::QueueEmpty`],
    /// `Ok(false)`, ... as usual): the manager never said anything. The
    /// connection the call used was closed, since a late reply would be taken
    /// for the next call's; a later call opens a new one.
    #[error(
        "the manager did not answer: no reply to {call} within {waited:?} (the link to it may \
         be cut, or its server is stuck); the connection was closed"
    )]
    ManagerNoReply {
        /// The call that got no reply (`get` on an object, `the handshake`).
        call: String,
        /// How long the client waited.
        waited: Duration,
    },

    /// No object is registered under this name on the manager (Python:
    /// `AttributeError` for a `get_...` method that was never registered).
    /// Register it on the server with `Manager::register` first.
    #[error("the manager has no object registered as {name:?}")]
    NotRegistered {
        /// The name asked for.
        name: String,
    },

    /// `get` on an empty manager queue: at once for `get_nowait`, after the
    /// timeout for `get_timeout` (Python: `queue.Empty`).
    #[error("queue is empty")]
    QueueEmpty,

    /// `put` on a full bounded manager queue: at once for `put_nowait`, after
    /// the timeout for `put_timeout` (Python: `queue.Full`).
    #[error("queue is full")]
    QueueFull,

    /// A list or array index outside `-len..len`, or `pop` on an empty list
    /// (Python: `IndexError`).
    #[error("index {index} out of range for a sequence of length {len}")]
    IndexOutOfRange {
        /// The index asked for.
        index: i64,
        /// The length of the sequence at that moment.
        len: usize,
    },

    /// A CPython-protocol manager raised `IndexError`: `pop` on an empty
    /// list, an index outside the list or array (Python: `IndexError`).
    /// `message` is Python's text (`pop from empty list`, `list index out
    /// of range`); Python's exception does not carry the index or the
    /// length, which is why this is not [`Error::IndexOutOfRange`].
    /// [`Error::is_index_out_of_range`] is true for both.
    #[error("index out of range (Python IndexError: {message})")]
    PythonIndexError {
        /// Python's message.
        message: String,
    },

    /// A dict key that is not there (Python: `KeyError`). `key` is the key
    /// as the server shows it.
    #[error("key not found: {key}")]
    KeyNotFound {
        /// The missing key.
        key: String,
    },

    /// `remove` or `index` of a value the list does not hold
    /// (Python: `ValueError: x not in list`).
    #[error("{value} is not in list")]
    ValueNotInList {
        /// The value looked for.
        value: String,
    },

    /// A Namespace attribute that was never set (Python: `AttributeError`).
    #[error("namespace has no attribute {name:?}")]
    NoAttribute {
        /// The attribute's name.
        name: String,
    },

    /// Releasing a lock that is not held, or a bounded semaphore past its
    /// initial value (Python: `RuntimeError: release unlocked lock`,
    /// `ValueError: Semaphore released too many times`).
    #[error("cannot release {what}")]
    ReleaseUnlocked {
        /// What was released and why it could not be.
        what: String,
    },

    /// An operation that needs the caller to hold a lock, by a caller that
    /// does not: releasing another connection's RLock, or `wait`/`notify`
    /// on a Condition without acquiring it first (Python: `RuntimeError:
    /// cannot release un-acquired lock`, `cannot wait on un-acquired lock`).
    #[error("{op} needs the lock held by this caller (each process and thread is its own caller)")]
    NotOwner {
        /// The operation that was refused.
        op: String,
    },

    /// A dict changed size while an iterator over it was in use
    /// (Python: `RuntimeError: dictionary changed size during iteration`).
    #[error("{what} changed size during iteration")]
    ChangedDuringIteration {
        /// What changed: `dictionary`.
        what: String,
    },

    /// A barrier was broken: by a timeout, by `abort`, by a `reset` while
    /// parties waited, or by a party that died while waiting
    /// (Python: `threading.BrokenBarrierError`).
    #[error("barrier is broken")]
    BrokenBarrier,

    /// A [`RobustLock`](crate::synchronize::RobustLock)'s previous owner
    /// died holding it (`EOWNERDEAD`). The caller now holds the lock; the
    /// data it protects may be half-updated. Check it, then release the
    /// lock as usual.
    #[error("the previous owner of the lock (pid {pid}) died holding it; you hold it now: check the data it protects")]
    OwnerDied {
        /// The pid of the process whose thread held the lock.
        pid: i32,
    },

    /// `put` or `get` on a queue after `close()` in this process
    /// (Python: `ValueError: Queue ... is closed`).
    #[error("queue is closed")]
    QueueClosed,

    /// `task_done` was called more times than items were put
    /// (Python: `ValueError: task_done() called too many times`).
    #[error("task_done() called too many times")]
    TaskDoneTooManyTimes,

    /// The manager has no object with this id (it was freed, or never
    /// existed). The connection stays open; a correct proxy never sees this.
    #[error("the manager has no object with id {id}")]
    UnknownObject {
        /// The id asked for.
        id: u64,
    },

    /// A CPython manager (or a CPython client of a forklore server) raised
    /// a Python exception that has no variant of its own here: `type_name`
    /// is its qualified type (`builtins.ValueError`,
    /// `multiprocessing.managers.RemoteError` for a `'#TRACEBACK'` reply)
    /// and `message` its text. `queue.Empty`, `queue.Full`, `KeyError`,
    /// `IndexError` and `threading.BrokenBarrierError` come back as
    /// [`Error::QueueEmpty`], [`Error::QueueFull`], [`Error::KeyNotFound`],
    /// [`Error::PythonIndexError`] and [`Error::BrokenBarrier`] instead.
    #[error("Python {type_name}: {message}")]
    PythonException {
        /// The exception's module and name, such as `builtins.IndexError`.
        type_name: String,
        /// Its arguments or traceback text.
        message: String,
    },

    /// The manager refused a request it cannot carry out for another reason
    /// (a method sent to an object of another type, a zero slice step, a
    /// value it cannot store, a value nested too deeply, a request or a
    /// reply over the size limit, an overflow). Nothing changed on the
    /// server, and the connection stays open.
    #[error("manager refused the request: {0}")]
    ManagerRequest(String),

    /// The manager's server panicked while handling the request (a bug in
    /// forklore). The server cleaned up after it and goes on serving; the
    /// connection stays open.
    #[error("the manager's server panicked on this request (a bug in forklore; please report it): {message}")]
    ManagerPanicked {
        /// The panic's message.
        message: String,
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
    /// the child is still running; after `run` it has been killed and reaped.
    /// After `run` and `communicate`, `stdout`/`stderr` hold what was read
    /// from each piped stream so far (`communicate` keeps it too, and its
    /// next call returns the whole output); after `wait`, nothing.
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

    /// A pool or executor was used in a process forked from the one that
    /// created it (with [`fork`](crate::fork())): the copy shares the
    /// parent's sockets to the workers, so using it would steal the parent's
    /// results and send tasks the parent does not know of. Create a new pool
    /// in the child instead. (CPython's pool hangs here.)
    #[error("this pool belongs to process {owner}; a process forked from it cannot use it (create a new pool in this process)")]
    ForeignPool {
        /// The process that created the pool.
        owner: i32,
    },

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

    /// The task was cancelled before it ran: `TaskFuture::cancel`,
    /// `shutdown(cancel_futures)`, or a pool terminated with the task
    /// unfinished (Python: `CancelledError`).
    #[error("the task was cancelled before it finished")]
    Cancelled,

    /// A pool's background side could not start any worker, so the tasks
    /// waiting for one fail with this (the reason is the start error's text).
    #[error("no pool worker could be started: {0}")]
    WorkerStartFailed(String),
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
        // Python's Signals enum names only the ends of the real-time range.
        ExitStatus::SignaledOther(n) if *n == libc::SIGRTMIN() => {
            format!("died with <Signals.SIGRTMIN: {n}>.")
        }
        ExitStatus::SignaledOther(n) if *n == libc::SIGRTMAX() => {
            format!("died with <Signals.SIGRTMAX: {n}>.")
        }
        ExitStatus::SignaledOther(n) => format!("died with unknown signal {n}."),
    }
}

impl Error {
    /// True for every kind of timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::TimeoutExpired { .. })
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

    /// True for [`Error::ManagerGone`] and [`Error::ManagerUnreachable`]:
    /// the manager's server has gone away, or cannot be reached any more.
    pub fn is_manager_gone(&self) -> bool {
        matches!(
            self,
            Error::ManagerGone { .. } | Error::ManagerUnreachable { .. }
        )
    }

    /// True for [`Error::ManagerNoReply`]: a manager did not answer in time.
    pub fn is_manager_no_reply(&self) -> bool {
        matches!(self, Error::ManagerNoReply { .. })
    }

    /// True for [`Error::NotRegistered`].
    pub fn is_not_registered(&self) -> bool {
        matches!(self, Error::NotRegistered { .. })
    }

    /// True for [`Error::AuthenticationFailed`].
    pub fn is_authentication_failed(&self) -> bool {
        matches!(self, Error::AuthenticationFailed { .. })
    }

    /// True for [`Error::QueueEmpty`].
    pub fn is_queue_empty(&self) -> bool {
        matches!(self, Error::QueueEmpty)
    }

    /// True for [`Error::QueueFull`].
    pub fn is_queue_full(&self) -> bool {
        matches!(self, Error::QueueFull)
    }

    /// True for [`Error::IndexOutOfRange`] and for
    /// [`Error::PythonIndexError`] (a CPython-protocol manager's `IndexError`).
    pub fn is_index_out_of_range(&self) -> bool {
        matches!(
            self,
            Error::IndexOutOfRange { .. } | Error::PythonIndexError { .. }
        )
    }

    /// True for [`Error::KeyNotFound`].
    pub fn is_key_not_found(&self) -> bool {
        matches!(self, Error::KeyNotFound { .. })
    }

    /// True for [`Error::ValueNotInList`].
    pub fn is_value_not_in_list(&self) -> bool {
        matches!(self, Error::ValueNotInList { .. })
    }

    /// True for [`Error::OwnerDied`]: the caller holds a lock whose
    /// previous owner died holding it.
    pub fn is_owner_died(&self) -> bool {
        matches!(self, Error::OwnerDied { .. })
    }

    /// True for [`Error::BrokenBarrier`].
    pub fn is_broken_barrier(&self) -> bool {
        matches!(self, Error::BrokenBarrier)
    }

    pub(crate) fn os(op: &'static str, source: nix::Error) -> Self {
        Error::Os {
            op,
            source: io::Error::from_raw_os_error(source as i32),
        }
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
        ExitStatus::SignaledOther(n) => format!("killed by signal {n}"),
        ExitStatus::Exited(code) => format!("exit code {code}"),
    }
}
