//! What travels between a proxy and the manager's server.
//!
//! CPython sends `(id, methodname, args, kwds)` tuples, pickled, and gets back
//! `('#RETURN', value)` or `('#ERROR', exception)`. forklore sends a
//! [`Request`] and gets back a [`Response`], each one postcard frame on a
//! [`Connection`](crate::connection::Connection), after the challenge–response
//! handshake of [`crate::connection`]. Values inside are [`Datum`]s, so the
//! server can compare them.
//!
//! Methods are enums, not strings: a request for a method an object does not
//! have cannot even be written, except by sending it to an object of another
//! type, which the server refuses with [`RemoteError::Refused`].
//!
//! This module is public so that the wire can be read and taught, and so the
//! fault tests can speak it by hand; proxies are the way to use a manager.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::datum::Datum;
use crate::error::Error;

/// The server's name for one shared object.
pub type ObjId = u64;

/// One request from a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Request {
    /// Say who is calling on this connection: a process (a random token
    /// that the process draws once, and its pid) and a thread of it. An
    /// RLock or Condition is owned by this caller, not by the connection,
    /// so a caller that reconnects still holds what it held. The proxies
    /// send it first on every connection; a connection that never sends
    /// it is a caller of its own. Replies [`Reply::Unit`].
    Hello {
        /// A random number drawn once per process (again after `fork`).
        process: u64,
        /// The process's pid (used, on a Unix socket, to notice its death
        /// for robust locks).
        pid: u32,
        /// A number for the calling thread, unique within the process.
        thread: u64,
        /// Whether this is the process's session connection (the one that
        /// holds its references): it takes back the references that a
        /// failed session connection of the same process left behind.
        session: bool,
    },
    /// Create an object. The connection that asks holds one reference to it.
    /// Replies [`Reply::Id`].
    Create(Kind),
    /// Take one more reference to each object, held by this connection
    /// until it sends [`Request::Decref`] or closes. A parent sends this for
    /// its child just before `fork`, and a process whose session connection
    /// failed sends it again on the new one (see the managers module's
    /// docs). Objects that no longer exist are skipped; the first of them
    /// is reported with [`RemoteError::UnknownObject`].
    Adopt(Vec<ObjId>),
    /// Give back one reference this connection holds; the object is freed
    /// when no connection holds one.
    Decref(ObjId),
    /// Call a method of an object.
    Call(ObjId, Method),
    /// How many objects the server holds (Python: `_number_of_objects()`).
    /// Replies [`Reply::Size`].
    ObjectCount,
    /// Stop the server process. Replies [`Reply::Unit`] first.
    Shutdown,
    /// Give an object a name, for clients that connect later (Python:
    /// `BaseManager.register(typeid, callable)`). The server holds its own
    /// reference to a named object, so it lives as long as the server or
    /// until the name is given to another object. Replies [`Reply::Unit`].
    Register(String, ObjId),
    /// Find the object registered as `name` (Python: `manager.get_task_queue()`).
    /// `accept` lists the type names the caller's proxy can speak to
    /// (`"Queue"`, `"dict"`...); an object of another type is refused with
    /// [`RemoteError::Invalid`]. The connection that asks holds one
    /// reference to it, as after [`Request::Create`]. Replies [`Reply::Id`].
    Lookup {
        /// The registered name.
        name: String,
        /// The object types the caller accepts.
        accept: Vec<String>,
    },
}

/// The type of a new object, with its initial content.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Kind {
    /// `manager.list(items)`.
    List(#[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<Datum>),
    /// `manager.dict(pairs)`.
    Dict(#[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<(Datum, Datum)>),
    /// `manager.Queue(maxsize)` (a JoinableQueue); 0 means unbounded.
    Queue {
        /// The most items it holds; 0 for no limit.
        maxsize: u64,
    },
    /// `manager.Event()`.
    Event,
    /// `manager.Lock()`.
    Lock,
    /// A lock that is released, with notice to the next owner, when the
    /// process that holds it dies (POSIX's robust mutex; no CPython
    /// counterpart).
    RobustLock,
    /// `manager.RLock()`.
    RLock,
    /// `manager.Semaphore(value)` or `manager.BoundedSemaphore(value)`.
    Semaphore {
        /// The initial value.
        value: u64,
        /// Whether releasing above `value` is an error.
        bounded: bool,
    },
    /// `manager.Condition()`, with its own reentrant lock.
    Condition,
    /// `manager.Barrier(parties)`.
    Barrier {
        /// How many parties must wait before all are released.
        parties: u64,
    },
    /// `manager.Value(typecode, value)`.
    Value(Datum),
    /// `manager.Array(typecode, items)`: fixed length.
    Array(#[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<Datum>),
    /// `manager.Namespace()`.
    Namespace,
}

/// A Python slice `start:stop:step`, applied with Python's rules (negative
/// indices count from the end, out-of-range bounds are clamped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// First index, or the start (the end for a negative step) when `None`.
    pub start: Option<i64>,
    /// Index to stop before, or the end (the start for a negative step) when `None`.
    pub stop: Option<i64>,
    /// Stride; `None` means 1. Zero is refused.
    pub step: Option<i64>,
}

/// A method call, grouped by the type of object it is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Method {
    /// Methods of lists (and the fixed-length subset of arrays).
    List(ListOp),
    /// Methods of dicts.
    Dict(DictOp),
    /// Methods of queues.
    Queue(QueueOp),
    /// Methods of events.
    Event(EventOp),
    /// Methods of Lock, RLock, Semaphore and BoundedSemaphore.
    Lock(LockOp),
    /// Methods of conditions.
    Condition(ConditionOp),
    /// Methods of barriers.
    Barrier(BarrierOp),
    /// Methods of values.
    Value(ValueOp),
    /// Methods of namespaces.
    Namespace(NamespaceOp),
}

/// List (and array) methods. Indices follow Python: negative counts from the end.
/// Each variant is the method of [`ListProxy`](super::ListProxy) of the same name.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ListOp {
    Append(Datum),
    Extend(#[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<Datum>),
    Insert(i64, Datum),
    Pop(Option<i64>),
    Remove(Datum),
    Index(Datum, Slice),
    Count(Datum),
    Reverse,
    Sort {
        reverse: bool,
    },
    Len,
    Contains(Datum),
    Get(i64),
    Set(i64, Datum),
    Del(i64),
    GetSlice(Slice),
    SetSlice(
        Slice,
        #[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<Datum>,
    ),
    DelSlice(Slice),
    ToVec,
    Clear,
}

/// Dict methods. Keys and values come back in insertion order, as in Python.
/// Each variant is the method of [`DictProxy`](super::DictProxy) of the same name
/// (`Get` is `get_item`, `GetOpt` is `get`, `PopOpt` is `pop_or_none`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DictOp {
    Get(Datum),
    GetOpt(Datum),
    Set(Datum, Datum),
    Del(Datum),
    Contains(Datum),
    Len,
    Clear,
    Items,
    Keys,
    Values,
    Pop(Datum),
    PopOpt(Datum),
    PopItem,
    SetDefault(Datum, Datum),
    Update(#[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<(Datum, Datum)>),
}

/// Queue methods. `timeout: None` with `block: true` waits for ever.
/// Each variant is the method of [`QueueProxy`](super::QueueProxy) of the same name.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum QueueOp {
    Put {
        item: Datum,
        block: bool,
        timeout: Option<Duration>,
    },
    Get {
        block: bool,
        timeout: Option<Duration>,
    },
    Qsize,
    Empty,
    Full,
    TaskDone,
    Join,
}

/// Event methods, as on [`EventProxy`](super::EventProxy).
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventOp {
    Set,
    Clear,
    IsSet,
    Wait(Option<Duration>),
}

/// Lock, RLock and semaphore methods, as on [`LockProxy`](super::LockProxy).
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LockOp {
    Acquire {
        blocking: bool,
        timeout: Option<Duration>,
    },
    Release,
    Locked,
}

/// Condition methods, as on [`ConditionProxy`](super::ConditionProxy).
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConditionOp {
    Acquire {
        blocking: bool,
        timeout: Option<Duration>,
    },
    Release,
    Wait(Option<Duration>),
    Notify(u64),
    NotifyAll,
}

/// Barrier methods, as on [`BarrierProxy`](super::BarrierProxy).
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BarrierOp {
    Wait(Option<Duration>),
    Reset,
    Abort,
    Parties,
    NWaiting,
    Broken,
}

/// Value methods: Python's racy `get`/`set`, and atomic updates done by the
/// server in one step. Each variant is the method of
/// [`ValueProxy`](super::ValueProxy) of the same name.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ValueOp {
    Get,
    Set(Datum),
    Swap(Datum),
    CompareAndSwap {
        current: Datum,
        new: Datum,
    },
    /// Add `delta`; with `range`, refuse a sum outside `min..=max` (the
    /// range of the proxy's integer type), leaving the value unchanged.
    FetchAdd {
        delta: Datum,
        range: Option<(i128, i128)>,
    },
}

/// Namespace methods (attributes by name), as on
/// [`NamespaceProxy`](super::NamespaceProxy); `Items` lists every attribute.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NamespaceOp {
    Get(String),
    Set(String, Datum),
    Del(String),
    Items,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Reply {
    /// Nothing to return.
    Unit,
    /// A yes/no answer (`contains`, `acquire`, `Event::wait`...).
    Bool(bool),
    /// A count or length.
    Size(u64),
    /// One value.
    Datum(Datum),
    /// A value that may be absent (`dict.get(k)`).
    Maybe(Option<Datum>),
    /// Several values.
    Seq(#[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<Datum>),
    /// Key–value pairs.
    Pairs(#[serde(deserialize_with = "crate::managers::datum::de_seq")] Vec<(Datum, Datum)>),
    /// A new object's id.
    Id(ObjId),
    /// A robust lock was acquired; `owner_died` tells that its previous
    /// owner's process died holding it (POSIX's `EOWNERDEAD`).
    Acquired {
        /// The previous owner died holding the lock.
        owner_died: bool,
    },
    /// The outcome of a compare-and-swap: whether it swapped, and the value
    /// that was there before.
    Exchanged {
        /// True when the value was `current` and is now `new`.
        swapped: bool,
        /// The value before the call.
        previous: Datum,
    },
}

/// An error raised inside the server, sent back to the client, which turns
/// it into the [`Error`] variant of the same meaning. None of them closes
/// the connection: the server closes one only when its byte stream can no
/// longer be trusted (a frame header that is no length), and then the
/// client's next call opens a new one.
#[allow(missing_docs)]
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RemoteError {
    IndexOutOfRange {
        index: i64,
        len: u64,
    },
    KeyNotFound(String),
    ValueNotInList(String),
    NoAttribute(String),
    QueueEmpty,
    QueueFull,
    ReleaseUnlocked(String),
    NotOwner(String),
    BrokenBarrier,
    TaskDoneTooManyTimes,
    /// No object has this id (it was freed, or never existed).
    UnknownObject(ObjId),
    /// The request was refused as a whole: it did not decode (a value
    /// nested too deeply, a frame over the limit, bytes that are no
    /// request), it would decode to too much memory, its reply would be
    /// too big to send, or it named a method of another type of object.
    /// Nothing changed on the server.
    Refused(String),
    /// A request the object could not carry out (a zero slice step, an
    /// extended slice assigned a sequence of another size, `fetch_add` on a
    /// value that is not a number, or past the range of its type).
    Invalid(String),
    /// No object is registered under this name.
    NotRegistered(String),
    /// The server panicked while handling this request (a bug in
    /// forklore): the connection's state was cleaned up and it stays open.
    Panicked(String),
}

impl From<RemoteError> for Error {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::IndexOutOfRange { index, len } => Error::IndexOutOfRange {
                index,
                len: len as usize,
            },
            RemoteError::KeyNotFound(key) => Error::KeyNotFound { key },
            RemoteError::ValueNotInList(value) => Error::ValueNotInList { value },
            RemoteError::NoAttribute(name) => Error::NoAttribute { name },
            RemoteError::QueueEmpty => Error::QueueEmpty,
            RemoteError::QueueFull => Error::QueueFull,
            RemoteError::ReleaseUnlocked(what) => Error::ReleaseUnlocked { what },
            RemoteError::NotOwner(op) => Error::NotOwner { op },
            RemoteError::BrokenBarrier => Error::BrokenBarrier,
            RemoteError::TaskDoneTooManyTimes => Error::TaskDoneTooManyTimes,
            RemoteError::UnknownObject(id) => Error::UnknownObject { id },
            RemoteError::Refused(m) | RemoteError::Invalid(m) => Error::ManagerRequest(m),
            RemoteError::NotRegistered(name) => Error::NotRegistered { name },
            RemoteError::Panicked(message) => Error::ManagerPanicked { message },
        }
    }
}

/// What the server sends back for each [`Request`].
pub type Response = Result<Reply, RemoteError>;

/// The wire enums are `#[non_exhaustive]`: a new request or reply is not a
/// breaking change, so a user's `match` needs a wildcard arm. This must not
/// compile:
///
/// ```compile_fail,E0004
/// use forklore::managers::protocol::EventOp;
/// fn name(op: &EventOp) -> &'static str {
///     match op {
///         EventOp::Set => "set",
///         EventOp::Clear => "clear",
///         EventOp::IsSet => "is_set",
///         EventOp::Wait(_) => "wait",
///     }
/// }
/// ```
#[cfg(doctest)]
pub struct WireEnumsAreNonExhaustive;
