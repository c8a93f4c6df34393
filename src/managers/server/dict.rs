//! The server's dicts: insertion order kept, as in Python.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::managers::datum::Datum;
use crate::managers::protocol::{DictOp, RemoteError, Reply, BULK_MIN};

use super::wait::{err, ok, CallResult};

/// A dict's value as the server stores it. A large string, byte string
/// or packed run (at least [`BULK_MIN`] bytes) is shared: a get hands the
/// value to the reply without copying it, and the reply is written after
/// the dict's lock is released. A value is immutable once stored (a set
/// replaces it), so sharing it changes nothing a client can see. Other
/// values are stored inline; either way a value takes one `Datum`'s size
/// in the dict.
enum Val {
    Inline(Datum),
    Shared(Arc<Datum>),
}

impl Val {
    fn new(d: Datum) -> Val {
        if d.bulk().is_some_and(|(_, tail)| tail.len() >= BULK_MIN) {
            Val::Shared(Arc::new(d))
        } else {
            Val::Inline(d)
        }
    }

    fn get(&self) -> &Datum {
        match self {
            Val::Inline(d) => d,
            Val::Shared(d) => d,
        }
    }

    /// The value, taken out of the dict: moved if no reply still holds it.
    fn into_datum(self) -> Datum {
        match self {
            Val::Inline(d) => d,
            Val::Shared(d) => Arc::try_unwrap(d).unwrap_or_else(|d| (*d).clone()),
        }
    }

    /// The reply to a get of this value: `Reply::Datum(value)`, or
    /// `Reply::Maybe(Some(value))` when `maybe`. A shared value is handed
    /// to the reply's writer as it is ([`super::share_reply_value`]),
    /// behind the reply's skeleton.
    fn reply(&self, maybe: bool) -> Reply {
        let d = match self {
            Val::Inline(d) => d.clone(),
            Val::Shared(d) => {
                super::share_reply_value(super::SharedValue::Datum(Arc::clone(d)));
                Datum::Bytes(Vec::new())
            }
        };
        if maybe {
            Reply::Maybe(Some(d))
        } else {
            Reply::Datum(d)
        }
    }
}

/// A dict that remembers insertion order, as Python's does, with ordered
/// keys for lookup.
#[derive(Default)]
pub(crate) struct OrderedDict {
    index: BTreeMap<Datum, u64>,
    entries: BTreeMap<u64, (Datum, Val)>,
    next: u64,
}

impl OrderedDict {
    pub(super) fn get(&self, k: &Datum) -> Option<&Datum> {
        self.get_val(k).map(Val::get)
    }

    fn get_val(&self, k: &Datum) -> Option<&Val> {
        self.index.get(k).map(|seq| &self.entries[seq].1)
    }

    pub(super) fn insert(&mut self, k: Datum, v: Datum) {
        let v = Val::new(v);
        match self.index.get(&k) {
            // An existing key keeps its place, as in Python.
            Some(seq) => {
                self.entries
                    .get_mut(seq)
                    .expect("index and entries agree")
                    .1 = v
            }
            None => {
                let seq = self.next;
                self.next += 1;
                self.index.insert(k.clone(), seq);
                self.entries.insert(seq, (k, v));
            }
        }
    }

    pub(super) fn remove(&mut self, k: &Datum) -> Option<Datum> {
        let seq = self.index.remove(k)?;
        self.entries.remove(&seq).map(|(_, v)| v.into_datum())
    }

    pub(super) fn pop_last(&mut self) -> Option<(Datum, Datum)> {
        let (_, (k, v)) = self.entries.pop_last()?;
        self.index.remove(&k);
        Some((k, v.into_datum()))
    }

    /// The ids of the proxies stored as keys or values.
    pub(super) fn refs(&self, out: &mut Vec<u64>) {
        for (k, v) in self.entries.values() {
            k.refs(out);
            v.get().refs(out);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn pairs(&self) -> Vec<(Datum, Datum)> {
        self.entries
            .values()
            .map(|(k, v)| (k.clone(), v.get().clone()))
            .collect()
    }
}

fn key_error(k: &Datum) -> RemoteError {
    RemoteError::KeyNotFound(k.to_string())
}

pub(super) fn dict_op(d: &mut OrderedDict, op: DictOp) -> CallResult {
    match op {
        DictOp::Get(k) => match d.get_val(&k) {
            Some(v) => Ok(Ok(v.reply(false))),
            None => err(key_error(&k)),
        },
        DictOp::GetOpt(k) => Ok(Ok(match d.get_val(&k) {
            Some(v) => v.reply(true),
            None => Reply::Maybe(None),
        })),
        DictOp::Set(k, v) => {
            d.insert(k, v);
            ok(())
        }
        DictOp::Del(k) => match d.remove(&k) {
            Some(_) => ok(()),
            None => err(key_error(&k)),
        },
        DictOp::Contains(k) => ok(d.get(&k).is_some()),
        DictOp::Len => ok(d.len()),
        DictOp::Clear => {
            *d = OrderedDict::default();
            ok(())
        }
        DictOp::Items => Ok(Ok(Reply::Pairs(d.pairs()))),
        DictOp::Keys => ok(d.entries.values().map(|e| e.0.clone()).collect::<Vec<_>>()),
        DictOp::Values => ok(d
            .entries
            .values()
            .map(|e| e.1.get().clone())
            .collect::<Vec<_>>()),
        DictOp::Pop(k) => match d.remove(&k) {
            Some(v) => ok(v),
            None => err(key_error(&k)),
        },
        DictOp::PopOpt(k) => Ok(Ok(Reply::Maybe(d.remove(&k)))),
        DictOp::PopItem => match d.pop_last() {
            Some((k, v)) => Ok(Ok(Reply::Pairs(vec![(k, v)]))),
            None => err(RemoteError::KeyNotFound(
                "popitem(): dictionary is empty".into(),
            )),
        },
        DictOp::SetDefault(k, v) => match d.get(&k) {
            Some(old) => ok(old.clone()),
            None => {
                d.insert(k, v.clone());
                ok(v)
            }
        },
        DictOp::IterNext { after, len } => {
            // Python's dict iterator: a change of size is an error.
            if d.len() as u64 != len {
                return err(RemoteError::ChangedDuringIteration("dictionary".into()));
            }
            let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
            let next = d.entries.range((lower, Bound::Unbounded)).next();
            Ok(Ok(Reply::Pairs(
                next.map(|(seq, (k, _))| (Datum::Int((*seq).into()), k.clone()))
                    .into_iter()
                    .collect(),
            )))
        }
        DictOp::Update(pairs) => {
            for (k, v) in pairs {
                d.insert(k, v);
            }
            ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<Datum> {
        v.iter().map(|&i| Datum::Int(i.into())).collect()
    }

    /// Sharing large values costs small dicts nothing: a stored value
    /// takes one `Datum`'s size, shared or not (`manager.object_bytes`).
    #[test]
    fn a_stored_value_takes_one_datums_size() {
        assert_eq!(std::mem::size_of::<Val>(), std::mem::size_of::<Datum>());
    }

    /// A get of a large value replies its skeleton and hands the value
    /// itself to the reply's writer, which sends exactly the reply a copy
    /// would have made; small values, pops, items and values are plain.
    #[test]
    fn a_large_value_is_shared_with_its_reply_not_copied() {
        let big = Datum::Bytes((0..BULK_MIN + 5).map(|i| (i % 13) as u8).collect());
        let small = Datum::Bytes(vec![1, 2, 3]);
        let mut d = OrderedDict::default();
        d.insert(Datum::Str("big".into()), big.clone());
        d.insert(Datum::Str("small".into()), small.clone());
        assert!(matches!(
            d.get_val(&Datum::Str("big".into())),
            Some(Val::Shared(_))
        ));
        assert!(matches!(
            d.get_val(&Datum::Str("small".into())),
            Some(Val::Inline(_))
        ));

        for (maybe, op) in [
            (true, DictOp::GetOpt(Datum::Str("big".into()))),
            (false, DictOp::Get(Datum::Str("big".into()))),
        ] {
            let r = dict_op(&mut d, op).unwrap();
            let skeleton = Datum::Bytes(Vec::new());
            let want_skeleton = if maybe {
                Reply::Maybe(Some(skeleton))
            } else {
                Reply::Datum(skeleton)
            };
            assert_eq!(r, Ok(want_skeleton));
            let shared = match super::super::take_shared_value() {
                Some(super::super::SharedValue::Datum(v)) => v,
                _ => panic!("the value was shared"),
            };
            assert!(std::ptr::eq(
                &*shared,
                d.get(&Datum::Str("big".into())).unwrap()
            ));
            // On the wire: the reply with the whole value.
            let (kind, tail) = shared.bulk().unwrap();
            let parts = crate::managers::protocol::parts_with(&r, kind, tail).unwrap();
            let full = if maybe {
                Reply::Maybe(Some(big.clone()))
            } else {
                Reply::Datum(big.clone())
            };
            let whole = postcard::to_stdvec(&Ok::<Reply, RemoteError>(full)).unwrap();
            assert_eq!([&parts.head[..], parts.tail].concat(), whole);
        }
        // A small value is replied as it is, nothing shared.
        let r = dict_op(&mut d, DictOp::GetOpt(Datum::Str("small".into()))).unwrap();
        assert_eq!(r, Ok(Reply::Maybe(Some(small.clone()))));
        assert!(super::super::take_shared_value().is_none());
        // Items, values and pops give the values themselves.
        assert_eq!(
            dict_op(&mut d, DictOp::Values).unwrap(),
            Ok(Reply::Seq(vec![big.clone(), small.clone()]))
        );
        assert_eq!(d.pairs()[0].1, big);
        // A pop while a reply still holds the value takes a copy of it.
        let held = match d.get_val(&Datum::Str("big".into())) {
            Some(Val::Shared(v)) => Arc::clone(v),
            _ => unreachable!(),
        };
        assert_eq!(
            dict_op(&mut d, DictOp::Pop(Datum::Str("big".into()))).unwrap(),
            Ok(Reply::Datum(big.clone()))
        );
        assert_eq!(*held, big);
        assert!(d.get(&Datum::Str("big".into())).is_none());
    }

    #[test]
    fn dict_keeps_insertion_order() {
        let mut d = OrderedDict::default();
        d.insert(Datum::Int(5), Datum::Unit);
        d.insert(Datum::Int(1), Datum::Unit);
        d.insert(Datum::Int(5), Datum::Bool(true));
        d.insert(Datum::Int(3), Datum::Unit);
        let keys: Vec<Datum> = d.pairs().into_iter().map(|p| p.0).collect();
        assert_eq!(keys, ints(&[5, 1, 3]));
        assert_eq!(d.pop_last().unwrap().0, Datum::Int(3));
        assert_eq!(d.get(&Datum::Int(5)), Some(&Datum::Bool(true)));
    }
}
