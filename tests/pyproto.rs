//! forklore ↔ real CPython: the pickle codec, the handshake, and a forklore
//! client of CPython's own manager server (3.11 as `python3`, 3.12 and 3.13
//! from pyenv where present).

use std::io::{BufRead, BufReader, Write};

use std::process::{Command, Stdio};
use std::time::Duration;

use forklore::pyproto::pickle::{decode, encode, Build, Global, Object};
use forklore::pyproto::{PyAddress, PyManager, Value};
use forklore::Error;

use crate::cpython::{pythons, CpythonServer, DIR};

fn i(v: i64) -> Value {
    Value::Int(v)
}
fn s(v: &str) -> Value {
    Value::str(v)
}
fn big(v: i128) -> Value {
    let mut b = v.to_le_bytes().to_vec();
    while b.len() > 1 {
        let last = b[b.len() - 1];
        let sign = b[b.len() - 2] & 0x80;
        if (last == 0 && sign == 0) || (last == 0xff && sign != 0) {
            b.pop();
        } else {
            break;
        }
    }
    Value::BigInt(b)
}
fn exc(m: &str, n: &str, args: Vec<Value>) -> Value {
    Value::exception(m, n, args)
}
fn token() -> Value {
    Value::Object(Box::new(Object {
        class: Global::new("multiprocessing.managers", "Token"),
        build: Build::NewObj,
        args: vec![],
        state: Some(Value::Tuple(vec![
            s("Queue"),
            Value::Tuple(vec![s("127.0.0.1"), i(5000)]),
            s("7f00"),
        ])),
        items: vec![],
        dict_items: vec![],
    }))
}

/// The values of `pickles.py`'s VALUES, as forklore sees them.
fn expected() -> Vec<Value> {
    use Value::*;
    vec![
        None,
        Bool(true),
        Bool(false),
        i(0),
        i(255),
        i(256),
        i(65536),
        i(-1),
        i(1 << 31),
        i(-(1 << 31) - 1),
        i(i64::MAX),
        i(i64::MIN),
        big(1 << 64),
        big(-(1i128 << 100)),
        Float(1.5),
        Float(-0.0),
        s(""),
        s("héllo"),
        s(&"x".repeat(300)),
        Bytes(vec![]),
        Bytes(vec![0, 255]),
        Bytes(vec![b'y'; 70000]),
        Tuple(vec![]),
        Tuple(vec![i(1)]),
        Tuple(vec![i(1), i(2)]),
        Tuple(vec![i(1), i(2), i(3)]),
        Tuple(vec![i(1), i(2), i(3), i(4)]),
        List(vec![]),
        List(vec![i(1), List(vec![i(2), List(vec![i(3)])])]),
        Dict(vec![]),
        Dict(vec![(s("a"), i(1)), (i(2), List(vec![None]))]),
        Set(vec![]),
        Set(vec![i(1)]),
        FrozenSet(vec![i(2)]),
        Tuple(vec![s("#RETURN"), token()]),
        Tuple(vec![s("#ERROR"), exc("_queue", "Empty", vec![])]),
        Tuple(vec![s("#ERROR"), exc("queue", "Full", vec![])]),
        Tuple(vec![s("#ERROR"), exc("builtins", "KeyError", vec![s("k")])]),
        Tuple(vec![
            s("#ERROR"),
            exc("builtins", "IndexError", vec![s("list index out of range")]),
        ]),
        Tuple(vec![
            s("7f"),
            s("append"),
            Tuple(vec![List(vec![i(1), big(1 << 70), Set(vec![i(1), i(2)])])]),
            Dict(vec![]),
        ]),
    ]
}

#[test]
fn decodes_what_every_cpython_pickles() {
    for (ver, py) in pythons() {
        let out = Command::new(&py)
            .arg(format!("{DIR}/pickles.py"))
            .arg("dump")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ver}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<Vec<u8>> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                (0..l.len())
                    .step_by(2)
                    .map(|k| u8::from_str_radix(&l[k..k + 2], 16).unwrap())
                    .collect()
            })
            .collect();
        let exp = expected();
        assert_eq!(lines.len(), exp.len() + 3, "{ver}");
        for (k, e) in exp.iter().enumerate() {
            assert_eq!(&decode(&lines[k]).unwrap(), e, "{ver}: value {k}");
        }
        let one = Value::List(vec![i(1)]);
        assert_eq!(
            decode(&lines[exp.len()]).unwrap(),
            Value::List(vec![one.clone(), one])
        );
        let d = Value::Dict(vec![
            (s("p"), Value::Bytes(b"ab".to_vec())),
            (s("q"), Value::Tuple(vec![Value::Float(1.25)])),
        ]);
        assert_eq!(
            decode(&lines[exp.len() + 1]).unwrap(),
            d,
            "{ver}: protocol 2"
        );
        assert_eq!(
            decode(&lines[exp.len() + 2]).unwrap(),
            d,
            "{ver}: protocol 5"
        );
    }
}

#[test]
fn every_cpython_reads_what_forklore_pickles() {
    for (ver, py) in pythons() {
        let mut child = Command::new(&py)
            .arg(format!("{DIR}/pickles.py"))
            .arg("load")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = String::new();
        for v in expected() {
            let b = encode(&v).unwrap();
            input.extend(b.iter().map(|x| format!("{x:02x}")));
            input.push('\n');
        }
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{ver}");
        let text = String::from_utf8(out.stdout).unwrap();
        let got: Vec<&str> = text.lines().collect();
        let want = [
            "None",
            "True",
            "False",
            "0",
            "255",
            "256",
            "65536",
            "-1",
            "2147483648",
            "-2147483649",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551616",
            "-1267650600228229401496703205376",
            "1.5",
            "-0.0",
            "''",
            "'héllo'",
        ];
        assert_eq!(&got[..want.len()], &want[..], "{ver}");
        assert_eq!(got[18], format!("'{}'", "x".repeat(300)));
        assert_eq!(got[20], r"b'\x00\xff'");
        assert_eq!(
            &got[22..34],
            &[
                "()",
                "(1,)",
                "(1, 2)",
                "(1, 2, 3)",
                "(1, 2, 3, 4)",
                "[]",
                "[1, [2, [3]]]",
                "{}",
                "{'a': 1, 2: [None]}",
                "set()",
                "{1}",
                "frozenset({2})"
            ]
        );
        assert_eq!(
            got[34], "('#RETURN', Token(typeid='Queue', address=('127.0.0.1', 5000), id='7f00'))",
            "{ver}"
        );
        assert_eq!(got[35], "('#ERROR', Empty())");
        assert_eq!(got[36], "('#ERROR', Full())");
        assert_eq!(got[37], "('#ERROR', KeyError('k'))");
        assert_eq!(
            got[39],
            "('7f', 'append', ([1, 1180591620717411303424, {1, 2}],), {})"
        );
    }
}

#[test]
fn forklore_client_uses_every_cpython_server() {
    for (ver, py) in pythons() {
        let srv = CpythonServer::start(&py, "s3cret");
        let m = PyManager::connect(srv.addr(), b"s3cret").unwrap();
        client_checks(&m, &format!("CPython {ver}"));
        m.shutdown().unwrap();
    }
}

#[test]
fn forklore_client_passes_the_same_checks_on_forklore_manager() {
    // Killed and reaped on drop: a failed check must not leave the server
    // running (it would hold the test's output pipe open).
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reaped(
        Command::new(crate::common::exe("forklore-manager"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--queue",
                "get_task_queue",
                "--queue",
                "get_result_queue",
            ])
            .env("FORKLORE_AUTHKEY", "s3cret")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), port), b"s3cret").unwrap();
    client_checks(&m, "forklore-manager");
    m.shutdown().unwrap();
    assert!(child.0.wait().unwrap().success());
}

/// What a forklore client checks on a CPython-protocol server.
fn client_checks(m: &PyManager, ver: &str) {
    {
        // The classic named queues.
        let tasks = m.named_queue::<i64>("get_task_queue").unwrap();
        let results = m.named_queue::<String>("get_result_queue").unwrap();
        for n in 0..5 {
            tasks.put(n).unwrap();
        }
        assert_eq!(tasks.qsize().unwrap(), 5, "{ver}");
        while let Ok(n) = tasks.get_nowait() {
            results.put(format!("{n} * {n} = {}", n * n)).unwrap();
        }
        assert!(
            matches!(
                tasks.get_timeout(Duration::from_millis(10)),
                Err(Error::QueueEmpty)
            ),
            "{ver}"
        );
        // A second proxy of the same name is the same queue.
        let again = m.named_queue::<String>("get_result_queue").unwrap();
        assert_eq!(again.get().unwrap(), "0 * 0 = 0");
        assert_eq!(results.qsize().unwrap(), 4);

        // list
        let l = m.list(&[1i64, 2]).unwrap();
        l.append(1 << 40).unwrap();
        l.extend(&[7, 7]).unwrap();
        assert_eq!(l.to_vec().unwrap(), vec![1, 2, 1 << 40, 7, 7]);
        assert_eq!(l.len().unwrap(), 5);
        assert_eq!(l.get(-1).unwrap(), 7);
        assert_eq!(l.count(&7).unwrap(), 2);
        assert_eq!(l.index(&(1 << 40)).unwrap(), 2);
        // IndexError: its own variant, told apart like queue.Empty and
        // KeyError.
        match l.get(99) {
            Err(e @ Error::PythonIndexError { .. }) => {
                assert!(e.is_index_out_of_range(), "{ver}");
                assert_eq!(
                    e.to_string(),
                    "index out of range (Python IndexError: list index out of range)"
                );
            }
            other => panic!("{ver}: {other:?}"),
        }
        assert!(
            matches!(l.set(-6, 0), Err(Error::PythonIndexError { message }) if message == "list assignment index out of range"),
            "{ver}"
        );
        let empty = m.list::<i64>(&[]).unwrap();
        assert!(
            matches!(empty.pop(), Err(Error::PythonIndexError { message }) if message == "pop from empty list"),
            "{ver}"
        );
        // a big int that only Python's int holds round-trips as u64
        let lu = m.list::<u64>(&[u64::MAX]).unwrap();
        assert_eq!(lu.pop().unwrap(), u64::MAX);

        // dict
        let d = m.dict::<String, Vec<f64>>().unwrap();
        d.insert("a".to_string(), vec![1.5]).unwrap();
        assert_eq!(d.get("a").unwrap(), vec![1.5]);
        assert!(matches!(d.get("zz"), Err(Error::KeyNotFound { key }) if key == "'zz'"));
        assert_eq!(d.get_opt("zz").unwrap(), None);
        assert_eq!(d.items().unwrap(), vec![("a".to_string(), vec![1.5])]);

        // Value, Event, Lock, RLock, Semaphore, Namespace
        let v = m.value("i", &5i32).unwrap();
        v.set(6).unwrap();
        assert_eq!(v.get().unwrap(), 6);
        let e = m.event().unwrap();
        assert!(!e.wait_timeout(Duration::from_millis(1)).unwrap());
        e.set().unwrap();
        assert!(e.is_set().unwrap());
        let lock = m.acquirer("Lock", vec![]).unwrap();
        lock.acquire().unwrap();
        assert!(!lock.try_acquire().unwrap());
        lock.release().unwrap();
        assert!(
            matches!(lock.release(), Err(Error::PythonException { type_name, .. }) if type_name == "builtins.RuntimeError")
        );
        let sem = m.acquirer("BoundedSemaphore", vec![Value::Int(1)]).unwrap();
        assert!(sem.acquire_timeout(Duration::from_millis(1)).unwrap());
        sem.release().unwrap();
        assert!(
            matches!(sem.release(), Err(Error::PythonException { type_name, .. }) if type_name == "builtins.ValueError")
        );
        let ns = m.namespace().unwrap();
        ns.set("x", &"y").unwrap();
        assert_eq!(ns.get::<String>("x").unwrap(), "y");
        assert!(
            matches!(ns.get::<String>("nope"), Err(Error::PythonException { type_name, .. }) if type_name == "builtins.AttributeError")
        );

        // Condition, Barrier, Array
        let c = m.condition().unwrap();
        assert!(
            matches!(c.wait_timeout(Duration::from_millis(1)), Err(Error::PythonException { type_name, .. }) if type_name == "builtins.RuntimeError")
        );
        c.acquire().unwrap();
        assert!(!c.wait_timeout(Duration::from_millis(1)).unwrap());
        c.notify(1).unwrap();
        c.notify_all().unwrap();
        c.release().unwrap();
        let b = m.barrier(2).unwrap();
        assert_eq!(b.parties().unwrap(), 2);
        assert!(
            matches!(
                b.wait_timeout(Duration::from_millis(1)),
                Err(Error::BrokenBarrier)
            ),
            "{ver}"
        );
        assert!(b.broken().unwrap());
        b.reset().unwrap();
        assert!(!b.broken().unwrap());
        // The barrier's own timeout (kept by CPython's server): a lonely
        // wait() given none breaks it.
        let bt = m.barrier_with_timeout(2, Duration::from_millis(1)).unwrap();
        assert!(matches!(bt.wait(), Err(Error::BrokenBarrier)), "{ver}");
        let arr = m.array("i", &[1i32, -2, 3]).unwrap();
        arr.set(0, 9).unwrap();
        assert_eq!(arr.get(-1).unwrap(), 3);
        assert_eq!(arr.len().unwrap(), 3);
        assert_eq!(arr.to_vec().unwrap(), vec![9, -2, 3], "{ver}");
        assert!(
            matches!(arr.get(3), Err(Error::PythonIndexError { message }) if message == "array index out of range"),
            "{ver}"
        );
        let arr_d = m.array("d", &[0.5f64]).unwrap();
        assert_eq!(arr_d.to_vec().unwrap(), vec![0.5]);
        drop((c, b, arr, arr_d));

        // Bounded queue: Full.
        let q = m.queue::<i64>(1).unwrap();
        q.put(1).unwrap();
        assert!(matches!(q.put_nowait(2), Err(Error::QueueFull)), "{ver}");

        // An unregistered name is refused by the server (a '#TRACEBACK').
        assert!(matches!(
            m.create("nope", vec![], vec![]),
            Err(Error::PythonException { .. })
        ));

        // Dropping proxies decrefs: only the two named queues' objects stay.
        let before = m.number_of_objects().unwrap();
        drop((l, lu, d, v, e, lock, sem, ns, q));
        let after = m.number_of_objects().unwrap();
        assert_eq!(before - after, 9, "{ver}: {before} -> {after}");
    }
}

#[test]
fn a_wrong_key_fails_against_every_cpython_server() {
    for (ver, py) in pythons() {
        let srv = CpythonServer::start(&py, "right");
        match PyManager::connect(srv.addr(), b"wrong") {
            Err(Error::AuthenticationFailed { .. }) => {}
            other => panic!("{ver}: {other:?}"),
        }
        // The server goes on serving the right key.
        PyManager::connect(srv.addr(), b"right")
            .unwrap()
            .shutdown()
            .unwrap();
    }
}

mod codec_properties {
    use super::*;
    use forklore::pyproto::pyops;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    fn big_outside_i64() -> impl Strategy<Value = Value> {
        any::<i128>().prop_filter_map("outside i64", |i| i64::try_from(i).is_err().then(|| big(i)))
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            big_outside_i64(),
            any::<f64>()
                .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
                .prop_map(Value::Float),
            ".{0,40}".prop_map(Value::Str),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
        ]
    }

    /// Values Python can hold as they are: set items and dict keys distinct
    /// and hashable.
    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Tuple),
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
                prop::collection::btree_map("[a-z]{0,6}", inner, 0..6).prop_map(|m| Value::Dict(
                    m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect()
                )),
                prop::collection::btree_set(any::<i64>(), 0..6)
                    .prop_map(|s| Value::Set(s.into_iter().map(Value::Int).collect())),
                prop::collection::btree_set("[a-z]{0,4}", 0..6)
                    .prop_map(|s| Value::FrozenSet(s.into_iter().map(Value::Str).collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(v in value()) {
            prop_assert_eq!(decode(&encode(&v).unwrap()).unwrap(), v);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&b);
        }

        #[test]
        fn decoding_a_corrupted_pickle_never_panics(v in value(), at in any::<usize>(), byte in any::<u8>()) {
            let mut b = encode(&v).unwrap();
            let i = at % b.len();
            b[i] = byte;
            let _ = decode(&b);
            b.truncate(i);
            let _ = decode(&b);
        }
    }

    /// 300 random values go through every CPython (`pickle.loads` then
    /// `ForkingPickler.dumps`) and come back equal (Python's `==`).
    #[test]
    fn random_values_survive_a_round_trip_through_every_cpython() {
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let values: Vec<Value> = (0..300)
            .map(|_| value().new_tree(&mut runner).unwrap().current())
            .collect();
        let input: String = values
            .iter()
            .map(|v| {
                encode(v)
                    .unwrap()
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>()
                    + "\n"
            })
            .collect();
        let echo = "import sys\nfrom multiprocessing.reduction import ForkingPickler\nimport pickle\n\
                    for l in sys.stdin:\n    print(bytes(ForkingPickler.dumps(pickle.loads(bytes.fromhex(l)))).hex())\n";
        for (ver, py) in pythons() {
            let mut child = Command::new(&py)
                .args(["-c", echo])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let input = input.clone();
            let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap().unwrap();
            assert!(out.status.success(), "{ver}");
            let text = String::from_utf8(out.stdout).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), values.len(), "{ver}");
            for (v, l) in values.iter().zip(lines) {
                let b: Vec<u8> = (0..l.len())
                    .step_by(2)
                    .map(|k| u8::from_str_radix(&l[k..k + 2], 16).unwrap())
                    .collect();
                let back = decode(&b).unwrap();
                assert!(pyops::eq(&back, v), "{ver}: {v:?} came back as {back:?}");
            }
        }
    }
}

/// Chapter 19's worker role, as a library call: take int tasks until
/// `get(timeout)` raises `queue.Empty` (or the master has shut down), put
/// `'n * n = n²'` strings.
fn square_worker(m: &PyManager) -> forklore::Result<usize> {
    let tasks = m.named_queue::<i64>("get_task_queue")?;
    let results = m.named_queue::<String>("get_result_queue")?;
    let mut done = 0;
    loop {
        match tasks.get_timeout(Duration::from_secs(1)) {
            Ok(n) => {
                let sq = n
                    .checked_mul(n)
                    .ok_or_else(|| Error::InvalidArgument(format!("{n}² overflows")))?;
                results.put(format!("{n} * {n} = {sq}"))?;
                done += 1;
            }
            Err(Error::QueueEmpty) => return Ok(done),
            // The classic master shuts its server down once it has every
            // result, possibly while this get() waits: the work is done.
            Err(e) if e.is_manager_gone() && done > 0 => return Ok(done),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn a_forklore_worker_serves_the_classic_cpython_master() {
    for (ver, py) in pythons() {
        let mut master = Command::new(&py)
            .arg(format!("{DIR}/classic_master.py"))
            .args(["k", "7"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(master.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap();
        let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), port), b"k").unwrap();
        assert_eq!(square_worker(&m).unwrap(), 7, "{ver}");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(master.wait().unwrap().success(), "{ver}");
        let mut lines: Vec<&str> = rest.lines().collect();
        assert_eq!(lines.pop(), Some("master done"));
        assert_eq!(
            lines,
            (0..7)
                .map(|n| format!("{n} * {n} = {}", n * n))
                .collect::<Vec<_>>(),
            "{ver}"
        );
    }
}

#[test]
fn forklore_client_reaches_a_cpython_server_on_a_unix_socket() {
    // CPython's default family on Linux is AF_UNIX.
    let Some((_, py)) = pythons().into_iter().next() else {
        eprintln!("skipping: no CPython 3.11+ on this machine");
        return;
    };
    let py = &py;
    let dir = std::env::temp_dir().join(format!("forklore-pyunix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sock");
    let script = "import sys\nfrom multiprocessing.managers import SyncManager\n\
                  m = SyncManager(address=sys.argv[1], authkey=b'k')\ns = m.get_server()\n\
                  print('up', flush=True)\ns.serve_forever()\n";
    let mut child = Command::new(py)
        .args(["-c", script])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "up");
    let m = PyManager::connect(PyAddress::Unix(path.clone()), b"k").unwrap();
    let d = m.dict::<String, i64>().unwrap();
    d.insert("a".to_string(), 1).unwrap();
    assert_eq!(d.get("a").unwrap(), 1);
    m.shutdown().unwrap();
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_legacy_md5_off_a_forklore_client_refuses_a_cpython_311_server_only() {
    use forklore::pyproto::Handshake;
    for (ver, py) in pythons() {
        let srv = CpythonServer::start(&py, "k");
        let r = PyManager::connect_with(srv.addr(), b"k", Handshake { legacy_md5: false });
        if ver == "3.11" {
            // A 3.11 server's bare 20-byte challenge can only be answered
            // with HMAC-MD5.
            assert!(
                matches!(r, Err(Error::AuthenticationFailed { .. })),
                "{ver}: {r:?}"
            );
        } else {
            r.unwrap().shutdown().unwrap();
        }
    }
}

/// Runs `f` on a thread and waits for it at most `limit`: a call that
/// hangs fails the test instead of hanging the suite (the thread is left
/// blocked; dropping the relay it is stuck on ends it).
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let t = std::time::Instant::now();
        let r = f();
        let _ = tx.send((r, t.elapsed()));
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not return within {limit:?}"))
}

#[test]
fn a_get_timeout_on_a_silently_cut_link_fails_with_manager_no_reply() {
    use forklore::pyproto::client::REPLY_GRACE;
    let Some((_, py)) = pythons().into_iter().next() else {
        eprintln!("skipping: no CPython 3.11+ on this machine");
        return;
    };
    let srv = CpythonServer::start(&py, "cut");
    let relay = std::sync::Arc::new(crate::cpython::Relay::start(srv.port));
    let m = PyManager::connect(relay.addr(), b"cut").unwrap();
    let t = Duration::from_secs(1);
    // One thread for the whole story: a proxy keeps one connection per
    // thread.
    let r = relay.clone();
    let ((cut, after), _) = within(
        Duration::from_secs(30),
        "get_timeout on a cut link",
        move || {
            let q = m.named_queue::<i64>("get_task_queue").unwrap();
            // Through the relay, the proxy's connection works.
            q.put(1).unwrap();
            assert_eq!(q.get_timeout(t).unwrap(), 1);
            // The link falls silent, both sockets open: CPython's server
            // answers queue.Empty after a second, and the answer never comes.
            r.cut();
            let start = std::time::Instant::now();
            let cut = (q.get_timeout(t), start.elapsed());
            // The silent connection was closed, not reused: once the link is
            // back, the next calls go over a new one (on the old one the
            // blocking put would wait for ever, or take the late queue.Empty
            // for its answer).
            r.resume();
            let after = q.put(2).and_then(|()| q.get_timeout(t));
            (cut, after)
        },
    );
    let (r, took) = cut;
    let e = r.unwrap_err();
    assert!(
        matches!(&e, Error::ManagerNoReply { call, waited } if call == "get()" && *waited == t + REPLY_GRACE),
        "{e:?}"
    );
    assert!(e.is_manager_no_reply());
    assert!(
        !e.is_queue_empty() && !e.is_timeout() && !e.is_manager_gone(),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("the manager did not answer"),
        "{e}"
    );
    // It waited for the call's own timeout and the grace, not less.
    assert!(took >= t + REPLY_GRACE, "{took:?}");
    assert_eq!(after.unwrap(), 2);
}

#[test]
fn a_reply_timeout_bounds_quick_calls_on_a_silently_cut_link() {
    use forklore::pyproto::client::ConnectOptions;
    let Some((_, py)) = pythons().into_iter().next() else {
        eprintln!("skipping: no CPython 3.11+ on this machine");
        return;
    };
    let srv = CpythonServer::start(&py, "cut");
    let relay = std::sync::Arc::new(crate::cpython::Relay::start(srv.port));
    let opts = ConnectOptions {
        reply_timeout: Some(Duration::from_secs(2)),
        ..ConnectOptions::default()
    };
    let m = PyManager::connect_options(relay.addr(), b"cut", opts).unwrap();
    let r = relay.clone();
    let (res, _) = within(Duration::from_secs(30), "append on a cut link", move || {
        let l = m.list::<i64>(&[]).unwrap();
        l.append(1).unwrap();
        r.cut();
        let start = std::time::Instant::now();
        (l.append(2), start.elapsed())
    });
    let (r, took) = res;
    let e = r.unwrap_err();
    assert!(
        matches!(&e, Error::ManagerNoReply { call, waited } if call == "append()" && *waited == Duration::from_secs(2)),
        "{e:?}"
    );
    assert!(took >= Duration::from_secs(2), "{took:?}");
}
