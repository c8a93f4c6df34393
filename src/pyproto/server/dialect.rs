//! Telling the two dialects apart on one listener (see the parent
//! module's documentation), and handing a forklore connection to the
//! server of forklore's own protocol.

use std::time::Duration;

use super::FIRST_REQUEST_TIMEOUT;
use crate::pyproto::shared::Stream;

/// Which dialect a connection speaks.
pub(super) enum Dialect {
    Pickle,
    Forklore,
}

/// The dialect of the first request waiting on `s` (see the module
/// documentation), peeked at without reading it: forklore's when its
/// frame's length is the short form and its first byte is a forklore
/// request's tag (a one-byte varint, below `0x80`); CPython's otherwise
/// (a pickle starts with `PROTO`, `0x80`, and anything else is refused by
/// the pickle path as before). `None` when no request came within the
/// first-request timeout, or the stream closed or failed: the connection
/// is then dropped.
pub(super) fn dialect(s: &Stream) -> Option<Dialect> {
    use nix::sys::socket::{recv, MsgFlags};
    use std::os::fd::AsRawFd;
    let fd = match s {
        Stream::Tcp(s) => s.as_raw_fd(),
        Stream::Unix(s) => s.as_raw_fd(),
    };
    let deadline = std::time::Instant::now() + FIRST_REQUEST_TIMEOUT;
    // The 4-byte length, then the payload's first byte. `MSG_WAITALL`
    // waits for all five on TCP; a Unix socket returns what one write
    // brought, so a request written in parts is peeked at again.
    let mut head = [0u8; 5];
    loop {
        match recv(fd, &mut head, MsgFlags::MSG_PEEK | MsgFlags::MSG_WAITALL) {
            Ok(5) => break,
            Ok(0) => return None,
            // Part of it: wait for the rest, unless the peer has closed its
            // side (a peek never says so while those bytes are unread).
            Ok(_) if std::time::Instant::now() < deadline && !peer_closed(s) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(nix::errno::Errno::EINTR) => {}
            // Timed out (the socket's read timeout), or failed.
            _ => return None,
        }
    }
    let short_form = head[..4] != [0xff; 4];
    Some(if short_form && head[4] < PICKLE_PROTO {
        Dialect::Forklore
    } else {
        Dialect::Pickle
    })
}

/// The opcode every pickle of protocol 2 or later starts with.
const PICKLE_PROTO: u8 = 0x80;

/// Whether the peer has shut its side of `s` down (`POLLRDHUP`), or the
/// connection has failed.
fn peer_closed(s: &Stream) -> bool {
    use std::os::fd::AsRawFd;
    let fd = match s {
        Stream::Tcp(s) => s.as_raw_fd(),
        Stream::Unix(s) => s.as_raw_fd(),
    };
    // (nix's `PollFlags` has no `POLLRDHUP`.)
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` for an open descriptor of `s`, which
    // outlives the call; a zero timeout does not block.
    match unsafe { libc::poll(&mut p, 1, 0) } {
        0 => false,
        n if n > 0 => p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0,
        // Interrupted: ask again on the next peek.
        _ => std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted,
    }
}

/// Serve `stream`, authenticated and speaking forklore's dialect, on
/// `native` until it closes.
pub(super) fn serve_forklore(native: &crate::managers::Hosted, stream: Stream) {
    let (conn, peer) = match stream {
        Stream::Tcp(s) => {
            let peer = s
                .peer_addr()
                .map_or_else(|_| "tcp".into(), |a| a.to_string());
            (crate::connection::Connection::from(s), peer)
        }
        Stream::Unix(s) => {
            let conn = crate::connection::Connection::from(s);
            // Bulk values cross in few steps, as on the Manager's own server.
            conn.widen_socket_buffers(crate::connection::BULK_SOCKET_BUFFER);
            (conn, "unix socket".to_string())
        }
    };
    native.serve(conn, &peer);
}
