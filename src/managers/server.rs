//! The manager's server process: a thread per connection, and the table of
//! shared objects with their reference counts. The listener and the accept
//! loop that start those threads are in [`accept`](super::accept).
//!
//! The server is forked by [`Manager::start`](super::Manager::start) and
//! never returns into the caller's code: it ends with
//! [`exit_child`](crate::process::exit_child) when a client asks it to shut
//! down, or when its owner process and every process that inherited the
//! owner's end of the "owner alive" pipe have gone.

mod dict;
pub(crate) mod hosted;
mod list;
mod locks;
mod objects;
mod procs;
mod queue;
mod shared_reply;
mod wait;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::gate::Gate;
use super::protocol::{ObjId, Received, RemoteError, Reply, Request, Response};
use crate::connection::{answer_challenge, deliver_challenge, Connection};
use crate::error::Error;
use objects::Object;
use shared_reply::take_shared_value;
pub(super) use shared_reply::{share_reply_value, SharedValue};
pub(crate) use wait::ConnId;
use wait::{Caller, ClientGone, Ctx};

struct Entry {
    obj: Arc<Object>,
    /// References held, summed over all connections.
    refs: u64,
}

pub(super) struct Server {
    authkey: Vec<u8>,
    objects: Mutex<HashMap<ObjId, Entry>>,
    next_id: AtomicU64,
    pub(super) next_conn: AtomicU64,
    /// Named objects (`Request::Register`); the registry holds one
    /// reference to each.
    names: Mutex<HashMap<String, ObjId>>,
    /// The socket's private directory, removed on a clean shutdown.
    dir: Option<PathBuf>,
    /// Connections that have not authenticated yet (see [`super::gate`]).
    pub(super) gate: Gate,
    /// Whether connections come over TCP (then a client's pid means nothing
    /// here, so robust locks cannot watch it).
    tcp: bool,
    /// Client processes, for robust locks and parked references.
    procs: procs::Procs,
    /// References of failed connections, by process token, until the
    /// process reconnects (see `Session::broken`).
    parked: Mutex<HashMap<u64, Parked>>,
    /// Panics caught in connection threads (a bug each; the fuzz test
    /// checks that there are none).
    panics: AtomicU64,
    /// Whether a proxy was ever stored in an object: from then on an
    /// object whose count reaches zero lives on while a stored value
    /// refers to it, and the server traces references (see `collect`).
    nested: std::sync::atomic::AtomicBool,
    /// What `Request::Shutdown` does: end this process (the forked
    /// server), or something else where the server lives in another
    /// program's process (see [`hosted`]).
    on_shutdown: OnShutdown,
}

/// What a client's `shutdown` does to the server.
pub(super) enum OnShutdown {
    /// End the process: the server forked by `Manager::start`.
    Exit,
    /// Call this, then close the connection: a server hosted in another
    /// program (the call stops that program's server); or nothing at all
    /// (the in-process fuzz test, which must not end the test binary).
    Call(Box<dyn Fn() + Send + Sync>),
}

/// One line of the server's log, through the `log` facade (target
/// [`LOG_TARGET`], level info): a program that installed a logger before
/// the server was forked gets the lines there; otherwise (and always for a
/// spawned server, a fresh run of the program) the server's own
/// [`default_logger`] writes them to its stderr, one `write` per line.
pub(super) fn log(msg: &str) {
    log::info!(target: LOG_TARGET, "forklore manager (pid {}): {msg}", std::process::id());
}

/// The `log` target of the manager server's lines.
pub(crate) const LOG_TARGET: &str = "forklore::manager";

/// Writes forklore's records to stderr: the server process's logger when
/// the program set none.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("forklore")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            crate::io::write_line_stderr(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static STDERR_LOGGER: StderrLogger = StderrLogger;

/// In the server's own process (never the caller's): keep the logger the
/// program installed before the fork, which the child inherited with its
/// memory; with none, log forklore's lines to stderr as the server always
/// did. A spawned server runs before the program's `main` could set one.
pub(super) fn default_logger() {
    if log::set_logger(&STDERR_LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

impl Server {
    fn objects(&self) -> std::sync::MutexGuard<'_, HashMap<ObjId, Entry>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keep the references of a failed connection of `process` for it.
    fn park(&self, process: u64, refs: HashMap<ObjId, u64>) {
        let until = self.tcp.then(|| std::time::Instant::now() + RESUME_GRACE);
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        let p = parked.entry(process).or_insert(Parked {
            refs: HashMap::new(),
            handed: HashMap::new(),
            until,
        });
        p.until = until;
        for (id, n) in refs {
            *p.refs.entry(id).or_default() += n;
        }
    }

    /// The references parked for `process`, which takes them back.
    fn resume(&self, process: u64) -> HashMap<ObjId, u64> {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(p) = parked.get_mut(&process) else {
            return HashMap::new();
        };
        let refs = std::mem::take(&mut p.refs);
        if p.handed.is_empty() {
            parked.remove(&process);
        }
        refs
    }

    /// Take one handed-off reference of each of `ids` parked for `process`;
    /// the ids that had one.
    fn take_handed(&self, process: u64, ids: &[ObjId]) -> Vec<ObjId> {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(p) = parked.get_mut(&process) else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        for &id in ids {
            if let Some(n) = p.handed.get_mut(&id) {
                *n -= 1;
                if *n == 0 {
                    p.handed.remove(&id);
                }
                taken.push(id);
            }
        }
        if p.refs.is_empty() && p.handed.is_empty() {
            parked.remove(&process);
        }
        taken
    }

    /// Give back the parked references whose process died (Unix) or whose
    /// grace ran out (TCP).
    fn sweep_parked(&self) {
        let now = std::time::Instant::now();
        let mut expired = Vec::new();
        {
            let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
            parked.retain(|&process, p| {
                let keep = match p.until {
                    Some(until) => now < until,
                    None => self.procs.alive(process),
                };
                if !keep {
                    let mut refs = std::mem::take(&mut p.refs);
                    for (id, n) in p.handed.drain() {
                        *refs.entry(id).or_default() += n;
                    }
                    expired.push(refs);
                }
                keep
            });
        }
        for refs in expired {
            release_refs(self, refs);
        }
    }

    /// A server with no object yet, for [`run`](super::accept::run).
    pub(super) fn new(authkey: Vec<u8>, dir: Option<PathBuf>, tcp: bool) -> Server {
        Server {
            authkey,
            objects: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
            names: Mutex::new(HashMap::new()),
            dir,
            gate: Gate::default(),
            tcp,
            procs: procs::Procs::default(),
            parked: Mutex::new(HashMap::new()),
            panics: AtomicU64::new(0),
            nested: std::sync::atomic::AtomicBool::new(false),
            on_shutdown: OnShutdown::Exit,
        }
    }

    pub(super) fn exit(&self, code: i32) -> ! {
        self.remove_socket();
        crate::process::exit_child(code)
    }

    /// Remove the socket and its private directory, if there is one, and
    /// free the pages of every connection's arena (a client thread that
    /// never calls again would keep them while it lives): what a server
    /// does last, before it exits.
    pub(super) fn remove_socket(&self) {
        crate::connection::free_served_lanes();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// How one request ended for the connection.
enum Next {
    Reply(Response),
    /// The client vanished in a blocking call.
    Gone,
    Shutdown,
}

/// Serve one connection until it closes.
pub(super) fn serve(server: Arc<Server>, mut conn: Connection, cid: ConnId, peer: String) {
    // The gate bounds the whole handshake (see `gate`): it shuts the socket
    // down at the deadline, which ends these reads.
    let hello = deliver_challenge(&mut conn, &server.authkey)
        .and_then(|()| answer_challenge(&mut conn, &server.authkey));
    if let Err(e) = hello {
        let why = match server.gate.failed(cid) {
            Some(verdict) => verdict.explain(),
            None => format!("handshake failed: {e}"),
        };
        if let Some(note) = server.gate.may_log(std::time::Instant::now()) {
            if let Some(note) = note {
                log(&note);
            }
            log(&format!("connection {cid} ({peer}) closed: {why}"));
        }
        return;
    }
    server.gate.passed(cid);
    // A connection admitted without the gate's watch (no descriptor was
    // left for it) had a timeout on each read: authenticated, it may wait
    // for ever (a blocked `get`).
    if super::tcp::set_read_timeout(&conn, None).is_err() {
        return;
    }
    serve_session(&server, conn, cid, &peer);
}

/// What the server keeps for one authenticated connection.
struct Session {
    cid: ConnId,
    /// Who calls on it (see `Request::Hello`).
    caller: Caller,
    /// Whether the client said hello (its process is known).
    greeted: bool,
    /// Whether the next reply (to `Request::Arena`) brings an arena for
    /// the connection's bulk frames.
    arena_due: bool,
    /// Whether the connection failed (rather than being closed by its
    /// client): its references are then kept for a while (see `park`).
    broken: bool,
    /// References this connection holds; given back when it closes.
    refs: HashMap<ObjId, u64>,
}

/// How long, over TCP, the references of a connection that failed are kept
/// for its process to reconnect and take them back. On a Unix socket they
/// are kept while the process lives (the server watches its pid).
pub(crate) const RESUME_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// References of a failed connection, waiting for its process.
struct Parked {
    refs: HashMap<ObjId, u64>,
    /// References handed off with replies that carried proxies (a proxy
    /// read out of a list, a queue...), until the process adopts them:
    /// the object cannot be freed between the reply and the adoption.
    handed: HashMap<ObjId, u64>,
    /// Over TCP, when they are given back; `None` on a Unix socket, where
    /// they are given back when the process dies.
    until: Option<std::time::Instant>,
}

/// The longest frame the server reads and throws away to refuse it while
/// keeping the connection (a frame over the limit but within this bound).
/// A header announcing more is treated as a stream that cannot be trusted.
const SKIP_MOST: usize = 1 << 30;

/// Serve an authenticated connection until it closes, then give back the
/// references it held. Locks and permits are *not* given back: they belong
/// to callers, not connections (see the managers module's docs).
fn serve_session(server: &Arc<Server>, mut conn: Connection, cid: ConnId, peer: &str) {
    let mut session = Session {
        cid,
        caller: Caller::anonymous(cid),
        greeted: false,
        arena_due: false,
        broken: false,
        refs: HashMap::new(),
    };
    server.procs.attach(session.caller.process, None, false);
    // Whatever happens in the loop, even a panic, the clean-up below runs.
    let reason = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        session_loop(server, &mut conn, &mut session)
    }))
    .unwrap_or_else(|p| {
        server.panics.fetch_add(1, Ordering::Relaxed);
        Some(format!("the server panicked: {}", panic_message(&*p)))
    });
    server.procs.detach(session.caller.process);
    let refs = std::mem::take(&mut session.refs);
    // A connection that failed, of a process that may come back: keep its
    // references for it. A clean close (the process dropped the connection,
    // exited or was killed) gives them back at once.
    let comes_back = session.greeted
        && session.broken
        && (server.tcp || server.procs.alive(session.caller.process));
    if comes_back && !refs.is_empty() {
        server.park(session.caller.process, refs);
    } else {
        release_refs(server, refs);
    }
    server.sweep_parked();
    if let Some(why) = reason {
        log(&format!("connection {cid} ({peer}) closed: {why}"));
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Read requests and answer them until the connection ends; the reason it
/// ended, for the log (`None` for a clean close by the client).
fn session_loop(server: &Server, conn: &mut Connection, session: &mut Session) -> Option<String> {
    loop {
        // A client in a tight loop sends its next request within
        // microseconds: poll for it briefly before sleeping in `read`.
        conn.spin_until_readable();
        let frame = match super::protocol::recv_request(conn) {
            Ok(f) => f,
            Err(Error::Closed) => return None,
            // A well-formed header over the limit: skip the frame, refuse it,
            // and go on; the stream is still in step.
            Err(Error::FrameTooLarge { len, max }) => match conn.skip_frame(SKIP_MOST) {
                Ok(()) => {
                    let why = format!("a request of {len} bytes is over the limit of {max} bytes");
                    if let Err(e) = send_reply(conn, &Err(RemoteError::Refused(why))) {
                        session.broken = true;
                        return Some(format!("could not reply: {e}"));
                    }
                    continue;
                }
                Err(e) => {
                    session.broken = true;
                    return Some(format!("bad input: {e}"));
                }
            },
            // The socket failed (a reset, or a TCP peer whose host went
            // silent past the keepalive bound).
            Err(e @ Error::Io { .. }) => {
                session.broken = true;
                return Some(format!("connection lost: {e}"));
            }
            // A header that is no length, or a frame cut short: the stream
            // can no longer be trusted.
            Err(e) => {
                session.broken = true;
                return Some(format!("bad input: {e}"));
            }
        };
        // A whole frame that does not decode (or would decode to too much)
        // is refused; the connection stays open.
        let decoded = match frame {
            // A bulk `extend` or `d[k] = v`, already read into its value
            // (no proxy inside).
            Received::Request(req) => Ok(req),
            Received::Frame(frame) => super::datum::decode_bounded::<Request>(&frame),
        };
        // A value shared by an earlier request that got no reply (it
        // panicked) is not this request's.
        take_shared_value();
        let next = match decoded {
            Ok(req) => {
                if super::datum::take_saw_ref() {
                    server.nested.store(true, Ordering::Relaxed);
                }
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle(server, conn, session, req)
                }))
                .unwrap_or_else(|p| {
                    server.panics.fetch_add(1, Ordering::Relaxed);
                    let m = panic_message(&*p);
                    log(&format!(
                        "connection {}: a request panicked ({m}); answered with an error",
                        session.cid
                    ));
                    Next::Reply(Err(RemoteError::Panicked(m)))
                })
            }
            Err(why) => Next::Reply(Err(RemoteError::Refused(format!(
                "bad input: could not decode message: {why}"
            )))),
        };
        match next {
            Next::Reply(r) => {
                let sent = if std::mem::take(&mut session.arena_due) {
                    conn.send_with_arena(&r)
                } else {
                    send_reply(conn, &r)
                };
                if let Err(e) = sent {
                    session.broken = true;
                    return Some(format!("could not reply: {e}"));
                }
            }
            Next::Gone => return Some("the client vanished during a blocking call".into()),
            Next::Shutdown => {
                let _ = conn.send(&Ok::<Reply, RemoteError>(Reply::Unit));
                match &server.on_shutdown {
                    OnShutdown::Exit => server.exit(0),
                    OnShutdown::Call(stop) => stop(),
                }
                return Some("a client asked the server to shut down".into());
            }
        }
    }
}

/// Send `r`; a reply too big for the client to receive is replaced by a
/// refusal (the client's limit is the default, as the server's own).
///
/// A method that changes an object and returns a value (a `pop`, a `get`
/// from a queue) returns one value that came in a request, which was larger
/// than its reply: such a reply always fits, and nothing is lost by a
/// refused reply; only reads (`to_vec`, `items`...) can be too big.
fn send_reply(conn: &mut Connection, r: &Response) -> crate::error::Result<()> {
    let max = conn.max_message_size();
    // A shared value, behind its reply's skeleton.
    let shared = take_shared_value();
    if let Some(parts) = shared
        .as_ref()
        .and_then(SharedValue::bulk)
        .and_then(|(kind, tail)| super::protocol::parts_with(r, kind, tail))
    {
        if parts.len() <= max {
            return conn.send_parts(&[&parts.head, parts.tail]);
        }
        let why = format!(
            "the reply would be {} bytes, over the limit of {max} bytes",
            parts.len()
        );
        return conn.send(&Err::<Reply, _>(RemoteError::Refused(why)));
    }
    // One bulk value: written from where it lies, after its head.
    let (frame, len) = match super::protocol::response_parts(r) {
        Some(parts) if parts.len() <= max => return conn.send_parts(&[&parts.head, parts.tail]),
        Some(parts) => (None, parts.len()),
        None => {
            let frame = crate::connection::encode_frame(r)?;
            let len = frame.len() - 4;
            (Some(frame), len)
        }
    };
    match frame {
        Some(frame) if len <= max => conn.send_frame(frame),
        _ => {
            let why = format!(
                "the reply would be {len} bytes, over the limit of {max} bytes; ask for less at a time (a slice)"
            );
            conn.send(&Err::<Reply, _>(RemoteError::Refused(why)))
        }
    }
}

fn release_refs(server: &Server, refs: HashMap<ObjId, u64>) {
    if refs.is_empty() {
        return;
    }
    let nested = server.nested.load(Ordering::Relaxed);
    let mut objects = server.objects();
    let mut zero = false;
    for (id, n) in refs {
        if let Some(e) = objects.get_mut(&id) {
            e.refs = e.refs.saturating_sub(n);
            if e.refs == 0 {
                if nested {
                    zero = true;
                } else {
                    objects.remove(&id);
                }
            }
        }
    }
    if zero {
        collect(&mut objects);
    }
}

/// Hand the proxies in reply `r` to the calling `process`: one reference
/// each, parked for it until it adopts them (see `Parked::handed`).
fn hand_off(server: &Server, process: u64, r: &Response) {
    let mut ids = Vec::new();
    if let Ok(reply) = r {
        match reply {
            Reply::Datum(d) | Reply::Maybe(Some(d)) => d.refs(&mut ids),
            Reply::Seq(v) => v.iter().for_each(|d| d.refs(&mut ids)),
            Reply::Pairs(v) => v.iter().for_each(|(k, d)| {
                k.refs(&mut ids);
                d.refs(&mut ids);
            }),
            Reply::Exchanged { previous, .. } => previous.refs(&mut ids),
            _ => {}
        }
    }
    if ids.is_empty() {
        return;
    }
    let mut objects = server.objects();
    ids.retain(|id| match objects.get_mut(id) {
        Some(e) => {
            e.refs = e.refs.saturating_add(1);
            true
        }
        None => false,
    });
    drop(objects);
    let until = server.tcp.then(|| std::time::Instant::now() + RESUME_GRACE);
    let mut parked = server.parked.lock().unwrap_or_else(PoisonError::into_inner);
    let p = parked.entry(process).or_insert(Parked {
        refs: HashMap::new(),
        handed: HashMap::new(),
        until,
    });
    for id in ids {
        *p.handed.entry(id).or_default() += 1;
    }
}

/// Free the objects that no connection, name or handoff holds and that no
/// stored value of a held object refers to (a proxy inside a list, a dict,
/// a queue...): a mark from the held objects through the proxies stored in
/// them, then a sweep. Only servers that have seen a proxy inside a value
/// run it (see `Server::nested`). Lock order: the table, then one object's
/// own lock at a time (no request holds an object's lock while it takes
/// the table's).
fn collect(objects: &mut HashMap<ObjId, Entry>) {
    if objects.values().all(|e| e.refs > 0) {
        return;
    }
    let mut marked: std::collections::HashSet<ObjId> = std::collections::HashSet::new();
    let mut todo: Vec<ObjId> = objects
        .iter()
        .filter(|(_, e)| e.refs > 0)
        .map(|(&id, _)| id)
        .collect();
    let mut out = Vec::new();
    while let Some(id) = todo.pop() {
        if !marked.insert(id) {
            continue;
        }
        if let Some(e) = objects.get(&id) {
            out.clear();
            e.obj.refs(&mut out);
            todo.extend(out.iter().copied().filter(|i| !marked.contains(i)));
        }
    }
    objects.retain(|id, _| marked.contains(id));
}

fn handle(server: &Server, conn: &Connection, session: &mut Session, req: Request) -> Next {
    // The tests' way to make a request panic, standing for a bug.
    #[cfg(test)]
    if matches!(&req, Request::Lookup { name, .. } if name == fuzz::PANIC_NAME) {
        panic!("a panic asked for by a test");
    }
    let refs = &mut session.refs;
    match req {
        Request::Hello {
            process,
            pid,
            thread,
            session: is_session,
        } => {
            server.procs.detach(session.caller.process);
            session.caller = Caller { process, thread };
            session.greeted = true;
            // On a Unix socket the client is on this host: watch its pid.
            server.procs.attach(process, Some(pid), !server.tcp);
            // References a failed session connection of this process left
            // behind are this session connection's now.
            if is_session {
                for (id, n) in server.resume(process) {
                    *session.refs.entry(id).or_default() += n;
                }
            }
            Next::Reply(Ok(Reply::Unit))
        }
        Request::Arena => {
            // Sent with the reply (see `session_loop`).
            session.arena_due = conn.is_unix() && !conn.has_arena();
            Next::Reply(Ok(Reply::Unit))
        }
        Request::Call(id, method) => {
            let obj = server.objects().get(&id).map(|e| Arc::clone(&e.obj));
            let Some(obj) = obj else {
                return Next::Reply(Err(RemoteError::UnknownObject(id)));
            };
            let ctx = Ctx {
                caller: session.caller,
                fd: conn.as_fd(),
                procs: &server.procs,
            };
            let r = obj.call(method, &ctx);
            drop(obj);
            match r {
                Ok(r) => {
                    if server.nested.load(Ordering::Relaxed) {
                        hand_off(server, session.caller.process, &r);
                        collect(&mut server.objects());
                    }
                    Next::Reply(r)
                }
                Err(ClientGone) => Next::Gone,
            }
        }
        Request::Create(kind) => {
            let lookup = |id| server.objects().get(&id).map(|e| Arc::clone(&e.obj));
            let obj = match Object::create(kind, lookup) {
                Ok(obj) => obj,
                Err(e) => return Next::Reply(Err(e)),
            };
            let id = server.next_id.fetch_add(1, Ordering::Relaxed);
            server.objects().insert(
                id,
                Entry {
                    obj: Arc::new(obj),
                    refs: 1,
                },
            );
            *refs.entry(id).or_default() += 1;
            Next::Reply(Ok(Reply::Id(id)))
        }
        Request::Adopt(ids) => {
            // Make sure this connection holds a reference to every object
            // that still exists (one it already holds, resumed after a
            // failed connection, is not counted twice); report the first
            // that does not exist.
            // A reference handed off to this process with a reply that
            // carried the proxy is taken over (or given back, if this
            // connection holds one already).
            let handed = server.take_handed(session.caller.process, &ids);
            let mut objects = server.objects();
            let mut missing = None;
            for id in ids {
                let was_handed = handed.contains(&id);
                match objects.get_mut(&id) {
                    Some(e) if refs.get(&id).is_some_and(|&n| n > 0) => {
                        if was_handed {
                            e.refs = e.refs.saturating_sub(1);
                        }
                    }
                    Some(e) => {
                        if !was_handed {
                            e.refs = e.refs.saturating_add(1);
                        }
                        *refs.entry(id).or_default() += 1;
                    }
                    None => missing = missing.or(Some(id)),
                }
            }
            if !handed.is_empty() {
                collect(&mut objects);
            }
            Next::Reply(match missing {
                Some(id) => Err(RemoteError::UnknownObject(id)),
                None => Ok(Reply::Unit),
            })
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
        Request::ObjectCount => {
            server.sweep_parked();
            if server.nested.load(Ordering::Relaxed) {
                collect(&mut server.objects());
            }
            Next::Reply(Ok(Reply::Size(server.objects().len() as u64)))
        }
        Request::Register(name, id) => {
            let mut objects = server.objects();
            let Some(e) = objects.get_mut(&id) else {
                return Next::Reply(Err(RemoteError::UnknownObject(id)));
            };
            e.refs = e.refs.saturating_add(1);
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
            e.refs = e.refs.saturating_add(1);
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
