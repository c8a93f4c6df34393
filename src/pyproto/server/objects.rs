//! The shared objects of the CPython-protocol server: every `SyncManager`
//! typeid, holding Python [`Value`]s, with the methods and exceptions of
//! their CPython counterparts (`queue.Queue`, `threading.*`, `list`, `dict`,
//! `managers.Value`, `managers.Array`, `managers.Namespace`).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::pydict::PyDict;
use crate::pyproto::pickle::{Build, Global, Object, Value};
use crate::pyproto::pyops::{self, as_slice, check_hashable, eq, repr, slice_indices};

/// Positional and keyword arguments of a call.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional.
    pub pos: Vec<Value>,
    /// Keyword.
    pub kw: Vec<(Value, Value)>,
}

impl Args {
    /// Argument `i`, or keyword `name`.
    pub fn get(&self, i: usize, name: &str) -> Option<&Value> {
        self.pos.get(i).or_else(|| {
            self.kw
                .iter()
                .find(|(k, _)| k.as_str() == Some(name))
                .map(|(_, v)| v)
        })
    }
    fn need(&self, i: usize, name: &str, method: &str) -> Result<&Value, Outcome> {
        self.get(i, name)
            .ok_or_else(|| type_error(&format!("{method}() missing required argument: '{name}'")))
    }
}

/// The result of a method call.
#[derive(Debug)]
pub enum Outcome {
    /// `('#RETURN', v)`.
    Return(Value),
    /// `('#ERROR', exception)`.
    Error(Value),
    /// `('#PROXY', ...)`: a new object of this typeid.
    Proxy(&'static str, Box<Obj>),
}

fn exc(module: &str, name: &str, msg: impl Into<String>) -> Outcome {
    Outcome::Error(Value::exception(module, name, vec![Value::Str(msg.into())]))
}
fn type_error(msg: &str) -> Outcome {
    exc("builtins", "TypeError", msg)
}
fn value_error(msg: &str) -> Outcome {
    exc("builtins", "ValueError", msg)
}
fn index_error(msg: &str) -> Outcome {
    exc("builtins", "IndexError", msg)
}
fn runtime_error(msg: &str) -> Outcome {
    exc("builtins", "RuntimeError", msg)
}
fn key_error(k: Value) -> Outcome {
    Outcome::Error(Value::exception("builtins", "KeyError", vec![k]))
}
fn ok() -> Result<Outcome, Outcome> {
    Ok(Outcome::Return(Value::None))
}
fn ret(v: Value) -> Result<Outcome, Outcome> {
    Ok(Outcome::Return(v))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn int_arg(v: &Value) -> Result<i64, Outcome> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::BigInt(_) => Err(index_error("cannot fit 'int' into an index-sized integer")),
        other => Err(type_error(&format!(
            "'{}' object cannot be interpreted as an integer",
            other.type_name()
        ))),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::None | Value::Bool(false) | Value::Int(0) => false,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
        Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => !x.is_empty(),
        Value::Dict(x) => !x.is_empty(),
        _ => true,
    }
}

/// A boolean argument that defaults to true (`block=True`).
fn flag_or_true(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(v) => truthy(v),
    }
}

/// `None` → wait forever; a number → that many seconds (negative refused).
fn timeout_arg(v: Option<&Value>) -> Result<Option<Duration>, Outcome> {
    let secs = match v {
        None | Some(Value::None) => return Ok(None),
        Some(Value::Float(f)) => *f,
        Some(other) => int_arg(other)? as f64,
    };
    if secs.is_nan() || secs < 0.0 {
        return Err(value_error("'timeout' must be a non-negative number"));
    }
    Ok(Duration::try_from_secs_f64(secs).ok())
}

/// Waits on `cv` until `ready` holds or the deadline passes; returns the
/// guard and whether `ready` holds.
fn wait_until<'a, T>(
    cv: &Condvar,
    mut g: MutexGuard<'a, T>,
    timeout: Option<Duration>,
    mut ready: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if ready(&mut g) {
            return (g, true);
        }
        match (timeout, deadline) {
            (None, _) => g = cv.wait(g).unwrap_or_else(PoisonError::into_inner),
            (Some(_), Some(d)) => {
                let now = Instant::now();
                if now >= d {
                    return (g, false);
                }
                g = cv
                    .wait_timeout(g, d - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            // A timeout too large for an Instant: forever.
            (Some(_), None) => g = cv.wait(g).unwrap_or_else(PoisonError::into_inner),
        }
    }
}

/// `queue.Queue`.
#[derive(Debug, Default)]
pub struct QueueObj {
    st: Mutex<QueueState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Value>,
    maxsize: usize,
    unfinished: u64,
}

/// An `Event`.
#[derive(Debug, Default)]
pub struct EventObj {
    flag: Mutex<bool>,
    cv: Condvar,
}

/// `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, and the lock of a
/// `Condition`: a counter with an optional owner.
#[derive(Debug)]
pub struct LockObj {
    kind: LockKind,
    st: Mutex<LockState>,
    cv: Condvar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockKind {
    Lock,
    RLock,
    Semaphore,
    Bounded(i64),
}

#[derive(Debug, Default)]
struct LockState {
    /// Lock: 1 while held. RLock: recursion depth. Semaphore: the value.
    count: i64,
    owner: Option<u64>,
    /// Condition waiters: tickets not yet notified, oldest first.
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

/// A `Barrier`.
#[derive(Debug)]
pub struct BarrierObj {
    parties: i64,
    st: Mutex<BarrierState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct BarrierState {
    waiting: i64,
    generation: u64,
    broken: bool,
}

/// One shared object.
#[derive(Debug)]
pub enum Obj {
    /// `Queue`, `JoinableQueue`, and queues registered by name.
    Queue(QueueObj),
    /// `list`.
    List(Mutex<Vec<Value>>),
    /// `dict`, in insertion order.
    Dict(Mutex<PyDict>),
    /// `Event`.
    Event(EventObj),
    /// `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`.
    Lock(LockObj),
    /// `Condition` (over an `RLock`).
    Condition(LockObj),
    /// `Barrier`.
    Barrier(BarrierObj),
    /// `Value(typecode, value)`.
    Value(Mutex<(Value, Value)>),
    /// `Array(typecode, items)`.
    Array(Mutex<(Value, Vec<Value>)>),
    /// `Namespace(**kwds)`.
    Namespace(Mutex<Vec<(String, Value)>>),
    /// The iterator `dict.__iter__` returns (over a snapshot of the keys).
    Iterator(Mutex<VecDeque<Value>>),
}

/// The registered typeids: name, exposed methods (as CPython's `create`
/// returns them), `method_to_typeid`.
pub const TYPEIDS: &[(&str, &[&str])] = &[
    ("Queue", QUEUE_METHODS),
    ("JoinableQueue", QUEUE_METHODS),
    ("Event", &["is_set", "set", "clear", "wait"]),
    ("Lock", &["acquire", "release"]),
    ("RLock", &["acquire", "release"]),
    ("Semaphore", &["acquire", "release"]),
    ("BoundedSemaphore", &["acquire", "release"]),
    (
        "Condition",
        &["acquire", "release", "wait", "notify", "notify_all"],
    ),
    ("Barrier", &["__getattribute__", "wait", "abort", "reset"]),
    (
        "list",
        &[
            "__add__",
            "__contains__",
            "__delitem__",
            "__getitem__",
            "__len__",
            "__mul__",
            "__reversed__",
            "__rmul__",
            "__setitem__",
            "append",
            "count",
            "extend",
            "index",
            "insert",
            "pop",
            "remove",
            "reverse",
            "sort",
            "__imul__",
        ],
    ),
    (
        "dict",
        &[
            "__contains__",
            "__delitem__",
            "__getitem__",
            "__iter__",
            "__len__",
            "__setitem__",
            "clear",
            "copy",
            "get",
            "items",
            "keys",
            "pop",
            "popitem",
            "setdefault",
            "update",
            "values",
            // method_to_typeid's keys are appended, as CPython's create does.
            "__iter__",
        ],
    ),
    ("Value", &["get", "set"]),
    ("Array", &["__len__", "__getitem__", "__setitem__"]),
    (
        "Namespace",
        &["__getattribute__", "__setattr__", "__delattr__"],
    ),
    ("Iterator", &["__next__", "send", "throw", "close"]),
];

/// `public_methods(queue.Queue())` on CPython 3.11–3.13: what an
/// `AutoProxy` of a queue may call.
pub const QUEUE_METHODS: &[&str] = &[
    "empty",
    "full",
    "get",
    "get_nowait",
    "join",
    "put",
    "put_nowait",
    "qsize",
    "task_done",
];

/// The exposed methods of a typeid, if it is one.
pub fn exposed_of(typeid: &str) -> Option<&'static [&'static str]> {
    TYPEIDS.iter().find(|(t, _)| *t == typeid).map(|(_, e)| *e)
}

/// The `method_to_typeid` of a typeid.
pub fn method_typeid(typeid: &str, method: &str) -> Option<&'static str> {
    (typeid == "dict" && method == "__iter__").then_some("Iterator")
}

fn lock_obj(kind: LockKind, count: i64) -> LockObj {
    LockObj {
        kind,
        st: Mutex::new(LockState {
            count,
            ..Default::default()
        }),
        cv: Condvar::new(),
    }
}

fn seq_arg(v: &Value) -> Result<Vec<Value>, Outcome> {
    match v {
        Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => Ok(x.clone()),
        Value::Dict(x) => Ok(x.iter().map(|(k, _)| k.clone()).collect()),
        Value::Str(s) => Ok(s.chars().map(|c| Value::Str(c.to_string())).collect()),
        Value::Bytes(b) => Ok(b.iter().map(|&x| Value::Int(i64::from(x))).collect()),
        other => Err(type_error(&format!(
            "'{}' object is not iterable",
            other.type_name()
        ))),
    }
}

/// Builds the object of `typeid` from `create`'s arguments.
///
/// # Errors
/// The Python exception CPython's constructor would raise.
pub fn construct(typeid: &str, a: &Args) -> Result<Obj, Outcome> {
    Ok(match typeid {
        "Queue" | "JoinableQueue" => {
            let maxsize = match a.get(0, "maxsize") {
                None => 0,
                Some(v) => int_arg(v)?,
            };
            let q = QueueObj::default();
            lock(&q.st).maxsize = usize::try_from(maxsize).unwrap_or(0);
            Obj::Queue(q)
        }
        "Event" => Obj::Event(EventObj::default()),
        "Lock" => Obj::Lock(lock_obj(LockKind::Lock, 0)),
        "RLock" => Obj::Lock(lock_obj(LockKind::RLock, 0)),
        "Semaphore" | "BoundedSemaphore" => {
            let n = match a.get(0, "value") {
                None => 1,
                Some(v) => int_arg(v)?,
            };
            if n < 0 {
                return Err(value_error("semaphore initial value must be >= 0"));
            }
            let kind = if typeid == "Semaphore" {
                LockKind::Semaphore
            } else {
                LockKind::Bounded(n)
            };
            Obj::Lock(lock_obj(kind, n))
        }
        "Condition" => {
            if a.get(0, "lock").is_some_and(|v| *v != Value::None) {
                return Err(type_error(
                    "Condition(lock) with a lock of its own is not supported",
                ));
            }
            Obj::Condition(lock_obj(LockKind::RLock, 0))
        }
        "Barrier" => {
            let parties = int_arg(a.need(0, "parties", "Barrier")?)?;
            if parties < 1 {
                return Err(value_error("parties must be > 0"));
            }
            if a.get(1, "action").is_some_and(|v| *v != Value::None) {
                return Err(type_error("Barrier(action=...) is not supported"));
            }
            Obj::Barrier(BarrierObj {
                parties,
                st: Mutex::new(BarrierState::default()),
                cv: Condvar::new(),
            })
        }
        "list" => Obj::List(Mutex::new(match a.get(0, "iterable") {
            None => Vec::new(),
            Some(v) => seq_arg(v)?,
        })),
        "dict" => {
            let mut items = PyDict::new();
            if let Some(v) = a.pos.first() {
                dict_update(&mut items, v)?;
            }
            for (k, v) in &a.kw {
                dict_set(&mut items, k.clone(), v.clone())?;
            }
            Obj::Dict(Mutex::new(items))
        }
        "Value" => {
            let tc = a.need(0, "typecode", "Value")?.clone();
            let v = a.need(1, "value", "Value")?.clone();
            Obj::Value(Mutex::new((tc, v)))
        }
        "Array" => {
            let tc = a.need(0, "typecode", "Array")?.clone();
            let items = seq_arg(a.need(1, "sequence", "Array")?)?;
            Obj::Array(Mutex::new((tc, items)))
        }
        "Namespace" => {
            let mut attrs = Vec::new();
            for (k, v) in &a.kw {
                if let Some(k) = k.as_str() {
                    attrs.push((k.to_owned(), v.clone()));
                }
            }
            Obj::Namespace(Mutex::new(attrs))
        }
        other => return Err(type_error(&format!("typeid {other:?} cannot be created"))),
    })
}

fn dict_set(items: &mut PyDict, k: Value, v: Value) -> Result<(), Outcome> {
    items.set(k, v).map_err(|m| type_error(&m))
}

fn hashable(k: &Value) -> Result<(), Outcome> {
    check_hashable(k).map_err(|m| type_error(&m))
}

fn dict_update(items: &mut PyDict, src: &Value) -> Result<(), Outcome> {
    match src {
        Value::Dict(x) => {
            for (k, v) in x {
                dict_set(items, k.clone(), v.clone())?;
            }
        }
        other => {
            for pair in seq_arg(other)? {
                match pair.as_seq() {
                    Some([k, v]) => dict_set(items, k.clone(), v.clone())?,
                    _ => {
                        return Err(value_error(
                            "dictionary update sequence element has wrong length",
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

impl Obj {
    /// A copy of the referent for `#GETVALUE`, as CPython pickles it; `None`
    /// where CPython's would be unpicklable (queues, locks).
    pub fn getvalue(&self) -> Option<Value> {
        let inst = |name: &str, state: Value| {
            Value::Object(Box::new(Object {
                class: Global::new("multiprocessing.managers", name),
                build: Build::NewObj,
                args: vec![],
                state: Some(state),
                items: vec![],
                dict_items: vec![],
            }))
        };
        match self {
            Obj::List(l) => Some(Value::List(lock(l).clone())),
            Obj::Dict(d) => Some(lock(d).to_value()),
            Obj::Value(v) => {
                let g = lock(v);
                Some(inst(
                    "Value",
                    Value::Dict(vec![
                        (Value::str("_typecode"), g.0.clone()),
                        (Value::str("_value"), g.1.clone()),
                    ]),
                ))
            }
            Obj::Namespace(n) => Some(inst(
                "Namespace",
                Value::Dict(
                    lock(n)
                        .iter()
                        .map(|(k, v)| (Value::str(k), v.clone()))
                        .collect(),
                ),
            )),
            _ => None,
        }
    }

    /// `repr()` of the referent.
    pub fn repr(&self) -> String {
        match self {
            Obj::List(_) | Obj::Dict(_) => repr(&self.getvalue().unwrap_or(Value::None)),
            Obj::Value(v) => {
                let g = lock(v);
                format!("Value({}, {})", repr(&g.0), repr(&g.1))
            }
            Obj::Namespace(n) => {
                let mut parts: Vec<String> = lock(n)
                    .iter()
                    .filter(|(k, _)| !k.starts_with('_'))
                    .map(|(k, v)| format!("{k}={}", repr(v)))
                    .collect();
                parts.sort();
                format!("Namespace({})", parts.join(", "))
            }
            Obj::Array(a) => {
                let g = lock(a);
                format!("array({}, {})", repr(&g.0), repr(&Value::List(g.1.clone())))
            }
            Obj::Queue(_) => "<queue.Queue object>".into(),
            Obj::Event(e) => format!(
                "<threading.Event: {}>",
                if *lock(&e.flag) { "set" } else { "unset" }
            ),
            Obj::Lock(_) | Obj::Condition(_) => "<lock object>".into(),
            Obj::Barrier(_) => "<threading.Barrier object>".into(),
            Obj::Iterator(_) => "<dict_keyiterator object>".into(),
        }
    }

    /// Calls `method` for the connection `caller`.
    pub fn call(&self, caller: u64, method: &str, a: &Args) -> Outcome {
        let r = match self {
            Obj::Queue(q) => q.call(method, a),
            Obj::List(l) => list_call(&mut lock(l), method, a),
            Obj::Dict(d) => dict_call(&mut lock(d), method, a),
            Obj::Event(e) => e.call(method, a),
            Obj::Lock(l) => l.call(caller, method, a),
            Obj::Condition(c) => c.call_condition(caller, method, a),
            Obj::Barrier(b) => b.call(method, a),
            Obj::Value(v) => match method {
                "get" => ret(lock(v).1.clone()),
                "set" => {
                    let x = a.need(0, "value", "set").cloned();
                    x.map(|x| {
                        lock(v).1 = x;
                        Outcome::Return(Value::None)
                    })
                }
                _ => Err(no_method(method)),
            },
            Obj::Array(arr) => array_call(&mut lock(arr).1, method, a),
            Obj::Namespace(n) => ns_call(&mut lock(n), method, a),
            Obj::Iterator(it) => match method {
                "__next__" | "send" => match lock(it).pop_front() {
                    Some(v) => ret(v),
                    None => Err(Outcome::Error(Value::exception(
                        "builtins",
                        "StopIteration",
                        vec![],
                    ))),
                },
                "close" => {
                    lock(it).clear();
                    ok()
                }
                _ => Err(no_method(method)),
            },
        };
        match r {
            Ok(o) | Err(o) => o,
        }
    }
}

fn no_method(m: &str) -> Outcome {
    exc("builtins", "AttributeError", format!("no method {m:?}"))
}

impl QueueObj {
    fn call(&self, method: &str, a: &Args) -> Result<Outcome, Outcome> {
        let full = |s: &QueueState| s.maxsize > 0 && s.items.len() >= s.maxsize;
        match method {
            "put" | "put_nowait" => {
                let item = a.need(0, "item", method)?.clone();
                let (block, timeout) = if method == "put_nowait" {
                    (false, None)
                } else {
                    (
                        flag_or_true(a.get(1, "block")),
                        timeout_arg(a.get(2, "timeout"))?,
                    )
                };
                let g = lock(&self.st);
                let (mut g, room) = if block {
                    wait_until(&self.cv, g, timeout, |s| !full(s))
                } else {
                    let room = !full(&g);
                    (g, room)
                };
                if !room {
                    return Err(Outcome::Error(Value::exception("queue", "Full", vec![])));
                }
                g.items.push_back(item);
                g.unfinished = g.unfinished.saturating_add(1);
                drop(g);
                self.cv.notify_all();
                ok()
            }
            "get" | "get_nowait" => {
                let (block, timeout) = if method == "get_nowait" {
                    (false, None)
                } else {
                    (
                        flag_or_true(a.get(0, "block")),
                        timeout_arg(a.get(1, "timeout"))?,
                    )
                };
                let g = lock(&self.st);
                let (mut g, some) = if block {
                    wait_until(&self.cv, g, timeout, |s| !s.items.is_empty())
                } else {
                    let some = !g.items.is_empty();
                    (g, some)
                };
                match (some, g.items.pop_front()) {
                    (true, Some(v)) => {
                        drop(g);
                        self.cv.notify_all();
                        ret(v)
                    }
                    _ => Err(Outcome::Error(Value::exception("_queue", "Empty", vec![]))),
                }
            }
            "qsize" => ret(Value::Int(
                i64::try_from(lock(&self.st).items.len()).unwrap_or(i64::MAX),
            )),
            "empty" => ret(Value::Bool(lock(&self.st).items.is_empty())),
            "full" => ret(Value::Bool(full(&lock(&self.st)))),
            "task_done" => {
                let mut g = lock(&self.st);
                if g.unfinished == 0 {
                    return Err(value_error("task_done() called too many times"));
                }
                g.unfinished -= 1;
                drop(g);
                self.cv.notify_all();
                ok()
            }
            "join" => {
                let g = lock(&self.st);
                drop(wait_until(&self.cv, g, None, |s| s.unfinished == 0).0);
                ok()
            }
            _ => Err(no_method(method)),
        }
    }
}

impl EventObj {
    fn call(&self, method: &str, a: &Args) -> Result<Outcome, Outcome> {
        match method {
            "set" => {
                *lock(&self.flag) = true;
                self.cv.notify_all();
                ok()
            }
            "clear" => {
                *lock(&self.flag) = false;
                ok()
            }
            "is_set" => ret(Value::Bool(*lock(&self.flag))),
            "wait" => {
                let t = timeout_arg(a.get(0, "timeout"))?;
                let (_g, set) = wait_until(&self.cv, lock(&self.flag), t, |f| *f);
                ret(Value::Bool(set))
            }
            _ => Err(no_method(method)),
        }
    }
}

impl LockObj {
    fn acquire(&self, caller: u64, a: &Args) -> Result<bool, Outcome> {
        let blocking = flag_or_true(a.get(0, "blocking"));
        let timeout = match a.get(1, "timeout") {
            Some(Value::Float(f)) if *f == -1.0 => None,
            Some(Value::Int(-1)) => None,
            t => timeout_arg(t)?,
        };
        if !blocking && timeout.is_some() {
            return Err(value_error(
                "can't specify a timeout for a non-blocking call",
            ));
        }
        let kind = self.kind;
        let mut g = lock(&self.st);
        if kind == LockKind::RLock && g.owner == Some(caller) {
            g.count = g
                .count
                .checked_add(1)
                .ok_or_else(|| runtime_error("recursion overflow"))?;
            return Ok(true);
        }
        let free = move |s: &mut LockState| match kind {
            LockKind::Lock | LockKind::RLock => s.count == 0,
            _ => s.count > 0,
        };
        let got = if blocking {
            let (g2, got) = wait_until(&self.cv, g, timeout, free);
            g = g2;
            got
        } else {
            free(&mut g)
        };
        if got {
            match kind {
                LockKind::Lock => g.count = 1,
                LockKind::RLock => {
                    g.count = 1;
                    g.owner = Some(caller);
                }
                _ => g.count -= 1,
            }
        }
        Ok(got)
    }

    fn release(&self, caller: u64) -> Result<(), Outcome> {
        let mut g = lock(&self.st);
        match self.kind {
            LockKind::Lock => {
                if g.count == 0 {
                    return Err(runtime_error("release unlocked lock"));
                }
                g.count = 0;
            }
            LockKind::RLock => {
                if g.owner != Some(caller) || g.count == 0 {
                    return Err(runtime_error("cannot release un-acquired lock"));
                }
                g.count -= 1;
                if g.count == 0 {
                    g.owner = None;
                }
            }
            LockKind::Semaphore => g.count = g.count.saturating_add(1),
            LockKind::Bounded(max) => {
                if g.count >= max {
                    return Err(value_error("Semaphore released too many times"));
                }
                g.count += 1;
            }
        }
        drop(g);
        self.cv.notify_all();
        Ok(())
    }

    fn call(&self, caller: u64, method: &str, a: &Args) -> Result<Outcome, Outcome> {
        match method {
            "acquire" => ret(Value::Bool(self.acquire(caller, a)?)),
            "release" => self.release(caller).map(|()| Outcome::Return(Value::None)),
            _ => Err(no_method(method)),
        }
    }

    /// `threading.Condition` over this RLock.
    fn call_condition(&self, caller: u64, method: &str, a: &Args) -> Result<Outcome, Outcome> {
        match method {
            "acquire" | "release" => self.call(caller, method, a),
            "notify" | "notify_all" => {
                let mut g = lock(&self.st);
                if g.owner != Some(caller) {
                    return Err(runtime_error("cannot notify on un-acquired lock"));
                }
                let n = if method == "notify_all" {
                    g.waiting.len()
                } else {
                    match a.get(0, "n") {
                        None => 1,
                        Some(v) => usize::try_from(int_arg(v)?).unwrap_or(0),
                    }
                };
                for _ in 0..n.min(g.waiting.len()) {
                    g.waiting.pop_front();
                }
                drop(g);
                self.cv.notify_all();
                ok()
            }
            "wait" => {
                let timeout = timeout_arg(a.get(0, "timeout"))?;
                let mut g = lock(&self.st);
                if g.owner != Some(caller) {
                    return Err(runtime_error("cannot wait on un-acquired lock"));
                }
                // Release fully, wait for a notify, then take the lock back
                // at the same depth.
                let depth = g.count;
                g.count = 0;
                g.owner = None;
                let ticket = g.next_ticket;
                g.next_ticket += 1;
                g.waiting.push_back(ticket);
                self.cv.notify_all();
                let (mut g, notified) =
                    wait_until(&self.cv, g, timeout, |s| !s.waiting.contains(&ticket));
                if !notified {
                    g.waiting.retain(|&t| t != ticket);
                }
                let (mut g, _) = wait_until(&self.cv, g, None, |s| s.count == 0);
                g.count = depth;
                g.owner = Some(caller);
                ret(Value::Bool(notified))
            }
            _ => Err(no_method(method)),
        }
    }
}

fn broken() -> Outcome {
    Outcome::Error(Value::exception("threading", "BrokenBarrierError", vec![]))
}

impl BarrierObj {
    fn call(&self, method: &str, a: &Args) -> Result<Outcome, Outcome> {
        match method {
            "wait" => {
                let timeout = timeout_arg(a.get(0, "timeout"))?;
                let mut g = lock(&self.st);
                if g.broken {
                    return Err(broken());
                }
                let index = g.waiting;
                g.waiting += 1;
                if g.waiting == self.parties {
                    g.waiting = 0;
                    g.generation = g.generation.wrapping_add(1);
                    drop(g);
                    self.cv.notify_all();
                    return ret(Value::Int(index));
                }
                let gen = g.generation;
                let (mut g, done) =
                    wait_until(&self.cv, g, timeout, |s| s.generation != gen || s.broken);
                if g.generation != gen {
                    return ret(Value::Int(index));
                }
                if !done {
                    g.broken = true;
                    self.cv.notify_all();
                }
                g.waiting -= 1;
                Err(broken())
            }
            "abort" => {
                lock(&self.st).broken = true;
                self.cv.notify_all();
                ok()
            }
            "reset" => {
                let mut g = lock(&self.st);
                if g.waiting > 0 {
                    // Waiters of this generation see a broken barrier.
                    g.broken = true;
                    self.cv.notify_all();
                    let (mut g2, _) = wait_until(&self.cv, g, None, |s| s.waiting == 0);
                    g2.broken = false;
                    g = g2;
                } else {
                    g.broken = false;
                }
                drop(g);
                ok()
            }
            "__getattribute__" => {
                let g = lock(&self.st);
                match a.need(0, "name", method)?.as_str() {
                    Some("parties") => ret(Value::Int(self.parties)),
                    Some("n_waiting") => ret(Value::Int(g.waiting)),
                    Some("broken") => ret(Value::Bool(g.broken)),
                    _ => Err(exc(
                        "builtins",
                        "AttributeError",
                        "'Barrier' object has no such attribute",
                    )),
                }
            }
            _ => Err(no_method(method)),
        }
    }
}

fn list_call(l: &mut Vec<Value>, method: &str, a: &Args) -> Result<Outcome, Outcome> {
    let len_v = |n: usize| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    match method {
        "append" => {
            l.push(a.need(0, "object", method)?.clone());
            ok()
        }
        "extend" | "__iadd__" => {
            let items = seq_arg(a.need(0, "iterable", method)?)?;
            l.extend(items);
            ok()
        }
        "__len__" => ret(len_v(l.len())),
        "__contains__" => {
            let x = a.need(0, "value", method)?;
            ret(Value::Bool(l.iter().any(|y| eq(x, y))))
        }
        "__getitem__" => {
            let k = a.need(0, "index", method)?;
            if let Some(s) = as_slice(k) {
                let idx = slice_indices(s, l.len()).map_err(|m| value_error(&m))?;
                return ret(Value::List(idx.into_iter().map(|i| l[i].clone()).collect()));
            }
            match pyops::index(int_arg(k)?, l.len()) {
                Some(i) => ret(l[i].clone()),
                None => Err(index_error("list index out of range")),
            }
        }
        "__setitem__" => {
            let k = a.need(0, "index", method)?;
            let v = a.need(1, "value", method)?.clone();
            if as_slice(k).is_some() {
                return Err(type_error(
                    "slice assignment on a managed list is not supported",
                ));
            }
            match pyops::index(int_arg(k)?, l.len()) {
                Some(i) => {
                    l[i] = v;
                    ok()
                }
                None => Err(index_error("list assignment index out of range")),
            }
        }
        "__delitem__" => {
            let k = a.need(0, "index", method)?;
            if let Some(s) = as_slice(k) {
                let mut idx = slice_indices(s, l.len()).map_err(|m| value_error(&m))?;
                idx.sort_unstable();
                for i in idx.into_iter().rev() {
                    l.remove(i);
                }
                return ok();
            }
            match pyops::index(int_arg(k)?, l.len()) {
                Some(i) => {
                    l.remove(i);
                    ok()
                }
                None => Err(index_error("list assignment index out of range")),
            }
        }
        "pop" => {
            if l.is_empty() {
                return Err(index_error("pop from empty list"));
            }
            let i = match a.get(0, "index") {
                None => l.len() - 1,
                Some(v) => pyops::index(int_arg(v)?, l.len())
                    .ok_or_else(|| index_error("pop index out of range"))?,
            };
            ret(l.remove(i))
        }
        "insert" => {
            let i = int_arg(a.need(0, "index", method)?)?;
            let v = a.need(1, "object", method)?.clone();
            let n = i64::try_from(l.len()).unwrap_or(i64::MAX);
            let at = if i < 0 {
                i.saturating_add(n).max(0)
            } else {
                i.min(n)
            };
            l.insert(usize::try_from(at).unwrap_or(0), v);
            ok()
        }
        "remove" => {
            let x = a.need(0, "value", method)?;
            match l.iter().position(|y| eq(x, y)) {
                Some(i) => {
                    l.remove(i);
                    ok()
                }
                None => Err(value_error("list.remove(x): x not in list")),
            }
        }
        "index" => {
            let x = a.need(0, "value", method)?;
            match l.iter().position(|y| eq(x, y)) {
                Some(i) => ret(len_v(i)),
                None => Err(value_error(&format!("{} is not in list", repr(x)))),
            }
        }
        "count" => {
            let x = a.need(0, "value", method)?;
            ret(len_v(l.iter().filter(|y| eq(x, y)).count()))
        }
        "reverse" => {
            l.reverse();
            ok()
        }
        "sort" => {
            if a.get(99, "key").is_some_and(|k| *k != Value::None) {
                return Err(type_error("sort(key=...) is not supported by this server"));
            }
            let reverse = a.get(99, "reverse").is_some_and(truthy);
            let mut err = None;
            l.sort_by(|x, y| {
                pyops::cmp(x, y).unwrap_or_else(|m| {
                    err.get_or_insert(m);
                    std::cmp::Ordering::Equal
                })
            });
            if let Some(m) = err {
                return Err(type_error(&m));
            }
            if reverse {
                l.reverse();
            }
            ok()
        }
        "__add__" => {
            let mut out = l.clone();
            match a.need(0, "value", method)? {
                Value::List(x) => out.extend(x.iter().cloned()),
                other => {
                    return Err(type_error(&format!(
                        "can only concatenate list (not \"{}\") to list",
                        other.type_name()
                    )))
                }
            }
            ret(Value::List(out))
        }
        "__mul__" | "__rmul__" | "__imul__" => {
            let n = int_arg(a.need(0, "value", method)?)?;
            let n = usize::try_from(n).unwrap_or(0);
            let total = l.len().checked_mul(n).filter(|&t| t <= 1 << 24);
            let Some(_) = total else {
                return Err(exc(
                    "builtins",
                    "MemoryError",
                    "list repetition too large for this server",
                ));
            };
            let out: Vec<Value> = (0..n).flat_map(|_| l.iter().cloned()).collect();
            if method == "__imul__" {
                *l = out;
                ok()
            } else {
                ret(Value::List(out))
            }
        }
        "__reversed__" => Err(type_error(
            "a list_reverseiterator cannot be sent; use l[::-1]",
        )),
        _ => Err(no_method(method)),
    }
}

fn dict_call(d: &mut PyDict, method: &str, a: &Args) -> Result<Outcome, Outcome> {
    match method {
        "__setitem__" => {
            let k = a.need(0, "key", method)?.clone();
            let v = a.need(1, "value", method)?.clone();
            dict_set(d, k, v)?;
            ok()
        }
        "__getitem__" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            match d.get(k) {
                Some(v) => ret(v.clone()),
                None => Err(key_error(k.clone())),
            }
        }
        "get" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            ret(d
                .get(k)
                .cloned()
                .unwrap_or_else(|| a.get(1, "default").cloned().unwrap_or(Value::None)))
        }
        "__delitem__" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            match d.remove(k) {
                Some(_) => ok(),
                None => Err(key_error(k.clone())),
            }
        }
        "__contains__" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            ret(Value::Bool(d.get(k).is_some()))
        }
        "__len__" => ret(Value::Int(i64::try_from(d.len()).unwrap_or(i64::MAX))),
        "clear" => {
            d.clear();
            ok()
        }
        "copy" => ret(d.to_value()),
        // Views are sent as lists, as CPython's managers register them.
        "keys" => ret(Value::List(d.iter().map(|(k, _)| k.clone()).collect())),
        "values" => ret(Value::List(d.iter().map(|(_, v)| v.clone()).collect())),
        "items" => ret(Value::List(
            d.iter()
                .map(|(k, v)| Value::Tuple(vec![k.clone(), v.clone()]))
                .collect(),
        )),
        "pop" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            match d.remove(k) {
                Some((_, v)) => ret(v),
                None => match a.get(1, "default") {
                    Some(v) => ret(v.clone()),
                    None => Err(key_error(k.clone())),
                },
            }
        }
        "popitem" => match d.pop_last() {
            Some((k, v)) => ret(Value::Tuple(vec![k, v])),
            None => Err(key_error(Value::str("popitem(): dictionary is empty"))),
        },
        "setdefault" => {
            let k = a.need(0, "key", method)?.clone();
            hashable(&k)?;
            match d.get(&k) {
                Some(v) => ret(v.clone()),
                None => {
                    let v = a.get(1, "default").cloned().unwrap_or(Value::None);
                    dict_set(d, k, v.clone())?;
                    ret(v)
                }
            }
        }
        "update" => {
            if let Some(v) = a.pos.first() {
                dict_update(d, v)?;
            }
            for (k, v) in &a.kw {
                dict_set(d, k.clone(), v.clone())?;
            }
            ok()
        }
        "__iter__" => Ok(Outcome::Proxy(
            "Iterator",
            Box::new(Obj::Iterator(Mutex::new(
                d.iter().map(|(k, _)| k.clone()).collect(),
            ))),
        )),
        _ => Err(no_method(method)),
    }
}

fn array_call(items: &mut [Value], method: &str, a: &Args) -> Result<Outcome, Outcome> {
    match method {
        "__len__" => ret(Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX))),
        "__getitem__" => {
            let k = a.need(0, "index", method)?;
            if let Some(s) = as_slice(k) {
                let idx = slice_indices(s, items.len()).map_err(|m| value_error(&m))?;
                return ret(Value::List(
                    idx.into_iter().map(|i| items[i].clone()).collect(),
                ));
            }
            match pyops::index(int_arg(k)?, items.len()) {
                Some(i) => ret(items[i].clone()),
                None => Err(index_error("array index out of range")),
            }
        }
        "__setitem__" => {
            let i = int_arg(a.need(0, "index", method)?)?;
            let v = a.need(1, "value", method)?.clone();
            match pyops::index(i, items.len()) {
                Some(i) => {
                    items[i] = v;
                    ok()
                }
                None => Err(index_error("array assignment index out of range")),
            }
        }
        _ => Err(no_method(method)),
    }
}

fn ns_call(attrs: &mut Vec<(String, Value)>, method: &str, a: &Args) -> Result<Outcome, Outcome> {
    let name = a.need(0, "name", method)?;
    let Some(name) = name.as_str() else {
        return Err(type_error("attribute name must be string"));
    };
    let pos = attrs.iter().position(|(k, _)| k == name);
    let missing = || {
        exc(
            "builtins",
            "AttributeError",
            format!("'Namespace' object has no attribute '{name}'"),
        )
    };
    match method {
        "__getattribute__" => match pos {
            Some(i) => ret(attrs[i].1.clone()),
            None => Err(missing()),
        },
        "__setattr__" => {
            let v = a.need(1, "value", method)?.clone();
            match pos {
                Some(i) => attrs[i].1 = v,
                None => attrs.push((name.to_owned(), v)),
            }
            ok()
        }
        "__delattr__" => match pos {
            Some(i) => {
                attrs.remove(i);
                ok()
            }
            None => Err(missing()),
        },
        _ => Err(no_method(method)),
    }
}
