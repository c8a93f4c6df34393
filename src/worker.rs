//! The machinery shared by [`Pool`](crate::pool::Pool) and
//! [`ProcessPoolExecutor`](crate::executor::ProcessPoolExecutor): forked
//! worker processes, the wire format of tasks and results, and the scheduler
//! that drives them.
//!
//! # Who drives the pool
//! There is no background thread. The scheduler state ([`Core`]) lives in the
//! parent and is advanced by whichever call needs progress: `get`, `next`,
//! `join`, and (without blocking) every submission. Advancing means: hand
//! queued tasks to idle workers, `poll(2)` the workers' connections and
//! pidfds, read the replies, notice dead workers and replace them.
//!
//! The reason is `fork`. A pool must fork replacement workers long after it
//! started (after a worker died, or when `maxtasksperchild` retires one).
//! With a result-handler thread in the parent, those forks would happen in a
//! multithreaded process, where the child may inherit a lock some other
//! thread held at that instant and deadlock on it. Driving everything from
//! the thread that owns the pool keeps the parent as single-threaded as the
//! user's program is, so every fork is as sound as [`Process::start`]'s.
//! The price: the state is `Rc<RefCell<..>>`, so pools, results and futures
//! stay on the thread that made them (they are neither `Send` nor `Sync`),
//! and callbacks run inside the call that collected the result.
//!
//! # Tasks are function pointers
//! A task is a plain `fn(A) -> R`. The parent sends the function's address
//! and the address of a monomorphized trampoline (`call_map::<A, R>`) that
//! decodes the arguments, calls the function and encodes the results.
//! Both go as offsets from a symbol of forklore (`crate::start::spawn`'s
//! anchor), not as addresses: a forked worker has the parent's image at the
//! same addresses, a spawned one (start methods `spawn`, `forkserver`) the
//! same executable elsewhere, and the offsets name the same functions in
//! both. Closures are not accepted
//! (only non-capturing ones, which coerce to `fn` pointers), because what a
//! closure captures after the fork exists only in the parent.
//!
//! # The wire
//! Every message is a frame of [`Connection`], and a frame carries one or
//! more records, so that several small tasks (or results) cost one system
//! call and one wake-up:
//! - tasks, parent to worker: per task, postcard `(id: u64, call: usize,
//!   func: usize)`, a 4-byte little-endian length, then the postcard `Vec<A>`
//!   of arguments (a chunk: `apply` sends a chunk of one);
//! - stop, parent to worker: an empty frame;
//! - replies, worker to parent: per task, postcard `id`, a tag (`0` for
//!   results, `1` for a [`Failure`]), a 4-byte little-endian length, then the
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
//! replies together. A reply is thus delayed by at most the one task that
//! follows it. Prefetched records are small, so they always fit in the
//! socket buffer: the parent's writes never block on a worker that is itself
//! blocked writing a large reply. An executor does not prefetch, so that
//! every task no worker has taken can still be cancelled.
//!
//! # When a worker dies
//! Every task the worker held fails with `WorkerDied` (a `Pool`) or breaks
//! the executor: the one it was running, and in a busy pool the few it had
//! been handed ahead or had finished without reporting yet. Which of those
//! had run is unknowable, so none is run again: a task runs at most once.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::os::Signal;
use crate::start::spawn::{address_of, offset_of};
use crate::start::StartMethod;
use nix::poll::{PollFd, PollFlags};
use nix::unistd::{getpid, Pid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::connection::{pipe, Connection};
use crate::error::{Error, Result};
use crate::process::{exit_child, ExitStatus, Process};

/// A worker holds at most this many tasks at once (one running, the rest
/// prefetched).
pub(crate) const PREFETCH_DEPTH: usize = 4;
/// Only task records up to this size are prefetched.
const PREFETCH_MAX_RECORD: usize = 4096;
/// A worker holds back the reply of a task quicker than this while it has
/// more tasks in hand.
pub(crate) const COALESCE_BELOW: Duration = Duration::from_micros(100);
/// ... but sends as soon as the held-back replies reach this size.
const COALESCE_MAX_BYTES: usize = 64 * 1024;
/// The largest frame on a pool's sockets. Both ends are this crate's own
/// processes, so the limit only has to match the 4-byte record lengths.
const MAX_FRAME: usize = u32::MAX as usize;
/// How long a worker that should exit (SIGTERM, or the end of its tasks) is
/// given before it is killed with SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// Identifies one task (one chunk) within a [`Core`].
pub(crate) type TaskId = u64;

/// The trampoline a worker calls: decode the arguments in `args`, call the
/// function at address `func`, append the encoded results to `out`.
pub(crate) type Call = fn(func: usize, args: &[u8], out: &mut Vec<u8>) -> Result<(), Failure>;

/// Why a worker could not produce results for a task; sent back in the reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The function panicked.
    Panicked {
        message: String,
        location: Option<String>,
    },
    /// The arguments did not decode.
    Decode(String),
    /// The results did not encode.
    Encode(String),
}

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
        }
    }
}

/// A reply's result bytes: `frame[range]` is the postcard `Vec<R>`. The
/// replies of one frame share it.
#[derive(Debug)]
pub(crate) struct Payload {
    frame: Rc<Vec<u8>>,
    range: std::ops::Range<usize>,
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

/// Called (inside the borrow) when a task with a callback completes; returns
/// the thunk that runs the user's callback once the borrow is released.
pub(crate) type Stage = Box<dyn FnOnce(&Outcome) -> Box<dyn FnOnce()>>;

/// Where an iterator over many tasks (`imap_unordered`, `map`,
/// `as_completed`) learns of their completions: each registered task pushes
/// its key when it completes, so the queue is in completion order and
/// waiting costs O(1) per check instead of a scan of every pending task.
pub(crate) type Listener = Rc<RefCell<VecDeque<u64>>>;

/// The trampoline for `fn(A) -> R`.
pub(crate) fn call_map<A: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    // SAFETY: `func` is the address of a `fn(A) -> R` that the parent
    // obtained from a real function pointer of exactly this type, and sent
    // along with this very instantiation of `call_map` as the trampoline.
    // This worker is a fork of that parent: the same executable mapped at the
    // same addresses, so the address names the same function here. Only `fn`
    // pointers are accepted by the public API, never closures with captures.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    run_chunk(args, out, f)
}

/// The trampoline for `fn(A, B) -> R` over pairs (`starmap`).
pub(crate) fn call_star<A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    // SAFETY: as in `call_map`, for a `fn(A, B) -> R`.
    let f = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(func) };
    run_chunk(args, out, |(a, b)| f(a, b))
}

fn run_chunk<T: DeserializeOwned, R: Serialize>(
    args: &[u8],
    out: &mut Vec<u8>,
    f: impl Fn(T) -> R,
) -> Result<(), Failure> {
    let items: Vec<T> = postcard::from_bytes(args).map_err(|e| Failure::Decode(e.to_string()))?;
    let results: Vec<R> = items.into_iter().map(f).collect();
    postcard::to_io(&results, out).map_err(|e| Failure::Encode(e.to_string()))?;
    Ok(())
}

/// The encoded record of one task.
fn task_record<T: Serialize>(id: TaskId, call: Call, func: usize, items: &[T]) -> Result<Vec<u8>> {
    let enc = |e: postcard::Error| Error::Encode(e.to_string());
    // Offsets from a symbol of forklore, not addresses: a spawned worker
    // maps the executable elsewhere (see `crate::start::spawn`).
    let (call, func) = (offset_of(call as usize), offset_of(func));
    let mut record = postcard::to_extend(&(id, call, func), Vec::new()).map_err(enc)?;
    if !with_length(&mut record, |out| postcard::to_io(items, out).map(drop)).map_err(enc)? {
        return Err(Error::Encode("a task's arguments exceed 4 GiB".into()));
    }
    Ok(record)
}

/// Append to `out` a 4-byte little-endian length, then what `body`
/// appends. False (and `out` left with a wrong length) if that exceeds
/// `u32::MAX` bytes.
fn with_length<E>(
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<bool, E> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out)?;
    let Ok(len) = u32::try_from(out.len() - at - 4) else {
        return Ok(false);
    };
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(true)
}

/// Split a 4-byte length and that many bytes off the front of `bytes`.
fn split_length(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let body = bytes.get(4..4 + len)?;
    Some((body, &bytes[4 + len..]))
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

/// Check a count that must be at least 1.
pub(crate) fn at_least_one(what: &'static str, got: usize) -> Result<usize> {
    if got == 0 {
        Err(Error::InvalidCount { what, got })
    } else {
        Ok(got)
    }
}

enum State {
    /// Waiting in the backlog; the record to send.
    Queued(Vec<u8>),
    /// Handed to a worker.
    Running,
    Done(Outcome),
}

struct Task {
    state: State,
    stage: Option<Stage>,
    /// Queues to push a key to on completion.
    listeners: Vec<(Listener, u64)>,
    /// No handle refers to this task any more: drop it once it completes.
    abandoned: bool,
    /// Completion order, to queue tasks that finished before a listener
    /// registered (see [`Core::listen`]).
    done_seq: u64,
}

struct Worker {
    process: Process,
    conn: Connection,
    /// A pidfd, so that a worker's death is seen even if a grandchild
    /// inherited (and keeps open) the worker's end of the socket.
    pidfd: Option<OwnedFd>,
    /// Tasks sent and not yet answered, oldest first: the first is running.
    inflight: VecDeque<TaskId>,
    /// Tasks given to this worker, counted against `max_tasks`.
    assigned: usize,
    /// Tasks answered.
    answered: usize,
}

impl Worker {
    fn pid(&self) -> i32 {
        self.process.pid().map(crate::Pid::as_raw).unwrap_or(0)
    }
}

/// The scheduler state shared by a pool and its result handles.
pub(crate) struct Core {
    owner: Pid,
    config: Config,
    slots: Vec<Option<Worker>>,
    backlog: VecDeque<TaskId>,
    tasks: HashMap<TaskId, Task>,
    next_id: TaskId,
    next_seq: u64,
    /// Whether new tasks are taken (false after close, shutdown, terminate).
    pub accepting: bool,
    /// The workers have been stopped or terminated; none is started again.
    stopped: bool,
    /// The worker death that broke an executor.
    pub broken: Option<(i32, ExitStatus)>,
    /// Callback thunks to run once the borrow is released.
    thunks: Vec<Box<dyn FnOnce()>>,
}

/// A [`Core`] shared by a pool and the handles to its results.
pub(crate) type Shared = Rc<RefCell<Core>>;

impl Core {
    /// Fork `config.workers` workers.
    ///
    /// # Errors
    /// [`Error::InvalidCount`] for 0 workers or a `max_tasks` of 0; the
    /// errors of forking otherwise.
    pub(crate) fn start(config: Config) -> Result<Shared> {
        let [workers, max_tasks] = config.names;
        let n = at_least_one(workers, config.workers)?;
        if let Some(m) = config.max_tasks {
            at_least_one(max_tasks, m)?;
        }
        let mut core = Core {
            owner: getpid(),
            config,
            slots: (0..n).map(|_| None).collect(),
            backlog: VecDeque::new(),
            tasks: HashMap::new(),
            next_id: 0,
            next_seq: 0,
            accepting: true,
            stopped: false,
            broken: None,
            thunks: Vec::new(),
        };
        for slot in 0..n {
            core.spawn(slot)?;
        }
        Ok(Rc::new(RefCell::new(core)))
    }

    /// True in the process that created the pool (not in a forked copy).
    pub(crate) fn is_owner(&self) -> bool {
        getpid() == self.owner
    }

    /// Refuse to drive a copy of the pool inherited through `fork`: its
    /// sockets and pids are the parent's workers.
    fn check_owner(&self) -> Result<()> {
        if self.is_owner() {
            Ok(())
        } else {
            Err(Error::ForeignPool {
                owner: self.owner.as_raw(),
            })
        }
    }

    /// Number of worker slots.
    pub(crate) fn size(&self) -> usize {
        self.slots.len()
    }

    /// Queue a task over `items`. The caller has checked that the pool
    /// accepts tasks.
    pub(crate) fn submit<T: Serialize>(
        &mut self,
        call: Call,
        func: usize,
        items: &[T],
        stage: Option<Stage>,
    ) -> Result<TaskId> {
        self.check_owner()?;
        let id = self.next_id;
        let record = task_record(id, call, func, items)?;
        self.next_id += 1;
        self.tasks.insert(
            id,
            Task {
                state: State::Queued(record),
                stage,
                listeners: Vec::new(),
                abandoned: false,
                done_seq: 0,
            },
        );
        self.backlog.push_back(id);
        Ok(id)
    }

    /// The outcome of a finished task.
    pub(crate) fn outcome(&self, id: TaskId) -> Option<&Outcome> {
        match &self.tasks.get(&id)?.state {
            State::Done(o) => Some(o),
            _ => None,
        }
    }

    pub(crate) fn is_done(&self, id: TaskId) -> bool {
        self.outcome(id).is_some()
    }

    /// True once the task has been handed to a worker and not yet finished.
    pub(crate) fn is_running(&self, id: TaskId) -> bool {
        matches!(self.tasks.get(&id).map(|t| &t.state), Some(State::Running))
    }

    /// The handle to `id` is gone: forget it now, or when it completes.
    pub(crate) fn abandon(&mut self, id: TaskId) {
        if let Some(t) = self.tasks.get_mut(&id) {
            if matches!(t.state, State::Done(_)) {
                self.tasks.remove(&id);
            } else {
                t.abandoned = true;
            }
        }
    }

    /// Cancel a task that no worker has taken yet. False if it has started
    /// or finished (a cancelled task stays cancelled: true again).
    pub(crate) fn cancel(&mut self, id: TaskId) -> bool {
        match self.tasks.get(&id).map(|t| &t.state) {
            Some(State::Queued(_)) => {
                self.backlog.retain(|&b| b != id);
                self.complete(id, Err(TaskError::Cancelled));
                true
            }
            Some(State::Done(Err(TaskError::Cancelled))) => true,
            _ => false,
        }
    }

    /// Cancel every task no worker has taken yet.
    pub(crate) fn cancel_queued(&mut self) {
        for id in std::mem::take(&mut self.backlog) {
            self.complete(id, Err(TaskError::Cancelled));
        }
    }

    /// Cancel those of `ids` that no worker has taken yet, with one pass
    /// over the backlog.
    pub(crate) fn cancel_all(&mut self, ids: &[TaskId]) {
        let queued: std::collections::HashSet<TaskId> = ids
            .iter()
            .copied()
            .filter(|id| matches!(self.tasks.get(id).map(|t| &t.state), Some(State::Queued(_))))
            .collect();
        self.backlog.retain(|id| !queued.contains(id));
        for id in queued {
            self.complete(id, Err(TaskError::Cancelled));
        }
    }

    /// Tasks are queued or running.
    pub(crate) fn busy(&self) -> bool {
        !self.backlog.is_empty() || self.slots.iter().flatten().any(|w| !w.inflight.is_empty())
    }

    /// Stop the workers once there is no more work: each gets an empty
    /// frame, finishes and is reaped. Call when `!busy()`.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.accepting = false;
        let mut workers: Vec<Worker> = self.slots.iter_mut().filter_map(Option::take).collect();
        for w in &mut workers {
            // A worker that has died already cannot take the frame; it is
            // reaped below all the same.
            let _ = w.conn.send_bytes(&[]);
        }
        let deadline = Instant::now() + GRACE;
        for mut w in workers {
            reap(&mut w.process, deadline);
        }
    }

    /// Kill the workers now (SIGTERM, then SIGKILL after a grace period),
    /// reap them, and fail every unfinished task with `failure`.
    pub(crate) fn terminate(&mut self, failure: TaskError) {
        self.stopped = true;
        self.accepting = false;
        let mut workers: Vec<Worker> = self.slots.iter_mut().filter_map(Option::take).collect();
        if !self.is_owner() {
            // A forked copy: the workers are the parent's. Drop only this
            // process's copies of their sockets (`Process` does not signal
            // or wait for a child that is not its own).
            workers.clear();
        }
        for w in &mut workers {
            let _ = w.process.terminate();
        }
        let deadline = Instant::now() + GRACE;
        for mut w in workers {
            reap(&mut w.process, deadline);
        }
        self.backlog.clear();
        let unfinished: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| !matches!(t.state, State::Done(_)))
            .map(|(&id, _)| id)
            .collect();
        for id in unfinished {
            self.complete(id, Err(failure.clone()));
        }
        // CPython never calls the callbacks of a terminated pool's tasks.
        // (Listeners have been told: iterators must not wait for these.)
        self.thunks.clear();
    }

    /// Fork a worker into an empty slot.
    fn spawn(&mut self, slot: usize) -> Result<()> {
        let (mut parent_end, mut child_end) = pipe()?;
        parent_end.set_max_message_size(MAX_FRAME);
        child_end.set_max_message_size(MAX_FRAME);
        // The child closes the parent's ends of every other worker's socket
        // (and their pidfds), and of its own: otherwise a worker would keep
        // a sibling's channel open, and would not see EOF when the parent dies.
        let mut inherited: Vec<RawFd> = self
            .slots
            .iter()
            .flatten()
            .flat_map(|w| {
                std::iter::once(w.conn.as_fd().as_raw_fd())
                    .chain(w.pidfd.as_ref().map(|p| p.as_raw_fd()))
            })
            .collect();
        inherited.push(parent_end.as_fd().as_raw_fd());
        let mut drop_after_start = Vec::new();
        let init = self.config.initializer.clone();
        let max_tasks = self.config.max_tasks;
        let method = match self.config.method {
            Some(m) => m,
            None if self.config.initializer.is_none() && crate::start::server_is_spawned(None) => {
                crate::start::get_start_method()
            }
            None => StartMethod::Fork,
        };
        let mut process = if method == StartMethod::Fork {
            // `start` forks; in the parent it drops the closure, and with it
            // the worker's end of the socket. A worker dies with the owner,
            // even in the middle of a task (see `crate::orphan`, which
            // explains why this is right from any thread).
            let owner = crate::orphan::Owner::here();
            Process::new(move || {
                if !owner.arm(libc::SIGKILL) {
                    exit_child(0);
                }
                worker_main(child_end, &inherited, init, max_tasks)
            })
        } else {
            if init.is_some() {
                return Err(Error::InvalidArgument(format!(
                    "a worker initializer is a closure, which only the fork start method can \
                     run; workers started by {method} cannot have one"
                )));
            }
            let fd = child_end.as_fd().as_raw_fd();
            // The spawned worker inherits `fd` (only it: every other socket
            // of this pool is close-on-exec); ours is closed once it started.
            let p = Process::from_fn(spawned_worker, SpawnedWorker { fd, max_tasks })
                .start_method(StartMethod::Spawn)
                .inherit_fd(fd);
            drop_after_start.push(child_end);
            p
        }
        .daemon(true);
        if let Some(prefix) = self.config.worker_name {
            let prefix = match method {
                StartMethod::Fork => prefix,
                // CPython: `SpawnPoolWorker-3`, `ForkServerPoolWorker-3`.
                StartMethod::Spawn => "SpawnPoolWorker",
                StartMethod::ForkServer => "ForkServerPoolWorker",
            };
            let name = process.get_name().replacen("Process", prefix, 1);
            process = process.name(name);
        }
        process.start()?;
        drop(drop_after_start);
        let pidfd = process
            .pid()
            .map(crate::Pid::to_nix)
            .and_then(crate::sys::pidfd_open);
        self.slots[slot] = Some(Worker {
            process,
            conn: parent_end,
            pidfd,
            inflight: VecDeque::new(),
            assigned: 0,
            answered: 0,
        });
        Ok(())
    }

    /// Hand queued tasks to workers, starting workers in empty slots.
    ///
    /// First every idle worker gets one task, in slot order; then, while the
    /// backlog outnumbers the workers, each is topped up round-robin to the
    /// prefetch depth with small tasks. A worker's tasks go in one frame.
    fn dispatch(&mut self) -> Result<()> {
        if self.stopped || self.broken.is_some() || self.backlog.is_empty() {
            return Ok(());
        }
        let n = self.slots.len();
        for slot in 0..n {
            if self.slots[slot].is_none() {
                self.spawn(slot)?;
            }
        }
        let quota =
            |w: &Worker, extra: usize| self.config.max_tasks.is_none_or(|m| w.assigned + extra < m);
        let mut given: Vec<Vec<TaskId>> = vec![Vec::new(); n];
        for (slot, w) in self.slots.iter().enumerate() {
            let w = w.as_ref().expect("spawned above");
            if w.inflight.is_empty() && quota(w, 0) {
                let Some(id) = self.backlog.pop_front() else {
                    break;
                };
                given[slot].push(id);
            }
        }
        'prefetch: loop {
            let mut more = false;
            for (slot, w) in self.slots.iter().enumerate() {
                let w = w.as_ref().expect("spawned above");
                let held = w.inflight.len() + given[slot].len();
                if held == 0 || held >= self.config.depth || !quota(w, given[slot].len()) {
                    continue;
                }
                let Some(&id) = self.backlog.front() else {
                    break 'prefetch;
                };
                let small = matches!(&self.tasks[&id].state,
                    State::Queued(r) if r.len() <= PREFETCH_MAX_RECORD);
                if self.backlog.len() <= n || !small {
                    break 'prefetch;
                }
                self.backlog.pop_front();
                given[slot].push(id);
                more = true;
            }
            if !more {
                break;
            }
        }
        for (slot, ids) in given.into_iter().enumerate() {
            if !ids.is_empty() {
                self.hand(slot, ids);
            }
        }
        Ok(())
    }

    /// Send tasks `ids` (taken from the backlog) to the worker in `slot`,
    /// in one frame.
    fn hand(&mut self, slot: usize, ids: Vec<TaskId>) {
        fn record(t: &Task) -> &[u8] {
            match &t.state {
                State::Queued(r) => r,
                _ => unreachable!("tasks taken from the backlog are queued"),
            }
        }
        let Some(w) = self.slots[slot].as_mut() else {
            // An executor broke while handing out work (another worker was
            // found dead): `terminate` has failed these tasks already.
            return;
        };
        let sent = if let [id] = ids[..] {
            w.conn.send_bytes(record(&self.tasks[&id]))
        } else {
            let mut frame = Vec::new();
            for id in &ids {
                frame.extend_from_slice(record(&self.tasks[id]));
            }
            w.conn.send_bytes(&frame)
        };
        if sent.is_err() {
            // The worker is gone (EPIPE): the tasks never reached it. Back to
            // the front of the backlog they go, for the next worker. It may
            // have answered tasks it held before it died: read those
            // answers first, then handle its death.
            for &id in ids.iter().rev() {
                self.backlog.push_front(id);
            }
            self.service(slot, true);
            return;
        }
        w.assigned += ids.len();
        for id in ids {
            w.inflight.push_back(id);
            self.tasks.get_mut(&id).expect("a live task").state = State::Running;
        }
    }

    /// Wait up to `timeout` (`None`: without limit) for replies or deaths,
    /// and handle them.
    fn wait_events(&mut self, timeout: Option<Duration>) -> Result<()> {
        let mut ready: Vec<(usize, bool)> = Vec::new();
        {
            let mut fds = Vec::new();
            let mut owners = Vec::new();
            for (slot, w) in self.slots.iter().enumerate() {
                let Some(w) = w else { continue };
                fds.push(PollFd::new(w.conn.as_fd(), PollFlags::POLLIN));
                owners.push((slot, false));
                if let Some(p) = &w.pidfd {
                    fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                    owners.push((slot, true));
                }
            }
            if fds.is_empty() {
                return Ok(());
            }
            crate::sys::poll(&mut fds, timeout.and_then(crate::sys::deadline))?;
            for (fd, owner) in fds.iter().zip(owners) {
                if fd.revents().is_some_and(|r| !r.is_empty()) {
                    ready.push(owner);
                }
            }
        }
        for (slot, exited) in ready {
            self.service(slot, exited);
        }
        Ok(())
    }

    /// Read every reply the worker in `slot` has sent; then, if it is gone
    /// (EOF, or its pidfd says it exited), handle its death.
    fn service(&mut self, slot: usize, exited: bool) {
        loop {
            let Some(w) = self.slots[slot].as_mut() else {
                return;
            };
            if !w.conn.poll(Duration::ZERO).unwrap_or(true) {
                break;
            }
            match w.conn.recv_bytes() {
                Ok(bytes) => self.on_reply(slot, bytes),
                Err(_) => {
                    self.worker_gone(slot);
                    return;
                }
            }
        }
        if exited && self.slots[slot].is_some() {
            self.worker_gone(slot);
        }
    }

    /// Handle a frame of replies from the worker in `slot`.
    fn on_reply(&mut self, slot: usize, frame: Vec<u8>) {
        let frame = Rc::new(frame);
        let mut at = 0;
        while at < frame.len() {
            let w = self.slots[slot].as_mut().expect("a live worker");
            let Some((id, tag, body, next)) =
                parse_reply(&frame, at).filter(|(id, ..)| w.inflight.front() == Some(id))
            else {
                // Not the reply to the task this worker holds first: it no
                // longer speaks our protocol. Treat it as dead.
                let _ = w.process.kill();
                self.worker_gone(slot);
                return;
            };
            at = next;
            w.inflight.pop_front();
            w.answered += 1;
            let retiring = self.config.max_tasks == Some(w.answered);
            let outcome = if tag == 0 {
                Ok(Payload {
                    frame: frame.clone(),
                    range: body,
                })
            } else {
                let failure = postcard::from_bytes::<Failure>(&frame[body])
                    .unwrap_or_else(|e| Failure::Decode(format!("unreadable failure report: {e}")));
                Err(TaskError::Failed(failure))
            };
            self.complete(id, outcome);
            if retiring {
                // The worker has done its `max_tasks` and exits by itself.
                let mut w = self.slots[slot].take().expect("a live worker");
                reap(&mut w.process, Instant::now() + GRACE);
                return;
            }
        }
    }

    /// The worker in `slot` died or broke the protocol: reap it and deal
    /// with the tasks it held.
    fn worker_gone(&mut self, slot: usize) {
        let Some(mut w) = self.slots[slot].take() else {
            return;
        };
        let pid = w.pid();
        let status = reap(&mut w.process, Instant::now() + GRACE);
        match self.config.on_death {
            OnDeath::FailTask => {
                // Every task it held may have run: fail them all, rerun none.
                for id in w.inflight {
                    self.complete(id, Err(TaskError::WorkerDied { pid, status }));
                }
            }
            OnDeath::Break => self.break_pool(pid, status),
        }
    }

    /// An executor's worker died: keep the results other workers have
    /// already sent, fail everything else, stop all workers.
    fn break_pool(&mut self, pid: i32, status: ExitStatus) {
        if self.broken.is_some() {
            return;
        }
        self.broken = Some((pid, status));
        self.accepting = false;
        for slot in 0..self.slots.len() {
            self.service(slot, false);
        }
        self.terminate(TaskError::Broken { pid, status });
    }

    /// Record a task's outcome, tell its listeners, stage its callback.
    fn complete(&mut self, id: TaskId, outcome: Outcome) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        for (listener, key) in task.listeners.drain(..) {
            listener.borrow_mut().push_back(key);
        }
        if let Some(stage) = task.stage.take() {
            self.thunks.push(stage(&outcome));
        }
        if task.abandoned {
            self.tasks.remove(&id);
            return;
        }
        task.done_seq = self.next_seq;
        self.next_seq += 1;
        task.state = State::Done(outcome);
    }

    /// Have `listener` receive `key` when task `id` completes. If it has
    /// completed already, nothing is registered and its completion number is
    /// returned instead (`u64::MAX` for a task this core no longer knows), so
    /// the caller can queue such tasks in completion order.
    pub(crate) fn listen(&mut self, id: TaskId, listener: &Listener, key: u64) -> Option<u64> {
        let Some(task) = self.tasks.get_mut(&id) else {
            return Some(u64::MAX);
        };
        if matches!(task.state, State::Done(_)) {
            return Some(task.done_seq);
        }
        task.listeners.push((listener.clone(), key));
        None
    }

    /// Forget a finished task whose results have been taken.
    pub(crate) fn forget(&mut self, id: TaskId) {
        self.tasks.remove(&id);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // A copy inherited through fork does not own the workers.
        if self.is_owner() {
            self.terminate(TaskError::Cancelled);
        }
    }
}

/// Advance the pool until `done` holds, or the timeout (`None`: none) ends.
///
/// Returns `Ok(false)` on timeout, and also if nothing is left that could
/// make `done` true (no task queued or running).
pub(crate) fn pump(
    core: &Shared,
    timeout: Option<Duration>,
    mut done: impl FnMut(&Core) -> bool,
) -> Result<bool> {
    core.borrow().check_owner()?;
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let verdict;
        let thunks;
        {
            let mut c = core.borrow_mut();
            c.dispatch()?;
            if done(&c) {
                verdict = Some(true);
            } else if !c.busy() {
                verdict = Some(false);
            } else {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if left == Some(Duration::ZERO) && timeout.is_some_and(|t| !t.is_zero()) {
                    verdict = Some(false);
                } else {
                    c.wait_events(left)?;
                    c.dispatch()?;
                    verdict = (left == Some(Duration::ZERO)).then(|| done(&c));
                }
            }
            thunks = std::mem::take(&mut c.thunks);
        }
        for thunk in thunks {
            thunk();
        }
        if let Some(v) = verdict {
            return Ok(v);
        }
    }
}

/// Collect whatever has finished and hand out queued work, without waiting.
pub(crate) fn sweep(core: &Shared) -> Result<()> {
    pump(core, Some(Duration::ZERO), |_| false).map(|_| ())
}

/// A typed handle to one task's result: the common part of `AsyncResult`
/// and `Future`.
pub(crate) struct Handle<R> {
    pub core: Shared,
    pub id: TaskId,
    _result: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Handle<R> {
    pub(crate) fn new(core: Shared, id: TaskId) -> Self {
        Handle {
            core,
            id,
            _result: PhantomData,
        }
    }

    /// Wait until the task is finished. False on timeout.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        let id = self.id;
        pump(&self.core, timeout, |c| c.is_done(id))
    }

    /// Whether the task has finished (after collecting what has arrived).
    pub(crate) fn done(&self) -> bool {
        self.wait(Some(Duration::ZERO)).unwrap_or(false)
    }

    /// Wait for the task and decode its result; `op` names the call in a
    /// timeout error.
    pub(crate) fn get(&self, timeout: Option<Duration>, op: &'static str) -> Result<R> {
        if !self.wait(timeout)? {
            return Err(match timeout {
                Some(after) => Error::Timeout { op, after },
                // Nothing can finish it any more (it cannot happen while the
                // pool keeps its invariants); never wait forever.
                None => Error::Cancelled,
            });
        }
        decode_one(self.core.borrow().outcome(self.id).expect("finished"))
    }

    /// The finished task's error, if it failed (`None` while unfinished).
    pub(crate) fn error(&self) -> Option<Error> {
        match self.core.borrow().outcome(self.id)? {
            Ok(_) => None,
            Err(e) => Some(e.to_error()),
        }
    }
}

impl<R> Drop for Handle<R> {
    fn drop(&mut self) {
        if let Ok(mut c) = self.core.try_borrow_mut() {
            c.abandon(self.id);
        }
    }
}

/// Register `listener` for every `(key, id)`; the tasks that are already
/// done are queued at once, in the order they completed.
pub(crate) fn listen_all(
    core: &Shared,
    listener: &Listener,
    tasks: impl Iterator<Item = (u64, TaskId)>,
) {
    let mut c = core.borrow_mut();
    let mut done: Vec<(u64, u64)> = tasks
        .filter_map(|(key, id)| c.listen(id, listener, key).map(|seq| (seq, key)))
        .collect();
    done.sort_unstable();
    listener
        .borrow_mut()
        .extend(done.into_iter().map(|(_, key)| key));
}

/// The results of a set of chunks, in order or as they complete: the
/// machinery of `map`, `imap`, `imap_unordered` and the executor's `map`.
pub(crate) struct Chunks<R> {
    core: Shared,
    /// Every chunk, in submission order.
    ids: Vec<TaskId>,
    /// The chunks' ids in completion order (the ones not yet yielded, when
    /// unordered).
    ready: Listener,
    /// Ordered: the index in `ids` of the next chunk to yield.
    next: usize,
    /// Chunks not yet yielded.
    left: usize,
    ordered: bool,
    /// After an error or a timeout, cancel the rest and end (the executor's
    /// `map`); otherwise yield the error in place of the chunk and go on.
    stop_on_error: bool,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    current: std::vec::IntoIter<R>,
}

impl<R: DeserializeOwned> Chunks<R> {
    pub(crate) fn new(core: Shared, ids: Vec<TaskId>, ordered: bool) -> Self {
        let ready = Listener::default();
        listen_all(&core, &ready, ids.iter().map(|&id| (id, id)));
        Chunks {
            core,
            left: ids.len(),
            ids,
            ready,
            next: 0,
            ordered,
            stop_on_error: false,
            deadline: None,
            timeout: None,
            current: Vec::new().into_iter(),
        }
    }

    /// End at the first error, and give up after `timeout` from now.
    pub(crate) fn stop_on_error(mut self, timeout: Option<Duration>) -> Self {
        self.stop_on_error = true;
        self.timeout = timeout;
        self.deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self
    }

    /// Wait for every chunk, then return all results in order, or the
    /// first error to have happened (Python's `map`: errors are reported
    /// only once every chunk has finished).
    pub(crate) fn collect_all(self) -> Result<Vec<R>> {
        let total = self.ids.len();
        let ready = &self.ready;
        pump(&self.core, None, |_| ready.borrow().len() == total)?;
        let c = self.core.borrow();
        if ready.borrow().len() < total {
            return Err(Error::Cancelled);
        }
        for &id in ready.borrow().iter() {
            if let Some(Err(e)) = c.outcome(id) {
                return Err(e.to_error());
            }
        }
        let mut out = Vec::new();
        for &id in &self.ids {
            out.extend(decode::<R>(c.outcome(id).ok_or(Error::Cancelled)?)?);
        }
        Ok(out)
    }

    /// Cancel the chunks not yet started and end.
    fn finish(&mut self) {
        self.left = 0;
        self.core.borrow_mut().cancel_all(&self.ids);
    }

    /// Wait for the next chunk to yield; `None` on timeout.
    fn next_chunk(&mut self) -> Result<Option<TaskId>> {
        let timeout = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let ok = if self.ordered {
            let id = self.ids[self.next];
            pump(&self.core, timeout, |c| c.is_done(id))?
        } else {
            let ready = &self.ready;
            pump(&self.core, timeout, |_| !ready.borrow().is_empty())?
        };
        if !ok {
            return match timeout {
                Some(_) => Ok(None),
                None => Err(Error::Cancelled),
            };
        }
        self.left -= 1;
        Ok(Some(if self.ordered {
            self.next += 1;
            self.ids[self.next - 1]
        } else {
            self.ready.borrow_mut().pop_front().expect("not empty")
        }))
    }
}

impl<R: DeserializeOwned> Iterator for Chunks<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(Ok(item));
            }
            if self.left == 0 {
                return None;
            }
            let chunk = match self.next_chunk() {
                Ok(Some(id)) => {
                    let mut c = self.core.borrow_mut();
                    let r = c
                        .outcome(id)
                        .map_or(Err(Error::Cancelled), |o| decode::<R>(o));
                    c.forget(id);
                    r
                }
                Ok(None) => Err(Error::Timeout {
                    op: "map",
                    after: self.timeout.unwrap_or_default(),
                }),
                Err(e) => Err(e),
            };
            match chunk {
                Ok(items) => self.current = items.into_iter(),
                Err(e) => {
                    if self.stop_on_error {
                        self.finish();
                    }
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<R> Drop for Chunks<R> {
    fn drop(&mut self) {
        if let Ok(mut c) = self.core.try_borrow_mut() {
            // Chunks already yielded are forgotten; abandon() skips them.
            for &id in &self.ids {
                c.abandon(id);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The parent's helpers.

/// Reap `process`, killing it with SIGKILL if it has not ended by `deadline`.
fn reap(process: &mut Process, deadline: Instant) -> ExitStatus {
    let left = deadline.saturating_duration_since(Instant::now());
    if let Ok(Some(status)) = process.join_timeout(left) {
        return status;
    }
    let _ = process.kill();
    process
        .join()
        .unwrap_or(ExitStatus::Signaled(Signal::SIGKILL))
}

// ---------------------------------------------------------------------------
// The worker's side.

thread_local! {
    /// Set while a task runs, so the panic hook stays quiet and records.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// Where the last task panic happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The body of a worker process. Never returns.
/// What a spawned worker gets: the number of its inherited socket.
#[derive(Serialize, Deserialize)]
struct SpawnedWorker {
    fd: RawFd,
    max_tasks: Option<usize>,
}

/// The target of a spawned worker.
fn spawned_worker(args: SpawnedWorker) {
    use std::os::fd::FromRawFd;
    // SAFETY: the parent made this descriptor inheritable for this process
    // only and sent its number; nothing else here owns it.
    let stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(args.fd) };
    // SAFETY: F_SETFD on our own descriptor touches no memory.
    unsafe { libc::fcntl(args.fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let mut conn = Connection::from(stream);
    conn.set_max_message_size(MAX_FRAME);
    worker_main(conn, &[], None, args.max_tasks)
}

fn worker_main(
    mut conn: Connection,
    inherited: &[RawFd],
    init: Option<Arc<dyn Fn() + Send + Sync>>,
    max_tasks: Option<usize>,
) -> ! {
    for &fd in inherited {
        // SAFETY: these are the parent's ends of this pool's sockets (and its
        // pidfds), copied into this process by fork. The objects that own
        // them in this copy of the parent's memory are never used or dropped
        // here (a worker ends with `_exit`), so closing the numbers cannot
        // close anything twice or pull an fd from under code that uses it.
        unsafe { libc::close(fd) };
    }
    install_panic_hook();
    if let Some(init) = init {
        // A panicking initializer ends the worker (exit code 1, reported by
        // the hook of `Process`): the parent sees the worker die.
        init();
    }
    // The frame of tasks in hand, and where its next record starts.
    let mut frame: Vec<u8> = Vec::new();
    let mut at = 0;
    // Replies held back to be sent together.
    let mut replies: Vec<u8> = Vec::new();
    let mut answered = 0;
    loop {
        if at == frame.len() {
            flush(&mut conn, &mut replies);
            frame = match conn.recv_bytes() {
                Ok(f) if !f.is_empty() => f,
                // An empty frame is the stop signal; EOF: the parent is gone.
                _ => exit_child(0),
            };
            at = 0;
        }
        let started = Instant::now();
        let Some(next) = run_task(&frame, at, &mut replies) else {
            exit_child(70) // EX_SOFTWARE: not a task record
        };
        at = next;
        answered += 1;
        let last = max_tasks == Some(answered);
        if at == frame.len()
            || last
            || started.elapsed() >= COALESCE_BELOW
            || replies.len() >= COALESCE_MAX_BYTES
        {
            flush(&mut conn, &mut replies);
        }
        if last {
            exit_child(0);
        }
    }
}

/// Send the held-back replies, if any, in one frame.
fn flush(conn: &mut Connection, replies: &mut Vec<u8>) {
    if !replies.is_empty() {
        if conn.send_bytes(replies).is_err() {
            exit_child(0); // the parent is gone
        }
        replies.clear();
    }
}

/// Run the task record at `frame[at..]`, append its reply record to `out`,
/// and return where the next record starts; `None` if it is not a task.
fn run_task(frame: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    let ((id, call, func), rest) =
        postcard::take_from_bytes::<(TaskId, i64, i64)>(&frame[at..]).ok()?;
    let (call, func) = (address_of(call), address_of(func));
    let (args, rest) = split_length(rest)?;
    let next = frame.len() - rest.len();
    // SAFETY: `call` is the address of a trampoline of type `Call` in this
    // program, taken by the parent (`task_record`) from a real function;
    // this worker is a fork of the parent, so the address is that function.
    let call = unsafe { std::mem::transmute::<usize, Call>(call) };
    let mark = out.len();
    postcard::to_io(&id, &mut *out).ok()?;
    out.push(0);
    IN_TASK.with(|t| t.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| {
        with_length(out, |o| call(func, args, o))
    }));
    IN_TASK.with(|t| t.set(false));
    let failure = match result {
        Ok(Ok(true)) => return Some(next),
        Ok(Ok(false)) => Failure::Encode("a task's results exceed 4 GiB".into()),
        Ok(Err(f)) => f,
        Err(payload) => Failure::Panicked {
            message: panic_message(payload.as_ref()),
            location: PANIC_AT.with(|p| p.borrow_mut().take()),
        },
    };
    // Drop whatever the failed task appended; the replies held back before
    // it stay.
    out.truncate(mark);
    postcard::to_io(&id, &mut *out).ok()?;
    out.push(1);
    with_length(out, |o| postcard::to_io(&failure, o).map(drop))
        .ok()
        .filter(|&fits| fits)?;
    Some(next)
}

/// Parse the reply record at `frame[at..]`: its task, tag, the range of
/// its body, and where the next record starts.
fn parse_reply(frame: &[u8], at: usize) -> Option<(TaskId, u8, std::ops::Range<usize>, usize)> {
    let (id, rest) = postcard::take_from_bytes::<TaskId>(frame.get(at..)?).ok()?;
    let (&tag, rest) = rest.split_first()?;
    let (body, rest) = split_length(rest)?;
    let end = frame.len() - rest.len();
    Some((id, tag, end - body.len()..end, end))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// In a worker, a panic inside a task is caught and sent back to the
/// parent; printing it here too would report it twice. The hook records the
/// location for the reply and prints nothing; panics outside tasks go to the
/// hook that was there before.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_TASK.with(Cell::get) {
            PANIC_AT.with(|p| *p.borrow_mut() = info.location().map(|l| l.to_string()));
        } else {
            previous(info);
        }
    }));
}
