//! `RobustLock`: a process-shared, robust `pthread` mutex.
//!
//! The kernel keeps, for every thread, a list of the robust mutexes it
//! holds (`set_robust_list`, registered by glibc for each thread). When the
//! thread exits, however it exits, the kernel marks each of them
//! `FUTEX_OWNER_DIED` and wakes a waiter, whose `pthread_mutex_lock` then
//! returns `EOWNERDEAD`. No pid is compared, so pid reuse cannot fool it.

use std::cell::UnsafeCell;
use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::{one_fd, SharedFds};
use crate::error::{Error, Result};
use crate::region::{Region, BODY};

const KIND_ROBUST: u32 = 8;
const OWNER: usize = BODY;
const MUTEX: usize = BODY + 8;
const LEN: usize = MUTEX + std::mem::size_of::<libc::pthread_mutex_t>();

/// A lock whose next acquirer learns that the previous owner died holding
/// it (`PTHREAD_MUTEX_ROBUST`), where a [`Lock`](super::Lock) would stay
/// held for ever.
///
/// Unlike a `Lock`, only the thread that acquired it may release it.
///
/// ```
/// let lock = forklore::synchronize::RobustLock::new().unwrap();
/// lock.acquire().unwrap();
/// lock.release().unwrap();
/// ```
#[derive(Clone)]
pub struct RobustLock {
    region: Arc<Region>,
}

impl RobustLock {
    /// A new unlocked robust lock.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created or the mutex
    /// initialized.
    pub fn new() -> Result<RobustLock> {
        let region = Region::new(KIND_ROBUST, LEN)?;
        init_robust(&region, MUTEX)?;
        Ok(RobustLock {
            region: Arc::new(region),
        })
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        mutex_ptr(&self.region)
    }

    /// Blocks until acquired.
    ///
    /// # Errors
    /// [`Error::OwnerDied`] when the previous owner died holding the lock:
    /// **the caller now holds it**, must check the data it protects, and
    /// must release it as usual. [`Error::InvalidArgument`] if the calling
    /// thread holds it already (it would deadlock).
    pub fn acquire(&self) -> Result<()> {
        // SAFETY: the mutex was initialized by `new` (or by the process
        // that sent the descriptor) and lives as long as the region.
        let rc = unsafe { libc::pthread_mutex_lock(self.mutex()) };
        self.took(rc, "pthread_mutex_lock").map(|_| ())
    }

    /// Acquires without waiting; true if acquired.
    ///
    /// # Errors
    /// As [`acquire`](RobustLock::acquire).
    pub fn try_acquire(&self) -> Result<bool> {
        // SAFETY: as in acquire.
        let rc = unsafe { libc::pthread_mutex_trylock(self.mutex()) };
        self.took(rc, "pthread_mutex_trylock")
    }

    /// Waits at most `timeout`; true if acquired.
    ///
    /// # Errors
    /// As [`acquire`](RobustLock::acquire).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
            .map_err(|e| Error::os("clock_gettime", e))?;
        let add = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX / 2),
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let mut sec = now.tv_sec().saturating_add(add.tv_sec);
        let mut nsec = now.tv_nsec() + add.tv_nsec;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec = sec.saturating_add(1);
        }
        let abs = libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        };
        // SAFETY: as in acquire; abs lives across the call.
        let rc = unsafe { libc::pthread_mutex_timedlock(self.mutex(), &abs) };
        self.took(rc, "pthread_mutex_timedlock")
    }

    fn took(&self, rc: i32, op: &'static str) -> Result<bool> {
        let owner = self.region.u32_at(OWNER);
        match rc {
            0 => {
                owner.store(std::process::id(), Relaxed);
                Ok(true)
            }
            libc::EBUSY | libc::ETIMEDOUT => Ok(false),
            libc::EOWNERDEAD => {
                let dead = owner.swap(std::process::id(), Relaxed);
                // SAFETY: we hold the mutex (EOWNERDEAD means acquired);
                // marking it consistent keeps it usable after we release.
                check(
                    unsafe { libc::pthread_mutex_consistent(self.mutex()) },
                    "pthread_mutex_consistent",
                )?;
                Err(Error::OwnerDied { pid: dead as i32 })
            }
            libc::EDEADLK => Err(Error::InvalidArgument(
                "RobustLock is already held by this thread".into(),
            )),
            _ => check(rc, op).map(|_| false),
        }
    }

    /// Releases the lock.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not hold it.
    pub fn release(&self) -> Result<()> {
        // SAFETY: as in acquire.
        let rc = unsafe { libc::pthread_mutex_unlock(self.mutex()) };
        if rc == libc::EPERM {
            return Err(Error::NotOwner {
                op: "RobustLock.release".into(),
            });
        }
        check(rc, "pthread_mutex_unlock")
    }
}

impl RobustLock {
    /// True if the calling thread holds the mutex: the mutex's first word
    /// (glibc's and musl's lock word) holds the owner's thread id, with
    /// the futex flags above bit 29.
    fn held_here(&self) -> bool {
        let word = self.region.u32_at(MUTEX).load(Relaxed);
        word & libc::FUTEX_TID_MASK == crate::region::gettid()
    }
}

impl Drop for RobustLock {
    /// A handle dropped while its thread holds the lock leaves the mapping
    /// in place: the kernel reaches a held robust mutex at the thread's
    /// exit through a list that runs through the mutex itself, and an
    /// unmapped one would never be marked, leaving the next acquirer
    /// waiting for ever instead of told that the owner died. (One page and
    /// one descriptor are kept for the life of the process.)
    fn drop(&mut self) {
        if self.held_here() {
            std::mem::forget(Arc::clone(&self.region));
        }
    }
}

/// Bytes a robust mutex takes (8-aligned).
pub(crate) const ROBUST_SIZE: usize = std::mem::size_of::<libc::pthread_mutex_t>();

/// Initializes a process-shared, robust, error-checking mutex at `off`
/// (8-aligned) of a region no other process uses yet.
pub(crate) fn init_robust(region: &Region, off: usize) -> Result<()> {
    assert_eq!(off % 8, 0, "unaligned mutex");
    let m = mutex_at(region, off);
    let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: attr is initialized by pthread_mutexattr_init before use
    // and destroyed after; the mutex lies inside the fresh, zeroed
    // mapping (8-aligned, ROBUST_SIZE bytes, checked by mutex_at) that no
    // other process can see yet.
    let rc = unsafe {
        let a = attr.as_mut_ptr();
        let mut rc = libc::pthread_mutexattr_init(a);
        if rc == 0 {
            rc = libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED);
        }
        if rc == 0 {
            rc = libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST);
        }
        if rc == 0 {
            rc = libc::pthread_mutexattr_settype(a, libc::PTHREAD_MUTEX_ERRORCHECK);
        }
        if rc == 0 {
            rc = libc::pthread_mutex_init(m, a);
        }
        libc::pthread_mutexattr_destroy(a);
        rc
    };
    check(rc, "pthread_mutex_init")
}

/// Locks the robust mutex at `off`, waiting as long as it takes. True if
/// its previous owner died holding it (it is then marked consistent and
/// held by the caller, who must repair what it guards).
///
/// # Errors
/// [`Error::Os`] if the mutex is not usable (not initialized, or already
/// held by the calling thread).
pub(crate) fn lock_robust(region: &Region, off: usize) -> Result<bool> {
    let m = mutex_at(region, off);
    // SAFETY: the mutex was initialized by init_robust (checked by the
    // region's kind by whoever mapped it) and lives as long as the region.
    match unsafe { libc::pthread_mutex_lock(m) } {
        0 => Ok(false),
        libc::EOWNERDEAD => {
            // SAFETY: we hold it (EOWNERDEAD means acquired).
            check(
                unsafe { libc::pthread_mutex_consistent(m) },
                "pthread_mutex_consistent",
            )?;
            Ok(true)
        }
        rc => check(rc, "pthread_mutex_lock").map(|_| false),
    }
}

/// Unlocks the robust mutex at `off`, held by the calling thread.
pub(crate) fn unlock_robust(region: &Region, off: usize) {
    // SAFETY: as in lock_robust; the caller holds it.
    unsafe {
        libc::pthread_mutex_unlock(mutex_at(region, off));
    }
}

fn mutex_ptr(region: &Region) -> *mut libc::pthread_mutex_t {
    mutex_at(region, MUTEX)
}

fn mutex_at(region: &Region, off: usize) -> *mut libc::pthread_mutex_t {
    // UnsafeCell documents that the mutex is changed behind shared access.
    region
        .ptr(off, ROBUST_SIZE)
        .cast::<UnsafeCell<libc::pthread_mutex_t>>()
        .cast()
}

fn check(rc: i32, op: &'static str) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::os(op, nix::Error::from_raw(rc)))
    }
}

impl fmt::Debug for RobustLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<RobustLock>")
    }
}

impl SharedFds for RobustLock {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.region.fd()]
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let fd = one_fd(fds, "RobustLock")?;
        Ok(RobustLock {
            region: Arc::new(Region::from_fd(fd, KIND_ROBUST, LEN)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_robust_lock_is_released_only_by_its_owner() {
        let l = RobustLock::new().unwrap();
        assert!(l.try_acquire().unwrap());
        // Its owner acquiring again would deadlock: refused.
        assert!(matches!(
            l.try_acquire(),
            Ok(false) | Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            l.acquire_timeout(Duration::from_millis(5)),
            Err(Error::InvalidArgument(_))
        ));
        let l2 = l.clone();
        std::thread::spawn(move || {
            assert!(matches!(l2.release(), Err(Error::NotOwner { .. })));
            assert!(!l2.try_acquire().unwrap());
            assert!(!l2.acquire_timeout(Duration::from_millis(10)).unwrap());
        })
        .join()
        .unwrap();
        l.release().unwrap();
    }

    #[test]
    fn a_thread_that_exits_holding_it_is_reported_to_the_next_owner() {
        let l = RobustLock::new().unwrap();
        let l2 = l.clone();
        std::thread::spawn(move || l2.acquire().unwrap())
            .join()
            .unwrap();
        let err = l.acquire().unwrap_err();
        assert!(matches!(err, Error::OwnerDied { .. }), "{err}");
        // We hold it now, and it stays usable.
        l.release().unwrap();
        assert!(l.try_acquire().unwrap());
        l.release().unwrap();
    }
}
