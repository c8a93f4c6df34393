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
//!
//! # Bulk frames
//! A message whose last field is a string, a byte string or a packed run
//! ([`Datum::Ints`], [`Datum::Floats`]) of 64 KiB or more — a reply of one
//! value (`d[k]`, `li[:]` of a packed list), a list's `append` or
//! `extend`, a dict's `d[k] = v`, a value's `set` — is the same postcard
//! frame on the wire, but it is written with one vectored `writev` (the
//! header, a few bytes of head, then the value's bytes where they lie)
//! instead of being copied into a frame first. The client reads such a
//! reply, and the server such an `extend` or `d[k] = v` of bytes or of a
//! run, straight into the value's own buffer: the bytes are copied by the
//! kernel only. A head that does not
//! describe the rest of its frame exactly is not trusted: the frame is
//! then read and decoded as any other, within the decoder's memory bound.
//! The server keeps a dict's large values and a packed list's run shared,
//! so that `d[k]` and `li[:]` send the stored bytes without copying them
//! (a change while a reply still holds a run copies it first). Manager connections over Unix
//! sockets ask for 4 MiB socket buffers (`SO_SNDBUF`, `SO_RCVBUF`; a limit,
//! not an allocation, capped by `net.core.wmem_max`), so that 16 MiB cross
//! in a few steps rather than eighty.
//!
//! A connection over a Unix socket that moves a bulk value asks for an
//! arena ([`Request::Arena`]) before its first bulk request or after its
//! first bulk reply; from then on its bulk values of up to 32 MiB cross
//! through shared memory beside the socket, copied once each side (see
//! [`connection`](crate::connection), "Shared memory for bulk frames"). The
//! frames are the same postcard encoding, cut in the same place: only
//! where the value's bytes travel changes.

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
    /// Ask for an arena: shared memory beside this connection that carries
    /// its bulk frames from then on, one lane each way (see
    /// [`Connection`](crate::connection::Connection)'s "Shared memory for
    /// bulk frames"). On a Unix socket the reply, [`Reply::Unit`], brings
    /// the arena's descriptor with `SCM_RIGHTS`; the client must read it
    /// with `recvmsg`, or the descriptor is lost and the server's bulk
    /// replies unreadable. Over TCP, or a second time, the reply comes
    /// alone and nothing changes. The proxies ask on a connection's first
    /// bulk request, or after its first bulk reply.
    Arena,
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
    /// `manager.Condition(lock)`: a condition on the `Lock` or `RLock`
    /// object of this id, which several conditions may share.
    ConditionOn(ObjId),
    /// `manager.Barrier(parties, timeout=timeout)`.
    Barrier {
        /// How many parties must wait before all are released.
        parties: u64,
        /// The timeout of a `wait` that gives none (Python's default
        /// timeout); `None` waits for ever.
        timeout: Option<Duration>,
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
    /// The items as one sequence-like value: a packed run when they allow it.
    Extend(Datum),
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
    /// `li *= n` (Python's `__imul__`): repeat in one step; `n <= 0` empties
    /// the list.
    IMul(i64),
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
    /// The key after the entry `after` (insertion sequence number; `None`:
    /// the first), if the dict still has `len` entries: the step of a live
    /// iterator. Replies `Pairs` with one `(sequence number, key)`, or none
    /// at the end; `ChangedDuringIteration` if the size changed.
    IterNext {
        after: Option<u64>,
        len: u64,
    },
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
    /// The object changed size during an iteration (`DictOp::IterNext`).
    ChangedDuringIteration(String),
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
            RemoteError::ChangedDuringIteration(what) => Error::ChangedDuringIteration { what },
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

// ---------------------------------------------------------------------------
// Bulk frames: a value of many bytes moves without being copied into a
// frame, and lands in its final buffer.
// ---------------------------------------------------------------------------

/// A frame that ends with a string, byte string or packed run at least
/// this long is written with one vectored write (header, head, the value's
/// bytes where they lie) and, for the shapes that [`recv_response`] and
/// [`recv_request`] know, read straight into the value's own buffer.
/// Below it, copying the value into the frame costs less than a `writev`.
pub(crate) const BULK_MIN: usize = 64 << 10;

/// The most bytes a bulk frame's head takes before its value's bytes:
/// a few enum indices, an object id and a length (varints of at most 10
/// bytes each).
const HEAD_MAX: usize = 32;

use super::datum::BulkKind;

/// A frame cut in two: `head` (encoded here), then the bulk value's bytes,
/// borrowed from the message. Their concatenation is exactly the postcard
/// encoding of the whole message.
pub(crate) struct Parts<'a> {
    pub(crate) head: Vec<u8>,
    pub(crate) tail: &'a [u8],
}

impl Parts<'_> {
    /// The payload's length.
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }
}

/// Encode `skeleton`, the message with its bulk value replaced by the empty
/// byte string (which postcard writes last, as `[6, 0]`), and put the bulk
/// value's kind and length in place of that: the head of the whole
/// message's encoding.
fn head_of<T: Serialize>(skeleton: &T, kind: BulkKind, len: usize) -> Option<Vec<u8>> {
    let mut head = postcard::to_stdvec(skeleton).ok()?;
    if !head.ends_with(&[BulkKind::Bytes.tag(), 0]) {
        return None;
    }
    head.truncate(head.len() - 2);
    head.push(kind.tag());
    let mut varint = [0u8; 10];
    let n = postcard::to_slice(&len, &mut varint).ok()?.len();
    head.extend_from_slice(&varint[..n]);
    Some(head)
}

fn empty() -> Datum {
    Datum::Bytes(Vec::new())
}

/// `r` cut before its bulk value, if it is a reply of one value
/// (`Reply::Datum`, `Reply::Maybe`) that is a string, byte string or
/// packed run of at least [`BULK_MIN`] bytes.
pub(crate) fn response_parts(r: &Response) -> Option<Parts<'_>> {
    let (skeleton, d) = match r {
        Ok(Reply::Datum(d)) => (Ok(Reply::Datum(empty())), d),
        Ok(Reply::Maybe(Some(d))) => (Ok(Reply::Maybe(Some(empty()))), d),
        _ => return None,
    };
    let (kind, tail) = d.bulk()?;
    if tail.len() < BULK_MIN {
        return None;
    }
    let skeleton: Response = skeleton;
    Some(Parts {
        head: head_of(&skeleton, kind, tail.len())?,
        tail,
    })
}

/// `skeleton`, a reply of one value whose value is the empty byte string
/// (`Reply::Datum`, `Reply::Maybe(Some)`), cut before a bulk value of
/// `kind` whose wire image is `tail` instead: the head of the reply that
/// holds that value, and `tail`, borrowed (from the server's shared
/// storage). `None` if `skeleton` is not of that shape.
pub(crate) fn parts_with<'a>(
    skeleton: &Response,
    kind: BulkKind,
    tail: &'a [u8],
) -> Option<Parts<'a>> {
    match skeleton {
        Ok(Reply::Datum(d)) | Ok(Reply::Maybe(Some(d))) if *d == empty() => {}
        _ => return None,
    }
    Some(Parts {
        head: head_of(skeleton, kind, tail.len())?,
        tail,
    })
}

/// `req` cut before its bulk value, if its last field is a string, byte
/// string or packed run of at least [`BULK_MIN`] bytes: a list's
/// `append`/`extend`, a dict's `d[k] = v`, a value's `set`.
pub(crate) fn request_parts(req: &Request) -> Option<Parts<'_>> {
    let Request::Call(id, m) = req else {
        return None;
    };
    let (m, d) = match m {
        Method::List(ListOp::Extend(d)) => (Method::List(ListOp::Extend(empty())), d),
        Method::List(ListOp::Append(d)) => (Method::List(ListOp::Append(empty())), d),
        Method::Value(ValueOp::Set(d)) => (Method::Value(ValueOp::Set(empty())), d),
        // The key is copied into the head: only for a small one.
        Method::Dict(DictOp::Set(k, d))
            if d.bulk().is_some_and(|(_, t)| t.len() >= BULK_MIN)
                && k.bulk().is_none_or(|(_, t)| t.len() < BULK_MIN) =>
        {
            (Method::Dict(DictOp::Set(k.clone(), empty())), d)
        }
        _ => return None,
    };
    let (kind, tail) = d.bulk()?;
    if tail.len() < BULK_MIN {
        return None;
    }
    Some(Parts {
        head: head_of(&Request::Call(*id, m), kind, tail.len())?,
        tail,
    })
}

/// Read a postcard varint (`u64`) at the start of `p`: its value and size.
/// Only the canonical form (the one postcard writes) is accepted: no
/// trailing zero group, nothing beyond 64 bits.
fn varint(p: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in p.iter().take(10).enumerate() {
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (b != 0 || i == 0).then_some((v, i + 1));
        }
    }
    None
}

/// If `p`, the start of a payload of `len` bytes, begins with one of the
/// `prefixes` and then a bulk value that runs to the payload's end: the
/// prefix's index, the value's kind, and the head's size.
fn bulk_head(p: &[u8], len: usize, prefixes: &[&[u8]]) -> Option<(usize, BulkKind, usize)> {
    let (which, prefix) = prefixes
        .iter()
        .enumerate()
        .find(|(_, pre)| p.starts_with(pre))?;
    let rest = &p[prefix.len()..];
    let kind = BulkKind::from_tag(*rest.first()?)?;
    let (n, size) = varint(&rest[1..])?;
    let head = prefix.len() + 1 + size;
    let n = usize::try_from(n).ok()?;
    (head.checked_add(n) == Some(len) && kind.admits_len(n)).then_some((which, kind, head))
}

/// Encode `r` as the head of a message whose bulk value is `Bytes([])`,
/// without the `[6, 0]` that value takes: the bytes before a bulk value.
fn prefix_of<T: Serialize>(skeleton: &T) -> Vec<u8> {
    let mut p = postcard::to_stdvec(skeleton).expect("a small message encodes");
    debug_assert!(p.ends_with(&[BulkKind::Bytes.tag(), 0]));
    p.truncate(p.len() - 2);
    p
}

/// Receive a [`Response`] (the client's side). A reply of one bulk value
/// ([`response_parts`]'s shapes) is read straight into the value's buffer;
/// any other is read whole and decoded.
///
/// # Errors
/// As [`Connection::recv`].
pub(crate) fn recv_response(
    conn: &mut crate::connection::Connection,
) -> crate::error::Result<Response> {
    let mut inc = conn.begin_recv()?;
    let len = inc.len();
    if len >= BULK_MIN {
        let datum: Response = Ok(Reply::Datum(empty()));
        let maybe: Response = Ok(Reply::Maybe(Some(empty())));
        let (datum, maybe) = (prefix_of(&datum), prefix_of(&maybe));
        let p = inc.peek(HEAD_MAX)?;
        if let Some((which, kind, head)) = bulk_head(p, len, &[&datum, &maybe]) {
            let d = kind
                .receive(len - head, |out| inc.finish_into(head, out))
                .map_err(|e| e.map_or_else(|io| io, Error::Decode))?;
            return Ok(Ok(if which == 0 {
                Reply::Datum(d)
            } else {
                Reply::Maybe(Some(d))
            }));
        }
    }
    crate::connection::decode_payload(&inc.into_vec()?)
}

/// A request as the server received it: read straight into its bulk
/// value's buffer (a list's `extend` of a packed run or of bytes), or a
/// frame still to be decoded.
pub(crate) enum Received {
    /// A request whose bulk value was read into its own buffer.
    Request(Request),
    /// A whole frame, to decode (with the server's bound).
    Frame(Vec<u8>),
}

/// Receive a request (the server's side): `li.extend(run)` of at least
/// [`BULK_MIN`] bytes is read straight into the run's buffer (its size is
/// the frame's, so the decoder's memory bound holds); every other frame is
/// returned whole.
///
/// # Errors
/// As [`Connection::recv_bytes`].
pub(crate) fn recv_request(
    conn: &mut crate::connection::Connection,
) -> crate::error::Result<Received> {
    let mut inc = conn.begin_recv()?;
    let len = inc.len();
    if len >= BULK_MIN {
        let p = inc.peek(KEY_PEEK)?;
        // `Call`, then the object id (a varint), then the method.
        let id = match p.split_first() {
            Some((_, rest)) => varint(rest).map(|(id, _)| id),
            None => None,
        };
        if let Some(id) = id {
            if let Some((key, kind, head)) = bulk_request_head(p, len, id) {
                let d = kind
                    .receive(len - head, |out| inc.finish_into(head, out))
                    .map_err(|e| e.map_or_else(|io| io, Error::Decode))?;
                let m = match key {
                    Some(k) => Method::Dict(DictOp::Set(k, d)),
                    None => Method::List(ListOp::Extend(d)),
                };
                return Ok(Received::Request(Request::Call(id, m)));
            }
        }
    }
    inc.into_vec().map(Received::Frame)
}

/// How much of a large request the server looks at to find its bulk
/// value: the head and, for `d[k] = v`, the key (a larger key is read
/// with the whole frame).
const KEY_PEEK: usize = 4096;

/// If `p`, the start of a request of `len` bytes to object `id`, is a
/// list's `extend` of bytes or of a run, or a dict's `d[k] = v` of a bulk
/// value (bytes or a run) under a key that `p` holds whole: the key (for `d[k] = v`), the
/// value's kind, and the head's size.
fn bulk_request_head(p: &[u8], len: usize, id: u64) -> Option<(Option<Datum>, BulkKind, usize)> {
    let extend = prefix_of(&Request::Call(id, Method::List(ListOp::Extend(empty()))));
    if let Some((_, kind, head)) = bulk_head(p, len, &[&extend]) {
        // A string is no run: the decoder reads it (and the list refuses it).
        return (kind != BulkKind::Str).then_some((None, kind, head));
    }
    // `d[k] = v`: the request up to the key is that of a `Unit` key, whose
    // encoding is one byte (0).
    let set = prefix_of(&Request::Call(
        id,
        Method::Dict(DictOp::Set(Datum::Unit, empty())),
    ));
    let (before_key, unit) = set.split_at(set.len() - 1);
    debug_assert_eq!(unit, [0]);
    let after = p.strip_prefix(before_key)?;
    let (key, used) = super::datum::decode_prefix_bounded(after)?;
    let at = before_key.len() + used;
    let (_, kind, head) = bulk_head(&p[at..], len - at, &[&[]])?;
    // A string is read whole: one that is not UTF-8 must be refused as
    // the decoder refuses it, with the connection kept, which needs its
    // frame.
    (kind != BulkKind::Str).then_some((Some(key), kind, at + head))
}

#[cfg(test)]
mod bulk_tests;
