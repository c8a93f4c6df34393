//! The shared objects as the server holds them, and their methods.
//!
//! Each object has its own mutex, so calls on different objects never wait
//! for each other. Objects that can block a caller (queues, events, locks,
//! conditions, barriers) also have a condition variable. A server thread
//! that blocks on behalf of a client waits on it in slices of [`SLICE`] and,
//! between slices, checks whether its client's socket has become readable:
//! a client that is blocked in a call sends nothing, so readable means end of
//! file, and the client is gone. The wait then stops, and what the client
//! held is given back (see [`Object::conn_gone`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::datum::{Datum, F64};
use super::protocol::{
    BarrierOp, ConditionOp, DictOp, EventOp, Kind, ListOp, LockOp, Method, NamespaceOp, QueueOp,
    RemoteError, Reply, Slice, ValueOp,
};

/// The server's name for one client connection.
pub(crate) type ConnId = u64;

/// How long a blocked server thread waits before it checks on its client.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// The client vanished while the server was blocked on its behalf.
#[derive(Debug)]
pub(crate) struct ClientGone;

/// What a method call gives back: an answer for the client, or the news
/// that the client is gone.
pub(crate) type CallResult = Result<Result<Reply, RemoteError>, ClientGone>;

/// Who is calling: the connection's id and its socket (to notice its end).
pub(crate) struct Ctx<'a> {
    pub conn: ConnId,
    pub fd: BorrowedFd<'a>,
}

impl Ctx<'_> {
    /// True when the client's socket is readable (end of file) or broken.
    fn client_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => false,
            Ok(_) => true,
            Err(nix::errno::Errno::EINTR) => false,
            Err(_) => true,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State behind a mutex, with a condition variable for the callers that
/// block on it.
pub(crate) struct Guarded<T> {
    state: Mutex<T>,
    cv: Condvar,
    /// Threads waiting on `cv`; changed and read with `state` locked, so a
    /// notification is skipped (no `futex` call) only when nobody waits.
    sleepers: AtomicUsize,
}

/// How a blocking wait ended.
enum Waited<'a, T> {
    Ready(MutexGuard<'a, T>),
    TimedOut(MutexGuard<'a, T>),
    Gone(MutexGuard<'a, T>),
}

impl<T> Guarded<T> {
    fn new(state: T) -> Self {
        Guarded {
            state: Mutex::new(state),
            cv: Condvar::new(),
            sleepers: AtomicUsize::new(0),
        }
    }

    /// Wake every waiter, if there is one. Call after changing the state,
    /// with it still locked or just unlocked: a waiter counts itself in
    /// `sleepers` before it releases the lock to sleep, so it is seen.
    fn notify_all(&self) {
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            self.cv.notify_all();
        }
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.state)
    }

    /// Wait until `ready` holds, the deadline passes, or the client goes away.
    fn wait<'a>(
        &'a self,
        mut g: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        ctx: &Ctx<'_>,
        mut ready: impl FnMut(&mut T) -> bool,
    ) -> Waited<'a, T> {
        let mut checked = Instant::now();
        let mut waited = false;
        loop {
            if ready(&mut g) {
                // Before taking anything (an item, a lock, a notification)
                // for a client that had to wait, make sure it is still there.
                if waited && ctx.client_gone() {
                    return Waited::Gone(g);
                }
                return Waited::Ready(g);
            }
            let now = Instant::now();
            if now.duration_since(checked) >= SLICE {
                if ctx.client_gone() {
                    return Waited::Gone(g);
                }
                checked = now;
            }
            let slice = match deadline {
                Some(d) if now >= d => return Waited::TimedOut(g),
                Some(d) => (d - now).min(SLICE),
                None => SLICE,
            };
            self.sleepers.fetch_add(1, Ordering::Relaxed);
            g = self
                .cv
                .wait_timeout(g, slice)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            waited = true;
        }
    }
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// A dict that remembers insertion order, as Python's does, with ordered
/// keys for lookup.
#[derive(Default)]
pub(crate) struct OrderedDict {
    index: BTreeMap<Datum, u64>,
    entries: BTreeMap<u64, (Datum, Datum)>,
    next: u64,
}

impl OrderedDict {
    fn get(&self, k: &Datum) -> Option<&Datum> {
        self.index.get(k).map(|seq| &self.entries[seq].1)
    }

    fn insert(&mut self, k: Datum, v: Datum) {
        match self.index.get(&k) {
            // An existing key keeps its place, as in Python.
            Some(seq) => {
                self.entries
                    .get_mut(seq)
                    .expect("index and entries agree")
                    .1 = v
            }
            None => {
                let seq = self.next;
                self.next += 1;
                self.index.insert(k.clone(), seq);
                self.entries.insert(seq, (k, v));
            }
        }
    }

    fn remove(&mut self, k: &Datum) -> Option<Datum> {
        let seq = self.index.remove(k)?;
        self.entries.remove(&seq).map(|(_, v)| v)
    }

    fn pop_last(&mut self) -> Option<(Datum, Datum)> {
        let (_, (k, v)) = self.entries.pop_last()?;
        self.index.remove(&k);
        Some((k, v))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn pairs(&self) -> Vec<(Datum, Datum)> {
        self.entries.values().cloned().collect()
    }
}

/// Lock, RLock and the semaphores: who may acquire, and who holds what.
pub(crate) enum Acquirer {
    /// A plain lock: any connection may release it; `holder` is the one that
    /// acquired it, released for it if it vanishes.
    Lock { holder: Option<ConnId> },
    /// A reentrant lock, owned by one connection.
    RLock { owner: Option<ConnId>, count: u64 },
    /// A counting semaphore. `held` counts, per connection, the acquisitions
    /// not yet balanced by a release; they are given back if it vanishes.
    Semaphore {
        value: u64,
        initial: u64,
        bounded: bool,
        held: BTreeMap<ConnId, u64>,
    },
}

impl Acquirer {
    fn can_acquire(&self, c: ConnId) -> bool {
        match self {
            Acquirer::Lock { holder } => holder.is_none(),
            Acquirer::RLock { owner, .. } => owner.is_none() || *owner == Some(c),
            Acquirer::Semaphore { value, .. } => *value > 0,
        }
    }

    fn take(&mut self, c: ConnId) {
        match self {
            Acquirer::Lock { holder } => *holder = Some(c),
            Acquirer::RLock { owner, count } => {
                *owner = Some(c);
                *count += 1;
            }
            Acquirer::Semaphore { value, held, .. } => {
                *value -= 1;
                *held.entry(c).or_default() += 1;
            }
        }
    }

    fn release(&mut self, c: ConnId) -> Result<(), RemoteError> {
        match self {
            Acquirer::Lock { holder } => {
                if holder.take().is_none() {
                    return Err(RemoteError::ReleaseUnlocked("an unlocked lock".into()));
                }
            }
            Acquirer::RLock { owner, count } => match *owner {
                None => {
                    return Err(RemoteError::ReleaseUnlocked(
                        "an RLock that is not acquired".into(),
                    ))
                }
                Some(o) if o != c => {
                    return Err(RemoteError::NotOwner(
                        "release of an RLock that another caller holds".into(),
                    ))
                }
                Some(_) => {
                    *count -= 1;
                    if *count == 0 {
                        *owner = None;
                    }
                }
            },
            Acquirer::Semaphore {
                value,
                initial,
                bounded,
                held,
            } => {
                if *bounded && *value >= *initial {
                    return Err(RemoteError::ReleaseUnlocked(
                        "a BoundedSemaphore above its initial value (released too many times)"
                            .into(),
                    ));
                }
                *value += 1;
                // Balance the caller's own acquisition if it has one, else
                // someone else's (a release on another's behalf).
                let who = if held.contains_key(&c) {
                    Some(c)
                } else {
                    held.keys().next().copied()
                };
                if let Some(who) = who {
                    let n = held.get_mut(&who).expect("key just found");
                    *n -= 1;
                    if *n == 0 {
                        held.remove(&who);
                    }
                }
            }
        }
        Ok(())
    }

    fn locked(&self) -> bool {
        match self {
            Acquirer::Lock { holder } => holder.is_some(),
            Acquirer::RLock { owner, .. } => owner.is_some(),
            Acquirer::Semaphore { value, .. } => *value == 0,
        }
    }

    /// Give back what connection `c` holds. True if anything changed.
    fn conn_gone(&mut self, c: ConnId) -> bool {
        match self {
            Acquirer::Lock { holder } if *holder == Some(c) => {
                *holder = None;
                true
            }
            Acquirer::RLock { owner, count } if *owner == Some(c) => {
                *owner = None;
                *count = 0;
                true
            }
            Acquirer::Semaphore {
                value,
                initial,
                held,
                ..
            } => match held.remove(&c) {
                // Give back what it acquired and did not release, but never
                // above the initial value: a semaphore counts `initial`
                // resources, and one made with 0 is a pure signal, whose
                // consumed permits are not resources to return.
                Some(n) => {
                    let give = n.min(initial.saturating_sub(*value));
                    *value += give;
                    give > 0
                }
                None => false,
            },
            _ => false,
        }
    }
}

struct Waiter {
    ticket: u64,
    notified: bool,
}

/// A condition variable with its own reentrant lock.
pub(crate) struct CondState {
    owner: Option<ConnId>,
    count: u64,
    waiters: Vec<Waiter>,
    next_ticket: u64,
}

impl CondState {
    /// Mark up to `n` waiters, oldest first, as notified.
    fn notify(&mut self, n: u64) {
        for w in self
            .waiters
            .iter_mut()
            .filter(|w| !w.notified)
            .take(n as usize)
        {
            w.notified = true;
        }
    }

    fn remove(&mut self, ticket: u64) -> bool {
        let i = self
            .waiters
            .iter()
            .position(|w| w.ticket == ticket)
            .expect("a waiter removes itself once");
        self.waiters.remove(i).notified
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BarrierPhase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

/// `threading.Barrier`, ported.
pub(crate) struct BarrierState {
    parties: u64,
    count: u64,
    phase: BarrierPhase,
}

pub(crate) struct QueueState {
    items: VecDeque<Datum>,
    maxsize: u64,
    unfinished: u64,
}

impl QueueState {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() as u64 >= self.maxsize
    }
}

/// One shared object.
pub(crate) enum Object {
    List(Mutex<Vec<Datum>>),
    Array(Mutex<Vec<Datum>>),
    Dict(Mutex<OrderedDict>),
    Queue(Guarded<QueueState>),
    Event(Guarded<bool>),
    Lock(Guarded<Acquirer>),
    Condition(Guarded<CondState>),
    Barrier(Guarded<BarrierState>),
    Value(Mutex<Datum>),
    Namespace(Mutex<BTreeMap<String, Datum>>),
}

fn ok<T: Into<Reply>>(v: T) -> CallResult {
    Ok(Ok(v.into()))
}

fn err(e: RemoteError) -> CallResult {
    Ok(Err(e))
}

impl From<()> for Reply {
    fn from(_: ()) -> Reply {
        Reply::Unit
    }
}
impl From<bool> for Reply {
    fn from(b: bool) -> Reply {
        Reply::Bool(b)
    }
}
impl From<usize> for Reply {
    fn from(n: usize) -> Reply {
        Reply::Size(n as u64)
    }
}
impl From<Datum> for Reply {
    fn from(d: Datum) -> Reply {
        Reply::Datum(d)
    }
}
impl From<Vec<Datum>> for Reply {
    fn from(v: Vec<Datum>) -> Reply {
        Reply::Seq(v)
    }
}

/// Python's index rule: negative counts from the end; outside is an error.
fn index(i: i64, len: usize) -> Result<usize, RemoteError> {
    let n = len as i64;
    let j = if i < 0 { i + n } else { i };
    if (0..n).contains(&j) {
        Ok(j as usize)
    } else {
        Err(RemoteError::IndexOutOfRange {
            index: i,
            len: len as u64,
        })
    }
}

/// Python's `slice.indices(len)`: (start, stop, step), clamped.
fn adjust(s: Slice, len: usize) -> Result<(i64, i64, i64), RemoteError> {
    let step = s.step.unwrap_or(1);
    if step == 0 {
        return Err(RemoteError::Invalid("slice step cannot be zero".into()));
    }
    let n = len as i64;
    let (lower, upper) = if step < 0 { (-1, n - 1) } else { (0, n) };
    let clamp = |v: Option<i64>, default: i64| match v {
        None => default,
        Some(mut v) => {
            if v < 0 {
                v += n;
                v.max(lower)
            } else {
                v.min(upper)
            }
        }
    };
    let start = clamp(s.start, if step < 0 { upper } else { lower });
    let stop = clamp(s.stop, if step < 0 { lower } else { upper });
    Ok((start, stop, step))
}

fn slice_indices(s: Slice, len: usize) -> Result<Vec<usize>, RemoteError> {
    let (start, stop, step) = adjust(s, len)?;
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i as usize);
        i += step;
    }
    Ok(out)
}

fn not_in_list(d: &Datum) -> RemoteError {
    RemoteError::ValueNotInList(d.to_string())
}

fn fetch_add(v: &Datum, delta: &Datum) -> Result<Datum, RemoteError> {
    match (v, delta) {
        (Datum::Int(a), Datum::Int(b)) => a
            .checked_add(*b)
            .map(Datum::Int)
            .ok_or_else(|| RemoteError::Invalid(format!("{a} + {b} overflows"))),
        (Datum::Float(a), Datum::Float(b)) => Ok(Datum::Float(F64(a.0 + b.0))),
        (a, b) => Err(RemoteError::Invalid(format!(
            "fetch_add needs two integers or two floats, not {a} and {b}"
        ))),
    }
}

impl Object {
    /// A new object of kind `k`.
    pub(crate) fn new(k: Kind) -> Object {
        match k {
            Kind::List(items) => Object::List(Mutex::new(items)),
            Kind::Array(items) => Object::Array(Mutex::new(items)),
            Kind::Dict(pairs) => {
                let mut d = OrderedDict::default();
                for (k, v) in pairs {
                    d.insert(k, v);
                }
                Object::Dict(Mutex::new(d))
            }
            Kind::Queue { maxsize } => Object::Queue(Guarded::new(QueueState {
                items: VecDeque::new(),
                maxsize,
                unfinished: 0,
            })),
            Kind::Event => Object::Event(Guarded::new(false)),
            Kind::Lock => Object::Lock(Guarded::new(Acquirer::Lock { holder: None })),
            Kind::RLock => Object::Lock(Guarded::new(Acquirer::RLock {
                owner: None,
                count: 0,
            })),
            Kind::Semaphore { value, bounded } => Object::Lock(Guarded::new(Acquirer::Semaphore {
                value,
                initial: value,
                bounded,
                held: BTreeMap::new(),
            })),
            Kind::Condition => Object::Condition(Guarded::new(CondState {
                owner: None,
                count: 0,
                waiters: Vec::new(),
                next_ticket: 0,
            })),
            Kind::Barrier { parties } => Object::Barrier(Guarded::new(BarrierState {
                parties,
                count: 0,
                phase: BarrierPhase::Filling,
            })),
            Kind::Value(d) => Object::Value(Mutex::new(d)),
            Kind::Namespace => Object::Namespace(Mutex::new(BTreeMap::new())),
        }
    }

    /// The object's type, as Python names it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Object::List(_) => "list",
            Object::Array(_) => "Array",
            Object::Dict(_) => "dict",
            Object::Queue(_) => "Queue",
            Object::Event(_) => "Event",
            Object::Lock(g) => match *g.lock() {
                Acquirer::Lock { .. } => "Lock",
                Acquirer::RLock { .. } => "RLock",
                Acquirer::Semaphore { bounded: false, .. } => "Semaphore",
                Acquirer::Semaphore { bounded: true, .. } => "BoundedSemaphore",
            },
            Object::Condition(_) => "Condition",
            Object::Barrier(_) => "Barrier",
            Object::Value(_) => "Value",
            Object::Namespace(_) => "Namespace",
        }
    }

    /// Whether a connection that calls `m` may come to hold something in
    /// this object that must be given back if it vanishes.
    pub(crate) fn can_hold(&self) -> bool {
        matches!(self, Object::Lock(_) | Object::Condition(_))
    }

    /// Carry out one method call for connection `ctx.conn`.
    pub(crate) fn call(&self, m: Method, ctx: &Ctx<'_>) -> CallResult {
        match (self, m) {
            (Object::List(l), Method::List(op)) => list_op(&mut lock(l), op, true),
            (Object::Array(l), Method::List(op)) => list_op(&mut lock(l), op, false),
            (Object::Dict(d), Method::Dict(op)) => dict_op(&mut lock(d), op),
            (Object::Queue(q), Method::Queue(op)) => queue_op(q, op, ctx),
            (Object::Event(e), Method::Event(op)) => event_op(e, op, ctx),
            (Object::Lock(l), Method::Lock(op)) => lock_op(l, op, ctx),
            (Object::Condition(c), Method::Condition(op)) => condition_op(c, op, ctx),
            (Object::Barrier(b), Method::Barrier(op)) => barrier_op(b, op, ctx),
            (Object::Value(v), Method::Value(op)) => value_op(&mut lock(v), op),
            (Object::Namespace(n), Method::Namespace(op)) => namespace_op(&mut lock(n), op),
            (obj, m) => err(RemoteError::Refused(format!(
                "{} has no method {m:?}",
                obj.type_name()
            ))),
        }
    }

    /// Connection `c` has closed: give back every lock and permit it held.
    pub(crate) fn conn_gone(&self, c: ConnId) {
        match self {
            Object::Lock(g) if g.lock().conn_gone(c) => g.notify_all(),
            Object::Condition(g) => {
                let mut s = g.lock();
                if s.owner == Some(c) {
                    s.owner = None;
                    s.count = 0;
                    g.notify_all();
                }
            }
            _ => {}
        }
    }

    /// Whether connection `c` holds anything here (for the server's log).
    pub(crate) fn held_by(&self, c: ConnId) -> bool {
        match self {
            Object::Lock(g) => match &*g.lock() {
                Acquirer::Lock { holder } => *holder == Some(c),
                Acquirer::RLock { owner, .. } => *owner == Some(c),
                Acquirer::Semaphore {
                    held,
                    value,
                    initial,
                    ..
                } => held.contains_key(&c) && value < initial,
            },
            Object::Condition(g) => g.lock().owner == Some(c),
            _ => false,
        }
    }
}

fn list_op(l: &mut Vec<Datum>, op: ListOp, resizable: bool) -> CallResult {
    let fixed = |what: &str| {
        err(RemoteError::Invalid(format!(
            "an Array has a fixed length; it refuses a {what}"
        )))
    };
    match op {
        ListOp::Len => ok(l.len()),
        ListOp::Get(i) => match index(i, l.len()) {
            Ok(i) => ok(l[i].clone()),
            Err(e) => err(e),
        },
        ListOp::Set(i, d) => match index(i, l.len()) {
            Ok(i) => {
                l[i] = d;
                ok(())
            }
            Err(e) => err(e),
        },
        ListOp::GetSlice(s) => match slice_indices(s, l.len()) {
            Ok(ix) => ok(ix.into_iter().map(|i| l[i].clone()).collect::<Vec<_>>()),
            Err(e) => err(e),
        },
        ListOp::ToVec => ok(l.clone()),
        ListOp::Contains(d) => ok(l.contains(&d)),
        ListOp::Count(d) => ok(l.iter().filter(|x| **x == d).count()),
        ListOp::Index(d, s) => {
            // Python: index(x, start, stop) searches l[start:stop].
            let (start, stop, _) = match adjust(Slice { step: Some(1), ..s }, l.len()) {
                Ok(v) => v,
                Err(e) => return err(e),
            };
            let (start, stop) = (start as usize, (stop.max(start)) as usize);
            match l[start..stop].iter().position(|x| *x == d) {
                Some(i) => ok(start + i),
                None => err(not_in_list(&d)),
            }
        }
        ListOp::Reverse => {
            l.reverse();
            ok(())
        }
        ListOp::Sort { reverse } => {
            // Stable both ways, as Python's sort (reverse keeps equal items
            // in their original order).
            if reverse {
                l.sort_by(|a, b| b.cmp(a));
            } else {
                l.sort();
            }
            ok(())
        }
        ListOp::SetSlice(s, items) => {
            if s.step.unwrap_or(1) == 1 {
                let (start, stop) = match adjust(s, l.len()) {
                    Ok((start, stop, _)) => (start as usize, stop.max(start) as usize),
                    Err(e) => return err(e),
                };
                // An array keeps its length: the sizes must match.
                if !resizable && stop - start != items.len() {
                    return fixed("slice assignment that changes the length");
                }
                l.splice(start..stop, items);
                return ok(());
            }
            match slice_indices(s, l.len()) {
                Ok(ix) if ix.len() == items.len() => {
                    for (i, d) in ix.into_iter().zip(items) {
                        l[i] = d;
                    }
                    ok(())
                }
                Ok(ix) => err(RemoteError::Invalid(format!(
                    "attempt to assign sequence of size {} to extended slice of size {}",
                    items.len(),
                    ix.len()
                ))),
                Err(e) => err(e),
            }
        }
        _ if !resizable => fixed("method that changes the length"),
        ListOp::Append(d) => {
            l.push(d);
            ok(())
        }
        ListOp::Extend(items) => {
            l.extend(items);
            ok(())
        }
        ListOp::Insert(i, d) => {
            let n = l.len() as i64;
            let j = if i < 0 { (i + n).max(0) } else { i.min(n) };
            l.insert(j as usize, d);
            ok(())
        }
        ListOp::Pop(i) => {
            if l.is_empty() {
                return err(RemoteError::IndexOutOfRange {
                    index: i.unwrap_or(-1),
                    len: 0,
                });
            }
            match index(i.unwrap_or(-1), l.len()) {
                Ok(i) => ok(l.remove(i)),
                Err(e) => err(e),
            }
        }
        ListOp::Remove(d) => match l.iter().position(|x| *x == d) {
            Some(i) => {
                l.remove(i);
                ok(())
            }
            None => err(not_in_list(&d)),
        },
        ListOp::Del(i) => match index(i, l.len()) {
            Ok(i) => {
                l.remove(i);
                ok(())
            }
            Err(e) => err(e),
        },
        ListOp::DelSlice(s) => match slice_indices(s, l.len()) {
            Ok(mut ix) => {
                ix.sort_unstable();
                for i in ix.into_iter().rev() {
                    l.remove(i);
                }
                ok(())
            }
            Err(e) => err(e),
        },
        ListOp::Clear => {
            l.clear();
            ok(())
        }
    }
}

fn key_error(k: &Datum) -> RemoteError {
    RemoteError::KeyNotFound(k.to_string())
}

fn dict_op(d: &mut OrderedDict, op: DictOp) -> CallResult {
    match op {
        DictOp::Get(k) => match d.get(&k) {
            Some(v) => ok(v.clone()),
            None => err(key_error(&k)),
        },
        DictOp::GetOpt(k) => Ok(Ok(Reply::Maybe(d.get(&k).cloned()))),
        DictOp::Set(k, v) => {
            d.insert(k, v);
            ok(())
        }
        DictOp::Del(k) => match d.remove(&k) {
            Some(_) => ok(()),
            None => err(key_error(&k)),
        },
        DictOp::Contains(k) => ok(d.get(&k).is_some()),
        DictOp::Len => ok(d.len()),
        DictOp::Clear => {
            *d = OrderedDict::default();
            ok(())
        }
        DictOp::Items => Ok(Ok(Reply::Pairs(d.pairs()))),
        DictOp::Keys => ok(d.entries.values().map(|e| e.0.clone()).collect::<Vec<_>>()),
        DictOp::Values => ok(d.entries.values().map(|e| e.1.clone()).collect::<Vec<_>>()),
        DictOp::Pop(k) => match d.remove(&k) {
            Some(v) => ok(v),
            None => err(key_error(&k)),
        },
        DictOp::PopOpt(k) => Ok(Ok(Reply::Maybe(d.remove(&k)))),
        DictOp::PopItem => match d.pop_last() {
            Some((k, v)) => Ok(Ok(Reply::Pairs(vec![(k, v)]))),
            None => err(RemoteError::KeyNotFound(
                "popitem(): dictionary is empty".into(),
            )),
        },
        DictOp::SetDefault(k, v) => match d.get(&k) {
            Some(old) => ok(old.clone()),
            None => {
                d.insert(k, v.clone());
                ok(v)
            }
        },
        DictOp::Update(pairs) => {
            for (k, v) in pairs {
                d.insert(k, v);
            }
            ok(())
        }
    }
}

fn queue_op(q: &Guarded<QueueState>, op: QueueOp, ctx: &Ctx<'_>) -> CallResult {
    let g = q.lock();
    match op {
        QueueOp::Qsize => ok(g.items.len()),
        QueueOp::Empty => ok(g.items.is_empty()),
        QueueOp::Full => ok(g.full()),
        QueueOp::Put {
            item,
            block,
            timeout,
        } => {
            let mut g = if !block {
                if g.full() {
                    return err(RemoteError::QueueFull);
                }
                g
            } else {
                match q.wait(g, deadline(timeout), ctx, |s| !s.full()) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return err(RemoteError::QueueFull),
                    Waited::Gone(_) => return Err(ClientGone),
                }
            };
            g.items.push_back(item);
            g.unfinished += 1;
            q.notify_all();
            ok(())
        }
        QueueOp::Get { block, timeout } => {
            let mut g = if !block {
                g
            } else {
                match q.wait(g, deadline(timeout), ctx, |s| !s.items.is_empty()) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return err(RemoteError::QueueEmpty),
                    Waited::Gone(_) => return Err(ClientGone),
                }
            };
            match g.items.pop_front() {
                Some(d) => {
                    q.notify_all();
                    ok(d)
                }
                None => err(RemoteError::QueueEmpty),
            }
        }
        QueueOp::TaskDone => {
            let mut g = g;
            if g.unfinished == 0 {
                return err(RemoteError::TaskDoneTooManyTimes);
            }
            g.unfinished -= 1;
            if g.unfinished == 0 {
                q.notify_all();
            }
            ok(())
        }
        QueueOp::Join => match q.wait(g, None, ctx, |s| s.unfinished == 0) {
            Waited::Ready(_) | Waited::TimedOut(_) => ok(()),
            Waited::Gone(_) => Err(ClientGone),
        },
    }
}

fn event_op(e: &Guarded<bool>, op: EventOp, ctx: &Ctx<'_>) -> CallResult {
    let mut g = e.lock();
    match op {
        EventOp::Set => {
            *g = true;
            e.notify_all();
            ok(())
        }
        EventOp::Clear => {
            *g = false;
            ok(())
        }
        EventOp::IsSet => ok(*g),
        EventOp::Wait(timeout) => match e.wait(g, deadline(timeout), ctx, |s| *s) {
            Waited::Ready(_) => ok(true),
            Waited::TimedOut(g) => ok(*g),
            Waited::Gone(_) => Err(ClientGone),
        },
    }
}

fn lock_op(l: &Guarded<Acquirer>, op: LockOp, ctx: &Ctx<'_>) -> CallResult {
    let g = l.lock();
    let c = ctx.conn;
    match op {
        LockOp::Acquire { blocking, timeout } => {
            let mut g = if !blocking {
                if !g.can_acquire(c) {
                    return ok(false);
                }
                g
            } else {
                match l.wait(g, deadline(timeout), ctx, |s| s.can_acquire(c)) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return ok(false),
                    Waited::Gone(_) => return Err(ClientGone),
                }
            };
            g.take(c);
            ok(true)
        }
        LockOp::Release => {
            let mut g = g;
            match g.release(c) {
                Ok(()) => {
                    l.notify_all();
                    ok(())
                }
                Err(e) => err(e),
            }
        }
        LockOp::Locked => ok(g.locked()),
    }
}

fn condition_op(cond: &Guarded<CondState>, op: ConditionOp, ctx: &Ctx<'_>) -> CallResult {
    let mut g = cond.lock();
    let c = ctx.conn;
    match op {
        ConditionOp::Acquire { blocking, timeout } => {
            let free = move |s: &mut CondState| s.owner.is_none() || s.owner == Some(c);
            if !blocking {
                if !free(&mut g) {
                    return ok(false);
                }
            } else {
                g = match cond.wait(g, deadline(timeout), ctx, free) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return ok(false),
                    Waited::Gone(_) => return Err(ClientGone),
                };
            }
            g.owner = Some(c);
            g.count += 1;
            ok(true)
        }
        ConditionOp::Release => match g.owner {
            Some(o) if o == c => {
                g.count -= 1;
                if g.count == 0 {
                    g.owner = None;
                    cond.notify_all();
                }
                ok(())
            }
            Some(_) => err(RemoteError::NotOwner(
                "release of a Condition that another caller holds".into(),
            )),
            None => err(RemoteError::ReleaseUnlocked(
                "a Condition that is not acquired".into(),
            )),
        },
        ConditionOp::Notify(n) => {
            if g.owner != Some(c) {
                return err(RemoteError::NotOwner("notify on a Condition".into()));
            }
            g.notify(n);
            cond.notify_all();
            ok(())
        }
        ConditionOp::NotifyAll => {
            if g.owner != Some(c) {
                return err(RemoteError::NotOwner("notify_all on a Condition".into()));
            }
            g.notify(u64::MAX);
            cond.notify_all();
            ok(())
        }
        ConditionOp::Wait(timeout) => {
            if g.owner != Some(c) {
                return err(RemoteError::NotOwner("wait on a Condition".into()));
            }
            // Release the lock completely, wait to be notified, take it back.
            let saved = g.count;
            g.owner = None;
            g.count = 0;
            let ticket = g.next_ticket;
            g.next_ticket += 1;
            g.waiters.push(Waiter {
                ticket,
                notified: false,
            });
            cond.notify_all();
            let notified =
                |s: &mut CondState| s.waiters.iter().any(|w| w.ticket == ticket && w.notified);
            let (mut g, notified) = match cond.wait(g, deadline(timeout), ctx, notified) {
                Waited::Ready(mut g) | Waited::TimedOut(mut g) => {
                    let n = g.remove(ticket);
                    (g, n)
                }
                Waited::Gone(mut g) => {
                    // A notification meant for a vanished waiter goes to the
                    // next one, so a notify() is never lost.
                    if g.remove(ticket) {
                        g.notify(1);
                        cond.notify_all();
                    }
                    return Err(ClientGone);
                }
            };
            g = match cond.wait(g, None, ctx, |s| s.owner.is_none()) {
                Waited::Ready(g) | Waited::TimedOut(g) => g,
                Waited::Gone(mut g) => {
                    if notified {
                        g.notify(1);
                        cond.notify_all();
                    }
                    return Err(ClientGone);
                }
            };
            g.owner = Some(c);
            g.count = saved;
            ok(notified)
        }
    }
}

fn barrier_op(b: &Guarded<BarrierState>, op: BarrierOp, ctx: &Ctx<'_>) -> CallResult {
    use BarrierPhase::*;
    let mut g = b.lock();
    match op {
        BarrierOp::Parties => ok(g.parties as usize),
        BarrierOp::NWaiting => ok(if g.phase == Filling {
            g.count as usize
        } else {
            0
        }),
        BarrierOp::Broken => ok(g.phase == Broken),
        BarrierOp::Abort => {
            g.phase = Broken;
            b.notify_all();
            ok(())
        }
        BarrierOp::Reset => {
            if g.count > 0 {
                if g.phase == Filling || g.phase == Broken {
                    g.phase = Resetting;
                }
            } else {
                g.phase = Filling;
            }
            b.notify_all();
            ok(())
        }
        BarrierOp::Wait(timeout) => {
            // _enter: wait while the barrier drains or resets.
            let mut g = match b.wait(g, None, ctx, |s| !matches!(s.phase, Draining | Resetting)) {
                Waited::Ready(g) | Waited::TimedOut(g) => g,
                Waited::Gone(_) => return Err(ClientGone),
            };
            if g.phase == Broken {
                return err(RemoteError::BrokenBarrier);
            }
            let index = g.count;
            g.count += 1;
            let (mut g, result) = if index + 1 == g.parties {
                // _release: the last party lets everybody go.
                g.phase = Draining;
                b.notify_all();
                (g, Ok(Ok(Reply::Size(index))))
            } else {
                match b.wait(g, deadline(timeout), ctx, |s| s.phase != Filling) {
                    Waited::Ready(g) => {
                        let r = if matches!(g.phase, Broken | Resetting) {
                            err(RemoteError::BrokenBarrier)
                        } else {
                            Ok(Ok(Reply::Size(index)))
                        };
                        (g, r)
                    }
                    Waited::TimedOut(mut g) => {
                        g.phase = Broken;
                        b.notify_all();
                        (g, err(RemoteError::BrokenBarrier))
                    }
                    Waited::Gone(mut g) => {
                        // As when a thread's wait raises: the barrier breaks.
                        g.phase = Broken;
                        b.notify_all();
                        (g, Err(ClientGone))
                    }
                }
            };
            // _exit
            g.count -= 1;
            if g.count == 0 && matches!(g.phase, Draining | Resetting) {
                g.phase = Filling;
                b.notify_all();
            }
            result
        }
    }
}

fn value_op(v: &mut Datum, op: ValueOp) -> CallResult {
    match op {
        ValueOp::Get => ok(v.clone()),
        ValueOp::Set(d) => {
            *v = d;
            ok(())
        }
        ValueOp::Swap(d) => ok(std::mem::replace(v, d)),
        ValueOp::CompareAndSwap { current, new } => {
            let swapped = *v == current;
            let previous = if swapped {
                std::mem::replace(v, new)
            } else {
                v.clone()
            };
            Ok(Ok(Reply::Exchanged { swapped, previous }))
        }
        ValueOp::FetchAdd(delta) => match fetch_add(v, &delta) {
            Ok(sum) => ok(std::mem::replace(v, sum)),
            Err(e) => err(e),
        },
    }
}

fn namespace_op(n: &mut BTreeMap<String, Datum>, op: NamespaceOp) -> CallResult {
    match op {
        NamespaceOp::Get(name) => match n.get(&name) {
            Some(d) => ok(d.clone()),
            None => err(RemoteError::NoAttribute(name)),
        },
        NamespaceOp::Set(name, d) => {
            n.insert(name, d);
            ok(())
        }
        NamespaceOp::Del(name) => match n.remove(&name) {
            Some(_) => ok(()),
            None => err(RemoteError::NoAttribute(name)),
        },
        NamespaceOp::Items => Ok(Ok(Reply::Pairs(
            n.iter()
                .map(|(k, v)| (Datum::Str(k.clone()), v.clone()))
                .collect(),
        ))),
    }
}

/// The objects a connection may have to give back when it closes, by id.
pub(crate) type Holdings = HashMap<u64, std::sync::Arc<Object>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<Datum> {
        v.iter().map(|&i| Datum::Int(i.into())).collect()
    }

    fn run(l: &mut Vec<Datum>, op: ListOp) -> Result<Reply, RemoteError> {
        list_op(l, op, true).unwrap()
    }

    fn sl(start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Slice {
        Slice { start, stop, step }
    }

    #[test]
    fn slices_follow_python() {
        let l: Vec<i64> = (0..10).collect();
        let check = |s: Slice, want: &[i64]| {
            let got: Vec<i64> = slice_indices(s, l.len())
                .unwrap()
                .into_iter()
                .map(|i| l[i])
                .collect();
            assert_eq!(got, want, "{s:?}");
        };
        check(sl(None, None, None), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        check(sl(Some(2), Some(5), None), &[2, 3, 4]);
        check(sl(Some(-3), None, None), &[7, 8, 9]);
        check(sl(None, None, Some(-1)), &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        check(sl(Some(8), Some(2), Some(-2)), &[8, 6, 4]);
        check(sl(Some(-100), Some(100), Some(3)), &[0, 3, 6, 9]);
        check(sl(Some(5), Some(2), None), &[]);
        assert!(matches!(
            slice_indices(sl(None, None, Some(0)), 3),
            Err(RemoteError::Invalid(_))
        ));
    }

    #[test]
    fn list_methods_follow_python() {
        let mut l = ints(&[3, 1, 2]);
        run(&mut l, ListOp::Insert(-100, Datum::Int(0))).unwrap();
        run(&mut l, ListOp::Insert(100, Datum::Int(9))).unwrap();
        assert_eq!(l, ints(&[0, 3, 1, 2, 9]));
        assert_eq!(
            run(&mut l, ListOp::Pop(None)),
            Ok(Reply::Datum(Datum::Int(9)))
        );
        assert_eq!(
            run(&mut l, ListOp::Get(-5)),
            Err(RemoteError::IndexOutOfRange { index: -5, len: 4 })
        );
        assert_eq!(
            run(&mut l, ListOp::Index(Datum::Int(2), Slice::default())),
            Ok(Reply::Size(3))
        );
        assert_eq!(
            run(
                &mut l,
                ListOp::Index(Datum::Int(3), sl(Some(2), None, None))
            ),
            Err(RemoteError::ValueNotInList("3".into()))
        );
        run(&mut l, ListOp::Sort { reverse: true }).unwrap();
        assert_eq!(l, ints(&[3, 2, 1, 0]));
        run(
            &mut l,
            ListOp::SetSlice(sl(Some(1), Some(3), None), ints(&[7])),
        )
        .unwrap();
        assert_eq!(l, ints(&[3, 7, 0]));
        assert!(matches!(
            run(
                &mut l,
                ListOp::SetSlice(sl(None, None, Some(2)), ints(&[1]))
            ),
            Err(RemoteError::Invalid(_))
        ));
        run(&mut l, ListOp::DelSlice(sl(None, None, Some(2)))).unwrap();
        assert_eq!(l, ints(&[7]));
        let mut empty = vec![];
        assert!(matches!(
            run(&mut empty, ListOp::Pop(None)),
            Err(RemoteError::IndexOutOfRange { len: 0, .. })
        ));
    }

    #[test]
    fn dict_keeps_insertion_order() {
        let mut d = OrderedDict::default();
        d.insert(Datum::Int(5), Datum::Unit);
        d.insert(Datum::Int(1), Datum::Unit);
        d.insert(Datum::Int(5), Datum::Bool(true));
        d.insert(Datum::Int(3), Datum::Unit);
        let keys: Vec<Datum> = d.pairs().into_iter().map(|p| p.0).collect();
        assert_eq!(keys, ints(&[5, 1, 3]));
        assert_eq!(d.pop_last().unwrap().0, Datum::Int(3));
        assert_eq!(d.get(&Datum::Int(5)), Some(&Datum::Bool(true)));
    }

    #[test]
    fn semaphore_gives_back_what_a_vanished_holder_held() {
        let mut s = Acquirer::Semaphore {
            value: 2,
            initial: 2,
            bounded: true,
            held: BTreeMap::new(),
        };
        s.take(1);
        s.take(1);
        assert!(!s.can_acquire(2));
        assert!(s.conn_gone(1));
        assert!(s.can_acquire(2));
        assert!(matches!(s.release(2), Err(RemoteError::ReleaseUnlocked(_))));
    }

    #[test]
    fn a_signal_semaphore_returns_nothing() {
        // Semaphore(0) used as a signal: one side releases, the other
        // acquires and exits. The consumed signal must not come back.
        let mut s = Acquirer::Semaphore {
            value: 0,
            initial: 0,
            bounded: false,
            held: BTreeMap::new(),
        };
        s.release(1).unwrap();
        s.take(2);
        assert!(!s.conn_gone(2));
        assert!(!s.can_acquire(3));
    }
}
