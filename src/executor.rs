//! `concurrent.futures.ProcessPoolExecutor`: submit tasks, get futures.
//!
//! ```
//! use forklore::ProcessPoolExecutor;
//!
//! fn cube(x: i64) -> i64 {
//!     x * x * x
//! }
//!
//! let ex = ProcessPoolExecutor::new(2).unwrap();
//! let fut = ex.submit(cube, 3).unwrap();
//! assert_eq!(fut.result().unwrap(), 27);
//! let all: Vec<i64> = ex
//!     .map(cube, [1, 2, 3], 1)
//!     .unwrap()
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(all, [1, 8, 27]);
//! ex.shutdown().unwrap();
//! ```
//!
//! It shares its workers' machinery with [`Pool`](crate::Pool): tasks are
//! `fn(A) -> R` with serde arguments and results, workers are started when
//! the executor is created (CPython starts them at the first `submit`), and
//! what drives them is the same: one background thread when the workers are
//! spawned (`spawn`, `forkserver`), or, when they are forked, whichever call
//! waits (see [what runs where](crate::pool#what-runs-where)). The executor
//! and its futures are `Send + Sync`; no `submit` blocks.
//!
//! # A broken pool
//! When a worker dies abruptly (killed by a signal, or a task that calls
//! `exit`), the executor is broken, as in CPython: futures that had finished
//! keep their results; every other future, running or queued, fails with
//! [`Error::BrokenProcessPool`], the other workers are terminated, and every
//! later [`submit`](ProcessPoolExecutor::submit) fails the same way.
//!
//! # `max_tasks_per_child`
//! With [`ExecutorBuilder::max_tasks_per_child`] each worker is replaced after
//! that many tasks. CPython 3.11–3.13 can hang when such a pool has a backlog
//! (gh-115634); here the parent forks the replacement itself before it hands
//! out the next task, so a backlog always drains.
//!
//! # Dropping
//! Dropping the executor calls [`shutdown`](ProcessPoolExecutor::shutdown)
//! (Python: `shutdown(wait=True)`), as leaving
//! `with ProcessPoolExecutor() as ex:` does: it blocks until every submitted
//! task has finished, then reaps the workers. Call
//! [`cancel_futures`](ProcessPoolExecutor::cancel_futures) first to cancel
//! what has not started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::pool::Wire;
use crate::start::StartMethod;
use crate::worker::drive::{self, kick, kick_locked, pump};
use crate::worker::{
    at_least_one, call_map, listen_all, queue, Chunks, Config, Core, Handle, Listener, OnDeath,
    Shared,
};

/// A pool of worker processes behind futures (Python:
/// `concurrent.futures.ProcessPoolExecutor`).
pub struct ProcessPoolExecutor {
    core: Shared,
}

impl std::fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.core.lock();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &c.size())
            .field("accepting", &c.accepting)
            .field("broken", &c.broken.is_some())
            .finish()
    }
}

/// Options for [`ProcessPoolExecutor::builder`].
#[must_use = "call build() to create the executor"]
pub struct ExecutorBuilder {
    config: Config,
}

impl ExecutorBuilder {
    /// Run `init` once in each worker when it starts (Python: `initializer`).
    /// A panicking initializer kills its worker, which breaks the executor,
    /// as in CPython.
    #[must_use = "a builder setter returns the changed ExecutorBuilder"]
    pub fn initializer(mut self, init: impl Fn() + Send + Sync + 'static) -> Self {
        self.config.initializer = Some(Arc::new(init));
        self
    }

    /// Start the workers by `method` (Python: `mp_context=get_context(method)`).
    /// Without this call: the program's method after
    /// [`forklore::init()`](crate::init) (and no initializer), `Fork`
    /// otherwise. `Spawn` and `ForkServer` spawn each worker as a fresh run
    /// of this executable, which needs `init` and no initializer; such an
    /// executor has a background thread that moves its work (see
    /// [what runs where](crate::pool#what-runs-where)).
    #[must_use = "a builder setter returns the changed ExecutorBuilder"]
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.config.method = Some(method);
        self
    }

    /// Replace each worker after `n` tasks (Python: `max_tasks_per_child`).
    #[must_use = "a builder setter returns the changed ExecutorBuilder"]
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.config.max_tasks = Some(n);
        self
    }

    /// Fork the workers.
    ///
    /// # Errors
    /// [`Error::InvalidCount`] for 0 workers or `max_tasks_per_child(0)`;
    /// [`Error::Os`] or [`Error::Io`] if a worker cannot be started.
    pub fn build(self) -> Result<ProcessPoolExecutor> {
        Ok(ProcessPoolExecutor {
            core: drive::start(self.config)?,
        })
    }
}

impl ProcessPoolExecutor {
    /// An executor with `max_workers` workers (Python:
    /// `ProcessPoolExecutor(max_workers)`).
    ///
    /// # Errors
    /// [`Error::InvalidCount`] for 0 (Python: `ValueError: max_workers must
    /// be greater than 0`); [`Error::Os`] or [`Error::Io`] if a worker cannot
    /// be started.
    pub fn new(max_workers: usize) -> Result<Self> {
        Self::builder(max_workers).build()
    }

    /// An executor with options: an initializer, `max_tasks_per_child`.
    pub fn builder(max_workers: usize) -> ExecutorBuilder {
        ExecutorBuilder {
            config: Config {
                workers: max_workers,
                max_tasks: None,
                initializer: None,
                on_death: OnDeath::Break,
                worker_name: None,
                // No prefetching: a task stays cancellable until a worker is free.
                depth: 1,
                names: ["max_workers", "max_tasks_per_child"],
                method: None,
            },
        }
    }

    /// The number of workers.
    pub fn max_workers(&self) -> usize {
        self.core.lock().size()
    }

    fn check_open(&self) -> Result<std::sync::MutexGuard<'_, Core>> {
        let c = self.core.lock();
        if let Some((pid, status)) = c.broken {
            return Err(Error::BrokenProcessPool { pid, status });
        }
        if !c.accepting {
            return Err(Error::ExecutorShutdown);
        }
        Ok(c)
    }

    /// Schedule `f(arg)` and return its future (Python: `submit`).
    ///
    /// # Errors
    /// [`Error::BrokenProcessPool`] once a worker has died;
    /// [`Error::ExecutorShutdown`] after [`shutdown`](Self::shutdown);
    /// [`Error::Encode`] if `arg` cannot be encoded.
    pub fn submit<A: Wire, R: Wire>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>> {
        let id = self.core.reserve_id();
        // Encoded outside the lock: a large argument delays nobody.
        let record = crate::worker::wire::task_record(id, call_map::<A, R>, f as usize, &[arg])?;
        let mut c = self.check_open()?;
        c.submit_record(id, record, None)?;
        kick_locked(&self.core, c);
        Ok(TaskFuture {
            handle: Handle::new(self.core.clone(), id),
        })
    }

    /// Apply `f` to every item; the iterator yields the results in input
    /// order (Python: `map(fn, items, chunksize=...)`; with a timeout,
    /// [`map_timeout`](Self::map_timeout)).
    ///
    /// All items are submitted at once, in chunks of `chunksize`. After the
    /// first failed task the iterator ends and cancels the chunks that have
    /// not started, as CPython's generator does when it raises. Dropping the
    /// iterator cancels them too (CPython 3.x, when the generator is
    /// collected).
    ///
    /// # Errors
    /// As [`submit`](Self::submit), and [`Error::InvalidCount`] for a
    /// chunk size of 0.
    pub fn map<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<MapIterator<R>> {
        self.map_inner(f, items, None, chunksize)
    }

    /// [`map`](Self::map) whose results must all be ready within `timeout`
    /// (Python: `map(fn, items, timeout=..., chunksize=...)`). `timeout`
    /// counts from this call: a result not ready by then yields
    /// [`Error::Timeout`], and the iterator ends and cancels the chunks that
    /// have not started.
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn map_timeout<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        timeout: Duration,
        chunksize: usize,
    ) -> Result<MapIterator<R>> {
        self.map_inner(f, items, Some(timeout), chunksize)
    }

    fn map_inner<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<MapIterator<R>> {
        let chunksize = at_least_one("chunksize", chunksize)?;
        let items: Vec<A> = items.into_iter().collect();
        let ids = {
            let mut c = self.check_open()?;
            items
                .chunks(chunksize)
                .map(|chunk| c.submit(call_map::<A, R>, f as usize, chunk, None))
                .collect::<Result<Vec<_>>>()?
        };
        kick(&self.core);
        Ok(MapIterator {
            chunks: Chunks::new(self.core.clone(), ids, true).stop_on_error(timeout),
        })
    }

    /// Stop taking tasks and block until every submitted task has finished
    /// and the workers are reaped (Python: `shutdown()`, that is
    /// `shutdown(wait=True)`).
    ///
    /// The three ways to shut down are three methods, not a `wait` flag:
    /// this one, [`shutdown_nowait`](Self::shutdown_nowait) and
    /// [`shutdown_timeout`](Self::shutdown_timeout). Python's
    /// `cancel_futures=True` is a call to
    /// [`cancel_futures`](Self::cancel_futures) first:
    ///
    /// ```
    /// use forklore::ProcessPoolExecutor;
    ///
    /// fn double(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// let ex = ProcessPoolExecutor::new(1).unwrap();
    /// let f = ex.submit(double, 21).unwrap();
    /// // Python: ex.shutdown(wait=True, cancel_futures=True)
    /// ex.cancel_futures();
    /// ex.shutdown().unwrap();
    /// // Started before the cancel: it ran. Not started: it is cancelled.
    /// assert!(f.cancelled() || f.result().unwrap() == 42);
    /// ```
    ///
    /// # Errors
    /// [`Error::Os`] if waiting for the workers fails.
    pub fn shutdown(&self) -> Result<()> {
        self.stop_accepting();
        self.finish(None)?;
        Ok(())
    }

    /// Stop taking tasks and return at once (Python: `shutdown(wait=False)`);
    /// the remaining work still completes, driven by the background thread
    /// (or, without one, by the futures' calls or by the drop of the
    /// executor).
    pub fn shutdown_nowait(&self) {
        self.stop_accepting();
    }

    /// Stop taking tasks and cancel every future that no worker has started
    /// (Python: the `cancel_futures=True` of `shutdown`). Follow it with
    /// [`shutdown`](Self::shutdown), [`shutdown_nowait`](Self::shutdown_nowait)
    /// or [`shutdown_timeout`](Self::shutdown_timeout); since `submit` is
    /// refused from this call on, the pair does exactly what Python's one
    /// call does.
    pub fn cancel_futures(&self) {
        let mut c = self.core.lock();
        c.accepting = false;
        c.cancel_queued();
    }

    fn stop_accepting(&self) {
        self.core.lock().accepting = false;
    }

    /// [`shutdown`](Self::shutdown) that waits at most `timeout` for the
    /// submitted work: true once the workers are stopped and reaped, false if
    /// work was still running when the time ran out (the executor takes no
    /// more tasks, and the rest still completes; call again to reap).
    ///
    /// # Errors
    /// [`Error::Os`] if waiting for the workers fails.
    pub fn shutdown_timeout(&self, timeout: Duration) -> Result<bool> {
        self.stop_accepting();
        self.finish(Some(timeout))
    }

    /// Wait up to `timeout` for the work, then stop and reap the workers.
    fn finish(&self, timeout: Option<Duration>) -> Result<bool> {
        pump(&self.core, timeout, |c| !c.busy())?;
        if self.core.lock().busy() {
            return Ok(false);
        }
        let mut c = self.core.take_over();
        c.stop();
        self.core.release(c);
        Ok(true)
    }
}

impl Drop for ProcessPoolExecutor {
    /// [`shutdown`](Self::shutdown), as CPython's `with` block does on exit.
    fn drop(&mut self) {
        let owner = self.core.lock().is_owner();
        if owner {
            let _ = self.shutdown();
        }
    }
}

/// The eventual result of [`ProcessPoolExecutor::submit`] (Python:
/// `concurrent.futures.Future`).
///
/// Without a background thread, each call first collects what the workers
/// have finished, so a loop over [`done`](Self::done) makes progress.
pub struct TaskFuture<R> {
    handle: Handle<R>,
}

impl<R> std::fmt::Debug for TaskFuture<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskFuture")
            .field("task", &self.handle.id)
            .finish()
    }
}

impl<R: DeserializeOwned> TaskFuture<R> {
    /// Wait for the result (Python: `result()`); it may be asked again.
    ///
    /// # Errors
    /// The task's failure: [`Error::TaskPanicked`], [`Error::Cancelled`],
    /// [`Error::BrokenProcessPool`], [`Error::Decode`] or [`Error::Encode`].
    pub fn result(&self) -> Result<R> {
        self.handle.get(None, "TaskFuture.result")
    }

    /// Wait up to `timeout` for the result (Python: `result(timeout)`).
    ///
    /// # Errors
    /// [`Error::Timeout`], or as [`result`](Self::result).
    pub fn result_timeout(&self, timeout: Duration) -> Result<R> {
        self.handle.get(Some(timeout), "TaskFuture.result")
    }

    /// Wait for the task, then return its error, or `None` if it succeeded
    /// (Python: `exception()`).
    ///
    /// # Errors
    /// [`Error::Cancelled`] if the future was cancelled (Python raises
    /// `CancelledError` here too).
    pub fn exception(&self) -> Result<Option<Error>> {
        self.exception_inner(None)
    }

    /// [`exception`](Self::exception), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`], or as [`exception`](Self::exception).
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<Error>> {
        self.exception_inner(Some(timeout))
    }

    fn exception_inner(&self, timeout: Option<Duration>) -> Result<Option<Error>> {
        if !self.handle.wait(timeout)? {
            return Err(match timeout {
                Some(after) => Error::Timeout {
                    op: "TaskFuture.exception",
                    after,
                },
                None => Error::Cancelled,
            });
        }
        match self.handle.error() {
            Some(Error::Cancelled) => Err(Error::Cancelled),
            other => Ok(other),
        }
    }

    /// Whether the task has finished, failed or been cancelled (Python: `done()`).
    pub fn done(&self) -> bool {
        self.handle.done()
    }

    /// Whether a worker has taken the task and it has not finished
    /// (Python: `running()`).
    pub fn running(&self) -> bool {
        let _ = pump(&self.handle.core, Some(Duration::ZERO), |_| false);
        self.handle.core.lock().is_running(self.handle.id)
    }

    /// Cancel the task if no worker has taken it yet; true if it is
    /// cancelled (Python: `cancel()`). A running or finished task is left alone.
    pub fn cancel(&self) -> bool {
        self.handle.core.lock().cancel(self.handle.id)
    }

    /// Whether the future was cancelled (Python: `cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.done() && matches!(self.handle.error(), Some(Error::Cancelled))
    }
}

/// The results of [`ProcessPoolExecutor::map`], in input order.
pub struct MapIterator<R> {
    chunks: Chunks<R>,
}

impl<R> std::fmt::Debug for MapIterator<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapIterator").finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> Iterator for MapIterator<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.chunks.next()
    }
}

/// Yield the futures as they finish (Python:
/// `concurrent.futures.as_completed(fs)`; with a timeout,
/// [`as_completed_timeout`]).
///
/// Futures that have finished already come first.
///
/// ```
/// use forklore::executor::{as_completed, ProcessPoolExecutor};
///
/// fn nap(ms: u64) -> u64 {
///     std::thread::sleep(std::time::Duration::from_millis(ms));
///     ms
/// }
///
/// let ex = ProcessPoolExecutor::new(2).unwrap();
/// let futures = vec![ex.submit(nap, 300).unwrap(), ex.submit(nap, 10).unwrap()];
/// let order: Vec<u64> = as_completed(&futures)
///     .map(|f| f.unwrap().result().unwrap())
///     .collect();
/// assert_eq!(order, [10, 300]);
/// ```
///
/// Futures may come from several executors; they are then watched in turns
/// of a millisecond each, since each executor is driven separately.
pub fn as_completed<R: DeserializeOwned>(futures: &[TaskFuture<R>]) -> AsCompleted<'_, R> {
    as_completed_inner(futures, None)
}

/// [`as_completed`] within `timeout` (Python:
/// `concurrent.futures.as_completed(fs, timeout)`): if `timeout` (counted
/// from this call) runs out first, the iterator yields [`Error::Timeout`]
/// and ends.
pub fn as_completed_timeout<R: DeserializeOwned>(
    futures: &[TaskFuture<R>],
    timeout: Duration,
) -> AsCompleted<'_, R> {
    as_completed_inner(futures, Some(timeout))
}

fn as_completed_inner<R: DeserializeOwned>(
    futures: &[TaskFuture<R>],
    timeout: Option<Duration>,
) -> AsCompleted<'_, R> {
    let ready = Listener::default();
    let mut cores: Vec<Shared> = Vec::new();
    for f in futures {
        if !cores.iter().any(|c| Arc::ptr_eq(c, &f.handle.core)) {
            cores.push(f.handle.core.clone());
        }
    }
    for core in &cores {
        let mine = futures
            .iter()
            .enumerate()
            .filter(|(_, f)| Arc::ptr_eq(&f.handle.core, core))
            .map(|(i, f)| (i as u64, f.handle.id));
        listen_all(core, &ready, mine);
    }
    AsCompleted {
        futures,
        ready,
        cores,
        left: futures.len(),
        deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
        timeout,
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<'a, R> {
    futures: &'a [TaskFuture<R>],
    /// Indexes of finished futures not yet yielded, in completion order.
    ready: Listener,
    /// The executors the futures belong to.
    cores: Vec<Shared>,
    /// Futures not yet yielded (0 after a timeout or an error).
    left: usize,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
}

impl<R> std::fmt::Debug for AsCompleted<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl<R> AsCompleted<'_, R> {
    /// Wait for the next future to finish: its index, or `None` on timeout.
    fn wait_any(&self) -> Result<Option<usize>> {
        let ready = &self.ready;
        loop {
            if let Some(i) = queue(ready).pop_front() {
                return Ok(Some(i as usize));
            }
            let left = self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(None);
            }
            if let [core] = &self.cores[..] {
                if !pump(core, left, |_| !queue(ready).is_empty())? && left.is_none() {
                    // Nothing is running that could finish these futures.
                    return Err(Error::Cancelled);
                }
                continue;
            }
            if !self.cores.iter().any(|c| c.lock().busy()) {
                return Err(Error::Cancelled);
            }
            // Several executors: watch each in turn for a millisecond.
            let slice = left.map_or(TURN, |l| l.min(TURN));
            for core in &self.cores {
                if pump(core, Some(slice), |_| !queue(ready).is_empty())? {
                    break;
                }
            }
        }
    }
}

/// How long `as_completed` watches one executor before the next, when the
/// futures come from several.
const TURN: Duration = Duration::from_millis(1);

impl<'a, R> Iterator for AsCompleted<'a, R> {
    type Item = Result<&'a TaskFuture<R>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        match self.wait_any() {
            Ok(Some(i)) => {
                self.left -= 1;
                Some(Ok(&self.futures[i]))
            }
            Ok(None) => {
                self.left = 0;
                Some(Err(Error::Timeout {
                    op: "as_completed",
                    after: self.timeout.unwrap_or_default(),
                }))
            }
            Err(e) => {
                self.left = 0;
                Some(Err(e))
            }
        }
    }
}

/// When [`wait`] returns (Python: `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReturnWhen {
    /// As soon as any future finishes or is cancelled.
    FirstCompleted,
    /// As soon as any future fails (not a cancellation); if none fails,
    /// when all have finished.
    FirstException,
    /// When every future has finished or been cancelled.
    AllCompleted,
}

/// What [`wait`] returns: the futures that had finished, and the others
/// (Python: the named tuple `DoneAndNotDoneFutures`).
#[derive(Debug)]
pub struct DoneAndNotDone<'a, R> {
    /// Finished (with a result or an error) or cancelled.
    pub done: Vec<&'a TaskFuture<R>>,
    /// Still pending or running.
    pub not_done: Vec<&'a TaskFuture<R>>,
}

/// Wait until `return_when` is met, then split the futures into finished
/// and not (Python: `concurrent.futures.wait(fs, return_when=...)`; with a
/// timeout, [`wait_timeout`]).
///
/// ```
/// use forklore::executor::{wait, ProcessPoolExecutor, ReturnWhen};
///
/// fn nap(ms: u64) -> u64 {
///     std::thread::sleep(std::time::Duration::from_millis(ms));
///     ms
/// }
///
/// let ex = ProcessPoolExecutor::new(2).unwrap();
/// let fs = vec![ex.submit(nap, 10).unwrap(), ex.submit(nap, 2000).unwrap()];
/// let r = wait(&fs, ReturnWhen::FirstCompleted).unwrap();
/// assert_eq!((r.done.len(), r.not_done.len()), (1, 1));
/// # fs[1].cancel();
/// ```
///
/// # Errors
/// [`Error::Os`] if polling the workers fails.
pub fn wait<R: DeserializeOwned>(
    futures: &[TaskFuture<R>],
    return_when: ReturnWhen,
) -> Result<DoneAndNotDone<'_, R>> {
    wait_inner(futures, None, return_when)
}

/// [`wait`] that gives up when `timeout` (counted from this call) runs out
/// (Python: `concurrent.futures.wait(fs, timeout, return_when)`). A timeout
/// is not an error: the futures that have not finished are in `not_done`.
///
/// # Errors
/// As [`wait`].
pub fn wait_timeout<R: DeserializeOwned>(
    futures: &[TaskFuture<R>],
    timeout: Duration,
    return_when: ReturnWhen,
) -> Result<DoneAndNotDone<'_, R>> {
    wait_inner(futures, Some(timeout), return_when)
}

fn wait_inner<R: DeserializeOwned>(
    futures: &[TaskFuture<R>],
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> Result<DoneAndNotDone<'_, R>> {
    for f in as_completed_inner(futures, timeout) {
        let f = match f {
            Ok(f) => f,
            Err(Error::Timeout { .. } | Error::Cancelled) => break,
            Err(e) => return Err(e),
        };
        let stop = match return_when {
            ReturnWhen::FirstCompleted => true,
            ReturnWhen::FirstException => {
                matches!(f.handle.error(), Some(e) if !matches!(e, Error::Cancelled))
            }
            ReturnWhen::AllCompleted => false,
        };
        if stop {
            break;
        }
    }
    let (done, not_done) = futures
        .iter()
        .partition(|f| f.handle.core.lock().is_done(f.handle.id));
    Ok(DoneAndNotDone { done, not_done })
}
