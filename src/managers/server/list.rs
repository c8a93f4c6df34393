//! The server's lists and arrays: Python's index and slice rules, and the
//! list methods.

use std::sync::Arc;

use crate::managers::datum::{Datum, DECODE_FACTOR, DECODE_FLOOR, F64};
use crate::managers::protocol::Reply;
use crate::managers::protocol::{ListOp, RemoteError, Slice, BULK_MIN};

use super::SharedValue;

use super::wait::{err, ok, CallResult};

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
        // A step past the end of i64 ends the slice (no index is that far).
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(out)
}

/// The longest list `li *= n` may make: 16 Mi items (512 MiB of `Datum`
/// nodes before any nested content).
const MAX_REPEAT: usize = 1 << 24;

fn not_in_list(d: &Datum) -> RemoteError {
    RemoteError::ValueNotInList(d.to_string())
}

/// A list's (or an array's) elements as the server stores them: packed
/// runs while every element is an integer within `i64` (8 bytes each) or
/// every element a float, one [`Datum`] node (32 bytes) each otherwise.
/// A list starts packed when its first values allow it and becomes a tree
/// for good when a value that does not fit arrives; it reads, compares
/// and sorts the same either way (a packed element is compared as the
/// `Datum` it stands for).
#[derive(Debug)]
pub(crate) enum Items {
    Ints(Arc<Vec<i64>>),
    Floats(Arc<Vec<F64>>),
    Tree(Vec<Datum>),
}

impl Items {
    /// The elements of a sequence-like datum, packed when they allow it;
    /// `None` for a datum that is no sequence.
    pub(crate) fn from_seq(d: Datum) -> Option<Items> {
        Some(match d {
            Datum::Ints(v) => Items::Ints(Arc::new(v)),
            Datum::Floats(v) => Items::Floats(Arc::new(v)),
            Datum::Bytes(b) => Items::Ints(Arc::new(b.into_iter().map(i64::from).collect())),
            Datum::Seq(v) => Items::from_vec(v),
            _ => return None,
        })
    }

    /// `v`, packed when every element allows it.
    pub(crate) fn from_vec(v: Vec<Datum>) -> Items {
        match Datum::pack_owned(v) {
            Datum::Ints(v) => Items::Ints(Arc::new(v)),
            Datum::Floats(v) => Items::Floats(Arc::new(v)),
            Datum::Seq(v) => Items::Tree(v),
            _ => Items::Tree(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Items::Ints(v) => v.len(),
            Items::Floats(v) => v.len(),
            Items::Tree(v) => v.len(),
        }
    }

    /// Whether this storage can hold `d` as it is.
    fn admits(&self, d: &Datum) -> bool {
        match self {
            Items::Ints(_) => i64::fits(d),
            Items::Floats(_) => F64::fits(d),
            Items::Tree(_) => true,
        }
    }

    /// One node per element from now on.
    fn into_tree(self) -> Vec<Datum> {
        match self {
            Items::Ints(v) => Datum::Ints(Arc::unwrap_or_clone(v))
                .into_items()
                .unwrap_or_default(),
            Items::Floats(v) => Datum::Floats(Arc::unwrap_or_clone(v))
                .into_items()
                .unwrap_or_default(),
            Items::Tree(v) => v,
        }
    }

    /// `more` added at the end.
    fn append(&mut self, more: Items) {
        if self.len() == 0 {
            *self = more;
            return;
        }
        match (&mut *self, more) {
            (Items::Ints(a), Items::Ints(b)) => {
                Arc::make_mut(a).append(&mut Arc::unwrap_or_clone(b))
            }
            (Items::Floats(a), Items::Floats(b)) => {
                Arc::make_mut(a).append(&mut Arc::unwrap_or_clone(b))
            }
            (Items::Tree(a), Items::Tree(mut b)) => a.append(&mut b),
            (_, more) => {
                if more.len() == 0 {
                    return;
                }
                let mut tree = std::mem::replace(self, Items::Tree(Vec::new())).into_tree();
                tree.extend(more.into_tree());
                *self = Items::Tree(tree);
            }
        }
    }
}

/// The values a call brings in (to check them against the storage).
fn incoming(op: &ListOp) -> &[Datum] {
    match op {
        ListOp::Append(d) | ListOp::Insert(_, d) | ListOp::Set(_, d) => std::slice::from_ref(d),
        ListOp::SetSlice(_, items) => items,
        _ => &[],
    }
}

/// The refusal of a value of another kind for a packed list too long to
/// become one node per element within one request's memory bound: its
/// elements would take 32 bytes each instead of 8, and a small request
/// (`li.append("x")`) may make the server take at most [`DECODE_FLOOR`]
/// (see [`DECODE_FACTOR`]). Python would accept it; the list is left as
/// it was.
fn too_big_to_unpack(items: &Items) -> Option<RemoteError> {
    let node = std::mem::size_of::<Datum>();
    let kind = match items {
        Items::Ints(_) => "integers",
        Items::Floats(_) => "floats",
        Items::Tree(_) => return None,
    };
    let n = items.len();
    (n.saturating_mul(node) > DECODE_FLOOR).then(|| {
        RemoteError::Invalid(format!(
            "a list of {n} {kind} is stored packed; a value of another kind would make it \
             one {node}-byte node per element ({} bytes), over the {DECODE_FLOOR} bytes one \
             request may make the server take; the list is unchanged (keep values of \
             other kinds in another list)",
            n as u128 * node as u128
        ))
    })
}

/// Carry out a list method on a list's storage (`resizable`: a list, not
/// an array).
pub(super) fn items_op(items: &mut Items, op: ListOp, resizable: bool) -> CallResult {
    if let ListOp::Extend(d) = op {
        if !resizable {
            return err(RemoteError::Invalid(
                "an Array has a fixed length; it refuses a method that changes the length".into(),
            ));
        }
        let from_bytes = match &d {
            Datum::Bytes(b) => Some(b.len()),
            _ => None,
        };
        let Some(more) = Items::from_seq(d) else {
            return err(RemoteError::Invalid("extend needs a sequence".into()));
        };
        if let Some(n) = from_bytes {
            // A byte string becomes one integer per byte: 8 bytes each in a
            // packed list, one 32-byte node each in any other. The request
            // cost its sender `n` bytes, so what it may make the server take
            // is bounded as a decoded frame's is (see DECODE_FACTOR).
            let packed = items.len() == 0 || matches!(items, Items::Ints(_));
            let node = std::mem::size_of::<Datum>();
            let bound = n.saturating_mul(DECODE_FACTOR).max(DECODE_FLOOR);
            if !packed && n.saturating_mul(node) > bound {
                return err(RemoteError::Invalid(format!(
                    "li.extend(bytes) of {n} bytes on a list that holds other values than \
                     integers would take {} bytes of server memory (at most {bound} for one \
                     request); extend in parts of at most {} bytes; the list is unchanged",
                    n as u128 * node as u128,
                    DECODE_FLOOR / node
                )));
            }
        }
        let same_kind = matches!(
            (&*items, &more),
            (Items::Ints(_), Items::Ints(_)) | (Items::Floats(_), Items::Floats(_))
        );
        if !same_kind && more.len() > 0 {
            if let Some(e) = too_big_to_unpack(items) {
                return err(e);
            }
        }
        items.append(more);
        return ok(());
    }
    let new = incoming(&op);
    let grows = matches!(op, ListOp::Append(_) | ListOp::Insert(..));
    if items.len() == 0 && grows {
        // An empty list takes the kind of its first value.
        *items = match Items::from_vec(new.to_vec()) {
            Items::Ints(_) => Items::Ints(Arc::default()),
            Items::Floats(_) => Items::Floats(Arc::default()),
            Items::Tree(_) => Items::Tree(Vec::new()),
        };
    } else if !new.iter().all(|d| items.admits(d)) {
        if let Some(e) = too_big_to_unpack(items) {
            return err(e);
        }
        *items = Items::Tree(std::mem::replace(items, Items::Tree(Vec::new())).into_tree());
    }
    // A copy of a large run: shared with the reply's writer, not copied
    // (it is written after the lock is released; a change meanwhile copies
    // the run first, so the reply still holds the list as it was).
    if matches!(op, ListOp::ToVec) {
        let shared = match items {
            // (Where a run's memory is its wire image: a little-endian target.)
            Items::Ints(v) if v.len() >= BULK_MIN / 8 && Datum::run_bulk_ints(v).is_some() => {
                Some(SharedValue::Ints(Arc::clone(v)))
            }
            Items::Floats(v) if v.len() >= BULK_MIN / 8 && Datum::run_bulk_floats(v).is_some() => {
                Some(SharedValue::Floats(Arc::clone(v)))
            }
            _ => None,
        };
        if let Some(v) = shared {
            super::share_reply_value(v);
            return ok(Datum::Bytes(Vec::new()));
        }
    }
    match items {
        // A read leaves a shared run where it is; a change copies it first.
        Items::Ints(v) => match read_op(v, op) {
            Ok(r) => r,
            Err(op) => list_op(Arc::make_mut(v), op, resizable),
        },
        Items::Floats(v) => match read_op(v, op) {
            Ok(r) => r,
            Err(op) => list_op(Arc::make_mut(v), op, resizable),
        },
        Items::Tree(v) => list_op(v, op, resizable),
    }
}

/// The value of an `Option` the dispatcher made sure of, or a refusal.
macro_rules! take {
    ($e:expr) => {
        match $e {
            Some(x) => x,
            None => {
                return err(RemoteError::Invalid(
                    "a value this list's storage cannot hold".into(),
                ))
            }
        }
    };
}

fn take_all<T: Elem>(items: Vec<Datum>) -> Option<Vec<T>> {
    items.into_iter().map(T::take).collect()
}

impl Elem for Datum {
    fn fits(_: &Datum) -> bool {
        true
    }
    fn take(d: Datum) -> Option<Self> {
        Some(d)
    }
    fn datum(&self) -> Datum {
        self.clone()
    }
    fn is(&self, d: &Datum) -> bool {
        self == d
    }
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        self.cmp(other)
    }
    fn run(v: Vec<Self>) -> Reply {
        Reply::Seq(v)
    }
}

impl Elem for i64 {
    fn fits(d: &Datum) -> bool {
        matches!(d, Datum::Int(i) if i64::try_from(*i).is_ok())
    }
    fn take(d: Datum) -> Option<Self> {
        match d {
            Datum::Int(i) => i64::try_from(i).ok(),
            _ => None,
        }
    }
    fn datum(&self) -> Datum {
        Datum::Int((*self).into())
    }
    fn is(&self, d: &Datum) -> bool {
        self.datum() == *d
    }
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        self.cmp(other)
    }
    fn run(v: Vec<Self>) -> Reply {
        Reply::Datum(Datum::pack_owned_ints(v))
    }
}

impl Elem for F64 {
    fn fits(d: &Datum) -> bool {
        matches!(d, Datum::Float(_))
    }
    fn take(d: Datum) -> Option<Self> {
        match d {
            Datum::Float(f) => Some(f),
            _ => None,
        }
    }
    fn datum(&self) -> Datum {
        Datum::Float(*self)
    }
    fn is(&self, d: &Datum) -> bool {
        self.datum() == *d
    }
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        // As the `Datum`s compare (whatever their float order is).
        self.datum().cmp(&other.datum())
    }
    fn run(v: Vec<Self>) -> Reply {
        Reply::Datum(if v.is_empty() {
            Datum::Bytes(Vec::new())
        } else {
            Datum::Floats(v)
        })
    }
}

/// An element of a list's storage: a plain `i64` or float of a packed
/// run, or a [`Datum`].
trait Elem: Clone + Sized {
    /// Whether `d` can be stored as `Self`.
    fn fits(d: &Datum) -> bool;
    /// `d` as `Self` (the caller checked [`fits`](Elem::fits)).
    fn take(d: Datum) -> Option<Self>;
    /// The `Datum` this element stands for.
    fn datum(&self) -> Datum;
    /// Whether this element equals `d`, as `Datum`s compare.
    fn is(&self, d: &Datum) -> bool;
    /// The order of `Datum`s, for sorting.
    fn order(&self, other: &Self) -> std::cmp::Ordering;
    /// The reply carrying these elements.
    fn run(v: Vec<Self>) -> Reply;
}
/// A copy of the list for a reply (it is sent after the object's lock is
/// released). A large copy asks for huge pages: its fresh memory would
/// otherwise take a page fault per 4 KiB, which costs more than copying.
fn copy_of<T: Clone>(l: &[T]) -> Vec<T> {
    let mut v = Vec::with_capacity(l.len());
    crate::connection::advise_huge_pages(v.spare_capacity_mut());
    v.extend_from_slice(l);
    v
}

/// `op` if it only reads the list: its result, from the elements where
/// they lie (a run a reply still holds is not copied for a read);
/// `Err(op)` for a change.
fn read_op<T: Elem>(l: &[T], op: ListOp) -> Result<CallResult, ListOp> {
    Ok(match op {
        ListOp::Len => ok(l.len()),
        ListOp::Get(i) => match index(i, l.len()) {
            Ok(i) => ok(l[i].datum()),
            Err(e) => err(e),
        },
        ListOp::GetSlice(s) => match slice_indices(s, l.len()) {
            Ok(ix) => Ok(Ok(T::run(ix.into_iter().map(|i| l[i].clone()).collect()))),
            Err(e) => err(e),
        },
        ListOp::ToVec => Ok(Ok(T::run(copy_of(l)))),
        ListOp::Contains(d) => ok(l.iter().any(|x| x.is(&d))),
        ListOp::Count(d) => ok(l.iter().filter(|x| x.is(&d)).count()),
        ListOp::Index(d, s) => {
            // Python: index(x, start, stop) searches l[start:stop].
            let (start, stop, _) = match adjust(Slice { step: Some(1), ..s }, l.len()) {
                Ok(v) => v,
                Err(e) => return Ok(err(e)),
            };
            let (start, stop) = (start as usize, (stop.max(start)) as usize);
            match l[start..stop].iter().position(|x| x.is(&d)) {
                Some(i) => ok(start + i),
                None => err(not_in_list(&d)),
            }
        }
        op => return Err(op),
    })
}

fn list_op<T: Elem>(l: &mut Vec<T>, op: ListOp, resizable: bool) -> CallResult {
    let op = match read_op(l, op) {
        Ok(r) => return r,
        Err(op) => op,
    };
    let fixed = |what: &str| {
        err(RemoteError::Invalid(format!(
            "an Array has a fixed length; it refuses a {what}"
        )))
    };
    match op {
        // Answered by `read_op` above.
        op @ (ListOp::Len
        | ListOp::Get(_)
        | ListOp::GetSlice(_)
        | ListOp::ToVec
        | ListOp::Contains(_)
        | ListOp::Count(_)
        | ListOp::Index(..)) => err(RemoteError::Invalid(format!("{op:?} reads only"))),
        ListOp::Set(i, d) => match index(i, l.len()) {
            Ok(i) => {
                l[i] = take!(T::take(d));
                ok(())
            }
            Err(e) => err(e),
        },
        ListOp::Reverse => {
            l.reverse();
            ok(())
        }
        ListOp::Sort { reverse } => {
            // Stable both ways, as Python's sort (reverse keeps equal items
            // in their original order).
            if reverse {
                l.sort_by(|a, b| b.order(a));
            } else {
                l.sort_by(T::order);
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
                l.splice(start..stop, take!(take_all::<T>(items)));
                return ok(());
            }
            match slice_indices(s, l.len()) {
                Ok(ix) if ix.len() == items.len() => {
                    for (i, d) in ix.into_iter().zip(items) {
                        l[i] = take!(T::take(d));
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
            l.push(take!(T::take(d)));
            ok(())
        }
        ListOp::Extend(items) => {
            let Some(items) = items.into_items() else {
                return err(RemoteError::Invalid("extend needs a sequence".into()));
            };
            l.extend(take!(take_all::<T>(items)));
            ok(())
        }
        ListOp::IMul(n) => {
            // Python: `n <= 0` empties the list; a result too big for
            // memory is refused (Python: MemoryError), the list unchanged.
            let n = usize::try_from(n).unwrap_or(0);
            match l.len().checked_mul(n) {
                Some(total) if total <= MAX_REPEAT => {
                    if n == 0 {
                        l.clear();
                    } else {
                        let once = l.clone();
                        for _ in 1..n {
                            l.extend(once.iter().cloned());
                        }
                    }
                    ok(())
                }
                _ => err(RemoteError::Invalid(format!(
                    "li *= {n}: {} items would be too many for the server's memory; \
                     the list is unchanged",
                    l.len() as u128 * n as u128
                ))),
            }
        }
        ListOp::Insert(i, d) => {
            let n = l.len() as i64;
            let j = if i < 0 { (i + n).max(0) } else { i.min(n) };
            l.insert(j as usize, take!(T::take(d)));
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
                Ok(i) => ok(l.remove(i).datum()),
                Err(e) => err(e),
            }
        }
        ListOp::Remove(d) => match l.iter().position(|x| x.is(&d)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managers::protocol::Reply;

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
        // Extreme values: clamped, never an overflow.
        check(sl(Some(1), None, Some(i64::MAX)), &[1]);
        check(sl(None, None, Some(i64::MIN)), &[9]);
        check(sl(Some(i64::MIN), Some(i64::MAX), Some(i64::MAX)), &[0]);
        check(
            sl(Some(i64::MAX), Some(i64::MIN), Some(-1)),
            &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        );
        check(sl(Some(-1), Some(i64::MIN), Some(i64::MIN + 1)), &[9]);
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
}

/// Packed storage answers every list method as the tree storage does.
#[cfg(test)]
mod packed_tests;
