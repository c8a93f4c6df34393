//! Python's `multiprocessing.synchronize`: locks, semaphores, events,
//! conditions and barriers that live in shared memory, with no server.
//!
//! | Python | forklore |
//! |---|---|
//! | `multiprocessing.Lock()` | [`Lock`] |
//! | `multiprocessing.RLock()` | [`RLock`] |
//! | `multiprocessing.Semaphore(n)` | [`Semaphore`] |
//! | `multiprocessing.BoundedSemaphore(n)` | [`BoundedSemaphore`] |
//! | `multiprocessing.Event()` | [`Event`] |
//! | `multiprocessing.Condition(lock)` | [`Condition`] |
//! | `multiprocessing.Barrier(n)` | [`Barrier`] |
//! | (`pthread_mutexattr_setrobust`) | [`RobustLock`] |
//!
//! Each object is a handle on a small `memfd` mapped `MAP_SHARED` (see
//! [`SharedFds`]). Cloning a handle, or forking, gives another handle on
//! the same object; the memory is freed when the last handle in the last
//! process is gone. Waits are futex waits on words in that memory: an
//! uncontended `acquire` + `release` is two atomic instructions and no
//! system call, where CPython's calls `sem_wait`/`sem_post` through the
//! `_multiprocessing` module.
//!
//! ## Passing one to a child
//! Under `fork` a child inherits every mapping. Under `spawn` and
//! `forkserver`, pass the object as (part of) the arguments of
//! [`Process::from_fn`](crate::Process::from_fn): while `from_fn` encodes
//! them, each shared object puts a duplicate of its descriptor(s) in a
//! side table and writes only their place in it; the start carries the
//! table (`spawn`: inherited across `exec`, numbers in the payload;
//! `forkserver`: `SCM_RIGHTS` to the server with the child's stdio), and
//! the child's decoding maps the same memory. The same holds for
//! [`sharedctypes`](crate::sharedctypes), [`queues`](crate::queues) and
//! [`SharedMemory`](crate::shared_memory::SharedMemory) (which otherwise
//! travels by name). Serializing one anywhere else (into a
//! [`Queue`](crate::queues::Queue), say) is an [`Error::Encode`], as
//! CPython refuses to pickle a lock outside a process start.
//!
//! ## A holder that dies
//! As in CPython, a process that dies (even by `SIGKILL`) while it holds a
//! [`Lock`], an [`RLock`] or a unit of a semaphore takes it with it: the
//! lock stays held for ever. (The Manager's locks differ: its server sees
//! the connection close and releases what the client held.) Where that is
//! not acceptable, use a [`RobustLock`]: the next acquirer gets the lock
//! together with [`Error::OwnerDied`], as `pthread_mutex_lock` returns
//! `EOWNERDEAD`, and decides whether the data it protects is consistent.
//!
//! ## Owners and pid reuse
//! "Owner" means a thread: an [`RLock`] records the owning thread's kernel
//! id (`gettid`, the pid for a main thread), which is unique on the machine
//! while that thread lives. A forked child is another owner. If an owner
//! dies holding an `RLock` and the kernel later gives its id to a new
//! thread, that thread would be taken for the owner; CPython's `RLock` has
//! the same weakness. [`RobustLock`] has none: the kernel itself marks the
//! lock when its owner exits (the robust futex list), so no pid is ever
//! compared.

mod condition;
mod robust;
mod semaphore;
mod travel;

use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

pub use condition::{Barrier, Condition, ConditionLock};
pub use robust::RobustLock;
pub(crate) use robust::{init_robust, lock_robust, unlock_robust, ROBUST_SIZE};
pub(crate) use semaphore::Sem;
pub use semaphore::{BoundedSemaphore, Event, Semaphore};
pub(crate) use travel::{
    decode_with_fds, deserialize_shared, encode_with_fds, encoding_open, note, push_fds,
    serialize_shared, take_fds, travels_with_start, with_note,
};
pub use travel::{recv_shared, send_shared};

use crate::error::{Error, Result};
use crate::region::{futex_wait, futex_wake, gettid, Deadline, Region, BODY};

/// The largest value of a semaphore, as CPython's `SEM_VALUE_MAX` on Linux.
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

pub(crate) const KIND_LOCK: u32 = 1;
pub(crate) const KIND_RLOCK: u32 = 2;
pub(crate) const KIND_SEMAPHORE: u32 = 3;
pub(crate) const KIND_BOUNDED: u32 = 4;
pub(crate) const KIND_EVENT: u32 = 5;
/// The kinds of `sharedctypes`' regions, here because an [`RLock`] may be
/// the lock of one (`get_lock`).
pub(crate) const KIND_VALUE: u32 = 10;
pub(crate) const KIND_ARRAY: u32 = 11;

/// Objects that live in shared memory and can travel to a process that did
/// not inherit them (a `spawn` or `forkserver` child) as file descriptors,
/// sent over a Unix socket with `SCM_RIGHTS`.
///
/// A forked child needs none of this: it inherits the mappings. Every such
/// object is also an argument [`Process::from_fn`](crate::Process::from_fn)
/// accepts under any start method (its `Serialize` works only there; see
/// the [module docs](self)), and [`send_shared`] and
/// [`recv_shared`] send one over a Unix socket of your own.
pub trait SharedFds: Sized {
    /// The descriptors to send, in order.
    fn fds(&self) -> Vec<BorrowedFd<'_>>;

    /// Rebuilds the object from descriptors received in the same order.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the number of descriptors is wrong or
    /// one does not hold this kind of object; [`Error::Os`] if it cannot be
    /// mapped.
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self>;
}

pub(crate) fn one_fd(fds: Vec<OwnedFd>, what: &str) -> Result<OwnedFd> {
    let n = fds.len();
    let mut it = fds.into_iter();
    match (it.next(), it.next()) {
        (Some(fd), None) => Ok(fd),
        _ => Err(Error::InvalidArgument(format!(
            "a {what} travels as 1 descriptor, got {n}"
        ))),
    }
}

/// A mutex of the 12 bytes at `base`: a state word (0 free, 1 held, 2 held
/// with possible waiters, as in Drepper's "Futexes Are Tricky"), the owning
/// thread's id, and a recursion count (used by [`RLock`]).
#[derive(Clone, Copy)]
pub(crate) struct Mutex<'a> {
    region: &'a Region,
    base: usize,
}

impl<'a> Mutex<'a> {
    pub(crate) const SIZE: usize = 12;

    pub(crate) fn at(region: &'a Region, base: usize) -> Mutex<'a> {
        Mutex { region, base }
    }
    #[inline]
    fn state(&self) -> &'a AtomicU32 {
        self.region.u32_at(self.base)
    }
    #[inline]
    fn owner(&self) -> &'a AtomicU32 {
        self.region.u32_at(self.base + 4)
    }
    #[inline]
    fn count(&self) -> &'a AtomicU32 {
        self.region.u32_at(self.base + 8)
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.state()
            .compare_exchange(0, 1, Acquire, Relaxed)
            .is_ok()
    }

    #[inline]
    fn lock(&self, deadline: Deadline) -> bool {
        if self.try_lock() {
            return true;
        }
        if deadline.expired() {
            // A try: do not mark the lock contended.
            return false;
        }
        let state = self.state();
        loop {
            if state.swap(2, Acquire) == 0 {
                return true;
            }
            if deadline.expired() || !futex_wait(state, 2, deadline.remaining()) {
                // Timed out; one last try, as the unit may have come at the end.
                return state.compare_exchange(0, 1, Acquire, Relaxed).is_ok();
            }
        }
    }

    /// False if it was not locked (and then nothing changed).
    #[inline]
    pub(crate) fn unlock(&self) -> bool {
        match self.state().swap(0, Release) {
            0 => false,
            1 => true,
            _ => {
                futex_wake(self.state(), 1);
                true
            }
        }
    }

    #[inline]
    fn locked(&self) -> bool {
        self.state().load(Relaxed) != 0
    }
}

/// `multiprocessing.Lock`: a non-recursive lock in shared memory.
///
/// As in CPython it is a semaphore of one: any process or thread may
/// release it, and releasing it when it is not held is an error.
///
/// ```
/// let lock = forklore::synchronize::Lock::new().unwrap();
/// lock.acquire();
/// assert!(!lock.try_acquire());
/// lock.release().unwrap();
/// assert!(lock.release().is_err()); // not held any more
/// ```
#[derive(Clone)]
pub struct Lock {
    region: Arc<Region>,
    base: usize,
}

impl Lock {
    /// A new unlocked lock.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created (`memfd_create`,
    /// `mmap`; for example too many open files).
    pub fn new() -> Result<Lock> {
        Ok(Lock {
            region: Arc::new(Region::new(KIND_LOCK, BODY + Mutex::SIZE)?),
            base: BODY,
        })
    }

    #[inline]
    fn mutex(&self) -> Mutex<'_> {
        Mutex::at(&self.region, self.base)
    }

    /// Blocks until the lock is acquired (Python: `acquire()`).
    #[inline]
    pub fn acquire(&self) {
        self.acquire_until(Deadline::after(None));
    }

    /// Waits at most `timeout`; true if acquired (Python:
    /// `acquire(timeout=t)`).
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(Deadline::after(Some(timeout)))
    }

    /// Acquires without waiting; true if acquired (Python:
    /// `acquire(False)`).
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let m = self.mutex();
        let got = m.try_lock();
        if got {
            m.owner().store(gettid(), Relaxed);
        }
        got
    }

    #[inline]
    pub(crate) fn acquire_until(&self, deadline: Deadline) -> bool {
        let m = self.mutex();
        let got = m.lock(deadline);
        if got {
            m.owner().store(gettid(), Relaxed);
        }
        got
    }

    /// Releases the lock, whoever acquired it.
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`] if it is not held (Python: `ValueError:
    /// semaphore or lock released too many times`).
    #[inline]
    pub fn release(&self) -> Result<()> {
        let m = self.mutex();
        m.owner().store(0, Relaxed);
        if m.unlock() {
            Ok(())
        } else {
            Err(Error::ReleaseUnlocked {
                what: "lock: semaphore or lock released too many times".into(),
            })
        }
    }

    /// True while some process or thread holds the lock.
    #[inline]
    pub fn locked(&self) -> bool {
        self.mutex().locked()
    }

    /// True if the calling thread acquired the lock and has not released it.
    #[inline]
    pub(crate) fn is_mine(&self) -> bool {
        let m = self.mutex();
        m.locked() && m.owner().load(Relaxed) == gettid()
    }

    /// Acquires and returns a guard that releases on drop (Python: `with lock:`).
    #[inline]
    pub fn guard(&self) -> Guard<'_> {
        self.acquire();
        Guard(Held::Lock(self))
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = if self.is_mine() {
            "this thread"
        } else if self.locked() {
            "another thread or process"
        } else {
            "None"
        };
        write!(f, "<Lock(owner={owner})>")
    }
}

impl SharedFds for Lock {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.region.fd()]
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let fd = one_fd(fds, "Lock")?;
        Ok(Lock {
            region: Arc::new(Region::from_fd(fd, KIND_LOCK, BODY + Mutex::SIZE)?),
            base: BODY,
        })
    }
}

/// `multiprocessing.RLock`: a recursive lock owned by one thread of one
/// process, which must release it as many times as it acquired it.
///
/// ```
/// let lock = forklore::synchronize::RLock::new().unwrap();
/// lock.acquire().unwrap();
/// lock.acquire().unwrap();
/// lock.release().unwrap();
/// lock.release().unwrap();
/// assert!(lock.release().is_err());
/// ```
#[derive(Clone)]
pub struct RLock {
    region: Arc<Region>,
    base: usize,
}

impl RLock {
    /// A new unlocked recursive lock.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new() -> Result<RLock> {
        Ok(RLock {
            region: Arc::new(Region::new(KIND_RLOCK, BODY + Mutex::SIZE)?),
            base: BODY,
        })
    }

    /// The recursive lock of the `Mutex::SIZE` bytes at `base` of `region`
    /// (the lock of a `Value` or an `Array`).
    pub(crate) fn inside(region: Arc<Region>, base: usize) -> RLock {
        RLock { region, base }
    }

    #[inline]
    fn mutex(&self) -> Mutex<'_> {
        Mutex::at(&self.region, self.base)
    }

    /// Blocks until acquired; an owner acquires again at once.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the owner's count would overflow `u32`.
    #[inline]
    pub fn acquire(&self) -> Result<()> {
        self.acquire_until(Deadline::after(None)).map(|_| ())
    }

    /// Waits at most `timeout`; true if acquired.
    ///
    /// # Errors
    /// As [`acquire`](RLock::acquire).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.acquire_until(Deadline::after(Some(timeout)))
    }

    /// Acquires without waiting; true if acquired.
    ///
    /// # Errors
    /// As [`acquire`](RLock::acquire).
    #[inline]
    pub fn try_acquire(&self) -> Result<bool> {
        self.acquire_until(Deadline::after(Some(Duration::ZERO)))
    }

    #[inline]
    pub(crate) fn acquire_until(&self, deadline: Deadline) -> Result<bool> {
        let me = gettid();
        let m = self.mutex();
        if m.owner().load(Relaxed) == me && m.locked() {
            let c = m.count().load(Relaxed).checked_add(1).ok_or_else(|| {
                Error::InvalidArgument(
                    "RLock acquired more than u32::MAX times by its owner".into(),
                )
            })?;
            m.count().store(c, Relaxed);
            return Ok(true);
        }
        if !m.lock(deadline) {
            return Ok(false);
        }
        m.owner().store(me, Relaxed);
        m.count().store(1, Relaxed);
        Ok(true)
    }

    /// Releases one level; the lock is free when the owner has released as
    /// many times as it acquired.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not hold it (Python:
    /// `AssertionError: attempt to release recursive lock not owned by thread`).
    #[inline]
    pub fn release(&self) -> Result<()> {
        if !self.is_mine() {
            return Err(Error::NotOwner {
                op: "RLock.release".into(),
            });
        }
        let m = self.mutex();
        let c = m.count().load(Relaxed);
        if c > 1 {
            m.count().store(c - 1, Relaxed);
            return Ok(());
        }
        m.count().store(0, Relaxed);
        m.owner().store(0, Relaxed);
        m.unlock();
        Ok(())
    }

    #[inline]
    pub(crate) fn is_mine(&self) -> bool {
        let m = self.mutex();
        m.locked() && m.owner().load(Relaxed) == gettid() && m.count().load(Relaxed) > 0
    }

    /// Runs `f` holding the lock: at once if the calling thread holds it
    /// already (acquiring again and releasing would change nothing),
    /// else between an acquire and a release.
    #[inline]
    pub(crate) fn holding<R>(&self, f: impl FnOnce() -> R) -> R {
        let me = gettid();
        let m = self.mutex();
        if m.locked() && m.owner().load(Relaxed) == me && m.count().load(Relaxed) > 0 {
            return f();
        }
        m.lock(Deadline::after(None));
        m.owner().store(me, Relaxed);
        m.count().store(1, Relaxed);
        let r = f();
        m.count().store(0, Relaxed);
        m.owner().store(0, Relaxed);
        m.unlock();
        r
    }

    /// How many times the calling thread holds the lock (0 if it does not).
    pub fn level(&self) -> u32 {
        if self.is_mine() {
            self.mutex().count().load(Relaxed)
        } else {
            0
        }
    }

    /// Releases every level the calling thread holds; returns how many.
    pub(crate) fn release_all(&self) -> Result<u32> {
        let c = self.level();
        if c == 0 {
            return Err(Error::NotOwner {
                op: "RLock.release".into(),
            });
        }
        self.mutex().count().store(1, Relaxed);
        self.release()?;
        Ok(c)
    }

    /// Re-takes `levels` levels after [`release_all`](RLock::release_all).
    pub(crate) fn reacquire(&self, levels: u32) {
        let m = self.mutex();
        m.lock(Deadline::after(None));
        m.owner().store(gettid(), Relaxed);
        m.count().store(levels, Relaxed);
    }

    /// Acquires and returns a guard that releases one level on drop.
    ///
    /// # Errors
    /// As [`acquire`](RLock::acquire).
    #[inline]
    pub fn guard(&self) -> Result<Guard<'_>> {
        self.acquire()?;
        Ok(Guard(Held::RLock(self)))
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_mine() {
            write!(f, "<RLock(this thread, {})>", self.level())
        } else if self.mutex().locked() {
            write!(f, "<RLock(another thread or process, nonzero)>")
        } else {
            write!(f, "<RLock(None, 0)>")
        }
    }
}

impl SharedFds for RLock {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.region.fd()]
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let fd = one_fd(fds, "RLock")?;
        // A Value's or an Array's own lock (`get_lock`) is at the same
        // place of its region.
        let kinds = [KIND_RLOCK, KIND_VALUE, KIND_ARRAY];
        Ok(RLock {
            region: Arc::new(Region::from_fd_of(fd, &kinds, BODY + Mutex::SIZE)?),
            base: BODY,
        })
    }
}

// As `from_fn` arguments (see `travel`); an error anywhere else.
travels_with_start!([] Lock, "Lock");
travels_with_start!([] RLock, "RLock");
travels_with_start!([] Semaphore, "Semaphore");
travels_with_start!([] BoundedSemaphore, "BoundedSemaphore");
travels_with_start!([] Event, "Event");
travels_with_start!([] Condition, "Condition");
travels_with_start!([] Barrier, "Barrier");
travels_with_start!([] RobustLock, "RobustLock");

pub(crate) enum Held<'a> {
    Lock(&'a Lock),
    RLock(&'a RLock),
    Semaphore(&'a Semaphore),
    BoundedSemaphore(&'a BoundedSemaphore),
    Condition(&'a Condition),
}

/// Releases what it guards when dropped (Python: leaving a `with` block).
#[must_use = "the lock is released when the guard is dropped"]
pub struct Guard<'a>(pub(crate) Held<'a>);

impl Guard<'_> {
    #[inline]
    fn release_inner(&self) -> Result<()> {
        match self.0 {
            Held::Lock(l) => l.release(),
            Held::RLock(l) => l.release(),
            Held::Semaphore(s) => s.release(),
            Held::BoundedSemaphore(s) => s.release(),
            Held::Condition(c) => c.release(),
        }
    }

    /// Releases now, reporting an error instead of ignoring it.
    ///
    /// # Errors
    /// As the guarded object's `release` (for example if someone else
    /// released a [`Lock`] meanwhile).
    #[inline]
    pub fn release(self) -> Result<()> {
        let r = self.release_inner();
        std::mem::forget(self);
        r
    }
}

impl Drop for Guard<'_> {
    #[inline]
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

impl fmt::Debug for Guard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Guard")
    }
}

pub(crate) fn condition_guard(c: &Condition) -> Guard<'_> {
    Guard(Held::Condition(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    // CPython: _TestLock.test_lock
    #[test]
    fn lock_acquire_release_and_release_unlocked_is_an_error() {
        let lock = Lock::new().unwrap();
        assert!(lock.try_acquire());
        assert!(!lock.try_acquire());
        lock.release().unwrap();
        assert!(lock.release().unwrap_err().to_string().contains("too many"));
    }

    // CPython: _TestLock.test_rlock
    #[test]
    fn rlock_counts_levels_and_refuses_an_extra_release() {
        let lock = RLock::new().unwrap();
        for _ in 0..3 {
            assert!(lock.try_acquire().unwrap());
        }
        assert_eq!(lock.level(), 3);
        for _ in 0..3 {
            lock.release().unwrap();
        }
        assert!(matches!(lock.release(), Err(Error::NotOwner { .. })));
    }

    #[test]
    fn rlock_is_not_owned_by_another_thread() {
        let lock = RLock::new().unwrap();
        lock.acquire().unwrap();
        let l2 = lock.clone();
        std::thread::spawn(move || {
            assert!(matches!(l2.release(), Err(Error::NotOwner { .. })));
            assert!(!l2.try_acquire().unwrap());
        })
        .join()
        .unwrap();
        lock.release().unwrap();
    }

    #[test]
    fn a_failed_try_leaves_the_lock_uncontended() {
        // A contended mark (2) makes the holder's release a futex system call.
        let lock = Lock::new().unwrap();
        lock.acquire();
        assert!(!lock.acquire_timeout(Duration::ZERO));
        assert_eq!(lock.mutex().state().load(Relaxed), 1);
        let rlock = RLock::new().unwrap();
        rlock.acquire().unwrap();
        let r2 = rlock.clone();
        std::thread::spawn(move || assert!(!r2.try_acquire().unwrap()))
            .join()
            .unwrap();
        assert_eq!(rlock.mutex().state().load(Relaxed), 1);
    }

    #[test]
    fn a_lock_travels_as_a_memfd() {
        let a = Lock::new().unwrap();
        let fds = a
            .fds()
            .into_iter()
            .map(|fd| fd.try_clone_to_owned().unwrap())
            .collect();
        let b = Lock::from_fds(fds).unwrap();
        a.acquire();
        assert!(b.locked() && !b.try_acquire());
        b.release().unwrap();
        assert!(a.try_acquire());
        // A lock's descriptor is not an RLock's.
        let fds = a
            .fds()
            .into_iter()
            .map(|f| f.try_clone_to_owned().unwrap())
            .collect();
        assert!(RLock::from_fds(fds).is_err());
    }
}
