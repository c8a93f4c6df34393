//! The bottom layer: the raw system calls the rest of the crate stands on,
//! each wrapped once (as std's and mio's `sys` modules do): `waitpid` decoded
//! by hand, pidfds, and one `poll(2)` loop with a deadline.
//!
//! Nothing here imports a module above it; every other module may import
//! this one.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::exit_status::ExitStatus;

/// `waitpid(2)` for one child, decoded by hand rather than through nix's
/// `WaitStatus`, which cannot represent a death by a real-time signal (it
/// fails with `EINVAL` after the child has already been reaped, losing the
/// status). `Ok(None)`: still running (with `WNOHANG`), or stopped/continued.
pub(crate) fn waitpid_raw(pid: Pid, nohang: bool) -> Result<Option<ExitStatus>> {
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int for the duration of the
        // call; waitpid writes only to it.
        let r = unsafe { libc::waitpid(pid.as_raw(), &mut status, flags) };
        match r {
            -1 => match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(Error::os("waitpid", e)),
            },
            0 => return Ok(None),
            _ => return Ok(ExitStatus::from_raw(status)),
        }
    }
}

/// Block until child `pid` ends and reap it.
///
/// # Errors
/// [`Error::Os`] (`ECHILD`) if `pid` is not an unreaped child of this process.
pub(crate) fn wait_pid(pid: Pid) -> Result<ExitStatus> {
    loop {
        if let Some(st) = waitpid_raw(pid, false)? {
            return Ok(st);
        }
    }
}

/// Reap child `pid` if it has ended; `Ok(None)` while it still runs.
///
/// # Errors
/// [`Error::Os`] (`ECHILD`) if `pid` is not an unreaped child of this process.
pub(crate) fn try_wait_pid(pid: Pid) -> Result<Option<ExitStatus>> {
    waitpid_raw(pid, true)
}

/// Wait up to `timeout` for child `pid` to end, reaping it if it does.
///
/// Returns `Ok(None)` if it is still running when the time is up. The wait
/// sleeps in the kernel: it opens a pidfd (`pidfd_open(2)`, Linux 5.3+) and
/// `poll`s it, so there is no busy loop. On kernels without pidfds it falls
/// back to polling with a growing sleep (1 ms up to 50 ms).
///
/// # Errors
/// [`Error::Os`] (`ECHILD`) if `pid` is not an unreaped child of this process.
pub(crate) fn wait_pid_timeout(pid: Pid, timeout: Duration) -> Result<Option<ExitStatus>> {
    if let Some(st) = try_wait_pid(pid)? {
        return Ok(Some(st));
    }
    let Some(deadline) = Instant::now().checked_add(timeout) else {
        // Too far away to represent (`Duration::MAX`): it never expires.
        return wait_pid(pid).map(Some);
    };
    match pidfd_open(pid) {
        Some(pidfd) => loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if !poll_readable(&pidfd, left)? {
                return try_wait_pid(pid);
            }
            if let Some(st) = try_wait_pid(pid)? {
                return Ok(Some(st));
            }
        },
        None => {
            let mut nap = Duration::from_millis(1);
            loop {
                if let Some(st) = try_wait_pid(pid)? {
                    return Ok(Some(st));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                std::thread::sleep(nap.min(left));
                nap = (nap * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// Open a pidfd for `pid`, or `None` where the kernel has no `pidfd_open`.
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1;
    // it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the syscall just returned this fd, so it is open and owned by
    // nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `poll(2)` on `fds` until one is ready or `deadline` passes (`None`:
/// never), retrying on `EINTR` and sleeping for at most what `poll` takes at
/// a time. The crate's one poll loop. Returns the number of ready fds; `0`
/// only once the deadline has passed (a deadline already past polls once,
/// without waiting).
pub(crate) fn poll(fds: &mut [PollFd], deadline: Option<Instant>) -> Result<usize> {
    loop {
        let wait = poll_timeout(deadline.map(|d| d.saturating_duration_since(Instant::now())));
        match nix::poll::poll(fds, wait) {
            Ok(0) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(0);
                }
            }
            Ok(n) => return Ok(usize::try_from(n).unwrap_or(0).max(1)),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::os("poll", e)),
        }
    }
}

/// The deadline `timeout` from now, or `None` (never) when it is too far
/// away to represent, such as `Duration::MAX`.
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Poll one fd for readability for up to `timeout` (a timeout too large to
/// represent, such as `Duration::MAX`, never expires). `Ok(true)` when
/// readable (or hung up, which a read then reports).
pub(crate) fn poll_readable(fd: &impl AsFd, timeout: Duration) -> Result<bool> {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    Ok(poll(&mut fds, deadline(timeout))? > 0)
}

/// `left` as a poll timeout (`None`: wait for ever), in milliseconds rounded
/// up so that a wait of half a millisecond does not become a busy zero, and
/// capped at what `poll` takes (callers loop until their deadline).
pub(crate) fn poll_timeout(left: Option<Duration>) -> PollTimeout {
    let Some(left) = left else {
        return PollTimeout::NONE;
    };
    let ms = left
        .as_nanos()
        .div_ceil(1_000_000)
        .min(i32::MAX as u128 - 1) as i32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

/// Wait briefly, without sleeping, for `fd` to become readable: yield and
/// poll without blocking for up to `spin`. A caller that expects an answer
/// within microseconds keeps its CPU awake this way (waking an idle CPU can
/// cost more than the whole exchange); a longer wait then sleeps as usual.
///
/// It polls first and yields between polls: an answer already there costs
/// one system call.
pub(crate) fn spin_until_readable(fd: &impl AsFd, spin: Duration) {
    let start = Instant::now();
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if !matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(0)) || start.elapsed() >= spin
        {
            return;
        }
        std::thread::yield_now();
    }
}

/// Fill `buf` from the kernel's random source (`getrandom(2)`).
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Io {
        op: "getrandom",
        source: e
            .raw_os_error()
            .map(std::io::Error::from_raw_os_error)
            .unwrap_or_else(|| std::io::Error::other(e.to_string())),
    })
}

/// Make a fresh private directory (mode 0700) for a socket:
/// `$TMPDIR/forklore-<what>-<16 hex digits>` (`/tmp` when `$TMPDIR` is too
/// long for a socket path: `sun_path` holds 108 bytes). `op` names the
/// directory in an error.
pub(crate) fn private_dir(what: &str, op: &'static str) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let mut base = std::env::temp_dir();
    if base.as_os_str().len() > 60 {
        base = std::path::PathBuf::from("/tmp");
    }
    for _ in 0..16 {
        let mut r = [0u8; 8];
        random_bytes(&mut r)?;
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("forklore-{what}-{name}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(Error::Io { op, source }),
        }
    }
    Err(Error::Io {
        op,
        source: std::io::Error::other("16 random names were all taken"),
    })
}

/// This process's pid, mostly without a system call: it is kept in a page
/// mapped with `MADV_WIPEONFORK`, which the kernel hands to a forked child
/// zeroed, so a child made by any fork (forklore's, `libc::fork`, another
/// library's) finds no pid there and asks `getpid(2)` anew. No fork hook
/// is installed. Where the page cannot be had (a kernel before 4.14, or an
/// emulator that accepts every `madvise` without doing it, which an
/// invalid advice accepted gives away, as BoringSSL checks), every call
/// asks `getpid`.
///
/// The page is claimed with a compare-and-swap, never a lock, so a fork
/// that lands while another thread sets it up leaves the child nothing to
/// wait for. Once set up, a call only reads and writes that page and
/// calls `getpid`: async-signal-safe. A child of `vfork` or of
/// `clone(CLONE_VM)` shares the page with its parent; it must not call
/// this (it may call only async-signal-safe functions before `exec`
/// anyway, and forklore's `pre_exec` code does not call this).
pub(crate) fn pid() -> u32 {
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
    /// The page's address; 0 before it is set up, 1 where it cannot be.
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    const NONE: usize = 1;
    let mut addr = PAGE.load(Ordering::Acquire);
    if addr == 0 {
        let mine = wipe_on_fork_page().unwrap_or(NONE);
        addr = match PAGE.compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => mine,
            Err(theirs) => {
                if mine != NONE {
                    // SAFETY: the page this call mapped, never published.
                    unsafe { libc::munmap(mine as *mut libc::c_void, 4096) };
                }
                theirs
            }
        };
    }
    if addr == NONE {
        return std::process::id();
    }
    // SAFETY: the page is mapped for the life of the process (never
    // unmapped once published), page-aligned, zero-filled at first and in
    // every forked child, and only ever accessed through this `AtomicU32`.
    let slot = unsafe { &*(addr as *const AtomicU32) };
    match slot.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            slot.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// A fresh page that a fork hands to the child zeroed, or `None`.
fn wipe_on_fork_page() -> Option<usize> {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // An invalid advice must fail: where it does not, `madvise` is not
    // really carried out.
    // SAFETY: `p` is the 4096-byte mapping made above; an advice changes
    // only how the kernel treats it.
    let honest = unsafe { libc::madvise(p, 4096, -1) } != 0;
    // SAFETY: as above.
    if honest && unsafe { libc::madvise(p, 4096, libc::MADV_WIPEONFORK) } == 0 {
        return Some(p as usize);
    }
    // SAFETY: the mapping made above, unused.
    unsafe { libc::munmap(p, 4096) };
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_timeout_rounds_up_and_caps() {
        assert_eq!(i32::from(poll_timeout(Some(Duration::ZERO))), 0);
        assert_eq!(i32::from(poll_timeout(Some(Duration::from_micros(500)))), 1);
        assert_eq!(i32::from(poll_timeout(Some(Duration::from_millis(20)))), 20);
        assert_eq!(i32::from(poll_timeout(Some(Duration::MAX))), i32::MAX - 1);
        assert_eq!(poll_timeout(None), PollTimeout::NONE);
    }

    #[test]
    fn a_past_deadline_polls_once_without_waiting() {
        let (r, _w) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        let start = Instant::now();
        assert_eq!(poll(&mut fds, Some(start)).unwrap(), 0);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn an_unrepresentable_timeout_means_no_deadline() {
        assert_eq!(deadline(Duration::MAX), None);
        assert!(deadline(Duration::from_secs(1)).is_some());
    }

    /// The cached pid is the process's own, and a child forked by a raw
    /// `fork(2)` (no hook of forklore's runs) reads its own pid, not the
    /// parent's.
    #[test]
    fn the_cached_pid_is_fresh_in_a_child_of_a_raw_fork() {
        assert_eq!(pid(), std::process::id());
        assert_eq!(pid(), std::process::id());
        // SAFETY: the child calls only `pid` (initialised above, so it
        // reads and writes one mapped page and calls getpid), `getpid` and
        // `_exit`: all async-signal-safe in a fork of a threaded process.
        let child = unsafe { libc::fork() };
        if child == 0 {
            // SAFETY: as above.
            let own = unsafe { libc::getpid() } as u32;
            let code = if pid() == own && pid() == own { 0 } else { 1 };
            // SAFETY: `_exit` ends the child without running the parent's
            // atexit handlers or destructors.
            unsafe { libc::_exit(code) };
        }
        assert!(child > 0, "fork failed");
        let status = wait_pid(Pid::from_raw(child)).unwrap();
        assert!(status.success(), "the child saw a stale pid: {status:?}");
        assert_eq!(pid(), std::process::id());
    }
}
