//! The scheduler state of a pool, in the owner's process. Every method here
//! returns without blocking on a worker; waiting is [`super::drive`]'s job.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use nix::unistd::{getpid, Pid};
use serde::Serialize;

use super::child::{spawned_worker, worker_main, SpawnedWorker};
use super::wire::{
    frame_of, parse_reply, payload_len, record_len, send_nonblocking, task_record, Call, Failure,
};
use super::{
    at_least_one, queue, reap, Config, Listener, OnDeath, Outcome, Payload, Stage, TaskError,
    TaskId, Thunk, GRACE, MAX_FRAME, PREFETCH_MAX_RECORD,
};
use crate::connection::{pipe, Connection};
use crate::error::{Error, Result};
use crate::process::{exit_child, ExitStatus, Process};
use crate::start::StartMethod;

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
    /// Its callback has been collected and not yet run: the task counts as
    /// finished only once it has (as in CPython, where the callback runs
    /// before the result is set).
    callback_due: bool,
}

/// A frame on its way to a worker.
struct Outgoing {
    /// Header and payload.
    bytes: Vec<u8>,
    /// How many bytes have been written.
    written: usize,
    /// How many tasks it carries (the last ones of `inflight`).
    tasks: usize,
}

struct Worker {
    process: Process,
    conn: Connection,
    /// A pidfd, so that a worker's death is seen even if a grandchild
    /// inherited (and keeps open) the worker's end of the socket.
    pidfd: Option<OwnedFd>,
    /// Tasks handed to it and not yet answered, oldest first: the first is
    /// running (if its frame has been written whole).
    inflight: VecDeque<TaskId>,
    /// Frames not yet written whole, oldest first.
    out: VecDeque<Outgoing>,
    /// Tasks given to this worker, counted against `max_tasks`.
    assigned: usize,
    /// Tasks answered.
    answered: usize,
}

impl Worker {
    fn pid(&self) -> i32 {
        self.process.pid().map(crate::Pid::as_raw).unwrap_or(0)
    }

    /// Tasks whose frame has not been written whole: the worker cannot have
    /// started them.
    fn unsent(&self) -> usize {
        self.out.iter().map(|o| o.tasks).sum()
    }
}

/// One fd to poll for the driver: its number, whether to wait for
/// writability too, and what it belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    pub fd: RawFd,
    pub write: bool,
    pub slot: usize,
    pub pidfd: bool,
}

/// The scheduler state shared by a pool and its result handles.
pub(crate) struct Core {
    owner: Pid,
    pub(crate) config: Config,
    slots: Vec<Option<Worker>>,
    backlog: VecDeque<TaskId>,
    tasks: HashMap<TaskId, Task>,
    /// The next task id, shared with [`super::drive::Inner`] so that a
    /// submission can take one without the lock.
    pub(crate) ids: Arc<AtomicU64>,
    next_seq: u64,
    /// Whether new tasks are taken (false after close, shutdown, terminate).
    pub accepting: bool,
    /// The workers have been stopped or terminated; none is started again.
    pub(crate) stopped: bool,
    /// The worker death that broke an executor.
    pub broken: Option<(i32, ExitStatus)>,
    /// Callback thunks to run once the lock is released, with their tasks.
    thunks: Vec<(TaskId, Thunk)>,
    /// Someone is the driver (see [`super::drive`]): only it polls or
    /// closes the workers' fds.
    pub(crate) driving: bool,
    /// The pool has a background thread (it is then always the driver).
    pub(crate) threaded: bool,
    /// The background thread should end.
    pub(crate) quit: bool,
    /// The driver is (about to be) asleep in `poll`: a submission must wake
    /// it. While it is awake, it dispatches before it sleeps again, so a
    /// submission needs no wake-up (and saves a system call).
    pub(crate) asleep: bool,
    /// Replace dead workers at once, not only when work is queued.
    eager: bool,
    /// Tasks finished whose callback has not run yet.
    callbacks_due: usize,
}

impl Core {
    /// Start `config.workers` workers.
    ///
    /// # Errors
    /// [`Error::InvalidCount`] for 0 workers or a `max_tasks` of 0; the
    /// errors of starting a process otherwise.
    pub(crate) fn start(config: Config, threaded: bool) -> Result<Core> {
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
            ids: Arc::default(),
            next_seq: 0,
            accepting: true,
            stopped: false,
            broken: None,
            thunks: Vec::new(),
            driving: false,
            threaded,
            quit: false,
            asleep: false,
            eager: threaded,
            callbacks_due: 0,
        };
        for slot in 0..n {
            core.spawn(slot)?;
        }
        Ok(core)
    }

    /// True in the process that created the pool (not in a forked copy).
    pub(crate) fn is_owner(&self) -> bool {
        getpid() == self.owner
    }

    /// Refuse to drive a copy of the pool inherited through `fork`: its
    /// sockets and pids are the parent's workers.
    pub(crate) fn check_owner(&self) -> Result<()> {
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
        let id = self.reserve_id();
        let record = task_record(id, call, func, items)?;
        self.submit_record(id, record, stage)
    }

    /// An id for a task about to be encoded (outside the lock, for a large
    /// one) and queued with [`submit_record`](Self::submit_record).
    pub(crate) fn reserve_id(&mut self) -> TaskId {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Queue a record made by `task_record` for a reserved id.
    pub(crate) fn submit_record(
        &mut self,
        id: TaskId,
        record: Vec<u8>,
        stage: Option<Stage>,
    ) -> Result<TaskId> {
        self.check_owner()?;
        self.tasks.insert(
            id,
            Task {
                state: State::Queued(record),
                stage,
                listeners: Vec::new(),
                abandoned: false,
                done_seq: 0,
                callback_due: false,
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

    /// Finished, and its callback (if any) has run.
    pub(crate) fn is_done(&self, id: TaskId) -> bool {
        self.outcome(id).is_some() && !self.tasks[&id].callback_due
    }

    /// True once the task has been handed to a worker and not yet finished.
    pub(crate) fn is_running(&self, id: TaskId) -> bool {
        matches!(self.tasks.get(&id).map(|t| &t.state), Some(State::Running))
    }

    /// The handle to `id` is gone: forget it now, or when it completes.
    pub(crate) fn abandon(&mut self, id: TaskId) {
        if let Some(t) = self.tasks.get_mut(&id) {
            if matches!(t.state, State::Done(_)) && !t.callback_due {
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
        let queued: HashSet<TaskId> = ids
            .iter()
            .copied()
            .filter(|id| matches!(self.tasks.get(id).map(|t| &t.state), Some(State::Queued(_))))
            .collect();
        if queued.is_empty() {
            return;
        }
        self.backlog.retain(|id| !queued.contains(id));
        for id in queued {
            self.complete(id, Err(TaskError::Cancelled));
        }
    }

    /// Tasks wait in the backlog (the workers hold all they may).
    pub(crate) fn backlogged(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Tasks are queued or running, or callbacks are due.
    pub(crate) fn busy(&self) -> bool {
        !self.backlog.is_empty()
            || self.callbacks_due > 0
            || self.slots.iter().flatten().any(|w| !w.inflight.is_empty())
    }

    /// The callbacks collected since the last call, to run unlocked; then
    /// call [`callbacks_ran`](Self::callbacks_ran) with their tasks.
    pub(crate) fn take_thunks(&mut self) -> Vec<(TaskId, Thunk)> {
        std::mem::take(&mut self.thunks)
    }

    /// The callbacks of `ids` have run (or panicked): the tasks are done.
    pub(crate) fn callbacks_ran(&mut self, ids: &[TaskId]) {
        for &id in ids {
            self.settle(id);
        }
    }

    /// A task whose callback is out of the way: tell its listeners, forget
    /// it if nobody holds it.
    fn settle(&mut self, id: TaskId) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        if std::mem::take(&mut task.callback_due) {
            self.callbacks_due -= 1;
        }
        for (listener, key) in task.listeners.drain(..) {
            queue(&listener).push_back(key);
        }
        if task.abandoned {
            self.tasks.remove(&id);
        }
    }

    /// Stop the workers once there is no more work: each gets an empty
    /// frame, finishes and is reaped. Call when `!busy()`, as the driver.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.accepting = false;
        let workers: Vec<Worker> = self.slots.iter_mut().filter_map(Option::take).collect();
        for w in &workers {
            // Not busy: nothing is waiting in the socket, so the 4-byte
            // frame fits. A worker that has died cannot take it; one that
            // does not read is killed after the grace period below.
            let _ = send_nonblocking(w.conn.as_fd().as_raw_fd(), &0i32.to_be_bytes());
        }
        let deadline = Instant::now() + GRACE;
        for mut w in workers {
            reap(&mut w.process, deadline);
        }
    }

    /// Kill the workers now (SIGTERM, then SIGKILL after a grace period),
    /// reap them, and fail every unfinished task with `failure`. Call as
    /// the driver.
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
        // (Listeners are told: iterators must not wait for these.)
        let dropped: Vec<TaskId> = self.thunks.drain(..).map(|(id, _)| id).collect();
        self.callbacks_ran(&dropped);
    }

    /// Start a worker in an empty slot.
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
        let method = self.config.resolved_method();
        let mut process = if method == StartMethod::Fork {
            // `start` forks (refused if the process has other threads); in
            // the parent it drops the closure, and with it the worker's end
            // of the socket. A worker dies with the owner, even in the
            // middle of a task (see `crate::orphan` for why SIGKILL is
            // right: a fork succeeds only in a single-threaded process).
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
        .daemon();
        if let Some(prefix) = self.config.worker_name {
            let prefix = match method {
                StartMethod::Fork => prefix,
                // CPython: `SpawnPoolWorker-3`, `ForkServerPoolWorker-3`.
                StartMethod::Spawn => "SpawnPoolWorker",
                StartMethod::ForkServer => "ForkServerPoolWorker",
            };
            let name = process.name().replacen("Process", prefix, 1);
            process = process.with_name(name);
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
            out: VecDeque::new(),
            assigned: 0,
            answered: 0,
        });
        Ok(())
    }

    /// Start workers in empty slots (when work is queued, or always in a
    /// threaded pool). If none can be started and none is alive, the
    /// backlog fails with the start error rather than wait for ever.
    fn fill_slots(&mut self) -> Result<()> {
        if self.stopped || self.broken.is_some() || (self.backlog.is_empty() && !self.eager) {
            return Ok(());
        }
        for slot in 0..self.slots.len() {
            if self.slots[slot].is_none() {
                if let Err(e) = self.spawn(slot) {
                    if self.slots.iter().all(Option::is_none) {
                        let why = e.to_string();
                        for id in std::mem::take(&mut self.backlog) {
                            self.complete(id, Err(TaskError::StartFailed(why.clone())));
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Hand queued tasks to workers, starting workers in empty slots.
    ///
    /// First every idle worker gets one task, in slot order; then, while the
    /// backlog outnumbers the workers, each is topped up round-robin to the
    /// prefetch depth with small tasks. A worker's tasks go in one frame,
    /// written without blocking. Call as the driver.
    pub(crate) fn dispatch(&mut self) -> Result<()> {
        self.fill_slots()?;
        if self.stopped || self.broken.is_some() || self.backlog.is_empty() {
            return Ok(());
        }
        let n = self.slots.len();
        let quota =
            |w: &Worker, extra: usize| self.config.max_tasks.is_none_or(|m| w.assigned + extra < m);
        let mut given: Vec<Vec<TaskId>> = vec![Vec::new(); n];
        for (slot, w) in self.slots.iter().enumerate() {
            let Some(w) = w else { continue };
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
                let Some(w) = w else { continue };
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

    /// Queue tasks `ids` (taken from the backlog) to the worker in `slot`,
    /// in one frame, and write what the socket takes now.
    fn hand(&mut self, slot: usize, ids: Vec<TaskId>) {
        let Some(w) = self.slots[slot].as_mut() else {
            // An executor broke while handing out work: `terminate` has
            // failed these tasks already.
            return;
        };
        let mut records = Vec::with_capacity(ids.len());
        for id in &ids {
            let task = self.tasks.get_mut(id).expect("a live task");
            match std::mem::replace(&mut task.state, State::Running) {
                State::Queued(r) => records.push(r),
                _ => unreachable!("tasks taken from the backlog are queued"),
            }
        }
        let len = records.iter().map(Vec::len).sum();
        let bytes = frame_of(len, |f| {
            for r in &records {
                f.extend_from_slice(r);
            }
        });
        w.assigned += ids.len();
        w.out.push_back(Outgoing {
            bytes,
            written: 0,
            tasks: ids.len(),
        });
        w.inflight.extend(ids);
        self.write_out(slot);
    }

    /// Write what the worker's socket takes of its outgoing frames, without
    /// blocking. A worker that cannot be written to is gone.
    pub(crate) fn write_out(&mut self, slot: usize) {
        let Some(w) = self.slots[slot].as_mut() else {
            return;
        };
        let fd = w.conn.as_fd().as_raw_fd();
        while let Some(o) = w.out.front_mut() {
            match send_nonblocking(fd, &o.bytes[o.written..]) {
                Ok(n) => {
                    o.written += n;
                    if o.written == o.bytes.len() {
                        w.out.pop_front();
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => {
                    // EPIPE: the worker is gone. It may have answered tasks
                    // it held before it died: read those answers first,
                    // then handle its death.
                    self.service(slot, true);
                    return;
                }
            }
        }
    }

    /// The fds the driver polls: every worker's socket (for writing too
    /// while frames wait for it) and pidfd.
    pub(crate) fn watches(&self) -> Vec<Watch> {
        let mut out = Vec::new();
        for (slot, w) in self.slots.iter().enumerate() {
            let Some(w) = w else { continue };
            out.push(Watch {
                fd: w.conn.as_fd().as_raw_fd(),
                write: !w.out.is_empty(),
                slot,
                pidfd: false,
            });
            if let Some(p) = &w.pidfd {
                out.push(Watch {
                    fd: p.as_raw_fd(),
                    write: false,
                    slot,
                    pidfd: true,
                });
            }
        }
        out
    }

    /// Read every reply the worker in `slot` has sent; then, if it is gone
    /// (EOF, or its pidfd says it exited), handle its death.
    pub(crate) fn service(&mut self, slot: usize, exited: bool) {
        loop {
            let Some(w) = self.slots[slot].as_mut() else {
                return;
            };
            if !w.conn.poll(std::time::Duration::ZERO).unwrap_or(true) {
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
        let frame = Arc::new(frame);
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
        // Tasks whose frame never reached it whole go back to the front of
        // the backlog, for the next worker.
        let unsent = w.unsent();
        let keep = w.inflight.len() - unsent;
        for id in w.inflight.drain(keep..).rev() {
            self.tasks.get_mut(&id).expect("a live task").state = State::Queued(Vec::new());
            self.backlog.push_front(id);
        }
        // Their records went into the frames; take them back.
        let mut requeued = self.backlog.iter().take(unsent).copied();
        for o in &w.out {
            let mut rest = &o.bytes[o.bytes.len() - payload_len(&o.bytes)..];
            for _ in 0..o.tasks {
                let Some(id) = requeued.next() else { break };
                let len = record_len(rest);
                self.tasks.get_mut(&id).expect("a live task").state =
                    State::Queued(rest[..len].to_vec());
                rest = &rest[len..];
            }
        }
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
        if let Some(stage) = task.stage.take() {
            self.thunks.push((id, stage(&outcome)));
            task.callback_due = true;
            self.callbacks_due += 1;
        }
        task.done_seq = self.next_seq;
        self.next_seq += 1;
        task.state = State::Done(outcome);
        if !task.callback_due {
            self.settle(id);
        }
    }

    /// Have `listener` receive `key` when task `id` completes. If it has
    /// completed already, nothing is registered and its completion number is
    /// returned instead (`u64::MAX` for a task this core no longer knows), so
    /// the caller can queue such tasks in completion order.
    pub(crate) fn listen(&mut self, id: TaskId, listener: &Listener, key: u64) -> Option<u64> {
        let Some(task) = self.tasks.get_mut(&id) else {
            return Some(u64::MAX);
        };
        if matches!(task.state, State::Done(_)) && !task.callback_due {
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
