//! Rows for `forklore::pyproto`: CPython's manager protocol, with a CPython
//! client on a forklore server and a forklore client on a CPython server.
//!
//! `interop.list_append`: a CPython 3 (`python3`) client appending to a
//! managed list over TCP loopback.
//! - forklore: the client against forklore's [`PyServer`] (in this process);
//! - cpython: the same client against CPython's own `SyncManager` server;
//! - floor: the same client's `ListProxy` against a server that answers
//!   every frame at once with one fixed `('#RETURN', None)` pickle: what the
//!   Python client costs by itself.
//!
//! `interop.rust_client_list_append`: forklore's [`PyManager`] client
//! appending to a list on CPython's own server (cpython column: the Python
//! client on the same kind of server; compare with `manager.list_append`
//! for forklore's own client and server).
//!
//! `interop.rust_client_forklore_server`: forklore's client on forklore's
//! CPython-protocol server, both in this process's run (no Python).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use forklore::pyproto::pickle::encode;
use forklore::pyproto::server::spawn;
use forklore::pyproto::{Handshake, PyAddress, PyConnection, PyManager, Value};

use crate::harness::Spec;

const OPS: usize = 5_000;
const ROUNDS: usize = 3;
const KEY: &str = "bench";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/python/interop_list_append.py")
}

/// Runs the Python client in `mode` against `port`; the seconds it reports.
fn python_client(ops: usize, mode: &str, port: u16) -> Duration {
    let out = Command::new("python3")
        .arg(script())
        .arg(ops.to_string())
        .arg(mode)
        .arg(port.to_string())
        .arg(KEY)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds");
    Duration::from_secs_f64(secs)
}

/// A forklore CPython-protocol server on a free port, started on first use.
fn lazy_forklore_server() -> impl FnMut() -> u16 {
    let mut port = None;
    move || {
        *port.get_or_insert_with(|| {
            let (addr, _stop, _thread) =
                spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), KEY.as_bytes(), &[]).unwrap();
            match addr {
                PyAddress::Tcp(_, p) => p,
                PyAddress::Unix(_) => unreachable!("bound on TCP"),
            }
        })
    }
}

/// The floor server: the handshake, then one fixed reply per frame.
fn lazy_fixed_reply_server() -> impl FnMut() -> u16 {
    let mut port = None;
    move || {
        *port.get_or_insert_with(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            let reply = encode(&Value::Tuple(vec![Value::str("#RETURN"), Value::None])).unwrap();
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let _ = s.set_nodelay(true);
                    let reply = reply.clone();
                    std::thread::spawn(move || {
                        let mut c = PyConnection::new(s);
                        if c.server_handshake(KEY.as_bytes(), Handshake::default())
                            .is_err()
                        {
                            return;
                        }
                        while c.recv_bytes().is_ok() {
                            if c.send_bytes(&reply).is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            p
        })
    }
}

/// `interop.list_append`.
pub fn list_append() -> Spec<'static> {
    let mut server = lazy_forklore_server();
    let mut floor = lazy_fixed_reply_server();
    Spec {
        name: "interop.list_append",
        unit: "µs per call",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| python_client(ops, "--connect", server())),
        floor: Some(Box::new(move |ops| python_client(ops, "--raw", floor()))),
        python: Some(("interop_list_append.py", vec![])),
    }
}

/// A CPython `SyncManager` server process, started on first use, shut
/// down and reaped when the row's closures are dropped.
struct CpythonServer {
    child: Child,
    port: u16,
}

impl Drop for CpythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `interop.rust_client_list_append`.
pub fn rust_client_list_append() -> Spec<'static> {
    let mut server: Option<CpythonServer> = None;
    Spec {
        name: "interop.rust_client_list_append",
        unit: "µs per call",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let s = server.get_or_insert_with(|| {
                let mut child = Command::new("python3")
                    .arg(script())
                    .args(["0", "--serve", KEY])
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("python3 runs");
                let mut line = String::new();
                BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                CpythonServer {
                    port: line.trim().parse().expect("a port"),
                    child,
                }
            });
            let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), s.port), KEY.as_bytes())
                .unwrap();
            let li = m.list::<u64>(&[]).unwrap();
            li.append(0).unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                li.append(i).unwrap();
            }
            let d = t.elapsed();
            assert_eq!(li.len().unwrap(), ops + 1);
            d
        }),
        floor: None,
        python: Some(("interop_list_append.py", vec![])),
    }
}

/// `interop.rust_client_forklore_server`: forklore's [`PyManager`] client on
/// forklore's [`PyServer`] (TCP loopback, CPython's protocol): what
/// forklore would cost if it spoke CPython's protocol to itself (compare
/// with `manager.list_append`, its own protocol on a Unix socket).
pub fn rust_client_forklore_server() -> Spec<'static> {
    let mut server = lazy_forklore_server();
    Spec {
        name: "interop.rust_client_forklore_server",
        unit: "µs per call",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let port = server();
            let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), port), KEY.as_bytes())
                .unwrap();
            let li = m.list::<u64>(&[]).unwrap();
            li.append(0).unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                li.append(i).unwrap();
            }
            let d = t.elapsed();
            assert_eq!(li.len().unwrap(), ops + 1);
            d
        }),
        floor: None,
        python: None,
    }
}
