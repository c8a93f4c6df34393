//! Proxies of the synchronization types: Event, Lock, RLock, Semaphore,
//! Condition, Barrier.
//!
//! Every blocking method waits *in the server*, on the caller's own
//! connection: other clients are served meanwhile, a timeout is measured by
//! the server, and a server that dies ends the wait at once with
//! [`Error::ManagerGone`](crate::Error::ManagerGone).

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::managers::protocol::{BarrierOp, ConditionOp, EventOp, LockOp, Method, Reply};
use crate::managers::{want_bool, want_size, want_unit, Handle};

/// Holds a lock, semaphore or condition until dropped, which releases it
/// (Python: the body of `with lock:`). Made by the proxies' `guard()`.
///
/// Dropping ignores a failed release (a manager that has gone has nothing to
/// release); call [`release`](Guard::release) to see the error.
///
/// A guard is not `Send`: it releases on the connection of the thread that
/// acquired, which is the caller that owns an RLock or a Condition.
///
/// ```compile_fail
/// let manager = forklore::managers::Manager::start().unwrap();
/// let lock = manager.rlock().unwrap();
/// let g = lock.guard().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g)); // error: `Guard` cannot be sent between threads
/// });
/// ```
#[must_use = "the lock is released when the guard is dropped"]
pub struct Guard<'a> {
    handle: &'a Handle,
    release: fn() -> Method,
    done: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Guard<'_> {
    /// Release now and report any error.
    ///
    /// # Errors
    /// As the proxy's `release`.
    pub fn release(mut self) -> Result<()> {
        self.done = true;
        want_unit(self.handle.call((self.release)())?)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.handle.call((self.release)());
        }
    }
}

impl fmt::Debug for Guard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guard({:?})", self.handle)
    }
}

fn lock_op(op: LockOp) -> Method {
    Method::Lock(op)
}

fn lock_release() -> Method {
    Method::Lock(LockOp::Release)
}

fn cond_release() -> Method {
    Method::Condition(ConditionOp::Release)
}

/// The methods Lock, RLock and the semaphores share (Python's `AcquirerProxy`).
macro_rules! acquirer {
    ($name:ident, $what:literal) => {
        impl $name {
            pub(crate) fn new(handle: Handle) -> Self {
                $name { handle }
            }

            fn acquire_with(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
                want_bool(self.handle.call(lock_op(LockOp::Acquire { blocking, timeout }))?)
            }

            #[doc = concat!("Acquire the ", $what, ", waiting as long as it takes (Python: `acquire()`).")]
            ///
            /// # Errors
            /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server
            /// goes, even while this waits.
            pub fn acquire(&self) -> Result<()> {
                self.acquire_with(true, None).map(drop)
            }

            #[doc = concat!("Acquire the ", $what, ", waiting at most `timeout`; `false` if it was not acquired in time (Python: `acquire(timeout=t)`).")]
            ///
            /// # Errors
            /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
                self.acquire_with(true, Some(timeout))
            }

            #[doc = concat!("Acquire the ", $what, " if that is possible now (Python: `acquire(blocking=False)`).")]
            ///
            /// # Errors
            /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
            pub fn try_acquire(&self) -> Result<bool> {
                self.acquire_with(false, None)
            }

            #[doc = concat!("Release the ", $what, " (Python: `release()`).")]
            ///
            /// # Errors
            /// [`Error::ReleaseUnlocked`](crate::Error::ReleaseUnlocked) if it is
            /// not held (or, for a bounded semaphore, released too many times);
            /// [`Error::NotOwner`](crate::Error::NotOwner) for an RLock held by
            /// another caller.
            pub fn release(&self) -> Result<()> {
                want_unit(self.handle.call(lock_release())?)
            }

            #[doc = concat!("Acquire the ", $what, " and return a [`Guard`] that releases it when dropped (Python: `with lock:`).")]
            ///
            /// # Errors
            /// As [`acquire`](Self::acquire).
            pub fn guard(&self) -> Result<Guard<'_>> {
                self.acquire()?;
                Ok(Guard {
                    handle: &self.handle,
                    release: lock_release,
                    done: false,
                    _not_send: std::marker::PhantomData,
                })
            }

            #[doc = concat!("Whether the ", $what, " is held now (for a semaphore: whether it has no permit left).")]
            ///
            /// # Errors
            /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
            pub fn locked(&self) -> Result<bool> {
                want_bool(self.handle.call(lock_op(LockOp::Locked))?)
            }
        }
    };
}

/// A proxy of a shared lock (Python: `manager.Lock()`).
///
/// As CPython's, it has no owner: any caller may release it, in any process
/// (CPython's own tests release a child's lock from the parent). The server
/// never releases it by itself: a lock acquired by a thread that ended, or
/// by a process that exited or was killed, stays held until someone
/// releases it. For a lock that is given up when its holder's process
/// dies, with notice to the next owner, use a
/// [`RobustLockProxy`](crate::managers::RobustLockProxy).
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let lock = manager.lock().unwrap();
/// {
///     let _held = lock.guard().unwrap();
///     assert!(!lock.try_acquire().unwrap());
/// }
/// assert!(lock.try_acquire().unwrap());
/// lock.release().unwrap();
/// assert!(lock.release().unwrap_err().to_string().contains("unlocked"));
/// ```
#[derive(Clone, Debug)]
pub struct LockProxy {
    pub(crate) handle: Handle,
}
acquirer!(LockProxy, "lock");

/// A proxy of a shared reentrant lock (Python: `manager.RLock()`).
///
/// The caller that holds it (this process *and* thread) may acquire it
/// again; it is free once released as many times. Only the holder may
/// release it. As in CPython, it stays held when its holder's thread or
/// process ends without releasing it; a caller that merely reconnects (its
/// connection failed) still holds it.
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let r = manager.rlock().unwrap();
/// r.acquire().unwrap();
/// r.acquire().unwrap();
/// r.release().unwrap();
/// assert!(r.locked().unwrap());
/// r.release().unwrap();
/// assert!(!r.locked().unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct RLockProxy {
    pub(crate) handle: Handle,
}
acquirer!(RLockProxy, "reentrant lock");

/// A proxy of a shared semaphore or bounded semaphore (Python:
/// `manager.Semaphore(n)`, `manager.BoundedSemaphore(n)`).
///
/// A semaphore is a counter, with no owner: any caller may release it, and
/// the server never gives a permit back by itself, not even for a caller
/// that died holding it (as in CPython). A release that would take the
/// counter past `u64::MAX` is refused with
/// [`Error::ManagerRequest`](crate::Error::ManagerRequest).
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let s = manager.bounded_semaphore(2).unwrap();
/// assert!(s.try_acquire().unwrap());
/// assert!(s.try_acquire().unwrap());
/// assert!(!s.try_acquire().unwrap());
/// s.release().unwrap();
/// s.release().unwrap();
/// assert!(s.release().is_err()); // released too many times
/// ```
#[derive(Clone, Debug)]
pub struct SemaphoreProxy {
    pub(crate) handle: Handle,
}
acquirer!(SemaphoreProxy, "semaphore");

/// How [`RobustLockProxy::acquire`] got the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "OwnerDied means the protected state may be half-updated"]
pub enum Acquired {
    /// The lock was free or released by its owner.
    Clean,
    /// The previous owner's process died holding the lock (POSIX:
    /// `EOWNERDEAD`). The lock is now the caller's, but what it protects may
    /// be half-updated: check or repair it before relying on it.
    OwnerDied,
}

/// A proxy of a *robust* lock: released when its holder's process dies,
/// and the next owner is told (beyond CPython; modelled on POSIX
/// `PTHREAD_MUTEX_ROBUST`).
///
/// It is owned by the caller (process and thread) that acquired it, and
/// only that caller may release it. When the owner's *process* dies while
/// holding it, the next acquirer gets it with [`Acquired::OwnerDied`]. A
/// thread that ends without releasing it, in a process that lives on,
/// keeps it held: only a process death frees it.
///
/// How the server knows a process died: on a Unix socket it watches the
/// client's pid (a pidfd); over TCP, a process is dead once it has no
/// connection left to the server (its last one closed or failed). A waiting
/// acquirer notices within 50 ms.
///
/// # Example
/// ```
/// use forklore::managers::Acquired;
///
/// let manager = forklore::managers::Manager::start().unwrap();
/// let lock = manager.robust_lock().unwrap();
/// assert_eq!(lock.acquire().unwrap(), Acquired::Clean);
/// assert_eq!(lock.try_acquire().unwrap(), None); // held (by us)
/// lock.release().unwrap();
/// {
///     let (_held, how) = lock.guard().unwrap();
///     if how == Acquired::OwnerDied {
///         // check and repair what the lock protects
///     }
/// }
/// assert!(!lock.locked().unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct RobustLockProxy {
    pub(crate) handle: Handle,
}

impl RobustLockProxy {
    pub(crate) fn new(handle: Handle) -> Self {
        RobustLockProxy { handle }
    }

    fn acquire_with(&self, blocking: bool, timeout: Option<Duration>) -> Result<Option<Acquired>> {
        match self
            .handle
            .call(lock_op(LockOp::Acquire { blocking, timeout }))?
        {
            Reply::Acquired { owner_died: false } => Ok(Some(Acquired::Clean)),
            Reply::Acquired { owner_died: true } => Ok(Some(Acquired::OwnerDied)),
            Reply::Bool(false) => Ok(None),
            r => Err(crate::managers::unexpected(&r)),
        }
    }

    /// Acquire the lock, waiting as long as it takes; says whether its
    /// previous owner died holding it.
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server
    /// goes, even while this waits.
    pub fn acquire(&self) -> Result<Acquired> {
        self.acquire_with(true, None)?.ok_or_else(|| {
            crate::Error::Decode("an untimed acquire returned without the lock".into())
        })
    }

    /// Acquire the lock, waiting at most `timeout`; `None` if it was not
    /// acquired in time.
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<Acquired>> {
        self.acquire_with(true, Some(timeout))
    }

    /// Acquire the lock if that is possible now; `None` if it is held.
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn try_acquire(&self) -> Result<Option<Acquired>> {
        self.acquire_with(false, None)
    }

    /// Release the lock.
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`](crate::Error::ReleaseUnlocked) if it is
    /// not held; [`Error::NotOwner`](crate::Error::NotOwner) if another
    /// caller holds it.
    pub fn release(&self) -> Result<()> {
        want_unit(self.handle.call(lock_release())?)
    }

    /// Acquire the lock and return a [`Guard`] that releases it when
    /// dropped, with how it was acquired.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn guard(&self) -> Result<(Guard<'_>, Acquired)> {
        let how = self.acquire()?;
        Ok((
            Guard {
                handle: &self.handle,
                release: lock_release,
                done: false,
                _not_send: std::marker::PhantomData,
            },
            how,
        ))
    }

    /// Whether the lock is held (also while its dead owner's lock waits
    /// for the next acquirer).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn locked(&self) -> Result<bool> {
        want_bool(self.handle.call(lock_op(LockOp::Locked))?)
    }
}

/// A proxy of a shared event (Python: `manager.Event()`).
///
/// # Example
/// ```
/// use std::time::Duration;
///
/// let manager = forklore::managers::Manager::start().unwrap();
/// let e = manager.event().unwrap();
/// assert!(!e.wait_timeout(Duration::from_millis(10)).unwrap()); // timed out
/// e.set().unwrap();
/// assert!(e.wait_timeout(Duration::from_millis(10)).unwrap());
/// assert!(e.is_set().unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct EventProxy {
    pub(crate) handle: Handle,
}

impl EventProxy {
    pub(crate) fn new(handle: Handle) -> Self {
        EventProxy { handle }
    }

    fn op(&self, op: EventOp) -> Result<Reply> {
        self.handle.call(Method::Event(op))
    }

    /// Set the flag and wake every waiter (Python: `e.set()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn set(&self) -> Result<()> {
        want_unit(self.op(EventOp::Set)?)
    }

    /// Clear the flag (Python: `e.clear()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn clear(&self) -> Result<()> {
        want_unit(self.op(EventOp::Clear)?)
    }

    /// Whether the flag is set (Python: `e.is_set()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn is_set(&self) -> Result<bool> {
        want_bool(self.op(EventOp::IsSet)?)
    }

    /// Wait until the flag is set (Python: `e.wait()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes,
    /// even while this waits.
    pub fn wait(&self) -> Result<()> {
        want_bool(self.op(EventOp::Wait(None))?).map(drop)
    }

    /// Wait at most `timeout` for the flag; returns the flag: `false` on
    /// timeout (Python: `e.wait(timeout)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        want_bool(self.op(EventOp::Wait(Some(timeout)))?)
    }
}

/// A proxy of a shared condition variable with its own reentrant lock
/// (Python: `manager.Condition()`).
///
/// `wait` and `notify` need the lock held by the caller (a process and
/// thread), as in Python. A caller that dies while waiting is removed from
/// the waiters, and a notification meant for it goes to the next waiter;
/// one that dies holding the lock leaves it held, as in CPython.
///
/// # Example
/// ```
/// use std::time::Duration;
///
/// let manager = forklore::managers::Manager::start().unwrap();
/// let cond = manager.condition().unwrap();
/// let _held = cond.guard().unwrap();
/// // Nobody notifies: the wait times out and returns false.
/// assert!(!cond.wait_timeout(Duration::from_millis(20)).unwrap());
/// cond.notify_all().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct ConditionProxy {
    pub(crate) handle: Handle,
}

impl ConditionProxy {
    pub(crate) fn new(handle: Handle) -> Self {
        ConditionProxy { handle }
    }

    fn op(&self, op: ConditionOp) -> Result<Reply> {
        self.handle.call(Method::Condition(op))
    }

    fn acquire_with(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        want_bool(self.op(ConditionOp::Acquire { blocking, timeout })?)
    }

    /// Acquire the condition's lock (Python: `cond.acquire()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes.
    pub fn acquire(&self) -> Result<()> {
        self.acquire_with(true, None).map(drop)
    }

    /// Acquire the lock, waiting at most `timeout`; `false` on timeout.
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.acquire_with(true, Some(timeout))
    }

    /// Acquire the lock if it is free now.
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes.
    pub fn try_acquire(&self) -> Result<bool> {
        self.acquire_with(false, None)
    }

    /// Release the lock (Python: `cond.release()`).
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`](crate::Error::ReleaseUnlocked) if it is
    /// not held; [`Error::NotOwner`](crate::Error::NotOwner) if another
    /// caller holds it.
    pub fn release(&self) -> Result<()> {
        want_unit(self.op(ConditionOp::Release)?)
    }

    /// Acquire the lock; the [`Guard`] releases it (Python: `with cond:`).
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn guard(&self) -> Result<Guard<'_>> {
        self.acquire()?;
        Ok(Guard {
            handle: &self.handle,
            release: cond_release,
            done: false,
            _not_send: std::marker::PhantomData,
        })
    }

    /// Release the lock, wait for a notification, take the lock back
    /// (Python: `cond.wait()`).
    ///
    /// # Errors
    /// [`Error::NotOwner`](crate::Error::NotOwner) without the lock;
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes.
    pub fn wait(&self) -> Result<()> {
        want_bool(self.op(ConditionOp::Wait(None))?).map(drop)
    }

    /// As [`wait`](Self::wait), for at most `timeout`: `false` if no
    /// notification came in time (the lock is held again either way).
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        want_bool(self.op(ConditionOp::Wait(Some(timeout)))?)
    }

    /// Wait until `predicate` returns true, checking it after each
    /// notification (Python: `cond.wait_for(predicate)`, which also loops in
    /// the client). It returns the predicate's last value, so `true`, as
    /// Python's does.
    ///
    /// # Errors
    /// As [`wait`](Self::wait), and any error of `predicate`.
    pub fn wait_for(&self, predicate: impl FnMut() -> Result<bool>) -> Result<bool> {
        self.wait_for_inner(predicate, None)
    }

    /// [`wait_for`](Self::wait_for) that gives up when `timeout` expires and
    /// returns the predicate's last value (Python:
    /// `cond.wait_for(predicate, timeout)`). A timeout too long to represent
    /// (`Duration::MAX`) is no timeout.
    ///
    /// # Errors
    /// As [`wait_for`](Self::wait_for).
    pub fn wait_for_timeout(
        &self,
        predicate: impl FnMut() -> Result<bool>,
        timeout: Duration,
    ) -> Result<bool> {
        self.wait_for_inner(predicate, Some(timeout))
    }

    fn wait_for_inner(
        &self,
        mut predicate: impl FnMut() -> Result<bool>,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        // A timeout too long to represent (`Duration::MAX`) is no timeout.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if predicate()? {
                return Ok(true);
            }
            match deadline {
                None => self.wait()?,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return predicate();
                    }
                    self.wait_timeout(left)?;
                }
            }
        }
    }

    /// Wake one waiter (Python: `cond.notify()`).
    ///
    /// # Errors
    /// [`Error::NotOwner`](crate::Error::NotOwner) without the lock.
    pub fn notify(&self) -> Result<()> {
        self.notify_n(1)
    }

    /// Wake at most `n` waiters, oldest first (Python: `cond.notify(n)`).
    ///
    /// # Errors
    /// [`Error::NotOwner`](crate::Error::NotOwner) without the lock.
    pub fn notify_n(&self, n: usize) -> Result<()> {
        want_unit(self.op(ConditionOp::Notify(n as u64))?)
    }

    /// Wake every waiter (Python: `cond.notify_all()`).
    ///
    /// # Errors
    /// [`Error::NotOwner`](crate::Error::NotOwner) without the lock.
    pub fn notify_all(&self) -> Result<()> {
        want_unit(self.op(ConditionOp::NotifyAll)?)
    }
}

/// A proxy of a shared barrier (Python: `manager.Barrier(parties)`).
///
/// # Example
/// ```
/// use std::time::Duration;
///
/// let manager = forklore::managers::Manager::start().unwrap();
/// let b = manager.barrier(2).unwrap();
/// assert_eq!(b.parties().unwrap(), 2);
/// // Alone at a barrier for two: the timeout breaks it.
/// let e = b.wait_timeout(Duration::from_millis(20)).unwrap_err();
/// assert!(e.is_broken_barrier());
/// assert!(b.broken().unwrap());
/// b.reset().unwrap();
/// assert!(!b.broken().unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct BarrierProxy {
    pub(crate) handle: Handle,
}

impl BarrierProxy {
    pub(crate) fn new(handle: Handle) -> Self {
        BarrierProxy { handle }
    }

    fn op(&self, op: BarrierOp) -> Result<Reply> {
        self.handle.call(Method::Barrier(op))
    }

    /// Wait until `parties` callers are waiting, then release them all;
    /// returns a distinct index in `0..parties` for each (Python: `b.wait()`).
    /// A barrier made with [`Manager::barrier_with_timeout`](crate::managers::Manager::barrier_with_timeout)
    /// waits at most its timeout, then breaks.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`](crate::Error::BrokenBarrier) if the barrier is
    /// or becomes broken; [`Error::ManagerGone`](crate::Error::ManagerGone).
    pub fn wait(&self) -> Result<usize> {
        want_size(self.op(BarrierOp::Wait(None))?)
    }

    /// As [`wait`](Self::wait), for at most `timeout`; a timeout breaks the
    /// barrier for everybody (Python: `b.wait(timeout)`).
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        want_size(self.op(BarrierOp::Wait(Some(timeout)))?)
    }

    /// Return to the empty state; callers waiting now get
    /// [`Error::BrokenBarrier`](crate::Error::BrokenBarrier) (Python: `b.reset()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn reset(&self) -> Result<()> {
        want_unit(self.op(BarrierOp::Reset)?)
    }

    /// Break the barrier (Python: `b.abort()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn abort(&self) -> Result<()> {
        want_unit(self.op(BarrierOp::Abort)?)
    }

    /// How many parties it waits for (Python: `b.parties`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn parties(&self) -> Result<usize> {
        want_size(self.op(BarrierOp::Parties)?)
    }

    /// How many are waiting now (Python: `b.n_waiting`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn n_waiting(&self) -> Result<usize> {
        want_size(self.op(BarrierOp::NWaiting)?)
    }

    /// Whether it is broken (Python: `b.broken`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn broken(&self) -> Result<bool> {
        want_bool(self.op(BarrierOp::Broken)?)
    }
}
