//! Python's `multiprocessing.queues`: [`Queue`], [`SimpleQueue`] and
//! [`JoinableQueue`], typed, with no server and no feeder thread.
//!
//! ## How it works, and how it differs from CPython
//! CPython's `Queue` is a pipe plus a *feeder thread* in each process that
//! puts: `put` appends to an in-process buffer and returns at once, and the
//! feeder thread pickles items into the pipe in the background. That is
//! why its documentation warns, under "Joining processes that use queues":
//! a process that has put items does not exit until the feeder has flushed
//! them all into the pipe, so a parent that joins it before getting them
//! deadlocks; and an item still in the buffer is lost if the process is
//! killed.
//!
//! forklore starts no thread. A queue is a ring buffer in shared memory
//! (a `memfd`, like the [`synchronize`](crate::synchronize) objects):
//! `put` encodes the item with postcard and copies it into the ring before
//! it returns, and `get` copies it out. So:
//!
//! - When `put` returns, the item *is* in the queue. A process may exit,
//!   or be killed, right after; the item stays for a consumer. Joining a
//!   producer before getting its items does not deadlock: the producer has
//!   long exited.
//! - The ring holds a bounded number of bytes (1 MiB by default,
//!   [`Queue::with_capacity`] to choose): an "unbounded" queue is bounded
//!   by bytes, as a pipe is, where CPython's buffers without limit in the
//!   feeder's memory. When the ring is full, `put` waits (and
//!   `put_timeout`/`put_nowait` give [`Error::QueueFull`]). The deadlock
//!   above can therefore still happen if a producer puts more than the
//!   capacity before anyone gets; it then blocks visibly in `put`, not
//!   invisibly at exit.
//! - [`close`](Queue::close) and [`join_thread`](Queue::join_thread) keep
//!   CPython's meaning but have nothing to wait for: there is no thread
//!   and no buffer to flush.
//! - [`qsize`](Queue::qsize) is exact, not approximate.
//!
//! The ring is guarded by a robust, process-shared mutex, held only while
//! bytes are copied (no I/O). CPython warns that a process killed while it
//! uses a queue may leave it corrupted or locked; here a process killed at
//! any moment, even inside `put` or `get`, leaves neither: the next process
//! to lock the ring is told by the kernel that the holder died
//! (`EOWNERDEAD`), and the ring's words are written so that it can repair
//! them (an item is committed by one store and removed by one store; the
//! count is recounted from the bytes). An item whose `put` was interrupted
//! is not in the queue; one whose `get` was interrupted still is.
//! [`JoinableQueue`]'s count of unfinished tasks is not repaired: a
//! consumer killed between `get` and `task_done` leaves `join` waiting, as
//! in CPython.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

mod ring;

pub use ring::DEFAULT_CAPACITY;
use ring::{type_hash, Ring, JOIN_WAITERS, MAXSIZE, UNFINISHED};

use crate::error::{Error, Result};
use crate::region::{futex_wait, futex_wake, Deadline};
use crate::synchronize::{one_fd, SharedFds};

/// A queue handle's own state: shared by its clones in this process, not
/// with other processes (Python: the `Queue` object of one process).
#[derive(Default)]
struct Local {
    closed: AtomicBool,
}

/// `multiprocessing.Queue`: a typed FIFO between processes, in shared
/// memory, with no feeder thread (see the [module docs](self)).
///
/// ```
/// let q = forklore::queues::Queue::<String>::new().unwrap();
/// q.put(&"hello".to_string()).unwrap();
/// assert_eq!(q.qsize(), 1);
/// assert_eq!(q.get().unwrap(), "hello");
/// assert!(q.get_nowait().unwrap_err().is_queue_empty());
/// ```
pub struct Queue<T> {
    ring: Arc<Ring>,
    local: Arc<Local>,
    joinable: bool,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            ring: self.ring.clone(),
            local: self.local.clone(),
            joinable: self.joinable,
            _t: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue bounded only by its default byte capacity
    /// ([`DEFAULT_CAPACITY`]) (Python: `Queue()`).
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new() -> Result<Queue<T>> {
        Queue::with_capacity(0, DEFAULT_CAPACITY)
    }

    /// A queue of at most `maxsize` items (Python: `Queue(maxsize)`; 0 is
    /// no item limit).
    ///
    /// # Errors
    /// As [`new`](Queue::new).
    pub fn with_maxsize(maxsize: u32) -> Result<Queue<T>> {
        Queue::with_capacity(maxsize, DEFAULT_CAPACITY)
    }

    /// A queue of at most `maxsize` items (0: no limit) and `capacity`
    /// bytes of encoded items (each takes 4 more bytes).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `capacity` is under 8 bytes or over
    /// 4 GiB; [`Error::Os`] if the shared memory cannot be created.
    pub fn with_capacity(maxsize: u32, capacity: usize) -> Result<Queue<T>> {
        Ok(Queue::from_ring(
            Ring::new(capacity, maxsize, type_hash::<T>())?,
            false,
        ))
    }

    fn from_ring(ring: Ring, joinable: bool) -> Queue<T> {
        Queue {
            ring: Arc::new(ring),
            local: Arc::default(),
            joinable,
            _t: PhantomData,
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.local.closed.load(Relaxed) {
            Err(Error::QueueClosed)
        } else {
            Ok(())
        }
    }

    fn put_until(&self, item: &T, deadline: Deadline) -> Result<()> {
        self.check_open()?;
        let (bytes, why) = crate::synchronize::with_note(|| postcard::to_allocvec(item));
        let bytes = bytes.map_err(|e| Error::Encode(why.unwrap_or_else(|| e.to_string())))?;
        self.ring.put(&bytes, deadline, self.joinable)
    }

    fn get_until(&self, deadline: Deadline) -> Result<T> {
        self.check_open()?;
        let bytes = self.ring.get(deadline)?;
        let (item, why) = crate::synchronize::with_note(|| postcard::from_bytes(&bytes));
        item.map_err(|e| Error::Decode(why.unwrap_or_else(|| e.to_string())))
    }

    /// Puts an item, waiting while the queue is full. When it returns the
    /// item is in shared memory: this process may exit at once.
    ///
    /// # Errors
    /// [`Error::QueueClosed`] after [`close`](Queue::close);
    /// [`Error::FrameTooLarge`] if the encoded item exceeds the capacity;
    /// [`Error::Encode`] if it cannot be encoded.
    pub fn put(&self, item: &T) -> Result<()> {
        self.put_until(item, Deadline::after(None))
    }

    /// As [`put`](Queue::put), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::QueueFull`] if still full after `timeout` (Python:
    /// `queue.Full`); otherwise as [`put`](Queue::put).
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.put_until(item, Deadline::after(Some(timeout)))
    }

    /// As [`put`](Queue::put) without waiting.
    ///
    /// # Errors
    /// [`Error::QueueFull`] at once if full.
    pub fn put_nowait(&self, item: &T) -> Result<()> {
        self.put_timeout(item, Duration::ZERO)
    }

    /// Takes the oldest item, waiting while the queue is empty.
    ///
    /// # Errors
    /// [`Error::QueueClosed`] after [`close`](Queue::close);
    /// [`Error::Decode`] if the bytes are not a `T`.
    pub fn get(&self) -> Result<T> {
        self.get_until(Deadline::after(None))
    }

    /// As [`get`](Queue::get), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] if still empty after `timeout` (Python:
    /// `queue.Empty`); otherwise as [`get`](Queue::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until(Deadline::after(Some(timeout)))
    }

    /// As [`get`](Queue::get) without waiting.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] at once if empty.
    pub fn get_nowait(&self) -> Result<T> {
        self.get_timeout(Duration::ZERO)
    }

    /// The number of items in the queue (exact at the moment of the call,
    /// even just after a process died inside `put` or `get`).
    pub fn qsize(&self) -> usize {
        self.ring.count() as usize
    }

    /// True if the queue holds no item.
    pub fn empty(&self) -> bool {
        self.ring.count() == 0
    }

    /// True if the queue holds `maxsize` items (never for `maxsize` 0).
    pub fn full(&self) -> bool {
        let max = self.ring.word(MAXSIZE).load(Relaxed);
        max > 0 && self.ring.count() >= max
    }

    /// Says this process will use the queue no more: later `put` and `get`
    /// through this handle (and its clones in this process) give
    /// [`Error::QueueClosed`]. Other processes are not affected.
    pub fn close(&self) {
        self.local.closed.store(true, Relaxed);
    }

    /// CPython's waits for the feeder thread to flush; here every item is
    /// already in shared memory when `put` returns, so it returns at once.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if called before [`close`](Queue::close)
    /// (Python: `AssertionError: Queue ... not closed`).
    pub fn join_thread(&self) -> Result<()> {
        if self.local.closed.load(Relaxed) {
            Ok(())
        } else {
            Err(Error::InvalidArgument(
                "join_thread() called on a queue that is not closed".into(),
            ))
        }
    }

    /// CPython's stops `join_thread` from waiting; here there is never
    /// anything to wait for, so it does nothing.
    pub fn cancel_join_thread(&self) {}
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Queue(qsize={})>", self.ring.count())
    }
}

impl<T: Serialize + DeserializeOwned> SharedFds for Queue<T> {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.ring.region.fd()]
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let ring = Ring::from_fd(one_fd(fds, "Queue")?, type_hash::<T>())?;
        Ok(Queue::from_ring(ring, false))
    }
}

/// `multiprocessing.SimpleQueue`: `put`, `get`, `empty` and `close`, with
/// no item limit (bounded by [`DEFAULT_CAPACITY`] bytes).
///
/// ```
/// let q = forklore::queues::SimpleQueue::<u32>::new().unwrap();
/// q.put(&5).unwrap();
/// assert!(!q.empty());
/// assert_eq!(q.get().unwrap(), 5);
/// ```
pub struct SimpleQueue<T>(Queue<T>);

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue(self.0.clone())
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A new simple queue.
    ///
    /// # Errors
    /// As [`Queue::new`].
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue(Queue::new()?))
    }

    /// Puts an item, waiting while the ring is full.
    ///
    /// # Errors
    /// As [`Queue::put`].
    pub fn put(&self, item: &T) -> Result<()> {
        self.0.put(item)
    }

    /// Takes the oldest item, waiting while empty.
    ///
    /// # Errors
    /// As [`Queue::get`].
    pub fn get(&self) -> Result<T> {
        self.0.get()
    }

    /// True if the queue holds no item.
    pub fn empty(&self) -> bool {
        self.0.empty()
    }

    /// Closes this process's handle (see [`Queue::close`]).
    pub fn close(&self) {
        self.0.close()
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<SimpleQueue(qsize={})>", self.0.ring.count())
    }
}

impl<T: Serialize + DeserializeOwned> SharedFds for SimpleQueue<T> {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.0.fds()
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        Ok(SimpleQueue(Queue::from_fds(fds)?))
    }
}

/// `multiprocessing.JoinableQueue`: a [`Queue`] that counts unfinished
/// items; [`task_done`](JoinableQueue::task_done) marks one done and
/// [`join`](JoinableQueue::join) waits until none is left.
///
/// ```
/// let q = forklore::queues::JoinableQueue::<u8>::new().unwrap();
/// q.put(&1).unwrap();
/// q.get().unwrap();
/// q.task_done().unwrap();
/// q.join();
/// assert!(q.task_done().is_err());
/// ```
pub struct JoinableQueue<T>(Queue<T>);

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue(self.0.clone())
    }
}

impl<T: Serialize + DeserializeOwned> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue with no item limit.
    ///
    /// # Errors
    /// As [`Queue::new`].
    pub fn new() -> Result<JoinableQueue<T>> {
        JoinableQueue::with_maxsize(0)
    }

    /// A joinable queue of at most `maxsize` items.
    ///
    /// # Errors
    /// As [`Queue::new`].
    pub fn with_maxsize(maxsize: u32) -> Result<JoinableQueue<T>> {
        let ring = Ring::new(DEFAULT_CAPACITY, maxsize, type_hash::<JoinableQueue<T>>())?;
        Ok(JoinableQueue(Queue::from_ring(ring, true)))
    }

    fn unfinished(&self) -> &AtomicU32 {
        self.0.ring.word(UNFINISHED)
    }

    /// Marks one item taken by `get` as processed.
    ///
    /// # Errors
    /// [`Error::TaskDoneTooManyTimes`] if every item put is already done
    /// (Python: `ValueError: task_done() called too many times`).
    pub fn task_done(&self) -> Result<()> {
        let ring = &self.0.ring;
        ring.lock()?;
        let u = self.unfinished().load(Relaxed);
        if u == 0 {
            ring.unlock();
            return Err(Error::TaskDoneTooManyTimes);
        }
        self.unfinished().store(u - 1, SeqCst);
        ring.unlock();
        if u == 1 && ring.word(JOIN_WAITERS).load(SeqCst) > 0 {
            futex_wake(self.unfinished(), u32::MAX);
        }
        Ok(())
    }

    /// Waits until every item put has been marked done.
    pub fn join(&self) {
        self.join_until(Deadline::after(None));
    }

    /// As [`join`](JoinableQueue::join), at most `timeout`; true if every
    /// item was done in time.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.join_until(Deadline::after(Some(timeout)))
    }

    fn join_until(&self, deadline: Deadline) -> bool {
        let waiters = self.0.ring.word(JOIN_WAITERS);
        loop {
            let u = self.unfinished().load(SeqCst);
            if u == 0 {
                return true;
            }
            if deadline.expired() {
                return false;
            }
            waiters.fetch_add(1, SeqCst);
            futex_wait(self.unfinished(), u, deadline.remaining());
            waiters.fetch_sub(1, SeqCst);
        }
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<JoinableQueue(qsize={})>", self.0.ring.count())
    }
}

impl<T: Serialize + DeserializeOwned> SharedFds for JoinableQueue<T> {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.0.fds()
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let ring = Ring::from_fd(
            one_fd(fds, "JoinableQueue")?,
            type_hash::<JoinableQueue<T>>(),
        )?;
        Ok(JoinableQueue(Queue::from_ring(ring, true)))
    }
}

// As `from_fn` arguments (see `synchronize::travel`); an error anywhere else.
crate::synchronize::travels_with_start!([T: Serialize + DeserializeOwned] Queue<T>, "Queue");
crate::synchronize::travels_with_start!([T: Serialize + DeserializeOwned] SimpleQueue<T>, "SimpleQueue");
crate::synchronize::travels_with_start!([T: Serialize + DeserializeOwned] JoinableQueue<T>, "JoinableQueue");

#[cfg(test)]
mod tests {
    use super::*;

    // CPython: _TestQueue.test_put / test_get
    #[test]
    fn fifo_order_sizes_and_full_empty_with_maxsize() {
        let q = Queue::<i32>::with_maxsize(6).unwrap();
        assert!(q.empty() && !q.full());
        for i in 1..=6 {
            q.put(&i).unwrap();
        }
        assert!(q.full());
        assert_eq!(q.qsize(), 6);
        assert!(matches!(q.put_nowait(&7), Err(Error::QueueFull)));
        let t = std::time::Instant::now();
        assert!(matches!(
            q.put_timeout(&7, Duration::from_millis(30)),
            Err(Error::QueueFull)
        ));
        assert!(t.elapsed() >= Duration::from_millis(30));
        for i in 1..=6 {
            assert_eq!(q.get().unwrap(), i);
        }
        assert!(matches!(q.get_nowait(), Err(Error::QueueEmpty)));
        assert!(matches!(
            q.get_timeout(Duration::from_millis(10)),
            Err(Error::QueueEmpty)
        ));
    }

    #[test]
    fn the_ring_wraps_around_and_items_of_every_size_survive() {
        let q = Queue::<Vec<u8>>::with_capacity(0, 100).unwrap();
        for round in 0..50u8 {
            let a = vec![round; (round as usize * 7) % 40];
            let b = vec![round.wrapping_add(1); 13];
            q.put(&a).unwrap();
            q.put(&b).unwrap();
            assert_eq!(q.get().unwrap(), a);
            assert_eq!(q.get().unwrap(), b);
        }
        assert!(matches!(
            q.put(&vec![0; 200]),
            Err(Error::FrameTooLarge { .. })
        ));
        // Full by bytes: put waits, put_nowait refuses.
        q.put(&vec![1; 60]).unwrap();
        assert!(matches!(q.put_nowait(&vec![1; 60]), Err(Error::QueueFull)));
    }

    // CPython: _TestQueue.test_closed_queue_put_get_exceptions
    #[test]
    fn a_closed_queue_refuses_put_and_get_and_join_thread_needs_close() {
        let q = Queue::<u8>::new().unwrap();
        assert!(q.join_thread().is_err());
        q.close();
        assert!(matches!(q.put(&1), Err(Error::QueueClosed)));
        assert!(matches!(q.get(), Err(Error::QueueClosed)));
        q.join_thread().unwrap();
    }

    // CPython: _TestQueue.test_task_done
    #[test]
    fn joinable_queue_join_waits_for_task_done() {
        let q = JoinableQueue::<u32>::new().unwrap();
        for i in 0..10 {
            q.put(&i).unwrap();
        }
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    while let Ok(_item) = q.get_timeout(Duration::from_millis(200)) {
                        q.task_done().unwrap();
                    }
                })
            })
            .collect();
        q.join();
        assert_eq!(q.unfinished().load(Relaxed), 0);
        for w in workers {
            w.join().unwrap();
        }
        assert!(matches!(q.task_done(), Err(Error::TaskDoneTooManyTimes)));
        assert!(q.join_timeout(Duration::ZERO));
    }

    #[test]
    fn a_queue_of_another_item_type_is_refused_when_it_travels() {
        let q = Queue::<u32>::new().unwrap();
        let dup = || vec![q.fds()[0].try_clone_to_owned().unwrap()];
        q.put(&9).unwrap();
        assert!(Queue::<String>::from_fds(dup()).is_err());
        assert_eq!(Queue::<u32>::from_fds(dup()).unwrap().get().unwrap(), 9);
    }

    // CPython: _TestSimpleQueue.test_empty / test_close
    #[test]
    fn simple_queue_put_get_empty_close() {
        let q = SimpleQueue::<String>::new().unwrap();
        assert!(q.empty());
        q.put(&"a".into()).unwrap();
        assert!(!q.empty());
        assert_eq!(q.get().unwrap(), "a");
        assert!(q.empty());
        q.close();
        assert!(matches!(q.put(&"b".into()), Err(Error::QueueClosed)));
    }
}
