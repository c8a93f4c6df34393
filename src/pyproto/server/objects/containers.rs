//! The container objects' methods: `list`, `dict`, `managers.Array` and
//! `managers.Namespace`, with CPython's exceptions.

use super::*;

pub(super) fn list_call(
    l: &mut Vec<Value>,
    method: &str,
    a: &CallArgs,
) -> Result<Outcome, Outcome> {
    let len_v = |n: usize| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    match method {
        "append" => {
            l.push(a.need(0, "object", method)?.clone());
            ok()
        }
        "extend" | "__iadd__" => {
            let items = seq_arg(a.need(0, "iterable", method)?)?;
            l.extend(items);
            ok()
        }
        "__len__" => ret(len_v(l.len())),
        "__contains__" => {
            let x = a.need(0, "value", method)?;
            ret(Value::Bool(l.iter().any(|y| eq(x, y))))
        }
        "__getitem__" => {
            let k = a.need(0, "index", method)?;
            if let Some(s) = as_slice(k) {
                let idx = slice_indices(s, l.len()).map_err(|m| value_error(&m))?;
                return ret(Value::List(idx.into_iter().map(|i| l[i].clone()).collect()));
            }
            match pyops::index(int_arg(k)?, l.len()) {
                Some(i) => ret(l[i].clone()),
                None => Err(index_error("list index out of range")),
            }
        }
        "__setitem__" => {
            let k = a.need(0, "index", method)?;
            let v = a.need(1, "value", method)?.clone();
            if as_slice(k).is_some() {
                return Err(type_error(
                    "slice assignment on a managed list is not supported",
                ));
            }
            match pyops::index(int_arg(k)?, l.len()) {
                Some(i) => {
                    l[i] = v;
                    ok()
                }
                None => Err(index_error("list assignment index out of range")),
            }
        }
        "__delitem__" => {
            let k = a.need(0, "index", method)?;
            if let Some(s) = as_slice(k) {
                let mut idx = slice_indices(s, l.len()).map_err(|m| value_error(&m))?;
                idx.sort_unstable();
                for i in idx.into_iter().rev() {
                    l.remove(i);
                }
                return ok();
            }
            match pyops::index(int_arg(k)?, l.len()) {
                Some(i) => {
                    l.remove(i);
                    ok()
                }
                None => Err(index_error("list assignment index out of range")),
            }
        }
        "pop" => {
            if l.is_empty() {
                return Err(index_error("pop from empty list"));
            }
            let i = match a.get(0, "index") {
                None => l.len() - 1,
                Some(v) => pyops::index(int_arg(v)?, l.len())
                    .ok_or_else(|| index_error("pop index out of range"))?,
            };
            ret(l.remove(i))
        }
        "insert" => {
            let i = int_arg(a.need(0, "index", method)?)?;
            let v = a.need(1, "object", method)?.clone();
            let n = i64::try_from(l.len()).unwrap_or(i64::MAX);
            let at = if i < 0 {
                i.saturating_add(n).max(0)
            } else {
                i.min(n)
            };
            l.insert(usize::try_from(at).unwrap_or(0), v);
            ok()
        }
        "remove" => {
            let x = a.need(0, "value", method)?;
            match l.iter().position(|y| eq(x, y)) {
                Some(i) => {
                    l.remove(i);
                    ok()
                }
                None => Err(value_error("list.remove(x): x not in list")),
            }
        }
        "index" => {
            let x = a.need(0, "value", method)?;
            match l.iter().position(|y| eq(x, y)) {
                Some(i) => ret(len_v(i)),
                None => Err(value_error(&format!("{} is not in list", repr(x)))),
            }
        }
        "count" => {
            let x = a.need(0, "value", method)?;
            ret(len_v(l.iter().filter(|y| eq(x, y)).count()))
        }
        "reverse" => {
            l.reverse();
            ok()
        }
        "sort" => {
            if a.get(99, "key").is_some_and(|k| *k != Value::None) {
                return Err(type_error("sort(key=...) is not supported by this server"));
            }
            let reverse = a.get(99, "reverse").is_some_and(truthy);
            let mut err = None;
            l.sort_by(|x, y| {
                pyops::cmp(x, y).unwrap_or_else(|m| {
                    err.get_or_insert(m);
                    std::cmp::Ordering::Equal
                })
            });
            if let Some(m) = err {
                return Err(type_error(&m));
            }
            if reverse {
                l.reverse();
            }
            ok()
        }
        "__add__" => {
            let mut out = l.clone();
            match a.need(0, "value", method)? {
                Value::List(x) => out.extend(x.iter().cloned()),
                other => {
                    return Err(type_error(&format!(
                        "can only concatenate list (not \"{}\") to list",
                        other.type_name()
                    )))
                }
            }
            ret(Value::List(out))
        }
        "__mul__" | "__rmul__" | "__imul__" => {
            let n = int_arg(a.need(0, "value", method)?)?;
            let n = usize::try_from(n).unwrap_or(0);
            let total = l.len().checked_mul(n).filter(|&t| t <= 1 << 24);
            let Some(_) = total else {
                return Err(exc(
                    "builtins",
                    "MemoryError",
                    "list repetition too large for this server",
                ));
            };
            let out: Vec<Value> = (0..n).flat_map(|_| l.iter().cloned()).collect();
            if method == "__imul__" {
                *l = out;
                ok()
            } else {
                ret(Value::List(out))
            }
        }
        "__reversed__" => Err(type_error(
            "a list_reverseiterator cannot be sent; use l[::-1]",
        )),
        _ => Err(no_method(method)),
    }
}

pub(super) fn dict_call(d: &mut PyDict, method: &str, a: &CallArgs) -> Result<Outcome, Outcome> {
    match method {
        "__setitem__" => {
            let k = a.need(0, "key", method)?.clone();
            let v = a.need(1, "value", method)?.clone();
            dict_set(d, k, v)?;
            ok()
        }
        "__getitem__" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            match d.get(k) {
                Some(v) => ret(v.clone()),
                None => Err(key_error(k.clone())),
            }
        }
        "get" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            ret(d
                .get(k)
                .cloned()
                .unwrap_or_else(|| a.get(1, "default").cloned().unwrap_or(Value::None)))
        }
        "__delitem__" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            match d.remove(k) {
                Some(_) => ok(),
                None => Err(key_error(k.clone())),
            }
        }
        "__contains__" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            ret(Value::Bool(d.get(k).is_some()))
        }
        "__len__" => ret(Value::Int(i64::try_from(d.len()).unwrap_or(i64::MAX))),
        "clear" => {
            d.clear();
            ok()
        }
        "copy" => ret(d.to_value()),
        // Views are sent as lists, as CPython's managers register them.
        "keys" => ret(Value::List(d.iter().map(|(k, _)| k.clone()).collect())),
        "values" => ret(Value::List(d.iter().map(|(_, v)| v.clone()).collect())),
        "items" => ret(Value::List(
            d.iter()
                .map(|(k, v)| Value::Tuple(vec![k.clone(), v.clone()]))
                .collect(),
        )),
        "pop" => {
            let k = a.need(0, "key", method)?;
            hashable(k)?;
            match d.remove(k) {
                Some((_, v)) => ret(v),
                None => match a.get(1, "default") {
                    Some(v) => ret(v.clone()),
                    None => Err(key_error(k.clone())),
                },
            }
        }
        "popitem" => match d.pop_last() {
            Some((k, v)) => ret(Value::Tuple(vec![k, v])),
            None => Err(key_error(Value::str("popitem(): dictionary is empty"))),
        },
        "setdefault" => {
            let k = a.need(0, "key", method)?.clone();
            hashable(&k)?;
            match d.get(&k) {
                Some(v) => ret(v.clone()),
                None => {
                    let v = a.get(1, "default").cloned().unwrap_or(Value::None);
                    dict_set(d, k, v.clone())?;
                    ret(v)
                }
            }
        }
        "update" => {
            if let Some(v) = a.pos.first() {
                dict_update(d, v)?;
            }
            for (k, v) in &a.kw {
                dict_set(d, k.clone(), v.clone())?;
            }
            ok()
        }
        "__iter__" => Ok(Outcome::Proxy(
            "Iterator",
            Box::new(Obj::Iterator(Mutex::new(
                d.iter().map(|(k, _)| k.clone()).collect(),
            ))),
        )),
        _ => Err(no_method(method)),
    }
}

pub(super) fn array_call(
    items: &mut [Value],
    method: &str,
    a: &CallArgs,
) -> Result<Outcome, Outcome> {
    match method {
        "__len__" => ret(Value::Int(i64::try_from(items.len()).unwrap_or(i64::MAX))),
        "__getitem__" => {
            let k = a.need(0, "index", method)?;
            if let Some(s) = as_slice(k) {
                let idx = slice_indices(s, items.len()).map_err(|m| value_error(&m))?;
                return ret(Value::List(
                    idx.into_iter().map(|i| items[i].clone()).collect(),
                ));
            }
            match pyops::index(int_arg(k)?, items.len()) {
                Some(i) => ret(items[i].clone()),
                None => Err(index_error("array index out of range")),
            }
        }
        "__setitem__" => {
            let i = int_arg(a.need(0, "index", method)?)?;
            let v = a.need(1, "value", method)?.clone();
            match pyops::index(i, items.len()) {
                Some(i) => {
                    items[i] = v;
                    ok()
                }
                None => Err(index_error("array assignment index out of range")),
            }
        }
        _ => Err(no_method(method)),
    }
}

pub(super) fn ns_call(
    attrs: &mut Vec<(String, Value)>,
    method: &str,
    a: &CallArgs,
) -> Result<Outcome, Outcome> {
    let name = a.need(0, "name", method)?;
    let Some(name) = name.as_str() else {
        return Err(type_error("attribute name must be string"));
    };
    let pos = attrs.iter().position(|(k, _)| k == name);
    let missing = || {
        exc(
            "builtins",
            "AttributeError",
            format!("'Namespace' object has no attribute '{name}'"),
        )
    };
    match method {
        "__getattribute__" => match pos {
            Some(i) => ret(attrs[i].1.clone()),
            None => Err(missing()),
        },
        "__setattr__" => {
            let v = a.need(1, "value", method)?.clone();
            match pos {
                Some(i) => attrs[i].1 = v,
                None => attrs.push((name.to_owned(), v)),
            }
            ok()
        }
        "__delattr__" => match pos {
            Some(i) => {
                attrs.remove(i);
                ok()
            }
            None => Err(missing()),
        },
        _ => Err(no_method(method)),
    }
}
