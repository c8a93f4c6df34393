//! Proxies of the data types: list, dict, queue, value, array, namespace.

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::datum::{from_datum, to_datum, Datum};
use super::protocol::{DictOp, ListOp, Method, NamespaceOp, QueueOp, Reply, Slice, ValueOp};
use super::{want, want_bool, want_maybe, want_pairs, want_seq, want_size, want_unit, Handle};
use crate::error::{Error, Result};

/// A Python slice from a Rust range of (possibly negative) indices:
/// `-3..` is `[-3:]`, `..=-1` is `[:]`, `1..4` is `[1:4]`.
fn slice_of(range: impl RangeBounds<i64>) -> Slice {
    let start = match range.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => Some(s + 1),
        Bound::Unbounded => None,
    };
    let stop = match range.end_bound() {
        // `..=-1` runs to the end: Python has no `stop` for that but `None`.
        Bound::Included(&-1) => None,
        Bound::Included(&e) => Some(e + 1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    Slice {
        start,
        stop,
        step: None,
    }
}

fn data<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Vec<Datum>> {
    items.into_iter().map(|x| to_datum(&x)).collect()
}

macro_rules! proxy_common {
    ($name:ident < $($p:ident),* >) => {
        impl<$($p),*> Clone for $name<$($p),*> {
            fn clone(&self) -> Self {
                $name {
                    handle: self.handle.clone(),
                    _t: PhantomData,
                }
            }
        }

        impl<$($p),*> fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.handle)
            }
        }

        impl<$($p),*> $name<$($p),*> {
            pub(crate) fn new(handle: Handle) -> Self {
                $name {
                    handle,
                    _t: PhantomData,
                }
            }

            /// How many proxies of this object live in this process
            /// (clones count; the server holds one reference for all of them).
            pub fn local_refs(&self) -> usize {
                self.handle.local_refs()
            }
        }
    };
}

// ---------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------

/// A proxy of a shared list (Python: the `ListProxy` of `manager.list()`).
///
/// Indices are `i64` and follow Python: `-1` is the last element. Ranges of
/// indices stand for slices (`li.slice(-3..)` is `li[-3:]`).
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let li = manager.list_from([3, 1, 2]).unwrap();
/// li.append(4).unwrap();
/// li.sort().unwrap();
/// assert_eq!(li.to_vec().unwrap(), [1, 2, 3, 4]);
/// assert_eq!(li.get(-1).unwrap(), 4);
/// assert_eq!(li.slice(1..3).unwrap(), [2, 3]);
/// assert!(li.remove(&9).unwrap_err().is_value_not_in_list());
/// assert!(li.get(10).unwrap_err().is_index_out_of_range());
/// ```
pub struct ListProxy<T> {
    pub(super) handle: Handle,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(ListProxy<T>);

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    fn op(&self, op: ListOp) -> Result<Reply> {
        self.handle.call(Method::List(op))
    }

    /// Add `value` at the end (Python: `li.append(x)`).
    ///
    /// # Errors
    /// [`Error::Encode`] if the value cannot be converted;
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn append(&self, value: T) -> Result<()> {
        want_unit(self.op(ListOp::Append(to_datum(&value)?))?)
    }

    /// Add every item at the end, in one request (Python: `li.extend(items)`).
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        want_unit(self.op(ListOp::Extend(data(items)?))?)
    }

    /// Insert `value` before index `i`; an index past either end inserts at
    /// that end (Python: `li.insert(i, x)`).
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn insert(&self, i: i64, value: T) -> Result<()> {
        want_unit(self.op(ListOp::Insert(i, to_datum(&value)?))?)
    }

    /// Remove and return the last item (Python: `li.pop()`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] if the list is empty.
    pub fn pop(&self) -> Result<T> {
        want(self.op(ListOp::Pop(None))?)
    }

    /// Remove and return the item at `i` (Python: `li.pop(i)`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`].
    pub fn pop_at(&self, i: i64) -> Result<T> {
        want(self.op(ListOp::Pop(Some(i)))?)
    }

    /// Remove the first item equal to `value` (Python: `li.remove(x)`).
    ///
    /// # Errors
    /// [`Error::ValueNotInList`] if there is none.
    pub fn remove<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        want_unit(self.op(ListOp::Remove(to_datum(value)?))?)
    }

    /// The index of the first item equal to `value` (Python: `li.index(x)`).
    ///
    /// # Errors
    /// [`Error::ValueNotInList`] if there is none.
    pub fn index<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
    {
        want_size(self.op(ListOp::Index(to_datum(value)?, Slice::default()))?)
    }

    /// How many items equal `value` (Python: `li.count(x)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn count<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
    {
        want_size(self.op(ListOp::Count(to_datum(value)?))?)
    }

    /// Whether an item equals `value` (Python: `x in li`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn contains<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
    {
        want_bool(self.op(ListOp::Contains(to_datum(value)?))?)
    }

    /// Reverse the list in place (Python: `li.reverse()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn reverse(&self) -> Result<()> {
        want_unit(self.op(ListOp::Reverse)?)
    }

    /// Sort in place, stably, in the order `T`'s derived `Ord` gives
    /// (Python: `li.sort()`; see [`datum`](super::datum) for the order).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn sort(&self) -> Result<()> {
        want_unit(self.op(ListOp::Sort { reverse: false })?)
    }

    /// Sort in place, largest first; equal items keep their order
    /// (Python: `li.sort(reverse=True)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn sort_reverse(&self) -> Result<()> {
        want_unit(self.op(ListOp::Sort { reverse: true })?)
    }

    /// The number of items (Python: `len(li)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn len(&self) -> Result<usize> {
        want_size(self.op(ListOp::Len)?)
    }

    /// Whether the list is empty (Python: `not li`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The item at `i` (Python: `li[i]`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`].
    pub fn get(&self, i: i64) -> Result<T> {
        want(self.op(ListOp::Get(i))?)
    }

    /// Replace the item at `i` (Python: `li[i] = x`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`].
    pub fn set(&self, i: i64, value: T) -> Result<()> {
        want_unit(self.op(ListOp::Set(i, to_datum(&value)?))?)
    }

    /// Delete the item at `i` (Python: `del li[i]`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`].
    pub fn del(&self, i: i64) -> Result<()> {
        want_unit(self.op(ListOp::Del(i))?)
    }

    /// A copy of a slice, as a plain `Vec` (Python: `li[a:b]`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn slice(&self, range: impl RangeBounds<i64>) -> Result<Vec<T>> {
        want_seq(self.op(ListOp::GetSlice(slice_of(range)))?)
    }

    /// A copy of an extended slice (Python: `li[start:stop:step]`).
    ///
    /// # Errors
    /// [`Error::ManagerRequest`] for a zero step.
    pub fn slice_step(&self, start: Option<i64>, stop: Option<i64>, step: i64) -> Result<Vec<T>> {
        want_seq(self.op(ListOp::GetSlice(Slice {
            start,
            stop,
            step: Some(step),
        }))?)
    }

    /// Replace a slice with `items`, which may be of another length
    /// (Python: `li[a:b] = items`).
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn set_slice(
        &self,
        range: impl RangeBounds<i64>,
        items: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        want_unit(self.op(ListOp::SetSlice(slice_of(range), data(items)?))?)
    }

    /// Delete a slice (Python: `del li[a:b]`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn del_slice(&self, range: impl RangeBounds<i64>) -> Result<()> {
        want_unit(self.op(ListOp::DelSlice(slice_of(range)))?)
    }

    /// Remove every item (Python 3.14: `li.clear()`; before, `del li[:]`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn clear(&self) -> Result<()> {
        want_unit(self.op(ListOp::Clear)?)
    }

    /// A copy of the whole list (Python: `li[:]`, or what `print(li)` shows).
    ///
    /// # Errors
    /// [`Error::Decode`] if an item is not a `T`; [`Error::ManagerGone`].
    pub fn to_vec(&self) -> Result<Vec<T>> {
        want_seq(self.op(ListOp::ToVec)?)
    }

    /// The list as Python would print it (`[1, 'a']`), rendered from the
    /// server's values.
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn repr(&self) -> Result<String> {
        match self.op(ListOp::ToVec)? {
            Reply::Seq(v) => Ok(Datum::Seq(v).to_string()),
            r => Err(super::unexpected(&r)),
        }
    }
}

// ---------------------------------------------------------------------------
// dict
// ---------------------------------------------------------------------------

/// A proxy of a shared dict (Python: the `DictProxy` of `manager.dict()`).
///
/// Keys keep their insertion order, as in Python. Lookups take any borrowed
/// form of the key (`&str` for `String` keys), like `HashMap::get`.
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let d = manager.dict::<String, i32>().unwrap();
/// d.set("b".into(), 2).unwrap();
/// d.set("a".into(), 1).unwrap();
/// assert_eq!(d.keys().unwrap(), ["b", "a"]);
/// assert_eq!(d.get("a").unwrap(), Some(1));
/// assert_eq!(d.pop("b").unwrap(), 2);
/// assert!(d.get_item("b").unwrap_err().is_key_not_found());
/// assert_eq!(d.repr().unwrap(), "{'a': 1}");
/// ```
pub struct DictProxy<K, V> {
    pub(super) handle: Handle,
    _t: PhantomData<fn() -> (K, V)>,
}

proxy_common!(DictProxy<K, V>);

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    fn op(&self, op: DictOp) -> Result<Reply> {
        self.handle.call(Method::Dict(op))
    }

    /// The value for `key`, or `None` (Python: `d.get(key)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn get<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
    {
        want_maybe(self.op(DictOp::GetOpt(to_datum(key)?))?)
    }

    /// The value for `key` (Python: `d[key]`).
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] if the key is not there.
    pub fn get_item<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<V>
    where
        K: Borrow<Q>,
    {
        want(self.op(DictOp::Get(to_datum(key)?))?)
    }

    /// Set `key` to `value`; an existing key keeps its place
    /// (Python: `d[key] = value`).
    ///
    /// # Errors
    /// [`Error::Encode`] if a value cannot be converted; [`Error::ManagerGone`].
    pub fn set(&self, key: K, value: V) -> Result<()> {
        want_unit(self.op(DictOp::Set(to_datum(&key)?, to_datum(&value)?))?)
    }

    /// Delete `key` (Python: `del d[key]`).
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] if the key is not there.
    pub fn del<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<()>
    where
        K: Borrow<Q>,
    {
        want_unit(self.op(DictOp::Del(to_datum(key)?))?)
    }

    /// Whether `key` is there (Python: `key in d`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn contains_key<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
    {
        want_bool(self.op(DictOp::Contains(to_datum(key)?))?)
    }

    /// The number of keys (Python: `len(d)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn len(&self) -> Result<usize> {
        want_size(self.op(DictOp::Len)?)
    }

    /// Whether the dict is empty (Python: `not d`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Remove every key (Python: `d.clear()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn clear(&self) -> Result<()> {
        want_unit(self.op(DictOp::Clear)?)
    }

    /// The key–value pairs in insertion order, as a plain `Vec`
    /// (Python: `list(d.items())`, or `d.copy()`).
    ///
    /// # Errors
    /// [`Error::Decode`] if a pair is not a `(K, V)`; [`Error::ManagerGone`].
    pub fn items(&self) -> Result<Vec<(K, V)>> {
        want_pairs(self.op(DictOp::Items)?)?
            .into_iter()
            .map(|(k, v)| Ok((from_datum(k)?, from_datum(v)?)))
            .collect()
    }

    /// The keys in insertion order (Python: `list(d.keys())`).
    ///
    /// # Errors
    /// As [`items`](Self::items).
    pub fn keys(&self) -> Result<Vec<K>> {
        want_seq(self.op(DictOp::Keys)?)
    }

    /// The values in insertion order (Python: `list(d.values())`).
    ///
    /// # Errors
    /// As [`items`](Self::items).
    pub fn values(&self) -> Result<Vec<V>> {
        want_seq(self.op(DictOp::Values)?)
    }

    /// Remove `key` and return its value (Python: `d.pop(key)`).
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] if the key is not there.
    pub fn pop<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<V>
    where
        K: Borrow<Q>,
    {
        want(self.op(DictOp::Pop(to_datum(key)?))?)
    }

    /// Remove `key` and return its value, or `None` (Python: `d.pop(key, None)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn pop_or_none<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
    {
        want_maybe(self.op(DictOp::PopOpt(to_datum(key)?))?)
    }

    /// Remove and return the pair inserted last (Python: `d.popitem()`).
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] if the dict is empty.
    pub fn popitem(&self) -> Result<(K, V)> {
        let mut pairs = want_pairs(self.op(DictOp::PopItem)?)?;
        let (k, v) = pairs
            .pop()
            .ok_or_else(|| Error::Decode("popitem returned nothing".into()))?;
        Ok((from_datum(k)?, from_datum(v)?))
    }

    /// The value for `key`, inserting `default` first if the key is not
    /// there (Python: `d.setdefault(key, default)`).
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn setdefault(&self, key: K, default: V) -> Result<V> {
        want(self.op(DictOp::SetDefault(to_datum(&key)?, to_datum(&default)?))?)
    }

    /// Set every pair, in one request (Python: `d.update(pairs)`).
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn update(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((to_datum(&k)?, to_datum(&v)?)))
            .collect::<Result<_>>()?;
        want_unit(self.op(DictOp::Update(pairs))?)
    }

    /// The dict as Python would print it (`{'a': 1}`), in insertion order.
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn repr(&self) -> Result<String> {
        let pairs = want_pairs(self.op(DictOp::Items)?)?;
        // Datum::Map displays its pairs in the order given.
        Ok(Datum::Map(pairs).to_string())
    }
}

// ---------------------------------------------------------------------------
// queue
// ---------------------------------------------------------------------------

/// A proxy of a shared FIFO queue (Python: `manager.Queue()` /
/// `manager.JoinableQueue()`).
///
/// # Example
/// ```
/// use std::time::Duration;
///
/// let manager = forklore::managers::Manager::start().unwrap();
/// let q = manager.queue_with_maxsize::<String>(1).unwrap();
/// q.put("job".into()).unwrap();
/// assert!(q.put_nowait("more".into()).unwrap_err().is_queue_full());
/// assert_eq!(q.get().unwrap(), "job");
/// q.task_done().unwrap();
/// q.join().unwrap(); // every item put has been marked done
/// let e = q.get_timeout(Duration::from_millis(10)).unwrap_err();
/// assert!(e.is_queue_empty());
/// ```
pub struct QueueProxy<T> {
    pub(super) handle: Handle,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(QueueProxy<T>);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    fn op(&self, op: QueueOp) -> Result<Reply> {
        self.handle.call(Method::Queue(op))
    }

    fn put_with(&self, item: T, block: bool, timeout: Option<Duration>) -> Result<()> {
        want_unit(self.op(QueueOp::Put {
            item: to_datum(&item)?,
            block,
            timeout,
        })?)
    }

    fn get_with(&self, block: bool, timeout: Option<Duration>) -> Result<T> {
        want(self.op(QueueOp::Get { block, timeout })?)
    }

    /// Add `item`, waiting for room if the queue is bounded and full
    /// (Python: `q.put(item)`).
    ///
    /// # Errors
    /// [`Error::Encode`]; [`Error::ManagerGone`] if the server goes, even
    /// while this waits.
    pub fn put(&self, item: T) -> Result<()> {
        self.put_with(item, true, None)
    }

    /// Add `item`, waiting at most `timeout` for room
    /// (Python: `q.put(item, timeout=t)`).
    ///
    /// # Errors
    /// [`Error::QueueFull`] if there was no room in time.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
        self.put_with(item, true, Some(timeout))
    }

    /// Add `item` if there is room now (Python: `q.put_nowait(item)`).
    ///
    /// # Errors
    /// [`Error::QueueFull`] if the queue is full.
    pub fn put_nowait(&self, item: T) -> Result<()> {
        self.put_with(item, false, None)
    }

    /// Remove and return the oldest item, waiting for one
    /// (Python: `q.get()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server goes, even while this waits.
    pub fn get(&self) -> Result<T> {
        self.get_with(true, None)
    }

    /// Remove and return the oldest item, waiting at most `timeout`
    /// (Python: `q.get(timeout=t)`).
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] if nothing came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_with(true, Some(timeout))
    }

    /// Remove and return the oldest item if there is one now
    /// (Python: `q.get_nowait()`).
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] if the queue is empty.
    pub fn get_nowait(&self) -> Result<T> {
        self.get_with(false, None)
    }

    /// The number of items (Python: `q.qsize()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn qsize(&self) -> Result<usize> {
        want_size(self.op(QueueOp::Qsize)?)
    }

    /// Whether the queue is empty (Python: `q.empty()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn empty(&self) -> Result<bool> {
        want_bool(self.op(QueueOp::Empty)?)
    }

    /// Whether a bounded queue is full (Python: `q.full()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn full(&self) -> Result<bool> {
        want_bool(self.op(QueueOp::Full)?)
    }

    /// Mark one item taken with `get` as processed
    /// (Python: `JoinableQueue.task_done()`).
    ///
    /// # Errors
    /// [`Error::TaskDoneTooManyTimes`] if every item put is already done.
    pub fn task_done(&self) -> Result<()> {
        want_unit(self.op(QueueOp::TaskDone)?)
    }

    /// Wait until every item put has been marked done
    /// (Python: `JoinableQueue.join()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server goes, even while this waits.
    pub fn join(&self) -> Result<()> {
        want_unit(self.op(QueueOp::Join)?)
    }
}

// ---------------------------------------------------------------------------
// value
// ---------------------------------------------------------------------------

/// A proxy of a shared value (Python: `manager.Value(typecode, value)`).
///
/// [`get`](Self::get) and [`set`](Self::set) are Python's `.value`: two
/// separate requests, so `v.set(v.get()? + 1)` from several processes loses
/// updates, exactly as `v.value += 1` does in CPython. Guard it with a
/// [`LockProxy`](super::LockProxy), or use the atomic
/// [`fetch_add`](Self::fetch_add) and [`compare_and_swap`](Self::compare_and_swap),
/// which the server carries out in one step.
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let v = manager.value(10i64).unwrap();
/// assert_eq!(v.fetch_add(5).unwrap(), 10);
/// assert_eq!(v.get().unwrap(), 15);
/// assert_eq!(v.compare_and_swap(&15, 0).unwrap(), Ok(15));
/// assert_eq!(v.compare_and_swap(&15, 1).unwrap(), Err(0));
/// ```
pub struct ValueProxy<T> {
    pub(super) handle: Handle,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(ValueProxy<T>);

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    fn op(&self, op: ValueOp) -> Result<Reply> {
        self.handle.call(Method::Value(op))
    }

    /// The value (Python: `v.value`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn get(&self) -> Result<T> {
        want(self.op(ValueOp::Get)?)
    }

    /// Replace the value (Python: `v.value = x`).
    ///
    /// # Errors
    /// [`Error::Encode`]; [`Error::ManagerGone`].
    pub fn set(&self, value: T) -> Result<()> {
        want_unit(self.op(ValueOp::Set(to_datum(&value)?))?)
    }

    /// Replace the value and return the old one, atomically.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn swap(&self, value: T) -> Result<T> {
        want(self.op(ValueOp::Swap(to_datum(&value)?))?)
    }

    /// If the value equals `current`, replace it with `new`: `Ok(previous)`
    /// when it did, `Err(actual)` when it did not. Atomic on the server, so a
    /// loop of `get` and `compare_and_swap` makes any update safe.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn compare_and_swap(&self, current: &T, new: T) -> Result<std::result::Result<T, T>> {
        match self.op(ValueOp::CompareAndSwap {
            current: to_datum(current)?,
            new: to_datum(&new)?,
        })? {
            Reply::Exchanged { swapped, previous } => {
                let previous = from_datum(previous)?;
                Ok(if swapped { Ok(previous) } else { Err(previous) })
            }
            r => Err(super::unexpected(&r)),
        }
    }

    /// Add `delta` to a numeric value and return the value before, in one
    /// step on the server: updates from many processes are never lost.
    /// Integers of any width are added as 128-bit integers; floats as `f64`.
    ///
    /// # Errors
    /// [`Error::ManagerRequest`] if the value and `delta` are not both
    /// integers or both floats, or the sum overflows 128 bits;
    /// [`Error::Decode`] if the result does not fit `T` when read back.
    pub fn fetch_add(&self, delta: T) -> Result<T> {
        want(self.op(ValueOp::FetchAdd(to_datum(&delta)?))?)
    }
}

// ---------------------------------------------------------------------------
// array
// ---------------------------------------------------------------------------

/// A proxy of a fixed-length shared array (Python: `manager.Array(typecode, items)`).
///
/// Like CPython's, it has no lock: a read-modify-write of an element from
/// several processes needs a [`LockProxy`](super::LockProxy).
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let a = manager.array([0u8; 4]).unwrap();
/// a.set(-1, 9).unwrap();
/// assert_eq!(a.to_vec().unwrap(), [0, 0, 0, 9]);
/// assert_eq!(a.len().unwrap(), 4);
/// assert!(a.get(4).unwrap_err().is_index_out_of_range());
/// ```
pub struct ArrayProxy<T> {
    pub(super) handle: Handle,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(ArrayProxy<T>);

impl<T: Serialize + DeserializeOwned> ArrayProxy<T> {
    fn op(&self, op: ListOp) -> Result<Reply> {
        self.handle.call(Method::List(op))
    }

    /// The number of elements (Python: `len(a)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn len(&self) -> Result<usize> {
        want_size(self.op(ListOp::Len)?)
    }

    /// Whether the array has no elements.
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The element at `i`; negative counts from the end (Python: `a[i]`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`].
    pub fn get(&self, i: i64) -> Result<T> {
        want(self.op(ListOp::Get(i))?)
    }

    /// Replace the element at `i` (Python: `a[i] = x`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`].
    pub fn set(&self, i: i64, value: T) -> Result<()> {
        want_unit(self.op(ListOp::Set(i, to_datum(&value)?))?)
    }

    /// A copy of a slice (Python: `a[i:j]`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn slice(&self, range: impl RangeBounds<i64>) -> Result<Vec<T>> {
        want_seq(self.op(ListOp::GetSlice(slice_of(range)))?)
    }

    /// Replace a slice with as many `items` (Python: `a[i:j] = items`).
    ///
    /// # Errors
    /// [`Error::ManagerRequest`] if the lengths differ: an array's length
    /// is fixed.
    pub fn set_slice(
        &self,
        range: impl RangeBounds<i64>,
        items: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        want_unit(self.op(ListOp::SetSlice(slice_of(range), data(items)?))?)
    }

    /// A copy of the whole array (Python: `a[:]`, `list(a)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        want_seq(self.op(ListOp::ToVec)?)
    }
}

// ---------------------------------------------------------------------------
// namespace
// ---------------------------------------------------------------------------

/// A proxy of a shared namespace: named attributes of any serde types
/// (Python: `manager.Namespace()`, used as `ns.x = 1`).
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let ns = manager.namespace().unwrap();
/// ns.set("x", 1).unwrap();
/// ns.set("name", "forklore").unwrap();
/// assert_eq!(ns.get::<i32>("x").unwrap(), 1);
/// assert_eq!(ns.repr().unwrap(), "Namespace(name='forklore', x=1)");
/// assert!(matches!(
///     ns.get::<i32>("y"),
///     Err(forklore::Error::NoAttribute { .. })
/// ));
/// ```
#[derive(Clone)]
pub struct NamespaceProxy {
    pub(super) handle: Handle,
}

impl fmt::Debug for NamespaceProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamespaceProxy({:?})", self.handle)
    }
}

impl NamespaceProxy {
    pub(crate) fn new(handle: Handle) -> Self {
        NamespaceProxy { handle }
    }

    fn op(&self, op: NamespaceOp) -> Result<Reply> {
        self.handle.call(Method::Namespace(op))
    }

    /// The attribute `name` (Python: `ns.name`).
    ///
    /// # Errors
    /// [`Error::NoAttribute`] if it was never set; [`Error::Decode`] if it
    /// is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        want(self.op(NamespaceOp::Get(name.to_string()))?)
    }

    /// Set the attribute `name` (Python: `ns.name = value`).
    ///
    /// # Errors
    /// [`Error::Encode`]; [`Error::ManagerGone`].
    pub fn set<T: Serialize>(&self, name: &str, value: T) -> Result<()> {
        want_unit(self.op(NamespaceOp::Set(name.to_string(), to_datum(&value)?))?)
    }

    /// Delete the attribute `name` (Python: `del ns.name`).
    ///
    /// # Errors
    /// [`Error::NoAttribute`] if it was never set.
    pub fn del(&self, name: &str) -> Result<()> {
        want_unit(self.op(NamespaceOp::Del(name.to_string()))?)
    }

    /// The attributes' names, sorted.
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn names(&self) -> Result<Vec<String>> {
        want_pairs(self.op(NamespaceOp::Items)?)?
            .into_iter()
            .map(|(k, _)| from_datum(k))
            .collect()
    }

    /// The namespace as Python prints it: `Namespace(a=1, b='x')`.
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn repr(&self) -> Result<String> {
        let pairs = want_pairs(self.op(NamespaceOp::Items)?)?;
        let fields: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| match k {
                Datum::Str(k) => format!("{k}={v}"),
                k => format!("{k}={v}"),
            })
            .collect();
        Ok(format!("Namespace({})", fields.join(", ")))
    }
}
