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
    // A sequence of other integers is not bytes, even when they fit.
    assert!(matches!(to_datum(&vec![1u16, 2]).unwrap(), Datum::Seq(_)));
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
