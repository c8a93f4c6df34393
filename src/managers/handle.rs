//! The handle every proxy holds, and the helpers that read replies.
//!
//! The handle type lives in a private module: it is `pub` there (so the
//! sealed trait of [`named`](super::named) may mention it) yet cannot be named from
//! outside the crate.

use std::fmt;
use std::sync::Arc;

use super::client::{self, Endpoint};
use super::datum::{from_datum, Datum};
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

pub(crate) fn want_pairs(r: Reply) -> Result<Vec<(Datum, Datum)>> {
    match r {
        Reply::Pairs(v) => Ok(v),
        r => Err(unexpected(&r)),
    }
}
