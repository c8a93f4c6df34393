//! `Semaphore`, `BoundedSemaphore` and `Event`, and the counting
//! semaphore word that `Condition` is built from.

use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{
    one_fd, Guard, Held, SharedFds, KIND_BOUNDED, KIND_EVENT, KIND_SEMAPHORE, SEM_VALUE_MAX,
};
use crate::error::{Error, Result};
use crate::region::{futex_wait, futex_wake, Deadline, Region, BODY};

/// A counting semaphore of the 16 bytes at `base`: value, waiters, unused,
/// max.
#[derive(Clone, Copy)]
pub(crate) struct Sem<'a> {
    region: &'a Region,
    base: usize,
}

impl<'a> Sem<'a> {
    pub(crate) const SIZE: usize = 16;

    pub(crate) fn at(region: &'a Region, base: usize) -> Sem<'a> {
        Sem { region, base }
    }

    pub(crate) fn init(&self, value: u32, max: u32) {
        self.value().store(value, Relaxed);
        self.region.u32_at(self.base + 12).store(max, SeqCst);
    }

    fn value(&self) -> &'a AtomicU32 {
        self.region.u32_at(self.base)
    }
    fn waiters(&self) -> &'a AtomicU32 {
        self.region.u32_at(self.base + 4)
    }
    pub(crate) fn max(&self) -> u32 {
        self.region.u32_at(self.base + 12).load(Relaxed)
    }

    pub(crate) fn get_value(&self) -> u32 {
        self.value().load(Relaxed)
    }

    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let value = self.value();
        let mut v = value.load(Relaxed);
        while v > 0 {
            match value.compare_exchange_weak(v, v - 1, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    /// Takes one unit, waiting until `deadline`. False on timeout.
    #[inline]
    pub(crate) fn acquire(&self, deadline: Deadline) -> bool {
        loop {
            if self.try_acquire() {
                return true;
            }
            if deadline.expired() {
                return false;
            }
            self.waiters().fetch_add(1, SeqCst);
            let not_timed_out = if self.value().load(SeqCst) == 0 {
                futex_wait(self.value(), 0, deadline.remaining())
            } else {
                true
            };
            self.waiters().fetch_sub(1, SeqCst);
            if !not_timed_out {
                return self.try_acquire();
            }
        }
    }

    /// Gives one unit back; refuses to go past `max`.
    #[inline]
    pub(crate) fn release(&self, what: &str) -> Result<()> {
        let max = self.max();
        let value = self.value();
        let mut v = value.load(Relaxed);
        loop {
            if v >= max {
                return Err(Error::ReleaseUnlocked {
                    what: format!("{what}: released too many times"),
                });
            }
            match value.compare_exchange_weak(v, v + 1, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        if self.waiters().load(SeqCst) > 0 {
            futex_wake(value, 1);
        }
        Ok(())
    }
}

/// The region of a one-semaphore object.
fn sem_region(kind: u32, value: u32, max: u32) -> Result<Arc<Region>> {
    let region = Region::new(kind, BODY + Sem::SIZE)?;
    Sem::at(&region, BODY).init(value, max);
    Ok(Arc::new(region))
}

fn sem_from_fds(fds: Vec<OwnedFd>, kind: u32, what: &str) -> Result<Arc<Region>> {
    let fd = one_fd(fds, what)?;
    Ok(Arc::new(Region::from_fd(fd, kind, BODY + Sem::SIZE)?))
}

macro_rules! semaphore {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            region: Arc<Region>,
        }

        impl $name {
            fn sem(&self) -> Sem<'_> {
                Sem::at(&self.region, BODY)
            }

            /// Blocks until a unit is taken.
            pub fn acquire(&self) {
                self.sem().acquire(Deadline::after(None));
            }

            /// Waits at most `timeout`; true if a unit was taken.
            pub fn acquire_timeout(&self, timeout: Duration) -> bool {
                self.sem().acquire(Deadline::after(Some(timeout)))
            }

            /// Takes a unit without waiting; true if one was taken.
            pub fn try_acquire(&self) -> bool {
                self.sem().try_acquire()
            }

            /// The current value (Python: `get_value()`).
            pub fn get_value(&self) -> u32 {
                self.sem().get_value()
            }

            /// Acquires and returns a guard that releases on drop.
            pub fn guard(&self) -> Guard<'_> {
                self.acquire();
                Guard(Held::$name(self))
            }
        }

        impl SharedFds for $name {
            fn fds(&self) -> Vec<BorrowedFd<'_>> {
                vec![self.region.fd()]
            }
            fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
                Ok($name {
                    region: sem_from_fds(fds, $kind, $what)?,
                })
            }
        }
    };
}

semaphore!(
    /// `multiprocessing.Semaphore`: a counter that `acquire` decrements,
    /// waiting while it is zero, and `release` increments.
    ///
    /// ```
    /// let s = forklore::synchronize::Semaphore::new(2).unwrap();
    /// assert!(s.try_acquire() && s.try_acquire() && !s.try_acquire());
    /// s.release().unwrap();
    /// assert_eq!(s.get_value(), 1);
    /// ```
    Semaphore,
    KIND_SEMAPHORE,
    "Semaphore"
);

semaphore!(
    /// `multiprocessing.BoundedSemaphore`: a [`Semaphore`] that refuses to be
    /// released past its initial value.
    ///
    /// ```
    /// let s = forklore::synchronize::BoundedSemaphore::new(1).unwrap();
    /// assert!(s.release().is_err());
    /// ```
    BoundedSemaphore,
    KIND_BOUNDED,
    "BoundedSemaphore"
);

impl Semaphore {
    /// A semaphore with initial value `value`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `value` exceeds [`SEM_VALUE_MAX`];
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new(value: u32) -> Result<Semaphore> {
        check_value(value)?;
        Ok(Semaphore {
            region: sem_region(KIND_SEMAPHORE, value, SEM_VALUE_MAX)?,
        })
    }

    /// Gives a unit back.
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`] if the value would exceed
    /// [`SEM_VALUE_MAX`] (Python: `OverflowError`).
    #[inline]
    pub fn release(&self) -> Result<()> {
        self.sem().release("Semaphore")
    }
}

impl BoundedSemaphore {
    /// A bounded semaphore with initial (and maximum) value `value`.
    ///
    /// # Errors
    /// As [`Semaphore::new`].
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        check_value(value)?;
        Ok(BoundedSemaphore {
            region: sem_region(KIND_BOUNDED, value, value)?,
        })
    }

    /// Gives a unit back.
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`] if that would exceed the initial value
    /// (Python: `ValueError: semaphore or lock released too many times`).
    #[inline]
    pub fn release(&self) -> Result<()> {
        self.sem().release("BoundedSemaphore")
    }
}

fn check_value(value: u32) -> Result<()> {
    if value > SEM_VALUE_MAX {
        return Err(Error::InvalidArgument(format!(
            "semaphore value {value} exceeds SEM_VALUE_MAX ({SEM_VALUE_MAX})"
        )));
    }
    Ok(())
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Semaphore(value={})>", self.get_value())
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<BoundedSemaphore(value={}, maxvalue={})>",
            self.get_value(),
            self.sem().max()
        )
    }
}

/// `multiprocessing.Event`: a flag that processes wait on.
///
/// ```
/// let e = forklore::synchronize::Event::new().unwrap();
/// assert!(!e.wait_timeout(std::time::Duration::from_millis(1)));
/// e.set();
/// assert!(e.is_set() && e.wait_timeout(std::time::Duration::ZERO));
/// ```
#[derive(Clone)]
pub struct Event {
    region: Arc<Region>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new() -> Result<Event> {
        Ok(Event {
            region: Arc::new(Region::new(KIND_EVENT, BODY + 8)?),
        })
    }

    fn flag(&self) -> &AtomicU32 {
        self.region.u32_at(BODY)
    }
    fn waiters(&self) -> &AtomicU32 {
        self.region.u32_at(BODY + 4)
    }

    /// True if the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag().load(Acquire) == 1
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.flag().store(1, SeqCst);
        if self.waiters().load(SeqCst) > 0 {
            futex_wake(self.flag(), u32::MAX);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.flag().store(0, Ordering::Release);
    }

    /// Blocks until the flag is set.
    pub fn wait(&self) {
        self.wait_until(Deadline::after(None));
    }

    /// Waits at most `timeout`; returns the flag (Python: `wait(timeout)`
    /// returns True unless the timeout expired).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(Some(timeout)))
    }

    fn wait_until(&self, deadline: Deadline) -> bool {
        loop {
            if self.is_set() {
                return true;
            }
            if deadline.expired() {
                return false;
            }
            self.waiters().fetch_add(1, SeqCst);
            if self.flag().load(SeqCst) == 0 {
                futex_wait(self.flag(), 0, deadline.remaining());
            }
            self.waiters().fetch_sub(1, SeqCst);
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Event(set={})>", self.is_set())
    }
}

impl SharedFds for Event {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.region.fd()]
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let fd = one_fd(fds, "Event")?;
        Ok(Event {
            region: Arc::new(Region::from_fd(fd, KIND_EVENT, BODY + 8)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synchronize::Lock;

    // CPython: _TestSemaphore.test_semaphore / test_bounded_semaphore
    #[test]
    fn semaphore_counts_and_bounded_refuses_over_release() {
        let s = Semaphore::new(2).unwrap();
        assert!(s.try_acquire());
        assert_eq!(s.get_value(), 1);
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        s.release().unwrap();
        s.release().unwrap();
        s.release().unwrap();
        assert_eq!(s.get_value(), 3);
        let b = BoundedSemaphore::new(2).unwrap();
        assert!(b.try_acquire());
        b.release().unwrap();
        assert!(matches!(b.release(), Err(Error::ReleaseUnlocked { .. })));
        assert_eq!(b.get_value(), 2);
    }

    // CPython: _TestSemaphore.test_timeout
    #[test]
    fn acquire_timeout_returns_false_after_about_the_timeout() {
        let s = Semaphore::new(0).unwrap();
        let t = std::time::Instant::now();
        assert!(!s.acquire_timeout(Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        let lock = Lock::new().unwrap();
        lock.acquire();
        assert!(!lock.acquire_timeout(Duration::from_millis(10)));
        assert!(!lock.acquire_timeout(Duration::ZERO));
    }

    #[test]
    fn a_waiter_in_another_thread_is_woken_by_release() {
        let s = Semaphore::new(0).unwrap();
        let s2 = s.clone();
        let h = std::thread::spawn(move || s2.acquire_timeout(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        s.release().unwrap();
        assert!(h.join().unwrap());
    }

    // CPython: _TestEvent.test_event
    #[test]
    fn event_set_clear_wait() {
        let e = Event::new().unwrap();
        assert!(!e.is_set());
        assert!(!e.wait_timeout(Duration::ZERO));
        e.set();
        assert!(e.wait_timeout(Duration::ZERO));
        e.wait();
        e.clear();
        assert!(!e.is_set());
        let e2 = e.clone();
        let h = std::thread::spawn(move || e2.wait_timeout(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        e.set();
        assert!(h.join().unwrap());
    }
}
