//! Equality, order and hash of [`Datum`], Python's way for numbers.
//!
//! CPython's manager compares real objects, and in Python `True == 1 ==
//! 1.0`: `[1.0].count(1)` is 1 and `d[1]` finds the key `1.0`. So `bool`,
//! integers and floats form one class, compared by numeric value (exactly:
//! an `i128` is never rounded to a float), and the rest of the order is the
//! derived one, variant by variant.
//!
//! To stay a total order (sorting, `BTreeMap` keys), floats differ from
//! Python in one place: a NaN equals a NaN with the same bits and sorts
//! above every number (below, for a NaN with its sign bit set), where Python
//! has `nan != nan`. `-0.0 == 0.0`, as in Python (and as it must be, since
//! both equal the integer `0`).
//!
//! A packed run ([`Datum::Ints`], [`Datum::Floats`]) is a `Seq` spelled
//! compactly: it compares and hashes as the `Seq` of its elements, and an
//! empty run as the empty sequence (`Bytes([])`, which `to_datum` makes).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::{Datum, SeqView};

/// A number, for comparisons across `bool`, integers and floats.
#[derive(Clone, Copy)]
enum Num {
    I(i128),
    F(f64),
}

fn num(d: &Datum) -> Option<Num> {
    match d {
        Datum::Bool(b) => Some(Num::I(i128::from(*b))),
        Datum::Int(i) => Some(Num::I(*i)),
        Datum::Float(f) => Some(Num::F(f.0)),
        _ => None,
    }
}

/// Two floats: by value (so `-0.0 == 0.0`), NaNs by [`f64::total_cmp`]
/// (which puts them beyond the infinities).
fn float_cmp(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(o) => o,
        None => a.total_cmp(&b),
    }
}

/// Exact integer-vs-float comparison (an `i128` need not fit an `f64`).
fn int_float_cmp(i: i128, f: f64) -> Ordering {
    // 2^127 is the first float above every i128; -2^127 is i128::MIN.
    const TWO_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if f.is_nan() {
        // Where total_cmp puts it: beyond +inf, or below -inf if negative.
        return if f.is_sign_negative() {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    if f >= TWO_127 {
        return Ordering::Less;
    }
    if f < -TWO_127 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    // In range and integral: the cast is exact.
    let ti = t as i128;
    match i.cmp(&ti) {
        Ordering::Equal => float_cmp(0.0, f - t),
        o => o,
    }
}

fn num_cmp(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x.cmp(&y),
        (Num::F(x), Num::F(y)) => float_cmp(x, y),
        (Num::I(x), Num::F(y)) => int_float_cmp(x, y),
        (Num::F(x), Num::I(y)) => int_float_cmp(y, x).reverse(),
    }
}

/// The rank of a datum's class in the order (numbers share one).
fn rank(d: &Datum) -> u8 {
    match d {
        Datum::Unit => 0,
        Datum::Bool(_) | Datum::Int(_) | Datum::Float(_) => 1,
        Datum::Char(_) => 2,
        Datum::Str(_) => 3,
        Datum::Bytes(_) => 4,
        Datum::Ints(v) if v.is_empty() => 4,
        Datum::Floats(v) if v.is_empty() => 4,
        Datum::None => 5,
        Datum::Some(_) => 6,
        Datum::Seq(_) | Datum::Ints(_) | Datum::Floats(_) => 7,
        Datum::Map(_) => 8,
        Datum::Variant(..) => 9,
        Datum::Ref(_) => 10,
    }
}

impl Ord for Datum {
    fn cmp(&self, other: &Self) -> Ordering {
        if let (Some(a), Some(b)) = (num(self), num(other)) {
            return num_cmp(a, b);
        }
        match (self, other) {
            (Datum::Char(a), Datum::Char(b)) => a.cmp(b),
            (Datum::Str(a), Datum::Str(b)) => a.cmp(b),
            (Datum::Some(a), Datum::Some(b)) => a.cmp(b),
            (Datum::Map(a), Datum::Map(b)) => a.cmp(b),
            (Datum::Variant(i, a), Datum::Variant(j, b)) => (i, a).cmp(&(j, b)),
            (Datum::Ref(a), Datum::Ref(b)) => a.cmp(b),
            (a, b) => match (rank(a), rank(b)) {
                (4, 4) => bytes_of(a).cmp(bytes_of(b)),
                (7, 7) => seq_cmp(
                    a.seq_view().expect("a sequence"),
                    b.seq_view().expect("a sequence"),
                ),
                (x, y) => x.cmp(&y),
            },
        }
    }
}

/// The bytes of a value of rank 4: `Bytes`, or an empty packed run.
fn bytes_of(d: &Datum) -> &[u8] {
    match d {
        Datum::Bytes(b) => b,
        _ => &[],
    }
}

/// Two sequences, lexicographically, element by element as `Datum`s (so a
/// run and a tree of the same numbers are equal), with fast paths for two
/// runs of one kind.
fn seq_cmp(a: SeqView<'_>, b: SeqView<'_>) -> Ordering {
    match (a, b) {
        (SeqView::Ints(x), SeqView::Ints(y)) => x.cmp(y),
        (SeqView::Tree(x), SeqView::Tree(y)) => x.cmp(y),
        (SeqView::Floats(x), SeqView::Floats(y)) => {
            // By value, as single floats compare (-0.0 == 0.0).
            for (p, q) in x.iter().zip(y) {
                match float_cmp(p.0, q.0) {
                    Ordering::Equal => {}
                    o => return o,
                }
            }
            x.len().cmp(&y.len())
        }
        (a, b) => {
            let n = a.len().min(b.len());
            for i in 0..n {
                match a.get(i).as_ref().cmp(b.get(i).as_ref()) {
                    Ordering::Equal => {}
                    o => return o,
                }
            }
            a.len().cmp(&b.len())
        }
    }
}

impl PartialOrd for Datum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Datum {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Datum {}

impl Hash for Datum {
    /// Consistent with `==`: equal numbers hash alike whatever their type
    /// (an integral float hashes as the integer).
    fn hash<H: Hasher>(&self, state: &mut H) {
        rank(self).hash(state);
        match self {
            Datum::Unit | Datum::None => {}
            Datum::Bool(b) => i128::from(*b).hash(state),
            Datum::Int(i) => i.hash(state),
            Datum::Float(f) => {
                let x = f.0;
                const TWO_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
                if x.fract() == 0.0 && (-TWO_127..TWO_127).contains(&x) {
                    // Integral and in range: exact; -0.0 becomes 0.
                    (x as i128).hash(state);
                } else {
                    x.to_bits().hash(state);
                }
            }
            Datum::Char(c) => c.hash(state),
            Datum::Str(s) => s.hash(state),
            Datum::Bytes(b) => b.hash(state),
            Datum::Some(d) | Datum::Ref(d) => d.hash(state),
            // An empty packed run is the empty byte string.
            Datum::Ints(v) if v.is_empty() => Vec::<u8>::new().hash(state),
            Datum::Floats(v) if v.is_empty() => Vec::<u8>::new().hash(state),
            // Every sequence form hashes as `Vec<Datum>` does: its length,
            // then each element as a `Datum`.
            Datum::Seq(_) | Datum::Ints(_) | Datum::Floats(_) => {
                let view = self.seq_view().expect("a sequence");
                state.write_usize(view.len());
                for i in 0..view.len() {
                    view.get(i).hash(state);
                }
            }
            Datum::Map(m) => m.hash(state),
            Datum::Variant(i, d) => (i, d).hash(state),
        }
    }
}
