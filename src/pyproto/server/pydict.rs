//! An insertion-ordered dict of Python [`Value`]s with hashed lookup, under
//! Python's key equality (`1 == 1.0 == True` are one key).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::pyproto::pickle::Value;
use crate::pyproto::pyops::{check_hashable, eq};

/// A `dict`: entries in insertion order (with holes where keys were
/// removed, compacted when they outnumber the live ones), and an index
/// from a key's hash to the entries that have it.
#[derive(Debug, Default, Clone)]
pub struct PyDict {
    entries: Vec<Option<(Value, Value)>>,
    index: HashMap<u64, Vec<usize>>,
    live: usize,
}

/// 2^63: floats at or beyond it (in magnitude) can only equal big ints.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

fn hash_into(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::None => 0u8.hash(h),
        Value::Bool(b) => (1u8, i64::from(*b)).hash(h),
        Value::Int(i) => (1u8, *i).hash(h),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < TWO_63 {
                // Equal to the int of the same value: hash as that int.
                (1u8, *f as i64).hash(h)
            } else if f.is_finite() && f.fract() == 0.0 {
                2u8.hash(h)
            } else {
                (3u8, f.to_bits()).hash(h)
            }
        }
        // Every big int is beyond i64; it can equal only big floats or
        // other big ints: one bucket for all is correct (eq decides).
        Value::BigInt(_) => 2u8.hash(h),
        Value::Str(s) => (4u8, s).hash(h),
        Value::Bytes(b) => (5u8, b).hash(h),
        Value::Tuple(items) => {
            (6u8, items.len()).hash(h);
            for x in items {
                hash_into(x, h);
            }
        }
        Value::FrozenSet(items) | Value::Set(items) => {
            // Order-independent: the same set in any order hashes alike.
            let mut acc = 0u64;
            for x in items {
                let mut s = std::collections::hash_map::DefaultHasher::new();
                hash_into(x, &mut s);
                acc = acc.wrapping_add(s.finish());
            }
            (7u8, acc).hash(h)
        }
        Value::Global(g) => (8u8, &g.module, &g.name).hash(h),
        Value::Object(o) => (9u8, &o.class.module, &o.class.name).hash(h),
        // Unhashable; never a key (check_hashable refuses them first).
        Value::List(_) | Value::Dict(_) => 10u8.hash(h),
    }
}

fn hash_of(v: &Value) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_into(v, &mut h);
    h.finish()
}

impl PyDict {
    /// An empty dict.
    pub fn new() -> PyDict {
        PyDict::default()
    }

    fn find(&self, k: &Value, hash: u64) -> Option<usize> {
        self.index
            .get(&hash)?
            .iter()
            .copied()
            .find(|&i| self.entries[i].as_ref().is_some_and(|(x, _)| eq(x, k)))
    }

    /// `d[k]`.
    pub fn get(&self, k: &Value) -> Option<&Value> {
        let i = self.find(k, hash_of(k))?;
        self.entries[i].as_ref().map(|(_, v)| v)
    }

    /// `d[k] = v`; `Err` with Python's `TypeError` text for an unhashable key.
    pub fn set(&mut self, k: Value, v: Value) -> Result<(), String> {
        check_hashable(&k)?;
        let hash = hash_of(&k);
        match self.find(&k, hash) {
            Some(i) => {
                if let Some(e) = self.entries[i].as_mut() {
                    e.1 = v;
                }
            }
            None => {
                self.entries.push(Some((k, v)));
                self.index
                    .entry(hash)
                    .or_default()
                    .push(self.entries.len() - 1);
                self.live += 1;
            }
        }
        Ok(())
    }

    /// Removes `k`; its entry if it was there.
    pub fn remove(&mut self, k: &Value) -> Option<(Value, Value)> {
        let hash = hash_of(k);
        let i = self.find(k, hash)?;
        self.take(i, hash)
    }

    fn take(&mut self, i: usize, hash: u64) -> Option<(Value, Value)> {
        let e = self.entries[i].take()?;
        if let Some(bucket) = self.index.get_mut(&hash) {
            bucket.retain(|&j| j != i);
            if bucket.is_empty() {
                self.index.remove(&hash);
            }
        }
        self.live -= 1;
        if self.entries.len() > 32 && self.live < self.entries.len() / 2 {
            self.compact();
        }
        Some(e)
    }

    /// Removes and returns the last entry (`popitem`).
    pub fn pop_last(&mut self) -> Option<(Value, Value)> {
        let i = self.entries.iter().rposition(Option::is_some)?;
        let hash = hash_of(&self.entries[i].as_ref()?.0);
        let e = self.take(i, hash);
        // Trailing holes are dropped at once.
        while matches!(self.entries.last(), Some(None)) {
            self.entries.pop();
        }
        e
    }

    fn compact(&mut self) {
        let entries: Vec<(Value, Value)> = self.entries.drain(..).flatten().collect();
        self.index.clear();
        self.live = 0;
        for (k, v) in entries {
            let hash = hash_of(&k);
            self.entries.push(Some((k, v)));
            self.index
                .entry(hash)
                .or_default()
                .push(self.entries.len() - 1);
            self.live += 1;
        }
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
        self.live = 0;
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &(Value, Value)> {
        self.entries.iter().flatten()
    }

    /// A copy as a [`Value::Dict`].
    pub fn to_value(&self) -> Value {
        Value::Dict(self.iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_equal_keys_are_one_key() {
        let mut d = PyDict::new();
        d.set(Value::Int(1), Value::str("int")).unwrap();
        d.set(Value::Float(1.0), Value::str("float")).unwrap();
        d.set(Value::Bool(true), Value::str("bool")).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d.get(&Value::Int(1)), Some(&Value::str("bool")));
        let big = Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        d.set(big.clone(), Value::None).unwrap();
        assert_eq!(d.get(&Value::Float(2f64.powi(72))), Some(&Value::None));
        assert!(d.set(Value::List(vec![]), Value::None).is_err());
    }

    #[test]
    fn order_survives_removals_and_compaction() {
        let mut d = PyDict::new();
        for i in 0..100 {
            d.set(Value::Int(i), Value::Int(i)).unwrap();
        }
        for i in (0..100).filter(|i| i % 3 != 0) {
            assert!(d.remove(&Value::Int(i)).is_some());
        }
        let keys: Vec<i64> = d.iter().map(|(k, _)| k.as_i64().unwrap()).collect();
        assert_eq!(keys, (0..100).filter(|i| i % 3 == 0).collect::<Vec<_>>());
        assert_eq!(d.pop_last(), Some((Value::Int(99), Value::Int(99))));
        assert_eq!(d.get(&Value::Int(3)), Some(&Value::Int(3)));
        assert_eq!(d.len(), 33);
    }
}
