//! The typed proxies of a CPython-protocol client, one per `SyncManager`
//! typeid, and the [`PyManager`] methods that create them.
//!
//! # How long a call waits for its reply
//! A method with a timeout (`get_timeout`, `put_timeout`, `wait_timeout`,
//! `acquire_timeout`) fails with [`Error::ManagerNoReply`] when no reply has
//! come `timeout +` [`REPLY_GRACE`] after it was sent: over a link that
//! fell silent (a stalled relay, a firewall that drops packets) it returns
//! instead of waiting for ever, as CPython's proxies do. A method that
//! blocks for ever by design (`get`, `acquire`, `wait`) has only TCP
//! keepalive's bound ([`managers::tcp`](crate::managers::tcp): about 5 s
//! after the server's *host* falls silent); every other method is bounded
//! by [`ConnectOptions::reply_timeout`] if one was set.

use std::borrow::Borrow;

use super::*;

impl PyManager {
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

/// A queue on a CPython-protocol server (`queue.Queue` behind an `AutoProxy`).
#[derive(Debug)]
pub struct QueueProxy<T>(pub PyProxy, PhantomData<fn(T) -> T>);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// `put(item)`.
    ///
    /// # Errors
    /// [`Error::QueueFull`] never (blocks); I/O as [`PyProxy::call`].
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.0
            .call_wait("put", vec![enc(item.borrow())?], Wait::Forever)
            .map(drop)
    }
    /// `put(item, True, timeout)`.
    ///
    /// # Errors
    /// [`Error::QueueFull`] after the timeout.
    pub fn put_timeout(&self, item: impl Borrow<T>, timeout: Duration) -> Result<()> {
        self.0
            .call_wait(
                "put",
                vec![
                    enc(item.borrow())?,
                    Value::Bool(true),
                    timeout_value(timeout),
                ],
                Wait::Upto(timeout),
            )
            .map(drop)
    }
    /// `put_nowait(item)`.
    ///
    /// # Errors
    /// [`Error::QueueFull`] at once when full.
    pub fn put_nowait(&self, item: impl Borrow<T>) -> Result<()> {
        self.0
            .call("put_nowait", vec![enc(item.borrow())?])
            .map(drop)
    }
    /// `get()`, blocking.
    ///
    /// # Errors
    /// [`Error::Decode`] for an item that is not a `T`.
    pub fn get(&self) -> Result<T> {
        self.0.call_as_wait("get", vec![], Wait::Forever)
    }
    /// `get(True, timeout)`.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] after the timeout; [`Error::ManagerNoReply`]
    /// when the manager has not answered `timeout +` [`REPLY_GRACE`] later.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.0.call_as_wait(
            "get",
            vec![Value::Bool(true), timeout_value(timeout)],
            Wait::Upto(timeout),
        )
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
    pub fn append(&self, x: impl Borrow<T>) -> Result<()> {
        self.0.call("append", vec![enc(x.borrow())?]).map(drop)
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
    /// [`Error::PythonIndexError`] out of range.
    pub fn get(&self, i: i64) -> Result<T> {
        self.0.call_as("__getitem__", vec![Value::Int(i)])
    }
    /// `l[i] = x`.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn set(&self, i: i64, x: impl Borrow<T>) -> Result<()> {
        self.0
            .call("__setitem__", vec![Value::Int(i), enc(x.borrow())?])
            .map(drop)
    }
    /// `pop()`.
    ///
    /// # Errors
    /// [`Error::PythonIndexError`] on an empty list.
    pub fn pop(&self) -> Result<T> {
        self.0.call_as("pop", vec![])
    }
    /// `remove(x)`.
    ///
    /// # Errors
    /// `ValueError` when absent.
    pub fn remove<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        self.0.call("remove", vec![enc(x)?]).map(drop)
    }
    /// `index(x)`.
    ///
    /// # Errors
    /// `ValueError` when absent.
    pub fn index<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
    {
        self.0.call_as("index", vec![enc(x)?])
    }
    /// `count(x)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn count<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
    {
        self.0.call_as("count", vec![enc(x)?])
    }
    /// `x in l`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn contains<Q: Serialize + ?Sized>(&self, x: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
    {
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
    pub fn insert(&self, k: impl Borrow<K>, v: impl Borrow<V>) -> Result<()> {
        self.0
            .call("__setitem__", vec![enc(k.borrow())?, enc(v.borrow())?])
            .map(drop)
    }
    /// `d[k]`.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when absent.
    pub fn get<Q: Serialize + ?Sized>(&self, k: &Q) -> Result<V>
    where
        K: Borrow<Q>,
    {
        self.0.call_as("__getitem__", vec![enc(k)?])
    }
    /// `d.get(k)`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn get_opt<Q: Serialize + ?Sized>(&self, k: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
    {
        self.0.call_as("get", vec![enc(k)?])
    }
    /// `del d[k]`.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when absent.
    pub fn remove<Q: Serialize + ?Sized>(&self, k: &Q) -> Result<()>
    where
        K: Borrow<Q>,
    {
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
    pub fn contains_key<Q: Serialize + ?Sized>(&self, k: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
    {
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
    pub fn set(&self, x: impl Borrow<T>) -> Result<()> {
        self.0.call("set", vec![enc(x.borrow())?]).map(drop)
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
    /// `wait()`: block until the flag is set.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn wait(&self) -> Result<()> {
        self.0
            .call_as_wait::<bool>("wait", vec![Value::None], Wait::Forever)
            .map(drop)
    }
    /// `wait(timeout)`: whether the flag was set within `timeout`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.0
            .call_as_wait("wait", vec![timeout_value(timeout)], Wait::Upto(timeout))
    }
}

/// A `Lock`, `RLock`, `Semaphore` or `BoundedSemaphore` on a
/// CPython-protocol server.
#[derive(Debug)]
pub struct AcquirerProxy(pub PyProxy);

impl AcquirerProxy {
    /// `acquire()`: block until acquired.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn acquire(&self) -> Result<()> {
        self.0
            .call_as_wait::<bool>("acquire", vec![Value::Bool(true)], Wait::Forever)
            .map(drop)
    }
    /// `acquire(True, timeout)`: whether it was acquired within `timeout`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.0.call_as_wait(
            "acquire",
            vec![Value::Bool(true), timeout_value(timeout)],
            Wait::Upto(timeout),
        )
    }
    /// `acquire(False)`: whether it was free and is now acquired.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn try_acquire(&self) -> Result<bool> {
        self.0.call_as("acquire", vec![Value::Bool(false)])
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
    /// `acquire()`: block until acquired.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn acquire(&self) -> Result<()> {
        self.0
            .call_as_wait::<bool>("acquire", vec![Value::Bool(true)], Wait::Forever)
            .map(drop)
    }
    /// `acquire(True, timeout)`: whether it was acquired within `timeout`.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool> {
        self.0.call_as_wait(
            "acquire",
            vec![Value::Bool(true), timeout_value(timeout)],
            Wait::Upto(timeout),
        )
    }
    /// `acquire(False)`: whether it was free and is now acquired.
    ///
    /// # Errors
    /// As [`PyProxy::call`].
    pub fn try_acquire(&self) -> Result<bool> {
        self.0.call_as("acquire", vec![Value::Bool(false)])
    }
    /// `release()`.
    ///
    /// # Errors
    /// `RuntimeError` as [`Error::PythonException`] when not held by this
    /// connection.
    pub fn release(&self) -> Result<()> {
        self.0.call("release", vec![]).map(drop)
    }
    /// `wait()`: release the lock, block until notified, take it again.
    ///
    /// # Errors
    /// `RuntimeError` when the lock is not held by this connection.
    pub fn wait(&self) -> Result<()> {
        self.0
            .call_as_wait::<bool>("wait", vec![Value::None], Wait::Forever)
            .map(drop)
    }
    /// `wait(timeout)`: false when `timeout` passed without a notify.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.0
            .call_as_wait("wait", vec![timeout_value(timeout)], Wait::Upto(timeout))
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
    /// `wait()`: this party's index (the barrier's own timeout applies).
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] on the barrier's timeout, abort or reset.
    pub fn wait(&self) -> Result<usize> {
        self.0
            .call_as_wait("wait", vec![Value::None], Wait::Forever)
    }
    /// `wait(timeout)`: this party's index.
    ///
    /// # Errors
    /// [`Error::BrokenBarrier`] on timeout, abort or reset.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize> {
        self.0
            .call_as_wait("wait", vec![timeout_value(timeout)], Wait::Upto(timeout))
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
    /// [`Error::PythonIndexError`] out of range.
    pub fn get(&self, i: i64) -> Result<T> {
        self.0.call_as("__getitem__", vec![Value::Int(i)])
    }
    /// `a[i] = x`.
    ///
    /// # Errors
    /// As [`get`](Self::get); `TypeError`/`OverflowError` for a value the
    /// array's typecode does not hold (on a CPython server).
    pub fn set(&self, i: i64, x: impl Borrow<T>) -> Result<()> {
        self.0
            .call("__setitem__", vec![Value::Int(i), enc(x.borrow())?])
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
    /// `manager.Barrier(parties)`.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn barrier(&self, parties: usize) -> Result<BarrierProxy> {
        Ok(BarrierProxy(self.create(
            "Barrier",
            vec![usize_value(parties)],
            vec![],
        )?))
    }
    /// `manager.Barrier(parties, timeout=timeout)` (the same name as
    /// [`Manager::barrier_with_timeout`](crate::Manager::barrier_with_timeout)).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn barrier_with_timeout(&self, parties: usize, timeout: Duration) -> Result<BarrierProxy> {
        Ok(BarrierProxy(self.create(
            "Barrier",
            vec![usize_value(parties)],
            vec![("timeout", timeout_value(timeout))],
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
