//! A forklore client of a CPython manager server (`BaseManager`,
//! `SyncManager`, or a forklore server speaking CPython's protocol).
//!
//! It does what CPython's `BaseManager.connect`, `_create` and `BaseProxy`
//! do, message for message: each public call (`create`, `incref`,
//! `decref`, `dummy`, ...) goes over a fresh authenticated connection, and
//! each proxy opens one long-lived connection per process with
//! `accept_connection` on its first method call.

use std::io;
use std::marker::PhantomData;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::conn::{Handshake, PyConnection};
use super::pickle::{Build, Global, Object, Value};
use super::value_serde::{from_value, to_value};
use crate::error::{Error, Result};
use crate::managers::tcp;

pub use super::shared::{PyAddress, Stream, Token};

/// What a call that carries its own timeout (`get_timeout`, `put_timeout`,
/// `wait_timeout`, `acquire_timeout`) allows the manager beyond that
/// timeout to answer: the call fails with [`Error::ManagerNoReply`] once
/// `timeout + REPLY_GRACE` has passed without a reply. A live server
/// answers such a call right after its timeout, so the grace only has to
/// cover a busy server and the network; 5 s is the bound the native
/// manager's TCP keepalive gives a dead peer
/// ([`managers::tcp::DEAD_PEER_BOUND`](crate::managers::tcp::DEAD_PEER_BOUND)).
pub const REPLY_GRACE: Duration = Duration::from_secs(5);

/// Turns a `'#ERROR'` / `'#TRACEBACK'` / `'#UNSERIALIZABLE'` reply into the
/// matching [`Error`].
pub fn reply_error(kind: &str, result: Value) -> Error {
    match (kind, result) {
        ("#ERROR", Value::Object(o)) => {
            let c = &o.class;
            if c.is("_queue", "Empty") || c.is("queue", "Empty") {
                Error::QueueEmpty
            } else if c.is("queue", "Full") {
                Error::QueueFull
            } else if c.is("threading", "BrokenBarrierError") {
                Error::BrokenBarrier
            } else if c.is("builtins", "IndexError") {
                Error::PythonIndexError {
                    message: o.args.iter().map(str_of).collect::<Vec<_>>().join(", "),
                }
            } else if c.is("builtins", "KeyError") {
                Error::KeyNotFound {
                    key: o.args.first().map(repr).unwrap_or_default(),
                }
            } else {
                Error::PythonException {
                    type_name: c.to_string(),
                    message: o.args.iter().map(str_of).collect::<Vec<_>>().join(", "),
                }
            }
        }
        ("#TRACEBACK" | "#UNSERIALIZABLE", Value::Str(s)) => Error::PythonException {
            type_name: "multiprocessing.managers.RemoteError".into(),
            message: s,
        },
        (k, v) => Error::Decode(format!("unrecognized reply {k:?}: {v:?}")),
    }
}

fn str_of(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => repr(other),
    }
}

pub use super::pyops::repr;

#[derive(Debug)]
struct Inner {
    address: PyAddress,
    authkey: Vec<u8>,
    opts: ConnectOptions,
}

impl Inner {
    fn open(&self) -> Result<PyConnection<Stream>> {
        let stream = match &self.address {
            PyAddress::Tcp(h, p) => {
                let addrs =
                    (h.as_str(), *p)
                        .to_socket_addrs()
                        .map_err(|e| Error::ManagerUnreachable {
                            op: "resolve the manager's address",
                            source: e,
                        })?;
                let mut last = None;
                let mut s = None;
                for a in addrs {
                    match TcpStream::connect_timeout(&a, tcp::CONNECT_TIMEOUT) {
                        Ok(t) => {
                            s = Some(t);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                match s {
                    Some(t) => {
                        let _ = t.set_nodelay(true);
                        tcp::configure(&t)?;
                        Stream::Tcp(t)
                    }
                    None => return Err(connect_error(last)),
                }
            }
            PyAddress::Unix(p) => {
                Stream::Unix(UnixStream::connect(p).map_err(|e| connect_error(Some(e)))?)
            }
        };
        // Each message of the handshake must come within
        // HANDSHAKE_TIMEOUT: a server that accepts but does not speak, or a
        // link that fell silent, must not hang the client.
        let set_timeout = |s: &Stream, t| match s {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        };
        let io = |source| Error::Io {
            op: "set the handshake's read timeout",
            source,
        };
        set_timeout(&stream, Some(tcp::HANDSHAKE_TIMEOUT)).map_err(io)?;
        let mut c = PyConnection::new(stream);
        c.client_handshake(&self.authkey, self.opts.handshake)
            .map_err(|e| match e {
                Error::Io { ref source, .. }
                    if matches!(
                        source.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) && !tcp::unreachable(source) =>
                {
                    Error::ManagerNoReply {
                        call: "the handshake".into(),
                        waited: tcp::HANDSHAKE_TIMEOUT,
                    }
                }
                e => gone(e),
            })?;
        set_timeout(c.get_ref(), None).map_err(io)?;
        Ok(c)
    }

    /// `dispatch(conn, None, name, args, kwds)` over a fresh connection,
    /// within the reply timeout.
    fn public_call(
        &self,
        name: &str,
        args: Vec<Value>,
        kwds: Vec<(Value, Value)>,
    ) -> Result<Value> {
        let mut c = self.open()?;
        dispatch(
            &mut c,
            Value::None,
            name,
            args,
            kwds,
            self.opts.reply_timeout,
        )
    }
}

/// How long a call may wait for its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A call the server answers at once (`append`, `len`, `get_nowait`,
    /// `try_acquire`, ...): bounded by the manager's
    /// [`reply_timeout`](ConnectOptions::reply_timeout), if any.
    Quick,
    /// A call that blocks on the server for up to this long (`get` with a
    /// timeout): bounded by it plus [`REPLY_GRACE`].
    Upto(Duration),
    /// A call that may block on the server for ever (`get()`, `acquire()`,
    /// `wait()`): no bound but TCP keepalive's.
    Forever,
}

/// Options of [`PyManager::connect_options`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The handshake's digests (MD5 for CPython 3.11 peers).
    pub handshake: Handshake,
    /// The longest a call the server answers at once ([`Wait::Quick`]:
    /// `append`, `len`, `get_nowait`, `create`, ...) waits for its reply
    /// before it fails with [`Error::ManagerNoReply`]. `None` (the
    /// default, as CPython): no bound but TCP keepalive's. Calls with a
    /// timeout of their own are always bounded by it plus
    /// [`REPLY_GRACE`]; calls that wait for ever (`get()`) never are.
    pub reply_timeout: Option<Duration>,
}

fn connect_error(e: Option<io::Error>) -> Error {
    let e = e.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"));
    match e.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => Error::ManagerGone {
            op: "connect to the manager",
        },
        _ => Error::ManagerUnreachable {
            op: "connect to the manager",
            source: e,
        },
    }
}

/// A transport failure as [`Error::ManagerGone`], or
/// [`Error::ManagerUnreachable`] when TCP keepalive (or no route) says that
/// the server's host is gone.
fn gone(e: Error) -> Error {
    const OP: &str = "call the manager";
    match e {
        Error::Closed | Error::Truncated { .. } => Error::ManagerGone { op: OP },
        Error::Io { source, .. } if tcp::unreachable(&source) => {
            Error::ManagerUnreachable { op: OP, source }
        }
        Error::Io { ref source, .. }
            if matches!(
                source.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ) =>
        {
            Error::ManagerGone { op: OP }
        }
        e => e,
    }
}

/// What a method call returned.
#[derive(Debug)]
pub enum Reply {
    /// `'#RETURN'`.
    Value(Value),
    /// `'#PROXY'`: `(exposed, token)` of a new object.
    Proxy(Vec<String>, Token),
}

/// Sends a request and reads its reply, giving up after `within` with
/// [`Error::ManagerNoReply`] (the connection is then out of step).
fn call_raw(
    c: &mut PyConnection<Stream>,
    id: Value,
    method: &str,
    args: Vec<Value>,
    kwds: Vec<(Value, Value)>,
    within: Option<Duration>,
) -> Result<Reply> {
    interpret(exchange(c, id, method, args, kwds, within)?)
}

/// Sends a request and reads its reply frame whole, unpickled. `Ok` is
/// the only outcome after which the connection is still in step: on any
/// error (a reply that never came, one over the size limit whose body
/// was left unread, a transport failure, a pickle that could not be read)
/// it must be closed.
fn exchange(
    c: &mut PyConnection<Stream>,
    id: Value,
    method: &str,
    args: Vec<Value>,
    kwds: Vec<(Value, Value)>,
    within: Option<Duration>,
) -> Result<Value> {
    let req = Value::Tuple(vec![
        id,
        Value::str(method),
        Value::Tuple(args),
        Value::Dict(kwds),
    ]);
    let reply = match within {
        None => {
            c.send(&req).map_err(gone)?;
            c.recv().map_err(gone)?
        }
        Some(within) => {
            let no_reply = |e| match e {
                Error::Timeout { .. } => Error::ManagerNoReply {
                    call: format!("{method}()"),
                    waited: within,
                },
                e => gone(e),
            };
            // A bound too far away to represent is no bound.
            match std::time::Instant::now().checked_add(within) {
                Some(deadline) => {
                    c.send_by(&req, deadline).map_err(no_reply)?;
                    c.recv_by(deadline).map_err(no_reply)?
                }
                None => {
                    c.send(&req).map_err(gone)?;
                    c.recv().map_err(gone)?
                }
            }
        }
    };
    Ok(reply)
}

/// A reply, read whole: its value, or the server's exception.
fn interpret(reply: Value) -> Result<Reply> {
    let Value::Tuple(mut kr) = reply else {
        return Err(Error::Decode("reply is not a (kind, result) tuple".into()));
    };
    if kr.len() != 2 {
        return Err(Error::Decode("reply is not a (kind, result) tuple".into()));
    }
    let result = kr.pop().expect("two items");
    let kind = kr.pop().expect("two items");
    match kind.as_str() {
        Some("#RETURN") => Ok(Reply::Value(result)),
        Some("#PROXY") => {
            let (exposed, token) = match &result {
                Value::Tuple(p) if p.len() == 2 => (exposed_of(&p[0])?, Token::from_value(&p[1])?),
                _ => return Err(Error::Decode("malformed #PROXY reply".into())),
            };
            Ok(Reply::Proxy(exposed, token))
        }
        Some(k) => Err(reply_error(k, result)),
        None => Err(Error::Decode("reply kind is not a str".into())),
    }
}

fn dispatch(
    c: &mut PyConnection<Stream>,
    id: Value,
    method: &str,
    args: Vec<Value>,
    kwds: Vec<(Value, Value)>,
    within: Option<Duration>,
) -> Result<Value> {
    match call_raw(c, id, method, args, kwds, within)? {
        Reply::Value(v) => Ok(v),
        Reply::Proxy(..) => Err(Error::Decode(
            "unexpected #PROXY reply to a public call".into(),
        )),
    }
}

fn exposed_of(v: &Value) -> Result<Vec<String>> {
    let items = v
        .as_seq()
        .ok_or_else(|| Error::Decode("exposed is not a sequence".into()))?;
    items
        .iter()
        .map(|m| {
            m.as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::Decode("method name not a str".into()))
        })
        .collect()
}

/// A connection to a CPython-protocol manager server
/// (`BaseManager(address, authkey).connect()`).
///
/// ```no_run
/// use forklore::pyproto::{PyAddress, PyManager};
/// let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), 5000), b"secret").unwrap();
/// let tasks = m.named_queue::<i64>("get_task_queue").unwrap();
/// tasks.put(&7).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct PyManager {
    inner: Arc<Inner>,
}

impl PyManager {
    /// Connects and checks the key (CPython's `connect()` sends `dummy`).
    ///
    /// # Errors
    /// [`Error::AuthenticationFailed`] for a wrong key,
    /// [`Error::ManagerGone`] when nothing listens there.
    pub fn connect(address: PyAddress, authkey: &[u8]) -> Result<PyManager> {
        Self::connect_options(address, authkey, ConnectOptions::default())
    }

    /// [`connect`](Self::connect) with handshake options.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_with(address: PyAddress, authkey: &[u8], opts: Handshake) -> Result<PyManager> {
        Self::connect_options(
            address,
            authkey,
            ConnectOptions {
                handshake: opts,
                ..ConnectOptions::default()
            },
        )
    }

    /// [`connect`](Self::connect) with options: the handshake's, and a
    /// bound on how long calls the server answers at once wait for their
    /// reply (see [`ConnectOptions`]).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use forklore::pyproto::{client::ConnectOptions, PyAddress, PyManager};
    /// let opts = ConnectOptions {
    ///     reply_timeout: Some(Duration::from_secs(10)),
    ///     ..ConnectOptions::default()
    /// };
    /// let m = PyManager::connect_options(PyAddress::Tcp("10.0.0.1".into(), 5000), b"k", opts)?;
    /// # Ok::<(), forklore::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`connect`](Self::connect); [`Error::ManagerNoReply`] when the
    /// server does not answer within the reply timeout.
    pub fn connect_options(
        address: PyAddress,
        authkey: &[u8],
        opts: ConnectOptions,
    ) -> Result<PyManager> {
        let inner = Arc::new(Inner {
            address,
            authkey: authkey.to_vec(),
            opts,
        });
        inner.public_call("dummy", vec![], vec![])?;
        Ok(PyManager { inner })
    }

    /// `create(typeid, *args, **kwds)`: a new shared object (or, for a name
    /// the server registered with a callable that returns a fixed object,
    /// such as `get_task_queue`, that object).
    ///
    /// # Errors
    /// [`Error::PythonException`] if the server refuses (an unregistered
    /// typeid is a `KeyError` in a `'#TRACEBACK'`), I/O errors as
    /// [`connect`](Self::connect).
    pub fn create(
        &self,
        typeid: &str,
        args: Vec<Value>,
        kwds: Vec<(&str, Value)>,
    ) -> Result<PyProxy> {
        let mut a = vec![Value::str(typeid)];
        a.extend(args);
        let kwds = kwds.into_iter().map(|(k, v)| (Value::str(k), v)).collect();
        let r = self.inner.public_call("create", a, kwds)?;
        let (id, exposed) = match r.as_seq() {
            Some([Value::Str(id), ex]) => (id.clone(), exposed_of(ex)?),
            _ => return Err(Error::Decode(format!("malformed create reply {r:?}"))),
        };
        // The server counted one reference for us in `create`; CPython's
        // proxy increfs and the creator decrefs, which nets to the same.
        let token = Token {
            typeid: typeid.to_owned(),
            address: self.inner.address.to_value(),
            id,
        };
        Ok(PyProxy::adopt(self.inner.clone(), token, exposed))
    }

    /// The server's `number_of_objects`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn number_of_objects(&self) -> Result<i64> {
        let v = self
            .inner
            .public_call("number_of_objects", vec![], vec![])?;
        v.as_i64()
            .ok_or_else(|| Error::Decode("number_of_objects is not an int".into()))
    }

    /// The server's `debug_info` text.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn debug_info(&self) -> Result<String> {
        let v = self.inner.public_call("debug_info", vec![], vec![])?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Decode("debug_info is not a str".into()))
    }

    /// Asks the server to shut down.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn shutdown(&self) -> Result<()> {
        self.inner.public_call("shutdown", vec![], vec![]).map(drop)
    }
}

fn usize_value(n: usize) -> Value {
    i64::try_from(n).map(Value::Int).unwrap_or(Value::BigInt(
        (n as u64)
            .to_le_bytes()
            .iter()
            .copied()
            .chain([0])
            .collect(),
    ))
}

fn enc<T: Serialize + ?Sized>(v: &T) -> Result<Value> {
    to_value(v).map_err(|e| Error::Encode(e.0))
}

fn dec<T: DeserializeOwned>(v: Value) -> Result<T> {
    from_value(v).map_err(|e| Error::Decode(e.0))
}

fn timeout_value(t: Duration) -> Value {
    Value::Float(t.as_secs_f64())
}

/// A proxy of any object on a CPython-protocol server: its token, its
/// exposed methods, and a connection of its own.
#[derive(Debug)]
pub struct PyProxy {
    mgr: Arc<Inner>,
    token: Token,
    exposed: Vec<String>,
    /// One connection per process and thread (`accept_connection` done),
    /// as CPython keeps one per thread: a lock is held by a connection, so
    /// each thread is its own caller. Taken out for the length of a call so
    /// that no lock is held across I/O.
    conns: Mutex<Vec<(u32, ThreadId, PyConnection<Stream>)>>,
    /// The process that holds this proxy's reference on the server. A
    /// forked child's copy holds none, so dropping it decrefs nothing.
    owner_pid: AtomicU32,
}

impl PyProxy {
    fn adopt(mgr: Arc<Inner>, token: Token, exposed: Vec<String>) -> PyProxy {
        PyProxy {
            mgr,
            token,
            exposed,
            conns: Mutex::new(Vec::new()),
            owner_pid: AtomicU32::new(std::process::id()),
        }
    }

    /// The object's token.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The methods the server lets this proxy call.
    pub fn exposed(&self) -> &[String] {
        &self.exposed
    }

    fn take_conn(&self) -> Result<PyConnection<Stream>> {
        let pid = std::process::id();
        if self.owner_pid.load(Ordering::Relaxed) != pid {
            // First call in a forked child: take a reference of its own
            // (CPython's BaseProxy._after_fork increfs), so that the object
            // outlives the parent's proxy while the child uses it.
            self.mgr
                .public_call("incref", vec![Value::str(&self.token.id)], vec![])?;
            self.owner_pid.store(pid, Ordering::Relaxed);
        }
        let tid = std::thread::current().id();
        let (mine, inherited) = {
            let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
            // Connections inherited across fork are the parent's streams:
            // closing our copies of the descriptors (after the lock is
            // released) leaves the parent's connections open.
            let inherited: Vec<_> = if conns.iter().any(|(p, _, _)| *p != pid) {
                let (keep, old): (Vec<_>, Vec<_>) = std::mem::take(&mut *conns)
                    .into_iter()
                    .partition(|(p, _, _)| *p == pid);
                *conns = keep;
                old
            } else {
                Vec::new()
            };
            let mine = conns
                .iter()
                .position(|(_, t, _)| *t == tid)
                .map(|i| conns.swap_remove(i).2);
            (mine, inherited)
        };
        drop(inherited);
        if let Some(c) = mine {
            return Ok(c);
        }
        let mut c = self.mgr.open()?;
        let name = format!("forklore-{pid}");
        // The server answers accept_connection at once: part of opening.
        dispatch(
            &mut c,
            Value::None,
            "accept_connection",
            vec![Value::Str(name)],
            vec![],
            Some(
                self.mgr
                    .opts
                    .reply_timeout
                    .unwrap_or(tcp::HANDSHAKE_TIMEOUT),
            ),
        )?;
        Ok(c)
    }

    /// Calls `method(*args, **kwds)` on the referent, as a call the
    /// server answers at once ([`Wait::Quick`]: bounded by the manager's
    /// reply timeout, if one was set). Use [`call_reply_wait`](Self::call_reply_wait)
    /// for a method that blocks on the server.
    ///
    /// # Errors
    /// The server's exception as its [`Error`] variant ([`reply_error`]);
    /// [`Error::ManagerGone`] if the server went away.
    pub fn call_reply(
        &self,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(&str, Value)>,
    ) -> Result<Reply> {
        self.call_reply_wait(method, args, kwds, Wait::Quick)
    }

    /// Calls `method(*args, **kwds)` on the referent, waiting for its
    /// reply as `wait` says.
    ///
    /// # Errors
    /// As [`call_reply`](Self::call_reply); [`Error::ManagerNoReply`] when
    /// no reply came within the bound (the connection is then closed; the
    /// next call opens another).
    pub fn call_reply_wait(
        &self,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(&str, Value)>,
        wait: Wait,
    ) -> Result<Reply> {
        let within = match wait {
            Wait::Quick => self.mgr.opts.reply_timeout,
            Wait::Upto(t) => Some(t.saturating_add(REPLY_GRACE)),
            Wait::Forever => None,
        };
        let mut c = self.take_conn()?;
        let kwds = kwds.into_iter().map(|(k, v)| (Value::str(k), v)).collect();
        let r = exchange(
            &mut c,
            Value::str(&self.token.id),
            method,
            args,
            kwds,
            within,
        );
        // Only a reply read whole leaves the connection in step. After a
        // transport failure, a reply that never came, or one that was not
        // read whole (over the size limit: its body is still in the
        // stream, and the next call would take it for its own reply), the
        // connection is closed.
        if r.is_ok() {
            let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
            conns.push((std::process::id(), std::thread::current().id(), c));
        }
        interpret(r?)
    }

    /// [`call_reply`](Self::call_reply) for a method that returns a value.
    ///
    /// # Errors
    /// As [`call_reply`](Self::call_reply); [`Error::Decode`] for a
    /// `'#PROXY'` reply.
    pub fn call(&self, method: &str, args: Vec<Value>) -> Result<Value> {
        self.call_wait(method, args, Wait::Quick)
    }

    /// [`call_reply_wait`](Self::call_reply_wait) for a method that
    /// returns a value.
    ///
    /// # Errors
    /// As [`call_reply_wait`](Self::call_reply_wait); [`Error::Decode`]
    /// for a `'#PROXY'` reply.
    pub fn call_wait(&self, method: &str, args: Vec<Value>, wait: Wait) -> Result<Value> {
        match self.call_reply_wait(method, args, vec![], wait)? {
            Reply::Value(v) => Ok(v),
            Reply::Proxy(..) => Err(Error::Decode(format!("{method} returned a proxy"))),
        }
    }

    fn call_as<T: DeserializeOwned>(&self, method: &str, args: Vec<Value>) -> Result<T> {
        dec(self.call(method, args)?)
    }

    fn call_as_wait<T: DeserializeOwned>(
        &self,
        method: &str,
        args: Vec<Value>,
        wait: Wait,
    ) -> Result<T> {
        dec(self.call_wait(method, args, wait)?)
    }
}

impl Drop for PyProxy {
    fn drop(&mut self) {
        // A forked child's bitwise copy never counted a reference: only the
        // owning process gives its reference back.
        if std::process::id() != self.owner_pid.load(Ordering::Relaxed) {
            return;
        }
        // BaseProxy._decref: a fresh connection; failures ignored (the
        // server may be gone).
        let _ = self
            .mgr
            .public_call("decref", vec![Value::str(&self.token.id)], vec![]);
    }
}

mod proxies;

pub use proxies::{
    AcquirerProxy, ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, ListProxy,
    NamespaceProxy, QueueProxy, ValueProxy,
};
