//! `Condition` and `Barrier`, built as CPython builds them: a condition is
//! its lock plus three semaphores (CPython's `sleeping_count`,
//! `woken_count`, `wait_semaphore`), and a barrier is `threading.Barrier`'s
//! algorithm over such a condition and two shared words.

use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::{condition_guard, Guard, Lock, RLock, Sem, SharedFds};
use crate::error::{Error, Result};
use crate::region::{Deadline, Region, BODY};

const KIND_CONDITION: u32 = 6;
const KIND_BARRIER: u32 = 7;
const COND_LEN: usize = BODY + 3 * Sem::SIZE + 4;
const BARRIER_LEN: usize = BODY + 12;

/// The lock of a [`Condition`]: a [`Lock`] or an [`RLock`] (the default,
/// as in CPython).
#[derive(Clone, Debug)]
pub enum ConditionLock {
    /// A non-recursive lock.
    Lock(Lock),
    /// A recursive lock.
    RLock(RLock),
}

impl From<Lock> for ConditionLock {
    fn from(l: Lock) -> Self {
        ConditionLock::Lock(l)
    }
}

impl From<RLock> for ConditionLock {
    fn from(l: RLock) -> Self {
        ConditionLock::RLock(l)
    }
}

impl ConditionLock {
    fn is_mine(&self) -> bool {
        match self {
            ConditionLock::Lock(l) => l.is_mine(),
            ConditionLock::RLock(l) => l.is_mine(),
        }
    }
    fn release_all(&self) -> Result<u32> {
        match self {
            ConditionLock::Lock(l) => l.release().map(|_| 1),
            ConditionLock::RLock(l) => l.release_all(),
        }
    }
    fn reacquire(&self, levels: u32) {
        match self {
            ConditionLock::Lock(l) => {
                l.acquire();
            }
            ConditionLock::RLock(l) => l.reacquire(levels),
        }
    }
    fn kind(&self) -> u32 {
        match self {
            ConditionLock::Lock(_) => super::KIND_LOCK,
            ConditionLock::RLock(_) => super::KIND_RLOCK,
        }
    }
}

/// `multiprocessing.Condition`: wait until notified, with a lock shared
/// with whoever notifies.
///
/// `wait`, `notify` and `notify_all` need the lock held by the calling
/// thread. `notify(n)` wakes at most `n` waiters and, as CPython's, returns
/// only when they have woken, so a waiter that arrives later cannot take a
/// notification meant for an earlier one. As in CPython, a waiter killed
/// while `notify` waits for it to wake makes that `notify` wait for ever.
///
/// ```
/// use forklore::synchronize::Condition;
/// let c = Condition::new().unwrap();
/// c.acquire().unwrap();
/// assert!(!c.wait_timeout(std::time::Duration::from_millis(1)).unwrap());
/// c.notify().unwrap(); // nobody waits: nothing happens
/// c.release().unwrap();
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: ConditionLock,
    region: Arc<Region>,
}

impl Condition {
    /// A condition with a new [`RLock`].
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new() -> Result<Condition> {
        Condition::with_lock(RLock::new()?)
    }

    /// A condition on an existing lock (Python: `Condition(lock)`).
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn with_lock(lock: impl Into<ConditionLock>) -> Result<Condition> {
        let lock = lock.into();
        let region = Region::new(KIND_CONDITION, COND_LEN)?;
        for i in 0..3 {
            Sem::at(&region, BODY + i * Sem::SIZE).init(0, super::SEM_VALUE_MAX);
        }
        region
            .u32_at(BODY + 3 * Sem::SIZE)
            .store(lock.kind(), Relaxed);
        Ok(Condition {
            lock,
            region: Arc::new(region),
        })
    }

    fn sleeping(&self) -> Sem<'_> {
        Sem::at(&self.region, BODY)
    }
    fn woken(&self) -> Sem<'_> {
        Sem::at(&self.region, BODY + Sem::SIZE)
    }
    fn wait_sem(&self) -> Sem<'_> {
        Sem::at(&self.region, BODY + 2 * Sem::SIZE)
    }

    /// The condition's lock.
    pub fn lock(&self) -> &ConditionLock {
        &self.lock
    }

    /// Acquires the lock, waiting as long as it takes.
    ///
    /// # Errors
    /// As [`RLock::acquire`].
    pub fn acquire(&self) -> Result<()> {
        match &self.lock {
            ConditionLock::Lock(l) => {
                l.acquire();
                Ok(())
            }
            ConditionLock::RLock(l) => l.acquire(),
        }
    }

    /// Acquires the lock, waiting at most `timeout`; true if acquired.
    ///
    /// # Errors
    /// As [`RLock::acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        match &self.lock {
            ConditionLock::Lock(l) => Ok(l.acquire_timeout(timeout)),
            ConditionLock::RLock(l) => l.acquire_timeout(timeout),
        }
    }

    /// Releases the lock.
    ///
    /// # Errors
    /// As [`Lock::release`] or [`RLock::release`].
    pub fn release(&self) -> Result<()> {
        match &self.lock {
            ConditionLock::Lock(l) => l.release(),
            ConditionLock::RLock(l) => l.release(),
        }
    }

    /// Acquires and returns a guard that releases on drop.
    ///
    /// # Errors
    /// As [`acquire`](Condition::acquire).
    pub fn guard(&self) -> Result<Guard<'_>> {
        self.acquire()?;
        Ok(condition_guard(self))
    }

    /// Releases the lock, waits for a notification, re-acquires the lock.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not hold the lock
    /// (Python: `AssertionError: must acquire() condition before using wait()`).
    pub fn wait(&self) -> Result<()> {
        self.wait_until(Deadline::after(None)).map(|_| ())
    }

    /// As [`wait`](Condition::wait), at most `timeout`; false if the
    /// timeout expired before a notification.
    ///
    /// # Errors
    /// As [`wait`](Condition::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_until(Deadline::after(Some(timeout)))
    }

    fn wait_until(&self, deadline: Deadline) -> Result<bool> {
        if !self.lock.is_mine() {
            return Err(Error::NotOwner {
                op: "Condition.wait".into(),
            });
        }
        self.sleeping().release("Condition")?;
        let levels = self.lock.release_all()?;
        let notified = self.wait_sem().acquire(deadline);
        let woke = self.woken().release("Condition");
        self.lock.reacquire(levels);
        woke?;
        Ok(notified)
    }

    /// Waits until `predicate` is true (Python: `cond.wait_for(predicate)`);
    /// returns the predicate's last value, so `true`, as Python's does.
    ///
    /// # Errors
    /// As [`wait`](Condition::wait).
    pub fn wait_for(&self, predicate: impl FnMut() -> bool) -> Result<bool> {
        self.wait_for_inner(predicate, None)
    }

    /// Waits until `predicate` is true, at most `timeout`; returns the
    /// predicate's last value (Python: `cond.wait_for(predicate, timeout)`).
    ///
    /// # Errors
    /// As [`wait`](Condition::wait).
    pub fn wait_for_timeout(
        &self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool> {
        self.wait_for_inner(predicate, Some(timeout))
    }

    fn wait_for_inner(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = Deadline::after(timeout);
        loop {
            if predicate() {
                return Ok(true);
            }
            if deadline.expired() {
                return Ok(false);
            }
            self.wait_until(deadline)?;
        }
    }

    /// Wakes one waiter, if any.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not hold the lock.
    pub fn notify(&self) -> Result<()> {
        self.notify_n(1)
    }

    /// Wakes every waiter.
    ///
    /// # Errors
    /// As [`notify`](Condition::notify).
    pub fn notify_all(&self) -> Result<()> {
        self.notify_n(usize::MAX)
    }

    /// Wakes at most `n` waiters and returns once they have woken.
    ///
    /// # Errors
    /// As [`notify`](Condition::notify).
    pub fn notify_n(&self, n: usize) -> Result<()> {
        if !self.lock.is_mine() {
            return Err(Error::NotOwner {
                op: "Condition.notify".into(),
            });
        }
        // Waiters that timed out woke without being notified: balance them.
        while self.woken().try_acquire() {
            self.sleeping().try_acquire();
        }
        let mut sleepers = 0usize;
        while sleepers < n && self.sleeping().try_acquire() {
            self.wait_sem().release("Condition")?;
            sleepers += 1;
        }
        if sleepers > 0 {
            for _ in 0..sleepers {
                self.woken().acquire(Deadline::after(None));
            }
            // A waiter that timed out as it was notified left its token.
            while self.wait_sem().try_acquire() {}
        }
        Ok(())
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiters = i64::from(self.sleeping().get_value()) - i64::from(self.woken().get_value());
        write!(f, "<Condition({:?}, {waiters})>", self.lock)
    }
}

impl SharedFds for Condition {
    /// The lock's descriptor, then the condition's.
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let lock = match &self.lock {
            ConditionLock::Lock(l) => l.fds(),
            ConditionLock::RLock(l) => l.fds(),
        };
        lock.into_iter().chain([self.region.fd()]).collect()
    }

    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        if fds.len() != 2 {
            return Err(Error::InvalidArgument(format!(
                "a Condition travels as 2 descriptors, got {}",
                fds.len()
            )));
        }
        let mut it = fds.into_iter();
        let (lock_fd, cond_fd) = (it.next().unwrap(), it.next().unwrap());
        let region = Region::from_fd(cond_fd, KIND_CONDITION, COND_LEN)?;
        let lock = match region.u32_at(BODY + 3 * Sem::SIZE).load(Relaxed) {
            super::KIND_LOCK => ConditionLock::Lock(Lock::from_fds(vec![lock_fd])?),
            _ => ConditionLock::RLock(RLock::from_fds(vec![lock_fd])?),
        };
        Ok(Condition {
            lock,
            region: Arc::new(region),
        })
    }
}

const FILLING: i32 = 0;
const DRAINING: i32 = 1;
const RESETTING: i32 = -1;
const BROKEN: i32 = -2;

/// `multiprocessing.Barrier`: `parties` processes wait until all have
/// arrived; each gets a distinct index in `0..parties`, its order of
/// arrival, as in CPython.
///
/// A timeout, [`abort`](Barrier::abort) or a [`reset`](Barrier::reset)
/// while parties wait breaks the barrier: every waiter, and every later
/// `wait` until `reset`, gets [`Error::BrokenBarrier`]. CPython's `action`
/// argument is not supported (it would run in whichever process arrives
/// last); run it yourself in the process whose `wait` returned
/// `parties - 1`.
///
/// ```
/// let b = forklore::synchronize::Barrier::new(1).unwrap();
/// assert_eq!(b.wait().unwrap(), 0);
/// ```
#[derive(Clone)]
pub struct Barrier {
    cond: Condition,
    region: Arc<Region>,
}

impl Barrier {
    /// A barrier for `parties` parties.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `parties` is 0 or over `u32::MAX`;
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new(parties: usize) -> Result<Barrier> {
        let p = u32::try_from(parties)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| Error::InvalidArgument(format!("Barrier of {parties} parties")))?;
        let region = Region::new(KIND_BARRIER, BARRIER_LEN)?;
        region.u32_at(BODY + 8).store(p, Relaxed);
        Ok(Barrier {
            cond: Condition::with_lock(Lock::new()?)?,
            region: Arc::new(region),
        })
    }

    fn state(&self) -> i32 {
        self.region.u32_at(BODY).load(Relaxed) as i32
    }
    fn set_state(&self, s: i32) {
        self.region.u32_at(BODY).store(s as u32, Relaxed);
    }
    fn count(&self) -> u32 {
        self.region.u32_at(BODY + 4).load(Relaxed)
    }
    fn set_count(&self, c: u32) {
        self.region.u32_at(BODY + 4).store(c, Relaxed);
    }

    /// The number of parties.
    pub fn parties(&self) -> usize {
        self.region.u32_at(BODY + 8).load(Relaxed) as usize
    }

    /// How many parties wait now.
    pub fn n_waiting(&self) -> usize {
        let _g = self.cond.guard();
        if self.state() == FILLING {
            self.count() as usize
        } else {
            0
        }
    }

    /// True if the barrier is broken.
    pub fn broken(&self) -> bool {
        let _g = self.cond.guard();
        self.state() == BROKEN
    }

    /// Waits for every party; returns this party's index, `0..parties`.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] if the barrier is or becomes broken.
    pub fn wait(&self) -> Result<usize> {
        self.wait_impl(None)
    }

    /// As [`wait`](Barrier::wait), at most `timeout`; the timeout breaks
    /// the barrier for every party.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`], also when this wait timed out.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.wait_impl(Some(timeout))
    }

    fn wait_impl(&self, timeout: Option<Duration>) -> Result<usize> {
        let _g = self.cond.guard()?;
        // Block while the barrier drains or resets.
        while matches!(self.state(), RESETTING | DRAINING) {
            self.cond.wait()?;
        }
        if self.state() < 0 {
            return Err(Error::BrokenBarrier);
        }
        let index = self.count();
        self.set_count(index + 1);
        let r = if index as usize + 1 == self.parties() {
            self.set_state(DRAINING);
            self.cond.notify_all()
        } else {
            self.wait_for_release(timeout)
        };
        self.set_count(self.count() - 1);
        if self.count() == 0 && matches!(self.state(), RESETTING | DRAINING) {
            self.set_state(FILLING);
            self.cond.notify_all()?;
        }
        r.map(|_| index as usize)
    }

    fn wait_for_release(&self, timeout: Option<Duration>) -> Result<()> {
        if !self
            .cond
            .wait_for_inner(|| self.state() != FILLING, timeout)?
        {
            self.break_it()?;
            return Err(Error::BrokenBarrier);
        }
        if self.state() < 0 {
            return Err(Error::BrokenBarrier);
        }
        Ok(())
    }

    fn break_it(&self) -> Result<()> {
        self.set_state(BROKEN);
        self.cond.notify_all()
    }

    /// Breaks the barrier: current and later waiters get
    /// [`Error::BrokenBarrier`] until [`reset`](Barrier::reset).
    ///
    /// # Errors
    /// Only if the shared state is corrupt.
    pub fn abort(&self) -> Result<()> {
        let _g = self.cond.guard()?;
        self.break_it()
    }

    /// Returns the barrier to its initial state; parties waiting now get
    /// [`Error::BrokenBarrier`].
    ///
    /// # Errors
    /// Only if the shared state is corrupt.
    pub fn reset(&self) -> Result<()> {
        let _g = self.cond.guard()?;
        if self.count() > 0 {
            if matches!(self.state(), FILLING | BROKEN) {
                self.set_state(RESETTING);
            }
        } else {
            self.set_state(FILLING);
        }
        self.cond.notify_all()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Barrier(parties={}, state={})>",
            self.parties(),
            self.state()
        )
    }
}

impl SharedFds for Barrier {
    /// The condition's two descriptors, then the barrier's.
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = self.cond.fds();
        v.push(self.region.fd());
        v
    }

    fn from_fds(mut fds: Vec<OwnedFd>) -> Result<Self> {
        if fds.len() != 3 {
            return Err(Error::InvalidArgument(format!(
                "a Barrier travels as 3 descriptors, got {}",
                fds.len()
            )));
        }
        let own = fds.pop().unwrap();
        Ok(Barrier {
            cond: Condition::from_fds(fds)?,
            region: Arc::new(Region::from_fd(own, KIND_BARRIER, BARRIER_LEN)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    // CPython: _TestCondition.test_notify
    #[test]
    fn notify_wakes_one_waiter_and_notify_all_the_rest() {
        let c = Condition::new().unwrap();
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ready = super::super::Semaphore::new(0).unwrap();
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let (c, w, r) = (c.clone(), woken.clone(), ready.clone());
                thread::spawn(move || {
                    c.acquire().unwrap();
                    r.release().unwrap();
                    c.wait().unwrap();
                    w.fetch_add(1, Relaxed);
                    c.release().unwrap();
                })
            })
            .collect();
        for _ in 0..3 {
            ready.acquire();
        }
        // Each waiter released `ready` while holding the lock, and gives it
        // up only inside wait: once we hold it, all three are sleeping.
        c.acquire().unwrap();
        c.notify().unwrap();
        c.release().unwrap();
        // notify returned after the one waiter woke; it needs the lock to count.
        c.acquire().unwrap();
        c.release().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while woken.load(Relaxed) < 1 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(woken.load(Relaxed), 1);
        c.acquire().unwrap();
        c.notify_all().unwrap();
        c.release().unwrap();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(woken.load(Relaxed), 3);
    }

    // CPython: _TestCondition.test_timeout
    #[test]
    fn wait_without_the_lock_is_refused_and_a_timeout_returns_false() {
        let c = Condition::with_lock(Lock::new().unwrap()).unwrap();
        assert!(matches!(c.wait(), Err(Error::NotOwner { .. })));
        assert!(matches!(c.notify(), Err(Error::NotOwner { .. })));
        c.acquire().unwrap();
        assert!(!c.wait_timeout(Duration::from_millis(20)).unwrap());
        // The lock is held again after the wait.
        assert!(c.lock.is_mine());
        c.release().unwrap();
    }

    // CPython: _TestBarrier.test_barrier / test_abort / test_reset
    #[test]
    fn barrier_gives_distinct_indices_and_breaks_on_timeout_and_abort() {
        let b = Barrier::new(3).unwrap();
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.wait().unwrap())
            })
            .collect();
        let mut idx: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        idx.sort();
        assert_eq!(idx, [0, 1, 2]);
        assert!(!b.broken());
        // A timeout breaks it.
        assert!(matches!(
            b.wait_timeout(Duration::from_millis(10)),
            Err(Error::BrokenBarrier)
        ));
        assert!(b.broken());
        assert!(matches!(b.wait(), Err(Error::BrokenBarrier)));
        b.reset().unwrap();
        assert!(!b.broken());
        let b2 = b.clone();
        let h = thread::spawn(move || b2.wait());
        while b.n_waiting() == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        b.abort().unwrap();
        assert!(matches!(h.join().unwrap(), Err(Error::BrokenBarrier)));
        assert_eq!(b.parties(), 3);
    }

    #[test]
    fn a_barrier_travels_as_its_three_memfds() {
        let b = Barrier::new(2).unwrap();
        let fds = b
            .fds()
            .into_iter()
            .map(|f| f.try_clone_to_owned().unwrap())
            .collect();
        let b2 = Barrier::from_fds(fds).unwrap();
        let h = thread::spawn(move || b2.wait().unwrap());
        let mine = b.wait().unwrap();
        assert_eq!(mine + h.join().unwrap(), 1);
        assert!(Barrier::from_fds(Vec::new()).is_err());
        let c = Condition::with_lock(Lock::new().unwrap()).unwrap();
        let fds = c
            .fds()
            .into_iter()
            .map(|f| f.try_clone_to_owned().unwrap())
            .collect();
        let c2 = Condition::from_fds(fds).unwrap();
        assert!(matches!(c2.lock(), ConditionLock::Lock(_)));
        c.acquire().unwrap();
        assert!(!c2.acquire_timeout(Duration::from_millis(5)).unwrap());
        c.release().unwrap();
    }
}
