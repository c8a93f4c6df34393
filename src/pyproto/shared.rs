//! What both sides of a CPython-protocol connection share: the address a
//! server listens at, the stream of either family, and the `Token` that
//! names an object on the server.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::pickle::{Build, Global, Object, Value};
use crate::error::{Error, Result};

/// Where a CPython manager listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyAddress {
    /// A TCP `(host, port)`.
    Tcp(String, u16),
    /// A Unix socket path (CPython's default family on Linux).
    Unix(PathBuf),
}

impl PyAddress {
    /// The address as CPython pickles it inside a `Token`.
    pub fn to_value(&self) -> Value {
        match self {
            PyAddress::Tcp(h, p) => Value::Tuple(vec![Value::str(h), Value::Int(i64::from(*p))]),
            PyAddress::Unix(p) => Value::Str(p.to_string_lossy().into_owned()),
        }
    }
}

/// A connected stream of either family.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix.
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(b),
            Stream::Unix(s) => s.read(b),
        }
    }
}

impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(b),
            Stream::Unix(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// CPython's `multiprocessing.managers.Token`: which object, of which
/// registered type, on which server.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The registered type id (`"Queue"`, `"get_task_queue"`).
    pub typeid: String,
    /// The server's address as CPython pickles it.
    pub address: Value,
    /// The object's id on the server (a hex string on CPython).
    pub id: String,
}

impl Token {
    /// The pickled form: `Token.__new__(Token)` then
    /// `__setstate__((typeid, address, id))`.
    pub fn to_value(&self) -> Value {
        Value::Object(Box::new(Object {
            class: Global::new("multiprocessing.managers", "Token"),
            build: Build::NewObj,
            args: vec![],
            state: Some(Value::Tuple(vec![
                Value::str(&self.typeid),
                self.address.clone(),
                Value::str(&self.id),
            ])),
            items: vec![],
            dict_items: vec![],
        }))
    }

    /// Reads a pickled `Token`.
    ///
    /// # Errors
    /// [`Error::Decode`] if `v` is not one.
    pub fn from_value(v: &Value) -> Result<Token> {
        let bad = || Error::Decode(format!("expected a multiprocessing Token, got {v:?}"));
        let Value::Object(o) = v else {
            return Err(bad());
        };
        if !o.class.is("multiprocessing.managers", "Token") {
            return Err(bad());
        }
        let Some(Value::Tuple(st)) = &o.state else {
            return Err(bad());
        };
        match st.as_slice() {
            [Value::Str(t), a, Value::Str(id)] => Ok(Token {
                typeid: t.clone(),
                address: a.clone(),
                id: id.clone(),
            }),
            _ => Err(bad()),
        }
    }
}
