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

use std::collections::HashMap;
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

/// A node of the decoder's arena: like [`Value`], with children by index so
/// that the memo can refer to a list that later opcodes still fill.
#[derive(Debug)]
enum Node {
    Leaf(Value),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Set(Vec<usize>),
    FrozenSet(Vec<usize>),
    Object {
        class: Global,
        build: Build,
        args: usize,
        state: Option<usize>,
        items: Vec<usize>,
        dict_items: Vec<(usize, usize)>,
    },
}

enum Slot {
    Mark,
    Obj(usize),
}

struct Decoder<'a> {
    max_nodes: usize,
    data: &'a [u8],
    pos: usize,
    arena: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u32, usize>,
    next_memo: u32,
}

/// Reads one pickle.
///
/// # Errors
/// [`PickleError`] for truncated input, an opcode outside the subset, a
/// malformed stack, trailing bytes after `STOP`, or a value over the
/// limits described in the module documentation.
pub fn decode(data: &[u8]) -> Result<Value, PickleError> {
    decode_with_limit(data, DEFAULT_MAX_NODES)
}

/// [`decode`] with a limit on the objects the pickle may create.
///
/// # Errors
/// As [`decode`]; also when the pickle creates more than `max_nodes`
/// objects or stack entries.
pub fn decode_with_limit(data: &[u8], max_nodes: usize) -> Result<Value, PickleError> {
    let mut d = Decoder {
        max_nodes,
        data,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
        next_memo: 0,
    };
    let root = d.run()?;
    if d.pos != data.len() {
        return err(format!("{} bytes after STOP", data.len() - d.pos));
    }
    let mut budget = data
        .len()
        .saturating_mul(MAX_NODES_PER_BYTE)
        .clamp(16, max_nodes.max(16));
    let mut path = Vec::new();
    d.build(root, 0, &mut budget, &mut path)
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => err(format!(
                "truncated: {n} bytes wanted at offset {}, {} left",
                self.pos,
                self.data.len() - self.pos
            )),
        }
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16le(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32le(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64le(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn len64(&mut self) -> Result<usize, PickleError> {
        let n = self.u64le()?;
        usize::try_from(n).or_else(|_| err("length does not fit in memory"))
    }
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return err("truncated: no end of line");
        };
        let s = std::str::from_utf8(&rest[..nl]).or_else(|_| err("line is not UTF-8"))?;
        let s = s.to_owned();
        self.pos += nl + 1;
        Ok(s)
    }
    fn push_node(&mut self, n: Node) {
        self.arena.push(n);
        self.stack.push(Slot::Obj(self.arena.len() - 1));
    }
    fn push(&mut self, v: Value) {
        self.push_node(Node::Leaf(v));
    }
    fn pop(&mut self) -> Result<usize, PickleError> {
        match self.stack.pop() {
            Some(Slot::Obj(i)) => Ok(i),
            Some(Slot::Mark) => err("unexpected MARK on the stack"),
            None => err("stack underflow"),
        }
    }
    fn top(&self) -> Result<usize, PickleError> {
        match self.stack.last() {
            Some(Slot::Obj(i)) => Ok(*i),
            _ => err("stack underflow"),
        }
    }
    /// Pops up to the last MARK; returns the items in order.
    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let Some(m) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else {
            return err("no MARK on the stack");
        };
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .map(|s| match s {
                Slot::Obj(i) => i,
                Slot::Mark => unreachable!("rposition found the last mark"),
            })
            .collect())
    }
    fn string(&mut self, n: usize) -> Result<Value, PickleError> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Value::Str(s.to_owned())),
            Err(_) => err("string is not UTF-8"),
        }
    }
    fn bytes(&mut self, n: usize) -> Result<Value, PickleError> {
        Ok(Value::Bytes(self.take(n)?.to_vec()))
    }
    fn memo_put(&mut self, idx: u32) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(idx, top);
        Ok(())
    }
    fn memo_get(&mut self, idx: u32) -> Result<(), PickleError> {
        match self.memo.get(&idx) {
            Some(&i) => {
                self.stack.push(Slot::Obj(i));
                Ok(())
            }
            None => err(format!("memo {idx} was never stored")),
        }
    }
    fn leaf_str(&self, i: usize) -> Result<String, PickleError> {
        match &self.arena[i] {
            Node::Leaf(Value::Str(s)) => Ok(s.clone()),
            _ => err("STACK_GLOBAL wants two strings"),
        }
    }
    fn global_of(&self, i: usize) -> Result<Global, PickleError> {
        match &self.arena[i] {
            Node::Leaf(Value::Global(g)) => Ok(g.clone()),
            _ => err("REDUCE/NEWOBJ of something that is not a global"),
        }
    }
    fn extend_list(&mut self, list: usize, items: Vec<usize>) -> Result<(), PickleError> {
        match &mut self.arena[list] {
            Node::List(v) | Node::Object { items: v, .. } => {
                v.extend(items);
                Ok(())
            }
            _ => err("APPEND to something that is not a list"),
        }
    }
    fn set_items(&mut self, dict: usize, items: Vec<usize>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return err("SETITEMS with an odd number of items");
        }
        match &mut self.arena[dict] {
            Node::Dict(v) | Node::Object { dict_items: v, .. } => {
                v.extend(items.chunks(2).map(|c| (c[0], c[1])));
                Ok(())
            }
            _ => err("SETITEM on something that is not a dict"),
        }
    }

    fn run(&mut self) -> Result<usize, PickleError> {
        loop {
            // Each opcode adds at most one object and one stack entry.
            if self.arena.len() > self.max_nodes || self.stack.len() > self.max_nodes {
                return err(format!(
                    "pickle creates more than {} objects (the decoder's limit)",
                    self.max_nodes
                ));
            }
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let p = self.u8()?;
                    if p > 5 {
                        return err(format!("pickle protocol {p} is newer than 5"));
                    }
                }
                0x95 => {
                    // FRAME: a hint only; the bytes follow inline.
                    self.u64le()?;
                }
                b'.' => return self.pop(),
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32le()? as i32;
                    self.push(Value::Int(i64::from(v)))
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)))
                }
                b'M' => {
                    let v = self.u16le()?;
                    self.push(Value::Int(i64::from(v)))
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?.to_vec();
                    self.push(int_from_le(b))
                }
                0x8b => {
                    let n = self.u32le()? as i32;
                    let n = usize::try_from(n).or_else(|_| err("negative LONG4 length"))?;
                    let b = self.take(n)?.to_vec();
                    self.push(int_from_le(b))
                }
                b'I' => {
                    // INT (protocol 0): also True/False as I01/I00.
                    let l = self.line()?;
                    let v = match l.as_str() {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        s => Value::Int(s.parse().or_else(|_| err("bad INT"))?),
                    };
                    self.push(v)
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Value::Float(f64::from_be_bytes(a)))
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let v = self.string(n)?;
                    self.push(v)
                }
                b'X' => {
                    let n = self.u32le()? as usize;
                    let v = self.string(n)?;
                    self.push(v)
                }
                0x8d => {
                    let n = self.len64()?;
                    let v = self.string(n)?;
                    self.push(v)
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let v = self.bytes(n)?;
                    self.push(v)
                }
                b'B' => {
                    let n = self.u32le()? as usize;
                    let v = self.bytes(n)?;
                    self.push(v)
                }
                0x8e | 0x96 => {
                    // BINBYTES8, BYTEARRAY8
                    let n = self.len64()?;
                    let v = self.bytes(n)?;
                    self.push(v)
                }
                b')' => self.push_node(Node::Tuple(Vec::new())),
                0x85 => {
                    let a = self.pop()?;
                    self.push_node(Node::Tuple(vec![a]))
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push_node(Node::Tuple(vec![a, b]))
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push_node(Node::Tuple(vec![a, b, c]))
                }
                b'(' => self.stack.push(Slot::Mark),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items))
                }
                b']' => self.push_node(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items))
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.extend_list(list, vec![item])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.extend_list(list, items)?
                }
                b'}' => self.push_node(Node::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Dict(Vec::new()));
                    let d = self.top()?;
                    self.set_items(d, items)?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, items)?
                }
                0x8f => self.push_node(Node::Set(Vec::new())),
                0x90 => {
                    let items = self.pop_mark()?;
                    let s = self.top()?;
                    match &mut self.arena[s] {
                        Node::Set(v) => v.extend(items),
                        _ => return err("ADDITEMS to something that is not a set"),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::FrozenSet(items))
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(Global { module, name }))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let g = Global {
                        module: self.leaf_str(module)?,
                        name: self.leaf_str(name)?,
                    };
                    self.push(Value::Global(g))
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    if !matches!(self.arena[args], Node::Tuple(_)) {
                        return err("REDUCE/NEWOBJ arguments are not a tuple");
                    }
                    let class = self.global_of(class)?;
                    let build = if op == b'R' {
                        Build::Reduce
                    } else {
                        Build::NewObj
                    };
                    self.push_node(Node::Object {
                        class,
                        build,
                        args,
                        state: None,
                        items: Vec::new(),
                        dict_items: Vec::new(),
                    })
                }
                0x92 => {
                    // NEWOBJ_EX: cls, args, kwargs; keyword arguments refused.
                    let kw = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    if !matches!(&self.arena[kw], Node::Dict(v) if v.is_empty()) {
                        return err("NEWOBJ_EX with keyword arguments is not supported");
                    }
                    if !matches!(self.arena[args], Node::Tuple(_)) {
                        return err("NEWOBJ_EX arguments are not a tuple");
                    }
                    let class = self.global_of(class)?;
                    self.push_node(Node::Object {
                        class,
                        build: Build::NewObj,
                        args,
                        state: None,
                        items: Vec::new(),
                        dict_items: Vec::new(),
                    })
                }
                b'b' => {
                    let st = self.pop()?;
                    let o = self.top()?;
                    match &mut self.arena[o] {
                        Node::Object { state, .. } if state.is_none() => *state = Some(st),
                        _ => return err("BUILD on something that is not a fresh object"),
                    }
                }
                0x94 => {
                    let idx = self.next_memo;
                    self.next_memo = idx
                        .checked_add(1)
                        .ok_or_else(|| PickleError("memo full".into()))?;
                    self.memo_put(idx)?
                }
                b'q' => {
                    let idx = u32::from(self.u8()?);
                    self.memo_put(idx)?
                }
                b'r' => {
                    let idx = self.u32le()?;
                    self.memo_put(idx)?
                }
                b'h' => {
                    let idx = u32::from(self.u8()?);
                    self.memo_get(idx)?
                }
                b'j' => {
                    let idx = self.u32le()?;
                    self.memo_get(idx)?
                }
                b'0' => {
                    self.stack
                        .pop()
                        .ok_or_else(|| PickleError("stack underflow".into()))?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(Slot::Obj(t))
                }
                other => {
                    return err(format!(
                        "pickle opcode 0x{other:02x} at offset {} is outside the supported subset",
                        self.pos - 1
                    ))
                }
            }
        }
    }

    fn build(
        &self,
        i: usize,
        depth: usize,
        budget: &mut usize,
        path: &mut Vec<usize>,
    ) -> Result<Value, PickleError> {
        if depth > MAX_DEPTH {
            return err(format!("value nested deeper than {MAX_DEPTH} levels"));
        }
        *budget = budget.checked_sub(1).ok_or_else(|| {
            PickleError("value too large for its pickle (shared references)".into())
        })?;
        if path.contains(&i) {
            return err("recursive value (an object that contains itself) is not supported");
        }
        path.push(i);
        let mut seq = |v: &[usize], budget: &mut usize| -> Result<Vec<Value>, PickleError> {
            v.iter()
                .map(|&c| self.build(c, depth + 1, budget, path))
                .collect()
        };
        let out = match &self.arena[i] {
            Node::Leaf(v) => v.clone(),
            Node::Tuple(v) => Value::Tuple(seq(v, budget)?),
            Node::List(v) => Value::List(seq(v, budget)?),
            Node::Set(v) => Value::Set(seq(v, budget)?),
            Node::FrozenSet(v) => Value::FrozenSet(seq(v, budget)?),
            Node::Dict(v) => {
                let mut out = Vec::with_capacity(v.len());
                for &(k, x) in v {
                    let k = self.build(k, depth + 1, budget, path)?;
                    let x = self.build(x, depth + 1, budget, path)?;
                    out.push((k, x));
                }
                Value::Dict(out)
            }
            Node::Object {
                class,
                build,
                args,
                state,
                items,
                dict_items,
            } => {
                let args = match self.build(*args, depth + 1, budget, path)? {
                    Value::Tuple(a) => a,
                    _ => return err("object arguments are not a tuple"),
                };
                let state = match state {
                    Some(s) => Some(self.build(*s, depth + 1, budget, path)?),
                    None => None,
                };
                let items = items
                    .iter()
                    .map(|&c| self.build(c, depth + 1, budget, path))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut pairs = Vec::with_capacity(dict_items.len());
                for &(k, x) in dict_items {
                    let k = self.build(k, depth + 1, budget, path)?;
                    let x = self.build(x, depth + 1, budget, path)?;
                    pairs.push((k, x));
                }
                match protocol2_bytes(class, *build, &args, &state) {
                    Some(b) if items.is_empty() && pairs.is_empty() => b,
                    _ => Value::Object(Box::new(Object {
                        class: class.clone(),
                        build: *build,
                        args,
                        state,
                        items,
                        dict_items: pairs,
                    })),
                }
            }
        };
        path.pop();
        Ok(out)
    }
}

/// Protocol 2 has no bytes opcode: CPython writes `bytes` as
/// `_codecs.encode(text, 'latin1')` (and `b''` as `builtins.bytes()`).
fn protocol2_bytes(
    class: &Global,
    build: Build,
    args: &[Value],
    state: &Option<Value>,
) -> Option<Value> {
    if build != Build::Reduce || state.is_some() {
        return None;
    }
    let builtins = class.module == "builtins" || class.module == "__builtin__";
    match args {
        [Value::Str(text), Value::Str(enc)]
            if class.is("_codecs", "encode") && (enc == "latin1" || enc == "latin-1") =>
        {
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
                .map(Value::Bytes)
        }
        [] if builtins && (class.name == "bytes" || class.name == "bytearray") => {
            Some(Value::Bytes(Vec::new()))
        }
        _ => None,
    }
}

/// An int from pickle's two's complement little-endian bytes.
fn int_from_le(b: Vec<u8>) -> Value {
    if b.is_empty() {
        return Value::Int(0);
    }
    if b.len() <= 8 {
        let fill = if b[b.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
        let mut a = [fill; 8];
        a[..b.len()].copy_from_slice(&b);
        return Value::Int(i64::from_le_bytes(a));
    }
    // Normalise: drop redundant sign bytes so equal ints compare equal.
    let mut b = b;
    while b.len() > 1 {
        let last = b[b.len() - 1];
        let prev_sign = b[b.len() - 2] & 0x80;
        if (last == 0 && prev_sign == 0) || (last == 0xff && prev_sign != 0) {
            b.pop();
        } else {
            break;
        }
    }
    if b.len() <= 8 {
        return int_from_le(b);
    }
    Value::BigInt(b)
}

// ---------------------------------------------------------------- encoding

/// Writes one pickle (protocol 4 opcodes, no frames, no memo).
///
/// # Errors
/// [`PickleError`] for a value nested deeper than [`MAX_DEPTH`] or a
/// malformed [`Value::BigInt`] (empty).
pub fn encode(v: &Value) -> Result<Vec<u8>, PickleError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[0x80, 4]);
    write(&mut out, v, 0)?;
    out.push(b'.');
    Ok(out)
}

fn write_len_prefixed(out: &mut Vec<u8>, short: u8, long: u8, huge: u8, b: &[u8]) {
    if let Ok(n) = u8::try_from(b.len()) {
        out.push(short);
        out.push(n);
    } else if let Ok(n) = u32::try_from(b.len()) {
        out.push(long);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(huge);
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    }
    out.extend_from_slice(b);
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_len_prefixed(out, 0x8c, b'X', 0x8d, s.as_bytes());
}

fn write_items(out: &mut Vec<u8>, items: &[Value], depth: usize) -> Result<(), PickleError> {
    for x in items {
        write(out, x, depth + 1)?;
    }
    Ok(())
}

fn write(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), PickleError> {
    if depth > MAX_DEPTH {
        return err(format!("value nested deeper than {MAX_DEPTH} levels"));
    }
    match v {
        Value::None => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Int(i) => {
            if let Ok(b) = u8::try_from(*i) {
                out.extend_from_slice(&[b'K', b]);
            } else if let Ok(h) = u16::try_from(*i) {
                out.push(b'M');
                out.extend_from_slice(&h.to_le_bytes());
            } else if let Ok(w) = i32::try_from(*i) {
                out.push(b'J');
                out.extend_from_slice(&w.to_le_bytes());
            } else {
                let mut b = i.to_le_bytes().to_vec();
                // Shortest two's complement form.
                while b.len() > 1 {
                    let last = b[b.len() - 1];
                    let prev_sign = b[b.len() - 2] & 0x80;
                    if (last == 0 && prev_sign == 0) || (last == 0xff && prev_sign != 0) {
                        b.pop();
                    } else {
                        break;
                    }
                }
                out.extend_from_slice(&[0x8a, b.len() as u8]);
                out.extend_from_slice(&b);
            }
        }
        Value::BigInt(b) => {
            if b.is_empty() {
                return err("BigInt with no bytes");
            }
            if let Ok(n) = u8::try_from(b.len()) {
                out.extend_from_slice(&[0x8a, n]);
            } else {
                let n = i32::try_from(b.len()).or_else(|_| err("int too large to pickle"))?;
                out.push(0x8b);
                out.extend_from_slice(&n.to_le_bytes());
            }
            out.extend_from_slice(b);
        }
        Value::Float(f) => {
            out.push(b'G');
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => write_len_prefixed(out, b'C', b'B', 0x8e, b),
        Value::Tuple(items) => match items.len() {
            0 => out.push(b')'),
            1..=3 => {
                write_items(out, items, depth)?;
                out.push([0x85, 0x86, 0x87][items.len() - 1]);
            }
            _ => {
                out.push(b'(');
                write_items(out, items, depth)?;
                out.push(b't');
            }
        },
        Value::List(items) => {
            out.push(b']');
            if !items.is_empty() {
                out.push(b'(');
                write_items(out, items, depth)?;
                out.push(b'e');
            }
        }
        Value::Dict(items) => {
            out.push(b'}');
            if !items.is_empty() {
                out.push(b'(');
                for (k, x) in items {
                    write(out, k, depth + 1)?;
                    write(out, x, depth + 1)?;
                }
                out.push(b'u');
            }
        }
        Value::Set(items) => {
            out.push(0x8f);
            if !items.is_empty() {
                out.push(b'(');
                write_items(out, items, depth)?;
                out.push(0x90);
            }
        }
        Value::FrozenSet(items) => {
            out.push(b'(');
            write_items(out, items, depth)?;
            out.push(0x91);
        }
        Value::Global(g) => write_global(out, g),
        Value::Object(o) => {
            write_global(out, &o.class);
            write(out, &Value::Tuple(o.args.clone()), depth + 1)?;
            out.push(match o.build {
                Build::Reduce => b'R',
                Build::NewObj => 0x81,
            });
            // save_reduce's order: list items, dict items, then the state.
            if !o.items.is_empty() {
                out.push(b'(');
                write_items(out, &o.items, depth)?;
                out.push(b'e');
            }
            if !o.dict_items.is_empty() {
                out.push(b'(');
                for (k, x) in &o.dict_items {
                    write(out, k, depth + 1)?;
                    write(out, x, depth + 1)?;
                }
                out.push(b'u');
            }
            if let Some(s) = &o.state {
                write(out, s, depth + 1)?;
                out.push(b'b');
            }
        }
    }
    Ok(())
}

fn write_global(out: &mut Vec<u8>, g: &Global) {
    write_str(out, &g.module);
    write_str(out, &g.name);
    out.push(0x93);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_round_trip_at_every_width() {
        for i in [
            0,
            1,
            255,
            256,
            65535,
            65536,
            -1,
            -129,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let v = Value::Int(i);
            assert_eq!(decode(&encode(&v).unwrap()).unwrap(), v, "{i}");
        }
    }

    #[test]
    fn a_memo_bomb_is_refused_not_expanded() {
        // [x, x] where x = [y, y] ... 40 levels: 2^40 nodes if expanded.
        let mut p = vec![0x80, 4, b']', 0x94];
        for k in 0..40u32 {
            p.extend_from_slice(&[b']', 0x94, b'(', b'h', k as u8, b'h', k as u8, b'e', b'0']);
            // leave the new list on the stack? simpler: pop it after memoizing
        }
        p.extend_from_slice(&[b'h', 40, b'.']);
        let e = decode(&p).unwrap_err();
        assert!(e.0.contains("too large"), "{e}");
    }

    #[test]
    fn a_huge_length_allocates_nothing() {
        let p = [0x80, 4, b'B', 0xff, 0xff, 0xff, 0x7f];
        assert!(decode(&p).unwrap_err().0.contains("truncated"));
        let p = [
            0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(decode(&p).is_err());
        let p = [0x80, 4, b'N', b'r', 0xff, 0xff, 0xff, 0xff, b'.'];
        assert_eq!(decode(&p).unwrap(), Value::None);
    }

    #[test]
    fn a_flood_of_one_byte_objects_is_refused_at_the_limit() {
        let mut p = vec![0x80, 4, b'('];
        p.extend(vec![b'N'; 5000]);
        p.extend_from_slice(b"l.");
        assert!(decode_with_limit(&p, 1000)
            .unwrap_err()
            .0
            .contains("more than 1000"));
        let mut marks = vec![0x80, 4];
        marks.extend(vec![b'('; 5000]);
        assert!(decode_with_limit(&marks, 1000)
            .unwrap_err()
            .0
            .contains("more than 1000"));
        assert_eq!(
            decode_with_limit(&p, 10_000)
                .unwrap()
                .as_seq()
                .map(<[Value]>::len),
            Some(5000)
        );
    }

    #[test]
    fn a_list_that_contains_itself_is_refused() {
        let p = [0x80, 4, b']', 0x94, b'h', 0, b'a', b'.'];
        assert!(decode(&p).unwrap_err().0.contains("recursive"));
    }
}
