//! Hostile tests of one listener serving both dialects
//! (`pyproto::server` + `managers::Hosted`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use forklore::connection::{answer_challenge, deliver_challenge, Connection};
use forklore::managers::protocol::{RemoteError, Reply, Request};
use forklore::managers::{Address, Manager};
use forklore::pyproto::server::spawn;
use forklore::pyproto::PyAddress;

fn tcp(port: u16) -> Address {
    Address::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn tcp_port(addr: &PyAddress) -> u16 {
    match addr {
        PyAddress::Tcp(_, p) => *p,
        PyAddress::Unix(_) => unreachable!("bound on TCP"),
    }
}

/// A forklore client's `Request::Shutdown` to the hosted server on
/// `port`, sent on a connection of its own and answered with `Unit`
/// (also used by `dialects`).
pub(crate) fn raw_shutdown(port: u16) {
    let mut conn = Connection::from(TcpStream::connect(("127.0.0.1", port)).unwrap());
    answer_challenge(&mut conn, b"k").unwrap();
    deliver_challenge(&mut conn, b"k").unwrap();
    conn.send(&Request::Shutdown).unwrap();
    let r: Result<Reply, RemoteError> = conn.recv().unwrap();
    assert!(matches!(r, Ok(Reply::Unit)), "{r:?}");
}

/// On a forked Manager server a `shutdown` ends the server process, so a
/// client blocked in `q.get()` gets `ManagerGone`. On the hosted server the
/// shutdown only stops the accept loop: the connection threads of forklore
/// clients go on, and a blocked `get` waits for ever (nobody can put any
/// more: new connections are refused).
#[test]
fn a_blocked_forklore_get_ends_when_the_hosted_server_shuts_down() {
    let (addr, _stop, thread) = spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), b"k", &[]).unwrap();
    let port = tcp_port(&addr);
    let m = Manager::connect(tcp(port), b"k").unwrap();
    let q = m.queue::<i64>().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = q.get();
        let _ = tx.send(r.map_err(|e| (e.is_manager_gone(), e.to_string())));
    });
    std::thread::sleep(Duration::from_millis(300));
    raw_shutdown(port);
    thread.join().unwrap().unwrap();
    let r = rx.recv_timeout(Duration::from_secs(10));
    assert!(
        matches!(r, Ok(Err((true, _)))),
        "a get blocked on a shut-down server: {r:?} (expected ManagerGone, as on a forked server)"
    );
}

/// After a forklore shutdown, an existing forklore client's calls should
/// fail as they do on a forked Manager server (`ManagerGone`); on the
/// hosted server they go on being served by a server that was shut down.
#[test]
fn existing_forklore_proxies_fail_after_the_hosted_server_shuts_down() {
    let (addr, _stop, thread) = spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), b"k", &[]).unwrap();
    let port = tcp_port(&addr);
    let m = Manager::connect(tcp(port), b"k").unwrap();
    let li = m.list::<i64>().unwrap();
    li.append(1).unwrap();
    raw_shutdown(port);
    thread.join().unwrap().unwrap();
    let r = li.append(2);
    assert!(
        r.as_ref().is_err_and(|e| e.is_manager_gone()),
        "append on a shut-down server: {r:?} (len now {:?})",
        li.len()
    );
}

/// A peer that passes the handshake, writes three bytes of a frame's length
/// and then closes its writing side: the server's dialect peek (`recv` with
/// `MSG_PEEK`) returns those three bytes again and again and never the 0 of
/// an end of stream, so the connection thread polls every millisecond for
/// the whole first-request timeout (30 s) instead of dropping the peer at
/// once, as it drops one that closed having sent nothing.
#[test]
fn a_partial_header_then_end_of_stream_is_dropped_at_once() {
    let dir = std::env::temp_dir().join(format!("forklore-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sock");
    let (uaddr, ustop, uthread) = spawn(&PyAddress::Unix(path.clone()), b"k", &[]).unwrap();
    let (taddr, tstop, tthread) = spawn(&PyAddress::Tcp("127.0.0.1".into(), 0), b"k", &[]).unwrap();
    let _ = uaddr;
    let port = tcp_port(&taddr);
    let check = |name: &str, raw: &mut dyn Read, finish: &dyn Fn()| {
        finish();
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let r = raw.read(&mut buf);
        // Dropped: end of stream, or (a Unix socket closed with bytes
        // unread in it) a reset; held, the read times out after 3 s.
        let dropped = matches!(r, Ok(0))
            || r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset);
        assert!(
            dropped && start.elapsed() < Duration::from_secs(2),
            "{name}: the server still held the connection {:?} after the peer ended \
             its stream on a partial header: {r:?}",
            start.elapsed()
        );
    };
    {
        let raw = UnixStream::connect(&path).unwrap();
        let mut conn = Connection::from(raw.try_clone().unwrap());
        answer_challenge(&mut conn, b"k").unwrap();
        deliver_challenge(&mut conn, b"k").unwrap();
        let mut w = raw.try_clone().unwrap();
        w.write_all(&[0, 0, 0]).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut r = raw.try_clone().unwrap();
        check("unix", &mut r, &|| raw.shutdown(Shutdown::Write).unwrap());
    }
    {
        let raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut conn = Connection::from(raw.try_clone().unwrap());
        answer_challenge(&mut conn, b"k").unwrap();
        deliver_challenge(&mut conn, b"k").unwrap();
        let mut w = raw.try_clone().unwrap();
        w.write_all(&[0, 0, 0]).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut r = raw.try_clone().unwrap();
        check("tcp", &mut r, &|| raw.shutdown(Shutdown::Write).unwrap());
    }
    ustop.shutdown();
    tstop.shutdown();
    uthread.join().unwrap().unwrap();
    tthread.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
