//! The handle every proxy holds, and the helpers that read replies.
//!
//! The handle type lives in a private module: it is `pub` there (so the
//! sealed trait of [`named`](super::named) may mention it) yet cannot be named from
//! outside the crate.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

use super::client::{self, Endpoint};
use super::datum::{from_datum, Datum, F64};
use super::protocol::{Method, ObjId, Reply, Request};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;

/// A reference to one object on one server: what every proxy holds.
///
/// Cloning and dropping it keep the process's count of live proxies, which
/// the session reports to the server (see the [module docs](super)).
pub struct Handle {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) id: ObjId,
}

impl Handle {
    pub(crate) fn call(&self, m: Method) -> Result<Reply> {
        super::named::check_destination(&self.endpoint.address)?;
        let r = client::call(&self.endpoint, &Request::Call(self.id, m));
        super::named::sent();
        r
    }

    /// A reply read as raw data (a `repr`) carried these values: give back
    /// the references the server handed to this process with the proxies
    /// inside them, which no proxy will adopt (taken over, then dropped).
    pub(crate) fn settle<'a>(&self, values: impl IntoIterator<Item = &'a Datum>) {
        let mut ids = Vec::new();
        for d in values {
            d.refs(&mut ids);
        }
        for id in ids {
            if client::adopt(&self.endpoint, id).is_ok() {
                client::decref_local(&self.endpoint, id);
            }
        }
    }

    /// How many proxies of this object live in this process.
    pub(crate) fn local_refs(&self) -> usize {
        client::local_refs(&self.endpoint, self.id)
    }
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        client::incref_local(&self.endpoint, self.id);
        Handle {
            endpoint: Arc::clone(&self.endpoint),
            id: self.id,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        client::decref_local(&self.endpoint, self.id);
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "id {} at {}", self.id, self.endpoint.address)
    }
}

pub(crate) fn unexpected(r: &Reply) -> Error {
    Error::Decode(format!("unexpected reply from the manager: {r:?}"))
}

pub(crate) fn want_unit(r: Reply) -> Result<()> {
    match r {
        Reply::Unit => Ok(()),
        r => Err(unexpected(&r)),
    }
}

pub(crate) fn want_bool(r: Reply) -> Result<bool> {
    match r {
        Reply::Bool(b) => Ok(b),
        r => Err(unexpected(&r)),
    }
}

pub(crate) fn want_size(r: Reply) -> Result<usize> {
    match r {
        Reply::Size(n) => Ok(n as usize),
        r => Err(unexpected(&r)),
    }
}

pub(crate) fn want_datum(r: Reply) -> Result<Datum> {
    match r {
        Reply::Datum(d) => Ok(d),
        r => Err(unexpected(&r)),
    }
}

pub(crate) fn want<T: DeserializeOwned>(r: Reply) -> Result<T> {
    from_datum(want_datum(r)?)
}

pub(crate) fn want_maybe<T: DeserializeOwned>(r: Reply) -> Result<Option<T>> {
    match r {
        Reply::Maybe(d) => d.map(from_datum).transpose(),
        r => Err(unexpected(&r)),
    }
}

pub(crate) fn want_seq<T: DeserializeOwned>(r: Reply) -> Result<Vec<T>> {
    match r {
        Reply::Seq(v) => v.into_iter().map(from_datum).collect(),
        // A packed run (or the empty sequence).
        Reply::Datum(d @ (Datum::Ints(_) | Datum::Floats(_) | Datum::Bytes(_) | Datum::Seq(_))) => {
            from_datum(d)
        }
        r => Err(unexpected(&r)),
    }
}

/// [`want_seq`], where a packed run that already is a `Vec<T>` moves into
/// the result as it is: `Vec<i64>` from a run of integers, `Vec<f64>` from
/// a run of floats, `Vec<u8>` from bytes. A million integers then cost
/// their read from the socket and nothing more, where serde would visit
/// each one and build a second vector.
pub(crate) fn want_vec<T: DeserializeOwned + 'static>(r: Reply) -> Result<Vec<T>> {
    match r {
        Reply::Datum(Datum::Ints(v)) => cast_vec(v).or_else(|v| from_datum(Datum::Ints(v))),
        Reply::Datum(Datum::Bytes(v)) => cast_vec(v).or_else(|v| from_datum(Datum::Bytes(v))),
        Reply::Datum(Datum::Floats(v)) if TypeId::of::<T>() == TypeId::of::<f64>() => {
            // (In place: `F64` is `f64` under a total order, and std
            // collects a mapped `Vec` into the same allocation.)
            let v: Vec<f64> = v.into_iter().map(|x| x.0).collect();
            cast_vec(v).or_else(|v| from_datum(Datum::Floats(v.into_iter().map(F64).collect())))
        }
        r => want_seq(r),
    }
}

/// `v` as a `Vec<T>` when `T` is `U`; `v` back otherwise.
fn cast_vec<T: 'static, U: 'static>(v: Vec<U>) -> std::result::Result<Vec<T>, Vec<U>> {
    let any: Box<dyn Any> = Box::new(v);
    match any.downcast::<Vec<T>>() {
        Ok(v) => Ok(*v),
        Err(any) => Err(*any.downcast::<Vec<U>>().expect("it was a Vec<U>")),
    }
}

pub(crate) fn want_pairs(r: Reply) -> Result<Vec<(Datum, Datum)>> {
    match r {
        Reply::Pairs(v) => Ok(v),
        r => Err(unexpected(&r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that is already the vector asked for moves into the result:
    /// the same allocation comes out (nothing copied, nothing visited).
    #[test]
    fn a_run_of_the_asked_type_moves_into_the_result_without_a_copy() {
        let ints: Vec<i64> = (0..1000).collect();
        let at = ints.as_ptr();
        let got: Vec<i64> = want_vec(Reply::Datum(Datum::Ints(ints))).unwrap();
        assert_eq!(got.as_ptr(), at);
        assert_eq!(got, (0..1000).collect::<Vec<i64>>());

        let bytes = vec![7u8; 1000];
        let at = bytes.as_ptr();
        let got: Vec<u8> = want_vec(Reply::Datum(Datum::Bytes(bytes))).unwrap();
        assert_eq!((got.as_ptr(), got.len()), (at, 1000));

        let floats: Vec<F64> = (0..1000).map(|i| F64(f64::from(i) / 2.0)).collect();
        let at = floats.as_ptr() as usize;
        let got: Vec<f64> = want_vec(Reply::Datum(Datum::Floats(floats))).unwrap();
        assert_eq!(got.as_ptr() as usize, at);
        assert_eq!(got[999], 499.5);
    }

    /// Any other element type reads the run as `want_seq` does: converted
    /// where serde converts, refused where it does not.
    #[test]
    fn other_element_types_read_a_run_as_want_seq_does() {
        let run = || Reply::Datum(Datum::Ints(vec![1, -2, 300]));
        let a: Vec<i32> = want_vec(run()).unwrap();
        let b: Vec<i32> = want_seq(run()).unwrap();
        assert_eq!((a.clone(), a), (b, vec![1, -2, 300]));
        assert!(matches!(
            want_vec::<u8>(run()).unwrap_err(),
            Error::Decode(_)
        ));
        assert!(matches!(
            want_vec::<String>(run()).unwrap_err(),
            Error::Decode(_)
        ));
        let f: Vec<f32> = want_vec(Reply::Datum(Datum::Floats(vec![F64(0.5)]))).unwrap();
        assert_eq!(f, [0.5]);
        let s: Vec<String> = want_vec(Reply::Seq(vec![Datum::Str("a".into())])).unwrap();
        assert_eq!(s, ["a"]);
        let e: Vec<i64> = want_vec(Reply::Datum(Datum::Seq(Vec::new()))).unwrap();
        assert!(e.is_empty());
    }
}
