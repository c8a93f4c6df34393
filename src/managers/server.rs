//! The manager's server process: a listener, a thread per connection, and
//! the table of shared objects with their reference counts.
//!
//! The server is forked by [`Manager::start`](super::Manager::start) and
//! never returns into the caller's code: it ends with
//! [`exit_child`](crate::process::exit_child) when a client asks it to shut
//! down, or when its owner process and every process that inherited the
//! owner's end of the "owner alive" pipe have gone.

mod dict;
mod list;
mod locks;
mod objects;
mod queue;
mod wait;

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::protocol::{ObjId, RemoteError, Reply, Request, Response};
use crate::connection::{answer_challenge, deliver_challenge, Connection};
use crate::error::Error;
use objects::{Holdings, Object};
use wait::{ClientGone, ConnId, Ctx};

/// Where the server accepts connections: a Unix socket for local clients,
/// TCP for remote ones; the rest of the server does not care which.
pub(crate) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
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
                Ok((Connection::from(s), peer))
            }
        }
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Unix(l) => l.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        }
    }

    fn is_tcp(&self) -> bool {
        matches!(self, Listener::Tcp(_))
    }
}

struct Entry {
    obj: Arc<Object>,
    /// References held, summed over all connections.
    refs: u64,
}

struct Server {
    authkey: Vec<u8>,
    objects: Mutex<HashMap<ObjId, Entry>>,
    next_id: AtomicU64,
    next_conn: AtomicU64,
    /// Named objects (`Request::Register`); the registry holds one
    /// reference to each.
    names: Mutex<HashMap<String, ObjId>>,
    /// The socket's private directory, removed on a clean shutdown.
    dir: Option<PathBuf>,
    /// Whether connections come over TCP: then the handshake has a timeout.
    tcp: bool,
    /// Whether `Request::Shutdown` ends the process. Only the in-process
    /// fuzz test sets it to false: it must not end the test binary.
    exit_on_shutdown: bool,
}

fn log(msg: &str) {
    crate::errln!("forklore manager (pid {}): {msg}", std::process::id());
}

impl Server {
    fn objects(&self) -> std::sync::MutexGuard<'_, HashMap<ObjId, Entry>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn exit(&self, code: i32) -> ! {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        crate::process::exit_child(code)
    }
}

/// Run the server in the freshly forked child. Never returns.
///
/// `owner_alive` is the read end of a pipe whose write end the owner keeps:
/// end of file on it means the owner (and every process that inherited the
/// write end) has gone, and the server exits rather than linger.
pub(crate) fn run(
    listener: Listener,
    authkey: Vec<u8>,
    owner_alive: OwnedFd,
    dir: Option<PathBuf>,
) -> ! {
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
    let server = Arc::new(Server {
        authkey,
        objects: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        next_conn: AtomicU64::new(1),
        names: Mutex::new(HashMap::new()),
        dir,
        tcp: listener.is_tcp(),
        exit_on_shutdown: true,
    });
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [
            PollFd::new(listener.fd(), PollFlags::POLLIN),
            PollFd::new(owner_alive.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                log(&format!("poll failed: {e}; shutting down"));
                server.exit(1);
            }
        }
        let owner_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        let incoming = fds[0].revents().is_some_and(|r| !r.is_empty());
        if owner_gone {
            server.exit(0);
        }
        if !incoming {
            continue;
        }
        match listener.accept() {
            Ok((conn, peer)) => {
                let id = server.next_conn.fetch_add(1, Ordering::Relaxed);
                let s = Arc::clone(&server);
                let spawned = std::thread::Builder::new()
                    .name(format!("conn-{id}"))
                    .stack_size(1 << 20)
                    .spawn(move || serve(s, conn, id, peer));
                if let Err(e) = spawned {
                    log(&format!("connection {id}: cannot start a thread: {e}"));
                }
            }
            Err(e) => log(&format!("accept failed: {e}")),
        }
    }
}

/// How one request ended for the connection.
enum Next {
    Reply(Response),
    /// Send this, then close the connection, logging the reason.
    ReplyAndClose(Response, String),
    /// The client vanished in a blocking call.
    Gone,
    Shutdown,
}

/// Serve one connection until it closes.
fn serve(server: Arc<Server>, mut conn: Connection, cid: ConnId, peer: String) {
    // A remote peer that connects and then says nothing must not hold a
    // thread for ever: over TCP, each handshake message has a deadline.
    let deadline = server.tcp.then_some(super::tcp::HANDSHAKE_TIMEOUT);
    let hello = super::tcp::set_read_timeout(&conn, deadline)
        .and_then(|()| deliver_challenge(&mut conn, &server.authkey))
        .and_then(|()| answer_challenge(&mut conn, &server.authkey))
        .and_then(|()| super::tcp::set_read_timeout(&conn, None))
        .map_err(|e| match e {
            Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::WouldBlock => {
                Error::Timeout {
                    op: "the client's handshake",
                    after: super::tcp::HANDSHAKE_TIMEOUT,
                }
            }
            other => other,
        });
    if let Err(e) = hello {
        log(&format!(
            "connection {cid} ({peer}) closed: handshake failed: {e}"
        ));
        return;
    }
    // References this connection holds, and the objects it may hold a lock
    // or permit in; both are given back when it closes.
    let mut refs: HashMap<ObjId, u64> = HashMap::new();
    let mut holdings: Holdings = HashMap::new();
    let reason: Option<String> = loop {
        // A client in a tight loop sends its next request within
        // microseconds: poll for it briefly before sleeping in `read`.
        super::client::spin_until_readable(&mut conn);
        let req: Request = match conn.recv() {
            Ok(r) => r,
            Err(Error::Closed) => break None,
            // A whole frame that is not a request: say so, then close.
            Err(Error::Decode(m)) => {
                let m = if super::datum::take_too_deep() {
                    format!(
                        "a value nested more than {} levels deep",
                        super::datum::MAX_DEPTH
                    )
                } else {
                    m
                };
                let why = format!("bad input: could not decode message: {m}");
                let _ = conn.send(&Err::<Reply, _>(RemoteError::Refused(why.clone())));
                break Some(why);
            }
            // The socket failed (a reset, or a TCP peer whose host went
            // silent past the keepalive bound): the client is gone.
            Err(e @ Error::Io { .. }) => break Some(format!("connection lost: {e}")),
            Err(e) => break Some(format!("bad input: {e}")),
        };
        let next = handle(&server, &conn, cid, req, &mut refs, &mut holdings);
        match next {
            Next::Reply(r) => {
                if let Err(e) = conn.send(&r) {
                    break Some(format!("could not reply: {e}"));
                }
            }
            Next::ReplyAndClose(r, why) => {
                let _ = conn.send(&r);
                break Some(why);
            }
            Next::Gone => break Some("the client vanished during a blocking call".into()),
            Next::Shutdown => {
                let _ = conn.send(&Ok::<Reply, RemoteError>(Reply::Unit));
                if server.exit_on_shutdown {
                    server.exit(0);
                }
                break Some("shutdown asked of an in-process test server".into());
            }
        }
    };
    // Give back what the connection held, whether it closed cleanly or not.
    let mut released = Vec::new();
    for (id, obj) in holdings {
        if obj.held_by(cid) {
            released.push(format!("{} {id}", obj.type_name()));
        }
        obj.conn_gone(cid);
    }
    release_refs(&server, refs);
    if let Some(why) = reason {
        log(&format!("connection {cid} ({peer}) closed: {why}"));
    }
    if !released.is_empty() {
        log(&format!(
            "connection {cid} ({peer}) ended holding {}; released",
            released.join(", ")
        ));
    }
}

fn release_refs(server: &Server, refs: HashMap<ObjId, u64>) {
    if refs.is_empty() {
        return;
    }
    let mut objects = server.objects();
    for (id, n) in refs {
        if let Some(e) = objects.get_mut(&id) {
            e.refs = e.refs.saturating_sub(n);
            if e.refs == 0 {
                objects.remove(&id);
            }
        }
    }
}

fn handle(
    server: &Server,
    conn: &Connection,
    cid: ConnId,
    req: Request,
    refs: &mut HashMap<ObjId, u64>,
    holdings: &mut Holdings,
) -> Next {
    match req {
        Request::Call(id, method) => {
            let obj = server.objects().get(&id).map(|e| Arc::clone(&e.obj));
            let Some(obj) = obj else {
                return Next::ReplyAndClose(
                    Err(RemoteError::UnknownObject(id)),
                    format!("unknown object id {id}"),
                );
            };
            if obj.can_hold() {
                holdings.entry(id).or_insert_with(|| Arc::clone(&obj));
            }
            let ctx = Ctx {
                conn: cid,
                fd: conn.as_fd(),
            };
            match obj.call(method, &ctx) {
                Ok(Err(e @ RemoteError::Refused(_))) => {
                    let why = format!("refused request: {e:?}");
                    Next::ReplyAndClose(Err(e), why)
                }
                Ok(r) => Next::Reply(r),
                Err(ClientGone) => Next::Gone,
            }
        }
        Request::Create(kind) => {
            let id = server.next_id.fetch_add(1, Ordering::Relaxed);
            server.objects().insert(
                id,
                Entry {
                    obj: Arc::new(Object::new(kind)),
                    refs: 1,
                },
            );
            *refs.entry(id).or_default() += 1;
            Next::Reply(Ok(Reply::Id(id)))
        }
        Request::Adopt(ids) => {
            let mut objects = server.objects();
            if let Some(&id) = ids.iter().find(|id| !objects.contains_key(id)) {
                return Next::ReplyAndClose(
                    Err(RemoteError::UnknownObject(id)),
                    format!("adopting unknown object id {id}"),
                );
            }
            for id in ids {
                objects.get_mut(&id).expect("checked above").refs += 1;
                *refs.entry(id).or_default() += 1;
            }
            Next::Reply(Ok(Reply::Unit))
        }
        Request::Decref(id) => match refs.get_mut(&id) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    refs.remove(&id);
                }
                release_refs(server, HashMap::from([(id, 1)]));
                Next::Reply(Ok(Reply::Unit))
            }
            None => Next::Reply(Err(RemoteError::Invalid(format!(
                "this connection holds no reference to object {id}"
            )))),
        },
        Request::ObjectCount => Next::Reply(Ok(Reply::Size(server.objects().len() as u64))),
        Request::Register(name, id) => {
            let mut objects = server.objects();
            let Some(e) = objects.get_mut(&id) else {
                return Next::ReplyAndClose(
                    Err(RemoteError::UnknownObject(id)),
                    format!("registering unknown object id {id}"),
                );
            };
            e.refs += 1;
            let old = server
                .names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name, id);
            drop(objects);
            // The name now points elsewhere: give back the registry's
            // reference to the object it named before.
            if let Some(old) = old {
                release_refs(server, HashMap::from([(old, 1)]));
            }
            Next::Reply(Ok(Reply::Unit))
        }
        Request::Lookup { name, accept } => {
            let id = server
                .names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&name)
                .copied();
            let mut objects = server.objects();
            let Some((id, e)) = id.and_then(|id| Some((id, objects.get_mut(&id)?))) else {
                return Next::Reply(Err(RemoteError::NotRegistered(name)));
            };
            let ty = e.obj.type_name();
            if !accept.iter().any(|a| a == ty) {
                return Next::Reply(Err(RemoteError::Invalid(format!(
                    "{name:?} is a {ty}, not a {}",
                    accept.join(" or ")
                ))));
            }
            e.refs += 1;
            *refs.entry(id).or_default() += 1;
            Next::Reply(Ok(Reply::Id(id)))
        }
        Request::Shutdown => Next::Shutdown,
    }
}

/// Hostile input, generated: random and mutated frames and handshakes fed
/// to a server connection handler and to `Connection::recv`. Nothing may
/// panic, and no single allocation may exceed the frame limit (which is
/// checked before anything is allocated for a frame).
#[cfg(test)]
mod fuzz;
