//! The one place in forklore that calls `fork(2)`.
//!
//! Everything that creates a process by forking (`Process`, `Pool`, the
//! executor, the Manager's server) goes through [`fork`]. Keeping the call in
//! one small module keeps its safety argument in one place too.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::unistd::{self, Pid};

use crate::error::{Error, Result};

/// Which side of a [`fork`] the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// The original process. `child` is the new process's pid
    /// (Python: `os.fork()` returned a positive number).
    Parent {
        /// The pid of the child that was just created.
        child: Pid,
    },
    /// The new process (Python: `os.fork()` returned 0).
    Child,
}

static WARNED_THREADS: AtomicBool = AtomicBool::new(false);

/// Create a child process, a copy of this one, as `os.fork()` does.
///
/// Before forking it flushes Rust's `stdout` and `stderr`, so text the parent
/// had buffered is not printed a second time by the child (the classic bug of
/// TLPI's `fork_stdio_buf.c`). It then returns [`Fork::Parent`] in the parent
/// and [`Fork::Child`] in the child.
///
/// # Threads
/// `fork` copies only the thread that calls it. If another thread held a lock
/// at that instant (the allocator's, stdout's, any `Mutex`), the lock stays
/// held forever in the child, and the child deadlocks the first time it takes
/// it. So when the calling process has more than one thread, this function
/// prints a one-time warning on stderr, as Python 3.12+ does with its
/// `DeprecationWarning` (and why 3.14 stopped using fork by default on Linux).
/// Fork from a single-threaded process (before you start threads), or keep the
/// child to async-signal-safe calls.
///
/// # Safety
/// In the child, until it calls `exec` or `_exit`, only async-signal-safe
/// functions are guaranteed sound if the parent had other threads. The caller
/// must ensure the child either runs in a process that was single-threaded at
/// the time of the fork, or restricts itself to such functions. The child must
/// also not return into code that would run the parent's destructors or
/// `atexit` handlers a second time: end it with
/// [`exit_child`](crate::process::exit_child) (a flush, then `_exit`), not
/// with [`std::process::exit`], which runs the `atexit` handlers.
///
/// # Errors
/// [`Error::Os`] with `op = "fork"` when the kernel refuses (`EAGAIN` at the
/// process limit, `ENOMEM`).
///
/// # Example
/// ```
/// use forklore::{fork, Fork};
/// // SAFETY: doc tests run in their own single-threaded process; the child
/// // only calls _exit.
/// match unsafe { fork() }.unwrap() {
///     Fork::Child => unsafe { libc::_exit(7) },
///     Fork::Parent { child } => {
///         let status = forklore::process::wait_pid(child).unwrap();
///         assert_eq!(status.code(), 7);
///     }
/// }
/// ```
pub unsafe fn fork() -> Result<Fork> {
    // Errors from flushing are ignored as Python ignores them here: a closed
    // stdout must not make process creation fail.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    warn_if_threaded();
    // SAFETY: the caller upholds this function's contract (see `# Safety`):
    // in a multithreaded parent the child restricts itself to
    // async-signal-safe calls, and it never unwinds into the parent's frames.
    match unsafe { unistd::fork() } {
        Ok(unistd::ForkResult::Parent { child }) => Ok(Fork::Parent { child }),
        Ok(unistd::ForkResult::Child) => Ok(Fork::Child),
        Err(e) => Err(Error::os("fork", e)),
    }
}

/// Number of threads in this process (the `num_threads` field of
/// `/proc/self/stat`), or 1 if procfs cannot be read.
///
/// It reads into a stack buffer with raw `open`/`read`, because it runs on
/// every fork and must stay cheap next to the fork itself.
pub fn thread_count() -> usize {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let Ok(fd) = open(
        "/proc/self/stat",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return 1;
    };
    let mut buf = [0u8; 1024];
    let n = nix::unistd::read(&fd, &mut buf).unwrap_or(0);
    drop(fd);
    // The second field, the command name, is in parentheses and may hold
    // spaces; count fields from the last ')'. num_threads is field 20.
    let text = &buf[..n];
    let Some(close) = text.iter().rposition(|&b| b == b')') else {
        return 1;
    };
    text[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .nth(17)
        .and_then(|f| std::str::from_utf8(f).ok()?.parse().ok())
        .unwrap_or(1)
}

fn warn_if_threaded() {
    if WARNED_THREADS.load(Ordering::Relaxed) {
        return;
    }
    let threads = thread_count();
    if threads > 1 && !WARNED_THREADS.swap(true, Ordering::Relaxed) {
        crate::io::write_stderr(&format!(
            "forklore: warning: this process (pid={}) has {threads} threads; fork() copies \
             only the calling thread, so the child may deadlock on a lock another thread \
             held (see the docs of forklore::fork)\n",
            std::process::id()
        ));
    }
}

/// `fork(2)` for a short-lived helper whose child calls only
/// async-signal-safe functions and ends with `_exit` (the guardian of a
/// [`SharedMemory`](crate::shared_memory::SharedMemory) block). It flushes
/// nothing and warns of nothing: the child never runs Rust code that
/// could deadlock or print.
///
/// # Safety
/// In the child, only async-signal-safe functions may be called, ending
/// with `_exit`.
pub(crate) unsafe fn fork_helper() -> Result<Fork> {
    // SAFETY: the caller's contract is the one fork(2) needs in a
    // possibly multithreaded process.
    match unsafe { unistd::fork() } {
        Ok(unistd::ForkResult::Parent { child }) => Ok(Fork::Parent { child }),
        Ok(unistd::ForkResult::Child) => Ok(Fork::Child),
        Err(e) => Err(Error::os("fork", e)),
    }
}
