//! The wait machinery of the manager's server: how a server thread blocks
//! on behalf of a client, and notices when that client goes away.
//!
//! Each object has its own mutex, so calls on different objects never wait
//! for each other. Objects that can block a caller (queues, events, locks,
//! conditions, barriers) also have a condition variable. A server thread
//! that blocks on behalf of a client waits on it in slices of [`SLICE`] and,
//! between slices, checks whether its client's socket has become readable:
//! a client that is blocked in a call sends nothing, so readable means end of
//! file, and the client is gone. The wait then stops.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::managers::datum::Datum;
use crate::managers::protocol::{RemoteError, Reply};

/// The server's name for one client connection.
pub(crate) type ConnId = u64;

/// Who calls: a process (its random token) and one of its threads, as the
/// client said in [`Request::Hello`](crate::managers::protocol::Request::Hello).
/// RLocks and Conditions are owned by a caller, not by a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Caller {
    pub process: u64,
    pub thread: u64,
}

impl Caller {
    /// The caller of a connection that never said hello: a process of
    /// its own, which lives as long as the connection.
    pub(crate) fn anonymous(conn: ConnId) -> Caller {
        Caller {
            process: (1 << 63) | conn,
            thread: 0,
        }
    }
}

/// How long a blocked server thread waits before it checks on its client.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// The client vanished while the server was blocked on its behalf.
#[derive(Debug)]
pub(crate) struct ClientGone;

/// What a method call gives back: an answer for the client, or the news
/// that the client is gone.
pub(crate) type CallResult = Result<Result<Reply, RemoteError>, ClientGone>;

/// Who is calling, its socket (to notice its end), and the server's table
/// of client processes (to tell whether a robust lock's owner lives).
pub(crate) struct Ctx<'a> {
    pub caller: Caller,
    pub fd: BorrowedFd<'a>,
    pub procs: &'a super::procs::Procs,
}

impl Ctx<'_> {
    /// True when the client's socket is readable (end of file) or broken.
    fn client_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => false,
            Ok(_) => true,
            Err(nix::errno::Errno::EINTR) => false,
            Err(_) => true,
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State behind a mutex, with a condition variable for the callers that
/// block on it.
pub(crate) struct Guarded<T> {
    state: Mutex<T>,
    cv: Condvar,
    /// Threads waiting on `cv`; changed and read with `state` locked, so a
    /// notification is skipped (no `futex` call) only when nobody waits.
    sleepers: AtomicUsize,
}

/// How a blocking wait ended.
pub(super) enum Waited<'a, T> {
    Ready(MutexGuard<'a, T>),
    TimedOut(MutexGuard<'a, T>),
    Gone(MutexGuard<'a, T>),
}

impl<T> Guarded<T> {
    pub(super) fn new(state: T) -> Self {
        Guarded {
            state: Mutex::new(state),
            cv: Condvar::new(),
            sleepers: AtomicUsize::new(0),
        }
    }

    /// Wake every waiter, if there is one. Call after changing the state,
    /// with it still locked or just unlocked: a waiter counts itself in
    /// `sleepers` before it releases the lock to sleep, so it is seen.
    pub(super) fn notify_all(&self) {
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            self.cv.notify_all();
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.state)
    }

    /// Wait until `ready` holds, the deadline passes, or the client goes away.
    pub(super) fn wait<'a>(
        &'a self,
        mut g: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        ctx: &Ctx<'_>,
        mut ready: impl FnMut(&mut T) -> bool,
    ) -> Waited<'a, T> {
        let mut checked = Instant::now();
        let mut waited = false;
        loop {
            if ready(&mut g) {
                // Before taking anything (an item, a lock, a notification)
                // for a client that had to wait, make sure it is still there.
                if waited && ctx.client_gone() {
                    return Waited::Gone(g);
                }
                return Waited::Ready(g);
            }
            let now = Instant::now();
            if now.duration_since(checked) >= SLICE {
                if ctx.client_gone() {
                    return Waited::Gone(g);
                }
                checked = now;
            }
            let slice = match deadline {
                Some(d) if now >= d => return Waited::TimedOut(g),
                Some(d) => d.saturating_duration_since(now).min(SLICE),
                None => SLICE,
            };
            self.sleepers.fetch_add(1, Ordering::Relaxed);
            g = self
                .cv
                .wait_timeout(g, slice)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            waited = true;
        }
    }
}

/// When a wait of `timeout` ends; `None` (wait for ever) for no timeout
/// and for one too long to represent (`Duration::MAX`).
pub(super) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

pub(super) fn ok<T: Into<Reply>>(v: T) -> CallResult {
    Ok(Ok(v.into()))
}

pub(super) fn err(e: RemoteError) -> CallResult {
    Ok(Err(e))
}

impl From<()> for Reply {
    fn from(_: ()) -> Reply {
        Reply::Unit
    }
}
impl From<bool> for Reply {
    fn from(b: bool) -> Reply {
        Reply::Bool(b)
    }
}
impl From<usize> for Reply {
    fn from(n: usize) -> Reply {
        Reply::Size(n as u64)
    }
}
impl From<Datum> for Reply {
    fn from(d: Datum) -> Reply {
        Reply::Datum(d)
    }
}
impl From<Vec<Datum>> for Reply {
    fn from(v: Vec<Datum>) -> Reply {
        Reply::Seq(v)
    }
}
