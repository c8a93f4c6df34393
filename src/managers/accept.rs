//! The manager server's door, server side: the listener, and the loop that
//! accepts connections and starts a thread for each. It also watches the
//! owner (the "owner alive" pipe and the [`lifeline`](super::lifeline)) and
//! bounds what unauthenticated peers get (the [`gate`](super::gate)).

use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::gate::{Backoff, HANDSHAKE_TIMEOUT};
use super::lifeline::{die_by, Event, Lifeline};
use super::server::{log, serve, Server};
use crate::connection::Connection;

/// Where the server accepts connections: a Unix socket for local clients,
/// TCP for remote ones; the rest of the server does not care which.
pub(crate) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    fn is_tcp(&self) -> bool {
        matches!(self, Listener::Tcp(_))
    }

    fn accept(&self) -> std::io::Result<(Connection, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept()?;
                // A remote client that vanishes is noticed within the bound
                // of `tcp`, even while its server thread is blocked.
                if let Err(e) = super::tcp::configure(&s) {
                    log(&format!("{peer}: {e}"));
                }
                Ok((Connection::from(s), peer.to_string()))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                let peer = match nix::sys::socket::getsockopt(
                    &s.as_fd(),
                    nix::sys::socket::sockopt::PeerCredentials,
                ) {
                    Ok(cred) => format!("pid {}", cred.pid()),
                    Err(_) => "unix socket".to_string(),
                };
                let conn = Connection::from(s);
                // Bulk values cross in few steps (the client does the same).
                conn.widen_socket_buffers(crate::connection::BULK_SOCKET_BUFFER);
                Ok((conn, peer))
            }
        }
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Unix(l) => l.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        }
    }
}

/// Run the server in the freshly forked child. Never returns.
///
/// `owner_alive` is the read end of a pipe whose write end the owner keeps:
/// end of file on it means the owner (and every process that inherited the
/// write end) has gone, and the server exits rather than linger. It also
/// exits, cleaning up, when the owner alone dies or a termination signal
/// comes (see [`lifeline`](super::lifeline)).
pub(crate) fn run(
    listener: Listener,
    authkey: Vec<u8>,
    owner_alive: OwnedFd,
    dir: Option<PathBuf>,
    owner: crate::orphan::Owner,
) -> ! {
    // This is the server's own process: its log lines need a logger.
    super::server::default_logger();
    // Ctrl-C in the terminal goes to the whole process group; like CPython's
    // manager, the server ignores it and lets its owner decide.
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // code; nothing else in this new process has touched SIGINT.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    let server = Arc::new(Server::new(authkey, dir, listener.is_tcp()));
    // Before any thread starts: the signal mask is inherited.
    let lifeline = match Lifeline::install(owner) {
        Ok(l) => Some(l),
        Err(e) => {
            log(&format!(
                "cannot watch for termination signals: {e}; a killed owner may leave \
                 this server's socket behind"
            ));
            None
        }
    };
    if lifeline.as_ref().is_some_and(Lifeline::owner_gone) {
        server.exit(0);
    }
    use nix::poll::{PollFd, PollFlags};
    let mut backoff = Backoff::default();
    loop {
        // Drop the connections whose handshake is overdue; wake up for the
        // next deadline, and after a pause of `accept` (see `gate`).
        let now = std::time::Instant::now();
        let next_deadline = server.gate.expire(now);
        let pause = backoff.remaining(now);
        let wait = match (next_deadline, pause.is_zero()) {
            (Some(d), true) => Some(d),
            (Some(d), false) => Some(d.min(pause)),
            (None, true) => None,
            (None, false) => Some(pause),
        };
        let mut fds = vec![PollFd::new(owner_alive.as_fd(), PollFlags::POLLIN)];
        let signals_at = lifeline.as_ref().map(|l| {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let listener_at = pause.is_zero().then(|| {
            fds.push(PollFd::new(listener.fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        match crate::sys::poll(&mut fds, wait.and_then(crate::sys::deadline)) {
            Ok(_) => {}
            Err(e) => {
                log(&format!("poll failed: {e}; shutting down"));
                server.exit(1);
            }
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        if ready(Some(0)) {
            server.exit(0);
        }
        if let (true, Some(l)) = (ready(signals_at), &lifeline) {
            match l.read() {
                Event::OwnerDied => {
                    log("the owner process died; shutting down");
                    server.exit(0);
                }
                Event::Terminate(sig) => {
                    server.remove_socket();
                    die_by(sig);
                }
                Event::Ignored => {}
            }
        }
        if !ready(listener_at) {
            continue;
        }
        let now = std::time::Instant::now();
        match listener.accept() {
            Ok((conn, peer)) => {
                let id = server.next_conn.fetch_add(1, Ordering::Relaxed);
                if server.gate.admit(id, &conn, now).is_err() {
                    // No descriptor left for the duplicate that bounds the
                    // whole handshake: bound each read instead, as before
                    // the gate (the thread clears it once authenticated).
                    // Shedding the connection would hit legitimate clients
                    // queued behind an attack just as descriptors free up.
                    let _ = super::tcp::set_read_timeout(&conn, Some(HANDSHAKE_TIMEOUT));
                }
                let s = Arc::clone(&server);
                let spawned = std::thread::Builder::new()
                    .name(format!("conn-{id}"))
                    .stack_size(1 << 20)
                    .spawn(move || serve(s, conn, id, peer));
                match spawned {
                    Ok(_) => {
                        if let Some(line) = backoff.success(now) {
                            log(&line);
                        }
                    }
                    Err(e) => {
                        server.gate.failed(id);
                        let what = "starting a connection thread";
                        if let Some(line) = backoff.failure(what, &e, now) {
                            log(&line);
                        }
                    }
                }
            }
            Err(e) => {
                if let Some(line) = backoff.failure("accept", &e, now) {
                    log(&line);
                }
            }
        }
    }
}
