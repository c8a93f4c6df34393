//! CPython's `multiprocessing.connection` framing and authentication
//! handshake, over any byte stream.
//!
//! # Framing
//! A message is a 4-byte big-endian signed length (`!i`) and the payload;
//! a payload of 2³¹ bytes or more is sent as `-1` followed by an 8-byte
//! unsigned length (`!Q`). Every CPython version from 3.8 writes and reads
//! both forms.
//!
//! # Handshake
//! The serving side *delivers* a challenge and then *answers* the
//! client's; the client answers first, then delivers
//! (`Listener.accept` / `Client` in `connection.py`).
//!
//! - CPython 3.11 and older send `#CHALLENGE#` + 20 random bytes and expect
//!   the raw 16-byte HMAC-MD5 of those bytes.
//! - CPython 3.12 and newer send `#CHALLENGE#{sha256}` + 40 random bytes and
//!   expect `{sha256}` + the HMAC-SHA256 of everything after `#CHALLENGE#`
//!   (prefix included, so a reply cannot downgrade the digest). They still
//!   accept a bare 16-byte HMAC-MD5 reply, which is what a 3.11 client sends.
//!
//! forklore always delivers the modern `{sha256}` challenge. It accepts a
//! bare HMAC-MD5 reply, and answers a bare 20-byte challenge with
//! HMAC-MD5, only while [`Handshake::legacy_md5`] is true (the default), because that is
//! the only thing a CPython 3.11 peer can do. Set it to false on a fleet of
//! 3.12+ peers to refuse MD5 entirely. A `{md5}`-prefixed reply (which
//! CPython 3.12 would accept) is always refused: no CPython client sends one.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use hmac::{Hmac, Mac};
use nix::poll::{PollFd, PollFlags};

use super::pickle::{self, Value};
use crate::error::{Error, Result};

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// Random bytes in a modern challenge (CPython 3.12's `MESSAGE_LENGTH`).
const MESSAGE_LENGTH: usize = 40;
/// A legacy (3.11) challenge is exactly this long.
const MD5ONLY_MESSAGE_LENGTH: usize = 20;
const MD5_DIGEST_LEN: usize = 16;
/// CPython reads handshake messages with `recv_bytes(256)`.
const HANDSHAKE_MAX: usize = 256;
/// Default limit on one message's payload.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// Which digests the handshake accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Accept, and answer with, bare HMAC-MD5: what CPython 3.11 peers use.
    /// Default true.
    pub legacy_md5: bool,
}

impl Default for Handshake {
    fn default() -> Self {
        Handshake { legacy_md5: true }
    }
}

/// A CPython-framed, pickled connection over `S`.
#[derive(Debug)]
pub struct PyConnection<S> {
    stream: S,
    max_message: usize,
}

fn io_err(op: &'static str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => Error::Closed,
        _ => Error::Io { op, source: e },
    }
}

impl<S: Read + Write> PyConnection<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Self {
        PyConnection {
            stream,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, with whatever the peer sent after the last message read
    /// still unread in it (a `PyConnection` reads no further ahead).
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Sets the largest payload [`recv_bytes`](Self::recv_bytes) accepts.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max_message = max;
    }

    /// Sends one message (Python `send_bytes`).
    ///
    /// # Errors
    /// [`Error::Closed`] if the peer is gone, [`Error::Io`] otherwise.
    pub fn send_bytes(&mut self, buf: &[u8]) -> Result<()> {
        self.stream
            .write_all(&frame(buf))
            .map_err(|e| io_err("send", e))?;
        self.stream.flush().map_err(|e| io_err("send", e))
    }

    /// Receives one message of at most `max` bytes (Python `recv_bytes`).
    ///
    /// # Errors
    /// [`Error::Closed`] at end of stream before a header,
    /// [`Error::Truncated`] in the middle of one, [`Error::FrameTooLarge`]
    /// (nothing allocated) for a longer message or a negative length.
    pub fn recv_bytes_max(&mut self, max: usize) -> Result<Vec<u8>> {
        self.recv_frame(max, |_| Ok(()))
    }

    /// [`recv_bytes_max`](Self::recv_bytes_max), calling `ready` before
    /// every `read` (to wait for the stream with a deadline).
    fn recv_frame(
        &mut self,
        max: usize,
        mut ready: impl FnMut(&S) -> Result<()>,
    ) -> Result<Vec<u8>> {
        let mut h = [0u8; 4];
        self.read_header(&mut h, &mut ready)?;
        let n = i32::from_be_bytes(h);
        let len = if n == -1 {
            let mut q = [0u8; 8];
            self.read_exact_or(&mut q, 12, 4, &mut ready)?;
            usize::try_from(u64::from_be_bytes(q)).unwrap_or(usize::MAX)
        } else {
            usize::try_from(n).map_err(|_| Error::FrameTooLarge {
                len: usize::MAX,
                max,
            })?
        };
        if len > max {
            return Err(Error::FrameTooLarge { len, max });
        }
        let mut buf = vec![0u8; len];
        self.read_exact_or(&mut buf, len, 0, &mut ready)?;
        Ok(buf)
    }

    /// [`recv_bytes_max`](Self::recv_bytes_max) with the connection's limit.
    ///
    /// # Errors
    /// As [`recv_bytes_max`](Self::recv_bytes_max).
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        self.recv_bytes_max(self.max_message)
    }

    fn read_header(
        &mut self,
        h: &mut [u8; 4],
        ready: &mut impl FnMut(&S) -> Result<()>,
    ) -> Result<()> {
        let mut got = 0;
        while got < 4 {
            ready(&self.stream)?;
            match self.stream.read(&mut h[got..]) {
                Ok(0) if got == 0 => return Err(Error::Closed),
                Ok(0) => return Err(Error::Truncated { expected: 4, got }),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("recv", e)),
            }
        }
        Ok(())
    }

    fn read_exact_or(
        &mut self,
        buf: &mut [u8],
        expected: usize,
        before: usize,
        ready: &mut impl FnMut(&S) -> Result<()>,
    ) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            ready(&self.stream)?;
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(Error::Truncated {
                        expected: expected.saturating_add(4),
                        got: got.saturating_add(4 + before),
                    })
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("recv", e)),
            }
        }
        Ok(())
    }

    /// Pickles and sends a value (Python `send`).
    ///
    /// # Errors
    /// [`Error::Encode`] for a value the codec cannot write, else as
    /// [`send_bytes`](Self::send_bytes).
    pub fn send(&mut self, v: &Value) -> Result<()> {
        let b = pickle::encode(v).map_err(|e| Error::Encode(e.0))?;
        self.send_bytes(&b)
    }

    /// Receives and unpickles a value (Python `recv`).
    ///
    /// # Errors
    /// [`Error::Decode`] for a pickle outside the subset, else as
    /// [`recv_bytes`](Self::recv_bytes).
    pub fn recv(&mut self) -> Result<Value> {
        let b = self.recv_bytes()?;
        pickle::decode(&b).map_err(|e| Error::Decode(e.0))
    }

    /// The serving side of the handshake: deliver a challenge, then answer
    /// the peer's (`Listener.accept`).
    ///
    /// # Errors
    /// [`Error::AuthenticationFailed`] when either check fails;
    /// I/O errors as [`recv_bytes`](Self::recv_bytes).
    pub fn server_handshake(&mut self, authkey: &[u8], opts: Handshake) -> Result<()> {
        self.deliver_challenge(authkey, opts)?;
        self.answer_challenge(authkey, opts)
    }

    /// The connecting side of the handshake: answer the server's challenge,
    /// then deliver one (`Client`).
    ///
    /// # Errors
    /// As [`server_handshake`](Self::server_handshake).
    pub fn client_handshake(&mut self, authkey: &[u8], opts: Handshake) -> Result<()> {
        self.answer_challenge(authkey, opts)?;
        self.deliver_challenge(authkey, opts)
    }

    /// Python `deliver_challenge` (3.12 form, `{sha256}`).
    ///
    /// # Errors
    /// As [`server_handshake`](Self::server_handshake).
    pub fn deliver_challenge(&mut self, authkey: &[u8], opts: Handshake) -> Result<()> {
        let mut random = [0u8; MESSAGE_LENGTH];
        getrandom::fill(&mut random).map_err(|e| Error::Io {
            op: "getrandom",
            source: io::Error::other(e.to_string()),
        })?;
        let mut message = b"{sha256}".to_vec();
        message.extend_from_slice(&random);
        let mut frame = CHALLENGE.to_vec();
        frame.extend_from_slice(&message);
        self.send_bytes(&frame)?;
        let response = self.recv_bytes_max(HANDSHAKE_MAX).map_err(handshake_io)?;
        match verify(authkey, &message, &response, opts) {
            Ok(()) => self.send_bytes(WELCOME),
            Err(reason) => {
                let _ = self.send_bytes(FAILURE);
                Err(Error::AuthenticationFailed { reason })
            }
        }
    }

    /// Python `answer_challenge`, for either kind of challenge.
    ///
    /// # Errors
    /// As [`server_handshake`](Self::server_handshake).
    pub fn answer_challenge(&mut self, authkey: &[u8], opts: Handshake) -> Result<()> {
        let m = self.recv_bytes_max(HANDSHAKE_MAX).map_err(handshake_io)?;
        let Some(message) = m.strip_prefix(CHALLENGE) else {
            return Err(auth(
                "the peer sent no #CHALLENGE# (not a multiprocessing peer?)",
            ));
        };
        if message.len() < MD5ONLY_MESSAGE_LENGTH {
            return Err(auth("challenge too short"));
        }
        let response = if message.len() == MD5ONLY_MESSAGE_LENGTH {
            if !opts.legacy_md5 {
                return Err(auth(
                    "the peer is a CPython 3.11-style server (HMAC-MD5 only) and legacy_md5 is off",
                ));
            }
            hmac_md5(authkey, message).to_vec()
        } else {
            match digest_prefix(message) {
                Some(("sha256", _)) => {
                    let mut r = b"{sha256}".to_vec();
                    r.extend_from_slice(&hmac_sha256(authkey, message));
                    r
                }
                _ => {
                    return Err(auth(
                        "the peer's challenge asks for a digest other than sha256",
                    ))
                }
            }
        };
        self.send_bytes(&response)?;
        let answer = self.recv_bytes_max(HANDSHAKE_MAX).map_err(handshake_io)?;
        if answer == WELCOME {
            Ok(())
        } else {
            Err(auth("digest sent was rejected"))
        }
    }
}

/// `buf` with its length header.
fn frame(buf: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(buf.len() + 12);
    match i32::try_from(buf.len()) {
        Ok(n) => frame.extend_from_slice(&n.to_be_bytes()),
        Err(_) => {
            frame.extend_from_slice(&(-1i32).to_be_bytes());
            frame.extend_from_slice(&(buf.len() as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(buf);
    frame
}

/// Sending and receiving with a deadline, for a stream that can be polled.
impl<S: Read + Write + AsFd> PyConnection<S> {
    /// [`send`](Self::send), giving up at `deadline` if the stream cannot
    /// take the whole message by then (the peer stopped reading). The
    /// message is then partly sent: the connection is out of step and must
    /// be closed.
    ///
    /// # Errors
    /// [`Error::Timeout`] at the deadline; otherwise as [`send`](Self::send).
    pub fn send_by(&mut self, v: &Value, deadline: Instant) -> Result<()> {
        use nix::sys::socket::{send, MsgFlags};
        let start = Instant::now();
        let b = pickle::encode(v).map_err(|e| Error::Encode(e.0))?;
        let frame = frame(&b);
        let mut sent = 0;
        while sent < frame.len() {
            wait_for(&self.stream, PollFlags::POLLOUT, deadline, start, "send")?;
            match send(
                self.stream.as_fd().as_raw_fd(),
                &frame[sent..],
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(k) => sent += k,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(io_err("send", io::Error::from(e))),
            }
        }
        Ok(())
    }

    /// [`recv`](Self::recv), giving up at `deadline` if no whole message
    /// has come by then. Part of a message may have been read: the
    /// connection is out of step and must be closed.
    ///
    /// # Errors
    /// [`Error::Timeout`] at the deadline; otherwise as [`recv`](Self::recv).
    pub fn recv_by(&mut self, deadline: Instant) -> Result<Value> {
        let start = Instant::now();
        let b = self.recv_frame(self.max_message, |s| {
            wait_for(s, PollFlags::POLLIN, deadline, start, "recv")
        })?;
        pickle::decode(&b).map_err(|e| Error::Decode(e.0))
    }
}

/// Waits until `s` is ready for `what` or `deadline` passes
/// ([`Error::Timeout`], `after` the time since `start`).
fn wait_for(
    s: &impl AsFd,
    what: PollFlags,
    deadline: Instant,
    start: Instant,
    op: &'static str,
) -> Result<()> {
    let mut fds = [PollFd::new(s.as_fd(), what)];
    if crate::sys::poll(&mut fds, Some(deadline))? == 0 {
        return Err(Error::Timeout {
            op,
            after: start.elapsed(),
        });
    }
    Ok(())
}

fn auth(reason: &str) -> Error {
    Error::AuthenticationFailed {
        reason: reason.to_owned(),
    }
}

/// A peer that closes during the handshake has refused us (CPython closes
/// after sending `#FAILURE#`, and may close before we read it).
fn handshake_io(e: Error) -> Error {
    match e {
        Error::Closed | Error::Truncated { .. } => {
            auth("the peer closed the connection during the handshake")
        }
        Error::FrameTooLarge { .. } => auth("handshake message longer than 256 bytes"),
        e => e,
    }
}

/// `{name}payload` → (name, payload), as `_get_digest_name_and_payload`.
fn digest_prefix(m: &[u8]) -> Option<(&str, &[u8])> {
    let rest = m.strip_prefix(b"{")?;
    let close = rest.iter().take(10).position(|&b| b == b'}')?;
    let name = std::str::from_utf8(&rest[..close]).ok()?;
    Some((name, &rest[close + 1..]))
}

fn verify(authkey: &[u8], message: &[u8], response: &[u8], opts: Handshake) -> Result<(), String> {
    use subtle_eq as eq;
    if response.len() == MD5_DIGEST_LEN {
        if !opts.legacy_md5 {
            return Err(
                "the peer answered with HMAC-MD5 (a CPython 3.11 client) and legacy_md5 is off"
                    .into(),
            );
        }
        return if eq(&hmac_md5(authkey, message), response) {
            Ok(())
        } else {
            Err("digest received was wrong".into())
        };
    }
    match digest_prefix(response) {
        Some(("sha256", mac)) => {
            if eq(&hmac_sha256(authkey, message), mac) {
                Ok(())
            } else {
                Err("digest received was wrong".into())
            }
        }
        Some((name, _)) => Err(format!(
            "the peer answered with unsupported digest {name:?}"
        )),
        None => Err("the peer's answer has no digest prefix and is not HMAC-MD5".into()),
    }
}

/// Constant-time comparison.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hmac_md5(key: &[u8], msg: &[u8]) -> [u8; 16] {
    let mut m = <Hmac<md5::Md5> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_md5_matches_rfc2104_vector() {
        // RFC 2104 test vector 2.
        let d = hmac_md5(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            d,
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
    }

    #[test]
    fn digest_prefix_parses_like_cpython() {
        assert_eq!(digest_prefix(b"{sha256}abc"), Some(("sha256", &b"abc"[..])));
        assert_eq!(digest_prefix(b"sha256abc"), None);
    }
}
