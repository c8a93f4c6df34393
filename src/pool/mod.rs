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
//! **A killed owner takes its forked workers with it**, even in the middle
//! of a task: each forked worker asks the kernel for `SIGKILL` when its
//! parent dies (`PR_SET_PDEATHSIG`; see `crate::orphan` for why that is sound
//! although pools are `Send`). Spawned workers (`spawn`, `forkserver`) see
//! their socket to the owner close and exit after the task in hand, as
//! CPython's workers do.
//!
//! A process forked from the pool's owner (with [`fork`](crate::fork())) holds
//! a copy of the pool whose sockets lead to the parent's workers. Every call
//! on that copy that would submit or wait fails with [`Error::ForeignPool`],
//! and its `terminate` or drop leaves the parent's workers alone. (CPython's
//! pool hangs in such a child.)
//!
//! # What runs where
//! Your threads submit and wait; a *driver* moves the pool: it hands queued
//! tasks to idle workers (writing them without ever blocking, so a large
//! argument is streamed piece by piece), reads the results, reaps dead
//! workers and starts their replacements, and runs the callbacks.
//! - Workers started by `spawn` or `forkserver` (the default after
//!   [`forklore::init()`](crate::init)): the pool has **one background
//!   thread**, named `forklore-pool`, the driver for the pool's whole life,
//!   as CPython's three pool threads are. Work moves while you do something
//!   else; callbacks run in that thread. It ends in `join`, `terminate` or
//!   the drop of the pool.
//! - Forked workers (the default without `init`, or with an
//!   [`initializer`](PoolBuilder::initializer)): **no thread**. A pool must
//!   fork replacement workers long after it started, and a fork is refused
//!   in a process with other threads, so the pool cannot have one. It moves
//!   inside its own calls instead: the call that waits (`get`, `wait`, the
//!   next item of `imap`, `join`) drives while it waits, every submission
//!   makes one step without waiting, and callbacks run inside whichever call
//!   collected the result.
//!
//! Either way `Pool`, [`AsyncResult`], [`MapResult`] and [`IMapIterator`]
//! are `Send + Sync`: several threads may submit to one pool and wait on
//! its results. No submission blocks, whatever the size of its arguments and
//! whatever the workers are doing (starting, stopped, busy); every wait has a
//! form with a timeout that bounds it. A callback that panics does not keep
//! the callbacks collected with it from running; in a pool without a thread
//! the panic then unwinds out of the call that ran them. A callback runs on
//! the driver, so it must not wait on its own pool (in a pool with a thread
//! it would wait for itself): keep callbacks short, as in CPython, where they
//! run on the result-handler thread.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::start::StartMethod;
use crate::worker::drive::{self, kick, kick_locked, pump};
use crate::worker::wire::task_record;
use crate::worker::{
    at_least_one, call_map, call_star, decode_one, Call, Chunks, Config, Handle, OnDeath, Shared,
    Stage, TaskError, TaskId, Thunk, PREFETCH_DEPTH,
};

mod results;

use results::gather;
pub use results::{AsyncResult, IMapIterator, MapResult};

/// A pool of forked worker processes (Python: `multiprocessing.Pool`).
///
/// See the [module docs](self) for how tasks travel, what happens when one
/// panics or its worker dies, and why dropping the pool terminates it.
pub struct Pool {
    core: Shared,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.core.lock();
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
    /// A pool with an initializer forks its workers, so it has no
    /// background thread (see the [module docs](self)).
    #[must_use = "a builder setter returns the changed PoolBuilder"]
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
    #[must_use = "a builder setter returns the changed PoolBuilder"]
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.config.method = Some(method);
        self
    }

    /// Replace each worker with a fresh one after it has run `n` tasks (a
    /// chunk of `map` counts as one), Python's `maxtasksperchild`.
    #[must_use = "a builder setter returns the changed PoolBuilder"]
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
            core: drive::start(self.config)?,
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
        self.core.lock().size()
    }

    /// Queue `items` in chunks of `chunksize`; the chunks' task ids.
    fn submit_chunks<T: Serialize>(
        &self,
        call: Call,
        func: usize,
        items: Vec<T>,
        chunksize: Option<usize>,
        mut stage: impl FnMut() -> Option<Stage>,
    ) -> Result<Vec<TaskId>> {
        let ids = {
            let mut c = self.core.lock();
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
                .map(|chunk| c.submit(call, func, chunk, stage()))
                .collect::<Result<Vec<_>>>()?
        };
        kick(&self.core);
        Ok(ids)
    }

    fn submit_one<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        arg: A,
        stage: Option<Stage>,
    ) -> Result<AsyncResult<R>> {
        let id = self.core.reserve_id();
        // Encoded outside the lock: a large argument delays nobody.
        let record = task_record(id, call_map::<A, R>, f as usize, &[arg])?;
        let mut c = self.core.lock();
        if !c.accepting {
            return Err(Error::PoolNotRunning);
        }
        c.submit_record(id, record, stage)?;
        kick_locked(&self.core, c);
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
    /// the pool's background thread, or (a pool without one) inside
    /// whichever pool call collects it (see the [module docs](self)).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicI32, Ordering};
    /// use std::sync::Arc;
    /// use forklore::Pool;
    ///
    /// fn double(x: i32) -> i32 {
    ///     2 * x
    /// }
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let seen = Arc::new(AtomicI32::new(0));
    /// let s = seen.clone();
    /// let r = pool
    ///     .apply_async_with(double, 21, move |v| s.store(*v, Ordering::SeqCst), |e| panic!("{e}"))
    ///     .unwrap();
    /// r.wait().unwrap();
    /// pool.close();
    /// pool.join().unwrap(); // the callbacks have run by now
    /// assert_eq!(seen.load(Ordering::SeqCst), 42);
    /// ```
    ///
    /// # Errors
    /// As [`apply_async`](Self::apply_async).
    pub fn apply_async_with<A: Wire, R: Wire + Send + 'static>(
        &self,
        f: fn(A) -> R,
        arg: A,
        callback: impl FnOnce(&R) + Send + 'static,
        error_callback: impl FnOnce(&Error) + Send + 'static,
    ) -> Result<AsyncResult<R>> {
        let stage: Stage = Box::new(move |outcome| -> Thunk {
            match decode_one::<R>(outcome) {
                Ok(value) => Box::new(move || callback(&value)),
                Err(e) => Box::new(move || error_callback(&e)),
            }
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
        let ids = self.submit_chunks(call_map::<A, R>, f as usize, items, chunksize, || None)?;
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
        let ids = self.submit_chunks(call_star::<A, B, R>, f as usize, items, None, || None)?;
        Chunks::new(self.core.clone(), ids, true).collect_all()
    }

    /// [`starmap`](Self::starmap) with an explicit chunk size (Python:
    /// `starmap(func, iterable, chunksize)`).
    ///
    /// # Errors
    /// As [`map`](Self::map), and [`Error::InvalidCount`] for a chunk size of 0.
    pub fn starmap_chunked<A: Wire, B: Wire, R: Wire>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
        chunksize: usize,
    ) -> Result<Vec<R>> {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let ids = self.submit_chunks(
            call_star::<A, B, R>,
            f as usize,
            items,
            Some(chunksize),
            || None,
        )?;
        Chunks::new(self.core.clone(), ids, true).collect_all()
    }

    /// Queue [`map`](Self::map)'s work and return at once (Python:
    /// `map_async(func, iterable, chunksize)`; `None`: Python's default chunk
    /// size).
    ///
    /// ```
    /// fn inc(x: u8) -> u8 {
    ///     x + 1
    /// }
    /// let pool = forklore::Pool::new(2).unwrap();
    /// let r = pool.map_async(inc, [1, 2, 3], None).unwrap();
    /// assert_eq!(r.get().unwrap(), [2, 3, 4]);
    /// ```
    ///
    /// # Errors
    /// [`Error::PoolNotRunning`] after `close`/`terminate`,
    /// [`Error::InvalidCount`] for a chunk size of 0, [`Error::Encode`].
    pub fn map_async<A: Wire, R: Wire>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>> {
        let items: Vec<A> = items.into_iter().collect();
        let ids = self.submit_chunks(call_map::<A, R>, f as usize, items, chunksize, || None)?;
        Ok(MapResult::new(&self.core, ids))
    }

    /// [`map_async`](Self::map_async) with Python's `callback` (called with
    /// every result, in order, once all chunks have finished) and
    /// `error_callback` (called with the first error instead, if a chunk
    /// failed). They run where [`apply_async_with`](Self::apply_async_with)'s do.
    ///
    /// # Errors
    /// As [`map_async`](Self::map_async).
    pub fn map_async_with<A: Wire, R: Wire + Send + 'static>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        callback: impl FnOnce(&[R]) + Send + 'static,
        error_callback: impl FnOnce(&Error) + Send + 'static,
    ) -> Result<MapResult<R>> {
        let items: Vec<A> = items.into_iter().collect();
        let stages = gather(callback, error_callback);
        let ids = self.submit_chunks(call_map::<A, R>, f as usize, items, chunksize, stages)?;
        Ok(MapResult::new(&self.core, ids))
    }

    /// Queue [`starmap`](Self::starmap)'s work and return at once (Python:
    /// `starmap_async`).
    ///
    /// # Errors
    /// As [`map_async`](Self::map_async).
    pub fn starmap_async<A: Wire, B: Wire, R: Wire>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
        chunksize: Option<usize>,
    ) -> Result<MapResult<R>> {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let ids =
            self.submit_chunks(call_star::<A, B, R>, f as usize, items, chunksize, || None)?;
        Ok(MapResult::new(&self.core, ids))
    }

    /// [`starmap_async`](Self::starmap_async) with `callback` and
    /// `error_callback`, as [`map_async_with`](Self::map_async_with).
    ///
    /// # Errors
    /// As [`map_async`](Self::map_async).
    pub fn starmap_async_with<A: Wire, B: Wire, R: Wire + Send + 'static>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
        chunksize: Option<usize>,
        callback: impl FnOnce(&[R]) + Send + 'static,
        error_callback: impl FnOnce(&Error) + Send + 'static,
    ) -> Result<MapResult<R>> {
        let items: Vec<(A, B)> = items.into_iter().collect();
        let stages = gather(callback, error_callback);
        let ids = self.submit_chunks(call_star::<A, B, R>, f as usize, items, chunksize, stages)?;
        Ok(MapResult::new(&self.core, ids))
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
        let ids =
            self.submit_chunks(call_map::<A, R>, f as usize, items, Some(chunksize), || {
                None
            })?;
        Ok(IMapIterator {
            chunks: Chunks::new(self.core.clone(), ids, ordered),
        })
    }

    /// Take no more tasks (Python: `close`). Queued work still runs; call
    /// [`join`](Self::join) to wait for it.
    pub fn close(&self) {
        self.core.lock().accepting = false;
    }

    /// Wait for all queued work, then stop and reap every worker
    /// (Python: `join`). Results already produced stay available.
    ///
    /// # Errors
    /// [`Error::PoolStillRunning`] before [`close`](Self::close) or
    /// [`terminate`](Self::terminate); [`Error::Os`] if waiting fails.
    pub fn join(&self) -> Result<()> {
        self.join_inner(None).map(drop)
    }

    /// [`join`](Self::join), waiting at most `timeout` for the queued work:
    /// true once the workers are stopped and reaped, false if work was still
    /// running when the time ran out (the pool goes on; join again later).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.join_inner(Some(timeout))
    }

    fn join_inner(&self, timeout: Option<Duration>) -> Result<bool> {
        if self.core.lock().accepting {
            return Err(Error::PoolStillRunning);
        }
        pump(&self.core, timeout, |c| !c.busy())?;
        if self.core.lock().busy() {
            return Ok(false);
        }
        let mut c = self.core.take_over();
        c.stop();
        self.core.release(c);
        Ok(true)
    }

    /// Kill the workers now and reap them (Python: `terminate`). Results not
    /// yet collected fail with [`Error::Cancelled`].
    pub fn terminate(&self) {
        let mut c = self.core.take_over();
        c.terminate(TaskError::Cancelled);
        self.core.release(c);
    }
}

impl Drop for Pool {
    /// Terminate, as CPython's `with Pool()` does on exit (see the module docs).
    fn drop(&mut self) {
        if self.core.lock().is_owner() {
            self.terminate();
        }
    }
}
