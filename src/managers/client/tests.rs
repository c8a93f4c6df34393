//! How the client connects, and how transport failures are reported.

use super::*;
use std::io;

fn io(source: io::Error) -> Error {
    Error::Io { op: "recv", source }
}

/// Every way a TCP (or Unix) transport can fail once the manager or
/// the link to its host is gone ends as ManagerGone or
/// ManagerUnreachable, whichever call the client was making.
#[test]
fn a_unix_connect_with_a_timeout_gives_up_on_a_full_listen_queue() {
    use nix::sys::socket::{
        bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
    };
    let dir = std::env::temp_dir().join(format!("forklore-connect-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s");
    // A listener that never accepts, with the smallest queue.
    let l = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&l),
        &UnixAddr::new(&path).unwrap(),
    )
    .unwrap();
    listen(&l, Backlog::new(0).unwrap()).unwrap();
    let timeout = std::time::Duration::from_millis(200);
    // Fill the queue (a blocking connect would now hang for ever).
    let mut held = Vec::new();
    let t = std::time::Instant::now();
    let err = loop {
        match connect_unix(&path, Some(timeout)) {
            Ok(s) => held.push(s),
            Err(e) => break e,
        }
        assert!(held.len() < 64, "the listen queue never filled");
    };
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    assert!(
        err.to_string().contains("listen queue stayed full"),
        "{err}"
    );
    assert!(t.elapsed() >= timeout && t.elapsed() < 10 * timeout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_transport_failure_is_manager_gone() {
    let gone_errnos = [
        libc::EPIPE,
        libc::ECONNRESET,
        libc::ECONNABORTED,
        libc::ECONNREFUSED,
        libc::ENOTCONN,
        libc::ENOENT,
    ];
    let unreachable_errnos = [
        libc::ETIMEDOUT,
        libc::EHOSTUNREACH,
        libc::ENETUNREACH,
        libc::ENETDOWN,
        libc::EHOSTDOWN,
        libc::ENONET,
    ];
    for op in ["connect", "handshake", "send", "recv"] {
        for errno in gone_errnos {
            let e = gone(op)(io(io::Error::from_raw_os_error(errno)));
            assert!(
                matches!(e, Error::ManagerGone { op: o } if o == op),
                "{errno}: {e:?}"
            );
        }
        for errno in unreachable_errnos {
            let e = gone(op)(io(io::Error::from_raw_os_error(errno)));
            assert!(
                matches!(e, Error::ManagerUnreachable { op: o, .. } if o == op),
                "{errno}: {e:?}"
            );
            assert!(e.to_string().starts_with("manager unreachable: "), "{e}");
        }
        // std's connect_timeout reports its own timeout without an errno.
        let e = gone(op)(io(io::Error::new(io::ErrorKind::TimedOut, "timed out")));
        assert!(e.is_manager_gone(), "{e:?}");
        for e in [
            Error::Closed,
            Error::Truncated {
                expected: 10,
                got: 3,
            },
        ] {
            let e = gone(op)(e);
            assert!(matches!(e, Error::ManagerGone { .. }), "{e:?}");
            assert!(e.to_string().starts_with("manager gone: "), "{e}");
        }
    }
    // What is not a transport failure is left as it is.
    let e = gone("recv")(Error::Decode("bad".into()));
    assert!(matches!(e, Error::Decode(_)), "{e:?}");
}

/// A handshake whose read timed out is a Timeout while the peer's host
/// answers (a mute process), ManagerUnreachable once it went silent.
#[test]
fn a_handshake_timeout_on_a_live_host_stays_a_timeout() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    super::super::tcp::configure(&s).unwrap();
    let silent = super::super::tcp::silent_for(&s).expect("TCP_INFO");
    assert!(silent < super::super::tcp::SILENT_HOST, "{silent:?}");
    let live = Error::Timeout {
        op: "the manager's handshake",
        after: super::super::tcp::HANDSHAKE_TIMEOUT,
    };
    let e = super::super::tcp::read_timed_out(&s, "handshake", live);
    assert!(e.is_timeout() && !e.is_manager_gone(), "{e:?}");
}

/// A server that refuses `Request::Arena` (one older than it, which cannot
/// decode it) makes no arena: the bulk request that prompted the ask must
/// still be sent and answered, over the socket alone.
#[test]
fn a_refused_arena_request_does_not_fail_the_call() {
    use super::super::datum::Datum;
    use super::super::protocol::{ListOp, Method, RemoteError};
    let (mut client, mut server) = crate::connection::pipe().unwrap();
    let srv = std::thread::spawn(move || {
        // The ask, refused as an undecodable request is.
        server.recv_bytes()?;
        server.send(&Err::<Reply, _>(RemoteError::Refused(
            "bad input: could not decode message".into(),
        )))?;
        // The bulk request itself, answered.
        let req = server.recv_bytes()?;
        server.send(&Ok::<Reply, RemoteError>(Reply::Unit))?;
        Ok::<usize, Error>(req.len())
    });
    let req = Request::Call(
        1,
        Method::List(ListOp::Extend(Datum::Bytes(vec![7; 100_000]))),
    );
    let r = exchange(&mut client, &mut encode(&req).unwrap());
    drop(client);
    assert!(matches!(r, Ok(Ok(Reply::Unit))), "{r:?}");
    assert!(srv.join().unwrap().unwrap() > 100_000);
}
