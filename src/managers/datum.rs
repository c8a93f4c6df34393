//! [`Datum`]: how the manager's server stores values, so that it can compare
//! and order them.
//!
//! CPython's manager stores real Python objects, so `list.remove(x)`,
//! `list.sort()` and dict lookups just use the objects' `==` and `<`. The
//! bytes of a compact codec cannot stand in for that: postcard writes
//! integers as varints, whose bytes do not sort like the numbers
//! (`128` is `[0x80, 0x01]`, which sorts after `[0x7f]` = 127 but also after
//! `[0x02]`...), and two equal maps may be written in different orders. So
//! forklore converts every value a proxy sends into a small *self-describing*
//! tree, [`Datum`], with a total order, and the server keeps those.
//!
//! # The mapping, and why ordering matches Rust's
//! A value goes through serde: [`to_datum`] is a serde `Serializer` whose
//! output is a `Datum`, and [`from_datum`] a `Deserializer` reading one.
//!
//! | Rust (serde data model) | `Datum` |
//! |---|---|
//! | `()`, unit struct | `Unit` |
//! | `bool` | `Bool` |
//! | every integer, `i8` to `i128` and `u8` to `u64` | `Int(i128)` |
//! | `f32`, `f64` | `Float` (total order, see below) |
//! | `char` | `Char` |
//! | `String`, `&str` | `Str` |
//! | bytes ([`Bytes`], `serde_bytes`), and sequences of `u8` (`Vec<u8>`, `&[u8]`) | `Bytes`, one byte per byte |
//! | sequences whose elements are all integers within `i64` (`Vec<i64>`, `Vec<u32>`...) | `Ints`, a packed run of 8 bytes per element |
//! | sequences whose elements are all floats (`Vec<f64>`, `Vec<f32>`) | `Floats`, a packed run of 8 bytes per element |
//! | every *empty* sequence | `Bytes` (empty), so that it sorts before any non-empty one |
//! | `Option` | `None` / `Some` |
//! | other sequences, tuples, tuple structs, **structs** (fields in declaration order) | `Seq` |
//! | maps (`HashMap`, `BTreeMap`) | `Map`, **sorted by key** |
//! | enum variants | `Variant(index, payload)` |
//! | newtype structs | their content (transparent) |
//!
//! `Datum`'s order is the order `#[derive(PartialOrd, Ord)]` gives the Rust
//! type: integers compare as numbers (whatever their width), strings
//! bytewise, sequences and structs field by field, `None < Some`, enum
//! variants by declaration order, maps as sorted `(key, value)` lists like
//! `BTreeMap`. So `ListProxy::sort` sorts exactly as `Vec::sort` would.
//!
//! Numbers compare as Python compares them: `bool`, integers and floats are
//! one class, ordered by value, so `1 == 1.0 == true` on the server as in
//! CPython. `count`, `index`, `remove`, `contains` and dict lookups agree
//! with CPython's (`d[1]` finds the key `1.0`, which keeps its place and its
//! type, as in Python). The comparison is exact: `i64::MAX` does not equal
//! the float `2^63` it rounds to.
//!
//! Deliberate differences from Python:
//! - **NaN** equals a NaN with the same bits and sorts above every number
//!   (a NaN with its sign bit set, below), as [`f64::total_cmp`] has it, so
//!   every stored value can be found, counted and sorted (Python's
//!   `nan != nan` makes `li.remove(nan)` fail for a NaN that is not the very
//!   same object). `-0.0 == 0.0`, as in Python.
//! - Values of *different* kinds are ordered too (numbers, then characters,
//!   strings, bytes, ... by the variant order of `Datum`), where Python
//!   raises `TypeError` for `1 < "a"`.
//!
//! A packed run (`Ints`, `Floats`) is only a compact spelling of a `Seq`:
//! it compares, hashes and prints as the `Seq` of the same elements, so a
//! `Vec<i64>` equals a tuple of the same integers and a list mixing runs and
//! trees sorts as if every run were a tree. A sequence that mixes kinds (an
//! untagged enum's integers and strings, or an integer beyond `i64`) is a
//! `Seq`, one node per element. Runs travel as one byte string of 8-byte
//! little-endian words, not encoded element by element, and take exactly
//! as many bytes decoded as the frame carried. A run, string or byte
//! string of 64 KiB or more that ends a message (a reply of one value, an
//! `extend`, a `d[k] = v`...) is not even copied into the frame: it is
//! written with one `writev` from where it lies, and read from the socket
//! straight into its final buffer, or, on a connection that has moved
//! one before, copied through shared memory beside the socket (see
//! [`protocol`](super::protocol), "Bulk frames").
//!
//! Because structs are stored as sequences, as postcard and bincode store
//! them, serde attributes that need field names on the way back
//! (`#[serde(flatten)]`, internally tagged enums) and fields skipped with
//! `skip_serializing_if` do not round-trip. Nesting is limited to
//! [`MAX_DEPTH`] levels on the server, so hostile input cannot exhaust its
//! stack.
//!
//! # Python-like dynamic values
//! A Python dict may mix key types (`{1: '1', '2': 2, 0.25: None}`). In Rust,
//! give the proxy an *untagged* enum: its variants are stored as plain
//! values, read back by trying each variant in turn (the `Datum`
//! deserializer is self-describing), and printed the Python way by the
//! proxies' `repr()`.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! #[serde(untagged)]
//! enum Py {
//!     None,
//!     Int(i64),
//!     Float(f64),
//!     Str(String),
//! }
//!
//! let manager = forklore::managers::Manager::start().unwrap();
//! let d = manager.dict::<Py, Py>().unwrap();
//! d.set(Py::Int(1), Py::Str("1".into())).unwrap();
//! d.set(Py::Str("2".into()), Py::Int(2)).unwrap();
//! d.set(Py::Float(0.25), Py::None).unwrap();
//! assert_eq!(d.repr().unwrap(), "{1: '1', '2': 2, 0.25: None}");
//! assert_eq!(d.get(&Py::Float(0.25)).unwrap(), Some(Py::None));
//! ```
//!
//! # Converting by hand
//! ```
//! use forklore::managers::datum::{from_datum, to_datum, Datum};
//!
//! let d = to_datum(&(7u8, "seven")).unwrap();
//! assert_eq!(d, Datum::Seq(vec![Datum::Int(7), Datum::Str("seven".into())]));
//! // Integers of any width are the same number.
//! assert_eq!(to_datum(&7u64).unwrap(), to_datum(&7i16).unwrap());
//! let back: (u8, String) = from_datum(d).unwrap();
//! assert_eq!(back, (7, "seven".to_string()));
//! ```

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// How deeply a `Datum` may nest when the server decodes one.
pub const MAX_DEPTH: usize = 128;

/// A request frame of `n` bytes may decode, on the server, to at most
/// `DECODE_FACTOR * n` bytes of sequences of [`Datum`] nodes (and boxes),
/// or [`DECODE_FLOOR`] for small frames. A node costs
/// `size_of::<Datum>()` (32 bytes) while it may take a single byte on the
/// wire, so without this bound a 57 MiB frame of unit values would take
/// 1.8 GiB of server memory; with it, such a request is refused as soon as
/// its length is read, before anything is allocated for it (the connection
/// stays open). Strings and bytes cost their own length, which the frame
/// already carries.
pub const DECODE_FACTOR: usize = 8;

/// The decoded size every frame may reach, however small (see
/// [`DECODE_FACTOR`]): about two million small values in one request.
pub const DECODE_FLOOR: usize = 64 << 20;

/// An `f64` with a total order ([`f64::total_cmp`]): equal means bitwise
/// equal, so it can be a map key.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
#[repr(transparent)]
pub struct F64(pub f64);

impl PartialEq for F64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0) == Ordering::Equal
    }
}
impl Eq for F64 {}
impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for F64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl std::hash::Hash for F64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}
impl fmt::Debug for F64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A value as the manager's server stores it: a self-describing tree with a
/// total order. See the [module docs](self) for the mapping from Rust types.
///
/// Its `Display` is Python's `repr` (`[1, 'a', None]`), for error messages such
/// as "`5 is not in list`".
// Equality, order and hash are in `cmp.rs` (numbers compare across types).
#[derive(Clone, Debug, Serialize)]
pub enum Datum {
    /// `()` or a unit struct.
    Unit,
    /// A `bool`.
    Bool(bool),
    /// Any integer up to 128 bits (`u128` values above `i128::MAX` are refused).
    Int(i128),
    /// A float. It compares by value with `Bool` and `Int` (see the
    /// [module docs](self)); NaNs as [`f64::total_cmp`] orders them.
    Float(F64),
    /// A `char`.
    Char(char),
    /// A string.
    Str(String),
    /// A byte string: a non-empty sequence of `u8` (`Vec<u8>`, `&[u8]`), a
    /// type that serializes as bytes (`serde_bytes`), and, so that it sorts
    /// first, every empty sequence.
    Bytes(#[serde(serialize_with = "ser_bytes")] Vec<u8>),
    /// `Option::None`.
    None,
    /// `Option::Some`.
    Some(Box<Datum>),
    /// A sequence, tuple, tuple struct or struct.
    Seq(Vec<Datum>),
    /// A map, sorted by key, without duplicate keys.
    Map(Vec<(Datum, Datum)>),
    /// An enum variant: its index in declaration order and its payload
    /// (`Unit` for a unit variant, `Seq` for tuple and struct variants).
    Variant(u32, Box<Datum>),
    /// A proxy (a [`ListProxy`](super::ListProxy) stored in a managed
    /// dict...): its token, `Seq([address, object id, type name])`. The
    /// server keeps the object it names alive while this value is stored
    /// (see the managers module's docs, "Proxies inside shared objects").
    Ref(Box<Datum>),
    /// A packed run of integers: a non-empty sequence (`Vec<i64>`,
    /// `Vec<u32>`...) whose elements are all integers within `i64`, stored
    /// 8 bytes each instead of one node each. It compares, hashes and
    /// prints exactly as the [`Seq`](Datum::Seq) of the same
    /// [`Int`](Datum::Int)s; empty, it is the empty sequence
    /// ([`Bytes`](Datum::Bytes) `[]`).
    Ints(#[serde(serialize_with = "ser_words")] Vec<i64>),
    /// A packed run of floats: a non-empty sequence of `f64` or `f32`,
    /// 8 bytes each. Equivalent to the [`Seq`](Datum::Seq) of the same
    /// [`Float`](Datum::Float)s, as [`Ints`](Datum::Ints) is.
    Floats(#[serde(serialize_with = "ser_words")] Vec<F64>),
}

/// The wire image of [`Datum`], decoded with a depth limit. Its variants
/// must stay in the same order as `Datum`'s (postcard encodes the index).
#[derive(Deserialize)]
enum Repr {
    Unit,
    Bool(bool),
    Int(i128),
    Float(F64),
    Char(char),
    Str(String),
    Bytes(#[serde(deserialize_with = "de_bytes")] Vec<u8>),
    None,
    Some(Box<Datum>),
    Seq(#[serde(deserialize_with = "de_seq")] Vec<Datum>),
    Map(#[serde(deserialize_with = "de_seq")] Vec<(Datum, Datum)>),
    Variant(u32, Box<Datum>),
    Ref(Box<Datum>),
    Ints(#[serde(deserialize_with = "de_words")] Vec<i64>),
    Floats(#[serde(deserialize_with = "de_words")] Vec<F64>),
}

/// Take `n` bytes from this thread's decoding budget, if one is set; false
/// when that would exceed it.
fn charge(n: usize) -> bool {
    BUDGET.with(|b| match b.get() {
        None => true,
        Some(left) => match left.checked_sub(n) {
            Some(rest) => {
                b.set(Some(rest));
                true
            }
            None => false,
        },
    })
}

fn too_big<E: de::Error>() -> E {
    TOO_BIG.with(|c| c.set(true));
    E::custom("value too large once decoded")
}

/// Decode a sequence, paying for all of it before allocating: its length
/// (which postcard writes first) times the element's size is taken from
/// the frame's budget, so a huge announced length is refused before any
/// memory is spent, and the vector is allocated once, exactly. Without a
/// budget (a client reading replies), it grows as usual.
pub(crate) fn de_seq<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Seq<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Seq<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Vec<T>, A::Error> {
            let size = std::mem::size_of::<T>().max(1);
            let n = seq.size_hint().unwrap_or(0);
            let bounded = BUDGET.with(Cell::get).is_some();
            if !charge(n.saturating_mul(size)) {
                return Err(too_big());
            }
            let mut v = Vec::with_capacity(if bounded { n } else { n.min(1 << 16) });
            while let Some(x) = seq.next_element()? {
                // More elements than announced pay for themselves.
                if bounded && v.len() >= n && !charge(size) {
                    return Err(too_big());
                }
                v.push(x);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(Seq(std::marker::PhantomData))
}

thread_local! {
    /// What is left of the decoding budget of the frame being decoded on
    /// this thread (see [`DECODE_FACTOR`]); `None` when not bounded.
    static BUDGET: Cell<Option<usize>> = const { Cell::new(None) };
    /// Set when a decode ran out of budget.
    static TOO_BIG: Cell<bool> = const { Cell::new(false) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Set when a decode hit [`MAX_DEPTH`]: postcard drops custom error
    /// messages, so the server asks here why a frame did not decode.
    static TOO_DEEP: Cell<bool> = const { Cell::new(false) };
    /// Set when a decode met a [`Datum::Ref`] (a proxy inside a value).
    static SAW_REF: Cell<bool> = const { Cell::new(false) };
}

thread_local! {
    /// The managers' addresses of the proxies [`to_datum`] turned into
    /// [`Datum::Ref`]s on this thread since they were last taken.
    static REF_ADDRESSES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn note_ref_address(address: &str) {
    let _ = REF_ADDRESSES.try_with(|r| r.borrow_mut().push(address.to_string()));
}

/// The addresses noted since the last call (clears them): a request to a
/// manager may carry proxies of that manager only.
pub(crate) fn take_ref_addresses() -> Vec<String> {
    REF_ADDRESSES
        .try_with(|r| std::mem::take(&mut *r.borrow_mut()))
        .unwrap_or_default()
}

/// Whether a decode on this thread met a proxy since the last call
/// (clears the flag): the server then starts tracing references.
pub(crate) fn take_saw_ref() -> bool {
    SAW_REF.with(|c| c.replace(false))
}

/// The serde name under which a proxy serializes its token: [`to_datum`]
/// turns it into a [`Datum::Ref`], and [`from_datum`] back.
pub(crate) const TOKEN_NAME: &str = "$forklore::managers::Token";

impl Datum {
    /// The object ids of the proxies inside this value (its [`Datum::Ref`]s).
    pub(crate) fn refs(&self, out: &mut Vec<u64>) {
        match self {
            Datum::Ref(t) => {
                if let Datum::Seq(parts) = &**t {
                    if let Some(Datum::Int(id)) = parts.get(1) {
                        if let Ok(id) = u64::try_from(*id) {
                            out.push(id);
                        }
                    }
                }
            }
            Datum::Some(d) | Datum::Variant(_, d) => d.refs(out),
            Datum::Seq(v) => v.iter().for_each(|d| d.refs(out)),
            Datum::Map(m) => m.iter().for_each(|(k, v)| {
                k.refs(out);
                v.refs(out);
            }),
            _ => {}
        }
    }
}

/// Whether the last failed decode on this thread hit [`MAX_DEPTH`]
/// (clears the flag).
pub(crate) fn take_too_deep() -> bool {
    TOO_DEEP.with(|c| c.replace(false))
}

/// Decode a whole frame of the server's input (strictly: trailing bytes
/// are an error), within the memory bound of [`DECODE_FACTOR`]. The error
/// says why, for the refusal sent to the client.
pub(crate) fn decode_bounded<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    let budget = bytes.len().saturating_mul(DECODE_FACTOR).max(DECODE_FLOOR);
    BUDGET.with(|b| b.set(Some(budget)));
    TOO_BIG.with(|c| c.set(false));
    TOO_DEEP.with(|c| c.set(false));
    let r = postcard::take_from_bytes::<T>(bytes);
    BUDGET.with(|b| b.set(None));
    match r {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(format!("{} bytes left over after the message", rest.len())),
        Err(_) if take_too_deep() => {
            Err(format!("a value nested more than {MAX_DEPTH} levels deep"))
        }
        Err(_) if TOO_BIG.with(|c| c.replace(false)) => Err(format!(
            "a request of {} bytes would take more than {budget} bytes of the server's memory \
             once decoded (at most {DECODE_FACTOR} times its size, or {DECODE_FLOOR}); \
             send it in smaller pieces",
            bytes.len()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Decode one value at the start of `bytes` (a part of the server's input),
/// within the memory bound of [`DECODE_FACTOR`] for those bytes: the value
/// and how many bytes it took, or `None` if they do not begin with one
/// (or it holds a proxy, which this path does not trace).
pub(crate) fn decode_prefix_bounded(bytes: &[u8]) -> Option<(Datum, usize)> {
    let budget = bytes.len().saturating_mul(DECODE_FACTOR);
    BUDGET.with(|b| b.set(Some(budget)));
    SAW_REF.with(|c| c.set(false));
    let r = postcard::take_from_bytes::<Datum>(bytes);
    BUDGET.with(|b| b.set(None));
    TOO_BIG.with(|c| c.set(false));
    TOO_DEEP.with(|c| c.set(false));
    let saw_ref = SAW_REF.with(|c| c.replace(false));
    match r {
        Ok((d, rest)) if !saw_ref => Some((d, bytes.len() - rest.len())),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for Datum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let depth = DEPTH.with(Cell::get);
        if depth >= MAX_DEPTH {
            TOO_DEEP.with(|c| c.set(true));
            return Err(de::Error::custom(format!(
                "value nested more than {MAX_DEPTH} levels deep"
            )));
        }

        DEPTH.with(|c| c.set(depth + 1));
        let r = Repr::deserialize(d);
        DEPTH.with(|c| c.set(depth));
        let r = r?;
        // A boxed node costs its box (a sequence paid for its elements).
        if matches!(r, Repr::Some(_) | Repr::Variant(..) | Repr::Ref(_))
            && !charge(std::mem::size_of::<Datum>())
        {
            return Err(too_big());
        }
        Ok(match r {
            Repr::Unit => Datum::Unit,
            Repr::Bool(b) => Datum::Bool(b),
            Repr::Int(i) => Datum::Int(i),
            Repr::Float(f) => Datum::Float(f),
            Repr::Char(c) => Datum::Char(c),
            Repr::Str(s) => Datum::Str(s),
            Repr::Bytes(b) => Datum::Bytes(b),
            Repr::None => Datum::None,
            Repr::Some(b) => Datum::Some(b),
            Repr::Seq(v) => Datum::Seq(v),
            Repr::Map(m) => Datum::Map(m),
            Repr::Variant(i, p) => Datum::Variant(i, p),
            Repr::Ref(t) => {
                SAW_REF.with(|c| c.set(true));
                Datum::Ref(t)
            }
            // An empty run is the empty sequence, as `to_datum` makes it.
            Repr::Ints(v) if v.is_empty() => Datum::Bytes(Vec::new()),
            Repr::Floats(v) if v.is_empty() => Datum::Bytes(Vec::new()),
            Repr::Ints(v) => Datum::Ints(v),
            Repr::Floats(v) => Datum::Floats(v),
        })
    }
}

impl fmt::Display for Datum {
    /// Python's `repr`: `None`, `True`, `3`, `2.5`, `'text'`, `[1, 2]`, `{1: 'a'}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, items: &[Datum]) -> fmt::Result {
            for (i, d) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{d}")?;
            }
            Ok(())
        }
        match self {
            Datum::Unit | Datum::None => f.write_str("None"),
            Datum::Bool(true) => f.write_str("True"),
            Datum::Bool(false) => f.write_str("False"),
            Datum::Int(i) => write!(f, "{i}"),
            Datum::Float(x) => write!(f, "{:?}", x.0),
            Datum::Char(c) => write!(f, "'{c}'"),
            Datum::Str(s) => write_str_repr(f, s),
            // Every empty sequence is stored as empty bytes.
            Datum::Bytes(b) if b.is_empty() => f.write_str("[]"),
            Datum::Bytes(b) => write!(f, "b{:?}", String::from_utf8_lossy(b)),
            Datum::Some(d) => write!(f, "{d}"),
            Datum::Seq(items) => {
                f.write_str("[")?;
                list(f, items)?;
                f.write_str("]")
            }
            Datum::Ints(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Datum::Floats(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Datum::Float(*x))?;
                }
                f.write_str("]")
            }
            Datum::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Datum::Ref(t) => match &**t {
                Datum::Seq(parts) if parts.len() == 3 => match &parts[2] {
                    // CPython: <ListProxy object, typeid 'list' at 0x7f...>
                    Datum::Str(kind) => {
                        write!(f, "<proxy object, typeid '{kind}', id {}>", parts[1])
                    }
                    kind => write!(f, "<proxy object, typeid {kind}, id {}>", parts[1]),
                },
                t => write!(f, "<proxy {t}>"),
            },
            Datum::Variant(i, p) => match &**p {
                Datum::Unit => write!(f, "<variant {i}>"),
                p => write!(f, "<variant {i}>({p})"),
            },
        }
    }
}

/// Python's `repr` of a string: single quotes, unless the text holds a
/// single quote and no double quote.
fn write_str_repr(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    write!(f, "{q}")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == q => write!(f, "\\{c}")?,
            c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    write!(f, "{q}")
}

/// Convert a value to a [`Datum`].
///
/// # Errors
/// [`Error::Encode`] if the value's `Serialize` impl fails, or for a `u128`
/// above `i128::MAX`.
pub fn to_datum<T: Serialize + ?Sized>(value: &T) -> Result<Datum> {
    value.serialize(PLAIN).map_err(|e| Error::Encode(e.0))
}

/// Convert a [`Datum`] back to a value.
///
/// # Errors
/// [`Error::Decode`] if the datum does not have the shape of `T`.
pub fn from_datum<T: DeserializeOwned>(datum: Datum) -> Result<T> {
    T::deserialize(datum).map_err(|e| Error::Decode(e.0))
}

/// The error of the serde conversions (turned into [`Error::Encode`] or
/// [`Error::Decode`] at the edge).
#[derive(Debug)]
pub struct DatumError(String);

impl fmt::Display for DatumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DatumError {}
impl ser::Error for DatumError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DatumError(msg.to_string())
    }
}
impl de::Error for DatumError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DatumError(msg.to_string())
    }
}

mod cmp;
mod from_datum;
mod packed;
pub use packed::Bytes;
pub(crate) use packed::SeqView;
mod to_datum;
mod words;
pub(crate) use words::BulkKind;
use words::{de_bytes, de_words, ser_bytes, ser_words};

use to_datum::PLAIN;

/// Convert the items to one sequence [`Datum`], as a `Vec` of them would
/// be: a packed run when they allow it.
pub(crate) fn seq_to_datum<T: Serialize + ?Sized, B: std::borrow::Borrow<T>>(
    items: impl IntoIterator<Item = B>,
) -> Result<Datum> {
    to_datum::seq_to_datum(items).map_err(|e| Error::Encode(e.0))
}
#[cfg(test)]
mod tests;
