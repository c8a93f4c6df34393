use super::auth::{CHALLENGE, DIGEST_PREFIX, FAILURE};
use super::*;

#[test]
fn a_short_challenge_is_refused_before_anything_is_signed() {
    for nonce_len in [0usize, 19] {
        let (mut fake_server, mut c) = pipe().unwrap();
        let mut challenge = CHALLENGE.to_vec();
        challenge.extend_from_slice(DIGEST_PREFIX);
        challenge.extend(std::iter::repeat_n(7u8, nonce_len));
        fake_server.send_bytes(&challenge).unwrap();
        let e = answer_challenge(&mut c, b"secret").unwrap_err();
        assert!(e.to_string().contains("challenge too short"), "{e}");
        // Nothing was sent back: no digest for the fake server.
        drop(c);
        assert!(matches!(fake_server.recv_bytes(), Err(Error::Closed)));
    }
}

fn handshake(server_key: &'static [u8], client_key: &'static [u8]) -> (Result<()>, Result<()>) {
    let (mut s, mut c) = pipe().unwrap();
    let client = std::thread::spawn(move || {
        answer_challenge(&mut c, client_key)?;
        deliver_challenge(&mut c, client_key)
    });
    let server =
        deliver_challenge(&mut s, server_key).and_then(|()| answer_challenge(&mut s, server_key));
    drop(s);
    (server, client.join().unwrap())
}

#[test]
fn same_key_passes_both_ways() {
    let (s, c) = handshake(b"key", b"key");
    s.unwrap();
    c.unwrap();
}

#[test]
fn wrong_key_fails_on_both_sides() {
    let (s, c) = handshake(b"key", b"other");
    let s = s.unwrap_err();
    let c = c.unwrap_err();
    assert!(s.is_authentication_failed(), "{s}");
    assert!(c.is_authentication_failed(), "{c}");
    assert!(s.to_string().contains("digest received was wrong"), "{s}");
    assert!(c.to_string().contains("digest sent was rejected"), "{c}");
}

#[test]
fn garbage_instead_of_a_digest_fails_cleanly() {
    let (mut s, mut c) = pipe().unwrap();
    let t = std::thread::spawn(move || {
        let _challenge = c.recv_bytes().unwrap();
        c.send_bytes(b"not a digest").unwrap();
        c.recv_bytes().unwrap()
    });
    let e = deliver_challenge(&mut s, b"k").unwrap_err();
    assert!(e.is_authentication_failed());
    assert_eq!(t.join().unwrap(), FAILURE);
}

#[test]
fn oversize_handshake_message_is_refused() {
    let (mut s, mut c) = pipe().unwrap();
    c.send_bytes(&[b'x'; 1000]).unwrap();
    let e = answer_challenge(&mut s, b"k").unwrap_err();
    assert!(e.is_authentication_failed(), "{e}");
    // The limit was only for the handshake.
    assert_eq!(s.max_message_size(), DEFAULT_MAX_MESSAGE_SIZE);
}
