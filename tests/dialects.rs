//! One listener, both dialects: `forklore-manager` (and the in-process
//! [`PyServer`](forklore::pyproto::PyServer)) serve forklore's own
//! [`Manager`] clients on the same port as CPython's clients, told apart by
//! their first request after the handshake.

use std::net::SocketAddr;
use std::process::Command;

use forklore::connection::{answer_challenge, deliver_challenge, Connection};
use forklore::managers::protocol::{RemoteError, Reply, Request};
use forklore::managers::{Address, Manager};
use forklore::pyproto::server::spawn;
use forklore::pyproto::{PyAddress, PyManager};

use crate::cpython::pythons;
use crate::pyproto_server::Server;

fn tcp(port: u16) -> Address {
    Address::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A CPython client of the two named queues: takes the ints put there, puts
/// back `n * n` for each (the classic worker, without its timeout), and
/// makes a list of its own.
const WORKER: &str = "import sys, queue
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_task_queue'); M.register('get_result_queue')
m = M(address=('127.0.0.1', int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
tasks, results = m.get_task_queue(), m.get_result_queue()
while True:
    try:
        n = tasks.get(timeout=1)
    except queue.Empty:
        break
    results.put(n * n)
print('done')
";

#[test]
fn one_forklore_manager_port_serves_forklore_and_cpython_clients() {
    let pys = pythons();
    if pys.is_empty() {
        eprintln!("skipping the CPython half: no CPython 3.11+ on this machine");
    }
    let srv = Server::start("k3y", &[]);
    // forklore's own dialect: typed proxies, bulk values, on the same port.
    let m = Manager::connect(tcp(srv.port), b"k3y").unwrap();
    let li = m.list::<i64>().unwrap();
    li.extend(0..1_000_000).unwrap();
    let d = m.dict::<String, Vec<u8>>().unwrap();
    d.set("blob".to_string(), vec![7u8; 100_000]).unwrap();
    // CPython's dialect, from Rust and from each CPython, meanwhile.
    let py = PyManager::connect(srv.addr(), b"k3y").unwrap();
    let tasks = py.named_queue::<i64>("get_task_queue").unwrap();
    let results = py.named_queue::<i64>("get_result_queue").unwrap();
    for (version, python) in &pys {
        for n in 1..=3 {
            tasks.put(n).unwrap();
        }
        let out = Command::new(python)
            .args(["-c", WORKER, &srv.port.to_string(), "k3y"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "CPython {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: Vec<i64> = (0..3).map(|_| results.get().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 4, 9], "CPython {version}");
    }
    // The forklore objects are whole, and the two stores are apart: the
    // forklore client sees its two objects only.
    assert_eq!(li.len().unwrap(), 1_000_000);
    assert_eq!(li.to_vec().unwrap(), (0..1_000_000).collect::<Vec<i64>>());
    assert_eq!(d.get(&"blob".to_string()).unwrap().unwrap().len(), 100_000);
    assert_eq!(m.object_count().unwrap(), 2);
    // A wrong key fails in forklore's dialect as in CPython's.
    assert!(Manager::connect(tcp(srv.port), b"wrong")
        .unwrap_err()
        .is_authentication_failed());
    assert!(PyManager::connect(srv.addr(), b"wrong")
        .unwrap_err()
        .is_authentication_failed());
    // And the server still serves both.
    li.append(-1).unwrap();
    assert_eq!(li.get(-1).unwrap(), -1);
    tasks.put(5).unwrap();
    assert_eq!(tasks.get().unwrap(), 5);
    py.shutdown().unwrap();
    let (status, rest) = srv.wait();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest.trim(), "shut down");
}

/// forklore's `shutdown` request, sent to a server that lives in this test
/// process, stops that server and leaves the process running (on a forked
/// Manager server the same request ends the server's process).
#[test]
fn a_forklore_shutdown_stops_the_hosted_server_and_not_its_process() {
    let (addr, _stop, thread) = spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), b"k", &[]).unwrap();
    let PyAddress::Tcp(_, port) = addr else {
        unreachable!("bound on TCP")
    };
    crate::hostile_dialects::raw_shutdown(port);
    thread.join().unwrap().unwrap();
    assert!(Manager::connect(tcp(port), b"k")
        .unwrap_err()
        .is_manager_gone());
}

/// Over a Unix socket too (the socket buffers widened for bulk values, as
/// on the Manager's own server).
#[test]
fn both_dialects_share_a_unix_socket_listener() {
    let dir = std::env::temp_dir().join(format!("forklore-dialects-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sock");
    let (addr, stop, thread) =
        spawn(&PyAddress::Unix(path.clone()), b"k", &[("shared", "dict")]).unwrap();
    let m = Manager::connect(Address::Unix(path.clone()), b"k").unwrap();
    let q = m.queue::<String>().unwrap();
    q.put("forklore".to_string()).unwrap();
    let py = PyManager::connect(addr, b"k").unwrap();
    let shared = py.create("shared", vec![], vec![]).unwrap();
    use forklore::pyproto::Value as V;
    shared
        .call("__setitem__", vec![V::str("k"), V::Int(1)])
        .unwrap();
    assert_eq!(q.get().unwrap(), "forklore");
    assert_eq!(
        shared.call("__getitem__", vec![V::str("k")]).unwrap(),
        V::Int(1)
    );
    drop((q, shared, py, m));
    stop.shutdown();
    thread.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A forklore request whose length and body arrive in two writes on a Unix
/// socket (where a peek returns what one write brought) still goes to
/// forklore's server, and is answered.
#[test]
fn a_forklore_request_written_in_parts_is_still_told_apart() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let dir = std::env::temp_dir().join(format!("forklore-parts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sock");
    let (_, stop, thread) = spawn(&PyAddress::Unix(path.clone()), b"k", &[]).unwrap();
    // The frame forklore's client would write for `ObjectCount`.
    let (a, mut b) = UnixStream::pair().unwrap();
    Connection::from(a).send(&Request::ObjectCount).unwrap();
    let mut len = [0u8; 4];
    b.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    b.read_exact(&mut body).unwrap();

    let mut raw = UnixStream::connect(&path).unwrap();
    let mut conn = Connection::from(raw.try_clone().unwrap());
    answer_challenge(&mut conn, b"k").unwrap();
    deliver_challenge(&mut conn, b"k").unwrap();
    raw.write_all(&len).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    raw.write_all(&body).unwrap();
    let r: Result<Reply, RemoteError> = conn.recv().unwrap();
    assert!(matches!(r, Ok(Reply::Size(0))), "{r:?}");
    drop((conn, raw));
    stop.shutdown();
    thread.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
