//! Rows for `forklore::pyproto`: CPython's manager protocol, with a CPython
//! client on a forklore server and a forklore client on a CPython server.
//!
//! `interop.list_append`: a CPython 3 (`python3`) client appending to a
//! managed list over TCP loopback.
//! - forklore: the client against forklore's [`PyServer`] (in this process);
//! - cpython: the same client against CPython's own `SyncManager` server;
//! - floor: the same client's `ListProxy` against a server that answers
//!   every frame at once with one fixed `('#RETURN', None)` pickle: what the
//!   Python client costs by itself. It is forklore's server without the
//!   work (same transport, socket options and wait for requests), and the
//!   client measures it and forklore's server in one process, in
//!   alternating batches (see [`list_append`]).
//!
//! `interop.rust_client_list_append`: forklore's [`PyManager`] client
//! appending to a list on CPython's own server (cpython column: the Python
//! client on the same kind of server; compare with `manager.list_append`
//! for forklore's own client and server).
//!
//! `interop.rust_client_forklore_server`: forklore's client on forklore's
//! CPython-protocol server, both in this process's run (no Python).
//!
//! Where the bench may run on two CPUs or more, every row here runs its
//! clients on the first of them and its servers on the second (threads of
//! this process through [`on_cpu`], Python processes through the script's
//! `pin`): on a 2-vCPU machine a round trip costs between about 10 and
//! 85 µs depending on where the scheduler puts the two sides, which
//! changes from one process to the next by more than the differences these
//! rows measure.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use forklore::pyproto::pickle::encode;
use forklore::pyproto::server::spawn;
use forklore::pyproto::{Handshake, PyAddress, PyConnection, PyManager, Value};

use crate::harness::{client_and_server_cpus, pin_this_thread, spin_readable, Spec};

const OPS: usize = 5_000;
const ROUNDS: usize = 3;
/// `interop.list_append` alternates the two servers in one client; more
/// rounds steady its median on a shared machine.
const PAIR_ROUNDS: usize = 7;
const KEY: &str = "bench";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/python/interop_list_append.py")
}

/// Which CPU [`on_cpu`] picks: the clients' or the servers'.
#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
}

/// Run `f` on a thread of its own that runs on `side`'s CPU (see the
/// module's notes; unpinned where fewer than two CPUs are allowed).
/// Threads that `f` starts inherit the pin.
fn on_cpu<R: Send>(side: Side, f: impl FnOnce() -> R + Send) -> R {
    let cpus = client_and_server_cpus();
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some((client, server)) = cpus {
                pin_this_thread(Some(match side {
                    Side::Client => client,
                    Side::Server => server,
                }));
            }
            f()
        })
        .join()
        .expect("the pinned thread does not panic")
    })
}

/// A forklore CPython-protocol server on a free port, started on first use
/// (on the servers' CPU).
fn lazy_forklore_server() -> impl FnMut() -> u16 {
    let mut port = None;
    move || {
        *port.get_or_insert_with(|| {
            let (addr, _stop, _thread) = on_cpu(Side::Server, || {
                spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), KEY.as_bytes(), &[]).unwrap()
            });
            match addr {
                PyAddress::Tcp(_, p) => p,
                PyAddress::Unix(_) => unreachable!("bound on TCP"),
            }
        })
    }
}

/// The floor server: the handshake, then one fixed reply per frame.
///
/// It is forklore's [`PyServer`] minus the work: the same transport (TCP
/// loopback, a thread per connection), the same socket options
/// (`TCP_NODELAY`, and the keepalive settings of `forklore::managers::tcp`),
/// and the same wait for the next request (poll for up to 50 µs, yielding
/// between polls, then sleep in `read`). Only the reply differs: the same
/// `('#RETURN', None)` pickle for every frame, nothing decoded or done.
fn lazy_fixed_reply_server() -> impl FnMut() -> u16 {
    let mut port = None;
    move || {
        *port.get_or_insert_with(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            let reply = encode(&Value::Tuple(vec![Value::str("#RETURN"), Value::None])).unwrap();
            // The accept thread starts on the servers' CPU; its connection
            // threads inherit it.
            let accept = move || {
                for s in l.incoming().flatten() {
                    let _ = s.set_nodelay(true);
                    keepalive(&s);
                    let reply = reply.clone();
                    std::thread::spawn(move || {
                        let mut c = PyConnection::new(s);
                        if c.server_handshake(KEY.as_bytes(), Handshake::default())
                            .is_err()
                        {
                            return;
                        }
                        loop {
                            spin_readable(c.get_ref());
                            if c.recv_bytes().is_err() || c.send_bytes(&reply).is_err() {
                                return;
                            }
                        }
                    });
                }
            };
            on_cpu(Side::Server, || std::thread::spawn(accept));
            p
        })
    }
}

/// `forklore::managers::tcp`'s keepalive settings, as forklore's server
/// sets them on each connection.
fn keepalive(s: &TcpStream) {
    use forklore::managers::tcp::{
        KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES, USER_TIMEOUT,
    };
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(s, sockopt::KeepAlive, &true).unwrap();
    setsockopt(s, sockopt::TcpKeepIdle, &(KEEPALIVE_IDLE.as_secs() as u32)).unwrap();
    setsockopt(
        s,
        sockopt::TcpKeepInterval,
        &(KEEPALIVE_INTERVAL.as_secs() as u32),
    )
    .unwrap();
    setsockopt(s, sockopt::TcpKeepCount, &KEEPALIVE_PROBES).unwrap();
    setsockopt(
        s,
        sockopt::TcpUserTimeout,
        &(USER_TIMEOUT.as_millis() as u32),
    )
    .unwrap();
}

/// The Python client against forklore's server and against the floor
/// server in one process (`--pair`): the seconds each took.
fn python_pair(ops: usize, port: u16, floor: u16) -> (Duration, Duration) {
    let out = Command::new("python3")
        .arg(script())
        .arg(ops.to_string())
        .arg("--pair")
        .arg(port.to_string())
        .arg(floor.to_string())
        .arg(KEY)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut secs = text
        .split_whitespace()
        .map(|t| Duration::from_secs_f64(t.parse().expect("seconds")));
    (
        secs.next().expect("two times"),
        secs.next().expect("two times"),
    )
}

/// `interop.list_append`.
///
/// The forklore and floor columns come from one Python process per round
/// that alternates batches of 500 appends between the two servers (the
/// floor closure reports the time the forklore closure's run measured for
/// it): on this 2-vCPU machine the cost of a round trip depends on which
/// CPUs the scheduler gives the client and the server thread, which
/// changes from one process to the next by more than the whole difference
/// being measured. Alternating within one process gives both servers the
/// same client, on the same CPU, at the same moment.
pub fn list_append() -> Spec<'static> {
    let mut server = lazy_forklore_server();
    let mut floor = lazy_fixed_reply_server();
    let floor_time = std::rc::Rc::new(std::cell::Cell::new(None));
    let floor_time2 = floor_time.clone();
    Spec {
        name: "interop.list_append",
        unit: "µs per call",
        ops: OPS,
        rounds: PAIR_ROUNDS,
        pinned: false,
        forklore: Box::new(move |ops| {
            let (f, r) = python_pair(ops, server(), floor());
            floor_time.set(Some(r));
            f
        }),
        floor: Some(Box::new(move |_| {
            floor_time2
                .take()
                .expect("the forklore closure runs first in each round")
        })),
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
        pinned: false,
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
            on_cpu(Side::Client, || rust_client_appends(&m, ops))
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
        pinned: false,
        forklore: Box::new(move |ops| {
            let port = server();
            let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), port), KEY.as_bytes())
                .unwrap();
            on_cpu(Side::Client, || rust_client_appends(&m, ops))
        }),
        floor: None,
        python: None,
    }
}

/// `ops` appends by forklore's [`PyManager`] client to a new list (one
/// untimed first): the time they took.
fn rust_client_appends(m: &PyManager, ops: usize) -> Duration {
    let li = m.list::<u64>(&[]).unwrap();
    li.append(0).unwrap();
    let t = Instant::now();
    for i in 0..ops as u64 {
        li.append(i).unwrap();
    }
    let d = t.elapsed();
    assert_eq!(li.len().unwrap(), ops + 1);
    d
}
