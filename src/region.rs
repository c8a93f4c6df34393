//! The bottom layer of the objects that live in shared memory: a
//! [`Region`] (a `memfd` mapped `MAP_SHARED`) and futex waits on words in it.
//!
//! Why a `memfd` and not `MAP_SHARED | MAP_ANONYMOUS`: both are inherited by
//! a forked child, but only a `memfd` has a file descriptor, and a file
//! descriptor can travel over a Unix socket with `SCM_RIGHTS` to a child
//! started by `spawn` or `forkserver`, which did not inherit the mapping.
//! The receiving side maps the same pages with [`Region::from_fd`]. The
//! descriptor is `O_CLOEXEC`, so it leaks into no program a caller `exec`s;
//! the cost is one descriptor per object. Nothing is ever named in
//! `/dev/shm`: the pages are freed when the last mapping and the last
//! descriptor are gone, however their processes ended (even by `SIGKILL`).
//!
//! Every region starts with a 16-byte header (a magic number, the kind of
//! object, the length) that [`Region::from_fd`] checks, so a descriptor of
//! the wrong kind or size is an error, not undefined behaviour. All words
//! in a region are read and written through atomics, and bytes are copied
//! with raw pointers, never through `&[u8]` references: another process may
//! change them at any moment.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const MAGIC: u32 = 0x464b_5348; // "FKSH"
/// First byte of an object's own fields: the header is 16 bytes, and 64
/// keeps the first field on its own cache line.
pub(crate) const BODY: usize = 64;

/// A shared mapping of a `memfd`, with its descriptor.
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
    /// `None` once [`close_fd`](Region::close_fd) let it go.
    fd: Option<OwnedFd>,
}

// SAFETY: the mapping is shared memory that other processes change anyway;
// every access goes through atomics or raw-pointer copies, never through a
// reference that assumes exclusive or unchanging data.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// A new zeroed region of `len` bytes (header included) for an object
    /// of kind `kind`.
    pub(crate) fn new(kind: u32, len: usize) -> Result<Region> {
        let len = len.max(BODY);
        // SAFETY: the name is a NUL-terminated literal; memfd_create only
        // reads it.
        let raw = unsafe {
            libc::memfd_create(
                c"forklore".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if raw < 0 {
            return Err(Error::os("memfd_create", nix::Error::last()));
        }
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len)
            .map_err(|_| Error::InvalidArgument(format!("region of {len} bytes is too large")))?;
        nix::unistd::ftruncate(&fd, size).map_err(|e| Error::os("ftruncate", e))?;
        // Sealed at this size for ever: a process that receives the
        // descriptor cannot shrink it under another's mapping (which would
        // make that process's next access a SIGBUS).
        // SAFETY: fcntl on a descriptor we own, with integer arguments.
        let sealed = unsafe {
            libc::fcntl(
                fd.as_raw_fd(),
                libc::F_ADD_SEALS,
                libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
            )
        };
        if sealed != 0 {
            return Err(Error::os("fcntl(F_ADD_SEALS)", nix::Error::last()));
        }
        let region = Region::map(fd, len)?;
        region.u32_at(4).store(kind, Ordering::Relaxed);
        region.u64_at(8).store(len as u64, Ordering::Relaxed);
        region.u32_at(0).store(MAGIC, Ordering::Release);
        Ok(region)
    }

    /// Maps the region behind `fd` (received from another process), after
    /// checking that it is a forklore region of kind `kind` of at least
    /// `min_len` bytes.
    pub(crate) fn from_fd(fd: OwnedFd, kind: u32, min_len: usize) -> Result<Region> {
        Region::from_fd_of(fd, &[kind], min_len)
    }

    /// As [`from_fd`](Region::from_fd), for a region of any of `kinds`.
    pub(crate) fn from_fd_of(fd: OwnedFd, kinds: &[u32], min_len: usize) -> Result<Region> {
        // SAFETY: fcntl on a descriptor we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 || seals & libc::F_SEAL_SHRINK == 0 {
            return Err(Error::InvalidArgument(
                "descriptor is not a sealed forklore memfd (it could shrink under the mapping)"
                    .into(),
            ));
        }
        let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::os("fstat", e))?;
        let len = usize::try_from(st.st_size).unwrap_or(0);
        if len < BODY.max(min_len) {
            return Err(Error::InvalidArgument(format!(
                "descriptor is {len} bytes, too small for this object"
            )));
        }
        let region = Region::map(fd, len)?;
        let magic = region.u32_at(0).load(Ordering::Acquire);
        let got_kind = region.u32_at(4).load(Ordering::Relaxed);
        let said_len = region.u64_at(8).load(Ordering::Relaxed);
        if magic != MAGIC || !kinds.contains(&got_kind) || said_len != len as u64 {
            return Err(Error::InvalidArgument(format!(
                "descriptor does not hold this kind of forklore object \
                 (magic {magic:#x}, kind {got_kind}, expected kind {kinds:?})"
            )));
        }
        Ok(region)
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Region> {
        // SAFETY: a fresh mapping chosen by the kernel (no fixed address),
        // of a file at least `len` bytes long; it aliases nothing in Rust.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::os("mmap", nix::Error::last()));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).expect("mmap returned a non-null pointer");
        Ok(Region {
            ptr,
            len,
            fd: Some(fd),
        })
    }

    /// The length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The `memfd`, to send to another process with `SCM_RIGHTS`.
    ///
    /// # Panics
    /// After [`close_fd`](Region::close_fd) (a bug in forklore: only a
    /// region that never travels again closes its descriptor).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd
            .as_ref()
            .expect("a region's descriptor is used after close_fd")
            .as_fd()
    }

    /// Close the `memfd`'s descriptor, keeping the mapping (which keeps
    /// the pages): for a region that has travelled for the last time, so
    /// that it holds no descriptor for the rest of its life.
    pub(crate) fn close_fd(&mut self) {
        self.fd = None;
    }

    /// A raw pointer to byte `off`.
    ///
    /// # Panics
    /// If `off + n` is outside the mapping (a bug in forklore: offsets are
    /// computed from the object's layout, never taken from a peer).
    #[inline]
    pub(crate) fn ptr(&self, off: usize, n: usize) -> *mut u8 {
        assert!(
            off.checked_add(n).is_some_and(|end| end <= self.len),
            "region access {off}+{n} outside {} bytes",
            self.len
        );
        // SAFETY: checked just above to stay inside the mapping.
        unsafe { self.ptr.as_ptr().add(off) }
    }

    /// The 32-bit word at `off` (4-aligned).
    #[inline]
    pub(crate) fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert_eq!(off % 4, 0, "unaligned word");
        // SAFETY: in bounds (checked by ptr), aligned (the mapping is page
        // aligned and off is a multiple of 4), and only ever accessed
        // atomically; the mapping lives as long as &self.
        unsafe { &*self.ptr(off, 4).cast::<AtomicU32>() }
    }

    /// The 64-bit word at `off` (8-aligned).
    #[inline]
    pub(crate) fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert_eq!(off % 8, 0, "unaligned word");
        // SAFETY: as for u32_at, with 8-byte alignment.
        unsafe { &*self.ptr(off, 8).cast::<AtomicU64>() }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no reference
        // into it outlives `self` (they all borrow from it).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("len", &self.len)
            .field("fd", &self.fd.as_ref().map(|f| f.as_raw_fd()))
            .finish()
    }
}

/// When a wait gives up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `None` waits for ever. A timeout too large to represent is for ever.
    #[inline]
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|t| Instant::now().checked_add(t)))
    }

    /// What is left: `None` for ever, `Some(ZERO)` when expired.
    #[inline]
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    #[inline]
    pub(crate) fn expired(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }
}

/// Sleeps while `word == expected`, at most `timeout`. Returns false only
/// when the timeout expired; a wake-up, a changed value or a signal return
/// true, and the caller checks its condition again.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let ts;
    let ts_ptr = match timeout {
        None => std::ptr::null(),
        Some(t) => {
            ts = libc::timespec {
                tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: t.subsec_nanos() as libc::c_long,
            };
            &ts as *const libc::timespec
        }
    };
    // SAFETY: `word` is a valid, aligned 32-bit word in a shared mapping
    // (not FUTEX_PRIVATE: the waker may be another process); the timespec,
    // when given, lives across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    !(r == -1 && nix::Error::last() == nix::Error::ETIMEDOUT)
}

/// Wakes at most `n` waiters on `word`.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    // SAFETY: `word` is a valid aligned word; FUTEX_WAKE only uses its address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// The kernel's id of the calling thread (the pid for a main thread),
/// without a system call after the first one in each thread.
///
/// `gettid` is a system call (glibc does not cache it), and it would
/// double the cost of an uncontended lock. Each thread caches its id,
/// stamped with the pid of the process that computed it. A forked child
/// inherits the forking thread's cache, so the stamp is checked against
/// [`crate::sys::pid`], which a fork resets without an `atfork` handler
/// (a page mapped with `MADV_WIPEONFORK`): another pid means "recompute".
/// Where the kernel lacks `MADV_WIPEONFORK` (before Linux 4.14), that
/// check is a `getpid` call.
#[inline]
pub(crate) fn gettid() -> u32 {
    use std::cell::Cell;
    thread_local! {
        static CACHE: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    }
    let pid = crate::sys::pid();
    let (tid, cached_pid) = CACHE.with(|c| c.get());
    if cached_pid == pid {
        return tid;
    }
    let tid = nix::unistd::gettid().as_raw() as u32;
    CACHE.with(|c| c.set((tid, pid)));
    tid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_travels_as_its_memfd_and_maps_the_same_pages() {
        let a = Region::new(7, 4096).unwrap();
        a.u32_at(BODY).store(42, Ordering::SeqCst);
        let dup = a.fd().try_clone_to_owned().unwrap();
        let b = Region::from_fd(dup, 7, BODY + 4).unwrap();
        assert_eq!(b.u32_at(BODY).load(Ordering::SeqCst), 42);
        b.u32_at(BODY).store(43, Ordering::SeqCst);
        assert_eq!(a.u32_at(BODY).load(Ordering::SeqCst), 43);
    }

    #[test]
    fn a_region_cannot_shrink_and_an_unsealed_memfd_is_refused() {
        let a = Region::new(7, 4096).unwrap();
        assert!(nix::unistd::ftruncate(a.fd(), 0).is_err());
        // SAFETY: a literal name; the result is checked.
        let raw = unsafe { libc::memfd_create(c"other".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        nix::unistd::ftruncate(&fd, 4096).unwrap();
        let err = Region::from_fd(fd, 7, BODY).unwrap_err();
        assert!(err.to_string().contains("sealed"), "{err}");
    }

    #[test]
    fn a_memfd_of_another_kind_is_refused() {
        let a = Region::new(7, 4096).unwrap();
        let dup = a.fd().try_clone_to_owned().unwrap();
        let err = Region::from_fd(dup, 8, BODY).unwrap_err();
        assert!(err.to_string().contains("kind"), "{err}");
    }

    #[test]
    fn a_futex_wait_times_out_and_a_changed_value_returns_at_once() {
        let a = Region::new(1, 4096).unwrap();
        let w = a.u32_at(BODY);
        assert!(!futex_wait(w, 0, Some(Duration::from_millis(10))));
        assert!(futex_wait(w, 1, Some(Duration::from_secs(10))));
    }

    /// The cached thread id is the thread's own, and in a child of a raw
    /// `fork(2)` (no hook of forklore's runs) it is the child's, not the
    /// forking thread's.
    #[test]
    fn the_cached_thread_id_is_fresh_in_a_child_of_a_raw_fork() {
        let own = nix::unistd::gettid().as_raw() as u32;
        assert_eq!((gettid(), gettid()), (own, own));
        // SAFETY: the child calls only `gettid` (whose page and thread-local
        // are set up above: it reads them, calls getpid and gettid, and
        // writes a `Cell`), `nix::unistd::gettid` and `_exit`: all
        // async-signal-safe in a fork of a threaded process.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let real = nix::unistd::gettid().as_raw() as u32;
            let code = if gettid() == real && real != own {
                0
            } else {
                1
            };
            // SAFETY: `_exit` ends the child without running destructors.
            unsafe { libc::_exit(code) };
        }
        assert!(child > 0, "fork failed");
        let status = crate::sys::wait_pid(nix::unistd::Pid::from_raw(child)).unwrap();
        assert!(
            status.success(),
            "the child saw a stale thread id: {status:?}"
        );
    }
}
