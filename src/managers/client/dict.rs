//! Client side: the proxy of dicts.

use std::borrow::Borrow;

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::managers::datum::{from_datum, to_datum, Datum};
use crate::managers::protocol::{DictOp, Method, Reply};
use crate::managers::{
    want, want_bool, want_maybe, want_pairs, want_seq, want_size, want_unit, Handle,
};

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
/// d.set("b".to_string(), 2).unwrap();
/// d.set("a".to_string(), 1).unwrap();
/// assert_eq!(d.keys().unwrap(), ["b", "a"]);
/// assert_eq!(d.get("a").unwrap(), Some(1));
/// assert_eq!(d.pop("b").unwrap(), 2);
/// assert!(d.get_item("b").unwrap_err().is_key_not_found());
/// assert_eq!(d.repr().unwrap(), "{'a': 1}");
/// ```
pub struct DictProxy<K, V> {
    pub(crate) handle: Handle,
    _t: PhantomData<fn() -> (K, V)>,
}

proxy_common!(DictProxy<K, V>);

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// A live iterator over the keys: each step asks the server for the
    /// key after the last one returned, in insertion order (Python:
    /// `iter(d)`). Keys added before it reaches the end are returned; as in
    /// CPython, a step after the dict changed size (an insertion, a
    /// deletion, a `clear`) since `iter` is
    /// [`Error::ChangedDuringIteration`] (Python: `RuntimeError: dictionary
    /// changed size during iteration`). An error is returned once, then the
    /// iterator ends (CPython raises it again on every later step); an
    /// ended iterator stays ended. [`keys`](Self::keys) takes a snapshot in
    /// one request instead.
    ///
    /// ```
    /// let manager = forklore::managers::Manager::start().unwrap();
    /// let d = manager.dict::<u8, char>().unwrap();
    /// d.update([(65, 'A'), (66, 'B')]).unwrap();
    /// let keys: Vec<u8> = d.iter().unwrap().collect::<Result<_, _>>().unwrap();
    /// assert_eq!(keys, [65, 66]);
    /// let mut it = d.iter().unwrap();
    /// d.clear().unwrap();
    /// assert!(matches!(
    ///     it.next(),
    ///     Some(Err(forklore::Error::ChangedDuringIteration { .. }))
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone (the size is taken
    /// when the iterator is made, as CPython's is).
    pub fn iter(&self) -> Result<DictIter<'_, K, V>> {
        Ok(DictIter {
            dict: self,
            len: self.len()? as u64,
            after: None,
            done: false,
        })
    }

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
    pub fn set(&self, key: impl Borrow<K>, value: impl Borrow<V>) -> Result<()> {
        want_unit(self.op(DictOp::Set(
            to_datum(key.borrow())?,
            to_datum(value.borrow())?,
        ))?)
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
    pub fn setdefault(&self, key: impl Borrow<K>, default: impl Borrow<V>) -> Result<V> {
        want(self.op(DictOp::SetDefault(
            to_datum(key.borrow())?,
            to_datum(default.borrow())?,
        ))?)
    }

    /// Set every pair, in one request (Python: `d.update(pairs)`). Keys and
    /// values may be values or references:
    ///
    /// ```
    /// let m = forklore::Manager::start().unwrap();
    /// let d = m.dict::<String, i64>().unwrap();
    /// let (k, v) = (String::from("a"), 1);
    /// d.update([(&k, &v)]).unwrap(); // `k` is still ours
    /// d.update([(String::from("b"), 2)]).unwrap();
    /// assert_eq!(d.len().unwrap(), 2);
    /// # m.shutdown().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn update(
        &self,
        pairs: impl IntoIterator<Item = (impl Borrow<K>, impl Borrow<V>)>,
    ) -> Result<()> {
        let encoding = crate::managers::named::Encoding::start();
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((to_datum(k.borrow())?, to_datum(v.borrow())?)))
            .collect::<Result<_>>()?;
        drop(encoding);
        want_unit(self.op(DictOp::Update(pairs))?)
    }

    /// The dict as Python would print it (`{'a': 1}`), in insertion order.
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn repr(&self) -> Result<String> {
        let pairs = want_pairs(self.op(DictOp::Items)?)?;
        self.handle.settle(pairs.iter().flat_map(|(k, v)| [k, v]));
        // Datum::Map displays its pairs in the order given.
        Ok(Datum::Map(pairs).to_string())
    }
}

/// A live iterator over the keys of a [`DictProxy`]: see [`DictProxy::iter`].
pub struct DictIter<'a, K, V> {
    dict: &'a DictProxy<K, V>,
    /// The size when the iterator was made.
    len: u64,
    /// The insertion number of the last key returned.
    after: Option<u64>,
    done: bool,
}

impl<K, V> fmt::Debug for DictIter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DictIter")
            .field("len", &self.len)
            .field("after", &self.after)
            .field("done", &self.done)
            .finish()
    }
}

impl<K, V> Iterator for DictIter<'_, K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    type Item = Result<K>;

    fn next(&mut self) -> Option<Result<K>> {
        if self.done {
            return None;
        }
        let step = self
            .dict
            .op(DictOp::IterNext {
                after: self.after,
                len: self.len,
            })
            .and_then(want_pairs)
            .and_then(|pairs| match pairs.into_iter().next() {
                None => Ok(None),
                Some((seq, k)) => Ok(Some((from_datum::<u64>(seq)?, from_datum::<K>(k)?))),
            });
        match step {
            Ok(Some((seq, k))) => {
                self.after = Some(seq);
                Some(Ok(k))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
