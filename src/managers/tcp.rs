//! Managers over TCP: the timeouts that keep a remote client or server
//! from waiting for ever on a peer that has vanished.
//!
//! A Unix socket breaks the moment the process at the other end dies: the
//! kernel closes it. Over TCP a peer can vanish without a word (its host
//! loses power, a cable is pulled, a firewall starts dropping packets), and
//! a plain `read` on an idle connection would then wait for ever. forklore
//! sets these options on every manager TCP connection, on both sides:
//!
//! | option | value | what it bounds |
//! |---|---|---|
//! | `SO_KEEPALIVE`, `TCP_KEEPIDLE` | [`KEEPALIVE_IDLE`] (2 s) | an idle connection is probed after 2 s of silence |
//! | `TCP_KEEPINTVL`, `TCP_KEEPCNT` | [`KEEPALIVE_INTERVAL`] (1 s) × [`KEEPALIVE_PROBES`] (3) | then once a second, three times |
//! | `TCP_USER_TIMEOUT` | [`USER_TIMEOUT`] (5 s) | data (or probes) unacknowledged for 5 s end the connection |
//! | connect timeout | [`CONNECT_TIMEOUT`] (5 s) | a host that does not answer the `SYN` |
//! | handshake timeout | [`HANDSHAKE_TIMEOUT`] (5 s) | a peer that connects but does not speak |
//!
//! # The documented bound
//! **A call on a remote manager whose host has gone silent fails about
//! [`DEAD_PEER_BOUND`] (5 s) after the link was cut**:
//! - a call blocked on an idle connection (a long `Queue::get`) fails at
//!   most 5 s after the last packet the server's host sent, and a healthy
//!   idle connection hears from it at least every 2 s (the answers to the
//!   probes), so at most 5 s after the cut;
//! - a request sent after the cut stays unacknowledged, and the call fails
//!   5 s after it was sent.
//!
//! The kernel's timers add a fraction of a second (the tests measured 4.6
//! to 5.6 s from cut to failure, and allow the bound plus 3 s). The error
//! is [`Error::ManagerUnreachable`]
//! (`Connection timed out`), or [`Error::ManagerGone`]
//! when the server's host is up and answers with a reset; `is_manager_gone()`
//! is true for both.
//!
//! The server applies the same bound to its clients: a worker whose host
//! vanishes is noticed within about 5 s, even while the server is blocked
//! on its behalf in a `get`, and what that worker held (a lock, a
//! semaphore's permit, its references) is released, as when a local
//! client dies.
//!
//! Keepalive probes are tiny (an empty segment every 2 s on an idle
//! connection) and are answered by the peer's kernel, so a healthy but busy
//! worker, or a master that takes minutes to put the next task, is never
//! cut off: only silence of the *host* counts.
//!
//! On Linux, `TCP_USER_TIMEOUT` also governs keepalive: a connection is
//! dropped when a probe is outstanding and nothing has come back for
//! `USER_TIMEOUT`, which with the values above agrees with
//! `KEEPALIVE_IDLE + KEEPALIVE_PROBES × KEEPALIVE_INTERVAL`.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::socket::{setsockopt, sockopt};

use crate::error::{Error, Result};

/// Silence after which an idle connection is probed (`TCP_KEEPIDLE`).
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(2);
/// Time between two unanswered probes (`TCP_KEEPINTVL`).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
pub const KEEPALIVE_PROBES: u32 = 3;
/// How long sent data, or a probe, may stay unacknowledged
/// (`TCP_USER_TIMEOUT`).
pub const USER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client waits for the server's host to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long either side waits for each message of the authentication
/// handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a call can stay blocked after the peer's host last sent
/// anything: `KEEPALIVE_IDLE + KEEPALIVE_PROBES × KEEPALIVE_INTERVAL`,
/// which equals [`USER_TIMEOUT`]. See the [module docs](self).
pub const DEAD_PEER_BOUND: Duration = Duration::from_secs(5);

/// Turn on keepalive and the user timeout on a manager TCP socket.
pub(crate) fn configure(fd: &impl AsFd) -> Result<()> {
    let err = |e| Error::os("setsockopt (TCP keepalive)", e);
    setsockopt(fd, sockopt::KeepAlive, &true).map_err(err)?;
    setsockopt(fd, sockopt::TcpKeepIdle, &(KEEPALIVE_IDLE.as_secs() as u32)).map_err(err)?;
    setsockopt(
        fd,
        sockopt::TcpKeepInterval,
        &(KEEPALIVE_INTERVAL.as_secs() as u32),
    )
    .map_err(err)?;
    setsockopt(fd, sockopt::TcpKeepCount, &KEEPALIVE_PROBES).map_err(err)?;
    setsockopt(
        fd,
        sockopt::TcpUserTimeout,
        &(USER_TIMEOUT.as_millis() as u32),
    )
    .map_err(err)?;
    Ok(())
}

/// Set (or clear, with `None`) the receive timeout of a socket.
pub(crate) fn set_read_timeout(fd: &impl AsFd, timeout: Option<Duration>) -> Result<()> {
    let tv = match timeout {
        Some(t) => nix::sys::time::TimeVal::new(
            t.as_secs() as libc::time_t,
            t.subsec_micros() as libc::suseconds_t,
        ),
        None => nix::sys::time::TimeVal::new(0, 0),
    };
    setsockopt(fd, sockopt::ReceiveTimeout, &tv)
        .map_err(|e| Error::os("setsockopt (SO_RCVTIMEO)", e))
}

/// Whether an I/O error says that the peer's host cannot be reached: a
/// keepalive or user timeout, or no route any more.
pub(crate) fn unreachable(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || matches!(
            e.raw_os_error(),
            Some(
                libc::ETIMEDOUT
                    | libc::EHOSTUNREACH
                    | libc::ENETUNREACH
                    | libc::ENETDOWN
                    | libc::EHOSTDOWN
            )
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_sum_of_the_keepalive_settings() {
        assert_eq!(
            DEAD_PEER_BOUND,
            KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_PROBES
        );
        assert_eq!(DEAD_PEER_BOUND, USER_TIMEOUT);
    }

    #[test]
    fn configure_sets_the_options() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        configure(&s).unwrap();
        use nix::sys::socket::getsockopt;
        assert!(getsockopt(&s, sockopt::KeepAlive).unwrap());
        assert_eq!(getsockopt(&s, sockopt::TcpKeepIdle).unwrap(), 2);
        assert_eq!(getsockopt(&s, sockopt::TcpKeepInterval).unwrap(), 1);
        assert_eq!(getsockopt(&s, sockopt::TcpKeepCount).unwrap(), 3);
        assert_eq!(getsockopt(&s, sockopt::TcpUserTimeout).unwrap(), 5000);
    }
}
