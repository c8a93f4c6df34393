//! serde ↔ [`Value`]: what lets the typed proxies take and return Rust
//! types.
//!
//! | Rust (serde) | Python |
//! |---|---|
//! | `()`, `None`, unit struct | `None` |
//! | `bool` | `bool` |
//! | integers (`u64`/`i128` beyond `i64` as big ints) | `int` |
//! | `f32`, `f64` | `float` |
//! | `char`, `String`, `&str` | `str` |
//! | `serde_bytes`-style bytes | `bytes` |
//! | `Vec<T>`, sequences | `list` (a Python tuple or set also reads as one) |
//! | tuples, tuple structs | `tuple` |
//! | maps, structs | `dict` (struct fields as `str` keys) |
//! | enum unit variant | `str` (the variant's name) |
//! | other enum variants | `{name: payload}` |

use serde::de::{self, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

use super::pickle::Value;

/// A conversion error.
#[derive(Debug)]
pub struct ValueError(pub String);

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ValueError {}
impl ser::Error for ValueError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}
impl de::Error for ValueError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ValueError(msg.to_string())
    }
}

/// Converts a serde value to a Python [`Value`].
///
/// # Errors
/// [`ValueError`] when the type's `Serialize` fails.
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, ValueError> {
    v.serialize(ToValue)
}

/// Converts a Python [`Value`] to a serde type.
///
/// # Errors
/// [`ValueError`] when the value does not have the type's shape (for example
/// a `str` where an `i64` is expected, or an `int` too large for it).
pub fn from_value<T: de::DeserializeOwned>(v: Value) -> Result<T, ValueError> {
    T::deserialize(v)
}

fn big_from_i128(i: i128) -> Value {
    if let Ok(s) = i64::try_from(i) {
        return Value::Int(s);
    }
    let mut b = i.to_le_bytes().to_vec();
    while b.len() > 1 {
        let last = b[b.len() - 1];
        let sign = b[b.len() - 2] & 0x80;
        if (last == 0 && sign == 0) || (last == 0xff && sign != 0) {
            b.pop();
        } else {
            break;
        }
    }
    Value::BigInt(b)
}

fn big_to_i128(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
    let mut a = [fill; 16];
    a[..b.len()].copy_from_slice(b);
    Some(i128::from_le_bytes(a))
}

struct ToValue;

/// Collects a sequence, tuple or map.
pub struct SeqOut {
    items: Vec<Value>,
    kind: u8, // 0 list, 1 tuple
    variant: Option<&'static str>,
}
/// Collects a map or struct.
pub struct MapOut {
    items: Vec<(Value, Value)>,
    key: Option<Value>,
    variant: Option<&'static str>,
}

fn wrap(variant: Option<&'static str>, v: Value) -> Value {
    match variant {
        Some(name) => Value::Dict(vec![(Value::str(name), v)]),
        None => v,
    }
}

impl ser::Serializer for ToValue {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqOut;
    type SerializeTuple = SeqOut;
    type SerializeTupleStruct = SeqOut;
    type SerializeTupleVariant = SeqOut;
    type SerializeMap = MapOut;
    type SerializeStruct = MapOut;
    type SerializeStructVariant = MapOut;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        Ok(big_from_i128(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        Ok(big_from_i128(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        match i128::try_from(v) {
            Ok(i) => Ok(big_from_i128(i)),
            Err(_) => {
                let mut b = v.to_le_bytes().to_vec();
                b.push(0);
                Ok(Value::BigInt(b))
            }
        }
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::str(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, ValueError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::None)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, ValueError> {
        Ok(Value::None)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Value, ValueError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, ValueError> {
        Ok(wrap(Some(variant), v.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqOut, ValueError> {
        Ok(SeqOut {
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            kind: 0,
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqOut, ValueError> {
        Ok(SeqOut {
            items: Vec::with_capacity(len.min(4096)),
            kind: 1,
            variant: None,
        })
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqOut, ValueError> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqOut, ValueError> {
        Ok(SeqOut {
            items: Vec::with_capacity(len.min(4096)),
            kind: 1,
            variant: Some(variant),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapOut, ValueError> {
        Ok(MapOut {
            items: Vec::new(),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapOut, ValueError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<MapOut, ValueError> {
        Ok(MapOut {
            items: Vec::new(),
            key: None,
            variant: Some(variant),
        })
    }
}

impl SeqOut {
    fn done(self) -> Value {
        let v = if self.kind == 0 {
            Value::List(self.items)
        } else {
            Value::Tuple(self.items)
        };
        wrap(self.variant, v)
    }
}

macro_rules! seq_impl {
    ($tr:ident, $m:ident) => {
        impl ser::$tr for SeqOut {
            type Ok = Value;
            type Error = ValueError;
            fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
                self.items.push(to_value(v)?);
                Ok(())
            }
            fn end(self) -> Result<Value, ValueError> {
                Ok(self.done())
            }
        }
    };
}
seq_impl!(SerializeSeq, serialize_element);
seq_impl!(SerializeTuple, serialize_element);
seq_impl!(SerializeTupleStruct, serialize_field);
seq_impl!(SerializeTupleVariant, serialize_field);

impl ser::SerializeMap for MapOut {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), ValueError> {
        self.key = Some(to_value(k)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ValueError> {
        let k = self
            .key
            .take()
            .ok_or_else(|| ValueError("map value without a key".into()))?;
        self.items.push((k, to_value(v)?));
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(wrap(self.variant, Value::Dict(self.items)))
    }
}

macro_rules! struct_impl {
    ($tr:ident) => {
        impl ser::$tr for MapOut {
            type Ok = Value;
            type Error = ValueError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), ValueError> {
                self.items.push((Value::str(key), to_value(v)?));
                Ok(())
            }
            fn end(self) -> Result<Value, ValueError> {
                Ok(wrap(self.variant, Value::Dict(self.items)))
            }
        }
    };
}
struct_impl!(SerializeStruct);
struct_impl!(SerializeStructVariant);

impl<'de> IntoDeserializer<'de, ValueError> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self {
            Value::None => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(b),
            Value::Int(i) => v.visit_i64(i),
            Value::BigInt(b) => match big_to_i128(&b) {
                Some(i) => match u64::try_from(i) {
                    Ok(u) => v.visit_u64(u),
                    Err(_) => v.visit_i128(i),
                },
                None if b.len() == 17 && b[16] == 0 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&b[..16]);
                    v.visit_u128(u128::from_le_bytes(a))
                }
                None => Err(ValueError("int too large for any Rust integer type".into())),
            },
            Value::Float(f) => v.visit_f64(f),
            Value::Str(s) => v.visit_string(s),
            Value::Bytes(b) => v.visit_byte_buf(b),
            Value::Tuple(x) | Value::List(x) | Value::Set(x) | Value::FrozenSet(x) => {
                let mut d = de::value::SeqDeserializer::new(x.into_iter());
                let out = v.visit_seq(&mut d)?;
                d.end()?;
                Ok(out)
            }
            Value::Dict(items) => {
                let mut d = de::value::MapDeserializer::new(items.into_iter());
                let out = v.visit_map(&mut d)?;
                d.end()?;
                Ok(out)
            }
            other @ (Value::Global(_) | Value::Object(_)) => Err(ValueError(format!(
                "a Python {} object has no Rust data form",
                other.type_name()
            ))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, ValueError> {
        match self {
            Value::None => v.visit_none(),
            other => v.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, ValueError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Str(s) => v.visit_enum(s.into_deserializer()),
            Value::Dict(mut items) if items.len() == 1 => {
                let (k, x) = items.pop().expect("one item");
                v.visit_enum(EnumAccess {
                    variant: k,
                    payload: x,
                })
            }
            other => Err(ValueError(format!(
                "expected an enum, got a {}",
                other.type_name()
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct EnumAccess {
    variant: Value,
    payload: Value,
}

impl<'de> de::EnumAccess<'de> for EnumAccess {
    type Error = ValueError;
    type Variant = Value;
    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Value), ValueError> {
        Ok((seed.deserialize(self.variant)?, self.payload))
    }
}

impl<'de> de::VariantAccess<'de> for Value {
    type Error = ValueError;
    fn unit_variant(self) -> Result<(), ValueError> {
        Ok(())
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        s: S,
    ) -> Result<S::Value, ValueError> {
        s.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_any(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_any(self, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn rust_values_round_trip() {
        let m: BTreeMap<String, Vec<(i32, Option<f64>)>> =
            [("a".to_string(), vec![(1, Some(2.5)), (-3, None)])]
                .into_iter()
                .collect();
        let v = to_value(&m).unwrap();
        assert_eq!(
            from_value::<BTreeMap<String, Vec<(i32, Option<f64>)>>>(v).unwrap(),
            m
        );
        assert_eq!(
            to_value(&u64::MAX).unwrap(),
            Value::BigInt(vec![0xff; 8].into_iter().chain([0]).collect())
        );
        assert_eq!(
            from_value::<u64>(to_value(&u64::MAX).unwrap()).unwrap(),
            u64::MAX
        );
        assert!(from_value::<u8>(Value::Int(300)).is_err());
    }
}
