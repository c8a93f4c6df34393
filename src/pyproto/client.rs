//! A forklore client of a CPython manager server (`BaseManager`,
//! `SyncManager`, or a forklore server speaking CPython's protocol).
//!
//! It does what CPython's `BaseManager.connect`, `_create` and `BaseProxy`
//! do, message for message: each public call (`create`, `incref`,
//! `decref`, `dummy`, ...) goes over a fresh authenticated connection, and
//! each proxy opens one long-lived connection per process with
//! `accept_connection` on its first method call.

use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
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

/// Where a CPython manager listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyAddress {
    /// A TCP `(host, port)`.
    Tcp(String, u16),
    /// A Unix socket path (CPython's default family on Linux).
    Unix(PathBuf),
}

impl PyAddress {
    /// The address as CPython pickles it inside a `Token`.
    pub fn to_value(&self) -> Value {
        match self {
            PyAddress::Tcp(h, p) => Value::Tuple(vec![Value::str(h), Value::Int(i64::from(*p))]),
            PyAddress::Unix(p) => Value::Str(p.to_string_lossy().into_owned()),
        }
    }
}

/// A connected stream of either family.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix.
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(b),
            Stream::Unix(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(b),
            Stream::Unix(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// CPython's `multiprocessing.managers.Token`: which object, of which
/// registered type, on which server.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The registered type id (`"Queue"`, `"get_task_queue"`).
    pub typeid: String,
    /// The server's address as CPython pickles it.
    pub address: Value,
    /// The object's id on the server (a hex string on CPython).
    pub id: String,
}

impl Token {
    /// The pickled form: `Token.__new__(Token)` then
    /// `__setstate__((typeid, address, id))`.
    pub fn to_value(&self) -> Value {
        Value::Object(Box::new(Object {
            class: Global::new("multiprocessing.managers", "Token"),
            build: Build::NewObj,
            args: vec![],
            state: Some(Value::Tuple(vec![
                Value::str(&self.typeid),
                self.address.clone(),
                Value::str(&self.id),
            ])),
            items: vec![],
            dict_items: vec![],
        }))
    }

    /// Reads a pickled `Token`.
    ///
    /// # Errors
    /// [`Error::Decode`] if `v` is not one.
    pub fn from_value(v: &Value) -> Result<Token> {
        let bad = || Error::Decode(format!("expected a multiprocessing Token, got {v:?}"));
        let Value::Object(o) = v else {
            return Err(bad());
        };
        if !o.class.is("multiprocessing.managers", "Token") {
            return Err(bad());
        }
        let Some(Value::Tuple(st)) = &o.state else {
            return Err(bad());
        };
        match st.as_slice() {
            [Value::Str(t), a, Value::Str(id)] => Ok(Token {
                typeid: t.clone(),
                address: a.clone(),
                id: id.clone(),
            }),
            _ => Err(bad()),
        }
    }
}

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
    opts: Handshake,
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
                    match TcpStream::connect(a) {
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
                        Stream::Tcp(t)
                    }
                    None => return Err(connect_error(last)),
                }
            }
            PyAddress::Unix(p) => {
                Stream::Unix(UnixStream::connect(p).map_err(|e| connect_error(Some(e)))?)
            }
        };
        let mut c = PyConnection::new(stream);
        c.client_handshake(&self.authkey, self.opts)?;
        Ok(c)
    }

    /// `dispatch(conn, None, name, args, kwds)` over a fresh connection.
    fn public_call(
        &self,
        name: &str,
        args: Vec<Value>,
        kwds: Vec<(Value, Value)>,
    ) -> Result<Value> {
        let mut c = self.open()?;
        dispatch(&mut c, Value::None, name, args, kwds)
    }
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

fn gone(e: Error) -> Error {
    match e {
        Error::Closed | Error::Truncated { .. } => Error::ManagerGone {
            op: "call the manager",
        },
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

fn call_raw(
    c: &mut PyConnection<Stream>,
    id: Value,
    method: &str,
    args: Vec<Value>,
    kwds: Vec<(Value, Value)>,
) -> Result<Reply> {
    let req = Value::Tuple(vec![
        id,
        Value::str(method),
        Value::Tuple(args),
        Value::Dict(kwds),
    ]);
    c.send(&req).map_err(gone)?;
    let reply = c.recv().map_err(gone)?;
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
) -> Result<Value> {
    match call_raw(c, id, method, args, kwds)? {
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
        Self::connect_with(address, authkey, Handshake::default())
    }

    /// [`connect`](Self::connect) with handshake options.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_with(address: PyAddress, authkey: &[u8], opts: Handshake) -> Result<PyManager> {
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

    /// A named queue the server registered (`get_task_queue`).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn named_queue<T>(&self, name: &str) -> Result<QueueProxy<T>> {
        Ok(QueueProxy(self.create(name, vec![], vec![])?, PhantomData))
    }
    /// `manager.Queue(maxsize)` (0: unbounded).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>> {
        let args = if maxsize == 0 {
            vec![]
        } else {
            vec![usize_value(maxsize)]
        };
        Ok(QueueProxy(self.create("Queue", args, vec![])?, PhantomData))
    }
    /// `manager.list(items)`.
    ///
    /// # Errors
    /// As [`create`](Self::create); [`Error::Encode`] for items serde cannot convert.
    pub fn list<T: Serialize>(&self, items: &[T]) -> Result<ListProxy<T>> {
        Ok(ListProxy(
            self.create("list", vec![enc(items)?], vec![])?,
            PhantomData,
        ))
    }
    /// `manager.dict()`.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>> {
        Ok(DictProxy(self.create("dict", vec![], vec![])?, PhantomData))
    }
    /// `manager.Value(typecode, value)`.
    ///
    /// # Errors
    /// As [`list`](Self::list).
    pub fn value<T: Serialize>(&self, typecode: &str, v: &T) -> Result<ValueProxy<T>> {
        Ok(ValueProxy(
            self.create("Value", vec![Value::str(typecode), enc(v)?], vec![])?,
            PhantomData,
        ))
    }
    /// `manager.Event()`.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn event(&self) -> Result<EventProxy> {
        Ok(EventProxy(self.create("Event", vec![], vec![])?))
    }
    /// `manager.Lock()`, `RLock()`, `Semaphore(n)`, `BoundedSemaphore(n)`:
    /// `typeid` and its arguments.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn acquirer(&self, typeid: &str, args: Vec<Value>) -> Result<AcquirerProxy> {
        Ok(AcquirerProxy(self.create(typeid, args, vec![])?))
    }
    /// `manager.Namespace()`.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn namespace(&self) -> Result<NamespaceProxy> {
        Ok(NamespaceProxy(self.create("Namespace", vec![], vec![])?))
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
        dispatch(
            &mut c,
            Value::None,
            "accept_connection",
            vec![Value::Str(name)],
            vec![],
        )?;
        Ok(c)
    }

    /// Calls `method(*args, **kwds)` on the referent.
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
        let mut c = self.take_conn()?;
        let kwds = kwds.into_iter().map(|(k, v)| (Value::str(k), v)).collect();
        let r = call_raw(&mut c, Value::str(&self.token.id), method, args, kwds);
        let keep = match &r {
            Ok(_) => true,
            Err(e) => !matches!(
                e,
                Error::ManagerGone { .. } | Error::Decode(_) | Error::Io { .. }
            ),
        };
        if keep {
            let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
            conns.push((std::process::id(), std::thread::current().id(), c));
        }
        r
    }

    /// [`call_reply`](Self::call_reply) for a method that returns a value.
    ///
    /// # Errors
    /// As [`call_reply`](Self::call_reply); [`Error::Decode`] for a
    /// `'#PROXY'` reply.
    pub fn call(&self, method: &str, args: Vec<Value>) -> Result<Value> {
        match self.call_reply(method, args, vec![])? {
            Reply::Value(v) => Ok(v),
            Reply::Proxy(..) => Err(Error::Decode(format!("{method} returned a proxy"))),
        }
    }

    fn call_as<T: DeserializeOwned>(&self, method: &str, args: Vec<Value>) -> Result<T> {
        dec(self.call(method, args)?)
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

/// A queue on a CPython-protocol server (`queue.Queue` behind an `AutoProxy`).
#[derive(Debug)]
pub struct QueueProxy<T>(pub PyProxy, PhantomData<fn(T) -> T>);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// `put(item)`.
    ///
    /// # Errors
    /// [`Error::QueueFull`] never (blocks); I/O as [`PyProxy::call`].
    pub fn put(&self, item: &T) -> Result<()> {
        self.0.call("put", vec![enc(item)?]).map(drop)
    }
    /// `put(item, True, timeout)`.
    ///
    /// # Errors
    /// [`Error::QueueFull`] after the timeout.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<()> {
        self.0
            .call(
                "put",
                vec![enc(item)?, Value::Bool(true), timeout_value(timeout)],
            )
            .map(drop)
    }
    /// `put_nowait(item)`.
    ///
    /// # Errors
    /// [`Error::QueueFull`] at once when full.
    pub fn put_nowait(&self, item: &T) -> Result<()> {
        self.0.call("put_nowait", vec![enc(item)?]).map(drop)
    }
    /// `get()`, blocking.
    ///
    /// # Errors
    /// [`Error::Decode`] for an item that is not a `T`.
    pub fn get(&self) -> Result<T> {
        self.0.call_as("get", vec![])
    }
    /// `get(True, timeout)`.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] after the timeout.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.0
            .call_as("get", vec![Value::Bool(true), timeout_value(timeout)])
    }
    /// `get_nowait()`.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] at once when empty.
    pub fn get_nowait(&self) -> Result<T> {
        self.0.call_as("get_nowait", vec![])
    }
    /// `qsize()`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn qsize(&self) -> Result<usize> {
        self.0.call_as("qsize", vec![])
    }
    /// `task_done()`.
    ///
    /// # Errors
    /// [`Error::PythonException`] (`ValueError`) when called too often.
    pub fn task_done(&self) -> Result<()> {
        self.0.call("task_done", vec![]).map(drop)
    }
}

/// A list on a CPython-protocol server.
#[derive(Debug)]
pub struct ListProxy<T>(pub PyProxy, PhantomData<fn(T) -> T>);

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// `append(x)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn append(&self, x: &T) -> Result<()> {
        self.0.call("append", vec![enc(x)?]).map(drop)
    }
    /// `extend(items)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn extend(&self, items: &[T]) -> Result<()> {
        self.0.call("extend", vec![enc(items)?]).map(drop)
    }
    /// `len(l)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn len(&self) -> Result<usize> {
        self.0.call_as("__len__", vec![])
    }
    /// Whether the list is empty.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// `l[i]` (negative counts from the end).
    ///
    /// # Errors
    /// [`Error::PythonException`] (`builtins.IndexError`) out of range.
    pub fn get(&self, i: i64) -> Result<T> {
        self.0.call_as("__getitem__", vec![Value::Int(i)])
    }
    /// `l[i] = x`.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn set(&self, i: i64, x: &T) -> Result<()> {
        self.0
            .call("__setitem__", vec![Value::Int(i), enc(x)?])
            .map(drop)
    }
    /// `pop()`.
    ///
    /// # Errors
    /// `IndexError` on an empty list.
    pub fn pop(&self) -> Result<T> {
        self.0.call_as("pop", vec![])
    }
    /// `remove(x)`.
    ///
    /// # Errors
    /// `ValueError` when absent.
    pub fn remove(&self, x: &T) -> Result<()> {
        self.0.call("remove", vec![enc(x)?]).map(drop)
    }
    /// `index(x)`.
    ///
    /// # Errors
    /// `ValueError` when absent.
    pub fn index(&self, x: &T) -> Result<usize> {
        self.0.call_as("index", vec![enc(x)?])
    }
    /// `count(x)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn count(&self, x: &T) -> Result<usize> {
        self.0.call_as("count", vec![enc(x)?])
    }
    /// `x in l`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn contains(&self, x: &T) -> Result<bool> {
        self.0.call_as("__contains__", vec![enc(x)?])
    }
    /// A copy of the whole list (`l._getvalue()`).
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.0.call_as("#GETVALUE", vec![])
    }
}

/// A dict on a CPython-protocol server.
#[derive(Debug)]
pub struct DictProxy<K, V>(pub PyProxy, PhantomData<KeyValue<K, V>>);

type KeyValue<K, V> = fn(K, V) -> (K, V);

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// `d[k] = v`.
    ///
    /// # Errors
    /// `TypeError` for an unhashable key.
    pub fn insert(&self, k: &K, v: &V) -> Result<()> {
        self.0.call("__setitem__", vec![enc(k)?, enc(v)?]).map(drop)
    }
    /// `d[k]`.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when absent.
    pub fn get(&self, k: &K) -> Result<V> {
        self.0.call_as("__getitem__", vec![enc(k)?])
    }
    /// `d.get(k)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn get_opt(&self, k: &K) -> Result<Option<V>> {
        self.0.call_as("get", vec![enc(k)?])
    }
    /// `del d[k]`.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when absent.
    pub fn remove(&self, k: &K) -> Result<()> {
        self.0.call("__delitem__", vec![enc(k)?]).map(drop)
    }
    /// `len(d)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn len(&self) -> Result<usize> {
        self.0.call_as("__len__", vec![])
    }
    /// Whether the dict is empty.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// `k in d`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn contains_key(&self, k: &K) -> Result<bool> {
        self.0.call_as("__contains__", vec![enc(k)?])
    }
    /// A copy of the items, in insertion order (`d.copy()`).
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        match self.0.call("copy", vec![])? {
            Value::Dict(items) => items
                .into_iter()
                .map(|(k, v)| Ok((dec(k)?, dec(v)?)))
                .collect(),
            other => Err(Error::Decode(format!(
                "copy() returned a {}",
                other.type_name()
            ))),
        }
    }
}

/// A `Value` on a CPython-protocol server.
#[derive(Debug)]
pub struct ValueProxy<T>(pub PyProxy, PhantomData<fn(T) -> T>);

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// `v.value`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn get(&self) -> Result<T> {
        self.0.call_as("get", vec![])
    }
    /// `v.value = x`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn set(&self, x: &T) -> Result<()> {
        self.0.call("set", vec![enc(x)?]).map(drop)
    }
}

/// An `Event` on a CPython-protocol server.
#[derive(Debug)]
pub struct EventProxy(pub PyProxy);

impl EventProxy {
    /// `set()`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn set(&self) -> Result<()> {
        self.0.call("set", vec![]).map(drop)
    }
    /// `clear()`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn clear(&self) -> Result<()> {
        self.0.call("clear", vec![]).map(drop)
    }
    /// `is_set()`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn is_set(&self) -> Result<bool> {
        self.0.call_as("is_set", vec![])
    }
    /// `wait(timeout)`: whether the flag was set.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        self.0
            .call_as("wait", vec![timeout.map_or(Value::None, timeout_value)])
    }
}

/// A `Lock`, `RLock`, `Semaphore` or `BoundedSemaphore` on a
/// CPython-protocol server.
#[derive(Debug)]
pub struct AcquirerProxy(pub PyProxy);

impl AcquirerProxy {
    /// `acquire(blocking, timeout)`: whether it was acquired.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        let mut args = vec![Value::Bool(blocking)];
        if let Some(t) = timeout {
            args.push(timeout_value(t));
        }
        self.0.call_as("acquire", args)
    }
    /// `release()`.
    ///
    /// # Errors
    /// `RuntimeError`/`ValueError` as [`Error::PythonException`] when not held.
    pub fn release(&self) -> Result<()> {
        self.0.call("release", vec![]).map(drop)
    }
}

/// A `Namespace` on a CPython-protocol server.
#[derive(Debug)]
pub struct NamespaceProxy(pub PyProxy);

impl NamespaceProxy {
    /// `ns.name`.
    ///
    /// # Errors
    /// `AttributeError` as [`Error::PythonException`] when unset.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        self.0.call_as("__getattribute__", vec![Value::str(name)])
    }
    /// `ns.name = x`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn set<T: Serialize>(&self, name: &str, x: &T) -> Result<()> {
        self.0
            .call("__setattr__", vec![Value::str(name), enc(x)?])
            .map(drop)
    }
}

/// A `Condition` on a CPython-protocol server.
#[derive(Debug)]
pub struct ConditionProxy(pub PyProxy);

impl ConditionProxy {
    /// `acquire(blocking, timeout)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        let mut args = vec![Value::Bool(blocking)];
        if let Some(t) = timeout {
            args.push(timeout_value(t));
        }
        self.0.call_as("acquire", args)
    }
    /// `release()`.
    ///
    /// # Errors
    /// `RuntimeError` as [`Error::PythonException`] when not held by this
    /// connection.
    pub fn release(&self) -> Result<()> {
        self.0.call("release", vec![]).map(drop)
    }
    /// `wait(timeout)`: false on timeout.
    ///
    /// # Errors
    /// `RuntimeError` when the lock is not held by this connection.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        self.0
            .call_as("wait", vec![timeout.map_or(Value::None, timeout_value)])
    }
    /// `notify(n)`.
    ///
    /// # Errors
    /// `RuntimeError` when the lock is not held by this connection.
    pub fn notify(&self, n: usize) -> Result<()> {
        self.0.call("notify", vec![usize_value(n)]).map(drop)
    }
    /// `notify_all()`.
    ///
    /// # Errors
    /// As [`notify`](Self::notify).
    pub fn notify_all(&self) -> Result<()> {
        self.0.call("notify_all", vec![]).map(drop)
    }
}

/// A `Barrier` on a CPython-protocol server.
#[derive(Debug)]
pub struct BarrierProxy(pub PyProxy);

impl BarrierProxy {
    /// `wait(timeout)`: this party's index.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] on timeout, abort or reset.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<usize> {
        self.0
            .call_as("wait", vec![timeout.map_or(Value::None, timeout_value)])
    }
    /// `abort()`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn abort(&self) -> Result<()> {
        self.0.call("abort", vec![]).map(drop)
    }
    /// `reset()`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn reset(&self) -> Result<()> {
        self.0.call("reset", vec![]).map(drop)
    }
    /// `parties`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn parties(&self) -> Result<usize> {
        self.0
            .call_as("__getattribute__", vec![Value::str("parties")])
    }
    /// `broken`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn broken(&self) -> Result<bool> {
        self.0
            .call_as("__getattribute__", vec![Value::str("broken")])
    }
}

/// An `Array` on a CPython-protocol server.
#[derive(Debug)]
pub struct ArrayProxy<T>(pub PyProxy, PhantomData<fn(T) -> T>);

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    /// `len(a)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn len(&self) -> Result<usize> {
        self.0.call_as("__len__", vec![])
    }
    /// Whether the array is empty.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// `a[i]`.
    ///
    /// # Errors
    /// `IndexError` as [`Error::PythonException`] out of range.
    pub fn get(&self, i: i64) -> Result<T> {
        self.0.call_as("__getitem__", vec![Value::Int(i)])
    }
    /// `a[i] = x`.
    ///
    /// # Errors
    /// As [`get`](Self::get); `TypeError`/`OverflowError` for a value the
    /// array's typecode does not hold (on a CPython server).
    pub fn set(&self, i: i64, x: &T) -> Result<()> {
        self.0
            .call("__setitem__", vec![Value::Int(i), enc(x)?])
            .map(drop)
    }
    /// `a[:]`, the whole array.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let all = Value::Object(Box::new(Object {
            class: Global::new("builtins", "slice"),
            build: Build::Reduce,
            args: vec![Value::None, Value::None, Value::None],
            state: None,
            items: vec![],
            dict_items: vec![],
        }));
        match self.0.call("__getitem__", vec![all])? {
            // CPython's server sends an array.array slice as
            // `array.array(typecode, machine_bytes)`; forklore's as a list.
            Value::Object(o) if o.class.is("array", "array") => match o.args.as_slice() {
                [Value::Str(tc), Value::Bytes(b)] => dec(Value::List(array_items(tc, b)?)),
                [_, items] => dec(items.clone()),
                _ => Err(Error::Decode("malformed array.array".into())),
            },
            other => dec(other),
        }
    }
}

/// The items of an `array.array` from its typecode and machine bytes
/// (little-endian, the sizes of CPython on 64-bit Linux).
fn array_items(typecode: &str, b: &[u8]) -> Result<Vec<Value>> {
    let (size, float, signed) = match typecode {
        "b" => (1, false, true),
        "B" => (1, false, false),
        "h" => (2, false, true),
        "H" => (2, false, false),
        "i" => (4, false, true),
        "I" => (4, false, false),
        "l" | "q" => (8, false, true),
        "L" | "Q" => (8, false, false),
        "f" => (4, true, true),
        "d" => (8, true, true),
        other => {
            return Err(Error::Decode(format!(
                "array typecode {other:?} is not supported"
            )))
        }
    };
    if !b.len().is_multiple_of(size) {
        return Err(Error::Decode(
            "array bytes are not a whole number of items".into(),
        ));
    }
    Ok(b.chunks_exact(size)
        .map(|c| {
            let mut raw = [0u8; 8];
            raw[..size].copy_from_slice(c);
            if float {
                if size == 4 {
                    Value::Float(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                } else {
                    Value::Float(f64::from_le_bytes(raw))
                }
            } else if signed {
                let shift = 64 - 8 * size as u32;
                Value::Int(i64::from_le_bytes(raw) << shift >> shift)
            } else {
                let u = u64::from_le_bytes(raw);
                i64::try_from(u).map_or_else(|_| usize_value_u64(u), Value::Int)
            }
        })
        .collect())
}

fn usize_value_u64(u: u64) -> Value {
    let mut b = u.to_le_bytes().to_vec();
    b.push(0);
    Value::BigInt(b)
}

impl PyManager {
    /// `manager.Condition()`.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn condition(&self) -> Result<ConditionProxy> {
        Ok(ConditionProxy(self.create("Condition", vec![], vec![])?))
    }
    /// `manager.Barrier(parties, timeout=timeout)`.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn barrier(&self, parties: usize, timeout: Option<Duration>) -> Result<BarrierProxy> {
        let mut kw = vec![];
        if let Some(t) = timeout {
            kw.push(("timeout", timeout_value(t)));
        }
        Ok(BarrierProxy(self.create(
            "Barrier",
            vec![usize_value(parties)],
            kw,
        )?))
    }
    /// `manager.Array(typecode, items)`.
    ///
    /// # Errors
    /// As [`list`](Self::list).
    pub fn array<T: Serialize>(&self, typecode: &str, items: &[T]) -> Result<ArrayProxy<T>> {
        Ok(ArrayProxy(
            self.create("Array", vec![Value::str(typecode), enc(items)?], vec![])?,
            PhantomData,
        ))
    }
}
