//! A pickle subset: the values CPython's manager protocol carries.
//!
//! [`decode`] reads what CPython 3.x's `ForkingPickler.dumps` writes
//! (protocol 4 with `FRAME`, `MEMOIZE` and `STACK_GLOBAL`, and the older
//! binary opcodes of protocols 2, 3 and 5); [`encode`] writes protocol 4
//! without frames or memo, which every Python 3 reads.
//!
//! # Why a hand-written codec
//! `serde-pickle` (1.2.0, read for this choice) maps pickles onto serde
//! data and drops what this protocol is made of besides data: its decoder
//! replaces `NEWOBJ`'s class by a stand-in, turns every global it does not
//! know into an anonymous `Global::Other` and a `REDUCE` of one into a bare
//! tuple of its arguments (so `queue.Empty()` and `KeyError('k')` become
//! `()` and `('k',)`, and a `Token` its state tuple), and its encoder cannot
//! write a global, `REDUCE` or `NEWOBJ` at all. A `Token`, every exception
//! of an `'#ERROR'` reply and every proxy passed as an argument
//! (`RebuildProxy`) need exactly those, both ways. This codec keeps them as
//! [`Value::Object`]/[`Value::Global`] and is about 1,100 lines with tests;
//! [`value_serde`](super::value_serde) gives the serde mapping on top.
//!
//! # Hostile input
//! The decoder trusts nothing in the bytes: a length is checked against the
//! bytes that remain before anything is allocated for it, memo indices go in
//! a map (a `LONG_BINPUT 4000000000` allocates one entry, not four
//! billion), and a pickle that refers to one object many times through the
//! memo (a "billion laughs" of `BINGET`s) or to itself is refused when it is
//! turned into a tree: the tree may hold at most [`MAX_NODES_PER_BYTE`] nodes
//! per input byte and nest at most [`MAX_DEPTH`] levels deep. Nothing is ever
//! executed: a global is only a name.

use std::fmt;

/// Nesting limit of a decoded or encoded value.
pub const MAX_DEPTH: usize = 200;
/// A decoded value may hold at most this many nodes per byte of pickle
/// (shared references through the memo are copied; this bounds the copies).
pub const MAX_NODES_PER_BYTE: usize = 4;
/// [`decode`]'s limit on the objects one pickle may create (and on its
/// stack): about 2 million, so that a hostile pickle of one-byte opcodes
/// costs at most a few hundred MB however large its frame, while a list of
/// a million items still decodes. [`decode_with_limit`] sets another.
pub const DEFAULT_MAX_NODES: usize = 1 << 21;

/// A Python value, as the manager protocol carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits an `i64`.
    Int(i64),
    /// An `int` that does not fit an `i64`: its two's complement
    /// little-endian bytes, as short as possible (pickle's `LONG1` form).
    BigInt(Vec<u8>),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes` (and `bytearray`, read as bytes).
    Bytes(Vec<u8>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `list`.
    List(Vec<Value>),
    /// A `dict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A `set`.
    Set(Vec<Value>),
    /// A `frozenset`.
    FrozenSet(Vec<Value>),
    /// A global: a class or function named by module and name.
    Global(Global),
    /// An instance built by calling a global (`REDUCE`) or by its
    /// `__new__` (`NEWOBJ`), then given a state (`BUILD`): a `Token`, an
    /// exception, a proxy being rebuilt.
    Object(Box<Object>),
}

/// A module-qualified name, such as `multiprocessing.managers.Token`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Global {
    /// The module, such as `builtins`.
    pub module: String,
    /// The name in it, such as `KeyError`.
    pub name: String,
}

impl Global {
    /// `module.name`.
    pub fn new(module: &str, name: &str) -> Global {
        Global {
            module: module.to_owned(),
            name: name.to_owned(),
        }
    }
    /// Whether this is `module.name`.
    pub fn is(&self, module: &str, name: &str) -> bool {
        self.module == module && self.name == name
    }
}

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// How an [`Object`] was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `callable(*args)` (pickle `REDUCE`).
    Reduce,
    /// `cls.__new__(cls, *args)` (pickle `NEWOBJ`).
    NewObj,
}

/// An instance: `class(*args)` or `class.__new__(class, *args)`, then
/// `__setstate__(state)` when `state` is there.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The class or callable.
    pub class: Global,
    /// `REDUCE` or `NEWOBJ`.
    pub build: Build,
    /// The positional arguments.
    pub args: Vec<Value>,
    /// The state given by `BUILD`, if any.
    pub state: Option<Value>,
    /// Items appended to it (`APPENDS`: a `deque`, a list subclass).
    pub items: Vec<Value>,
    /// Items set on it (`SETITEMS`: an `OrderedDict`, a `defaultdict`).
    pub dict_items: Vec<(Value, Value)>,
}

impl Object {
    /// `class(*args)` or `class.__new__(class, *args)`, with no state or
    /// items.
    pub fn new(class: Global, build: Build, args: Vec<Value>) -> Object {
        Object {
            class,
            build,
            args,
            state: None,
            items: Vec::new(),
            dict_items: Vec::new(),
        }
    }
}

impl Value {
    /// A `str` value.
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The integer, if this is an `int` that fits `i64` (a `bool` counts,
    /// as in Python).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
    /// The items, if this is a tuple or a list.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(v) | Value::List(v) => Some(v),
            _ => None,
        }
    }
    /// An exception instance `module.name(*args)`, as CPython pickles one.
    pub fn exception(module: &str, name: &str, args: Vec<Value>) -> Value {
        Value::Object(Box::new(Object::new(
            Global::new(module, name),
            Build::Reduce,
            args,
        )))
    }
    /// Python's name of this value's type, for messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::None => "NoneType".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Set(_) => "set".into(),
            Value::FrozenSet(_) => "frozenset".into(),
            Value::Global(_) => "type".into(),
            Value::Object(o) => o.class.name.clone(),
        }
    }
}

/// Why a pickle could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError(pub String);

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PickleError {}

fn err<T>(msg: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError(msg.into()))
}

// ---------------------------------------------------------------- decoding

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::{decode, decode_with_limit};
pub use encode::encode;
