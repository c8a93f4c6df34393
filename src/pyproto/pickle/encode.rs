//! The encoder: a [`Value`] to protocol-4 opcodes, without frames or memo.

use super::*;

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
