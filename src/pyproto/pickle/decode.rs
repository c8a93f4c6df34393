//! The decoder: bytes to a [`Value`], through an arena that the memo can
//! point into (see the module documentation of [`pickle`](super) for the limits).

use std::collections::HashMap;

use super::*;

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
    /// The memo by index, as CPython's `MEMOIZE` fills it (0, 1, 2, ...).
    memo: Vec<usize>,
    /// Entries a `PUT` stored past the end of `memo` (rare; never
    /// allocated for CPython's own pickles). An index below `memo.len()`
    /// is always in `memo`, with its latest value.
    memo_sparse: Option<HashMap<u32, usize>>,
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
        arena: Vec::with_capacity(16),
        stack: Vec::with_capacity(16),
        memo: Vec::with_capacity(16),
        memo_sparse: None,
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
        let i = idx as usize;
        match i.cmp(&self.memo.len()) {
            std::cmp::Ordering::Less => self.memo[i] = top,
            std::cmp::Ordering::Equal => self.memo.push(top),
            std::cmp::Ordering::Greater => {
                self.memo_sparse
                    .get_or_insert_with(HashMap::new)
                    .insert(idx, top);
            }
        }
        Ok(())
    }
    fn memo_get(&mut self, idx: u32) -> Result<(), PickleError> {
        let found = self
            .memo
            .get(idx as usize)
            .copied()
            .or_else(|| self.memo_sparse.as_ref().and_then(|m| m.get(&idx).copied()));
        match found.as_ref() {
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
