//! The one place in forklore that calls `fork(2)`.
//!
//! Everything that creates a process by forking (`Process`, `Pool`, the
//! executor, the Manager's server) goes through [`fork`]. Keeping the call in
//! one small module keeps its safety argument in one place too.

use std::any::Any;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use nix::unistd;

use crate::os::Pid;

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

/// Set in a child forked from a process that had other threads (only
/// possible through [`fork_with_threads`]): std's stdout and stderr locks may
/// be held for ever by a thread that does not exist here, so the child's
/// output and exit paths must not take them.
static CHILD_OF_THREADED: AtomicBool = AtomicBool::new(false);

/// True in a child made by [`fork_with_threads`] from a multithreaded
/// parent: take no lock (see [`CHILD_OF_THREADED`]).
pub(crate) fn child_of_threaded() -> bool {
    CHILD_OF_THREADED.load(Ordering::Relaxed)
}

/// A module that must act on both sides of forklore's own [`fork`] (the
/// managers' client: it adopts the proxies a child inherits, see
/// `managers::client`). A higher layer registers itself here with
/// [`register_participant`], so that this module, at the bottom, names
/// nothing above it.
///
/// `before` runs in the parent just before `fork(2)` and returns what must
/// live across the system call (a lock guard); `after` gets it back right
/// after, on each side (`true` in the child), and on a failed fork (`false`).
pub(crate) struct ForkParticipant {
    /// In the parent, before `fork(2)`.
    pub before: fn() -> Box<dyn Any>,
    /// On each side after `fork(2)`: the value `before` returned, and whether
    /// this is the child.
    pub after: fn(Box<dyn Any>, bool),
    /// In [`exit_child`], before `_exit` (not in a child of a threaded
    /// parent, which must take no lock): end what the process holds
    /// elsewhere in order (the managers' client gives its references back).
    pub at_exit: fn(),
}

/// The one participant, set once (by the first manager client endpoint).
/// Not a process-wide hook: only forks made by [`fork`] and
/// [`fork_with_threads`] consult it; a raw `libc::fork` does not.
static PARTICIPANT: OnceLock<ForkParticipant> = OnceLock::new();

/// Register `p` to run around every fork forklore makes from now on. The
/// first registration wins; later ones are ignored (there is one
/// participant, the managers' client, which registers the same functions
/// each time). Sound in a threaded program: the slot is a `OnceLock`, and a
/// fork racing with the first registration sees it either unset (then no
/// client state can be in use yet on the registering thread's side, since
/// registration comes before the first endpoint exists) or set.
pub(crate) fn register_participant(p: ForkParticipant) {
    let _ = PARTICIPANT.set(p);
}

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
/// it: a program whose second thread prints while the main thread forks
/// loses most of its children that way, blocked on stdout's lock. So this
/// function refuses when the calling process has more than one thread, with
/// [`Error::ForkWithThreads`] naming the count. Fork before you start
/// threads, use the `forkserver` or `spawn` start method
/// ([`crate::start`]), or opt in with [`fork_with_threads`].
///
/// # Safety
/// The child must not return into code that would run the parent's
/// destructors or `atexit` handlers a second time: end it with
/// [`exit_child`] (a flush, then `_exit`), not
/// with [`std::process::exit`], which runs the `atexit` handlers.
///
/// # Errors
/// [`Error::ForkWithThreads`] when the process has more than one thread (no
/// child is created); [`Error::Os`] with `op = "fork"` when the kernel
/// refuses (`EAGAIN` at the process limit, `ENOMEM`).
///
/// # Example
/// ```
/// use forklore::{fork, Fork};
/// // SAFETY: the child only calls _exit.
/// match unsafe { fork() }.unwrap() {
///     Fork::Child => unsafe { libc::_exit(7) },
///     Fork::Parent { child } => {
///         let status = forklore::process::wait_pid(child).unwrap();
///         assert_eq!(status.code(), 7);
///     }
/// }
/// ```
pub unsafe fn fork() -> Result<Fork> {
    let threads = thread_count();
    if threads > 1 {
        return Err(Error::ForkWithThreads { threads });
    }
    // SAFETY: the process is single-threaded (no other thread can start one
    // between the count and the fork); the caller upholds the rest.
    unsafe { fork_inner(false) }
}

/// [`fork`] without the thread check: the explicit opt-in for a process
/// that has other threads.
///
/// In a child made from a multithreaded parent, forklore's own output
/// ([`outln!`](crate::outln), the panic header) and
/// [`exit_child`] take no lock: they write
/// straight to the file descriptor and leave with `_exit`, so an empty
/// child always ends. Text the child put in std's `stdout` buffer itself
/// (`print!`) is not flushed, since that takes the lock.
///
/// # Safety
/// Everything [`fork`] requires, and: if the process has other threads, the
/// child, until it calls `exec` or `_exit`, may only call async-signal-safe
/// functions and forklore's lock-free output and exit. No `println!` (std's
/// stdout lock), no `Mutex` another thread might hold. glibc keeps `malloc`
/// usable after `fork`, but no other lock is safe.
///
/// # Errors
/// [`Error::Os`] with `op = "fork"` when the kernel refuses.
pub unsafe fn fork_with_threads() -> Result<Fork> {
    let threaded = thread_count() > 1;
    // SAFETY: the caller upholds this function's contract.
    unsafe { fork_inner(threaded) }
}

/// The fork itself, shared by [`fork`] and [`fork_with_threads`].
///
/// # Safety
/// See [`fork_with_threads`].
unsafe fn fork_inner(threaded: bool) -> Result<Fork> {
    // Errors from flushing are ignored as Python ignores them here: a closed
    // stdout must not make process creation fail. In the parent, taking the
    // locks only waits for the thread that holds them.
    if !child_of_threaded() {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }
    // SAFETY: the caller upholds this function's contract (see `# Safety`):
    // in a multithreaded parent the child restricts itself to
    // async-signal-safe calls, and it never unwinds into the parent's frames.
    // A registered participant (the managers' client) acts before the fork:
    // proxies of a Manager that the child inherits are adopted for it
    // (bounded network I/O, no lock held across it).
    let participant = PARTICIPANT.get();
    let held = participant.map(|p| (p.before)());
    let after = |in_child: bool| {
        if let (Some(p), Some(held)) = (participant, held) {
            (p.after)(held, in_child);
        }
    };
    match unsafe { unistd::fork() } {
        Ok(unistd::ForkResult::Parent { child }) => {
            after(false);
            Ok(Fork::Parent {
                child: Pid::from_nix(child),
            })
        }
        Ok(unistd::ForkResult::Child) => {
            if threaded {
                CHILD_OF_THREADED.store(true, Ordering::Relaxed);
            }
            after(true);
            Ok(Fork::Child)
        }
        Err(e) => {
            after(false);
            Err(Error::os("fork", e))
        }
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
/// End a forked child at once (Python: `os._exit(code)`).
///
/// It flushes what the child itself printed, then calls `_exit`, skipping the
/// destructors and `atexit` handlers the child inherited from the parent, so
/// nothing the parent owns is cleaned up twice. Use it to end the child side
/// of a raw [`fork`](crate::fork()).
///
/// Before that, in a process that used a manager, it ends the process's
/// session connections and waits, up to 1 s in all, for each server to give
/// back the references they held (skipped if another thread holds the
/// managers' client lock).
///
/// In a child forked from a multithreaded parent (by
/// [`fork_with_threads`](crate::fork_with_threads())) it takes no lock: it
/// skips the flush, since std's stdout lock may be held by a thread that
/// does not exist in the child, and goes straight to `_exit` (its
/// references are then given back when the server sees the process gone).
pub fn exit_child(code: i32) -> ! {
    use std::io::Write;
    if !crate::fork::child_of_threaded() {
        if let Some(p) = PARTICIPANT.get() {
            (p.at_exit)();
        }
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }
    // SAFETY: _exit is async-signal-safe and ends the process at once; the
    // child owns nothing that must be released first.
    unsafe { libc::_exit(code) }
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
        Ok(unistd::ForkResult::Parent { child }) => Ok(Fork::Parent {
            child: Pid::from_nix(child),
        }),
        Ok(unistd::ForkResult::Child) => Ok(Fork::Child),
        Err(e) => Err(Error::os("fork", e)),
    }
}
