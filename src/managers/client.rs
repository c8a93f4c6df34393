//! The client side: connections to the server, one per process and thread,
//! and the per-process sessions that hold references to shared objects.
//!
//! # Calls: one connection per process and thread
//! A proxy call takes this thread's connection to the server from a
//! thread-local cache, sends the request, reads the reply and puts the
//! connection back. The cache remembers the pid that opened each
//! connection; a forked child finds its parent's pid there and opens its own
//! connection instead of writing into the parent's socket, so frames of two
//! processes or two threads can never interleave. Each new connection first
//! says who calls on it (`Request::Hello`: a token of the process and a
//! number of the thread, see `identity`), so that the server gives RLocks and
//! Conditions to callers, not connections.
//!
//! An error the server answered (a refusal, an unknown id, an empty
//! queue...) leaves the connection open and cached: a refused request is
//! only a refused request. A request too big for the server's frame limit
//! is refused here, before anything is sent. Only a transport failure (the
//! server gone, the link cut, a stream out of step) drops the connection;
//! the next call opens a new one.
//!
//! # References: one session per process
//! The server frees an object when no *session* holds a reference to it. A
//! session is a connection of its own, one per process and manager, used
//! only to create objects and to count references; the server drops every
//! reference a session held when it closes, which the kernel does when the
//! process dies, however it dies.
//!
//! The session connection, too, is dropped only on a transport failure.
//! When that happens in a live process, the next session call reconnects;
//! the server hands the new connection the references it kept for the
//! process, and the session adopts its live references again, which counts
//! none twice (see the managers module's docs).
//!
//! Inside a process, proxies count their clones locally: the session holds
//! one reference per object while at least one proxy of it lives in the
//! process, and sends `Decref` when the last one is dropped.
//!
//! A forked child holds copies of its parent's proxies without having asked
//! for them. CPython increfs them in an after-fork hook in the child, which
//! races with the parent dropping its own proxies. Here forklore's own fork
//! path ([`crate::fork()`], and so `Process::start`, pools, the fork
//! server's parent never has proxies; the client registers itself there
//! when its first [`Endpoint`] is made) calls [`before_fork`] in the parent
//! just before `fork`: for each session with live proxies, it opens a new
//! session connection and adopts (increfs) all of them on it, and the child
//! inherits that connection as its own session. The references exist
//! before the child does, so there is no race, and they vanish with the
//! child. The parent closes its copy right after the fork. The network I/O
//! is done without the client's lock, each step bounded (2 s); the lock is
//! then held across the `fork` system call only, so a child of a threaded
//! parent does not inherit it locked.
//!
//! No process-wide fork hook is installed: a fork forklore did not make
//! (`Command::pre_exec`, a raw `libc::fork`) costs nothing extra. A child
//! made that way finds its parent's connections by their pid and opens its
//! own; its inherited proxies are not adopted.

#[macro_use]
#[path = "client/proxy_common.rs"]
mod proxy_common;

pub(crate) mod dict;
mod identity;
pub(crate) mod list;
pub(crate) mod queue;
pub(crate) mod sync;
pub(crate) mod value;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::protocol::{ObjId, Reply, Request, Response};
use super::Address;
use crate::connection::{answer_challenge, deliver_challenge, Connection};
use crate::error::{Error, Result};

/// Where a manager's server listens, and the key to talk to it.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub address: Address,
    pub authkey: Vec<u8>,
}

impl Endpoint {
    /// A manager's endpoint. The first one made in a process registers this
    /// client with forklore's fork path ([`crate::fork()`] then calls
    /// [`before_fork`] and [`after_fork`]); before any endpoint exists there
    /// is no proxy to adopt, so nothing is registered.
    pub(crate) fn new(address: Address, authkey: Vec<u8>) -> Arc<Endpoint> {
        crate::fork::register_participant(crate::fork::ForkParticipant {
            before: || Box::new(before_fork()),
            after: |held, in_child| {
                if let Ok(guard) = held.downcast::<ForkGuard>() {
                    after_fork(*guard, in_child);
                }
            },
            at_exit: at_child_exit,
        });
        Arc::new(Endpoint { address, authkey })
    }
}

/// Turn a transport failure into [`Error::ManagerGone`], or into
/// [`Error::ManagerUnreachable`] for a TCP peer whose host went silent.
pub(crate) fn gone(op: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::Closed | Error::Truncated { .. } => Error::ManagerGone { op },
        Error::Io { source, .. } if super::tcp::unreachable(&source) => {
            Error::ManagerUnreachable { op, source }
        }
        Error::Io { ref source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotConnected
                    | std::io::ErrorKind::NotFound
            ) =>
        {
            Error::ManagerGone { op }
        }
        other => other,
    }
}

/// Open a new authenticated connection to the server.
pub(crate) fn connect(ep: &Endpoint) -> Result<Connection> {
    connect_timeout(ep, None)
}

/// Connect to a Unix socket; with a timeout, give up after it.
///
/// A Unix-domain `connect` blocks when the server's listen queue is full,
/// which happens when the server has stopped accepting (a server stopped
/// with SIGSTOP, say). With a timeout the connect is non-blocking (it then
/// fails with `EAGAIN` at once while the queue is full) and is retried
/// every millisecond until the time is up. The fork handler relies on this:
/// it must never hang a fork.
fn connect_unix(
    path: &std::path::Path,
    timeout: Option<std::time::Duration>,
) -> std::io::Result<UnixStream> {
    use nix::errno::Errno;
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let Some(timeout) = timeout else {
        return UnixStream::connect(path);
    };
    let deadline = std::time::Instant::now() + timeout;
    let addr = UnixAddr::new(path)?;
    loop {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => {
                let s = UnixStream::from(fd);
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(Errno::EAGAIN) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(Errno::EAGAIN) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "the manager's listen queue stayed full for {timeout:?} \
                         (is the server stopped?)"
                    ),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// As [`connect`]; with a timeout, connecting and every read on the
/// connection fail after waiting that long (used by the fork handler, and
/// to shut down a server that may be wedged).
pub(crate) fn connect_timeout(
    ep: &Endpoint,
    timeout: Option<std::time::Duration>,
) -> Result<Connection> {
    let mut conn = match &ep.address {
        Address::Unix(path) => {
            let s = connect_unix(path, timeout)
                .and_then(|s| s.set_read_timeout(timeout).map(|()| s))
                .map_err(|source| Error::Io {
                    op: "connect",
                    source,
                });
            let conn = Connection::from(s.map_err(gone("connect"))?);
            // Bulk values cross in few steps (the server's end does the same).
            conn.widen_socket_buffers(crate::connection::BULK_SOCKET_BUFFER);
            conn
        }
        Address::Tcp(addr) => {
            let s = TcpStream::connect_timeout(addr, super::tcp::CONNECT_TIMEOUT)
                .map_err(|source| Error::Io {
                    op: "connect",
                    source,
                })
                .map_err(gone("connect"))?;
            super::tcp::configure(&s)?;
            // Each handshake message must come within HANDSHAKE_TIMEOUT: a
            // host that accepts but does not speak must not hang us.
            let hs = timeout.map_or(super::tcp::HANDSHAKE_TIMEOUT, |t| {
                t.min(super::tcp::HANDSHAKE_TIMEOUT)
            });
            super::tcp::set_read_timeout(&s, Some(hs))?;
            let mut conn = Connection::from(s);
            // A handshake cut short by the read timeout is a mute peer on a
            // live host, or a host that went silent (the link was cut):
            // the latter is ManagerUnreachable, as for any call.
            handshake(&mut conn, ep).map_err(|e| match e {
                Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::WouldBlock => {
                    super::tcp::read_timed_out(
                        &conn,
                        "handshake",
                        Error::Timeout {
                            op: "the manager's handshake",
                            after: hs,
                        },
                    )
                }
                other => other,
            })?;
            super::tcp::set_read_timeout(&conn, timeout)?;
            return Ok(conn);
        }
    };
    handshake(&mut conn, ep)?;
    Ok(conn)
}

/// The client's half of the mutual challenge–response.
fn handshake(conn: &mut Connection, ep: &Endpoint) -> Result<()> {
    answer_challenge(conn, &ep.authkey)
        .and_then(|()| deliver_challenge(conn, &ep.authkey))
        .map_err(gone("handshake"))
}

/// A request ready to send: a whole frame (four placeholder bytes for the
/// header, then the payload), or a head and a bulk value borrowed from the
/// request, sent with one vectored write (see [`protocol::BULK_MIN`]).
enum Encoded<'a> {
    Whole(Vec<u8>),
    Parts(super::protocol::Parts<'a>),
}

/// Encode a request, refusing one the server would refuse for its size
/// (it has the default frame limit) before anything is sent: the
/// connection stays usable.
fn encode(req: &Request) -> Result<Encoded<'_>> {
    let (encoded, len) = match super::protocol::request_parts(req) {
        Some(parts) => {
            let len = parts.len();
            (Encoded::Parts(parts), len)
        }
        None => {
            let frame = crate::connection::encode_frame(req)?;
            let len = frame.len() - 4;
            (Encoded::Whole(frame), len)
        }
    };
    let max = crate::connection::DEFAULT_MAX_MESSAGE_SIZE;
    if len > max {
        return Err(Error::ManagerRequest(format!(
            "a request of {len} bytes is over the manager's limit of {max} bytes; \
             send it in smaller pieces (nothing was sent)"
        )));
    }
    Ok(encoded)
}

/// Send one encoded request and read its response on `conn`. An error is
/// a transport failure: the connection can no longer be used.
fn exchange(conn: &mut Connection, frame: &mut Encoded<'_>) -> Result<Response> {
    // A connection that moves bulk values gets its arena before its first
    // bulk request, or its second bulk reply (nothing is sent yet if this
    // fails).
    let bulk = matches!(frame, Encoded::Parts(p) if p.tail.len() >= crate::connection::LANE_MIN);
    if conn.should_ask_arena(bulk) {
        // A refusal (a server older than `Request::Arena`) made no arena:
        // the request goes on over the socket alone.
        let _refused = conn
            .take_arena_during(|c| {
                c.send(&Request::Arena)?;
                super::protocol::recv_response(c)
            })
            .map_err(gone("arena"))?;
    }
    match frame {
        Encoded::Whole(frame) => conn.send_frame_again(frame),
        Encoded::Parts(p) => conn.send_parts(&[&p.head, p.tail]),
    }
    .map_err(gone("send"))?;
    conn.spin_until_readable();
    super::protocol::recv_response(conn).map_err(gone("recv"))
}

/// Send one request and read its response on `conn`.
fn round_trip(conn: &mut Connection, req: &Request) -> Result<Response> {
    exchange(conn, &mut encode(req)?)
}

/// Open a connection and say who calls on it (see [`identity`]); `session`
/// for the process's session connection.
fn open(ep: &Endpoint, session: bool) -> Result<Connection> {
    let mut conn = connect(ep)?;
    greet(&mut conn, session)?;
    Ok(conn)
}

/// Say hello on `conn` for this process and thread.
fn greet(conn: &mut Connection, session: bool) -> Result<()> {
    match round_trip(conn, &identity::hello(current_pid(), session))? {
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

struct Cached {
    address: Address,
    pid: u32,
    /// `None` while a call is using it, or after it failed.
    conn: Option<Connection>,
}

thread_local! {
    /// This thread's connections, one per manager.
    static CONNS: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// This process's pid, checked on every call: a child made by a fork
/// forklore did not make must still tell its own connections from
/// inherited ones. [`crate::sys::pid`] keeps it where any fork wipes it,
/// so that the check costs no system call and needs no fork hook.
fn current_pid() -> u32 {
    crate::sys::pid()
}

/// Call the server on this thread's connection.
pub(crate) fn call(ep: &Endpoint, req: &Request) -> Result<Reply> {
    // A request too big to send is refused here, before a connection is
    // touched.
    let mut bytes = encode(req)?;
    let pid = current_pid();
    // Take the connection out while it is in use, so that a nested call (from
    // a destructor, say) opens its own instead of interleaving frames.
    let cached = CONNS.with(|c| {
        let mut c = c.borrow_mut();
        let slot = c.iter_mut().find(|x| x.address == ep.address)?;
        if slot.pid != pid {
            // A connection inherited from the parent process is the
            // parent's: drop our copy of the descriptor, never write to it.
            slot.pid = pid;
            slot.conn = None;
        }
        slot.conn.take()
    });
    let mut conn = match cached {
        Some(c) => c,
        None => open(ep, false)?,
    };
    // Only a transport failure loses the connection: a refusal or any
    // other error from the server leaves it open on both sides.
    let response = exchange(&mut conn, &mut bytes)?;
    put_back(ep, pid, conn);
    response.map_err(Error::from)
}

/// Return this thread's connection to `ep` to the cache.
fn put_back(ep: &Endpoint, pid: u32, conn: Connection) {
    CONNS.with(|c| {
        let mut c = c.borrow_mut();
        match c.iter_mut().find(|x| x.address == ep.address) {
            Some(slot) if slot.conn.is_none() => slot.conn = Some(conn),
            // A nested call put its own back meanwhile: keep that one.
            Some(_) => {}
            None => c.push(Cached {
                address: ep.address.clone(),
                pid,
                conn: Some(conn),
            }),
        }
    });
}

/// Forget this thread's connection to `address` (after a shutdown).
pub(crate) fn forget_connection(address: &Address) {
    let _ = CONNS.try_with(|c| c.borrow_mut().retain(|x| &x.address != address));
}

/// One process's session with one manager.
struct Session {
    ep: Arc<Endpoint>,
    /// The process this session belongs to.
    pid: u32,
    /// `None` after a transport failure; reopened on the next need.
    conn: Option<Connection>,
    /// Whether `conn` has said hello for this process (a connection the
    /// parent opened for this child before `fork` has not).
    greeted: bool,
    /// Live proxies in this process, per object.
    live: HashMap<ObjId, usize>,
}

/// A session connection opened by a parent for the child it is forking.
struct Pending {
    creator: u32,
    address: Address,
    conn: Connection,
}

#[derive(Default)]
struct ClientState {
    sessions: Vec<Session>,
    pending: Vec<Pending>,
}

static STATE: Mutex<ClientState> = Mutex::new(ClientState {
    sessions: Vec::new(),
    pending: Vec::new(),
});

fn state() -> MutexGuard<'static, ClientState> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClientState {
    /// In a forked child, take over the sessions the parent opened for it.
    fn adopt_inherited(&mut self) {
        let me = std::process::id();
        if self.sessions.iter().all(|s| s.pid == me) && self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        for s in self.sessions.iter_mut().filter(|s| s.pid != me) {
            s.pid = me;
            // Our copy of the parent's session descriptor: close it, the
            // parent's socket stays open in the parent.
            s.conn = None;
            if let Some(i) = pending
                .iter()
                .position(|p| p.creator != me && p.address == s.ep.address)
            {
                s.conn = Some(pending.swap_remove(i).conn);
                s.greeted = false;
            }
        }
        // Whatever is left was not meant for this process.
        drop(pending);
    }

    fn session(&mut self, ep: &Arc<Endpoint>) -> &mut Session {
        self.adopt_inherited();
        let i = match self
            .sessions
            .iter()
            .position(|s| s.ep.address == ep.address)
        {
            Some(i) => i,
            None => {
                self.sessions.push(Session {
                    ep: Arc::clone(ep),
                    pid: std::process::id(),
                    conn: None,
                    greeted: false,
                    live: HashMap::new(),
                });
                self.sessions.len() - 1
            }
        };
        &mut self.sessions[i]
    }
}

impl Session {
    /// Call the server on the session connection. The connection is
    /// dropped only on a transport failure, never on an error the server
    /// answered: a refused request is only a refused request.
    fn call(&mut self, req: &Request) -> Result<Reply> {
        // Too big to send: refused before anything is sent.
        let mut frame = encode(req)?;
        // A connection used before may have failed since (its link cut, the
        // server having closed it): then reconnect and send once more.
        // Session requests bear that: Adopt counts nothing twice, a Decref
        // of a reference no longer held is refused, a duplicate Create or
        // Lookup only holds an object until this process exits.
        let reused = self.conn.is_some();
        match self.call_once(&mut frame) {
            Err(e) if reused && self.conn.is_none() && e.is_manager_gone() => {
                self.call_once(&mut frame)
            }
            r => r,
        }
    }

    fn call_once(&mut self, frame: &mut Encoded<'_>) -> Result<Reply> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                // Saying hello takes back the references the server kept
                // for this process if its session connection failed.
                let mut conn = open(&self.ep, true)?;
                // Then take this process's live references again (a fork
                // whose adoption failed, or an object someone else freed
                // meanwhile is reported and skipped).
                if !self.live.is_empty() {
                    let ids = self.live.keys().copied().collect();
                    round_trip(&mut conn, &Request::Adopt(ids))?.ok();
                }
                self.greeted = true;
                self.conn.insert(conn)
            }
        };
        let mut r = Ok(());
        if !self.greeted {
            r = greet(conn, true);
            self.greeted = r.is_ok();
        }
        match r.and_then(|()| exchange(conn, frame)) {
            Ok(r) => r.map_err(Error::from),
            Err(e) => {
                if !matches!(e, Error::ManagerRequest(_)) {
                    self.conn = None;
                }
                Err(e)
            }
        }
    }
}

/// Create an object on the server; this process's session holds it.
pub(crate) fn create(ep: &Arc<Endpoint>, kind: super::protocol::Kind) -> Result<ObjId> {
    let mut st = state();
    let s = st.session(ep);
    match s.call(&Request::Create(kind))? {
        Reply::Id(id) => {
            *s.live.entry(id).or_default() += 1;
            Ok(id)
        }
        other => Err(Error::Decode(format!(
            "expected an object id, got {other:?}"
        ))),
    }
}

/// Find the object registered as `name`; this process's session holds it.
pub(crate) fn lookup(ep: &Arc<Endpoint>, name: &str, accept: &[&str]) -> Result<ObjId> {
    let mut st = state();
    let s = st.session(ep);
    let req = Request::Lookup {
        name: name.to_string(),
        accept: accept.iter().map(|a| a.to_string()).collect(),
    };
    match s.call(&req)? {
        Reply::Id(id) => {
            let n = s.live.entry(id).or_default();
            *n += 1;
            // The session holds one reference per object, however many
            // proxies of it live here: give back the one the lookup took
            // if this process already had the object.
            if *n > 1 {
                s.call(&Request::Decref(id))?;
            }
            Ok(id)
        }
        other => Err(Error::Decode(format!(
            "expected an object id, got {other:?}"
        ))),
    }
}

/// A proxy of `id` was cloned in this process.
pub(crate) fn incref_local(ep: &Arc<Endpoint>, id: ObjId) {
    let mut st = state();
    *st.session(ep).live.entry(id).or_default() += 1;
}

/// A proxy of `id` was dropped in this process; tell the server when it was
/// the last one.
pub(crate) fn decref_local(ep: &Arc<Endpoint>, id: ObjId) {
    let mut st = state();
    let s = st.session(ep);
    let Some(n) = s.live.get_mut(&id) else {
        return;
    };
    *n -= 1;
    if *n == 0 {
        s.live.remove(&id);
        // Errors are ignored: a manager that has gone frees nothing.
        if s.conn.is_some() {
            let _ = s.call(&Request::Decref(id));
        }
    }
}

/// How many proxies of `id` live in this process (for tests and docs).
pub(crate) fn local_refs(ep: &Arc<Endpoint>, id: ObjId) -> usize {
    let mut st = state();
    st.session(ep).live.get(&id).copied().unwrap_or(0)
}

/// The managers this process knows (started, connected to, or inherited
/// through `fork`): a proxy read from its token (see `named.rs`) finds its
/// manager's key here. The key never travels inside a token.
static KNOWN: Mutex<Vec<Arc<Endpoint>>> = Mutex::new(Vec::new());

/// Remember `ep` for the tokens that name its address.
pub(crate) fn know(ep: &Arc<Endpoint>) {
    let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    known.retain(|k| k.address != ep.address);
    known.push(Arc::clone(ep));
}

/// The known manager at `address`: one this process connected to or
/// started, or else one it learned from the arguments of the target it was
/// started to run (see `crate::start::keys`; known from then on).
pub(crate) fn known(address: &Address) -> Option<Arc<Endpoint>> {
    let found = KNOWN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|k| &k.address == address)
        .cloned();
    if found.is_some() {
        return found;
    }
    let (_, authkey) = crate::start::keys::learned()
        .into_iter()
        .find(|(a, _)| a.parse::<Address>().is_ok_and(|a| &a == address))?;
    let ep = Endpoint::new(address.clone(), authkey);
    know(&ep);
    Some(ep)
}

/// A proxy of `id` was read from a token in this process: hold a reference
/// on this process's session (taking over the one the server handed off
/// with the reply that carried it, if any), then count it locally.
pub(crate) fn adopt(ep: &Arc<Endpoint>, id: ObjId) -> Result<()> {
    let mut st = state();
    let s = st.session(ep);
    s.call(&Request::Adopt(vec![id]))?;
    *s.live.entry(id).or_default() += 1;
    Ok(())
}

/// Ask the server how many objects it holds, on the session connection (so
/// that it sees this process's last `Decref`).
pub(crate) fn object_count(ep: &Arc<Endpoint>) -> Result<usize> {
    let mut st = state();
    match st.session(ep).call(&Request::ObjectCount)? {
        Reply::Size(n) => Ok(n as usize),
        other => Err(Error::Decode(format!("expected a count, got {other:?}"))),
    }
}

/// In the manager's server process, just forked: drop every client
/// connection inherited from the owner, so the server holds no references
/// to other managers' objects.
pub(crate) fn forget_inherited() {
    let _ = CONNS.try_with(|c| c.borrow_mut().clear());
    let mut st = state();
    st.sessions.clear();
    st.pending.clear();
}

// ---------------------------------------------------------------------------
// forklore's fork path
// ---------------------------------------------------------------------------

/// What [`before_fork`] hands to the fork: the client's lock, held across
/// the `fork` system call, and the sessions opened for the child.
pub(crate) struct ForkGuard(MutexGuard<'static, ClientState>);

/// In the parent, just before forklore forks: open a session for the child
/// on which all live proxies are adopted. The network I/O happens without
/// the lock, each connect and reply bounded by 2 s (a stopped server delays
/// this fork by at most that, and then the child is not adopted); the lock
/// is taken afterwards and held until [`after_fork`].
pub(crate) fn before_fork() -> ForkGuard {
    {
        // The common case, a process that never used a manager: nothing to
        // adopt, just hold the lock across the fork.
        let st = state();
        if st.sessions.is_empty() && st.pending.is_empty() {
            return ForkGuard(st);
        }
    }
    let me = std::process::id();
    let wanted: Vec<(Arc<Endpoint>, Vec<ObjId>)> = {
        let mut st = state();
        st.adopt_inherited();
        st.pending.clear();
        st.sessions
            .iter()
            .filter(|s| !s.live.is_empty())
            .map(|s| (Arc::clone(&s.ep), s.live.keys().copied().collect()))
            .collect()
    };
    let mut made = Vec::new();
    for (ep, ids) in wanted {
        let Ok(mut conn) = connect_timeout(&ep, Some(std::time::Duration::from_secs(2))) else {
            continue;
        };
        if let Ok(Ok(Reply::Unit)) = round_trip(&mut conn, &Request::Adopt(ids)) {
            // The child's session waits as long as calls take.
            let _ = nix::sys::socket::setsockopt(
                &conn,
                nix::sys::socket::sockopt::ReceiveTimeout,
                &nix::sys::time::TimeVal::new(0, 0),
            );
            made.push(Pending {
                creator: me,
                address: ep.address.clone(),
                conn,
            });
        }
    }
    let mut st = state();
    st.pending = made;
    ForkGuard(st)
}

/// How long a child's exit waits, in all, for its managers to give back
/// its references ([`at_child_exit`]).
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// At the end of a child ([`crate::process::exit_child`]): end this
/// process's session connections and wait until each server has closed
/// its side, which it does once it has given back the references the
/// session held. So when `join` returns in the parent, the child's
/// references are gone, as in CPython, whose child decrefs its proxies
/// when it exits; without this, the server learnt of the exit some time
/// later, and a parent that dropped its own proxy right after `join`
/// could still find the object alive. The wait is bounded by
/// [`EXIT_WAIT`] in all (a stopped server delays the exit by at most
/// that, and then gives the references back when it sees the connection
/// closed, as before). Nothing is done if another thread of this process
/// holds the client's lock, nor in a child of a threaded parent
/// (`exit_child` takes no lock there).
fn at_child_exit() {
    let Ok(mut st) = STATE.try_lock() else {
        return;
    };
    st.adopt_inherited();
    let deadline = std::time::Instant::now() + EXIT_WAIT;
    for s in &mut st.sessions {
        if let Some(conn) = s.conn.take() {
            conn.close_and_wait(deadline);
        }
    }
}

/// Right after forklore's fork, on both sides: the parent closes its copies
/// of the child's sessions; both release the lock. The child adopts its
/// sessions lazily, on its first call.
pub(crate) fn after_fork(guard: ForkGuard, in_child: bool) {
    let mut st = guard.0;
    if !in_child && !st.pending.is_empty() {
        let me = std::process::id();
        st.pending.retain(|p| p.creator != me);
    }
}

#[cfg(test)]
mod tests;
