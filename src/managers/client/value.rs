//! Client side: the proxies of values and namespaces.

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;
use crate::managers::datum::{from_datum, to_datum, Datum};
use crate::managers::protocol::{Method, NamespaceOp, Reply, ValueOp};
use crate::managers::{want, want_pairs, want_unit, Handle};

// ---------------------------------------------------------------------------
// value
// ---------------------------------------------------------------------------

/// A proxy of a shared value (Python: `manager.Value(typecode, value)`).
///
/// [`get`](Self::get) and [`set`](Self::set) are Python's `.value`: two
/// separate requests, so `v.set(v.get()? + 1)` from several processes loses
/// updates, exactly as `v.value += 1` does in CPython. Guard it with a
/// [`LockProxy`](crate::managers::LockProxy), or use the atomic
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
    pub(crate) handle: Handle,
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
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn get(&self) -> Result<T> {
        want(self.op(ValueOp::Get)?)
    }

    /// Replace the value (Python: `v.value = x`).
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode); [`Error::ManagerGone`](crate::Error::ManagerGone).
    pub fn set(&self, value: impl Borrow<T>) -> Result<()> {
        want_unit(self.op(ValueOp::Set(to_datum(value.borrow())?))?)
    }

    /// Replace the value and return the old one, atomically.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn swap(&self, value: impl Borrow<T>) -> Result<T> {
        want(self.op(ValueOp::Swap(to_datum(value.borrow())?))?)
    }

    /// If the value equals `current`, replace it with `new`: `Ok(previous)`
    /// when it did, `Err(actual)` when it did not. Atomic on the server, so a
    /// loop of `get` and `compare_and_swap` makes any update safe.
    ///
    /// # Errors
    /// As [`set`](Self::set).
    pub fn compare_and_swap(
        &self,
        current: &T,
        new: impl Borrow<T>,
    ) -> Result<std::result::Result<T, T>> {
        match self.op(ValueOp::CompareAndSwap {
            current: to_datum(current)?,
            new: to_datum(new.borrow())?,
        })? {
            Reply::Exchanged { swapped, previous } => {
                let previous = from_datum(previous)?;
                Ok(if swapped { Ok(previous) } else { Err(previous) })
            }
            r => Err(crate::managers::unexpected(&r)),
        }
    }

    /// Add `delta` to a numeric value and return the value before, in one
    /// step on the server: updates from many processes are never lost.
    /// Integers are added as integers, checked against the range of `T`
    /// (the server refuses a sum past `i64::MAX` for a `ValueProxy<i64>`
    /// and leaves the value unchanged); floats are added as `f64`.
    ///
    /// # Errors
    /// [`Error::ManagerRequest`](crate::Error::ManagerRequest) if the value and `delta` are not both
    /// integers or both floats, or the sum overflows `T` (the stored value
    /// is then unchanged).
    pub fn fetch_add(&self, delta: impl Borrow<T>) -> Result<T> {
        want(self.op(ValueOp::FetchAdd {
            delta: to_datum(delta.borrow())?,
            range: int_range::<T>(),
        })?)
    }
}

/// The range of `T` if it is an integer type: the widest bounds of the
/// primitive integers that a `T` can hold (serde tells, by accepting or
/// refusing each). `None` for a type that holds no integer.
fn int_range<T: DeserializeOwned>() -> Option<(i128, i128)> {
    let fits = |v: i128| from_datum::<T>(Datum::Int(v)).is_ok();
    let maxes = [
        i128::MAX,
        u64::MAX.into(),
        i64::MAX.into(),
        u32::MAX.into(),
        i32::MAX.into(),
        u16::MAX.into(),
        i16::MAX.into(),
        u8::MAX.into(),
        i8::MAX.into(),
    ];
    let mins = [
        i128::MIN,
        i64::MIN.into(),
        i32::MIN.into(),
        i16::MIN.into(),
        i8::MIN.into(),
        0,
    ];
    let hi = maxes.into_iter().find(|&m| fits(m))?;
    let lo = mins.into_iter().find(|&m| fits(m))?;
    Some((lo, hi))
}

// namespace
// ---------------------------------------------------------------------------

/// A proxy of a shared namespace: named attributes of any serde types
/// (Python: `manager.Namespace()`, used as `ns.x = 1`).
///
/// Attributes whose name starts with `_` are left out of
/// [`repr`](Self::repr) and [`names`](Self::names), as in CPython. Unlike
/// CPython, which keeps them on the local proxy and never sends them, they
/// are stored on the server like the others: a Rust proxy has no local
/// attribute storage to keep them in, and every process sees them.
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
    pub(crate) handle: Handle,
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
    /// [`Error::NoAttribute`](crate::Error::NoAttribute) if it was never set; [`Error::Decode`](crate::Error::Decode) if it
    /// is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        want(self.op(NamespaceOp::Get(name.to_string()))?)
    }

    /// Set the attribute `name` (Python: `ns.name = value`).
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode); [`Error::ManagerGone`](crate::Error::ManagerGone).
    pub fn set<T: Serialize>(&self, name: &str, value: T) -> Result<()> {
        want_unit(self.op(NamespaceOp::Set(name.to_string(), to_datum(&value)?))?)
    }

    /// Delete the attribute `name` (Python: `del ns.name`).
    ///
    /// # Errors
    /// [`Error::NoAttribute`](crate::Error::NoAttribute) if it was never set.
    pub fn del(&self, name: &str) -> Result<()> {
        want_unit(self.op(NamespaceOp::Del(name.to_string()))?)
    }

    /// The attributes' names, sorted, without those that start with `_`
    /// (CPython keeps `ns._x` on the local proxy and never lists it; here
    /// it is stored on the server but hidden alike).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self.public_items()?.into_iter().map(|(k, _)| k).collect())
    }

    /// The attributes that do not start with `_`, sorted by name.
    fn public_items(&self) -> Result<Vec<(String, Datum)>> {
        let mut out = Vec::new();
        let pairs = want_pairs(self.op(NamespaceOp::Items)?)?;
        self.handle.settle(pairs.iter().map(|(_, v)| v));
        for (k, v) in pairs {
            let k: String = from_datum(k)?;
            if !k.starts_with('_') {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// The namespace as Python prints it: `Namespace(a=1, b='x')`, without
    /// the attributes that start with `_` (as CPython's repr).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn repr(&self) -> Result<String> {
        let fields: Vec<String> = self
            .public_items()?
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        Ok(format!("Namespace({})", fields.join(", ")))
    }
}
