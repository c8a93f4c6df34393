//! Round trips, order and limits of the Datum conversions.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Point {
    y: i32,
    x: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(u32),
    Rect { w: u8, h: u8 },
    Pair(i8, i8),
}

fn round<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(v: T) {
    let d = to_datum(&v).unwrap();
    // Through the wire too, as the server sees it.
    let bytes = postcard::to_stdvec(&d).unwrap();
    let d2: Datum = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(d, d2);
    assert_eq!(from_datum::<T>(d2).unwrap(), v);
}

#[test]
fn values_round_trip() {
    round(());
    round(true);
    round(-5i8);
    round(u64::MAX);
    round(i128::MIN);
    round(1.5f32);
    round(f64::NAN.to_bits());
    round('é');
    round("text".to_string());
    round(Some(Some(3u8)));
    round(None::<String>);
    round(vec![1u16, 2, 3]);
    round((1u8, "a".to_string(), 2.5f64));
    round(Point {
        y: 1,
        x: "p".into(),
    });
    round(vec![
        Shape::Dot,
        Shape::Circle(4),
        Shape::Rect { w: 1, h: 2 },
        Shape::Pair(-1, 1),
    ]);
    round(BTreeMap::from([
        (1u8, "a".to_string()),
        (0, "b".to_string()),
    ]));
    round(HashMap::from([("k".to_string(), vec![Some(1i64)])]));
}

#[test]
fn order_matches_derived_ord() {
    let mut shapes = vec![
        Shape::Pair(0, 0),
        Shape::Rect { w: 2, h: 0 },
        Shape::Rect { w: 1, h: 9 },
        Shape::Circle(10),
        Shape::Circle(9),
        Shape::Dot,
    ];
    let mut ds: Vec<Datum> = shapes.iter().map(|s| to_datum(s).unwrap()).collect();
    shapes.sort();
    ds.sort();
    let back: Vec<Shape> = ds.into_iter().map(|d| from_datum(d).unwrap()).collect();
    assert_eq!(back, shapes);

    let mut ints = vec![300i64, -2, 127, 128, 0, -300];
    let mut ds: Vec<Datum> = ints.iter().map(|s| to_datum(s).unwrap()).collect();
    ints.sort();
    ds.sort();
    assert_eq!(
        ds.into_iter()
            .map(|d| from_datum::<i64>(d).unwrap())
            .collect::<Vec<_>>(),
        ints
    );
    assert!(to_datum(&"ab").unwrap() < to_datum(&"b").unwrap());
    assert!(to_datum(&None::<u8>).unwrap() < to_datum(&Some(0u8)).unwrap());
    // -0.0 == 0.0 as in Python (both equal the integer 0).
    assert_eq!(to_datum(&-0.0f64).unwrap(), to_datum(&0.0f64).unwrap());
    assert_eq!(to_datum(&f64::NAN).unwrap(), to_datum(&f64::NAN).unwrap());
}

#[test]
fn equal_maps_are_equal_data() {
    let a: HashMap<u32, u32> = (0..50).map(|i| (i, i * 2)).collect();
    let b: BTreeMap<u32, u32> = (0..50).rev().map(|i| (i, i * 2)).collect();
    assert_eq!(to_datum(&a).unwrap(), to_datum(&b).unwrap());
}

#[test]
fn wrong_shape_is_a_decode_error() {
    let d = to_datum(&"text").unwrap();
    assert!(matches!(from_datum::<u32>(d), Err(Error::Decode(_))));
    let d = to_datum(&300u32).unwrap();
    assert!(matches!(from_datum::<u8>(d), Err(Error::Decode(_))));
    assert!(matches!(to_datum(&u128::MAX), Err(Error::Encode(_))));
}

#[test]
fn deep_nesting_is_refused_when_decoding() {
    // Seq(vec![Seq(vec![...])]) 200 deep, encoded by hand: variant 9
    // (Seq), length 1, repeated; then Unit (variant 0).
    let mut bytes = Vec::new();
    for _ in 0..200 {
        bytes.extend_from_slice(&[9, 1]);
    }
    bytes.push(0);
    let e = postcard::from_bytes::<Datum>(&bytes).unwrap_err();
    assert!(e.to_string().len() < 200);
    // 100 deep is fine.
    let mut bytes = Vec::new();
    for _ in 0..100 {
        bytes.extend_from_slice(&[9, 1]);
    }
    bytes.push(0);
    postcard::from_bytes::<Datum>(&bytes).unwrap();
}

#[test]
fn untagged_enums_give_python_like_dynamic_values() {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Py {
        None,
        Int(i64),
        Float(f64),
        Str(String),
    }
    let vals = vec![Py::Int(1), Py::Str("2".into()), Py::Float(0.25), Py::None];
    let d = to_datum(&vals).unwrap();
    assert_eq!(d.to_string(), "[1, '2', 0.25, None]");
    assert_eq!(from_datum::<Vec<Py>>(d).unwrap(), vals);
}

#[test]
fn display_is_python_like() {
    let d = to_datum(&(vec![1, 2], "a", None::<u8>, true, 2.5)).unwrap();
    assert_eq!(d.to_string(), "[[1, 2], 'a', None, True, 2.5]");
    assert_eq!(to_datum("it's").unwrap().to_string(), r#""it's""#);
    assert_eq!(to_datum("a'\"b").unwrap().to_string(), r#"'a\'"b'"#);
}

#[test]
fn byte_vectors_are_stored_as_bytes_and_round_trip() {
    let v = vec![1u8, 2, 255];
    assert_eq!(to_datum(&v).unwrap(), Datum::Bytes(vec![1, 2, 255]));
    round(v);
    round(Vec::<u8>::new());
    round(vec![vec![1u8], vec![], vec![0, 7]]);
    round(Vec::<String>::new());
    round((vec![3u8], [4u8, 5]));
    round(Some(vec![9u8; 1000]));
    // A sequence of other integers is not bytes, even when they fit (it
    // is a packed run of integers).
    assert_eq!(to_datum(&vec![1u16, 2]).unwrap(), Datum::Ints(vec![1, 2]));
    // Through serde's self-describing paths (an untagged enum) too.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Data(Vec<u8>),
    }
    round(vec![Either::Data(vec![1, 2]), Either::Text("t".into())]);
}

#[test]
fn byte_vectors_sort_as_vec_u8_does() {
    let mut vs = vec![vec![2u8], vec![], vec![1, 5], vec![1], vec![1, 0, 9]];
    let mut ds: Vec<Datum> = vs.iter().map(|v| to_datum(v).unwrap()).collect();
    vs.sort();
    ds.sort();
    let back: Vec<Vec<u8>> = ds.into_iter().map(|d| from_datum(d).unwrap()).collect();
    assert_eq!(back, vs);
    // Empty sequences of any type sort first, as they do in Rust.
    assert!(to_datum(&Vec::<String>::new()).unwrap() < to_datum(&vec!["a"]).unwrap());
}

#[test]
fn a_budget_refuses_a_huge_sequence_before_decoding_it() {
    // Seq (variant 9) announcing 10 million elements, with few present.
    let mut bytes = vec![9u8];
    let mut n: u64 = 10_000_000;
    while n >= 0x80 {
        bytes.push((n as u8) | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
    // A length longer than the bytes left is not believed (postcard gives
    // no size hint then): the decode ends at the end of the frame.
    let short = [&bytes[..], &[0u8; 16]].concat();
    assert!(decode_bounded::<Datum>(&short).is_err());
    // All there: 10 MB of units would be 320 MB of nodes; refused before
    // one is decoded.
    bytes.resize(bytes.len() + 10_000_000, 0);
    let e = decode_bounded::<Datum>(&bytes).unwrap_err();
    assert!(e.contains("once decoded"), "{e}");
    // Within the budget, a sequence decodes.
    let d = to_datum(&vec![(); 1000]).unwrap();
    let ok = decode_bounded::<Datum>(&postcard::to_stdvec(&d).unwrap()).unwrap();
    assert_eq!(ok, d);
}

// CPython: `_test_multiprocessing._TestContainers` runs the proxied list and
// dict methods on real Python objects, where `True == 1 == 1.0`; the server
// must agree (issue 14, item 7).
#[test]
fn numbers_compare_across_types_like_python() {
    use std::hash::{BuildHasher, RandomState};
    let i = |v: i128| Datum::Int(v);
    let f = |v: f64| Datum::Float(F64(v));
    assert_eq!(i(1), f(1.0));
    assert_eq!(Datum::Bool(true), i(1));
    assert_eq!(Datum::Bool(false), f(-0.0));
    assert!(i(1) < f(1.5) && f(1.5) < i(2));
    assert!(f(-0.5) < i(0) && i(-1) < f(-0.5));
    // Exact: i64::MAX is not the float 2^63 it rounds to.
    assert!(i(i64::MAX.into()) < f(9_223_372_036_854_775_808.0));
    assert!(i(i128::MAX) < f(f64::INFINITY) && f(f64::NEG_INFINITY) < i(i128::MIN));
    assert!(i(i128::MAX) < f(1e39) && f(-1e39) < i(i128::MIN));
    // NaN: equal to itself, above every number (total order kept).
    assert_eq!(f(f64::NAN), f(f64::NAN));
    assert!(i(i128::MAX) < f(f64::NAN) && f(f64::INFINITY) < f(f64::NAN));
    assert!(f(-f64::NAN) < i(i128::MIN));
    // Equal numbers hash alike (a BTreeMap or HashMap key finds either).
    let h = RandomState::new();
    assert_eq!(h.hash_one(i(3)), h.hash_one(f(3.0)));
    assert_eq!(h.hash_one(i(0)), h.hash_one(f(-0.0)));
    assert_eq!(h.hash_one(i(1)), h.hash_one(Datum::Bool(true)));
    // Inside containers too, and a total order for sorting mixed values.
    assert_eq!(
        Datum::Seq(vec![i(1), f(2.0)]),
        Datum::Seq(vec![f(1.0), i(2)])
    );
    let mut v = [
        f(2.5),
        i(3),
        Datum::Str("a".into()),
        i(-1),
        f(0.5),
        Datum::Unit,
    ];
    v.sort();
    assert_eq!(
        v.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        ["None", "-1", "0.5", "2.5", "3", "'a'"]
    );
    // The order is transitive across the three number types.
    let nums = [
        i(-2),
        f(-1.5),
        Datum::Bool(false),
        f(0.0),
        f(-0.0),
        Datum::Bool(true),
        f(1.0),
        i(1),
        f(f64::NAN),
    ];
    for a in &nums {
        for b in &nums {
            for c in &nums {
                if a <= b && b <= c {
                    assert!(a <= c, "{a} <= {b} <= {c}");
                }
            }
            assert_eq!(a.cmp(b), b.cmp(a).reverse());
        }
    }
}

// ---------------------------------------------------------------------------
// Packed runs (issue 16)
// ---------------------------------------------------------------------------

/// The same sequence as one node per element.
fn tree(d: &Datum) -> Datum {
    Datum::Seq(d.clone().into_items().unwrap())
}

fn hash_of(d: &Datum) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(d)
}

#[test]
fn homogeneous_sequences_are_packed_runs() {
    assert_eq!(
        to_datum(&vec![1i64, -2, 3]).unwrap(),
        Datum::Ints(vec![1, -2, 3])
    );
    assert_eq!(
        to_datum(&[7u32; 3]).unwrap(),
        Datum::Seq(vec![Datum::Int(7); 3])
    );
    assert_eq!(to_datum(&vec![7u32; 3]).unwrap(), Datum::Ints(vec![7; 3]));
    assert_eq!(
        to_datum(&vec![0.5f64, -1.0]).unwrap(),
        Datum::Floats(vec![F64(0.5), F64(-1.0)])
    );
    assert_eq!(
        to_datum(&vec![0.5f32]).unwrap(),
        Datum::Floats(vec![F64(0.5)])
    );
    // Nested runs: a list of lists of integers is a tree of runs.
    assert_eq!(
        to_datum(&vec![vec![1u64], vec![2, 3]]).unwrap(),
        Datum::Seq(vec![Datum::Ints(vec![1]), Datum::Ints(vec![2, 3])])
    );
    // The proxies' bulk calls build the same value from an iterator.
    assert_eq!(
        seq_to_datum::<i64, _>(1..=3i64).unwrap(),
        to_datum(&vec![1i64, 2, 3]).unwrap()
    );
    assert_eq!(
        seq_to_datum::<f64, _>(Vec::<f64>::new()).unwrap(),
        Datum::Bytes(vec![])
    );
}

#[test]
fn mixed_sequences_fall_back_to_the_tree() {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Py {
        Int(i64),
        Float(f64),
        Str(String),
    }
    // Integers, then something else: every element becomes a node.
    let v = vec![Py::Int(1), Py::Int(2), Py::Str("x".into())];
    let d = to_datum(&v).unwrap();
    assert_eq!(
        d,
        Datum::Seq(vec![Datum::Int(1), Datum::Int(2), Datum::Str("x".into())])
    );
    assert!(matches!(d, Datum::Seq(_)));
    round(v);
    // Floats then an integer; integers then a float.
    let d = to_datum(&vec![Py::Float(1.5), Py::Int(2)]).unwrap();
    assert!(matches!(d, Datum::Seq(ref v) if v.len() == 2), "{d:?}");
    let d = to_datum(&vec![Py::Int(2), Py::Float(1.5)]).unwrap();
    assert!(matches!(d, Datum::Seq(ref v) if v.len() == 2), "{d:?}");
    round(vec![Py::Int(2), Py::Float(1.5), Py::Int(3)]);
    // An integer beyond i64 in the middle of a run.
    let d = to_datum(&vec![1u64, u64::MAX, 3]).unwrap();
    assert!(matches!(d, Datum::Seq(_)), "{d:?}");
    round(vec![1u64, u64::MAX, 3]);
    round(vec![0i128, i128::MAX]);
    // Bytes, then a larger integer (an untagged enum of two widths).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(untagged)]
    enum Width {
        Byte(u8),
        Wide(u32),
    }
    let d = to_datum(&vec![Width::Byte(1), Width::Wide(300)]).unwrap();
    assert_eq!(d, Datum::Seq(vec![Datum::Int(1), Datum::Int(300)]));
}

#[test]
fn every_packed_kind_round_trips_through_the_wire() {
    round(vec![0i64, -1, i64::MIN, i64::MAX, 1 << 40]);
    round(vec![0u64, 1, i64::MAX as u64]);
    round(vec![1u16, 65535]);
    round(vec![-7i8, 7]);
    round(vec![0.0f64, -0.0, f64::INFINITY, f64::MIN_POSITIVE, 1e300]);
    round(vec![1.5f32, -2.25]);
    round(vec![255u8, 0]);
    round(vec![vec![1i32, 2], vec![], vec![3]]);
    round((vec![1i64], vec![2.0f64], vec![3u8]));
    // NaN: equal to itself here, so compare the bits.
    let d = to_datum(&vec![f64::NAN, 1.0]).unwrap();
    let back: Vec<f64> =
        from_datum(decode_bounded::<Datum>(&postcard::to_stdvec(&d).unwrap()).unwrap()).unwrap();
    assert!(back[0].is_nan() && back[1] == 1.0);
    // Within the server's decoder, an empty run is the empty sequence.
    for empty in [Datum::Ints(vec![]), Datum::Floats(vec![])] {
        let got = decode_bounded::<Datum>(&postcard::to_stdvec(&empty).unwrap()).unwrap();
        assert!(
            matches!(got, Datum::Bytes(ref b) if b.is_empty()),
            "{got:?}"
        );
    }
}

#[test]
fn packed_runs_print_as_lists() {
    assert_eq!(to_datum(&vec![1i64, -2]).unwrap().to_string(), "[1, -2]");
    assert_eq!(
        to_datum(&vec![1.0f64, 2.5]).unwrap().to_string(),
        "[1.0, 2.5]"
    );
    assert_eq!(Datum::Ints(vec![]).to_string(), "[]");
}

/// A few values of every kind near the sequences, to compare against.
fn neighbours() -> Vec<Datum> {
    vec![
        Datum::Unit,
        Datum::Int(1),
        Datum::Float(F64(1.0)),
        Datum::Str("a".into()),
        Datum::Bytes(vec![]),
        Datum::Bytes(vec![1, 2]),
        Datum::Seq(vec![]),
        Datum::Seq(vec![Datum::Int(1)]),
        Datum::Seq(vec![Datum::Int(1), Datum::Str("a".into())]),
        Datum::Seq(vec![Datum::Float(F64(0.5)), Datum::Int(1)]),
        Datum::Ints(vec![1, 2]),
        Datum::Ints(vec![]),
        Datum::Floats(vec![F64(0.5)]),
        Datum::Floats(vec![]),
        Datum::Map(vec![]),
        Datum::None,
    ]
}

proptest::proptest! {
    /// A packed run and the tree of the same elements are the same value:
    /// equal, ordered the same against anything, and hashed the same.
    #[test]
    fn packed_and_unpacked_compare_and_sort_the_same(
        ints in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..6),
        small in proptest::collection::vec(-3i64..3, 0..4),
        floats in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::Just(0.0f64),
                proptest::prelude::Just(-0.0f64),
                proptest::prelude::Just(f64::NAN),
                -3.0f64..3.0,
            ],
            0..4,
        ),
    ) {
        let runs: Vec<Datum> = [
            Datum::Ints(ints),
            Datum::Ints(small),
            Datum::Floats(floats.into_iter().map(F64).collect()),
        ]
        .into_iter()
        .collect();
        let mut all = neighbours();
        all.extend(runs.iter().cloned());
        all.extend(runs.iter().map(tree));
        for a in &all {
            let ta = a.clone().into_items().map(Datum::pack_owned);
            for b in &all {
                let (pa, pb) = (plain(a), plain(b));
                proptest::prop_assert_eq!(a.cmp(b), pa.cmp(&pb), "{:?} vs {:?}", a, b);
                proptest::prop_assert_eq!(a == b, pa == pb);
                if a == b {
                    proptest::prop_assert_eq!(hash_of(a), hash_of(b));
                }
                proptest::prop_assert_eq!(b.cmp(a), a.cmp(b).reverse());
            }
            // Packing the elements again gives an equal value (an empty
            // `Seq`, the image of an empty struct, is not the empty list).
            if let Some(t) = ta {
                if !matches!(a, Datum::Bytes(_)) && t != Datum::Bytes(vec![]) {
                    proptest::prop_assert_eq!(&t, a);
                }
            }
        }
        // Sorting a mix of runs and trees gives the order of the trees.
        let mut sorted = all.clone();
        sorted.sort();
        let mut plain_sorted: Vec<Datum> = all.iter().map(plain).collect();
        plain_sorted.sort();
        let sorted_plain: Vec<Datum> = sorted.iter().map(plain).collect();
        proptest::prop_assert_eq!(sorted_plain, plain_sorted);
    }
}

/// The value with every non-empty packed run written as its tree and every
/// empty one as the empty byte string: what it stands for.
fn plain(d: &Datum) -> Datum {
    match d {
        Datum::Ints(v) if v.is_empty() => Datum::Bytes(vec![]),
        Datum::Floats(v) if v.is_empty() => Datum::Bytes(vec![]),
        Datum::Ints(_) | Datum::Floats(_) => tree(d),
        Datum::Seq(v) => Datum::Seq(v.iter().map(plain).collect()),
        d => d.clone(),
    }
}

#[test]
fn packed_runs_travel_as_8_byte_words() {
    // Ints is variant 13, Floats 14 (after Ref, 12); then the run as a
    // byte string.
    let bytes = postcard::to_stdvec(&Datum::Ints(vec![1, -2])).unwrap();
    let mut want = vec![13u8, 16];
    want.extend_from_slice(&1i64.to_le_bytes());
    want.extend_from_slice(&(-2i64).to_le_bytes());
    assert_eq!(bytes, want);
    let bytes = postcard::to_stdvec(&Datum::Floats(vec![F64(0.5)])).unwrap();
    assert_eq!(bytes, [&[14u8, 8][..], &0.5f64.to_le_bytes()].concat());
    // A byte string that is no whole number of words is refused.
    let e = decode_bounded::<Datum>(&[13, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(e.is_err(), "{e:?}");
    // A length beyond the frame is refused.
    assert!(decode_bounded::<Datum>(&[12, 16, 1, 0, 0, 0, 0, 0, 0, 0]).is_err());
}

#[test]
fn bytes_values_move_whole_and_equal_byte_vectors() {
    let b = Bytes(vec![1, 2, 255]);
    let d = to_datum(&b).unwrap();
    assert_eq!(d, to_datum(&vec![1u8, 2, 255]).unwrap());
    assert_eq!(d, Datum::Bytes(vec![1, 2, 255]));
    round(b);
    round(Bytes(vec![]));
    // Stored by a `Vec<u8>` proxy, read by a `Bytes` one, and back.
    let back: Bytes = from_datum(to_datum(&vec![9u8; 1000]).unwrap()).unwrap();
    assert_eq!(back.0, vec![9u8; 1000]);
    let back: Vec<u8> = from_datum(to_datum(&Bytes(vec![4; 10])).unwrap()).unwrap();
    assert_eq!(back, vec![4; 10]);
    // The empty sequence of any type reads as empty bytes.
    let back: Bytes = from_datum(to_datum(&Vec::<String>::new()).unwrap()).unwrap();
    assert!(back.is_empty());
}

/// `Repr` (the wire image `Datum` decodes through) mirrors `Datum` variant
/// by variant, in the same order (postcard sends the variant's index). The
/// `match` has no wildcard, so a new `Datum` variant does not compile here
/// until it is listed, and then fails unless `Repr` has it at the same place.
#[test]
fn repr_mirrors_every_datum_variant_in_order() {
    use Datum::*;
    let all = vec![
        Unit,
        Bool(true),
        Int(-3),
        Float(F64(0.5)),
        Char('x'),
        Str("s".into()),
        Bytes(vec![1, 2]),
        None,
        Some(Box::new(Int(1))),
        Seq(vec![Int(1), Str("a".into())]),
        Map(vec![(Int(1), Int(2))]),
        Variant(2, Box::new(Unit)),
        Ref(Box::new(Seq(vec![
            Str("/tmp/addr".into()),
            Int(1),
            Str("list".into()),
        ]))),
        Ints(vec![1, 2]),
        Floats(vec![F64(1.5)]),
    ];
    let index = |d: &Datum| match d {
        Unit => 0u8,
        Bool(_) => 1,
        Int(_) => 2,
        Float(_) => 3,
        Char(_) => 4,
        Str(_) => 5,
        Bytes(_) => 6,
        None => 7,
        Some(_) => 8,
        Seq(_) => 9,
        Map(_) => 10,
        Variant(..) => 11,
        Ref(_) => 12,
        Ints(_) => 13,
        Floats(_) => 14,
    };
    assert_eq!(
        all.iter().map(index).collect::<Vec<_>>(),
        (0..15).collect::<Vec<u8>>(),
        "one value of each variant, in declaration order"
    );
    for d in all {
        let bytes = postcard::to_stdvec(&d).unwrap();
        assert_eq!(bytes[0], index(&d), "{d:?} is sent as its own index");
        let back: Datum = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            postcard::to_stdvec(&back).unwrap(),
            bytes,
            "{d:?} decodes as itself"
        );
    }
}
