//! The machinery shared by [`Pool`](crate::pool::Pool) and
//! [`ProcessPoolExecutor`](crate::executor::ProcessPoolExecutor): worker
//! processes, the wire format of tasks and results, and the scheduler that
//! drives them.
//!
//! - [`wire`]: the bytes of tasks and replies, and the trampolines;
//! - [`child`]: the worker process's side;
//! - [`core`]: the scheduler state ([`Core`]), which runs in the owner's
//!   process and never blocks: it hands tasks to workers, reads replies,
//!   replaces dead workers;
//! - [`drive`]: who advances the scheduler, and every wait.
//!
//! # Who drives the pool
//! The scheduler state sits behind a mutex (`Send + Sync`, so several
//! threads may submit to one pool), and exactly one party at a time, the
//! *driver*, polls the workers' sockets and pidfds and touches the workers;
//! a submission only queues its task and wakes the driver (an eventfd).
//! Who the driver is depends on how workers are started:
//! - **spawned workers** (start methods `spawn` and `forkserver`): one
//!   background thread per pool, started with the pool and joined when it
//!   stops, is the driver for the pool's whole life, as CPython's three pool
//!   threads are. Queued tasks move, results are collected, dead workers are
//!   replaced and callbacks run while the owner does something else.
//!   Replacement workers are spawned from that thread, which is sound: a
//!   spawned worker is a fresh run of the executable, it inherits no lock.
//! - **forked workers** (start method `fork`): no thread. A fork is refused
//!   in a process with other threads, and a pool must fork replacement
//!   workers long after it started, so a pool thread would make the pool
//!   unable to replace a worker. The pool then moves inside its own calls,
//!   as before: whichever call waits (`get`, `next`, `join`, ...) becomes the
//!   driver for as long as it waits; a submission makes one step without
//!   waiting. A waiter that finds another thread driving waits on a condition
//!   variable for it.
//!
//! Nothing on the owner's side ever blocks on a worker: tasks are written to
//! the worker's socket without blocking, as much as it takes, and the rest
//! waits in the worker's outgoing queue until the socket is writable (a large
//! argument is streamed by the driver). The lock is never held across a
//! `poll(2)` or a blocking write.
//!
//! # Tasks are function pointers
//! A task is a plain `fn(A) -> R`. The parent sends the function's address
//! and the address of a monomorphized trampoline (`call_map::<A, R>`) that
//! decodes the arguments, calls the function and encodes the results.
//! Both go as offsets from a symbol of forklore (`crate::start::spawn`'s
//! anchor), not as addresses: a forked worker has the parent's image at the
//! same addresses, a spawned one (start methods `spawn`, `forkserver`) the
//! same executable elsewhere, and the offsets name the same functions in
//! both. Closures are not accepted (only non-capturing ones, which coerce to
//! `fn` pointers), because what a closure captures exists only in the parent.
//!
//! # The wire
//! Every message is a frame of [`Connection`](crate::connection::Connection),
//! and a frame carries one or more records, so that several small tasks (or
//! results) cost one system call and one wake-up:
//! - tasks, parent to worker: per task, postcard `(id: u64, call: i64,
//!   func: i64)`, a 4-byte little-endian length, then the postcard `Vec<A>`
//!   of arguments (a chunk: `apply` sends a chunk of one);
//! - stop, parent to worker: an empty frame;
//! - replies, worker to parent: per task, postcard `id`, a tag (`0` for
//!   results, `1` for a `Failure`), a 4-byte little-endian length, then the
//!   postcard `Vec<R>` or `Failure`.
//!
//! # Dispatch
//! The parent knows which tasks each worker holds. A worker gets one task at
//! a time while the backlog is short, so a queued task goes to whichever
//! worker frees up first (as in CPython, where idle workers pull from a
//! shared queue). In a `Pool`, while the backlog holds more tasks than there
//! are workers, each worker is also handed up to [`PREFETCH_DEPTH`]` - 1`
//! small tasks ahead, in the same frame, so it does not wait for the parent
//! between tiny tasks; and a worker holds back the reply of a task that took
//! less than [`COALESCE_BELOW`] while it has more tasks in hand, to send the
//! replies together. An executor does not prefetch, so that every task no
//! worker has taken can still be cancelled.
//!
//! # When a worker dies
//! Every task the worker held fails with `WorkerDied` (a `Pool`) or breaks
//! the executor: the one it was running, and in a busy pool the few it had
//! been handed ahead or had finished without reporting yet. Which of those
//! had run is unknowable, so none is run again: a task runs at most once.
//! Tasks whose frame had not been written whole go back to the backlog:
//! the worker cannot have started them.

pub(crate) mod child;
pub(crate) mod core;
pub(crate) mod drive;
pub(crate) mod wire;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::os::Signal;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::process::{ExitStatus, Process};
use crate::start::StartMethod;

pub(crate) use self::core::Core;
pub(crate) use drive::{listen_all, Chunks, Handle, Shared};
pub(crate) use wire::{call_map, call_star, Call, Failure};

/// A worker holds at most this many tasks at once (one running, the rest
/// prefetched).
pub(crate) const PREFETCH_DEPTH: usize = 4;
/// Only task records up to this size are prefetched.
pub(crate) const PREFETCH_MAX_RECORD: usize = 4096;
/// A worker holds back the reply of a task quicker than this while it has
/// more tasks in hand.
pub(crate) const COALESCE_BELOW: Duration = Duration::from_micros(100);
/// ... but sends as soon as the held-back replies reach this size.
pub(crate) const COALESCE_MAX_BYTES: usize = 64 * 1024;
/// The largest frame on a pool's sockets. Both ends are this crate's own
/// processes, so the limit only has to match the 4-byte record lengths.
pub(crate) const MAX_FRAME: usize = u32::MAX as usize;
/// How long a worker that should exit (SIGTERM, or the end of its tasks) is
/// given before it is killed with SIGKILL.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// Identifies one task (one chunk) within a [`Core`].
pub(crate) type TaskId = u64;

/// How a task ended without results.
#[derive(Debug, Clone)]
pub(crate) enum TaskError {
    /// The worker reported a failure.
    Failed(Failure),
    /// A pool worker died holding the task.
    WorkerDied { pid: i32, status: ExitStatus },
    /// An executor broke while the task was pending.
    Broken { pid: i32, status: ExitStatus },
    /// Cancelled before it ran, or its pool was terminated.
    Cancelled,
    /// No worker could be started to run it.
    StartFailed(String),
}

impl TaskError {
    pub(crate) fn to_error(&self) -> Error {
        match self.clone() {
            TaskError::Failed(Failure::Panicked { message, location }) => {
                Error::TaskPanicked { message, location }
            }
            TaskError::Failed(Failure::Decode(m)) => Error::Decode(m),
            TaskError::Failed(Failure::Encode(m)) => Error::Encode(m),
            TaskError::WorkerDied { pid, status } => Error::WorkerDied { pid, status },
            TaskError::Broken { pid, status } => Error::BrokenProcessPool { pid, status },
            TaskError::Cancelled => Error::Cancelled,
            TaskError::StartFailed(m) => Error::WorkerStartFailed(m),
        }
    }
}

/// A reply's result bytes: `frame[range]` is the postcard `Vec<R>`. The
/// replies of one frame share it.
#[derive(Debug)]
pub(crate) struct Payload {
    pub(crate) frame: Arc<Vec<u8>>,
    pub(crate) range: std::ops::Range<usize>,
}

/// What became of a task.
pub(crate) type Outcome = Result<Payload, TaskError>;

/// Decode a finished task's results.
pub(crate) fn decode<R: DeserializeOwned>(outcome: &Outcome) -> Result<Vec<R>> {
    match outcome {
        Ok(p) => postcard::from_bytes(&p.frame[p.range.clone()])
            .map_err(|e| Error::Decode(e.to_string())),
        Err(e) => Err(e.to_error()),
    }
}

/// Decode the single result of an `apply`-style task.
pub(crate) fn decode_one<R: DeserializeOwned>(outcome: &Outcome) -> Result<R> {
    decode::<R>(outcome)?
        .pop()
        .ok_or_else(|| Error::Decode("a one-item task returned no result".into()))
}

/// A callback ready to run, once the scheduler's lock is released.
pub(crate) type Thunk = Box<dyn FnOnce() + Send>;

/// Called (inside the lock) when a task with a callback completes; returns
/// the thunk that runs the user's callback once the lock is released.
pub(crate) type Stage = Box<dyn FnOnce(&Outcome) -> Thunk + Send>;

/// Where an iterator over many tasks (`imap_unordered`, `map`,
/// `as_completed`) learns of their completions: each registered task pushes
/// its key when it completes, so the queue is in completion order and
/// waiting costs O(1) per check instead of a scan of every pending task.
/// Locked only while the scheduler's lock is held, or alone.
pub(crate) type Listener = Arc<Mutex<VecDeque<u64>>>;

/// Lock a listener (a poisoned one is still a queue of keys).
pub(crate) fn queue(l: &Listener) -> std::sync::MutexGuard<'_, VecDeque<u64>> {
    l.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What to do when a worker dies unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDeath {
    /// Fail the tasks it held with `WorkerDied`, replace it (Pool).
    FailTask,
    /// Break the whole pool (ProcessPoolExecutor).
    Break,
}

/// How to build the workers.
pub(crate) struct Config {
    pub workers: usize,
    pub max_tasks: Option<usize>,
    pub initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    pub on_death: OnDeath,
    /// Replaces `Process` in the workers' default names (`ForkPoolWorker-3`).
    pub worker_name: Option<&'static str>,
    /// How many tasks a worker may hold at once (1: no prefetching).
    pub depth: usize,
    /// What the API calls `workers` and `max_tasks`, for error messages
    /// (`"processes"`, `"maxtasksperchild"`).
    pub names: [&'static str; 2],
    /// How workers (and their replacements) are started. `Spawn` and
    /// `ForkServer` both spawn them (the fork server passes no descriptor
    /// but the standard three, and a worker needs its socket). `None`: the
    /// program's method if `main` called `forklore::init()` and there is no
    /// initializer (a closure), `Fork` otherwise.
    pub method: Option<StartMethod>,
}

impl Config {
    /// The start method the workers will really have.
    pub(crate) fn resolved_method(&self) -> StartMethod {
        match self.method {
            Some(m) => m,
            None if self.initializer.is_none() && crate::start::server_is_spawned(None) => {
                crate::start::get_start_method()
            }
            None => StartMethod::Fork,
        }
    }
}

/// Check a count that must be at least 1.
pub(crate) fn at_least_one(what: &'static str, got: usize) -> Result<usize> {
    if got == 0 {
        Err(Error::InvalidCount { what, got })
    } else {
        Ok(got)
    }
}

/// Reap `process`, killing it with SIGKILL if it has not ended by `deadline`.
pub(crate) fn reap(process: &mut Process, deadline: Instant) -> ExitStatus {
    let left = deadline.saturating_duration_since(Instant::now());
    if let Ok(Some(status)) = process.join_timeout(left) {
        return status;
    }
    let _ = process.kill();
    process
        .join()
        .unwrap_or(ExitStatus::Signaled(Signal::SIGKILL))
}
