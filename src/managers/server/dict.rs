//! The server's dicts: insertion order kept, as in Python.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::managers::datum::Datum;
use crate::managers::protocol::{DictOp, RemoteError, Reply};

use super::wait::{err, ok, CallResult};

/// A dict that remembers insertion order, as Python's does, with ordered
/// keys for lookup.
#[derive(Default)]
pub(crate) struct OrderedDict {
    index: BTreeMap<Datum, u64>,
    entries: BTreeMap<u64, (Datum, Datum)>,
    next: u64,
}

impl OrderedDict {
    pub(super) fn get(&self, k: &Datum) -> Option<&Datum> {
        self.index.get(k).map(|seq| &self.entries[seq].1)
    }

    pub(super) fn insert(&mut self, k: Datum, v: Datum) {
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
        self.entries.remove(&seq).map(|(_, v)| v)
    }

    pub(super) fn pop_last(&mut self) -> Option<(Datum, Datum)> {
        let (_, (k, v)) = self.entries.pop_last()?;
        self.index.remove(&k);
        Some((k, v))
    }

    /// The ids of the proxies stored as keys or values.
    pub(super) fn refs(&self, out: &mut Vec<u64>) {
        for (k, v) in self.entries.values() {
            k.refs(out);
            v.refs(out);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn pairs(&self) -> Vec<(Datum, Datum)> {
        self.entries.values().cloned().collect()
    }
}

fn key_error(k: &Datum) -> RemoteError {
    RemoteError::KeyNotFound(k.to_string())
}

pub(super) fn dict_op(d: &mut OrderedDict, op: DictOp) -> CallResult {
    match op {
        DictOp::Get(k) => match d.get(&k) {
            Some(v) => ok(v.copy_for_reply()),
            None => err(key_error(&k)),
        },
        DictOp::GetOpt(k) => Ok(Ok(Reply::Maybe(d.get(&k).map(Datum::copy_for_reply)))),
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
        DictOp::Values => ok(d.entries.values().map(|e| e.1.clone()).collect::<Vec<_>>()),
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
