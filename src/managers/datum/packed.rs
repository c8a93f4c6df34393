//! Packed runs: how a sequence of integers or floats is one [`Datum`] node
//! (`Ints`, `Floats`) yet reads, compares and hashes as the `Seq` of its
//! elements, and [`Bytes`], a byte string that moves in one piece.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Datum, F64};

/// The elements of a sequence-like [`Datum`] (`Seq`, `Ints`, `Floats`),
/// seen one at a time as `Datum`s so that every form compares the same.
#[derive(Clone, Copy)]
pub(crate) enum SeqView<'a> {
    Tree(&'a [Datum]),
    Ints(&'a [i64]),
    Floats(&'a [F64]),
}

impl<'a> SeqView<'a> {
    pub(crate) fn len(self) -> usize {
        match self {
            SeqView::Tree(v) => v.len(),
            SeqView::Ints(v) => v.len(),
            SeqView::Floats(v) => v.len(),
        }
    }
    pub(crate) fn get(self, i: usize) -> std::borrow::Cow<'a, Datum> {
        use std::borrow::Cow;
        match self {
            SeqView::Tree(v) => Cow::Borrowed(&v[i]),
            SeqView::Ints(v) => Cow::Owned(Datum::Int(v[i].into())),
            SeqView::Floats(v) => Cow::Owned(Datum::Float(v[i])),
        }
    }
}

impl Datum {
    pub(super) fn seq_view(&self) -> Option<SeqView<'_>> {
        match self {
            Datum::Seq(v) => Some(SeqView::Tree(v)),
            Datum::Ints(v) => Some(SeqView::Ints(v)),
            Datum::Floats(v) => Some(SeqView::Floats(v)),
            _ => None,
        }
    }

    /// A sequence-like value as its elements, one `Datum` each (`Bytes`
    /// give one `Int` per byte); `None` for any other value.
    pub(crate) fn into_items(self) -> Option<Vec<Datum>> {
        Some(match self {
            Datum::Seq(v) => v,
            Datum::Ints(v) => v.into_iter().map(|i| Datum::Int(i.into())).collect(),
            Datum::Floats(v) => v.into_iter().map(Datum::Float).collect(),
            Datum::Bytes(v) => v.into_iter().map(|b| Datum::Int(b.into())).collect(),
            _ => return None,
        })
    }

    /// The sequence of `items`, packed when they allow it: all integers
    /// within `i64` give [`Datum::Ints`], all floats [`Datum::Floats`],
    /// none the empty sequence; anything else is a [`Datum::Seq`].
    pub(crate) fn pack_owned(items: Vec<Datum>) -> Datum {
        if items.is_empty() {
            return Datum::Bytes(Vec::new());
        }
        match &items[0] {
            Datum::Int(_) => {
                let ints: Option<Vec<i64>> = items
                    .iter()
                    .map(|d| match d {
                        Datum::Int(i) => i64::try_from(*i).ok(),
                        _ => None,
                    })
                    .collect();
                if let Some(v) = ints {
                    return Datum::Ints(v);
                }
            }
            Datum::Float(_) => {
                let floats: Option<Vec<F64>> = items
                    .iter()
                    .map(|d| match d {
                        Datum::Float(f) => Some(*f),
                        _ => None,
                    })
                    .collect();
                if let Some(v) = floats {
                    return Datum::Floats(v);
                }
            }
            _ => {}
        }
        Datum::Seq(items)
    }

    /// A run of integers: [`Datum::Ints`], or the empty sequence.
    pub(crate) fn pack_owned_ints(v: Vec<i64>) -> Datum {
        if v.is_empty() {
            Datum::Bytes(Vec::new())
        } else {
            Datum::Ints(v)
        }
    }
}

/// A byte string that moves in one piece (Python's `bytes`), for values
/// of proxies.
///
/// A `Vec<u8>` is stored as [`Datum::Bytes`] too, but serde hands a
/// `Vec<u8>` over one byte at a time (a call per byte each way); `Bytes`
/// serializes as a byte string, so it is copied whole and read back by
/// moving the server's reply into it. It compares and stores as the
/// `Vec<u8>` of the same bytes: the two are interchangeable on the server.
///
/// ```
/// use forklore::managers::datum::Bytes;
///
/// let manager = forklore::managers::Manager::start().unwrap();
/// let d = manager.dict::<String, Bytes>().unwrap();
/// d.set("k".to_string(), Bytes(vec![7; 1 << 20])).unwrap();
/// assert_eq!(d.get(&"k".to_string()).unwrap().unwrap().len(), 1 << 20);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(v)
    }
}
impl From<Bytes> for Vec<u8> {
    fn from(b: Bytes) -> Vec<u8> {
        b.0
    }
}
impl std::ops::Deref for Bytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}
impl std::ops::DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Bytes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v))
            }
            // The empty sequence, and formats that write bytes as a sequence.
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Bytes, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}
