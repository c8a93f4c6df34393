//! A manager server that CPython clients use unmodified
//! (`BaseManager(address, authkey).connect()`, `SyncManager` proxies).
//!
//! It serves the public calls of CPython's `Server` (`create`, `incref`,
//! `decref`, `accept_connection`, `get_methods`, `debug_info`,
//! `number_of_objects`, `dummy`, `shutdown`) and every `SyncManager`
//! typeid except `Pool`/`AsyncResult`, plus objects registered by name
//! ([`PyServer::register`], the `get_task_queue` of the "distributed
//! processes" pattern).
//!
//! # Both dialects on one listener
//! A forklore [`Manager::connect`](crate::managers::Manager::connect)
//! client may use the same address and key: the handshake is the same in
//! both dialects, and the first request tells them apart (a pickle starts
//! with the byte `0x80`, a forklore request with its variant's tag, below
//! `0x80`).
//! The server peeks at it without reading it and hands a forklore
//! connection to a server of forklore's own protocol that lives in this
//! process (`managers::Hosted`); its `shutdown` stops this server too.
//!
//! # Two object stores
//! The objects CPython clients use hold Python [`Value`]s, not forklore's
//! `Datum`s: Python's semantics (`1 == 1.0 == True` as list items and dict
//! keys, big ints, sets, exceptions raised as `queue.Empty`/`KeyError`
//! objects, the exposed-method lists, `#PROXY` iterators) are what its
//! clients observe, and forklore's store is shaped around its own typed
//! protocol. The two stores share nothing: a forklore `Manager` client
//! sees the objects forklore clients made; a Rust program that shares
//! objects with Python programs uses [`PyManager`](super::PyManager), the
//! same dialect as a Python program.
//!
//! # Nested proxies
//! A proxy stored inside a shared object (`outer.append(inner_proxy)`)
//! pins its referent: the object stays after its last reference goes, so
//! that the stored proxy can still reach it, as CPython's server keeps such
//! objects in `id_to_local_proxy_obj`. Like CPython's, a pinned object is
//! kept until the server stops.
//!
//! # Not served
//! The `Pool` and `AsyncResult` typeids (a process pool inside the server),
//! `sort(key=...)` and slice assignment on lists, `Condition(lock)` with a
//! lock of its own, `Barrier(action=...)`, and the `xmlrpclib` serializer.
//! Each is refused with the error a CPython client can catch.
//!
//! # Threads
//! [`PyServer::serve_forever`] runs the accept loop in the calling thread and
//! serves each connection on a thread of its own, as CPython's server does:
//! call it in a process (or thread) dedicated to serving. It returns once
//! [`ShutdownHandle::shutdown`] is called, a client sends `shutdown`, or the
//! stop descriptor given to [`PyServer::stop_on_readable`] becomes readable;
//! threads still serving a connection are left to end with the process.

mod dialect;
pub mod objects;
mod open;
pub mod pydict;

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use self::dialect::{dialect, Dialect};
use self::objects::{construct, exposed_of, method_typeid, CallArgs, Obj, Outcome, QUEUE_METHODS};
use self::open::Registered;
use super::conn::{Handshake, PyConnection};
use super::pickle::Value;
use super::shared::{PyAddress, Stream, Token};
use crate::error::{Error, Result};

/// How long a new connection may take to authenticate and send its first
/// request before the server drops it.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Entry {
    typeid: String,
    obj: Arc<Obj>,
    exposed: &'static [&'static str],
    refcount: u64,
    /// A proxy of it was stored inside a shared object (a nested proxy):
    /// it outlives its last reference, as in CPython's
    /// `id_to_local_proxy_obj`.
    pinned: bool,
}

#[derive(Debug, Default)]
struct Store {
    objects: HashMap<String, Entry>,
    /// Registered names: (typeid shown to clients, fixed id, the object).
    named: HashMap<String, (String, Arc<Obj>, &'static [&'static str])>,
    next_id: u64,
    /// Pinned objects whose references all went: still reachable through
    /// the proxies stored inside other objects (an `incref` revives them).
    local: HashMap<String, Entry>,
}

impl Store {
    fn lookup(&self, id: &str) -> Option<&Entry> {
        self.objects.get(id).or_else(|| self.local.get(id))
    }

    /// Pins every object named by a proxy (`RebuildProxy(..., token, ...)`)
    /// inside `v`.
    fn pin_nested(&mut self, v: &Value) {
        match v {
            Value::Object(o) => {
                if o.class.is("multiprocessing.managers", "RebuildProxy") {
                    if let Some(Ok(t)) = o.args.get(1).map(Token::from_value) {
                        if let Some(e) = self.objects.get_mut(&t.id) {
                            e.pinned = true;
                        }
                    }
                }
                for x in o.args.iter().chain(&o.items).chain(&o.state) {
                    self.pin_nested(x);
                }
            }
            Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => {
                for y in x {
                    self.pin_nested(y);
                }
            }
            Value::Dict(x) => {
                for (k, y) in x {
                    self.pin_nested(k);
                    self.pin_nested(y);
                }
            }
            _ => {}
        }
    }

    fn fresh_id(&mut self) -> String {
        self.next_id = self.next_id.wrapping_add(1);
        format!("{:x}", self.next_id)
    }
}

#[derive(Debug)]
struct State {
    store: Mutex<Store>,
    authkey: Vec<u8>,
    opts: Handshake,
    address: Value,
    stopping: AtomicBool,
    wake: OwnedFd,
    next_conn: AtomicU64,
    /// The server of forklore's own dialect (see the module documentation).
    native: crate::managers::Hosted,
    /// A duplicate of each open connection's socket, by connection, so that
    /// stopping the server ends them all (see [`State::stop`]).
    open: Mutex<HashMap<u64, Stream>>,
}

impl State {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
    /// Stop accepting, and end every open connection in both dialects, as
    /// the end of CPython's (or a forked Manager's) server process does: a
    /// client then gets `EOFError` / `ManagerGone`, even one blocked in a
    /// `get`, instead of being served by a server that was shut down.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = nix::unistd::write(&self.wake, b"x");
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(PoisonError::into_inner));
        open.values().for_each(open::end);
    }
}

#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, std::path::PathBuf),
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Stops a running [`PyServer`] from any thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<State>);

impl ShutdownHandle {
    /// Makes [`PyServer::serve_forever`] return.
    pub fn shutdown(&self) {
        self.0.stop();
    }
}

/// A CPython-protocol manager server.
#[derive(Debug)]
pub struct PyServer {
    listener: Listener,
    state: Arc<State>,
    wake_read: OwnedFd,
    stop_fd: Option<OwnedFd>,
    local: PyAddress,
}

impl PyServer {
    /// Binds a listener (a TCP port 0 picks a free port).
    ///
    /// # Errors
    /// [`Error::Io`] when the address cannot be bound.
    pub fn bind(address: &PyAddress, authkey: &[u8]) -> Result<PyServer> {
        Self::bind_with(address, authkey, Handshake::default())
    }

    /// [`bind`](Self::bind) with handshake options (for example refusing
    /// the HMAC-MD5 that CPython 3.11 clients need).
    ///
    /// # Errors
    /// As [`bind`](Self::bind).
    pub fn bind_with(address: &PyAddress, authkey: &[u8], opts: Handshake) -> Result<PyServer> {
        let io = |source| Error::Io {
            op: "bind the manager's listener",
            source,
        };
        let (listener, local) = match address {
            PyAddress::Tcp(h, p) => {
                let l = TcpListener::bind((h.as_str(), *p)).map_err(io)?;
                let port = l.local_addr().map_err(io)?.port();
                (Listener::Tcp(l), PyAddress::Tcp(h.clone(), port))
            }
            PyAddress::Unix(p) => {
                let l = UnixListener::bind(p).map_err(io)?;
                (Listener::Unix(l, p.clone()), address.clone())
            }
        };
        let (wake_read, wake) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::os("pipe2", e))?;
        let tcp = matches!(listener, Listener::Tcp(_));
        let state = Arc::new_cyclic(|me: &std::sync::Weak<State>| {
            let me = me.clone();
            let stop = Box::new(move || {
                if let Some(state) = me.upgrade() {
                    state.stop();
                }
            });
            State {
                store: Mutex::new(Store::default()),
                authkey: authkey.to_vec(),
                opts,
                address: local.to_value(),
                stopping: AtomicBool::new(false),
                wake,
                next_conn: AtomicU64::new(0),
                native: crate::managers::Hosted::new(authkey, tcp, stop),
                open: Mutex::new(HashMap::new()),
            }
        });
        Ok(PyServer {
            listener,
            state,
            wake_read,
            stop_fd: None,
            local,
        })
    }

    /// The address it listens on (with the port chosen for port 0).
    pub fn address(&self) -> &PyAddress {
        &self.local
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.state.clone())
    }

    /// Makes [`serve_forever`](Self::serve_forever) also return when `fd`
    /// becomes readable (a `signalfd` for SIGTERM, say). The server keeps
    /// a duplicate of `fd`; the caller may close its own.
    ///
    /// # Errors
    /// [`Error::Io`] if the descriptor cannot be duplicated.
    pub fn stop_on_readable(&mut self, fd: BorrowedFd<'_>) -> Result<()> {
        let owned = fd.try_clone_to_owned().map_err(|source| Error::Io {
            op: "duplicate the stop descriptor",
            source,
        })?;
        self.stop_fd = Some(owned);
        Ok(())
    }

    /// Registers a named object, created now, that every `create(name)`
    /// returns (CPython's `register('get_task_queue', callable=lambda: q)`).
    /// `typeid` is one of the `SyncManager` typeids, built without
    /// arguments (`"Queue"`, `"dict"`, `"list"`, `"Namespace"`, ...).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown typeid or a name already
    /// registered.
    pub fn register(&mut self, name: &str, typeid: &str) -> Result<()> {
        let exposed = exposed_of(typeid)
            .filter(|_| typeid != "Iterator")
            .ok_or_else(|| Error::InvalidArgument(format!("unknown typeid {typeid:?}")))?;
        let obj = construct(typeid, &CallArgs::default()).map_err(|o| {
            Error::InvalidArgument(format!("{typeid} cannot be built without arguments: {o:?}"))
        })?;
        let mut st = self.state.store();
        if st.named.contains_key(name) || exposed_of(name).is_some() {
            return Err(Error::InvalidArgument(format!(
                "{name:?} is already registered"
            )));
        }
        let id = st.fresh_id();
        // A queue registered by name is served through an AutoProxy, whose
        // methods are the queue's public methods.
        let exposed = if matches!(obj, Obj::Queue(_)) {
            QUEUE_METHODS
        } else {
            exposed
        };
        st.named
            .insert(name.to_owned(), (id, Arc::new(obj), exposed));
        Ok(())
    }

    /// Serves until shut down (see the module documentation).
    ///
    /// # Errors
    /// [`Error::Os`] if polling the listener fails.
    pub fn serve_forever(self) -> Result<()> {
        let listen_fd = match &self.listener {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
        };
        loop {
            if self.state.stopping.load(Ordering::SeqCst) {
                return Ok(());
            }
            let stop = self.stop_fd.as_ref().map(|f| f.as_fd());
            let mut fds = vec![
                PollFd::new(listen_fd, PollFlags::POLLIN),
                PollFd::new(self.wake_read.as_fd(), PollFlags::POLLIN),
            ];
            if let Some(s) = stop {
                fds.push(PollFd::new(s, PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::os("poll", e)),
                Ok(_) => {}
            }
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(PollFd::revents)
                    .is_some_and(|r| !r.is_empty())
            };
            if ready(1) || ready(2) {
                self.state.stop();
                return Ok(());
            }
            if !ready(0) {
                continue;
            }
            let stream = match &self.listener {
                // Keepalive (managers::tcp's settings): a client whose host
                // vanishes is noticed within about 5 s, and its thread ends.
                Listener::Tcp(l) => l.accept().map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    let _ = crate::managers::tcp::configure(&s);
                    Stream::Tcp(s)
                }),
                Listener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
            };
            let Ok(stream) = stream else { continue };
            let state = self.state.clone();
            let spawned = std::thread::Builder::new()
                .name("forklore-manager-conn".into())
                .spawn(move || handle(&state, stream));
            // Out of threads: the connection is dropped (closed) and the
            // server goes on.
            drop(spawned);
        }
    }
}

fn set_read_timeout(s: &Stream, t: Option<Duration>) {
    let _ = match s {
        Stream::Tcp(s) => s.set_read_timeout(t),
        Stream::Unix(s) => s.set_read_timeout(t),
    };
}

fn traceback(exc: &str) -> Value {
    Value::Tuple(vec![
        Value::str("#TRACEBACK"),
        Value::Str(format!(
            "Traceback (most recent call last):\n  (in the forklore manager server)\n{exc}\n"
        )),
    ])
}

fn reply(kind: &str, v: Value) -> Value {
    Value::Tuple(vec![Value::str(kind), v])
}

/// Splits a request `(ident, methodname, args, kwds)`.
fn parse_request(v: Value) -> std::result::Result<(Value, String, CallArgs), String> {
    let Value::Tuple(mut t) = v else {
        return Err("request is not a tuple".into());
    };
    if t.len() != 4 {
        return Err("request is not a 4-tuple".into());
    }
    let kw = match t.pop() {
        Some(Value::Dict(kw)) => kw,
        _ => return Err("request kwds is not a dict".into()),
    };
    let pos = match t.pop() {
        Some(Value::Tuple(a)) | Some(Value::List(a)) => a,
        _ => return Err("request args is not a tuple".into()),
    };
    let method = match t.pop() {
        Some(Value::Str(m)) => m,
        _ => return Err("request method name is not a str".into()),
    };
    let ident = t.pop().unwrap_or(Value::None);
    Ok((ident, method, CallArgs { pos, kw }))
}

fn handle(state: &State, stream: Stream) {
    let _registered = Registered::new(state, &stream);
    set_read_timeout(&stream, Some(FIRST_REQUEST_TIMEOUT));
    let mut c = PyConnection::new(stream);
    if c.server_handshake(&state.authkey, state.opts).is_err() {
        return;
    }
    let Some(dialect) = dialect(c.get_ref()) else {
        return;
    };
    if let Dialect::Forklore = dialect {
        set_read_timeout(c.get_ref(), None);
        dialect::serve_forklore(&state.native, c.into_inner());
        return;
    }
    let request = match c.recv() {
        Ok(v) => v,
        Err(_) => return,
    };
    let (_, func, args) = match parse_request(request) {
        Ok(r) => r,
        Err(m) => {
            let _ = c.send(&traceback(&format!("ValueError: {m}")));
            return;
        }
    };
    let msg = match func.as_str() {
        "accept_connection" => {
            if c.send(&reply("#RETURN", Value::None)).is_err() {
                return;
            }
            set_read_timeout(c.get_ref(), None);
            let conn_id = state.next_conn.fetch_add(1, Ordering::Relaxed);
            serve_client(state, &mut c, conn_id);
            return;
        }
        "shutdown" => {
            let _ = c.send(&reply("#RETURN", Value::None));
            state.stop();
            return;
        }
        f => match public_call(state, f, args) {
            Ok(v) => reply("#RETURN", v),
            Err(tb) => traceback(&tb),
        },
    };
    let _ = c.send(&msg);
}

fn exposed_value(e: &[&str]) -> Value {
    Value::Tuple(e.iter().map(|m| Value::str(m)).collect())
}

fn incref(st: &mut Store, ident: &str) -> std::result::Result<(), String> {
    if let Some(e) = st.objects.get_mut(ident) {
        e.refcount = e.refcount.saturating_add(1);
        return Ok(());
    }
    // A pinned object whose references all went: counted again.
    match st.local.remove(ident) {
        Some(mut e) => {
            e.refcount = 1;
            st.objects.insert(ident.to_owned(), e);
            Ok(())
        }
        None => Err(format!("KeyError: '{ident}'")),
    }
}

fn public_call(state: &State, func: &str, a: CallArgs) -> std::result::Result<Value, String> {
    let str_arg = |i: usize, name: &str| -> std::result::Result<String, String> {
        a.get(i, name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("TypeError: {func}() needs a str {name}"))
    };
    match func {
        "dummy" => Ok(Value::None),
        "create" => {
            let typeid = str_arg(0, "typeid")?;
            let rest = CallArgs {
                pos: a.pos.get(1..).unwrap_or_default().to_vec(),
                kw: a.kw,
            };
            let mut st = state.store();
            if let Some((id, obj, exposed)) = st.named.get(&typeid).cloned() {
                st.objects.entry(id.clone()).or_insert(Entry {
                    typeid: typeid.clone(),
                    obj,
                    exposed,
                    refcount: 0,
                    pinned: false,
                });
                incref(&mut st, &id)?;
                return Ok(Value::Tuple(vec![Value::Str(id), exposed_value(exposed)]));
            }
            drop(st);
            let exposed = exposed_of(&typeid)
                .filter(|_| typeid != "Iterator")
                .ok_or_else(|| format!("KeyError: '{typeid}'"))?;
            let obj = construct(&typeid, &rest).map_err(|o| match o {
                Outcome::Error(e) => exception_text(&e),
                other => format!("RuntimeError: {other:?}"),
            })?;
            let mut st = state.store();
            let id = st.fresh_id();
            st.objects.insert(
                id.clone(),
                Entry {
                    typeid,
                    obj: Arc::new(obj),
                    exposed,
                    refcount: 1,
                    pinned: false,
                },
            );
            Ok(Value::Tuple(vec![Value::Str(id), exposed_value(exposed)]))
        }
        "incref" => {
            let ident = str_arg(0, "ident")?;
            incref(&mut state.store(), &ident).map(|()| Value::None)
        }
        "decref" => {
            let ident = str_arg(0, "ident")?;
            let mut st = state.store();
            let Some(e) = st.objects.get_mut(&ident) else {
                if st.local.contains_key(&ident) {
                    // CPython: "Server DECREF skipping" a pinned object.
                    return Ok(Value::None);
                }
                return Err(format!("KeyError: '{ident}'"));
            };
            if e.refcount == 0 {
                return Err(format!("AssertionError: Id {ident} has refcount 0, not 1+"));
            }
            e.refcount -= 1;
            if e.refcount == 0 {
                // The object itself is dropped after the store lock is
                // released.
                let gone = st.objects.remove(&ident);
                match gone {
                    Some(e) if e.pinned => {
                        st.local.insert(ident, e);
                    }
                    gone => {
                        drop(st);
                        drop(gone);
                    }
                }
            }
            Ok(Value::None)
        }
        "get_methods" => {
            let token = a
                .get(0, "token")
                .ok_or("TypeError: get_methods() needs a token")?;
            let token = Token::from_value(token).map_err(|e| format!("TypeError: {e}"))?;
            let st = state.store();
            match st.lookup(&token.id) {
                Some(e) => Ok(exposed_value(e.exposed)),
                None => Err(format!("KeyError: '{}'", token.id)),
            }
        }
        "number_of_objects" => Ok(Value::Int(
            i64::try_from(state.store().objects.len()).unwrap_or(i64::MAX),
        )),
        "debug_info" => {
            let st = state.store();
            let mut ids: Vec<&String> = st.objects.keys().collect();
            ids.sort();
            let lines: Vec<String> = ids
                .into_iter()
                .map(|id| {
                    let e = &st.objects[id];
                    let mut r = e.obj.repr();
                    r.truncate(75);
                    format!("  {id}:       refcount={}\n    {r}", e.refcount)
                })
                .collect();
            Ok(Value::Str(lines.join("\n")))
        }
        other => Err(format!("AssertionError: {other:?} unrecognized")),
    }
}

fn exception_text(e: &Value) -> String {
    match e {
        Value::Object(o) => format!(
            "{}: {}",
            o.class.name,
            o.args
                .first()
                .map(|a| a
                    .as_str()
                    .map_or_else(|| super::pyops::repr(a), str::to_owned))
                .unwrap_or_default()
        ),
        other => super::pyops::repr(other),
    }
}

fn serve_client(state: &State, c: &mut PyConnection<Stream>, conn_id: u64) {
    loop {
        // A client in a loop sends its next request within microseconds:
        // poll for it briefly before sleeping in `read`, as forklore's own
        // manager server does (waking an idle CPU can cost more than the
        // whole call).
        crate::sys::spin_until_readable(c.get_ref(), crate::connection::SPIN);
        let request = match c.recv() {
            Ok(v) => v,
            Err(Error::Decode(m)) => {
                if c.send(&traceback(&format!("UnpicklingError: {m}")))
                    .is_err()
                {
                    return;
                }
                continue;
            }
            // End of stream, a reset, or an oversized frame: this client is
            // done; the server goes on.
            Err(_) => return,
        };
        let msg = match parse_request(request) {
            Err(m) => traceback(&format!("ValueError: {m}")),
            Ok((ident, method, args)) => call(state, ident, &method, &args, conn_id),
        };
        if c.send(&msg).is_err() {
            return;
        }
    }
}

fn call(state: &State, ident: Value, method: &str, args: &CallArgs, conn_id: u64) -> Value {
    let Some(ident) = ident.as_str() else {
        return traceback("KeyError: None");
    };
    let (obj, exposed, typeid) = {
        let mut st = state.store();
        for v in args.pos.iter().chain(args.kw.iter().map(|(_, v)| v)) {
            st.pin_nested(v);
        }
        match st.lookup(ident) {
            Some(e) => (e.obj.clone(), e.exposed, e.typeid.clone()),
            None => return traceback(&format!("KeyError: '{ident}'")),
        }
    };
    if !exposed.contains(&method) {
        return match method {
            "#GETVALUE" => match obj.getvalue() {
                Some(v) => reply("#RETURN", v),
                None => reply(
                    "#UNSERIALIZABLE",
                    Value::Str(format!("TypeError: cannot pickle a {typeid} object\n")),
                ),
            },
            "__str__" | "__repr__" => reply("#RETURN", Value::Str(obj.repr())),
            _ => traceback(&format!(
                "AttributeError: method '{method}' of {typeid} object is not in exposed={exposed:?}"
            )),
        };
    }
    match obj.call(conn_id, method, args) {
        Outcome::Return(v) => reply("#RETURN", v),
        Outcome::Error(e) => reply("#ERROR", e),
        Outcome::Proxy(new_typeid, new_obj) => {
            debug_assert_eq!(method_typeid(&typeid, method), Some(new_typeid));
            let rexposed = exposed_of(new_typeid).unwrap_or(&[]);
            let mut st = state.store();
            let id = st.fresh_id();
            st.objects.insert(
                id.clone(),
                Entry {
                    typeid: new_typeid.to_owned(),
                    obj: Arc::from(new_obj),
                    exposed: rexposed,
                    refcount: 1,
                    pinned: false,
                },
            );
            drop(st);
            let token = Token {
                typeid: new_typeid.to_owned(),
                address: state.address.clone(),
                id,
            };
            reply(
                "#PROXY",
                Value::Tuple(vec![exposed_value(rexposed), token.to_value()]),
            )
        }
    }
}

/// Serves on `address` in a new thread (for tests and embedding); returns
/// the bound address and a handle that stops it.
///
/// # Errors
/// As [`PyServer::bind`].
pub fn spawn(
    address: &PyAddress,
    authkey: &[u8],
    named: &[(&str, &str)],
) -> Result<(
    PyAddress,
    ShutdownHandle,
    std::thread::JoinHandle<Result<()>>,
)> {
    let mut s = PyServer::bind(address, authkey)?;
    for (name, typeid) in named {
        s.register(name, typeid)?;
    }
    let addr = s.address().clone();
    let h = s.shutdown_handle();
    let t = std::thread::Builder::new()
        .name("forklore-manager".into())
        .spawn(move || s.serve_forever())
        .map_err(|source| Error::Io {
            op: "spawn the server thread",
            source,
        })?;
    Ok((addr, h, t))
}
