//! Who advances a pool's [`Core`], and every wait on it.
//!
//! One party at a time is the *driver* (`Core::driving`): the background
//! thread of a pool whose workers are spawned, or else whichever call is
//! waiting. The driver alone polls the workers' fds and closes them; it polls
//! without holding the lock, so submissions never wait for it. Others wait
//! on the condition variable, which the driver signals after each step.

use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use serde::de::DeserializeOwned;

use super::core::Core;
use super::{decode, decode_one, queue, Config, Listener, TaskId, Thunk};
use crate::error::{Error, Result};
use crate::start::StartMethod;

/// A pool's shared state: the scheduler, its condition variable, and the
/// eventfd that wakes the driver.
pub(crate) struct Inner {
    core: Mutex<Core>,
    /// The core's task-id counter (see [`Inner::reserve_id`]).
    ids: Arc<AtomicU64>,
    cond: Condvar,
    wake: OwnedFd,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What a pool and the handles to its results share.
pub(crate) type Shared = Arc<Inner>;

/// Start a pool: its workers, and its background thread if the workers are
/// spawned (see the [module docs](super)).
///
/// # Errors
/// As [`Core::start`]; [`Error::Io`] if the eventfd or the thread cannot be
/// made.
pub(crate) fn start(config: Config) -> Result<Shared> {
    let threaded = config.resolved_method() != StartMethod::Fork;
    let core = Core::start(config, threaded)?;
    // SAFETY: eventfd takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::Io {
            op: "eventfd",
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: eventfd just returned this fd; nothing else owns it.
    let wake = unsafe { OwnedFd::from_raw_fd(fd) };
    let inner = Arc::new(Inner {
        ids: core.ids.clone(),
        core: Mutex::new(core),
        cond: Condvar::new(),
        wake,
        thread: Mutex::new(None),
    });
    if threaded {
        let me = inner.clone();
        let handle = std::thread::Builder::new()
            .name("forklore-pool".into())
            .spawn(move || background(&me))
            .map_err(|source| Error::Io {
                op: "spawn the pool's thread",
                source,
            })?;
        *inner.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
    }
    Ok(inner)
}

impl Inner {
    /// An id for a task about to be encoded (outside the lock) and queued
    /// with `Core::submit_record`.
    pub(crate) fn reserve_id(&self) -> TaskId {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Lock the scheduler (a panic elsewhere never leaves it half changed:
    /// user code runs only outside the lock).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wake the driver: there is new work, or it should look again.
    pub(crate) fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a valid buffer to our own eventfd. A
        // full counter (EAGAIN) already means "wake up".
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    fn drain_wake(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a valid buffer from our own
        // non-blocking eventfd.
        unsafe { libc::read(self.wake.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }

    /// Make the caller the driver, waiting for the background thread (or
    /// the current driver) to give the role up: the background thread is
    /// told to end and joined. For `close`+`join`, `terminate` and drops,
    /// which touch the workers.
    pub(crate) fn take_over(&self) -> MutexGuard<'_, Core> {
        let handle = {
            let mut c = self.lock();
            c.quit = true;
            self.thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        };
        self.wake();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        let mut c = self.lock();
        c.threaded = false;
        while c.driving {
            self.wake();
            c = self
                .cond
                .wait_timeout(c, Duration::from_millis(10))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        c.driving = true;
        c
    }

    /// Give up the driver's role taken by [`take_over`](Self::take_over).
    pub(crate) fn release(&self, mut c: MutexGuard<'_, Core>) {
        c.driving = false;
        drop(c);
        self.cond.notify_all();
    }
}

/// The background thread's loop: drive until told to quit.
fn background(inner: &Inner) {
    let mut c = inner.lock();
    c.driving = true;
    loop {
        if c.quit {
            break;
        }
        let (next, thunks, failed) = step(inner, c, None);
        drop(next);
        run_thunks(inner, thunks, false);
        if failed.is_some() {
            // A worker could not be started; try again a little later
            // rather than spin.
            std::thread::sleep(Duration::from_millis(50));
        }
        c = inner.lock();
    }
    c.driving = false;
    drop(c);
    inner.cond.notify_all();
}

/// What a step leaves: the lock, the callbacks to run once it is released,
/// and the error of starting a worker, if one could not be.
type Stepped<'a> = (MutexGuard<'a, Core>, Vec<(TaskId, Thunk)>, Option<Error>);

/// One step of the driver (the caller holds the role): hand out work, wait
/// up to `timeout` (`None`: until something happens) for replies, deaths,
/// writable sockets or a wake-up, with the lock released, then handle them.
/// Returns the lock again, the callbacks to run once it is released, and
/// the first error (a worker that could not be started, a failed poll).
fn step<'a>(
    inner: &'a Inner,
    mut c: MutexGuard<'a, Core>,
    timeout: Option<Duration>,
) -> Stepped<'a> {
    let mut failed = c.dispatch().err();
    let watches = c.watches();
    let deadline = timeout.and_then(crate::sys::deadline);
    c.asleep = true;
    drop(c);
    let mut ready = Vec::new();
    let woken;
    {
        // SAFETY: every fd in `watches` belongs to a worker of this pool,
        // and only the driver (the caller, by the protocol of `driving`)
        // closes a worker's fds, which it does only after this borrow ends.
        // The eventfd lives as long as `inner`.
        let borrowed: Vec<BorrowedFd<'_>> = watches
            .iter()
            .map(|w| unsafe { BorrowedFd::borrow_raw(w.fd) })
            .collect();
        let mut fds: Vec<PollFd<'_>> = borrowed
            .iter()
            .zip(&watches)
            .map(|(fd, w)| {
                let mut ev = PollFlags::POLLIN;
                if w.write {
                    ev |= PollFlags::POLLOUT;
                }
                PollFd::new(*fd, ev)
            })
            .collect();
        fds.push(PollFd::new(inner.wake.as_fd(), PollFlags::POLLIN));
        if let Err(e) = crate::sys::poll(&mut fds, deadline) {
            failed.get_or_insert(e);
        }
        woken = fds
            .last()
            .and_then(PollFd::revents)
            .is_some_and(|r| !r.is_empty());
        for (fd, w) in fds.iter().zip(&watches) {
            if let Some(r) = fd.revents() {
                if !r.is_empty() {
                    ready.push((*w, r));
                }
            }
        }
    }
    if woken {
        inner.drain_wake();
    }
    let mut c = inner.lock();
    c.asleep = false;
    for (w, r) in ready {
        if w.write && r.contains(PollFlags::POLLOUT) {
            c.write_out(w.slot);
        }
        if w.pidfd || r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            c.service(w.slot, w.pidfd);
        }
    }
    if let Err(e) = c.dispatch() {
        failed.get_or_insert(e);
    }
    let thunks = c.take_thunks();
    inner.cond.notify_all();
    (c, thunks, failed)
}

/// Run callbacks, each on its own: one that panics does not keep the others
/// from running. With `rethrow`, the first panic goes on unwinding once all
/// have run (a waiting call's callbacks); otherwise (the background thread)
/// the panic has been reported by the panic hook and the thread goes on.
fn run_thunks(inner: &Inner, thunks: Vec<(TaskId, Thunk)>, rethrow: bool) {
    if thunks.is_empty() {
        return;
    }
    let mut first = None;
    let mut ids = Vec::with_capacity(thunks.len());
    for (id, thunk) in thunks {
        ids.push(id);
        if let Err(p) = catch_unwind(AssertUnwindSafe(thunk)) {
            first.get_or_insert(p);
        }
    }
    inner.lock().callbacks_ran(&ids);
    inner.cond.notify_all();
    if let (Some(p), true) = (first, rethrow) {
        resume_unwind(p);
    }
}

/// Advance the pool, or wait for it to advance, until `done` holds or the
/// timeout (`None`: none) ends. `Ok(false)` on timeout, and also if nothing
/// is left that could make `done` true (no task queued or running).
pub(crate) fn pump(
    inner: &Inner,
    timeout: Option<Duration>,
    mut done: impl FnMut(&Core) -> bool,
) -> Result<bool> {
    let deadline = timeout.and_then(crate::sys::deadline);
    let mut c = inner.lock();
    c.check_owner()?;
    loop {
        if done(&c) {
            return Ok(true);
        }
        if !c.busy() {
            return Ok(false);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) && timeout.is_some_and(|t| !t.is_zero()) {
            return Ok(false);
        }
        if c.threaded || c.driving {
            if left == Some(Duration::ZERO) {
                return Ok(false);
            }
            // The driver signals after each step; the bound only guards
            // against a missed signal.
            let wait = left.map_or(Duration::from_secs(1), |l| l.min(Duration::from_secs(1)));
            c = inner
                .cond
                .wait_timeout(c, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        c.driving = true;
        let (mut next, thunks, failed) = step(inner, c, left);
        next.driving = false;
        let zero = left == Some(Duration::ZERO);
        let verdict = zero.then(|| done(&next));
        drop(next);
        inner.cond.notify_all();
        run_thunks(inner, thunks, true);
        if let Some(e) = failed {
            // The waiter sees why no worker could be started.
            return Err(e);
        }
        if let Some(v) = verdict {
            return Ok(v);
        }
        c = inner.lock();
    }
}

/// After a submission: wake the background thread, or (no thread) make one
/// step without waiting, so the task starts now. Never blocks.
pub(crate) fn kick(inner: &Inner) {
    kick_locked(inner, inner.lock());
}

/// [`kick`], for a caller that holds the lock (which this releases).
pub(crate) fn kick_locked(inner: &Inner, c: MutexGuard<'_, Core>) {
    if c.threaded || c.driving {
        // An awake driver dispatches before it sleeps again.
        let asleep = c.asleep;
        drop(c);
        if asleep {
            inner.wake();
        }
        return;
    }
    // Hand the task out now, without reading replies; only when the
    // workers hold all they can take is a step (which reads them) worth its
    // poll. A failure here shows again when the results are waited for.
    let mut c = c;
    c.driving = true;
    let full = c.dispatch().is_err() || c.backlogged();
    c.driving = false;
    drop(c);
    if full {
        let _ = pump(inner, Some(Duration::ZERO), |_| false);
    }
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
        decode_one(self.core.lock().outcome(self.id).expect("finished"))
    }

    /// The finished task's error, if it failed (`None` while unfinished).
    pub(crate) fn error(&self) -> Option<Error> {
        match self.core.lock().outcome(self.id)? {
            Ok(_) => None,
            Err(e) => Some(e.to_error()),
        }
    }
}

impl<R> Drop for Handle<R> {
    fn drop(&mut self) {
        self.core.lock().abandon(self.id);
    }
}

/// Register `listener` for every `(key, id)`; the tasks that are already
/// done are queued at once, in the order they completed.
pub(crate) fn listen_all(
    core: &Shared,
    listener: &Listener,
    tasks: impl Iterator<Item = (u64, TaskId)>,
) {
    let mut c = core.lock();
    let mut done: Vec<(u64, u64)> = tasks
        .filter_map(|(key, id)| c.listen(id, listener, key).map(|seq| (seq, key)))
        .collect();
    done.sort_unstable();
    queue(listener).extend(done.into_iter().map(|(_, key)| key));
}

/// The results of a set of chunks, in order or as they complete: the
/// machinery of `map`, `map_async`, `imap`, `imap_unordered` and the
/// executor's `map`.
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
    /// `map`, which also cancels the chunks not started when dropped);
    /// otherwise yield the error in place of the chunk and go on.
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

    /// End at the first error, give up after `timeout` from now, and cancel
    /// the chunks not started when dropped.
    pub(crate) fn stop_on_error(mut self, timeout: Option<Duration>) -> Self {
        self.stop_on_error = true;
        self.timeout = timeout;
        self.deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self
    }

    /// Wait up to `timeout` for every chunk; true when all have finished.
    pub(crate) fn wait_all(&self, timeout: Option<Duration>) -> Result<bool> {
        let total = self.ids.len();
        let ready = &self.ready;
        pump(&self.core, timeout, |_| queue(ready).len() == total)?;
        Ok(queue(ready).len() == total)
    }

    /// Once every chunk has finished: all results in order, or the first
    /// error to have happened (Python's `map`: errors are reported only once
    /// every chunk has finished).
    pub(crate) fn results(&self) -> Result<Vec<R>> {
        let c = self.core.lock();
        if queue(&self.ready).len() < self.ids.len() {
            return Err(Error::Cancelled);
        }
        for &id in queue(&self.ready).iter() {
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

    /// Wait for every chunk, then return [`results`](Self::results).
    pub(crate) fn collect_all(self) -> Result<Vec<R>> {
        if !self.wait_all(None)? {
            return Err(Error::Cancelled);
        }
        self.results()
    }

    /// Cancel the chunks not yet started and end.
    fn finish(&mut self) {
        self.left = 0;
        self.core.lock().cancel_all(&self.ids);
    }

    /// Wait for the next chunk to yield, at most until `deadline`; `None`
    /// on timeout.
    fn next_chunk(&mut self, deadline: Option<Instant>) -> Result<Option<TaskId>> {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ok = if self.ordered {
            let id = self.ids[self.next];
            pump(&self.core, timeout, |c| c.is_done(id))?
        } else {
            let ready = &self.ready;
            pump(&self.core, timeout, |_| !queue(ready).is_empty())?
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
            queue(&self.ready).pop_front().expect("not empty")
        }))
    }

    /// The next item, waiting at most `timeout` (besides the iterator's own
    /// deadline); `Some(Err(Timeout))` then, and the iterator goes on.
    pub(crate) fn next_within(&mut self, timeout: Option<Duration>) -> Option<Result<R>> {
        let own = self.deadline;
        let mine = timeout.and_then(crate::sys::deadline);
        let deadline = match (own, mine) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        loop {
            if let Some(item) = self.current.next() {
                return Some(Ok(item));
            }
            if self.left == 0 {
                return None;
            }
            let chunk = match self.next_chunk(deadline) {
                Ok(Some(id)) => {
                    let mut c = self.core.lock();
                    let r = c
                        .outcome(id)
                        .map_or(Err(Error::Cancelled), |o| decode::<R>(o));
                    c.forget(id);
                    r
                }
                Ok(None) if mine.is_some() && mine == deadline => {
                    return Some(Err(Error::Timeout {
                        op: "IMapIterator.next",
                        after: timeout.unwrap_or_default(),
                    }));
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

impl<R: DeserializeOwned> Iterator for Chunks<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.next_within(None)
    }
}

impl<R> Drop for Chunks<R> {
    fn drop(&mut self) {
        let mut c = self.core.lock();
        if self.stop_on_error {
            // CPython's executor `map`: the generator's `finally` cancels
            // the futures not yet started when it is garbage-collected.
            c.cancel_all(&self.ids);
        }
        // Chunks already yielded are forgotten; abandon() skips them.
        for &id in &self.ids {
            c.abandon(id);
        }
    }
}
