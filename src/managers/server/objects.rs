//! The shared objects as the server holds them, and the dispatch of a
//! method call to the object's type.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::managers::datum::{Datum, F64};
use crate::managers::protocol::{Kind, Method, NamespaceOp, ObjId, RemoteError, Reply, ValueOp};

use super::dict::{dict_op, OrderedDict};
use super::list::{items_op, Items};
use super::locks::{condition_on_op, condition_op, event_op, lock_op, Acquirer, CondState};
use super::queue::{barrier_op, queue_op, BarrierPhase, BarrierState, QueueState};
use super::wait::{err, lock, ok, CallResult, Ctx, Guarded};

fn new_cond() -> CondState {
    CondState {
        owner: None,
        count: 0,
        waiters: Vec::new(),
        next_ticket: 0,
    }
}

/// One shared object.
pub(crate) enum Object {
    List(Mutex<Items>),
    Array(Mutex<Items>),
    Dict(Mutex<OrderedDict>),
    Queue(Guarded<QueueState>),
    Event(Guarded<bool>),
    Lock(Guarded<Acquirer>),
    Condition(Guarded<CondState>),
    /// A condition on a Lock or RLock object (`Condition(lock)`); the
    /// condition keeps the lock object alive. Its `CondState` holds only
    /// the waiters.
    ConditionOn(Arc<Object>, Guarded<CondState>),
    Barrier(Guarded<BarrierState>),
    Value(Mutex<Datum>),
    Namespace(Mutex<BTreeMap<String, Datum>>),
}

/// `v + delta`; for integers, refused when the sum leaves `range` (the
/// range of the proxy's type) or `i128`.
fn fetch_add(v: &Datum, delta: &Datum, range: Option<(i128, i128)>) -> Result<Datum, RemoteError> {
    match (v, delta) {
        (Datum::Int(a), Datum::Int(b)) => match (a.checked_add(*b), range) {
            (Some(sum), _) if range.is_none_or(|(lo, hi)| (lo..=hi).contains(&sum)) => {
                Ok(Datum::Int(sum))
            }
            (_, Some((lo, hi))) => Err(RemoteError::Invalid(format!(
                "fetch_add: {a} + {b} overflows the value's type (range {lo}..={hi}); \
                 the value is unchanged"
            ))),
            (_, None) => Err(RemoteError::Invalid(format!(
                "fetch_add: {a} + {b} overflows; the value is unchanged"
            ))),
        },
        (Datum::Float(a), Datum::Float(b)) => Ok(Datum::Float(F64(a.0 + b.0))),
        (a, b) => Err(RemoteError::Invalid(format!(
            "fetch_add needs two integers or two floats, not {a} and {b}"
        ))),
    }
}

impl Object {
    /// A new object of kind `k`.
    /// A new object of kind `k`; `lookup` finds the objects it refers to
    /// (a `Condition(lock)`'s lock).
    pub(crate) fn create(
        k: Kind,
        lookup: impl Fn(ObjId) -> Option<Arc<Object>>,
    ) -> Result<Object, RemoteError> {
        match k {
            Kind::ConditionOn(id) => {
                let lock = lookup(id).ok_or(RemoteError::UnknownObject(id))?;
                match &*lock {
                    Object::Lock(l)
                        if matches!(*l.lock(), Acquirer::Lock { .. } | Acquirer::RLock { .. }) => {}
                    other => {
                        return Err(RemoteError::Invalid(format!(
                            "a Condition needs a Lock or an RLock, not a {}",
                            other.type_name()
                        )))
                    }
                }
                Ok(Object::ConditionOn(lock, Guarded::new(new_cond())))
            }
            k => Ok(Object::new(k)),
        }
    }

    /// A new object of kind `k` (one that refers to no other object).
    pub(crate) fn new(k: Kind) -> Object {
        match k {
            Kind::ConditionOn(_) => unreachable!("Object::create makes it"),
            Kind::List(items) => Object::List(Mutex::new(Items::from_vec(items))),
            Kind::Array(items) => Object::Array(Mutex::new(Items::from_vec(items))),
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
            })),
            Kind::RobustLock => Object::Lock(Guarded::new(Acquirer::Robust { owner: None })),
            Kind::Condition => Object::Condition(Guarded::new(new_cond())),
            Kind::Barrier { parties, timeout } => Object::Barrier(Guarded::new(BarrierState {
                parties,
                timeout,
                count: 0,
                phase: BarrierPhase::Filling,
            })),
            Kind::Value(d) => Object::Value(Mutex::new(d)),
            Kind::Namespace => Object::Namespace(Mutex::new(BTreeMap::new())),
        }
    }

    /// The ids of the objects the values stored in this one refer to
    /// (proxies inside a list, a dict, a queue...), appended to `out`.
    pub(crate) fn refs(&self, out: &mut Vec<ObjId>) {
        match self {
            // Only a tree can hold proxies: a packed run holds numbers.
            Object::List(l) | Object::Array(l) => {
                if let Items::Tree(v) = &*lock(l) {
                    v.iter().for_each(|d| d.refs(out));
                }
            }
            Object::Dict(d) => lock(d).refs(out),
            Object::Queue(q) => q.lock().items.iter().for_each(|d| d.refs(out)),
            Object::Value(v) => lock(v).refs(out),
            Object::Namespace(n) => lock(n).values().for_each(|d| d.refs(out)),
            Object::Event(_) | Object::Lock(_) | Object::Condition(_) | Object::Barrier(_) => {}
            // The lock object it waits on is held through the Arc.
            Object::ConditionOn(..) => {}
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
                Acquirer::Robust { .. } => "RobustLock",
            },
            Object::Condition(_) | Object::ConditionOn(..) => "Condition",
            Object::Barrier(_) => "Barrier",
            Object::Value(_) => "Value",
            Object::Namespace(_) => "Namespace",
        }
    }

    /// Carry out one method call for `ctx.caller`.
    pub(crate) fn call(&self, m: Method, ctx: &Ctx<'_>) -> CallResult {
        match (self, m) {
            (Object::List(l), Method::List(op)) => items_op(&mut lock(l), op, true),
            (Object::Array(l), Method::List(op)) => items_op(&mut lock(l), op, false),
            (Object::Dict(d), Method::Dict(op)) => dict_op(&mut lock(d), op),
            (Object::Queue(q), Method::Queue(op)) => queue_op(q, op, ctx),
            (Object::Event(e), Method::Event(op)) => event_op(e, op, ctx),
            (Object::Lock(l), Method::Lock(op)) => lock_op(l, op, ctx),
            (Object::Condition(c), Method::Condition(op)) => condition_op(c, op, ctx),
            (Object::ConditionOn(l, c), Method::Condition(op)) => match &**l {
                Object::Lock(l) => condition_on_op(l, c, op, ctx),
                _ => err(RemoteError::Invalid(
                    "a Condition's lock is not a lock".into(),
                )),
            },
            (Object::Barrier(b), Method::Barrier(op)) => barrier_op(b, op, ctx),
            (Object::Value(v), Method::Value(op)) => value_op(&mut lock(v), op),
            (Object::Namespace(n), Method::Namespace(op)) => namespace_op(&mut lock(n), op),
            (obj, m) => err(RemoteError::Refused(format!(
                "{} has no method {m:?}",
                obj.type_name()
            ))),
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
        ValueOp::FetchAdd { delta, range } => match fetch_add(v, &delta, range) {
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
