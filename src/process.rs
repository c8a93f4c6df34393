//! `multiprocessing.Process`: run a closure in a forked child, or a `fn`
//! item with serde arguments by any start method ([`crate::start`]).
//!
//! ```
//! use forklore::Process;
//!
//! let mut p = Process::new(|| forklore::outln!("hello from the child")).with_name("greeter");
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
//! A closure target ([`Process::new`]) is always forked, which is refused in
//! a process that has other threads ([`Error::ForkWithThreads`]). A `fn`
//! target ([`Process::from_fn`]) is started by the program's start method
//! (`forkserver` unless chosen otherwise): the child is then a fork of the
//! fork server, or a fresh run of the executable (`spawn`), and behaves the
//! same: the same exit status, the same panic header, the same stdout and
//! stderr, and `join`, `exitcode`, `is_alive`, `terminate` and `kill` work
//! as with a forked child.
//!
//! # Dropping a handle
//! A [`Process`] dropped while its child still runs behaves like Python at
//! interpreter exit: a daemon child is terminated (SIGTERM) and reaped; a
//! non-daemon child is joined, so the drop blocks until the child ends. Either
//! way no zombie is left behind. Call [`Process::terminate`] first if you do
//! not want to wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::{getpid, Pid as NixPid};

use crate::error::{Error, Result};
pub use crate::exit_status::ExitStatus;
pub use crate::fork::exit_child;
use crate::fork::{fork, fork_with_threads, Fork};
use crate::os::Pid;
use crate::start::forkserver::Served;
use crate::start::spawn::FnTarget;
use crate::start::StartMethod;

mod active;
pub use active::{active_children, ActiveChild};

static PROCESS_COUNTER: AtomicUsize = AtomicUsize::new(1);

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
        name: crate::start::child::name()
            .unwrap_or("MainProcess")
            .to_string(),
        pid: Pid::this(),
        ppid: Pid::parent(),
    }
}

/// Block until child `pid` ends and reap it (Python: `os.waitpid(pid, 0)`).
///
/// # Errors
/// [`Error::Os`] (`ECHILD`) if `pid` is not an unreaped child of this process.
pub fn wait_pid(pid: Pid) -> Result<ExitStatus> {
    crate::sys::wait_pid(pid.to_nix())
}

/// Reap child `pid` if it has ended; `Ok(None)` while it still runs
/// (Python: `os.waitpid(pid, os.WNOHANG)`).
///
/// # Errors
/// [`Error::Os`] (`ECHILD`) if `pid` is not an unreaped child of this process.
pub fn try_wait_pid(pid: Pid) -> Result<Option<ExitStatus>> {
    crate::sys::try_wait_pid(pid.to_nix())
}

/// Wait up to `timeout` for child `pid` to end, reaping it if it does;
/// `Ok(None)` if it still runs when the time is up. The wait sleeps in the
/// kernel on a pidfd (Linux 5.3+; older kernels: a growing sleep).
///
/// # Errors
/// [`Error::Os`] (`ECHILD`) if `pid` is not an unreaped child of this process.
pub fn wait_pid_timeout(pid: Pid, timeout: Duration) -> Result<Option<ExitStatus>> {
    crate::sys::wait_pid_timeout(pid.to_nix(), timeout)
}

type Closure = Box<dyn FnOnce() + Send + 'static>;

/// What a child runs.
enum Target {
    /// A closure: fork only.
    Closure(Closure),
    /// A `fn` item and serialized arguments: any start method.
    Fn(FnTarget),
    /// `from_fn` arguments that could not be serialized: `start` fails.
    Unencodable(Error),
}

#[derive(Debug)]
enum State {
    Initial,
    /// A child of this process (fork, spawn).
    Running(NixPid),
    /// A child of the fork server.
    Served(Box<Served>),
    Finished(NixPid, ExitStatus),
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
    /// `None`: the program's method at `start` ([`crate::start::get_start_method`]).
    method: Option<StartMethod>,
    /// Descriptors a spawned child inherits (a pool worker's socket).
    inherit: Vec<std::os::fd::RawFd>,
    state: State,
    /// The process that started the child (its parent); only it may signal
    /// or wait for the child. Set by `start`, since a handle can be created
    /// in one process and moved into another (a child's target) before it
    /// is started there.
    owner: NixPid,
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
    /// A process that will run the closure `target` in a forked child,
    /// named `Process-N` (N counts the processes created so far, from 1, as
    /// in Python).
    ///
    /// A closure can only be started by `fork`: only a copy of this
    /// process's memory holds what it captured (see [`crate::start`]). Use
    /// [`Process::from_fn`] for a target that can be started by any method.
    pub fn new<F: FnOnce() + Send + 'static>(target: F) -> Self {
        Self::with_target(Target::Closure(Box::new(target)), Some(StartMethod::Fork))
    }

    /// A process that will run `target(args)`, started by the program's
    /// start method (`forkserver` unless [`set_start_method`](crate::start::set_start_method)
    /// chose another) or the one set with [`start_method`](Process::start_method).
    ///
    /// `target` is a `fn` item, which exists in every run of the
    /// executable, and `args` crosses as postcard bytes, so the child can be
    /// a fresh process (Python: `Process(target=f, args=(a,))`, with `f` a
    /// module-level function and `a` picklable). The arguments are encoded
    /// here; if they cannot be, [`start`](Process::start) reports it.
    ///
    /// The objects that live in shared memory ([`synchronize`](crate::synchronize),
    /// [`sharedctypes`](crate::sharedctypes), [`queues`](crate::queues),
    /// [`shared_memory`](crate::shared_memory)) may be among the arguments,
    /// under every start method: their descriptors travel with the start
    /// and the child maps the same memory, as CPython's do. The process
    /// holds a duplicate of each such descriptor from here until it has
    /// started (or is dropped).
    ///
    /// ```no_run
    /// use forklore::start::StartMethod;
    /// use forklore::synchronize::Lock;
    /// use forklore::sharedctypes::Value;
    /// use forklore::Process;
    ///
    /// fn worker((lock, n): (Lock, Value<i64>)) {
    ///     let _g = lock.guard();
    ///     n.set(n.get() + 1);
    /// }
    ///
    /// fn main() {
    ///     forklore::init();
    ///     let (lock, n) = (Lock::new().unwrap(), Value::new(0i64).unwrap());
    ///     let mut p = Process::from_fn(worker, (lock.clone(), n.clone()))
    ///         .start_method(StartMethod::Spawn);
    ///     p.start().unwrap();
    ///     p.join().unwrap();
    ///     assert_eq!(n.get(), 1);
    /// }
    /// ```
    pub fn from_fn<A>(target: fn(A), args: A) -> Self
    where
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        match FnTarget::new(target, &args) {
            Ok(t) => Self::with_target(Target::Fn(t), None),
            // Kept for `start` to report.
            Err(e) => Self::with_target(Target::Unencodable(e), None),
        }
    }

    fn with_target(target: Target, method: Option<StartMethod>) -> Self {
        let n = PROCESS_COUNTER.fetch_add(1, Ordering::Relaxed);
        Process {
            name: format!("Process-{n}"),
            daemon: false,
            target: Some(target),
            method,
            inherit: Vec::new(),
            state: State::Initial,
            owner: getpid(),
        }
    }

    /// Start this process with `method` rather than the program's
    /// (Python: a process made from `get_context(method)`).
    #[must_use = "a builder setter returns the changed Process"]
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Let a spawned child inherit `fd` (under its number); crate-internal,
    /// for pool workers.
    pub(crate) fn inherit_fd(mut self, fd: std::os::fd::RawFd) -> Self {
        self.inherit.push(fd);
        self
    }

    /// The start method `start` will use (or used).
    pub fn get_start_method(&self) -> StartMethod {
        self.method.unwrap_or_else(crate::start::get_start_method)
    }

    /// Set the name (Python: `Process(name=...)`); read it back with
    /// [`name`](Self::name).
    #[must_use = "a builder setter returns the changed Process"]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Make it a daemon before start (Python: `Process(daemon=True)`).
    /// A daemon child is terminated, not joined, when its handle is dropped.
    /// A process is not a daemon unless this (or
    /// [`set_daemon`](Self::set_daemon)) is called.
    #[must_use = "a builder setter returns the changed Process"]
    pub fn daemon(mut self) -> Self {
        self.daemon = true;
        self
    }

    /// Make it a daemon, on a `Process` already built (Python:
    /// `p.daemon = True`). Python's `p.daemon = False` before start is the
    /// default here, so it has no method.
    ///
    /// # Errors
    /// [`Error::DaemonAfterStart`] once the process has started.
    pub fn set_daemon(&mut self) -> Result<()> {
        if !matches!(self.state, State::Initial) {
            return Err(Error::DaemonAfterStart {
                name: self.name.clone(),
            });
        }
        self.daemon = true;
        Ok(())
    }

    /// The process's name (Python: `p.name`): `Process-N` unless
    /// [`with_name`](Self::with_name) set one.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a daemon process.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Start the child and run the target in it (Python: `p.start()`), by
    /// this process's start method: `fork` for a closure
    /// ([`Process::new`]); for a `fn` target ([`Process::from_fn`]), the one
    /// set with [`start_method`](Process::start_method), else the program's
    /// (`forkserver` by default).
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] on a second call.
    /// With `fork`: [`Error::ForkWithThreads`] when the calling process has
    /// more than one thread (no child is started: see
    /// [`fork`](crate::fork()) for why, and
    /// [`start_with_threads`](Process::start_with_threads) to opt in);
    /// [`Error::Os`] if `fork` fails.
    /// With `spawn` or `forkserver`: [`Error::InvalidArgument`] for a
    /// closure target; [`Error::SpawnNotInitialized`] if `main` did not call
    /// [`forklore::init()`](crate::init); [`Error::Encode`] for arguments
    /// that cannot be serialized; [`Error::ForkServerGone`] or
    /// [`Error::Io`] if the fork server cannot be reached.
    pub fn start(&mut self) -> Result<()> {
        match self.get_start_method() {
            // SAFETY: `fork` refuses in a multithreaded process, and the
            // child leaves through `run_child`, which ends with `_exit`.
            StartMethod::Fork => unsafe { self.start_forked(false) },
            method => self.start_fresh(method),
        }
    }

    /// [`start`](Process::start) by `fork` in a process that has other
    /// threads: the explicit opt-in to `fork` there.
    ///
    /// # Safety
    /// The child is a copy of the calling thread only; a lock any other
    /// thread held at the fork stays held for ever in the child. The target
    /// must therefore restrict itself to async-signal-safe calls and
    /// forklore's lock-free output ([`outln!`](crate::outln),
    /// [`errln!`](crate::errln)): no `println!`, no `Mutex` shared with
    /// another thread. The child then ends with `_exit` without taking
    /// std's stdout lock. A panicking target is reported without a lock too.
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] on a second call; [`Error::Os`] if `fork`
    /// fails.
    pub unsafe fn start_with_threads(&mut self) -> Result<()> {
        // SAFETY: the caller upholds the contract above.
        unsafe { self.start_forked(true) }
    }

    fn take_target(&mut self) -> Result<Target> {
        match (&self.state, self.target.take()) {
            (State::Initial, Some(t)) => Ok(t),
            (_, t) => {
                self.target = t;
                Err(Error::AlreadyStarted {
                    name: self.name.clone(),
                })
            }
        }
    }

    /// # Safety
    /// With `threaded`, the contract of [`Process::start_with_threads`].
    unsafe fn start_forked(&mut self, threaded: bool) -> Result<()> {
        let target = self.take_target()?;
        if let Target::Unencodable(_) = target {
            return self.unencodable(target);
        }
        if threaded {
            // A child forked from a threaded parent must not take std's hook
            // lock (another thread may hold it), so its hook is installed
            // here, before the fork; it defers to the previous hook outside
            // children. A plain fork installs it in the child instead, and
            // leaves the caller's process-wide panic hook alone.
            crate::start::child::install_panic_hook();
        }
        // Whoever forks is the parent, whichever process made the handle.
        self.owner = getpid();
        // SAFETY: the child runs the target and then leaves through
        // `run_child`, which ends with `_exit` and never returns into the
        // caller's frames; `fork` refuses a multithreaded caller, and
        // `fork_with_threads` is reached only through the caller's opt-in.
        let forked = if threaded {
            unsafe { fork_with_threads() }
        } else {
            unsafe { fork() }
        };
        match forked {
            Ok(Fork::Child) => {
                if !threaded {
                    crate::start::child::install_panic_hook();
                }
                run_child(&self.name, target)
            }
            Ok(Fork::Parent { child }) => {
                self.state = State::Running(child.to_nix());
                active::register(child.to_nix(), &self.name, None);
                Ok(())
            }
            Err(e) => {
                // Put the target back so a later retry can still start.
                self.target = Some(target);
                Err(e)
            }
        }
    }

    fn unencodable(&mut self, target: Target) -> Result<()> {
        match target {
            Target::Unencodable(e) => Err(e),
            t => {
                self.target = Some(t);
                Ok(())
            }
        }
    }

    /// Start by `spawn` or `forkserver`.
    fn start_fresh(&mut self, method: StartMethod) -> Result<()> {
        let target = self.take_target()?;
        let f = match target {
            Target::Fn(f) => f,
            Target::Closure(c) => {
                self.target = Some(Target::Closure(c));
                return Err(Error::InvalidArgument(format!(
                    "{} runs a closure, which only the fork start method can start (a fresh \
                     process has none of this one's memory); use Process::from_fn with a fn \
                     item and serde arguments for {method}",
                    self.name
                )));
            }
            t @ Target::Unencodable(_) => return self.unencodable(t),
        };
        self.owner = getpid();
        // A spawned child inherits the descriptors of the shared objects
        // among the arguments under the same numbers (listed in the payload).
        let mut inherit = self.inherit.clone();
        inherit.extend(f.raw_fds());
        let started = match method {
            StartMethod::ForkServer => {
                crate::start::forkserver::start(&self.name, &f).map(|s| State::Served(Box::new(s)))
            }
            _ => crate::start::spawn::spawn_entry(
                crate::start::spawn::Entry::Target {
                    name: self.name.clone(),
                    target: f.to_wire(),
                },
                &inherit,
                false,
            )
            .map(|(pid, _)| State::Running(pid)),
        };
        match started {
            Ok(state) => {
                match &state {
                    State::Running(pid) => active::register(*pid, &self.name, None),
                    State::Served(sv) => active::register(sv.pid, &self.name, sv.watch_fd()),
                    _ => {}
                }
                self.state = state;
                Ok(())
            }
            Err(e) => {
                self.target = Some(Target::Fn(f));
                Err(e)
            }
        }
    }

    /// The child's pid, once started (Python: `p.pid`, `None` before start).
    pub fn pid(&self) -> Option<Pid> {
        match &self.state {
            State::Initial => None,
            State::Served(s) => Some(Pid::from_nix(s.pid)),
            State::Running(p) | State::Finished(p, _) => Some(Pid::from_nix(*p)),
        }
    }

    /// Wait for the child to end and reap it (Python: `p.join()`).
    ///
    /// # Errors
    /// [`Error::NotStarted`] before `start()`; [`Error::ForkServerGone`] if
    /// the fork server died before reporting on its child.
    pub fn join(&mut self) -> Result<ExitStatus> {
        match self.join_inner(None)? {
            Some(st) => Ok(st),
            None => unreachable!("a wait without a timeout ends with a status"),
        }
    }

    fn join_inner(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        let (pid, st) = match &mut self.state {
            State::Initial => return Err(self.not_started("join")),
            State::Finished(_, st) => return Ok(Some(*st)),
            State::Running(pid) => {
                let pid = *pid;
                // `active_children` may have reaped it (before this wait,
                // or while it waited: then the wait fails with ECHILD).
                let st = match active::reaped(pid) {
                    Some(st) => Some(st),
                    None => match timeout {
                        None => crate::sys::wait_pid(pid).map(Some),
                        Some(t) => crate::sys::wait_pid_timeout(pid, t),
                    }
                    .or_else(|e| match active::reaped(pid) {
                        Some(st) if active::is_echild(&e) => Ok(Some(st)),
                        _ => Err(e),
                    })?,
                };
                (pid, st)
            }
            State::Served(s) => (s.pid, s.wait(timeout)?),
        };
        if let Some(st) = st {
            self.state = State::Finished(pid, st);
            active::forget(pid);
        }
        Ok(st)
    }

    /// Wait up to `timeout` for the child (Python: `p.join(timeout)`).
    ///
    /// Returns `Ok(None)` if the child is still alive when the time is up, as
    /// Python's `join(timeout)` returns with `exitcode` still `None`. The wait
    /// sleeps on a pidfd (or on the fork server's connection); it does not
    /// busy-loop.
    ///
    /// # Errors
    /// [`Error::NotStarted`] before `start()`; [`Error::ForkServerGone`] if
    /// the fork server died before reporting on its child.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        self.join_inner(Some(timeout))
    }

    /// Check, without blocking, whether the child is still running
    /// (Python: `p.is_alive()`). Reaps the child if it has ended.
    /// False before `start()`.
    pub fn is_alive(&mut self) -> bool {
        self.poll();
        matches!(self.state, State::Running(_) | State::Served(_))
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
        match &self.state {
            State::Initial => Err(self.not_started(op)),
            State::Finished(..) => Ok(()),
            // The fork server's child: through its pidfd, so a reused pid
            // is never hit.
            State::Served(s) => s.signal(sig),
            State::Running(pid) => match signal::kill(*pid, sig) {
                // ESRCH cannot happen for an unreaped child (it is a zombie
                // at worst), but is harmless if it does.
                Ok(()) | Err(Errno::ESRCH) => Ok(()),
                Err(e) => Err(Error::os("kill", e)),
            },
        }
    }

    fn poll(&mut self) {
        let _ = self.join_inner(Some(Duration::ZERO));
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
        if matches!(self.state, State::Running(_) | State::Served(_)) {
            if self.daemon {
                let _ = self.send(Signal::SIGTERM, "terminate");
            }
            let _ = self.join_inner(None);
        }
    }
}

/// The child side of `start()`: run the target, then `_exit`. Never returns.
fn run_child(name: &String, target: Target) -> ! {
    crate::start::child::run(name, |name| match target {
        Target::Closure(c) => {
            c();
            0
        }
        Target::Fn(f) => crate::start::child::run_fn(name, f),
        Target::Unencodable(_) => 1,
    })
}

// Above `start`: the context makes a `Process`, so its constructor lives here.
impl crate::start::Context {
    /// A process that runs `target(args)`, started by this context's method
    /// (Python: `ctx.Process(target=f, args=(a,))`).
    pub fn process<A>(&self, target: fn(A), args: A) -> Process
    where
        A: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        Process::from_fn(target, args).start_method(self.method)
    }
}
