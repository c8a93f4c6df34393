//! `multiprocessing.Pool`: a fixed set of forked workers that run typed tasks.
//!
//! ```
//! use forklore::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(2).unwrap();
//! assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
//! let r = pool.apply_async(square, 7).unwrap();
//! assert_eq!(r.get().unwrap(), 49);
//! pool.close();
//! pool.join().unwrap();
//! ```
//!
//! # Tasks
//! A task is a plain function, `fn(A) -> R`, with arguments and results that
//! serde can encode (they cross between processes as
//! [postcard](crate::connection) frames). A non-capturing closure coerces to
//! such a function and works too; a closure that captures does not compile.
//! That is the rule CPython enforces by pickling a function by name: the
//! workers were forked when the pool started, so only code (which both sides
//! share) can be named later, not data created since.
//!
//! The workers are started once, in [`Pool::new`], and reused; with
//! [`PoolBuilder::maxtasksperchild`] each one is replaced after that many
//! tasks, and an [`initializer`](PoolBuilder::initializer) runs once in every
//! worker when it starts. Workers are named `ForkPoolWorker-N`, as in CPython
//! (`SpawnPoolWorker-N`, `ForkServerPoolWorker-N` under those methods).
//!
//! # Start methods
//! Workers are forked by default (a program that never called
//! [`forklore::init()`](crate::init)), which is refused in a process that
//! has other threads. With [`PoolBuilder::start_method`] (or, after
//! `init`, the program's method) they are spawned instead: fresh runs of
//! the executable, safe from any program. Tasks cross as offsets of `fn`
//! items from a symbol of forklore, so they name the same functions in a
//! forked or a spawned worker.
//!
//! # Errors from tasks
//! - A task that panics comes back as [`Error::TaskPanicked`] with the panic
//!   message and location; the worker catches the panic, prints nothing, and
//!   takes the next task. (In a build with `panic = "abort"` nothing can be
//!   caught: the worker dies with SIGABRT and the task fails as below.)
//! - A worker that dies while running a task (killed by a signal, or a task
//!   that calls `exit`) fails that task with [`Error::WorkerDied`], and the pool
//!   forks a replacement, so later tasks succeed. CPython's `Pool` replaces
//!   the worker too, but the lost task's result never arrives and `get()`
//!   waits forever: no call here waits for a task that can no longer finish.
//!   In a busy pool a worker also holds a few small tasks handed to it ahead
//!   of time; they fail with it, since whether they ran is unknown, and a
//!   task never runs twice.
//! - [`Pool::map`] reports the first error only after every chunk has
//!   finished, as CPython does.
//!
//! # Lifecycle
//! [`close`](Pool::close) stops new submissions ([`Error::PoolNotRunning`]
//! afterwards), [`join`](Pool::join) waits for the queued work and reaps the
//! workers (before `close` it is [`Error::PoolStillRunning`]), and
//! [`terminate`](Pool::terminate) kills the workers at once; results still
//! pending then fail with [`Error::Cancelled`] (in CPython they never arrive).
//!
//! **Dropping a `Pool` terminates it**, as leaving `with Pool() as p:` calls
//! `p.terminate()` in CPython: work that was not collected is discarded, the
//! workers are killed (SIGTERM, then SIGKILL if one is still alive after two
//! seconds) and reaped: a drop never waits for a running task, and at most
//! those two seconds for a worker that ignores SIGTERM. Call `close()` and
//! `join()` first to let queued work finish.
//!
//! **A killed owner takes its workers with it**, even in the middle of a
//! task: each worker asks the kernel for `SIGKILL` when its parent dies
//! (`PR_SET_PDEATHSIG`). CPython's workers run their current task to the end
//! and only then notice that the parent is gone.
//!
//! A process forked from the pool's owner (with [`fork`](crate::fork())) holds
//! a copy of the pool whose sockets lead to the parent's workers. Every call
//! on that copy that would submit or wait fails with [`Error::ForeignPool`],
//! and its `terminate` or drop leaves the parent's workers alone. (CPython's
//! pool hangs in such a child.)
//!
//! # No background thread
//! CPython runs three threads in the parent to feed tasks, collect results
//! and replace workers. Here the parent drives the pool itself, from the
//! calling thread, whenever a call needs progress: `get`, `wait`, iterating
//! `imap`, `join`, and (without blocking) every submission. Queued tasks go to
//! idle workers, replies are read, dead workers are reaped and replaced.
//! Workers compute in parallel all the same; what waits for the next call is
//! only the hand-over of the next queued task and the callbacks.
//!
//! This keeps every fork of a replacement worker in a process with no thread
//! of the pool's making, so it is as sound as [`Process::start`](crate::Process::start)
//! (a `fork` in a multithreaded process may hand the child a lock held
//! forever). The consequences:
//! - `Pool` and its results are neither `Send` nor `Sync`: use them on the
//!   thread that created the pool.
//! - Callbacks passed to [`Pool::apply_async_with`] run in that thread,
//!   inside whichever pool call collected the result (possibly a later
//!   `apply_async`), never concurrently with your code.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::start::StartMethod;
use crate::worker::{
    at_least_one, call_map, call_star, decode_one, sweep, Call, Chunks, Config, Core, Handle,
    OnDeath, Shared, Stage, TaskError, TaskId, PREFETCH_DEPTH,
};

/// A pool of forked worker processes (Python: `multiprocessing.Pool`).
///
/// See the [module docs](self) for how tasks travel, what happens when one
/// panics or its worker dies, and why dropping the pool terminates it.
pub struct Pool {
    core: Shared,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.core.borrow();
        f.debug_struct("Pool")
            .field("processes", &c.size())
            .field("accepting", &c.accepting)
            .finish()
    }
}

/// Options for [`Pool::builder`]: Python's `initializer` and
/// `maxtasksperchild` arguments.
#[must_use = "call build() to create the pool"]
pub struct PoolBuilder {
    config: Config,
}

impl PoolBuilder {
    /// Run `init` once in each worker, when it starts (Python: `initializer`,
    /// `initargs`). Workers are forks, so `init` may capture values: each
    /// worker gets its own copy. A panicking initializer ends its worker.
    pub fn initializer(mut self, init: impl Fn() + Send + Sync + 'static) -> Self {
        self.config.initializer = Some(Arc::new(init));
        self
    }

    /// Start the workers (and their replacements) by `method` (Python:
    /// `get_context(method).Pool(...)`). `Spawn` and `ForkServer` both
    /// spawn each worker as a fresh run of this executable, which needs
    /// [`forklore::init()`](crate::init) at the top of `main` and no
    /// [`initializer`](Self::initializer) (a closure); a pool so started is
    /// safe to create and use from a threaded program.
    ///
    /// Without this call, a pool follows the program's method
    /// ([`get_start_method`](crate::start::get_start_method), `forkserver`
    /// by default) when `main` called `init` and there is no initializer,
    /// and forks its workers otherwise (refused in a threaded process).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.config.method = Some(method);
        self
    }

    /// Replace each worker with a fresh one after it has run `n` tasks (a
    /// chunk of `map` counts as one), Python's `maxtasksperchild`.
    pub fn maxtasksperchild(mut self, n: usize) -> Self {
        self.config.max_tasks = Some(n);
        self
    }

    /// Fork the workers.
    ///
    /// # Errors
    /// [`Error::InvalidCount`] for 0 processes or `maxtasksperchild(0)`;
    /// [`Error::Os`] or [`Error::Io`] if a worker cannot be forked or its
    /// socket created.
    pub fn build(self) -> Result<Pool> {
        Ok(Pool {
            core: Core::start(self.config)?,
        })
    }
}

/// The bounds on a task's argument and result types: serde can encode and
/// decode them. Implemented for every such type; never implement it yourself.
pub trait Wire: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> Wire for T {}

impl Pool {
    /// A pool of `processes` workers, forked now (Python: `Pool(processes)`).
    ///
    /// # Errors
    /// [`Error::InvalidCount`] for 0; [`Error::Os`] or [`Error::Io`] if a
    /// worker cannot be started.
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder(processes).build()
    }

    /// A pool with options: an initializer, `maxtasksperchild`.
    ///
    /// ```
    /// use forklore::Pool;
    ///
    /// fn pid(_: ()) -> u32 {
    ///     std::process::id()
    /// }
    ///
    /// let pool = Pool::builder(1).maxtasksperchild(1).build().unwrap();
    /// let a = pool.apply(pid, ()).unwrap();
    /// let b = pool.apply(pid, ()).unwrap();
    /// assert_ne!(a, b, "each task ran in a fresh worker");
    /// ```
    pub fn builder(processes: usize) -> PoolBuilder {
        PoolBuilder {
            config: Config {
                workers: processes,
                max_tasks: None,
                initializer: None,
                on_death: OnDeath::FailTask,
                worker_name: Some("ForkPoolWorker"),
                depth: PREFETCH_DEPTH,
                names: ["the number of processes", "maxtasksperchild"],
                method: None,
            },
        }
    }

    /// The number of workers.
    pub fn processes(&self) -> usize {
        self.core.borrow().size()
    }

    /// Queue `items` in chunks of `chunksize`; the chunks' task ids.
    fn submit_chunks<T: Serialize>(
        &self,
        call: Call,
        func: usize,
        items: Vec<T>,
        chunksize: Option<usize>,
    ) -> Result<Vec<TaskId>> {
        let ids = {
            let mut c = self.core.borrow_mut();
            if !c.accepting {
                return Err(Error::PoolNotRunning);
            }
            let chunksize = match chunksize {
                Some(n) => at_least_one("chunksize", n)?,
                // Python's default: ceil(len / (4 * workers)).
                None => items.len().div_ceil(4 * c.size()).max(1),
            };
            items
                .chunks(chunksize)
                .map(|chunk| c.submit(call, func, chunk, None))
                .collect::<Result<Vec<_>>>()?
        };
        // Hand the chunks out now; a failure here shows again when the
        // results are waited for.
        let _ = sweep(&self.core);
        Ok(ids)
    }

    fn submit_one<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        arg: A,
        stage: Option<Stage>,
    ) -> Result<AsyncResult<R>> {
        let id = {
            let mut c = self.core.borrow_mut();
            if !c.accepting {
                return Err(Error::PoolNotRunning);
            }
            c.submit(call_map::<A, R>, f as usize, &[arg], stage)?
        };
        let _ = sweep(&self.core);
        Ok(AsyncResult {
            handle: Handle::new(self.core.clone(), id),
        })
    }

    /// Run `f(arg)` in a worker and wait for the result (Python: `apply`).
    ///
    /// # Errors
    /// [`Error::PoolNotRunning`] after `close`/`terminate`; the task's own
    /// errors as for [`AsyncResult::get`].
    pub fn apply<A: Wire, R: Wire>(&self, f: fn(A) -> R, arg: A) -> Result<R> {
        self.apply_async(f, arg)?.get()
    }

    /// Queue `f(arg)` and return at once (Python: `apply_async`).
    ///
    /// # Errors
    /// [`Error::PoolNotRunning`] after `close`/`terminate`; [`Error::Encode`]
    /// if `arg` cannot be encoded.
    pub fn apply_async<A: Wire, R: Wire>(&self, f: fn(A) -> R, arg: A) -> Result<AsyncResult<R>> {
        self.submit_one(f, arg, None)
    }

    /// [`apply_async`](Self::apply_async) with Python's `callback` and
    /// `error_callback`: one of them runs when the result is collected, in
    /// the calling thread, inside whichever pool call collects it (see the
    /// [module docs](self)). A callback that panics unwinds out of that call.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use forklore::Pool;
    ///
    /// fn double(x: i32) -> i32 {
    ///     2 * x
    /// }
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// let r = pool
    ///     .apply_async_with(double, 21, move |v| s.set(*v), |e| panic!("{e}"))
    ///     .unwrap();
    /// r.wait().unwrap();
    /// assert_eq!(seen.get(), 42);
    /// ```
    ///
    /// # Errors
    /// As [`apply_async`](Self::apply_async).
    pub fn apply_async_with<A: Wire, R: Wire + 'static>(
        &self,
        f: fn(A) -> R,
        arg: A,
        callback: impl FnOnce(&R) + 'static,
        error_callback: impl FnOnce(&Error) + 'static,
    ) -> Result<AsyncResult<R>> {
        let stage: Stage = Box::new(move |outcome| match decode_one::<R>(outcome) {
            Ok(value) => Box::new(move || callback(&value)),
            Err(e) => Box::new(move || error_callback(&e)),
        });
        self.submit_one(f, arg, Some(stage))
    }

    /// Apply `f` to every item, in parallel, and return the results in
    /// input order (Python: `map`). Items travel in chunks of Python's default
    /// size, `ceil(len / (4 * processes))`.
    ///
    /// # Errors
    /// [`Error::PoolNotRunning`] after `close`/`terminate`; otherwise, once
    /// every chunk has finished, the first error that happened (a panic, a
    /// dead worker, ...).
    pub fn map<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>> {
        self.map_inner(f, items, None)
    }

    /// [`map`](Self::map) with an explicit chunk size.
    ///
    /// # Errors
    /// As [`map`](Self::map), and [`Error::InvalidCount`] for a chunk size of 0.
    pub fn map_chunked<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<Vec<R>> {
        self.map_inner(f, items, Some(chunksize))
    }

    fn map_inner<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>> {
        let items: Vec<A> = items.into_iter().collect();
        let ids = self.submit_chunks(call_map::<A, R>, f as usize, items, chunksize)?;
        Chunks::new(self.core.clone(), ids, true).collect_all()
    }

    /// Apply a two-argument `f` to every pair, in parallel, results in input
    /// order (Python: `starmap`). Rust has no variadic functions: for more
    /// arguments, write `f` to take one tuple and use [`map`](Self::map).
    ///
    /// ```
    /// fn add(a: i32, b: i32) -> i32 {
    ///     a + b
    /// }
    /// let pool = forklore::Pool::new(2).unwrap();
    /// assert_eq!(pool.starmap(add, [(1, 2), (3, 4)]).unwrap(), [3, 7]);
    /// ```
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn starmap<A: Wire, B: Wire, R: Wire>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>> {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let ids = self.submit_chunks(call_star::<A, B, R>, f as usize, items, None)?;
        Chunks::new(self.core.clone(), ids, true).collect_all()
    }

    /// Like [`map`](Self::map), but yield each result as soon as it and
    /// those before it are ready (Python: `imap`, chunk size 1). All items
    /// are queued at once.
    ///
    /// ```
    /// fn inc(x: u8) -> u8 {
    ///     x + 1
    /// }
    /// let pool = forklore::Pool::new(2).unwrap();
    /// let out: Vec<u8> = pool.imap(inc, [1, 2, 3]).unwrap().map(Result::unwrap).collect();
    /// assert_eq!(out, [2, 3, 4]);
    /// ```
    ///
    /// # Errors
    /// [`Error::PoolNotRunning`] after `close`/`terminate`. The iterator
    /// yields a task's error in place of its result, then goes on.
    pub fn imap<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<IMapIterator<R>> {
        self.imap_inner(f, items, 1, true)
    }

    /// [`imap`](Self::imap) with chunks of `chunksize` items. A failed chunk
    /// yields one error in place of its items.
    ///
    /// # Errors
    /// As [`imap`](Self::imap), and [`Error::InvalidCount`] for 0.
    pub fn imap_chunked<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<IMapIterator<R>> {
        self.imap_inner(f, items, chunksize, true)
    }

    /// Like [`imap`](Self::imap), but yield results in the order they
    /// complete (Python: `imap_unordered`).
    ///
    /// # Errors
    /// As [`imap`](Self::imap).
    pub fn imap_unordered<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
    ) -> Result<IMapIterator<R>> {
        self.imap_inner(f, items, 1, false)
    }

    /// [`imap_unordered`](Self::imap_unordered) with chunks of `chunksize`
    /// items; the items of one chunk come out together, in order.
    ///
    /// # Errors
    /// As [`imap_chunked`](Self::imap_chunked).
    pub fn imap_unordered_chunked<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<IMapIterator<R>> {
        self.imap_inner(f, items, chunksize, false)
    }

    fn imap_inner<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMapIterator<R>> {
        let items: Vec<A> = items.into_iter().collect();
        let ids = self.submit_chunks(call_map::<A, R>, f as usize, items, Some(chunksize))?;
        Ok(IMapIterator {
            chunks: Chunks::new(self.core.clone(), ids, ordered),
        })
    }

    /// Take no more tasks (Python: `close`). Queued work still runs; call
    /// [`join`](Self::join) to wait for it.
    pub fn close(&self) {
        self.core.borrow_mut().accepting = false;
    }

    /// Wait for all queued work, then stop and reap every worker
    /// (Python: `join`). Results already produced stay available.
    ///
    /// # Errors
    /// [`Error::PoolStillRunning`] before [`close`](Self::close) or
    /// [`terminate`](Self::terminate); [`Error::Os`] if waiting fails.
    pub fn join(&self) -> Result<()> {
        if self.core.borrow().accepting {
            return Err(Error::PoolStillRunning);
        }
        crate::worker::pump(&self.core, None, |c| !c.busy())?;
        self.core.borrow_mut().stop();
        Ok(())
    }

    /// Kill the workers now and reap them (Python: `terminate`). Results not
    /// yet collected fail with [`Error::Cancelled`].
    pub fn terminate(&self) {
        self.core.borrow_mut().terminate(TaskError::Cancelled);
    }
}

impl Drop for Pool {
    /// Terminate, as CPython's `with Pool()` does on exit (see the module docs).
    fn drop(&mut self) {
        if let Ok(mut c) = self.core.try_borrow_mut() {
            if c.is_owner() {
                c.terminate(TaskError::Cancelled);
            }
        }
    }
}

/// The pending result of [`Pool::apply_async`] (Python: `AsyncResult`).
///
/// Each call collects whatever the workers have finished meanwhile, so
/// polling [`ready`](Self::ready) in a loop makes progress. Dropping the
/// handle does not cancel the task; its result is discarded when it comes.
pub struct AsyncResult<R> {
    handle: Handle<R>,
}

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("task", &self.handle.id)
            .finish()
    }
}

impl<R: DeserializeOwned> AsyncResult<R> {
    /// Wait for the result (Python: `get()`). It can be called again: each
    /// call decodes the stored result anew.
    ///
    /// # Errors
    /// The task's failure: [`Error::TaskPanicked`], [`Error::WorkerDied`],
    /// [`Error::Cancelled`] (pool terminated), [`Error::Decode`] or
    /// [`Error::Encode`] for values serde could not carry.
    pub fn get(&self) -> Result<R> {
        self.handle.get(None, "AsyncResult.get")
    }

    /// Wait up to `timeout` for the result (Python: `get(timeout)`). The
    /// task goes on after a timeout; ask again later.
    ///
    /// # Errors
    /// [`Error::Timeout`] if it is not ready in time; otherwise as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R> {
        self.handle.get(Some(timeout), "AsyncResult.get")
    }

    /// Whether the task has finished (Python: `ready()`).
    pub fn ready(&self) -> bool {
        self.handle.done()
    }

    /// Whether the task finished without error: `None` while it has not
    /// finished (Python raises `ValueError` then).
    pub fn successful(&self) -> Option<bool> {
        self.ready().then(|| self.handle.error().is_none())
    }

    /// Wait until the task has finished (Python: `wait()`).
    ///
    /// # Errors
    /// [`Error::Os`] if polling the workers fails.
    pub fn wait(&self) -> Result<()> {
        self.handle.wait(None).map(|_| ())
    }

    /// Wait up to `timeout`; true if the task has finished (Python:
    /// `wait(timeout)`, then `ready()`).
    ///
    /// # Errors
    /// [`Error::Os`] if polling the workers fails.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.handle.wait(Some(timeout))
    }
}

/// The results of [`Pool::imap`] and [`Pool::imap_unordered`] (Python:
/// `IMapIterator`). Each step waits for the next result and yields it, or the
/// error of the task that should have produced it.
pub struct IMapIterator<R> {
    chunks: Chunks<R>,
}

impl<R> std::fmt::Debug for IMapIterator<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMapIterator").finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> Iterator for IMapIterator<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.chunks.next()
    }
}
