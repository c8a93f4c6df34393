//! Reviewer's checks of the pyproto client's connection reuse: a reply the
//! client could not read whole must not leave its connection in the pool.

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use forklore::pyproto::pickle::encode;
use forklore::pyproto::{Handshake, PyAddress, PyConnection, PyManager, Value};

const KEY: &[u8] = b"review";

/// A frame as CPython writes it: a 4-byte big-endian length, the payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

fn ret(v: Value) -> Value {
    Value::Tuple(vec![Value::str("#RETURN"), v])
}

/// One connection of a fake CPython manager server: it answers the public
/// calls a `PyManager` and a `PyProxy` make, and answers the method `big`
/// with a header announcing a reply one byte over the client's limit,
/// followed at once by a whole, well-formed frame whose reply is
/// `"forged"` (bytes a hostile or simply large reply's body could hold).
/// Any other method gets `"real"`.
fn serve(stream: TcpStream) {
    let mut raw = stream.try_clone().unwrap();
    let mut c = PyConnection::new(stream);
    if c.server_handshake(KEY, Handshake::default()).is_err() {
        return;
    }
    while let Ok(req) = c.recv() {
        let Value::Tuple(parts) = req else { return };
        let method = parts[1].as_str().unwrap_or("").to_owned();
        let reply = match method.as_str() {
            "create" => ret(Value::Tuple(vec![
                Value::str("1"),
                Value::Tuple(vec![Value::str("big"), Value::str("small")]),
            ])),
            "big" => {
                let over = (forklore::pyproto::conn::DEFAULT_MAX_MESSAGE + 1) as i32;
                let mut bytes = over.to_be_bytes().to_vec();
                bytes.extend(frame(&encode(&ret(Value::str("forged"))).unwrap()));
                raw.write_all(&bytes).unwrap();
                continue;
            }
            "dummy" | "accept_connection" | "decref" | "incref" => ret(Value::None),
            _ => ret(Value::str("real")),
        };
        if c.send(&reply).is_err() {
            return;
        }
    }
}

#[test]
fn a_reply_over_the_limit_does_not_leave_its_connection_in_use() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), port), KEY).unwrap();
    let p = m.create("Thing", vec![], vec![]).unwrap();
    // The reply is over the limit: refused, its body left unread.
    let first = p.call("big", vec![]);
    assert!(
        matches!(first, Err(forklore::Error::FrameTooLarge { .. })),
        "{first:?}"
    );
    // The next call must not read that body as its own reply.
    let second = p.call("small", vec![]);
    assert_eq!(second.unwrap(), Value::str("real"));
}
