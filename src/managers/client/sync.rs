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
#[must_use = "the lock is released when the guard is dropped"]
pub struct Guard<'a> {
    handle: &'a Handle,
    release: fn() -> Method,
    done: bool,
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
/// Any caller may release it, as with CPython's manager lock. If the caller
/// that acquired it dies without releasing it, the server releases it.
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
/// release it.
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
/// Permits that a caller acquired and did not release are given back by the
/// server if the caller dies, up to the initial value: a semaphore counts
/// `value` resources. One made with 0 and used as a signal (one side
/// releases, the other acquires) gets nothing back, since a consumed signal
/// is not a resource.
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
/// `wait` and `notify` need the lock held by the caller, as in Python. A
/// caller that dies while waiting is removed from the waiters, and a
/// notification meant for it goes to the next waiter; one that dies holding
/// the lock has it released.
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
    /// notification; with a timeout, give up when it expires and return the
    /// predicate's last value (Python: `cond.wait_for(predicate, timeout)`,
    /// which also loops in the client).
    ///
    /// # Errors
    /// As [`wait`](Self::wait), and any error of `predicate`.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> Result<bool>,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
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
