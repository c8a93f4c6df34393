//! Python's `multiprocessing.sharedctypes`: [`Value`] and [`Array`] of
//! plain data in shared memory, each with its own [`RLock`], and their
//! lock-free [`RawValue`] and [`RawArray`].
//!
//! | Python | forklore |
//! |---|---|
//! | `Value('q', 0)` | [`Value::new(0i64)`](Value::new) |
//! | `Value('q', 0, lock=False)`, `RawValue('q', 0)` | [`RawValue::new(0i64)`](RawValue::new) |
//! | `v.value`, `v.value = x` | [`Value::get`], [`Value::set`] |
//! | `v.get_lock()`, `v.get_obj()` | [`Value::get_lock`], [`Value::get_obj`] |
//! | `Array('d', 10)`, `RawArray('d', 10)` | [`Array::new`], [`RawArray::new`] |
//! | (none: `v.value += 1` is not atomic) | [`Value::fetch_add`] |
//!
//! The element type is one of the [`Plain`] types: the integers, `f32`,
//! `f64`, `bool` and fixed arrays of them. The trait is sealed: every bit
//! pattern another process may leave in the memory must be a valid value,
//! and every access is an atomic load or store of the element (relaxed;
//! the lock's acquire and release order them). A `Value<T>` passed to a
//! process that expects another `T` is refused with an error.
//!
//! As in CPython, `get` and `set` each take the lock, so `v.set(v.get()? + 1)`
//! from several processes loses updates; hold [`Value::get_lock`] around
//! the read-modify-write, or use [`Value::fetch_add`], one atomic
//! instruction (going further than CPython).

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU64,
    AtomicU8, AtomicUsize,
};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::region::{Region, BODY};
use crate::synchronize::{one_fd, Mutex, RLock, SharedFds};

use crate::synchronize::{KIND_ARRAY, KIND_VALUE};
/// The lock is at BODY (12 bytes), the type code at BODY+12, the length
/// at BODY+16, the data at BODY+32.
const CODE_AT: usize = BODY + Mutex::SIZE;
const LEN_AT: usize = BODY + 16;
const DATA: usize = BODY + 32;

mod sealed {
    pub trait Sealed {}
}

/// Plain data that can live in shared memory: every bit pattern is read
/// as a valid value, and it is loaded and stored atomically, element by
/// element. Implemented for the integers, `f32`, `f64`, `bool` and
/// `[T; N]` of those; sealed.
pub trait Plain: sealed::Sealed + Copy + Send + Sync + fmt::Debug + 'static {
    #[doc(hidden)]
    const SIZE: usize;
    #[doc(hidden)]
    const CODE: u32;
    #[doc(hidden)]
    /// # Safety
    /// `p` is valid for `SIZE` bytes and aligned for `Self`.
    unsafe fn load(p: *const u8) -> Self;
    #[doc(hidden)]
    /// # Safety
    /// As `load`.
    unsafe fn store(p: *mut u8, v: Self);
}

/// The [`Plain`] integers, which support atomic read-modify-write in
/// shared memory ([`Value::fetch_add`] and friends). Sealed.
pub trait AtomicInt: Plain {
    #[doc(hidden)]
    /// # Safety
    /// As [`Plain::load`].
    unsafe fn fetch_add(p: *const u8, v: Self) -> Self;
    #[doc(hidden)]
    /// # Safety
    /// As [`Plain::load`].
    unsafe fn fetch_sub(p: *const u8, v: Self) -> Self;
    #[doc(hidden)]
    /// # Safety
    /// As [`Plain::load`].
    unsafe fn swap(p: *const u8, v: Self) -> Self;
    #[doc(hidden)]
    /// # Safety
    /// As [`Plain::load`].
    unsafe fn compare_exchange(p: *const u8, current: Self, new: Self) -> Result<Self, Self>;
}

macro_rules! int {
    ($($t:ty, $a:ty, $code:expr;)*) => {$(
        impl sealed::Sealed for $t {}
        impl Plain for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            const CODE: u32 = $code;
            unsafe fn load(p: *const u8) -> Self {
                // SAFETY: the caller passes a valid, aligned pointer; the
                // atomic type has the size and alignment of $t.
                unsafe { (*p.cast::<$a>()).load(Relaxed) }
            }
            unsafe fn store(p: *mut u8, v: Self) {
                // SAFETY: as in load.
                unsafe { (*p.cast::<$a>()).store(v, Relaxed) }
            }
        }
        impl AtomicInt for $t {
            unsafe fn fetch_add(p: *const u8, v: Self) -> Self {
                // SAFETY: as in load.
                unsafe { (*p.cast::<$a>()).fetch_add(v, SeqCst) }
            }
            unsafe fn fetch_sub(p: *const u8, v: Self) -> Self {
                // SAFETY: as in load.
                unsafe { (*p.cast::<$a>()).fetch_sub(v, SeqCst) }
            }
            unsafe fn swap(p: *const u8, v: Self) -> Self {
                // SAFETY: as in load.
                unsafe { (*p.cast::<$a>()).swap(v, SeqCst) }
            }
            unsafe fn compare_exchange(p: *const u8, c: Self, n: Self) -> Result<Self, Self> {
                // SAFETY: as in load.
                unsafe { (*p.cast::<$a>()).compare_exchange(c, n, SeqCst, SeqCst) }
            }
        }
    )*};
}

int! {
    u8, AtomicU8, 1; i8, AtomicI8, 2; u16, AtomicU16, 3; i16, AtomicI16, 4;
    u32, AtomicU32, 5; i32, AtomicI32, 6; u64, AtomicU64, 7; i64, AtomicI64, 8;
    usize, AtomicUsize, 9; isize, AtomicIsize, 10;
}

macro_rules! float {
    ($($t:ty, $a:ty, $code:expr;)*) => {$(
        impl sealed::Sealed for $t {}
        impl Plain for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            const CODE: u32 = $code;
            unsafe fn load(p: *const u8) -> Self {
                // SAFETY: as for the integers; the bits of any value are a float.
                <$t>::from_bits(unsafe { (*p.cast::<$a>()).load(Relaxed) })
            }
            unsafe fn store(p: *mut u8, v: Self) {
                // SAFETY: as in load.
                unsafe { (*p.cast::<$a>()).store(v.to_bits(), Relaxed) }
            }
        }
    )*};
}

float! { f32, AtomicU32, 11; f64, AtomicU64, 12; }

impl sealed::Sealed for bool {}
impl Plain for bool {
    const SIZE: usize = 1;
    const CODE: u32 = 13;
    unsafe fn load(p: *const u8) -> Self {
        // SAFETY: as for u8; any byte other than 0 reads as true, so no
        // invalid bool is ever made.
        unsafe { (*p.cast::<AtomicU8>()).load(Relaxed) != 0 }
    }
    unsafe fn store(p: *mut u8, v: Self) {
        // SAFETY: as in load.
        unsafe { (*p.cast::<AtomicU8>()).store(u8::from(v), Relaxed) }
    }
}

impl<T: Plain, const N: usize> sealed::Sealed for [T; N] {}
impl<T: Plain, const N: usize> Plain for [T; N] {
    const SIZE: usize = T::SIZE * N;
    const CODE: u32 = T::CODE.wrapping_mul(1_000_003).wrapping_add(N as u32);
    unsafe fn load(p: *const u8) -> Self {
        // SAFETY: element i is at p + i*T::SIZE, inside the SIZE bytes the
        // caller vouches for and aligned as T (SIZE is a multiple of it).
        std::array::from_fn(|i| unsafe { T::load(p.add(i * T::SIZE)) })
    }
    unsafe fn store(p: *mut u8, v: Self) {
        for (i, x) in v.into_iter().enumerate() {
            // SAFETY: as in load.
            unsafe { T::store(p.add(i * T::SIZE), x) }
        }
    }
}

/// The region of `len` elements of `T`, with its lock and type code.
fn new_region<T: Plain>(kind: u32, len: usize) -> Result<Arc<Region>> {
    let bytes = len
        .checked_mul(T::SIZE)
        .and_then(|b| b.checked_add(DATA))
        .ok_or_else(|| Error::InvalidArgument(format!("array of {len} elements is too large")))?;
    let region = Region::new(kind, bytes)?;
    region.u32_at(CODE_AT).store(T::CODE, Relaxed);
    region.u64_at(LEN_AT).store(len as u64, Relaxed);
    Ok(Arc::new(region))
}

fn region_from_fd<T: Plain>(fd: OwnedFd, kind: u32) -> Result<(Arc<Region>, usize)> {
    let region = Region::from_fd(fd, kind, DATA)?;
    if region.u32_at(CODE_AT).load(Relaxed) != T::CODE {
        return Err(Error::InvalidArgument(format!(
            "descriptor holds another element type than {}",
            std::any::type_name::<T>()
        )));
    }
    // The length comes from another process: check it fits the mapping.
    let len = usize::try_from(region.u64_at(LEN_AT).load(Relaxed)).ok();
    let fits = len
        .and_then(|l| l.checked_mul(T::SIZE))
        .and_then(|b| b.checked_add(DATA))
        .is_some_and(|end| end <= region.len());
    match (len, fits) {
        (Some(len), true) => Ok((Arc::new(region), len)),
        _ => Err(Error::InvalidArgument(
            "descriptor's length does not fit its size".into(),
        )),
    }
}

/// `multiprocessing.RawValue`: one `T` in shared memory, with no lock.
#[derive(Clone)]
pub struct RawValue<T: Plain> {
    region: Arc<Region>,
    _t: PhantomData<T>,
}

impl<T: Plain> RawValue<T> {
    /// A new shared value.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new(value: T) -> Result<RawValue<T>> {
        let v = RawValue {
            region: new_region::<T>(KIND_VALUE, 1)?,
            _t: PhantomData,
        };
        v.set(value);
        Ok(v)
    }

    #[inline]
    fn ptr(&self) -> *mut u8 {
        self.region.ptr(DATA, T::SIZE)
    }

    /// The value (Python: `v.value`).
    #[inline]
    pub fn get(&self) -> T {
        // SAFETY: DATA is 16-aligned in a page-aligned mapping and the
        // region holds SIZE bytes there (checked by ptr).
        unsafe { T::load(self.ptr()) }
    }

    /// Sets the value (Python: `v.value = x`).
    #[inline]
    pub fn set(&self, value: T) {
        // SAFETY: as in get.
        unsafe { T::store(self.ptr(), value) }
    }
}

impl<T: AtomicInt> RawValue<T> {
    /// Adds atomically, wrapping on overflow as std's atomics do; returns
    /// the previous value.
    #[inline]
    pub fn fetch_add(&self, v: T) -> T {
        // SAFETY: as in get.
        unsafe { T::fetch_add(self.ptr(), v) }
    }
    /// Subtracts atomically, wrapping; returns the previous value.
    pub fn fetch_sub(&self, v: T) -> T {
        // SAFETY: as in get.
        unsafe { T::fetch_sub(self.ptr(), v) }
    }
    /// Stores atomically; returns the previous value.
    pub fn swap(&self, v: T) -> T {
        // SAFETY: as in get.
        unsafe { T::swap(self.ptr(), v) }
    }
    /// Stores `new` if the value is `current`; `Ok(previous)` if it did,
    /// `Err(actual)` if not.
    ///
    /// # Errors
    /// `Err(actual)` when the value was not `current`.
    pub fn compare_exchange(&self, current: T, new: T) -> Result<T, T> {
        // SAFETY: as in get.
        unsafe { T::compare_exchange(self.ptr(), current, new) }
    }
}

impl<T: Plain> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawValue({:?})", self.get())
    }
}

impl<T: Plain> SharedFds for RawValue<T> {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.region.fd()]
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let (region, _) = region_from_fd::<T>(one_fd(fds, "Value")?, KIND_VALUE)?;
        Ok(RawValue {
            region,
            _t: PhantomData,
        })
    }
}

/// `multiprocessing.Value`: one `T` in shared memory with its own
/// [`RLock`]; `get` and `set` each take it.
///
/// ```
/// let v = forklore::sharedctypes::Value::new(0i64).unwrap();
/// {
///     let _g = v.get_lock().guard().unwrap();
///     v.set(v.get() + 1);
/// }
/// v.fetch_add(2);
/// assert_eq!(v.get(), 3);
/// ```
#[derive(Clone)]
pub struct Value<T: Plain> {
    raw: RawValue<T>,
    lock: RLock,
}

impl<T: Plain> Value<T> {
    /// A new shared value with a new lock.
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be created.
    pub fn new(value: T) -> Result<Value<T>> {
        Ok(Value::with_raw(RawValue::new(value)?))
    }

    fn with_raw(raw: RawValue<T>) -> Value<T> {
        let lock = RLock::inside(raw.region.clone(), BODY);
        Value { raw, lock }
    }

    /// The value, read under the lock.
    #[inline]
    pub fn get(&self) -> T {
        self.lock.holding(|| self.raw.get())
    }

    /// Sets the value under the lock.
    #[inline]
    pub fn set(&self, value: T) {
        self.lock.holding(|| self.raw.set(value))
    }

    /// The lock (Python: `get_lock()`), to make a read-modify-write atomic.
    #[inline]
    pub fn get_lock(&self) -> &RLock {
        &self.lock
    }

    /// The value without its lock (Python: `get_obj()`).
    pub fn get_obj(&self) -> &RawValue<T> {
        &self.raw
    }
}

impl<T: AtomicInt> Value<T> {
    /// Adds atomically without the lock (one instruction), wrapping on
    /// overflow; returns the previous value. Atomic against other atomic
    /// operations, not against a read-modify-write done under the lock.
    #[inline]
    pub fn fetch_add(&self, v: T) -> T {
        self.raw.fetch_add(v)
    }
    /// Subtracts atomically without the lock; returns the previous value.
    pub fn fetch_sub(&self, v: T) -> T {
        self.raw.fetch_sub(v)
    }
}

impl<T: Plain> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Synchronized wrapper for Value({:?})>", self.raw.get())
    }
}

impl<T: Plain> SharedFds for Value<T> {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.raw.fds()
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        Ok(Value::with_raw(RawValue::from_fds(fds)?))
    }
}

/// `multiprocessing.RawArray`: `len` elements of `T` in shared memory,
/// zeroed, with no lock.
#[derive(Clone)]
pub struct RawArray<T: Plain> {
    region: Arc<Region>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Plain> RawArray<T> {
    /// `len` zeroed elements (Python: `RawArray('q', len)`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the size overflows; [`Error::Os`] if
    /// the shared memory cannot be created.
    pub fn new(len: usize) -> Result<RawArray<T>> {
        Ok(RawArray {
            region: new_region::<T>(KIND_ARRAY, len)?,
            len,
            _t: PhantomData,
        })
    }

    /// An array holding a copy of `items` (Python: `RawArray('q', [1, 2])`).
    ///
    /// # Errors
    /// As [`new`](RawArray::new).
    pub fn from_slice(items: &[T]) -> Result<RawArray<T>> {
        let a = RawArray::new(items.len())?;
        for (i, &x) in items.iter().enumerate() {
            // SAFETY: i < len.
            unsafe { T::store(a.ptr(i), x) }
        }
        Ok(a)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn ptr(&self, i: usize) -> *mut u8 {
        self.region.ptr(DATA + i * T::SIZE, T::SIZE)
    }

    fn check(&self, i: usize) -> Result<*mut u8> {
        if i < self.len {
            Ok(self.ptr(i))
        } else {
            Err(Error::IndexOutOfRange {
                index: i64::try_from(i).unwrap_or(i64::MAX),
                len: self.len,
            })
        }
    }

    /// Element `i`.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] if `i >= len` (Python: `IndexError:
    /// invalid index`).
    #[inline]
    pub fn get(&self, i: usize) -> Result<T> {
        let p = self.check(i)?;
        // SAFETY: p is element i < len, aligned, inside the region.
        Ok(unsafe { T::load(p) })
    }

    /// Sets element `i`.
    ///
    /// # Errors
    /// As [`get`](RawArray::get).
    #[inline]
    pub fn set(&self, i: usize, value: T) -> Result<()> {
        let p = self.check(i)?;
        // SAFETY: as in get.
        unsafe { T::store(p, value) };
        Ok(())
    }

    /// A copy of every element (Python: `a[:]`).
    pub fn to_vec(&self) -> Vec<T> {
        // SAFETY: every i < len is in the region.
        (0..self.len)
            .map(|i| unsafe { T::load(self.ptr(i)) })
            .collect()
    }

    /// Overwrites every element (Python: `a[:] = items`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `items.len() != len()`.
    pub fn copy_from_slice(&self, items: &[T]) -> Result<()> {
        if items.len() != self.len {
            return Err(Error::InvalidArgument(format!(
                "can only assign a sequence of the same size ({} into {})",
                items.len(),
                self.len
            )));
        }
        for (i, &x) in items.iter().enumerate() {
            // SAFETY: i < len.
            unsafe { T::store(self.ptr(i), x) }
        }
        Ok(())
    }
}

impl<T: AtomicInt> RawArray<T> {
    /// Adds atomically to element `i`; returns its previous value.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] if `i >= len`.
    #[inline]
    pub fn fetch_add(&self, i: usize, v: T) -> Result<T> {
        let p = self.check(i)?;
        // SAFETY: as in get.
        Ok(unsafe { T::fetch_add(p, v) })
    }
}

impl<T: Plain> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
    }
}

impl<T: Plain> SharedFds for RawArray<T> {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.region.fd()]
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        let (region, len) = region_from_fd::<T>(one_fd(fds, "Array")?, KIND_ARRAY)?;
        Ok(RawArray {
            region,
            len,
            _t: PhantomData,
        })
    }
}

/// `multiprocessing.Array`: a [`RawArray`] with its own [`RLock`]; each
/// `get` and `set` takes it.
///
/// ```
/// let a = forklore::sharedctypes::Array::<f64>::new(3).unwrap();
/// a.set(1, 2.5).unwrap();
/// assert_eq!(a.to_vec(), [0.0, 2.5, 0.0]);
/// assert!(a.get(3).unwrap_err().is_index_out_of_range());
/// ```
#[derive(Clone)]
pub struct Array<T: Plain> {
    raw: RawArray<T>,
    lock: RLock,
}

impl<T: Plain> Array<T> {
    /// `len` zeroed elements and a new lock.
    ///
    /// # Errors
    /// As [`RawArray::new`].
    pub fn new(len: usize) -> Result<Array<T>> {
        Ok(Array::with_raw(RawArray::new(len)?))
    }

    /// A copy of `items` and a new lock.
    ///
    /// # Errors
    /// As [`RawArray::new`].
    pub fn from_slice(items: &[T]) -> Result<Array<T>> {
        Ok(Array::with_raw(RawArray::from_slice(items)?))
    }

    fn with_raw(raw: RawArray<T>) -> Array<T> {
        let lock = RLock::inside(raw.region.clone(), BODY);
        Array { raw, lock }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// True if the array has no element.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Element `i`, read under the lock.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] if `i >= len`.
    #[inline]
    pub fn get(&self, i: usize) -> Result<T> {
        self.lock.holding(|| self.raw.get(i))
    }

    /// Sets element `i` under the lock.
    ///
    /// # Errors
    /// As [`get`](Array::get).
    #[inline]
    pub fn set(&self, i: usize, value: T) -> Result<()> {
        self.lock.holding(|| self.raw.set(i, value))
    }

    /// A copy of every element, under the lock.
    pub fn to_vec(&self) -> Vec<T> {
        self.lock.holding(|| self.raw.to_vec())
    }

    /// The lock (Python: `get_lock()`).
    #[inline]
    pub fn get_lock(&self) -> &RLock {
        &self.lock
    }

    /// The array without its lock (Python: `get_obj()`).
    pub fn get_obj(&self) -> &RawArray<T> {
        &self.raw
    }
}

impl<T: Plain> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<SynchronizedArray wrapper for {:?}>", self.raw)
    }
}

impl<T: Plain> SharedFds for Array<T> {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.raw.fds()
    }
    fn from_fds(fds: Vec<OwnedFd>) -> Result<Self> {
        Ok(Array::with_raw(RawArray::from_fds(fds)?))
    }
}

// As `from_fn` arguments (see `synchronize::travel`); an error anywhere else.
crate::synchronize::travels_with_start!([T: Plain] RawValue<T>, "RawValue");
crate::synchronize::travels_with_start!([T: Plain] Value<T>, "Value");
crate::synchronize::travels_with_start!([T: Plain] RawArray<T>, "RawArray");
crate::synchronize::travels_with_start!([T: Plain] Array<T>, "Array");

#[cfg(test)]
mod tests {
    use super::*;

    // CPython: _TestValue.test_getobj_getlock (the lock of a Value is an
    // RLock that can be passed on by itself).
    #[test]
    fn the_lock_of_a_value_or_an_array_travels_by_itself() {
        let v = Value::new(5i32).unwrap();
        let fds = v
            .get_lock()
            .fds()
            .into_iter()
            .map(|f| f.try_clone_to_owned().unwrap())
            .collect();
        let lock = RLock::from_fds(fds).unwrap();
        let a = Array::<u8>::new(2).unwrap();
        let fds = a
            .get_lock()
            .fds()
            .into_iter()
            .map(|f| f.try_clone_to_owned().unwrap())
            .collect();
        let alock = RLock::from_fds(fds).unwrap();
        let other = std::thread::spawn(move || {
            lock.acquire().unwrap();
            alock.acquire().unwrap();
            (lock, alock)
        })
        .join()
        .unwrap();
        assert!(!v.get_lock().try_acquire().unwrap());
        assert!(!a.get_lock().try_acquire().unwrap());
        drop(other);
    }

    // CPython: _TestValue.test_value (codes_values: 'i', 'd', 'h', 'c')
    #[test]
    fn values_of_each_kind_read_back_what_was_written() {
        let a = Value::new(25i32).unwrap();
        assert_eq!(a.get(), 25);
        a.set(-2);
        assert_eq!(a.get(), -2);
        let d = Value::new(1.25f64).unwrap();
        d.set(-0.5);
        assert_eq!(d.get(), -0.5);
        let b = RawValue::new(true).unwrap();
        assert!(b.get());
        let arr = Value::new([1u16, 2, 3]).unwrap();
        arr.set([4, 5, 6]);
        assert_eq!(arr.get(), [4, 5, 6]);
    }

    // CPython: _TestValue.test_getobj_getlock
    #[test]
    fn get_lock_is_recursive_and_get_obj_reads_without_it() {
        let v = Value::new(7u64).unwrap();
        let _g = v.get_lock().guard().unwrap();
        v.set(v.get() + 1); // get and set re-enter the held RLock
        assert_eq!(v.get_obj().get(), 8);
        assert_eq!(v.fetch_add(2), 8);
        assert_eq!(v.get(), 10);
    }

    // CPython: _TestArray.test_array
    #[test]
    fn array_get_set_and_out_of_range() {
        let a = Array::from_slice(&[1i64, 2, 3]).unwrap();
        assert_eq!(a.len(), 3);
        a.set(2, 30).unwrap();
        assert_eq!(a.to_vec(), [1, 2, 30]);
        let e = a.get(3).unwrap_err();
        assert!(
            matches!(e, Error::IndexOutOfRange { index: 3, len: 3 }),
            "{e}"
        );
        assert!(a.set(usize::MAX, 0).is_err());
        assert_eq!(a.get_obj().fetch_add(0, 5).unwrap(), 1);
        assert!(a.get_obj().copy_from_slice(&[1, 2]).is_err());
        let z = RawArray::<f32>::new(0).unwrap();
        assert!(z.is_empty() && z.get(0).is_err());
    }

    #[test]
    fn a_value_of_another_type_is_refused_when_it_travels() {
        let v = Value::new(1i64).unwrap();
        let dup = || vec![v.fds()[0].try_clone_to_owned().unwrap()];
        assert_eq!(Value::<i64>::from_fds(dup()).unwrap().get(), 1);
        assert!(Value::<u64>::from_fds(dup()).is_err());
        assert!(Array::<i64>::from_fds(dup()).is_err());
    }
}
