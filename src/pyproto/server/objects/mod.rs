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
pub struct CallArgs {
    /// Positional.
    pub pos: Vec<Value>,
    /// Keyword.
    pub kw: Vec<(Value, Value)>,
}

impl CallArgs {
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
    /// `Barrier(parties, timeout=...)`: the default of `wait()`.
    timeout: Option<Duration>,
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
pub fn construct(typeid: &str, a: &CallArgs) -> Result<Obj, Outcome> {
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
            let timeout = timeout_arg(a.get(2, "timeout"))?;
            Obj::Barrier(BarrierObj {
                parties,
                timeout,
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
    pub fn call(&self, caller: u64, method: &str, a: &CallArgs) -> Outcome {
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

mod containers;
mod sync;

use containers::{array_call, dict_call, list_call, ns_call};
