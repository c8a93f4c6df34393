//! Client side: the proxies of lists and arrays.

use std::borrow::Borrow;
use std::ops::{Bound, RangeBounds};

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;
use crate::managers::datum::{seq_to_datum, to_datum, Datum};
use crate::managers::protocol::{ListOp, Method, Reply, Slice};
use crate::managers::{want, want_bool, want_seq, want_size, want_unit, want_vec, Handle};

/// A Python slice from a Rust range of (possibly negative) indices:
/// `-3..` is `[-3:]`, `..=-1` is `[:]`, `1..4` is `[1:4]`.
fn slice_of(range: impl RangeBounds<i64>) -> Slice {
    let start = match range.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => Some(s.saturating_add(1)),
        Bound::Unbounded => None,
    };
    let stop = match range.end_bound() {
        // `..=-1` runs to the end: Python has no `stop` for that but `None`.
        Bound::Included(&-1) => None,
        // `..=i64::MAX` also runs to the end (no list is that long).
        Bound::Included(&e) => e.checked_add(1),
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
    let _encoding = crate::managers::named::Encoding::start();
    items.into_iter().map(|x| to_datum(&x)).collect()
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
    pub(crate) handle: Handle,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(ListProxy<T>);

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// A live iterator: each step asks the server for the next item
    /// (Python: `iter(li)`, which calls `li[i]` for `i = 0, 1, ...` until
    /// `IndexError`). It sees changes made while it runs, as CPython's does:
    /// set `li[0]` before the first step and the step returns the new value;
    /// items appended before it reaches the end are returned too. Once it
    /// has ended it stays ended. [`to_vec`](Self::to_vec) takes a snapshot
    /// in one request instead.
    ///
    /// An error other than the end (a dead manager, an item that is not a
    /// `T`) is returned once, and then the iterator ends (CPython would
    /// raise it on every step; a Rust `for` loop would then never end).
    ///
    /// ```
    /// let manager = forklore::managers::Manager::start().unwrap();
    /// let li = manager.list_from([1, 2, 3]).unwrap();
    /// let mut it = li.iter();
    /// li.set(0, 100).unwrap();
    /// assert_eq!(it.next().unwrap().unwrap(), 100);
    /// let rest: Vec<i32> = it.collect::<Result<_, _>>().unwrap();
    /// assert_eq!(rest, [2, 3]);
    /// ```
    pub fn iter(&self) -> ListIter<'_, T> {
        ListIter {
            list: self,
            next: Some(0),
        }
    }

    fn op(&self, op: ListOp) -> Result<Reply> {
        self.handle.call(Method::List(op))
    }

    /// Add `value` at the end (Python: `li.append(x)`).
    ///
    /// Like every method of the proxies that only sends a value, it takes
    /// the value or a reference to it (`impl Borrow<T>`): it serializes it
    /// and never keeps it, so a large value need not be cloned.
    ///
    /// ```
    /// let m = forklore::Manager::start().unwrap();
    /// let li = m.list::<i64>().unwrap();
    /// li.append(5).unwrap(); // a value
    /// let big = 7;
    /// li.append(&big).unwrap(); // or a reference
    /// let names = m.list::<String>().unwrap();
    /// let name = String::from("ada");
    /// names.append(&name).unwrap(); // `name` is still ours
    /// names.append(name).unwrap();
    /// // `.into()` needs its type spelled out now: `String::from("x")`.
    /// names.append(String::from("x")).unwrap();
    /// assert_eq!(li.to_vec().unwrap(), [5, 7]);
    /// assert_eq!(names.len().unwrap(), 3);
    /// # m.shutdown().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode) if the value cannot be converted;
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn append(&self, value: impl Borrow<T>) -> Result<()> {
        want_unit(self.op(ListOp::Append(to_datum(value.borrow())?))?)
    }

    /// Add every item at the end, in one request (Python: `li.extend(items)`).
    /// The items may be values or references, as for
    /// [`append`](Self::append):
    ///
    /// ```
    /// let m = forklore::Manager::start().unwrap();
    /// let li = m.list::<i64>().unwrap();
    /// li.extend(0..3).unwrap(); // values
    /// let more = vec![10, 20];
    /// li.extend(&more).unwrap(); // references: `more` is still ours
    /// assert_eq!(li.to_vec().unwrap(), [0, 1, 2, 10, 20]);
    /// assert_eq!(more.len(), 2);
    /// # m.shutdown().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn extend(&self, items: impl IntoIterator<Item = impl Borrow<T>>) -> Result<()> {
        want_unit(self.op(ListOp::Extend(seq_to_datum::<T, _>(items)?))?)
    }

    /// `li += items` (Python's `__iadd__`): the items added at the end in
    /// one server-side step, as [`extend`](Self::extend) (which is what
    /// CPython's `__iadd__` calls). A method rather than `AddAssign`, whose
    /// `+=` could not report a dead manager except by panicking.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn iadd(&self, items: impl IntoIterator<Item = impl Borrow<T>>) -> Result<()> {
        self.extend(items)
    }

    /// `li *= n` (Python's `__imul__`): the list repeated `n` times, in one
    /// server-side step, so no other client sees it half-repeated; `n <= 0`
    /// empties it.
    ///
    /// # Errors
    /// [`Error::ManagerRequest`](crate::Error::ManagerRequest) if the result would pass 16 Mi items (the
    /// list is unchanged; Python: `MemoryError`); [`Error::ManagerGone`](crate::Error::ManagerGone).
    pub fn imul(&self, n: i64) -> Result<()> {
        want_unit(self.op(ListOp::IMul(n))?)
    }

    /// Insert `value` before index `i`; an index past either end inserts at
    /// that end (Python: `li.insert(i, x)`).
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn insert(&self, i: i64, value: impl Borrow<T>) -> Result<()> {
        want_unit(self.op(ListOp::Insert(i, to_datum(value.borrow())?))?)
    }

    /// Remove and return the last item (Python: `li.pop()`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange) if the list is empty.
    pub fn pop(&self) -> Result<T> {
        want(self.op(ListOp::Pop(None))?)
    }

    /// Remove and return the item at `i` (Python: `li.pop(i)`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange).
    pub fn pop_at(&self, i: i64) -> Result<T> {
        want(self.op(ListOp::Pop(Some(i)))?)
    }

    /// Remove the first item equal to `value` (Python: `li.remove(x)`).
    ///
    /// # Errors
    /// [`Error::ValueNotInList`](crate::Error::ValueNotInList) if there is none.
    pub fn remove<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
    {
        want_unit(self.op(ListOp::Remove(to_datum(value)?))?)
    }

    /// The index of the first item equal to `value` (Python: `li.index(x)`).
    ///
    /// # Errors
    /// [`Error::ValueNotInList`](crate::Error::ValueNotInList) if there is none.
    pub fn index<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
    {
        want_size(self.op(ListOp::Index(to_datum(value)?, Slice::default()))?)
    }

    /// How many items equal `value` (Python: `li.count(x)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn count<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<usize>
    where
        T: Borrow<Q>,
    {
        want_size(self.op(ListOp::Count(to_datum(value)?))?)
    }

    /// Whether an item equals `value` (Python: `x in li`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn contains<Q: Serialize + ?Sized>(&self, value: &Q) -> Result<bool>
    where
        T: Borrow<Q>,
    {
        want_bool(self.op(ListOp::Contains(to_datum(value)?))?)
    }

    /// Reverse the list in place (Python: `li.reverse()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn reverse(&self) -> Result<()> {
        want_unit(self.op(ListOp::Reverse)?)
    }

    /// Sort in place, stably, in the order `T`'s derived `Ord` gives
    /// (Python: `li.sort()`; see [`datum`](crate::managers::datum) for the order).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn sort(&self) -> Result<()> {
        want_unit(self.op(ListOp::Sort { reverse: false })?)
    }

    /// Sort in place, largest first; equal items keep their order
    /// (Python: `li.sort(reverse=True)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn sort_reverse(&self) -> Result<()> {
        want_unit(self.op(ListOp::Sort { reverse: true })?)
    }

    /// The number of items (Python: `len(li)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn len(&self) -> Result<usize> {
        want_size(self.op(ListOp::Len)?)
    }

    /// Whether the list is empty (Python: `not li`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The item at `i` (Python: `li[i]`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange).
    pub fn get(&self, i: i64) -> Result<T> {
        want(self.op(ListOp::Get(i))?)
    }

    /// Replace the item at `i` (Python: `li[i] = x`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange).
    pub fn set(&self, i: i64, value: impl Borrow<T>) -> Result<()> {
        want_unit(self.op(ListOp::Set(i, to_datum(value.borrow())?))?)
    }

    /// Delete the item at `i` (Python: `del li[i]`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange).
    pub fn del(&self, i: i64) -> Result<()> {
        want_unit(self.op(ListOp::Del(i))?)
    }

    /// A copy of a slice, as a plain `Vec` (Python: `li[a:b]`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn slice(&self, range: impl RangeBounds<i64>) -> Result<Vec<T>> {
        want_seq(self.op(ListOp::GetSlice(slice_of(range)))?)
    }

    /// A copy of an extended slice (Python: `li[start:stop:step]`).
    ///
    /// # Errors
    /// [`Error::ManagerRequest`](crate::Error::ManagerRequest) for a zero step.
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
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn del_slice(&self, range: impl RangeBounds<i64>) -> Result<()> {
        want_unit(self.op(ListOp::DelSlice(slice_of(range)))?)
    }

    /// Remove every item (Python 3.14: `li.clear()`; before, `del li[:]`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn clear(&self) -> Result<()> {
        want_unit(self.op(ListOp::Clear)?)
    }

    /// A copy of the whole list (Python: `li[:]`, or what `print(li)` shows).
    ///
    /// # Errors
    /// [`Error::Decode`](crate::Error::Decode) if an item is not a `T`; [`Error::ManagerGone`](crate::Error::ManagerGone).
    pub fn to_vec(&self) -> Result<Vec<T>>
    where
        T: 'static,
    {
        want_vec(self.op(ListOp::ToVec)?)
    }

    /// The list as Python would print it (`[1, 'a']`), rendered from the
    /// server's values.
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn repr(&self) -> Result<String> {
        match self.op(ListOp::ToVec)? {
            Reply::Seq(v) => {
                self.handle.settle(&v);
                Ok(Datum::Seq(v).to_string())
            }
            Reply::Datum(d) => {
                self.handle.settle([&d]);
                Ok(d.to_string())
            }
            r => Err(crate::managers::unexpected(&r)),
        }
    }
}

// ---------------------------------------------------------------------------
// array
// ---------------------------------------------------------------------------

/// A proxy of a fixed-length shared array (Python: `manager.Array(typecode, items)`).
///
/// Like CPython's, it has no lock: a read-modify-write of an element from
/// several processes needs a [`LockProxy`](crate::managers::LockProxy).
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
    pub(crate) handle: Handle,
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
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn len(&self) -> Result<usize> {
        want_size(self.op(ListOp::Len)?)
    }

    /// Whether the array has no elements.
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The element at `i`; negative counts from the end (Python: `a[i]`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange).
    pub fn get(&self, i: i64) -> Result<T> {
        want(self.op(ListOp::Get(i))?)
    }

    /// Replace the element at `i` (Python: `a[i] = x`).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`](crate::Error::IndexOutOfRange).
    pub fn set(&self, i: i64, value: impl Borrow<T>) -> Result<()> {
        want_unit(self.op(ListOp::Set(i, to_datum(value.borrow())?))?)
    }

    /// A copy of a slice (Python: `a[i:j]`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn slice(&self, range: impl RangeBounds<i64>) -> Result<Vec<T>> {
        want_seq(self.op(ListOp::GetSlice(slice_of(range)))?)
    }

    /// Replace a slice with as many `items` (Python: `a[i:j] = items`).
    ///
    /// # Errors
    /// [`Error::ManagerRequest`](crate::Error::ManagerRequest) if the lengths differ: an array's length
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
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn to_vec(&self) -> Result<Vec<T>>
    where
        T: 'static,
    {
        want_vec(self.op(ListOp::ToVec)?)
    }
}

// ---------------------------------------------------------------------------

/// A live iterator over a [`ListProxy`]: see [`ListProxy::iter`].
pub struct ListIter<'a, T> {
    list: &'a ListProxy<T>,
    /// The index of the next step; `None` once ended.
    next: Option<i64>,
}

impl<T> fmt::Debug for ListIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListIter")
            .field("next", &self.next)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Iterator for ListIter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let i = self.next?;
        match self.list.get(i) {
            Ok(v) => {
                self.next = i.checked_add(1);
                Some(Ok(v))
            }
            Err(e) => {
                self.next = None;
                if e.is_index_out_of_range() {
                    None
                } else {
                    Some(Err(e))
                }
            }
        }
    }
}
