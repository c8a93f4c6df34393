//! `multiprocessing.Process`: run a closure in a forked child.
//!
//! ```
//! use forklore::Process;
//!
//! let mut p = Process::new(|| forklore::outln!("hello from the child")).name("greeter");
//! p.start().unwrap();
//! let status = p.join().unwrap();
//! assert_eq!(status.code(), 0);
//! ```
//!
//! # What happens in the child
//! The child is a fork of the parent at the moment of `start()`. It runs the
//! target closure and then ends with `_exit(0)`: it never returns into the
//! parent's code, so it never runs the parent's destructors, `atexit`
//! handlers or buffered output a second time (stdout and stderr are flushed
//! before the fork). If the target panics, the child prints
//! `Process <name>:` and the panic message to stderr and exits with code 1,
//! as Python prints `Process Process-2:` and a traceback. A target that calls
//! [`std::process::exit(n)`](std::process::exit) exits with code `n`.
//!
//! # Dropping a handle
//! A [`Process`] dropped while its child still runs behaves like Python at
//! interpreter exit: a daemon child is terminated (SIGTERM) and reaped; a
//! non-daemon child is joined, so the drop blocks until the child ends. Either
//! way no zombie is left behind. Call [`Process::terminate`] first if you do
//! not want to wait.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::{getpid, getppid, Pid};

use crate::error::{Error, Result};
pub use crate::exit_status::ExitStatus;
pub use crate::fork::exit_child;
use crate::fork::{fork, Fork};
pub use crate::sys::{try_wait_pid, wait_pid, wait_pid_timeout};

static PROCESS_COUNTER: AtomicUsize = AtomicUsize::new(1);

/// In a child started by [`Process::start`], the name it was started as; null
/// in the main process. It points at the `name` field of the `Process` handle
/// in the child's copy of the parent's memory. That handle is borrowed by
/// `run_child`, which never returns, so the string is never freed in the child.
/// Pointing instead of copying keeps the child from touching the heap, which
/// matters for start-up time (every page a child writes is a copy-on-write fault).
static CHILD_NAME: AtomicPtr<String> = AtomicPtr::new(std::ptr::null_mut());

/// Installs, once per process, the panic hook that gives a panicking child
/// Python's `Process Process-N:` header. In the main process it defers to the
/// hook that was there before.
static PANIC_HOOK: Once = Once::new();

fn child_name() -> Option<&'static str> {
    let p = CHILD_NAME.load(Ordering::Acquire);
    // SAFETY: `CHILD_NAME` is either null or points at a `String` that lives
    // for the rest of this process (see its docs).
    unsafe { p.as_ref() }.map(String::as_str)
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match child_name() {
            Some(name) => crate::io::write_stderr(&format!("Process {name}:\n{info}\n")),
            None => previous(info),
        }));
    });
}

/// What [`current_process`] returns: this process's name and pids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    /// `MainProcess`, or the name of the [`Process`] this child was started as.
    pub name: String,
    /// This process's pid.
    pub pid: Pid,
    /// The parent's pid (Python: `os.getppid()`, `parent_process().pid`).
    pub ppid: Pid,
}

/// This process's name and pid, and its parent's pid
/// (Python: `multiprocessing.current_process()`).
pub fn current_process() -> CurrentProcess {
    CurrentProcess {
        name: child_name().unwrap_or("MainProcess").to_string(),
        pid: getpid(),
        ppid: getppid(),
    }
}

type Target = Box<dyn FnOnce() + Send + 'static>;

#[derive(Debug, Clone, Copy)]
enum State {
    Initial,
    Running(Pid),
    Finished(Pid, ExitStatus),
}

/// A closure run in a forked child (Python: `multiprocessing.Process`).
///
/// Build one with [`Process::new`], optionally set [`name`](Process::name) and
/// [`daemon`](Process::daemon), then [`start`](Process::start) and
/// [`join`](Process::join). See the [module docs](self) for what happens in the
/// child and when a handle is dropped.
pub struct Process {
    name: String,
    daemon: bool,
    target: Option<Target>,
    state: State,
    /// The process that started the child (its parent); only it may signal
    /// or wait for the child. Set by `start`, since a handle can be created
    /// in one process and moved into another (a child's target) before it
    /// is started there.
    owner: Pid,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("state", &self.state)
            .finish()
    }
}

impl Process {
    /// A process that will run `target`, named `Process-N`
    /// (N counts the processes created so far, from 1, as in Python).
    pub fn new<F: FnOnce() + Send + 'static>(target: F) -> Self {
        let n = PROCESS_COUNTER.fetch_add(1, Ordering::Relaxed);
        Process {
            name: format!("Process-{n}"),
            daemon: false,
            target: Some(Box::new(target)),
            state: State::Initial,
            owner: getpid(),
        }
    }

    /// Set the name (Python: `Process(name=...)`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Set the daemon flag before start (Python: `Process(daemon=True)`).
    /// A daemon child is terminated, not joined, when its handle is dropped.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Change the daemon flag (Python: `p.daemon = True`).
    ///
    /// # Errors
    /// [`Error::DaemonAfterStart`] once the process has started.
    pub fn set_daemon(&mut self, daemon: bool) -> Result<()> {
        if !matches!(self.state, State::Initial) {
            return Err(Error::DaemonAfterStart {
                name: self.name.clone(),
            });
        }
        self.daemon = daemon;
        Ok(())
    }

    /// The process's name.
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Whether this is a daemon process.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Fork the child and run the target in it (Python: `p.start()`).
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] on a second call; [`Error::Os`] if `fork` fails.
    pub fn start(&mut self) -> Result<()> {
        let target = match (&self.state, self.target.take()) {
            (State::Initial, Some(t)) => t,
            _ => {
                return Err(Error::AlreadyStarted {
                    name: self.name.clone(),
                })
            }
        };
        install_panic_hook();
        // Whoever forks is the parent, whichever process made the handle.
        self.owner = getpid();
        // SAFETY: the child runs the target and then leaves through
        // `run_child`, which ends with `_exit` and never returns into the
        // caller's frames. A multithreaded caller gets the one-time warning
        // from `fork`, as in Python; the module docs explain the hazard.
        match unsafe { fork() } {
            Ok(Fork::Child) => run_child(&self.name, target),
            Ok(Fork::Parent { child }) => {
                self.state = State::Running(child);
                Ok(())
            }
            Err(e) => {
                // Put the target back so a later retry can still start.
                self.target = Some(target);
                Err(e)
            }
        }
    }

    /// The child's pid, once started (Python: `p.pid`, `None` before start).
    pub fn pid(&self) -> Option<Pid> {
        match self.state {
            State::Initial => None,
            State::Running(p) | State::Finished(p, _) => Some(p),
        }
    }

    /// Wait for the child to end and reap it (Python: `p.join()`).
    ///
    /// # Errors
    /// [`Error::NotStarted`] before `start()`.
    pub fn join(&mut self) -> Result<ExitStatus> {
        match self.state {
            State::Initial => Err(self.not_started("join")),
            State::Finished(_, st) => Ok(st),
            State::Running(pid) => {
                let st = wait_pid(pid)?;
                self.state = State::Finished(pid, st);
                Ok(st)
            }
        }
    }

    /// Wait up to `timeout` for the child (Python: `p.join(timeout)`).
    ///
    /// Returns `Ok(None)` if the child is still alive when the time is up, as
    /// Python's `join(timeout)` returns with `exitcode` still `None`. The wait
    /// sleeps on a pidfd; it does not busy-loop.
    ///
    /// # Errors
    /// [`Error::NotStarted`] before `start()`.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        match self.state {
            State::Initial => Err(self.not_started("join")),
            State::Finished(_, st) => Ok(Some(st)),
            State::Running(pid) => {
                let st = wait_pid_timeout(pid, timeout)?;
                if let Some(st) = st {
                    self.state = State::Finished(pid, st);
                }
                Ok(st)
            }
        }
    }

    /// Check, without blocking, whether the child is still running
    /// (Python: `p.is_alive()`). Reaps the child if it has ended.
    /// False before `start()`.
    pub fn is_alive(&mut self) -> bool {
        self.poll();
        matches!(self.state, State::Running(_))
    }

    /// How the child ended, or `None` while it runs or before start
    /// (Python: `p.exitcode`). Reaps the child if it has ended.
    pub fn exitcode(&mut self) -> Option<ExitStatus> {
        self.poll();
        match self.state {
            State::Finished(_, st) => Some(st),
            _ => None,
        }
    }

    /// Send SIGTERM (Python: `p.terminate()`); `exitcode` then shows `-15`.
    /// Does nothing if the child has already been reaped.
    ///
    /// # Errors
    /// [`Error::NotStarted`] before `start()`.
    pub fn terminate(&mut self) -> Result<()> {
        self.send(Signal::SIGTERM, "terminate")
    }

    /// Send SIGKILL (Python: `p.kill()`); `exitcode` then shows `-9`.
    ///
    /// # Errors
    /// [`Error::NotStarted`] before `start()`.
    pub fn kill(&mut self) -> Result<()> {
        self.send(Signal::SIGKILL, "kill")
    }

    fn send(&mut self, sig: Signal, op: &'static str) -> Result<()> {
        match self.state {
            State::Initial => Err(self.not_started(op)),
            State::Finished(..) => Ok(()),
            State::Running(pid) => match signal::kill(pid, sig) {
                // ESRCH cannot happen for an unreaped child (it is a zombie
                // at worst), but is harmless if it does.
                Ok(()) | Err(Errno::ESRCH) => Ok(()),
                Err(e) => Err(Error::os("kill", e)),
            },
        }
    }

    fn poll(&mut self) {
        if let State::Running(pid) = self.state {
            if let Ok(Some(st)) = try_wait_pid(pid) {
                self.state = State::Finished(pid, st);
            }
        }
    }

    fn not_started(&self, op: &'static str) -> Error {
        Error::NotStarted {
            op,
            name: self.name.clone(),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A copy of the handle that a child inherited through fork is not the
        // child's parent: it must not signal or wait.
        if getpid() != self.owner {
            return;
        }
        if let State::Running(pid) = self.state {
            if self.daemon {
                let _ = signal::kill(pid, Signal::SIGTERM);
            }
            let _ = wait_pid(pid);
        }
    }
}

/// The child side of `start()`: run the target, then `_exit`. Never returns.
///
/// `name` must stay valid for the rest of the process, which holds because
/// it borrows the handle in a frame that is never left (this never returns).
fn run_child(name: &String, target: Target) -> ! {
    CHILD_NAME.store(name as *const String as *mut String, Ordering::Release);
    let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(target)) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    exit_child(code)
}
