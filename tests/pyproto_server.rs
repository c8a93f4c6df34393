//! `forklore-manager` and [`PyServer`] serving real CPython 3.11/3.12/3.13
//! clients, and forklore clients, on the same objects.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use forklore::pyproto::server::spawn;
use forklore::pyproto::{Handshake, PyAddress, PyConnection, PyManager, PyServer};
use forklore::Error;

use crate::cpython::{pythons, CpythonServer, DIR};

/// A `forklore-manager serve` child on a free port; killed and reaped on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
    out: BufReader<std::process::ChildStdout>,
}

impl Server {
    pub(crate) fn start(key: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(crate::common::exe("forklore-manager"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--queue",
                "get_task_queue",
                "--queue",
                "get_result_queue",
            ])
            .args(extra)
            .env("FORKLORE_AUTHKEY", key)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("serving on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("server printed {line:?}"));
        Server { child, port, out }
    }
    pub(crate) fn addr(&self) -> PyAddress {
        PyAddress::Tcp("127.0.0.1".into(), self.port)
    }
    /// Waits for the server to exit; its status and the rest of its output.
    pub(crate) fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).unwrap();
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_py(py: &PathBuf, script: &str, port: u16, key: &str) -> (bool, String) {
    let out = Command::new(py)
        .arg(format!("{DIR}/{script}"))
        .arg(port.to_string())
        .arg(key)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_cpython_syncmanager_client_passes_its_checks_against_forklore_manager() {
    let pys = pythons();
    let srv = Server::start("k3y", &[]);
    for (ver, py) in &pys {
        let (ok, text) = run_py(py, "sync_client.py", srv.port, "k3y");
        assert!(
            ok && text.contains("all ok"),
            "CPython {ver} against forklore-manager:\n{text}"
        );
    }
}

#[test]
fn the_same_checks_pass_against_cpythons_own_server() {
    // The checks are CPython's behaviour, not forklore's: each version's own
    // server passes them too.
    for (ver, py) in pythons() {
        let srv = CpythonServer::start(&py, "k3y");
        let (ok, text) = run_py(&py, "sync_client.py", srv.port, "k3y");
        drop(srv);
        assert!(
            ok && text.contains("all ok"),
            "CPython {ver} against its own server:\n{text}"
        );
    }
}

#[test]
fn classic_python_workers_serve_a_forklore_client_on_forklore_manager() {
    let pys = pythons();
    let srv = Server::start("k3y", &[]);
    let m = PyManager::connect(srv.addr(), b"k3y").unwrap();
    let tasks = m.named_queue::<i64>("get_task_queue").unwrap();
    let results = m.named_queue::<String>("get_result_queue").unwrap();
    let n = 10;
    for k in 0..n {
        tasks.put(k).unwrap();
    }
    // Python workers of every version drain the queue together.
    let workers: Vec<Child> = pys
        .iter()
        .map(|(_, py)| {
            Command::new(py)
                .arg(format!("{DIR}/classic_worker.py"))
                .arg(srv.port.to_string())
                .arg("k3y")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut got: Vec<String> = (0..n)
        .map(|_| results.get_timeout(Duration::from_secs(60)).unwrap())
        .collect();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success());
    }
    got.sort();
    let mut want: Vec<String> = (0..n).map(|k| format!("{k} * {k} = {}", k * k)).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(matches!(tasks.get_nowait(), Err(Error::QueueEmpty)));
}

#[test]
fn a_python_client_killed_mid_call_leaves_the_server_serving_others() {
    let pys = pythons();
    let Some((_, py)) = pys.first() else {
        eprintln!("skipping: no CPython 3.11+ on this machine");
        return;
    };
    let srv = Server::start("k3y", &[]);
    let mut blocked = Command::new(py)
        .arg(format!("{DIR}/block_forever.py"))
        .arg(srv.port.to_string())
        .arg("k3y")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(blocked.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "blocking");
    blocked.kill().unwrap();
    blocked.wait().unwrap();

    // A client that dies in the middle of sending a frame.
    let mut raw = PyConnection::new(std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap());
    raw.client_handshake(b"k3y", Handshake::default()).unwrap();
    let mut s = raw.get_ref().try_clone().unwrap();
    s.write_all(&1000i32.to_be_bytes()).unwrap();
    s.write_all(b"\x80\x04partial").unwrap();
    drop(s);
    drop(raw);

    // Everyone else is still served.
    let (ok, text) = run_py(py, "sync_client.py", srv.port, "k3y");
    assert!(ok && text.contains("all ok"), "{text}");
    let m = PyManager::connect(srv.addr(), b"k3y").unwrap();
    let l = m.list::<i64>(&[1]).unwrap();
    l.append(2).unwrap();
    assert_eq!(l.to_vec().unwrap(), vec![1, 2]);
}

#[test]
fn a_wrong_key_fails_on_both_sides_and_the_server_goes_on() {
    let srv = Server::start("right", &[]);
    // forklore client, wrong key.
    assert!(matches!(
        PyManager::connect(srv.addr(), b"wrong"),
        Err(Error::AuthenticationFailed { .. })
    ));
    // CPython clients, wrong key: sync_client.py's last check connects with
    // a wrong key and expects AuthenticationError, after passing with the
    // right one.
    for (ver, py) in pythons() {
        let (ok, text) = run_py(&py, "sync_client.py", srv.port, "right");
        assert!(
            ok && text.contains("ok wrong key -> AuthenticationError"),
            "{ver}: {text}"
        );
    }
    PyManager::connect(srv.addr(), b"right").unwrap();
}

#[test]
fn no_md5_refuses_cpython_311_and_serves_312() {
    let srv = Server::start("k3y", &["--no-md5"]);
    for (ver, py) in pythons() {
        let (ok, text) = run_py(&py, "classic_worker.py", srv.port, "k3y");
        if ver == "3.11" {
            assert!(!ok && text.contains("AuthenticationError"), "{ver}: {text}");
        } else {
            assert!(ok, "{ver}: {text}");
        }
    }
}

#[test]
fn a_client_shutdown_and_sigterm_stop_forklore_manager_cleanly() {
    let srv = Server::start("k3y", &[]);
    PyManager::connect(srv.addr(), b"k3y")
        .unwrap()
        .shutdown()
        .unwrap();
    let (status, rest) = srv.wait();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest.trim(), "shut down");

    let srv = Server::start("k3y", &[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(srv.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (status, rest) = srv.wait();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest.trim(), "shut down");
}

#[test]
fn the_authkey_never_comes_from_argv_and_a_readable_key_file_is_refused() {
    let out = Command::new(crate::common::exe("forklore-manager"))
        .args(["serve", "--bind", "127.0.0.1:0", "--authkey", "x"])
        .env_remove("FORKLORE_AUTHKEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never taken from the command line"));

    let out = Command::new(crate::common::exe("forklore-manager"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("FORKLORE_AUTHKEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no authkey"));

    let dir = std::env::temp_dir().join(format!("forklore-keyfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key");
    std::fs::write(&key, "filekey\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(crate::common::exe("forklore-manager"))
        .args(["serve", "--bind", "127.0.0.1:0", "--authkey-file"])
        .arg(&key)
        .env_remove("FORKLORE_AUTHKEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = Command::new(crate::common::exe("forklore-manager"))
        .args(["serve", "--bind", "127.0.0.1:0", "--authkey-file"])
        .arg(&key)
        .env_remove("FORKLORE_AUTHKEY")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), port), b"filekey").unwrap();
    m.shutdown().unwrap();
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn forklore_clients_share_objects_on_an_in_process_server() {
    let (addr, stop, thread) = spawn(
        &PyAddress::Tcp("127.0.0.1".into(), 0),
        b"k",
        &[("get_task_queue", "Queue"), ("shared", "dict")],
    )
    .unwrap();
    let a = PyManager::connect(addr.clone(), b"k").unwrap();
    let b = PyManager::connect(addr.clone(), b"k").unwrap();
    let qa = a.named_queue::<(i64, String)>("get_task_queue").unwrap();
    let qb = b.named_queue::<(i64, String)>("get_task_queue").unwrap();
    qa.put(&(1, "one".into())).unwrap();
    assert_eq!(qb.get().unwrap(), (1, "one".to_string()));
    let da = a.create("shared", vec![], vec![]).unwrap();
    let db = b.create("shared", vec![], vec![]).unwrap();
    assert_eq!(da.token().id, db.token().id);
    assert!(matches!(qb.get_nowait(), Err(Error::QueueEmpty)));
    // Objects are freed when the last proxy goes; named ones stay registered.
    let l = a.list(&["x"]).unwrap();
    let n = a.number_of_objects().unwrap();
    drop(l);
    assert_eq!(a.number_of_objects().unwrap(), n - 1);
    stop.shutdown();
    thread.join().unwrap().unwrap();
    assert!(matches!(
        PyManager::connect(addr, b"k"),
        Err(Error::ManagerGone { .. })
    ));
}

#[test]
fn an_in_process_server_refuses_a_wrong_key_and_unknown_typeids() {
    let mut s = PyServer::bind(&PyAddress::Tcp("127.0.0.1".into(), 0), b"k").unwrap();
    assert!(matches!(
        s.register("q", "Pool"),
        Err(Error::InvalidArgument(_))
    ));
    s.register("q", "Queue").unwrap();
    assert!(matches!(
        s.register("q", "list"),
        Err(Error::InvalidArgument(_))
    ));
    let addr = s.address().clone();
    let stop = s.shutdown_handle();
    let t = std::thread::spawn(move || s.serve_forever());
    assert!(matches!(
        PyManager::connect(addr.clone(), b"nope"),
        Err(Error::AuthenticationFailed { .. })
    ));
    let m = PyManager::connect(addr, b"k").unwrap();
    match m.create("Pool", vec![], vec![]) {
        Err(Error::PythonException { type_name, message }) => {
            assert_eq!(type_name, "multiprocessing.managers.RemoteError");
            assert!(message.contains("KeyError: 'Pool'"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    stop.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn garbage_and_oversized_frames_cost_their_sender_only() {
    let (addr, stop, thread) = spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), b"k", &[]).unwrap();
    let PyAddress::Tcp(_, port) = addr.clone() else {
        unreachable!()
    };
    let open = || {
        let mut c = PyConnection::new(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        c.client_handshake(b"k", Handshake::default()).unwrap();
        c
    };
    let m = PyManager::connect(addr.clone(), b"k").unwrap();
    let l = m.list::<i64>(&[1]).unwrap();
    let id = l.0.token().id.clone();

    // After accept_connection: a frame that is not a pickle gets a
    // '#TRACEBACK' and the connection goes on.
    let mut c = open();
    let accept = |c: &mut PyConnection<std::net::TcpStream>| {
        c.send(&forklore::pyproto::Value::Tuple(vec![
            forklore::pyproto::Value::None,
            forklore::pyproto::Value::str("accept_connection"),
            forklore::pyproto::Value::Tuple(vec![forklore::pyproto::Value::str("t")]),
            forklore::pyproto::Value::Dict(vec![]),
        ]))
        .unwrap();
        c.recv().unwrap();
    };
    accept(&mut c);
    c.send_bytes(b"\x80\x04not a pickle").unwrap();
    let r = c.recv().unwrap();
    assert_eq!(
        r.as_seq().unwrap()[0],
        forklore::pyproto::Value::str("#TRACEBACK")
    );
    use forklore::pyproto::Value as V;
    c.send(&V::Tuple(vec![
        V::str(&id),
        V::str("__len__"),
        V::Tuple(vec![]),
        V::Dict(vec![]),
    ]))
    .unwrap();
    assert_eq!(
        c.recv().unwrap(),
        V::Tuple(vec![V::str("#RETURN"), V::Int(1)])
    );
    // A method outside the exposed list is refused, as CPython refuses it.
    c.send(&V::Tuple(vec![
        V::str(&id),
        V::str("__class__"),
        V::Tuple(vec![]),
        V::Dict(vec![]),
    ]))
    .unwrap();
    let r = c.recv().unwrap();
    assert_eq!(r.as_seq().unwrap()[0], V::str("#TRACEBACK"));

    // A frame header announcing 3 GB: the server allocates nothing and drops
    // that connection.
    let mut big = open();
    accept(&mut big);
    let s = big.get_ref();
    (&*s).write_all(&(-1i32).to_be_bytes()).unwrap();
    (&*s).write_all(&(3u64 << 30).to_be_bytes()).unwrap();
    assert!(matches!(big.recv(), Err(Error::Closed)));

    // A handshake reply longer than CPython's 256-byte limit is refused.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut hdr = [0u8; 4];
    raw.read_exact(&mut hdr).unwrap();
    let mut chal = vec![0u8; i32::from_be_bytes(hdr) as usize];
    raw.read_exact(&mut chal).unwrap();
    raw.write_all(&1000i32.to_be_bytes()).unwrap();
    raw.write_all(&[0u8; 1000]).unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert!(!rest.windows(9).any(|w| w == b"#WELCOME#"));

    // Everyone else is still served.
    l.append(2).unwrap();
    assert_eq!(l.to_vec().unwrap(), vec![1, 2]);
    stop.shutdown();
    thread.join().unwrap().unwrap();
}

#[test]
fn python_and_forklore_clients_share_a_dict_on_a_unix_socket() {
    let pys = pythons();
    let Some((_, py)) = pys.first() else {
        eprintln!("skipping: no CPython 3.11+ on this machine");
        return;
    };
    let dir = std::env::temp_dir().join(format!("forklore-pysrv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sock");
    let mut child = Command::new(crate::common::exe("forklore-manager"))
        .args(["serve", "--unix"])
        .arg(&path)
        .args(["--object", "get_shared=dict"])
        .env("FORKLORE_AUTHKEY", "k")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("serving on"), "{line}");
    let m = PyManager::connect(PyAddress::Unix(path.clone()), b"k").unwrap();
    let d = m.create("get_shared", vec![], vec![]).unwrap();
    use forklore::pyproto::Value as V;
    d.call("__setitem__", vec![V::str("from rust"), V::Int(1)])
        .unwrap();
    let script = "import sys\nfrom multiprocessing.managers import SyncManager, DictProxy\n\
                  class M(SyncManager): pass\nM.register('get_shared', proxytype=DictProxy)\n\
                  m = M(address=sys.argv[1], authkey=b'k')\nm.connect()\nd = m.get_shared()\n\
                  assert d['from rust'] == 1\nd['from python'] = [2.5, None]\nprint('ok')\n";
    let out = Command::new(py)
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.call("__getitem__", vec![V::str("from python")]).unwrap(),
        V::List(vec![V::Float(2.5), V::None])
    );
    m.shutdown().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!path.exists(), "the socket file is removed on shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Chapter 19's master role, as the library offers it: a server thread with
/// the two named queues, and the master's own client of them.
#[test]
fn an_in_process_master_serves_classic_cpython_workers() {
    let (addr, stop, thread) = spawn(
        &PyAddress::Tcp("127.0.0.1".into(), 0),
        b"k3y",
        &[("get_task_queue", "Queue"), ("get_result_queue", "Queue")],
    )
    .unwrap();
    let PyAddress::Tcp(_, port) = addr.clone() else {
        unreachable!()
    };
    let m = PyManager::connect(addr, b"k3y").unwrap();
    let tasks = m.named_queue::<i64>("get_task_queue").unwrap();
    let results = m.named_queue::<String>("get_result_queue").unwrap();
    for n in 1..=6 {
        tasks.put(n).unwrap();
    }
    // The workers announce nothing; they just connect and drain the queue.
    let Some((_, py)) = pythons().into_iter().next() else {
        eprintln!("skipping: no CPython 3.11+ on this machine");
        return;
    };
    let py = &py;
    let (ok, text) = run_py(py, "classic_worker.py", port, "k3y");
    assert!(ok && text.contains("worker done 6"), "{text}");
    let mut got: Vec<String> = (0..6).map(|_| results.get_nowait().unwrap()).collect();
    got.sort();
    let mut want: Vec<String> = (1..=6)
        .map(|n: i64| format!("{n} * {n} = {}", n * n))
        .collect();
    want.sort();
    assert_eq!(got, want);
    stop.shutdown();
    thread.join().unwrap().unwrap();
}

#[test]
fn values_beyond_the_plain_types_pass_through_unchanged() {
    let srv = Server::start("k3y", &[]);
    for (ver, py) in pythons() {
        let (ok, text) = run_py(&py, "exotic_values.py", srv.port, "k3y");
        assert!(ok, "CPython {ver}:\n{text}");
    }
}

#[test]
fn a_forked_child_dropping_its_copy_of_a_proxy_does_not_free_the_parents_object() {
    let srv = Server::start("k3y", &[]);
    let out = Command::new(crate::common::exe("fx_pyproto"))
        .args(["child-drops", &srv.port.to_string(), "k3y"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child took a reference of its own on its first call and gave it
    // back when its copy was dropped: once the
    // parent's proxy is gone, so is the list (the named queues were never
    // created, so nothing else is counted).
    assert_eq!(text, "child_exit=0\nparent_sees=[0, 1]\nobjects_left=0\n");
}

#[test]
fn a_forked_child_keeps_the_object_alive_after_the_parent_drops_its_proxy() {
    let srv = Server::start("k3y", &[]);
    let out = Command::new(crate::common::exe("fx_pyproto"))
        .args(["parent-drops", &srv.port.to_string(), "k3y"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "child_sees=[0, 1, 2]\nchild_exit=0\n");
    let m = PyManager::connect(srv.addr(), b"k3y").unwrap();
    // The child's own reference went with it: the list is freed.
    assert_eq!(m.number_of_objects().unwrap(), 0);
}

#[test]
fn each_thread_is_its_own_caller_for_an_rlock_proxy_shared_between_threads() {
    // As in CPython, where each thread has its own connection: an RLock
    // held by one thread is not re-entered by another thread that uses the
    // same proxy.
    let (addr, stop, thread) = spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), b"k", &[]).unwrap();
    let m = PyManager::connect(addr, b"k").unwrap();
    let rl = std::sync::Arc::new(m.acquirer("RLock", vec![]).unwrap());
    rl.acquire().unwrap();
    let other = rl.clone();
    let got = std::thread::spawn(move || other.try_acquire().unwrap())
        .join()
        .unwrap();
    assert!(!got, "another thread re-entered this thread's RLock");
    rl.release().unwrap();
    let other = rl.clone();
    let released = std::thread::spawn(move || other.release()).join().unwrap();
    assert!(
        matches!(&released, Err(Error::PythonException { type_name, .. }) if type_name == "builtins.RuntimeError"),
        "{released:?}"
    );
    drop(rl);
    stop.shutdown();
    thread.join().unwrap().unwrap();
}

/// Both ends of a forklore client's connection to `forklore-manager` probe
/// an idle link with TCP keepalive (`ss` shows the timer), so that either
/// side notices a peer whose host vanished.
#[test]
fn both_ends_of_a_tcp_connection_run_keepalive() {
    if Command::new("ss").arg("-V").output().is_err() {
        eprintln!("skipping: no `ss` (iproute2) to read the sockets' timers");
        return;
    }
    let srv = Server::start("ka", &[]);
    let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), srv.port), b"ka").unwrap();
    let l = m.list::<i64>(&[]).unwrap();
    // The proxy's connection stays open after the call.
    l.append(1).unwrap();
    let p = format!(":{}", srv.port);
    let ss = || {
        let out = Command::new("ss")
            .args(["-tnoH", "state", "established"])
            .args(["(", "sport", "=", &p, "or", "dport", "=", &p, ")"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Right after a reply, its end shows the retransmission timer until the
    // acknowledgement comes; an idle end shows keepalive.
    let idle = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines.len() == 2 && lines.iter().all(|l| l.contains("timer:(keepalive,"))
    };
    let start = std::time::Instant::now();
    let mut text = ss();
    while !idle(&text) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        text = ss();
    }
    assert!(idle(&text), "the client's end and the server's:\n{text}");
    drop(l);
}
