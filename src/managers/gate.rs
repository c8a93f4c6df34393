//! The server's door: what a connection goes through before it is
//! authenticated, and how the accept loop copes with running out of
//! descriptors. Server side only.
//!
//! # Bounded pre-authentication
//! A peer that connects has not proved anything yet, so it gets little:
//! - **One deadline for the whole handshake**, [`HANDSHAKE_TIMEOUT`] (5 s)
//!   from the moment it was accepted. A deadline per read would not do: a
//!   peer that sends one byte every 4 s would keep its thread for ever. The
//!   accept loop keeps the deadlines and, when one passes, shuts the socket
//!   down (`shutdown(2)` on a duplicate of it), which wakes the connection's
//!   thread from its read. This holds for Unix-socket peers too: a local
//!   process that connects and never speaks is dropped at the same
//!   deadline.
//! - **At most [`MAX_UNAUTHENTICATED`] (32) connections may be waiting** for
//!   their handshake at once. A new one beyond that pushes out the oldest
//!   (whose deadline is nearest). A legitimate client finishes its
//!   handshake within a round trip, so a flood of connections that never
//!   authenticate holds at most 32 threads, and only pushes a real client
//!   out if 32 more connections arrive during its own round trip.
//! - **Failures are logged sparingly**: at most [`LOG_BURST`] lines about
//!   failed handshakes per [`LOG_WINDOW`], then one line saying how many
//!   were not logged.
//!
//! # Running out of descriptors
//! When `accept` fails because the process or the system has no descriptor
//! left (`EMFILE`, `ENFILE`), or no memory for the socket, the waiting
//! connection stays in the listen queue and the listener stays readable:
//! retrying at once would spin. The loop stops watching the listener for a
//! while, starting at [`BACKOFF_MIN`] and doubling up to [`BACKOFF_MAX`],
//! and logs one line when the trouble starts and one when `accept` works
//! again (with the number of failed attempts), never a line per failure.
//! Clients waiting in the queue are served as soon as descriptors free up,
//! at most [`BACKOFF_MAX`] later. When `accept` got the last free
//! descriptor and none is left for the duplicate that bounds the whole
//! handshake, the connection is still served, with a timeout of
//! [`HANDSHAKE_TIMEOUT`] on each read of its handshake instead (the bound
//! before the gate): descriptors are then what limits such connections.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::server::ConnId;
pub use super::tcp::HANDSHAKE_TIMEOUT;

/// How many accepted connections may be waiting for their handshake at
/// once; beyond that, the oldest is dropped.
pub const MAX_UNAUTHENTICATED: usize = 32;
/// The first pause after `accept` failed for lack of resources.
pub const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause between two `accept` attempts that fail for lack of
/// resources.
pub const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// At most this many lines about failed handshakes per [`LOG_WINDOW`].
pub const LOG_BURST: u32 = 10;
/// See [`LOG_BURST`].
pub const LOG_WINDOW: Duration = Duration::from_secs(10);

/// Why the gate closed a connection before it authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Its handshake was not complete at the deadline.
    TimedOut,
    /// Pushed out by a newer connection: too many were waiting.
    Evicted,
}

impl Verdict {
    pub(crate) fn explain(self) -> String {
        match self {
            Verdict::TimedOut => format!(
                "no complete handshake within {} s of connecting; dropped",
                HANDSHAKE_TIMEOUT.as_secs()
            ),
            Verdict::Evicted => format!(
                "dropped before its handshake completed: more than \
                 {MAX_UNAUTHENTICATED} connections were waiting to authenticate"
            ),
        }
    }
}

struct Waiting {
    deadline: Instant,
    /// A duplicate of the connection's socket, to shut it down with; the
    /// connection's own descriptor belongs to its thread.
    sock: OwnedFd,
}

#[derive(Default)]
struct Inner {
    /// Connections not yet authenticated, oldest first (ids grow with
    /// time, and every deadline is the accept time plus the same bound).
    waiting: BTreeMap<ConnId, Waiting>,
    /// Connections the gate shut down, until their thread asks why.
    verdicts: HashMap<ConnId, Verdict>,
    log: LogBudget,
}

/// The connections that have not authenticated yet, shared by the accept
/// loop and the connections' threads.
#[derive(Default)]
pub(crate) struct Gate {
    inner: Mutex<Inner>,
}

fn shut(sock: &OwnedFd) {
    // The peer may have closed already; nothing to do about a failure.
    let _ = nix::sys::socket::shutdown(
        std::os::fd::AsRawFd::as_raw_fd(sock),
        nix::sys::socket::Shutdown::Both,
    );
}

impl Gate {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start the clock for a new connection. If too many are waiting, the
    /// oldest is shut down.
    ///
    /// # Errors
    /// The socket cannot be duplicated (no descriptor left): the caller
    /// must drop the connection, which could not be bounded.
    pub(crate) fn admit(&self, cid: ConnId, sock: &impl AsFd, now: Instant) -> std::io::Result<()> {
        let dup = sock.as_fd().try_clone_to_owned()?;
        let mut inner = self.inner();
        while inner.waiting.len() >= MAX_UNAUTHENTICATED {
            let Some((old, w)) = inner.waiting.pop_first() else {
                break;
            };
            shut(&w.sock);
            inner.verdicts.insert(old, Verdict::Evicted);
        }
        inner.waiting.insert(
            cid,
            Waiting {
                deadline: now + HANDSHAKE_TIMEOUT,
                sock: dup,
            },
        );
        Ok(())
    }

    /// The connection authenticated: it is no longer the gate's concern.
    pub(crate) fn passed(&self, cid: ConnId) {
        let mut inner = self.inner();
        inner.waiting.remove(&cid);
        // Passed just as the deadline struck: the socket is shut already,
        // and its thread will see that on the next read.
        inner.verdicts.remove(&cid);
    }

    /// The connection's handshake failed: forget it, and say whether the
    /// gate was the cause.
    pub(crate) fn failed(&self, cid: ConnId) -> Option<Verdict> {
        let mut inner = self.inner();
        inner.waiting.remove(&cid);
        inner.verdicts.remove(&cid)
    }

    /// Shut down the connections whose deadline has passed; return how long
    /// until the next deadline, if any connection is waiting.
    pub(crate) fn expire(&self, now: Instant) -> Option<Duration> {
        let mut inner = self.inner();
        while let Some(entry) = inner.waiting.first_entry() {
            if entry.get().deadline > now {
                return Some(entry.get().deadline - now);
            }
            let (cid, w) = entry.remove_entry();
            shut(&w.sock);
            inner.verdicts.insert(cid, Verdict::TimedOut);
        }
        None
    }

    /// How many connections are waiting for their handshake.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.inner().waiting.len()
    }

    /// Whether a line about a failed handshake may be logged now; if so,
    /// the line to log first about those that were not (if any).
    pub(crate) fn may_log(&self, now: Instant) -> Option<Option<String>> {
        self.inner().log.take(now)
    }
}

/// At most [`LOG_BURST`] lines per [`LOG_WINDOW`].
#[derive(Default)]
struct LogBudget {
    window_start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl LogBudget {
    /// `None`: do not log. `Some(note)`: log, after `note` if it is `Some`.
    fn take(&mut self, now: Instant) -> Option<Option<String>> {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= LOG_WINDOW);
        let mut note = None;
        if fresh {
            if self.suppressed > 0 {
                note = Some(format!(
                    "{} more failed handshakes were not logged",
                    self.suppressed
                ));
            }
            self.window_start = Some(now);
            self.used = 0;
            self.suppressed = 0;
        }
        if self.used < LOG_BURST {
            self.used += 1;
            Some(note)
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            None
        }
    }
}

/// Whether an `accept` error concerns only the one connection (the peer
/// gave up while queued, a signal): try the next one at once, quietly.
fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM)
    )
}

/// How long `accept` must have worked, since its last failure, before the
/// trouble counts as over (and a line says so).
pub const RECOVERED_AFTER: Duration = Duration::from_secs(1);

/// The accept loop's pause after failures for lack of resources.
///
/// One episode of trouble logs one line when it starts and one when it is
/// over, however many attempts fail in between: near the limit, `accept`
/// alternates between working and failing as descriptors come and go, and
/// that is still one episode until [`RECOVERED_AFTER`] has passed without
/// a failure.
#[derive(Default)]
pub(crate) struct Backoff {
    /// Current pause; zero when `accept` works.
    delay: Duration,
    /// No `accept` before this instant.
    until: Option<Instant>,
    /// Failures in this episode, when it started, and the latest failure.
    failures: u64,
    since: Option<Instant>,
    last: Option<Instant>,
}

impl Backoff {
    /// How long until `accept` may be tried again (zero: now).
    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        self.until
            .map_or(Duration::ZERO, |u| u.saturating_duration_since(now))
    }

    /// `accept` worked: no pause before the next attempt, and the line to
    /// log if this ends an episode of trouble.
    pub(crate) fn success(&mut self, now: Instant) -> Option<String> {
        self.delay = Duration::ZERO;
        self.until = None;
        let last = self.last?;
        if now.saturating_duration_since(last) < RECOVERED_AFTER {
            return None;
        }
        let since = self.since.take()?;
        self.last = None;
        let n = std::mem::take(&mut self.failures);
        Some(format!(
            "accept works again, after {n} failed attempts over {:.1} s",
            last.saturating_duration_since(since).as_secs_f64()
        ))
    }

    /// `accept` (or starting the connection's thread) failed with `e`: the
    /// line to log, if this failure is worth one. Any failure but one that
    /// concerns only the queued connection pauses `accept`: `EMFILE`,
    /// `ENFILE`, `ENOBUFS`, `ENOMEM`, or `EAGAIN` from thread creation.
    pub(crate) fn failure(
        &mut self,
        what: &str,
        e: &std::io::Error,
        now: Instant,
    ) -> Option<String> {
        if transient(e) {
            return None;
        }
        self.delay = (self.delay * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        self.until = Some(now + self.delay);
        self.failures = self.failures.saturating_add(1);
        self.last = Some(now);
        if self.since.is_some() {
            return None;
        }
        self.since = Some(now);
        Some(format!(
            "{what} failed: {e}; accepting again at most every {} ms until it works \
             (further failures are counted, not logged)",
            BACKOFF_MAX.as_millis()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    #[test]
    fn the_oldest_waiting_connection_is_evicted_beyond_the_cap() {
        let gate = Gate::default();
        let now = Instant::now();
        let pairs: Vec<(UnixStream, UnixStream)> = (0..MAX_UNAUTHENTICATED + 2)
            .map(|_| UnixStream::pair().unwrap())
            .collect();
        for (i, (s, _)) in pairs.iter().enumerate() {
            gate.admit(i as ConnId, s, now).unwrap();
        }
        assert_eq!(gate.waiting(), MAX_UNAUTHENTICATED);
        // The two oldest were shut down: their peers read end of file.
        for (i, (_, peer)) in pairs.iter().enumerate().take(2) {
            let mut b = [0u8; 1];
            assert_eq!((&*peer).read(&mut b).unwrap(), 0, "peer {i}");
            assert_eq!(gate.failed(i as ConnId), Some(Verdict::Evicted));
        }
        assert_eq!(gate.failed(2), None, "a connection that failed on its own");
        gate.passed(3);
        assert_eq!(gate.waiting(), MAX_UNAUTHENTICATED - 2);
    }

    #[test]
    fn deadlines_expire_the_whole_handshake_at_once() {
        let gate = Gate::default();
        let t0 = Instant::now();
        let (a, mut peer_a) = UnixStream::pair().unwrap();
        let (b, _peer_b) = UnixStream::pair().unwrap();
        gate.admit(1, &a, t0).unwrap();
        gate.admit(2, &b, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(gate.expire(t0), Some(HANDSHAKE_TIMEOUT));
        let left = gate.expire(t0 + HANDSHAKE_TIMEOUT).unwrap();
        assert_eq!(left, Duration::from_secs(1));
        let mut buf = [0u8; 1];
        assert_eq!(peer_a.read(&mut buf).unwrap(), 0);
        assert_eq!(gate.failed(1), Some(Verdict::TimedOut));
        gate.passed(2);
        assert_eq!(gate.expire(t0 + HANDSHAKE_TIMEOUT * 2), None);
    }

    #[test]
    fn the_log_budget_allows_a_burst_then_counts() {
        let mut b = LogBudget::default();
        let t0 = Instant::now();
        for _ in 0..LOG_BURST {
            assert_eq!(b.take(t0), Some(None));
        }
        for _ in 0..1000 {
            assert_eq!(b.take(t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(
            b.take(t0 + LOG_WINDOW),
            Some(Some("1000 more failed handshakes were not logged".into()))
        );
    }

    #[test]
    fn backoff_logs_once_per_episode_and_doubles_to_a_cap() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert!(b.failure("accept", &emfile, t0).is_some());
        assert_eq!(b.remaining(t0), BACKOFF_MIN);
        for _ in 0..100 {
            assert!(b.failure("accept", &emfile, t0).is_none());
        }
        assert_eq!(b.remaining(t0), BACKOFF_MAX);
        // Working again right after a failure: no pause, but the episode
        // goes on (near the limit, accept alternates).
        assert!(b.success(t0).is_none());
        assert_eq!(b.remaining(t0), Duration::ZERO);
        assert!(
            b.failure("accept", &emfile, t0).is_none(),
            "still the same episode"
        );
        let line = b.success(t0 + RECOVERED_AFTER).unwrap();
        assert_eq!(
            line,
            "accept works again, after 102 failed attempts over 0.0 s"
        );
        assert!(b.success(t0 + RECOVERED_AFTER * 2).is_none());
        // A peer that gave up while queued is no trouble.
        let aborted = std::io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert!(b.failure("accept", &aborted, t0).is_none());
        assert_eq!(b.remaining(t0), Duration::ZERO);
    }
}
