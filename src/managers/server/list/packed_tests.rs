use proptest::prelude::*;

use super::*;

fn value() -> impl Strategy<Value = Datum> {
    prop_oneof![
        4 => (-3i64..3).prop_map(|i| Datum::Int(i.into())),
        1 => Just(Datum::Int(i128::MAX)),
        2 => prop_oneof![Just(-0.0f64), Just(0.0), Just(1.5), Just(f64::NAN)]
            .prop_map(|f| Datum::Float(F64(f))),
        1 => Just(Datum::Str("s".into())),
    ]
}

fn seq() -> impl Strategy<Value = Datum> {
    prop_oneof![
        prop::collection::vec(-3i64..3, 0..5).prop_map(Datum::Ints),
        prop::collection::vec(-2.0f64..2.0, 0..5)
            .prop_map(|v| Datum::Floats(v.into_iter().map(F64).collect())),
        prop::collection::vec(any::<u8>(), 0..3).prop_map(Datum::Bytes),
        prop::collection::vec(value(), 0..4).prop_map(Datum::Seq),
    ]
}

fn slice() -> impl Strategy<Value = Slice> {
    (
        prop::option::of(-6i64..6),
        prop::option::of(-6i64..6),
        prop::option::of(prop_oneof![Just(1i64), Just(-1), Just(2)]),
    )
        .prop_map(|(start, stop, step)| Slice { start, stop, step })
}

fn op() -> impl Strategy<Value = ListOp> {
    prop_oneof![
        4 => value().prop_map(ListOp::Append),
        3 => seq().prop_map(ListOp::Extend),
        1 => (-5i64..5, value()).prop_map(|(i, d)| ListOp::Insert(i, d)),
        1 => prop::option::of(-4i64..4).prop_map(ListOp::Pop),
        1 => value().prop_map(ListOp::Remove),
        1 => value().prop_map(|d| ListOp::Index(d, Slice::default())),
        1 => value().prop_map(ListOp::Count),
        1 => value().prop_map(ListOp::Contains),
        1 => any::<bool>().prop_map(|reverse| ListOp::Sort { reverse }),
        1 => Just(ListOp::Reverse),
        1 => (-4i64..4).prop_map(ListOp::Get),
        1 => (-4i64..4, value()).prop_map(|(i, d)| ListOp::Set(i, d)),
        1 => (-4i64..4).prop_map(ListOp::Del),
        1 => slice().prop_map(ListOp::GetSlice),
        1 => slice().prop_map(ListOp::DelSlice),
        1 => (slice(), prop::collection::vec(value(), 0..3))
            .prop_map(|(s, v)| ListOp::SetSlice(s, v)),
        1 => Just(ListOp::ToVec),
        1 => Just(ListOp::Len),
    ]
}

/// A reply with any sequence written as its elements, one node each.
fn plain(r: Result<Reply, RemoteError>) -> Result<Reply, RemoteError> {
    r.map(|r| match r {
        Reply::Datum(d @ (Datum::Ints(_) | Datum::Floats(_) | Datum::Bytes(_))) => {
            Reply::Seq(d.into_items().unwrap())
        }
        r => r,
    })
}

fn contents(items: &Items) -> Vec<Datum> {
    match items {
        Items::Ints(v) => v.iter().map(Elem::datum).collect(),
        Items::Floats(v) => v.iter().map(Elem::datum).collect(),
        Items::Tree(v) => v.clone(),
    }
}

proptest! {
    #[test]
    fn packed_lists_answer_as_tree_lists(
        start in seq(),
        ops in prop::collection::vec(op(), 1..12),
        resizable in any::<bool>(),
    ) {
        let mut packed = Items::from_seq(start.clone()).unwrap();
        let mut tree = start.into_items().unwrap();
        for op in ops {
            let want = plain(list_op(&mut tree, op.clone(), resizable).unwrap());
            let got = plain(items_op(&mut packed, op.clone(), resizable).unwrap());
            prop_assert_eq!(&got, &want, "{:?}", op);
            prop_assert_eq!(contents(&packed), tree.clone(), "after {:?}", op);
        }
    }
}

/// `li[:]` of a large packed list replies the skeleton and hands the
/// run itself to the reply's writer; a change made before the reply is
/// written copies the run first, so the reply holds the list as it was
/// when it was read; on the wire it is the reply a copy would make.
#[test]
fn a_large_run_is_shared_with_its_copy_and_copied_on_change() {
    #[cfg(target_endian = "little")]
    for floats in [false, true] {
        let n = BULK_MIN / 8 + 1;
        let start = if floats {
            Datum::Floats((0..n).map(|i| F64(i as f64 / 4.0)).collect())
        } else {
            Datum::Ints((0..n as i64).map(|i| i * -3).collect())
        };
        let mut l = Items::from_seq(start.clone()).unwrap();
        let r = items_op(&mut l, ListOp::ToVec, true).unwrap();
        assert_eq!(r, Ok(Reply::Datum(Datum::Bytes(Vec::new()))));
        let shared = super::super::take_shared_value().expect("the run was shared");
        let (kind, tail) = shared.bulk().unwrap();
        // A change now: the list changes, the shared run does not.
        items_op(&mut l, ListOp::Reverse, true).unwrap().unwrap();
        items_op(&mut l, ListOp::Set(0, Datum::Float(F64(7.0))), true)
            .unwrap()
            .unwrap();
        let parts = crate::managers::protocol::parts_with(&r, kind, tail).unwrap();
        let whole =
            postcard::to_stdvec(&Ok::<Reply, RemoteError>(Reply::Datum(start.clone()))).unwrap();
        assert_eq!([&parts.head[..], parts.tail].concat(), whole);
        assert_ne!(contents(&l), start.clone().into_items().unwrap());
    }
    // A small list is copied into its reply, nothing shared.
    let mut l = Items::from_seq(Datum::Ints(vec![1, 2])).unwrap();
    assert_eq!(
        items_op(&mut l, ListOp::ToVec, true).unwrap(),
        Ok(Reply::Datum(Datum::Ints(vec![1, 2])))
    );
    assert!(super::super::take_shared_value().is_none());
}

/// A read of a list whose run a reply still holds (`len`, `li[i]`,
/// `x in li`...) reads the run where it is: only a change copies it.
#[test]
fn a_read_does_not_copy_a_run_a_reply_holds() {
    #[cfg(target_endian = "little")]
    {
        let n = BULK_MIN / 8 + 1;
        let mut l = Items::from_seq(Datum::Ints((0..n as i64).collect())).unwrap();
        items_op(&mut l, ListOp::ToVec, true).unwrap().unwrap();
        let Some(SharedValue::Ints(held)) = super::super::take_shared_value() else {
            panic!("the run was not shared");
        };
        for op in [
            ListOp::Len,
            ListOp::Get(-1),
            ListOp::Contains(Datum::Int(5.into())),
            ListOp::Count(Datum::Int(5.into())),
            ListOp::ToVec,
        ] {
            items_op(&mut l, op.clone(), true).unwrap().unwrap();
            let _ = super::super::take_shared_value();
            assert!(
                matches!(&l, Items::Ints(v) if Arc::ptr_eq(v, &held)),
                "{op:?} copied the run"
            );
        }
    }
}

#[test]
fn lists_of_one_kind_stay_packed_and_mixed_ones_become_trees() {
    let mut l = Items::from_vec(vec![]);
    items_op(&mut l, ListOp::Append(Datum::Int(1)), true)
        .unwrap()
        .unwrap();
    items_op(&mut l, ListOp::Extend(Datum::Ints(vec![2, 3])), true)
        .unwrap()
        .unwrap();
    items_op(&mut l, ListOp::Sort { reverse: true }, true)
        .unwrap()
        .unwrap();
    assert!(matches!(l, Items::Ints(ref v) if **v == [3, 2, 1]), "{l:?}");
    assert_eq!(
        items_op(&mut l, ListOp::ToVec, true).unwrap(),
        Ok(Reply::Datum(Datum::Ints(vec![3, 2, 1])))
    );
    items_op(&mut l, ListOp::Append(Datum::Str("x".into())), true)
        .unwrap()
        .unwrap();
    assert!(matches!(l, Items::Tree(ref v) if v.len() == 4), "{l:?}");
    let mut f = Items::from_vec(vec![Datum::Float(F64(0.5))]);
    assert!(matches!(f, Items::Floats(_)));
    items_op(&mut f, ListOp::Append(Datum::Int(1)), true)
        .unwrap()
        .unwrap();
    assert!(matches!(f, Items::Tree(ref v) if v.len() == 2), "{f:?}");
}

/// `li.extend(b)` on a list that holds a string: the byte string of `n`
/// bytes (which cost the decoder `n`) becomes `n` `Datum` nodes, 32 bytes
/// each, past the bound [`DECODE_FACTOR`] puts on what one request may
/// take (`8 n`, or [`DECODE_FLOOR`]): the "57 MiB frame, 1.8 GiB of server
/// memory" that bound was made against, by another road.
#[test]
fn extend_with_bytes_stays_within_the_decode_bound() {
    let n = 4 << 20;
    let mut l = Items::from_vec(vec![Datum::Str("x".into())]);
    let r = items_op(&mut l, ListOp::Extend(Datum::Bytes(vec![7; n])), true).unwrap();
    let bound = (n * DECODE_FACTOR).max(DECODE_FLOOR);
    let taken = match &l {
        Items::Tree(v) => std::mem::size_of_val(&v[..]),
        Items::Ints(v) => std::mem::size_of_val(&v[..]),
        Items::Floats(v) => std::mem::size_of_val(&v[..]),
    };
    assert!(
        r.is_err() || taken <= bound,
        "a request of {n} bytes made the list take {taken} bytes (bound {bound})"
    );
}

/// The refusal above loses nothing and says how to do it instead: the list
/// keeps its one value, and a part of the size the message names goes in.
#[test]
fn extend_with_too_many_bytes_is_refused_whole_and_a_part_goes_in() {
    let node = std::mem::size_of::<Datum>();
    let mut l = Items::from_vec(vec![Datum::Str("x".into())]);
    let r = items_op(&mut l, ListOp::Extend(Datum::Bytes(vec![7; 4 << 20])), true).unwrap();
    let e = r.expect_err("4 MiB of bytes into a list of strings is refused");
    let part = DECODE_FLOOR / node;
    let RemoteError::Invalid(msg) = e else {
        panic!("refused as Invalid, got {e:?}")
    };
    assert!(msg.contains(&format!("at most {part} bytes")), "{msg}");
    assert_eq!(l.len(), 1, "the refused extend left the list as it was");
    items_op(&mut l, ListOp::Extend(Datum::Bytes(vec![7; part])), true)
        .unwrap()
        .unwrap();
    assert_eq!(l.len(), 1 + part);
    // A packed list of integers takes 8 bytes a byte: no limit but the frame's.
    let mut ints = Items::from_vec(vec![Datum::Int(1)]);
    items_op(
        &mut ints,
        ListOp::Extend(Datum::Bytes(vec![7; 4 << 20])),
        true,
    )
    .unwrap()
    .unwrap();
    assert!(matches!(ints, Items::Ints(ref v) if v.len() == 1 + (4 << 20)));
}

/// The refusal above is only for a list that already holds other values:
/// the same bytes put into an empty list first (allowed: 8 bytes a byte),
/// then one small `append("x")`, make the same tree of `n + 1` nodes, 32
/// bytes a byte sent, past the bound the refusal enforces (`8 n`, or
/// DECODE_FLOOR) for the two requests together.
#[test]
fn extend_with_bytes_then_a_string_stays_within_the_decode_bound() {
    let n = 4 << 20;
    let mut l = Items::from_vec(Vec::new());
    let first = items_op(&mut l, ListOp::Extend(Datum::Bytes(vec![7; n])), true).unwrap();
    let second = items_op(&mut l, ListOp::Append(Datum::Str("x".into())), true).unwrap();
    // What the two requests cost their sender: the bytes, and one string.
    let sent = n + 1;
    let bound = (sent * DECODE_FACTOR).max(DECODE_FLOOR);
    let taken = match &l {
        Items::Tree(v) => std::mem::size_of_val(&v[..]),
        Items::Ints(v) => std::mem::size_of_val(&v[..]),
        Items::Floats(v) => std::mem::size_of_val(&v[..]),
    };
    assert!(
        first.is_err() || second.is_err() || taken <= bound,
        "requests of {sent} bytes made the list take {taken} bytes (bound {bound})"
    );
}

/// The refusal above loses nothing, and a list short enough to unpack
/// within the bound still takes a value of another kind, as in Python.
#[test]
fn a_packed_list_too_long_to_unpack_refuses_another_kind_whole() {
    let node = std::mem::size_of::<Datum>();
    let big = DECODE_FLOOR / node + 1;
    let mut l = Items::from_vec(Vec::new());
    items_op(&mut l, ListOp::Extend(Datum::Ints(vec![1; big])), true)
        .unwrap()
        .unwrap();
    for op in [
        ListOp::Append(Datum::Str("x".into())),
        ListOp::Insert(0, Datum::Float(F64(0.5))),
        ListOp::Extend(Datum::Seq(vec![Datum::Str("y".into())])),
    ] {
        let r = items_op(&mut l, op, true).unwrap();
        let Err(RemoteError::Invalid(msg)) = r else {
            panic!("refused as Invalid, got {r:?}")
        };
        assert!(msg.contains("the list is unchanged"), "{msg}");
        assert!(matches!(l, Items::Ints(ref v) if v.len() == big));
    }
    // More integers still go in packed.
    items_op(&mut l, ListOp::Append(Datum::Int(2)), true)
        .unwrap()
        .unwrap();
    let mut small = Items::from_vec(vec![Datum::Int(1); DECODE_FLOOR / node]);
    items_op(&mut small, ListOp::Append(Datum::Str("x".into())), true)
        .unwrap()
        .unwrap();
    assert!(matches!(small, Items::Tree(ref v) if v.len() == DECODE_FLOOR / node + 1));
}
