//! `T` → [`Datum`]: the serde `Serializer` behind [`to_datum`](super::to_datum).

use std::cell::Cell;

use serde::ser;
use serde::Serialize;

use super::{Datum, DatumError, F64};

type SerResult = std::result::Result<Datum, DatumError>;

/// The serde `Serializer` behind [`to_datum`].
///
/// `byte`, for the elements of a sequence, is set when the element was a
/// lone `u8` (not one inside a struct or an option): a sequence of them is
/// stored as [`Datum::Bytes`], one byte each, not as 32-byte nodes.
pub(super) struct DatumSerializer<'a> {
    byte: Option<&'a Cell<bool>>,
}

pub(super) const PLAIN: DatumSerializer<'static> = DatumSerializer { byte: None };

/// Collects the elements of a sequence, tuple or struct.
pub(super) struct SeqBuilder {
    items: Vec<Datum>,
    /// For tuple and struct variants: the variant index.
    variant: Option<u32>,
    /// The announced number of elements.
    hint: usize,
    /// For a sequence (`serialize_seq`) whose elements so far were all of
    /// one packable kind: those elements, packed. `None` once an element
    /// was something else (then they are in `items`).
    packed: Option<Run>,
}

/// The elements of a sequence so far, while they are all of one kind.
pub(super) enum Run {
    /// No element yet.
    Empty,
    /// Lone `u8`s.
    Bytes(Vec<u8>),
    /// Integers within `i64`.
    Ints(Vec<i64>),
    /// Floats.
    Floats(Vec<F64>),
}

impl Run {
    /// Add `d` if it is of the run's kind (`byte`: it was a lone `u8`);
    /// give it back otherwise.
    fn push(&mut self, d: Datum, byte: bool, hint: usize) -> Option<Datum> {
        match (self, d) {
            (run @ Run::Empty, Datum::Int(i)) if byte => *run = Run::Bytes(with(hint, i as u8)),
            (run @ Run::Empty, Datum::Int(i)) => match i64::try_from(i) {
                Ok(i) => *run = Run::Ints(with(hint, i)),
                Err(_) => return Some(Datum::Int(i)),
            },
            (run @ Run::Empty, Datum::Float(f)) => *run = Run::Floats(with(hint, f)),
            (Run::Bytes(v), Datum::Int(i)) if byte => v.push(i as u8),
            (Run::Ints(v), Datum::Int(i)) if !byte => match i64::try_from(i) {
                Ok(i) => v.push(i),
                Err(_) => return Some(Datum::Int(i)),
            },
            (Run::Floats(v), Datum::Float(f)) => v.push(f),
            (_, d) => return Some(d),
        }
        None
    }

    /// The elements so far, one node each.
    fn unpack(self) -> Vec<Datum> {
        match self {
            Run::Empty => Vec::new(),
            Run::Bytes(v) => Datum::Bytes(v).into_items().unwrap_or_default(),
            Run::Ints(v) => Datum::Ints(v).into_items().unwrap_or_default(),
            Run::Floats(v) => Datum::Floats(v).into_items().unwrap_or_default(),
        }
    }
}

/// A vector of capacity `hint` (at most 1 Mi elements) holding `first`.
fn with<T>(hint: usize, first: T) -> Vec<T> {
    let mut v = Vec::with_capacity(hint.clamp(1, 1 << 20));
    v.push(first);
    v
}

impl SeqBuilder {
    fn finish(self) -> SerResult {
        match self.packed {
            Some(Run::Empty) => return Ok(Datum::Bytes(Vec::new())),
            Some(Run::Bytes(b)) => return Ok(Datum::Bytes(b)),
            Some(Run::Ints(v)) => return Ok(Datum::Ints(v)),
            Some(Run::Floats(v)) => return Ok(Datum::Floats(v)),
            None => {}
        }
        let seq = Datum::Seq(self.items);
        Ok(match self.variant {
            Some(i) => Datum::Variant(i, Box::new(seq)),
            None => seq,
        })
    }
}

/// Collects a map's entries; sorts them by key at the end.
pub(super) struct MapBuilder {
    pairs: Vec<(Datum, Datum)>,
    key: Option<Datum>,
}

/// Sort a map's entries by key; a later duplicate key replaces an earlier one.
fn canonical_map(mut pairs: Vec<(Datum, Datum)>) -> Datum {
    // Stable sort keeps insertion order among equal keys; keep the last.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Datum, Datum)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 = v,
            _ => out.push((k, v)),
        }
    }
    Datum::Map(out)
}

impl ser::Serializer for DatumSerializer<'_> {
    type Ok = Datum;
    type Error = DatumError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = SeqBuilder;
    type SerializeStructVariant = SeqBuilder;

    fn is_human_readable(&self) -> bool {
        false
    }
    fn serialize_bool(self, v: bool) -> SerResult {
        Ok(Datum::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> SerResult {
        Ok(Datum::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> SerResult {
        Ok(Datum::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> SerResult {
        Ok(Datum::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> SerResult {
        Ok(Datum::Int(v.into()))
    }
    fn serialize_i128(self, v: i128) -> SerResult {
        Ok(Datum::Int(v))
    }
    fn serialize_u8(self, v: u8) -> SerResult {
        if let Some(b) = self.byte {
            b.set(true);
        }
        Ok(Datum::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> SerResult {
        Ok(Datum::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> SerResult {
        Ok(Datum::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> SerResult {
        Ok(Datum::Int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> SerResult {
        i128::try_from(v).map(Datum::Int).map_err(|_| {
            DatumError(format!(
                "{v} is too large to store (the limit is i128::MAX)"
            ))
        })
    }
    fn serialize_f32(self, v: f32) -> SerResult {
        Ok(Datum::Float(F64(v.into())))
    }
    fn serialize_f64(self, v: f64) -> SerResult {
        Ok(Datum::Float(F64(v)))
    }
    fn serialize_char(self, v: char) -> SerResult {
        Ok(Datum::Char(v))
    }
    fn serialize_str(self, v: &str) -> SerResult {
        Ok(Datum::Str(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> SerResult {
        Ok(Datum::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> SerResult {
        Ok(Datum::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> SerResult {
        Ok(Datum::Some(Box::new(value.serialize(PLAIN)?)))
    }
    fn serialize_unit(self) -> SerResult {
        Ok(Datum::Unit)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> SerResult {
        Ok(Datum::Unit)
    }
    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> SerResult {
        Ok(Datum::Variant(index, Box::new(Datum::Unit)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> SerResult {
        if name == super::TOKEN_NAME {
            // A proxy: its token, marked so the server counts it.
            let token = value.serialize(PLAIN)?;
            if let Datum::Seq(parts) = &token {
                if let Some(Datum::Str(address)) = parts.first() {
                    super::note_ref_address(address);
                }
            }
            return Ok(Datum::Ref(Box::new(token)));
        }
        value.serialize(PLAIN)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> SerResult {
        Ok(Datum::Variant(index, Box::new(value.serialize(PLAIN)?)))
    }
    fn serialize_seq(self, len: Option<usize>) -> std::result::Result<SeqBuilder, DatumError> {
        Ok(SeqBuilder {
            items: Vec::new(),
            variant: None,
            hint: len.unwrap_or(0),
            packed: Some(Run::Empty),
        })
    }
    fn serialize_tuple(self, len: usize) -> std::result::Result<SeqBuilder, DatumError> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.min(4096)),
            variant: None,
            hint: len,
            packed: None,
        })
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> std::result::Result<SeqBuilder, DatumError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        len: usize,
    ) -> std::result::Result<SeqBuilder, DatumError> {
        let mut b = self.serialize_tuple(len)?;
        b.variant = Some(index);
        Ok(b)
    }
    fn serialize_map(self, len: Option<usize>) -> std::result::Result<MapBuilder, DatumError> {
        Ok(MapBuilder {
            pairs: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> std::result::Result<SeqBuilder, DatumError> {
        self.serialize_tuple(len)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        len: usize,
    ) -> std::result::Result<SeqBuilder, DatumError> {
        self.serialize_tuple_variant("", index, "", len)
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Datum;
    type Error = DatumError;
    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> std::result::Result<(), DatumError> {
        let Some(run) = &mut self.packed else {
            self.items.push(value.serialize(PLAIN)?);
            return Ok(());
        };
        let was_byte = Cell::new(false);
        // Not dropped in the common cases below: integers and floats own
        // nothing, and a drop per element is a call per element.
        let d = std::mem::ManuallyDrop::new(value.serialize(DatumSerializer {
            byte: Some(&was_byte),
        })?);
        // The common case first, without moving the element around.
        match (&mut *run, &*d) {
            (Run::Ints(v), Datum::Int(i)) if !was_byte.get() => {
                if let Ok(i) = i64::try_from(*i) {
                    v.push(i);
                    return Ok(());
                }
            }
            (Run::Floats(v), Datum::Float(f)) => {
                v.push(*f);
                return Ok(());
            }
            (Run::Bytes(v), Datum::Int(i)) if was_byte.get() => {
                v.push(*i as u8);
                return Ok(());
            }
            _ => {}
        }
        let d = std::mem::ManuallyDrop::into_inner(d);
        if let Some(d) = run.push(d, was_byte.get(), self.hint) {
            // Not a run after all: one node per element from now on.
            let mut items = self.packed.take().map(Run::unpack).unwrap_or_default();
            items.reserve(self.hint.saturating_sub(items.len()).clamp(1, 4096));
            items.push(d);
            self.items = items;
        }
        Ok(())
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

macro_rules! seq_like {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for SeqBuilder {
            type Ok = Datum;
            type Error = DatumError;
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                value: &T,
            ) -> std::result::Result<(), DatumError> {
                self.items.push(value.serialize(PLAIN)?);
                Ok(())
            }
            fn end(self) -> SerResult {
                self.finish()
            }
        }
    };
}
seq_like!(SerializeTuple, serialize_element);
seq_like!(SerializeTupleStruct, serialize_field);
seq_like!(SerializeTupleVariant, serialize_field);

macro_rules! struct_like {
    ($trait:ident) => {
        impl ser::$trait for SeqBuilder {
            type Ok = Datum;
            type Error = DatumError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _key: &'static str,
                value: &T,
            ) -> std::result::Result<(), DatumError> {
                self.items.push(value.serialize(PLAIN)?);
                Ok(())
            }
            fn end(self) -> SerResult {
                self.finish()
            }
        }
    };
}
struct_like!(SerializeStruct);
struct_like!(SerializeStructVariant);

impl ser::SerializeMap for MapBuilder {
    type Ok = Datum;
    type Error = DatumError;
    fn serialize_key<T: Serialize + ?Sized>(
        &mut self,
        key: &T,
    ) -> std::result::Result<(), DatumError> {
        self.key = Some(key.serialize(PLAIN)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> std::result::Result<(), DatumError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| DatumError("map value without a key".into()))?;
        self.pairs.push((key, value.serialize(PLAIN)?));
        Ok(())
    }
    fn end(self) -> SerResult {
        Ok(canonical_map(self.pairs))
    }
}

/// The items as one sequence, as [`to_datum`](super::to_datum) would
/// convert a `Vec` of them: a packed run when they allow it.
pub(crate) fn seq_to_datum<T: Serialize + ?Sized, B: std::borrow::Borrow<T>>(
    items: impl IntoIterator<Item = B>,
) -> std::result::Result<Datum, DatumError> {
    use ser::{SerializeSeq, Serializer};
    let items = items.into_iter();
    let mut seq = PLAIN.serialize_seq(Some(items.size_hint().0))?;
    for x in items {
        seq.serialize_element(x.borrow())?;
    }
    seq.end()
}
