//! [`Datum`] → `T`: a `Datum` is a self-describing serde `Deserializer`,
//! behind [`from_datum`](super::from_datum).

use serde::de::{self, IntoDeserializer, Visitor};
use serde::Deserializer;

use super::{Datum, DatumError};

type DeResult<T> = std::result::Result<T, DatumError>;

fn unexpected(d: &Datum) -> de::Unexpected<'_> {
    match d {
        Datum::Unit => de::Unexpected::Unit,
        Datum::Bool(b) => de::Unexpected::Bool(*b),
        Datum::Int(_) => de::Unexpected::Other("integer"),
        Datum::Float(f) => de::Unexpected::Float(f.0),
        Datum::Char(c) => de::Unexpected::Char(*c),
        Datum::Str(s) => de::Unexpected::Str(s),
        Datum::Bytes(b) => de::Unexpected::Bytes(b),
        Datum::None | Datum::Some(_) => de::Unexpected::Option,
        Datum::Seq(_) | Datum::Ints(_) | Datum::Floats(_) => de::Unexpected::Seq,
        Datum::Map(_) => de::Unexpected::Map,
        Datum::Variant(..) => de::Unexpected::Enum,
        Datum::Ref(_) => de::Unexpected::NewtypeStruct,
    }
}

impl<'de> Deserializer<'de> for Datum {
    type Error = DatumError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self {
            // A proxy's token, read by anything but a proxy: its parts.
            Datum::Ref(t) => t.deserialize_any(visitor),
            Datum::Unit => visitor.visit_unit(),
            Datum::Bool(b) => visitor.visit_bool(b),
            Datum::Int(i) => {
                if let Ok(v) = i64::try_from(i) {
                    visitor.visit_i64(v)
                } else if let Ok(v) = u64::try_from(i) {
                    visitor.visit_u64(v)
                } else {
                    visitor.visit_i128(i)
                }
            }
            Datum::Float(f) => visitor.visit_f64(f.0),
            Datum::Char(c) => visitor.visit_char(c),
            Datum::Str(s) => visitor.visit_string(s),
            // A sequence of bytes (`Vec<u8>`), or an empty sequence.
            // Each byte is read as a `u8` (no `Datum` per byte).
            Datum::Bytes(b) => visit_run(b, visitor),
            Datum::Ints(v) => visit_run(v, visitor),
            Datum::Floats(v) => visit_run(v.into_iter().map(|f| f.0), visitor),
            Datum::None => visitor.visit_none(),
            Datum::Some(d) => visitor.visit_some(*d),
            Datum::Seq(items) => {
                let mut seq = de::value::SeqDeserializer::new(items.into_iter());
                let v = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(v)
            }
            Datum::Map(pairs) => {
                let mut map = de::value::MapDeserializer::new(pairs.into_iter());
                let v = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(v)
            }
            Datum::Variant(index, payload) => visitor.visit_enum(VariantAccess { index, payload }),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self {
            Datum::Bytes(b) => visitor.visit_byte_buf(b),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self {
            Datum::None => visitor.visit_none(),
            Datum::Some(d) => visitor.visit_some(*d),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> DeResult<V::Value> {
        match self {
            // A proxy reads its token.
            Datum::Ref(t) => visitor.visit_newtype_struct(*t),
            d => visitor.visit_newtype_struct(d),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> DeResult<V::Value> {
        match self {
            Datum::Variant(index, payload) => visitor.visit_enum(VariantAccess { index, payload }),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// Visit a packed run as a sequence of its plain elements.
fn visit_run<'de, I, V>(items: I, visitor: V) -> DeResult<V::Value>
where
    I: IntoIterator,
    I::Item: IntoDeserializer<'de, DatumError>,
    V: Visitor<'de>,
{
    let mut seq = de::value::SeqDeserializer::new(items.into_iter());
    let v = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(v)
}

impl IntoDeserializer<'_, DatumError> for Datum {
    type Deserializer = Datum;
    fn into_deserializer(self) -> Datum {
        self
    }
}

/// serde's view of a [`Datum::Variant`].
struct VariantAccess {
    index: u32,
    payload: Box<Datum>,
}

impl<'de> de::EnumAccess<'de> for VariantAccess {
    type Error = DatumError;
    type Variant = Datum;
    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> DeResult<(S::Value, Datum)> {
        let index: de::value::U32Deserializer<DatumError> = self.index.into_deserializer();
        Ok((seed.deserialize(index)?, *self.payload))
    }
}

impl<'de> de::VariantAccess<'de> for Datum {
    type Error = DatumError;
    fn unit_variant(self) -> DeResult<()> {
        match self {
            Datum::Unit => Ok(()),
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a unit variant",
            )),
        }
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> DeResult<S::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> DeResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> DeResult<V::Value> {
        self.deserialize_any(visitor)
    }
}
