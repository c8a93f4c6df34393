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
//! | handshake timeout | [`HANDSHAKE_TIMEOUT`] (5 s) | a peer that connects but does not complete the handshake |
//!
//! A handshake that times out is [`Error::Timeout`] when the peer's host
//! still answers the keepalive probes (its process is mute), and
//! [`Error::ManagerUnreachable`] when it has gone silent (the link was cut
//! meanwhile): the read timeout and the keepalive give up at the same
//! moment, and the client asks the kernel (`TCP_INFO`) which case it is.
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
/// The authentication handshake's bound: a client waits this long for
/// each message of it; the server gives a new connection this long for the
/// *whole* handshake, Unix or TCP, and then drops it (see
/// [`gate`](super::gate)).
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
/// keepalive or user timeout, or no route any more (the kernel reports an
/// ICMP "host isolated" as `ENONET`).
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
                    | libc::ENONET
            )
        )
}

/// How long the peer's host has sent nothing on this TCP socket, not even
/// an acknowledgement (`tcpi_last_ack_recv` of `TCP_INFO`); `None` if the
/// kernel does not say.
pub(crate) fn silent_for(fd: &impl AsFd) -> Option<Duration> {
    use std::os::fd::AsRawFd;
    // SAFETY: `tcp_info` is plain integers, for which all zeroes is valid.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a live, writable `tcp_info` of `len` bytes; the
    // kernel writes at most `len` bytes there and stores the count in `len`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    let need = std::mem::offset_of!(libc::tcp_info, tcpi_last_ack_recv) + 4;
    (r == 0 && len as usize >= need).then(|| Duration::from_millis(info.tcpi_last_ack_recv.into()))
}

/// Silence longer than a live host ever keeps on a connection with the
/// options of [`configure`]: it answers a keepalive probe at the latest
/// `KEEPALIVE_IDLE` after its last packet; allow one interval more.
pub(crate) const SILENT_HOST: Duration =
    Duration::from_secs(KEEPALIVE_IDLE.as_secs() + KEEPALIVE_INTERVAL.as_secs());

/// The error for a read on a configured TCP socket that timed out
/// (`EAGAIN` from `SO_RCVTIMEO`): [`Error::ManagerUnreachable`] if the
/// peer's host has gone silent, since then the keepalive probes went
/// unanswered too and the kernel is about to end the connection (the two
/// timers can fire in either order); otherwise `live`, for a host that is
/// up but whose peer process does not speak.
pub(crate) fn read_timed_out(fd: &impl AsFd, op: &'static str, live: Error) -> Error {
    after_silence(silent_for(fd), op, live)
}

/// [`read_timed_out`], given how long the host has been silent.
fn after_silence(silent: Option<Duration>, op: &'static str, live: Error) -> Error {
    match silent {
        Some(silent) if silent >= SILENT_HOST => Error::ManagerUnreachable {
            op,
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the host sent nothing for {:.1} s, not even answers to keepalive probes",
                    silent.as_secs_f64()
                ),
            ),
        },
        _ => live,
    }
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
    fn a_read_timeout_is_unreachable_only_when_the_host_went_silent() {
        let live = || Error::Timeout {
            op: "the manager's handshake",
            after: HANDSHAKE_TIMEOUT,
        };
        // A live host answers keepalive probes: its peer is merely mute.
        for silent in [None, Some(Duration::ZERO), Some(KEEPALIVE_IDLE)] {
            let e = after_silence(silent, "handshake", live());
            assert!(e.is_timeout() && !e.is_manager_gone(), "{silent:?}: {e:?}");
        }
        // Probes unanswered: the link or the host is gone.
        for silent in [SILENT_HOST, HANDSHAKE_TIMEOUT] {
            let e = after_silence(Some(silent), "handshake", live());
            assert!(
                matches!(&e, Error::ManagerUnreachable { op: "handshake", source }
                    if source.kind() == std::io::ErrorKind::TimedOut),
                "{e:?}"
            );
            assert!(e.is_manager_gone());
            assert!(
                e.to_string().starts_with(
                    "manager unreachable: handshake failed: the host sent nothing for "
                ),
                "{e}"
            );
        }
        assert!(SILENT_HOST > KEEPALIVE_IDLE && SILENT_HOST <= DEAD_PEER_BOUND);
    }

    #[test]
    fn silent_for_reads_the_time_since_the_last_ack() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _peer = l.accept().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let silent = silent_for(&s).expect("TCP_INFO");
        assert!(
            silent >= Duration::from_millis(250) && silent < SILENT_HOST,
            "{silent:?}"
        );
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
