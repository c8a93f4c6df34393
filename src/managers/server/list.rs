//! The server's lists and arrays: Python's index and slice rules, and the
//! list methods.

use crate::managers::datum::Datum;
use crate::managers::protocol::{ListOp, RemoteError, Slice};

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

pub(super) fn list_op(l: &mut Vec<Datum>, op: ListOp, resizable: bool) -> CallResult {
    let fixed = |what: &str| {
        err(RemoteError::Invalid(format!(
            "an Array has a fixed length; it refuses a {what}"
        )))
    };
    match op {
        ListOp::Len => ok(l.len()),
        ListOp::Get(i) => match index(i, l.len()) {
            Ok(i) => ok(l[i].clone()),
            Err(e) => err(e),
        },
        ListOp::Set(i, d) => match index(i, l.len()) {
            Ok(i) => {
                l[i] = d;
                ok(())
            }
            Err(e) => err(e),
        },
        ListOp::GetSlice(s) => match slice_indices(s, l.len()) {
            Ok(ix) => ok(ix.into_iter().map(|i| l[i].clone()).collect::<Vec<_>>()),
            Err(e) => err(e),
        },
        ListOp::ToVec => ok(l.clone()),
        ListOp::Contains(d) => ok(l.contains(&d)),
        ListOp::Count(d) => ok(l.iter().filter(|x| **x == d).count()),
        ListOp::Index(d, s) => {
            // Python: index(x, start, stop) searches l[start:stop].
            let (start, stop, _) = match adjust(Slice { step: Some(1), ..s }, l.len()) {
                Ok(v) => v,
                Err(e) => return err(e),
            };
            let (start, stop) = (start as usize, (stop.max(start)) as usize);
            match l[start..stop].iter().position(|x| *x == d) {
                Some(i) => ok(start + i),
                None => err(not_in_list(&d)),
            }
        }
        ListOp::Reverse => {
            l.reverse();
            ok(())
        }
        ListOp::Sort { reverse } => {
            // Stable both ways, as Python's sort (reverse keeps equal items
            // in their original order).
            if reverse {
                l.sort_by(|a, b| b.cmp(a));
            } else {
                l.sort();
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
                l.splice(start..stop, items);
                return ok(());
            }
            match slice_indices(s, l.len()) {
                Ok(ix) if ix.len() == items.len() => {
                    for (i, d) in ix.into_iter().zip(items) {
                        l[i] = d;
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
            l.push(d);
            ok(())
        }
        ListOp::Extend(items) => {
            l.extend(items);
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
            l.insert(j as usize, d);
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
                Ok(i) => ok(l.remove(i)),
                Err(e) => err(e),
            }
        }
        ListOp::Remove(d) => match l.iter().position(|x| *x == d) {
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
