//! Python's `==`, `<`, hashability and slices over [`Value`], for the
//! server's list, dict and array methods.

use std::cmp::Ordering;

use super::pickle::Value;

/// A number, for comparisons across `bool`, `int` and `float`.
enum Num<'a> {
    I(i64),
    Big(&'a [u8]),
    F(f64),
}

fn num(v: &Value) -> Option<Num<'_>> {
    match v {
        Value::Bool(b) => Some(Num::I(i64::from(*b))),
        Value::Int(i) => Some(Num::I(*i)),
        Value::BigInt(b) => Some(Num::Big(b)),
        Value::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

fn big_negative(b: &[u8]) -> bool {
    b.last().is_some_and(|x| x & 0x80 != 0)
}

/// The sign of a big int relative to every i64 (it never fits one).
fn big_vs_small(b: &[u8]) -> Ordering {
    if big_negative(b) {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

fn big_cmp(a: &[u8], b: &[u8]) -> Ordering {
    match (big_negative(a), big_negative(b)) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    // Same sign, minimal lengths: longer is larger in magnitude.
    let neg = big_negative(a);
    let by_len = a.len().cmp(&b.len());
    if by_len != Ordering::Equal {
        return if neg { by_len.reverse() } else { by_len };
    }
    a.iter().rev().cmp(b.iter().rev())
}

fn big_to_f64(b: &[u8]) -> f64 {
    let neg = big_negative(b);
    let mut acc = 0f64;
    for &x in b.iter().rev() {
        let x = if neg { !x } else { x };
        acc = acc * 256.0 + f64::from(x);
    }
    if neg {
        -(acc + 1.0)
    } else {
        acc
    }
}

fn num_cmp(a: &Num<'_>, b: &Num<'_>) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(y)),
        (Num::Big(x), Num::Big(y)) => Some(big_cmp(x, y)),
        (Num::Big(x), Num::I(_)) => Some(big_vs_small(x)),
        (Num::I(_), Num::Big(y)) => Some(big_vs_small(y).reverse()),
        (Num::F(x), Num::F(y)) => x.partial_cmp(y),
        (Num::I(x), Num::F(y)) => int_float_cmp(*x, *y),
        (Num::F(x), Num::I(y)) => int_float_cmp(*y, *x).map(Ordering::reverse),
        (Num::Big(x), Num::F(y)) => big_to_f64(x).partial_cmp(y),
        (Num::F(x), Num::Big(y)) => x.partial_cmp(&big_to_f64(y)),
    }
}

/// Exact int-vs-float comparison (an i64 need not fit an f64).
fn int_float_cmp(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^63 is the first float above every i64; -2^63 is i64::MIN exactly.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    // t is within i64 range here.
    let ti = t as i64;
    match i.cmp(&ti) {
        Ordering::Equal => 0f64.partial_cmp(&(f - t)),
        o => Some(o),
    }
}

/// Python `a == b`.
pub fn eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return num_cmp(&x, &y) == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq(p, q))
        }
        (Value::Set(x) | Value::FrozenSet(x), Value::Set(y) | Value::FrozenSet(y)) => {
            x.len() == y.len() && x.iter().all(|p| y.iter().any(|q| eq(p, q)))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| eq(k, k2) && eq(v, v2)))
        }
        (Value::Global(x), Value::Global(y)) => x == y,
        (Value::Object(x), Value::Object(y)) => x == y,
        _ => false,
    }
}

/// Python `a < b`-style ordering; `Err` is the `TypeError` text for
/// unorderable types.
pub fn cmp(a: &Value, b: &Value) -> Result<Ordering, String> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(num_cmp(&x, &y).unwrap_or(Ordering::Equal));
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Ok(x.cmp(y)),
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                if !eq(p, q) {
                    return cmp(p, q);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => Err(format!(
            "'<' not supported between instances of '{}' and '{}'",
            a.type_name(),
            b.type_name()
        )),
    }
}

/// `Err` with Python's `TypeError` text when `v` cannot be a dict key.
pub fn check_hashable(v: &Value) -> Result<(), String> {
    match v {
        Value::List(_) | Value::Dict(_) | Value::Set(_) => {
            Err(format!("unhashable type: '{}'", v.type_name()))
        }
        Value::Tuple(items) | Value::FrozenSet(items) => items.iter().try_for_each(check_hashable),
        _ => Ok(()),
    }
}

/// A Python-like `repr` of a value, for messages and `__repr__`.
pub fn repr(v: &Value) -> String {
    fn seq(v: &[Value]) -> String {
        v.iter().map(repr).collect::<Vec<_>>().join(", ")
    }
    match v {
        Value::None => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(b) => format!("<int of {} bytes>", b.len()),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
        Value::Float(f) => format!("{f}"),
        Value::Str(s) => {
            let mut out = String::from("'");
            for c in s.chars() {
                match c {
                    '\'' => out.push_str("\\'"),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        Value::Bytes(b) => {
            let mut out = String::from("b'");
            for &x in b {
                match x {
                    b'\'' => out.push_str("\\'"),
                    b'\\' => out.push_str("\\\\"),
                    0x20..=0x7e => out.push(char::from(x)),
                    _ => out.push_str(&format!("\\x{x:02x}")),
                }
            }
            out.push('\'');
            out
        }
        Value::Tuple(x) if x.len() == 1 => format!("({},)", repr(&x[0])),
        Value::Tuple(x) => format!("({})", seq(x)),
        Value::List(x) => format!("[{}]", seq(x)),
        Value::Set(x) if x.is_empty() => "set()".into(),
        Value::Set(x) => format!("{{{}}}", seq(x)),
        Value::FrozenSet(x) => format!("frozenset({{{}}})", seq(x)),
        Value::Dict(x) => format!(
            "{{{}}}",
            x.iter()
                .map(|(k, v)| format!("{}: {}", repr(k), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Global(g) => format!("<class '{g}'>"),
        Value::Object(o) => format!("{}({})", o.class.name, seq(&o.args)),
    }
}

/// A `slice(start, stop, step)` argument, if `v` is one.
pub fn as_slice(v: &Value) -> Option<[Option<i64>; 3]> {
    let Value::Object(o) = v else { return None };
    if !o.class.is("builtins", "slice") || o.args.len() != 3 {
        return None;
    }
    let mut out = [None; 3];
    for (slot, a) in out.iter_mut().zip(&o.args) {
        *slot = match a {
            Value::None => None,
            other => Some(other.as_i64()?),
        };
    }
    Some(out)
}

/// The indices a slice selects in a sequence of `len` (Python's
/// `slice.indices` then `range`); `Err` for a zero step.
pub fn slice_indices(s: [Option<i64>; 3], len: usize) -> Result<Vec<usize>, String> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let step = s[2].unwrap_or(1);
    if step == 0 {
        return Err("slice step cannot be zero".into());
    }
    let clamp = |x: Option<i64>, default: i64| -> i64 {
        match x {
            None => default,
            Some(v) if v < 0 => {
                let v = v.saturating_add(len);
                if v < 0 {
                    if step < 0 {
                        -1
                    } else {
                        0
                    }
                } else {
                    v
                }
            }
            Some(v) if v >= len => {
                if step < 0 {
                    len - 1
                } else {
                    len
                }
            }
            Some(v) => v,
        }
    };
    let (start, stop) = if step > 0 {
        (clamp(s[0], 0), clamp(s[1], len))
    } else {
        (clamp(s[0], len - 1), clamp(s[1], -1))
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(usize::try_from(i).map_err(|_| "slice index out of range".to_string())?);
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(out)
}

/// A Python index (negative from the end) into a sequence of `len`.
pub fn index(i: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let j = if i < 0 { i.checked_add(len_i)? } else { i };
    if (0..len_i).contains(&j) {
        usize::try_from(j).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_types_like_python() {
        assert!(eq(&Value::Int(1), &Value::Float(1.0)));
        assert!(eq(&Value::Bool(true), &Value::Int(1)));
        assert!(!eq(
            &Value::Int(i64::MAX),
            &Value::Float(9_223_372_036_854_775_808.0)
        ));
        assert!(!eq(&Value::Tuple(vec![]), &Value::List(vec![])));
        let big = Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(cmp(&big, &Value::Int(i64::MAX)), Ok(Ordering::Greater));
        assert!(cmp(&Value::Int(1), &Value::str("a")).is_err());
    }

    #[test]
    fn slices_match_python() {
        assert_eq!(
            slice_indices([None, None, Some(-1)], 3).unwrap(),
            vec![2, 1, 0]
        );
        assert_eq!(
            slice_indices([Some(1), Some(-1), None], 4).unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            slice_indices([Some(-100), Some(100), Some(2)], 5).unwrap(),
            vec![0, 2, 4]
        );
        assert!(slice_indices([None, None, Some(0)], 5).is_err());
    }
}
