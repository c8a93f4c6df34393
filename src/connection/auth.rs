//! Authentication: `multiprocessing.connection`'s challenge–response
//! handshake, in both directions.

use super::*;
// ---------------------------------------------------------------------------
// Authentication: multiprocessing.connection's challenge–response handshake.
// ---------------------------------------------------------------------------

/// The first bytes of a challenge (Python: `_CHALLENGE`).
pub(super) const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The reply to a correct digest (Python: `_WELCOME`).
pub(super) const WELCOME: &[u8] = b"#WELCOME#";
/// The reply to a wrong digest (Python: `_FAILURE`).
pub(super) const FAILURE: &[u8] = b"#FAILURE#";
/// The digest's name, sent in braces before the nonce and the digest, as
/// CPython 3.12+ does.
pub(super) const DIGEST_PREFIX: &[u8] = b"{sha256}";
/// Random bytes in a challenge (Python: `MESSAGE_LENGTH`, 40 since 3.12).
pub(super) const NONCE_LEN: usize = 40;
/// The largest handshake message either side accepts (Python passes 256 to
/// `recv_bytes` during the handshake).
pub(super) const HANDSHAKE_MAX: usize = 256;

pub(super) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How long [`Connection::spin_until_readable`] polls before sleeping.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

pub(super) fn auth_failed(reason: impl Into<String>) -> Error {
    Error::AuthenticationFailed {
        reason: reason.into(),
    }
}

/// `HMAC-SHA256(authkey, message)`.
pub(super) fn digest(authkey: &[u8], message: &[u8]) -> HmacSha256 {
    use hmac::Mac;
    let mut mac = HmacSha256::new_from_slice(authkey).expect("HMAC takes keys of any length");
    mac.update(message);
    mac
}

impl Connection {
    /// Receive one handshake message: at most [`HANDSHAKE_MAX`] bytes, so a
    /// peer that does not speak the handshake cannot make us allocate.
    fn recv_handshake(&mut self) -> Result<Vec<u8>> {
        let max = self.max;
        self.max = HANDSHAKE_MAX;
        let got = self.recv_bytes();
        self.max = max;
        got.map_err(|e| match e {
            Error::FrameTooLarge { len, .. } => auth_failed(format!(
                "the peer sent a {len}-byte handshake message; the limit is {HANDSHAKE_MAX}"
            )),
            other => other,
        })
    }
}

/// The shortest nonce [`answer_challenge`] accepts (CPython's minimum).
pub(super) const MIN_NONCE_LEN: usize = 20;

/// Make sure the peer knows `authkey` (Python:
/// `multiprocessing.connection.deliver_challenge`).
///
/// Sends `#CHALLENGE#{sha256}` and 40 random bytes, expects back
/// `{sha256}` and the HMAC-SHA256 of that message under `authkey`, compares
/// it in constant time, and answers `#WELCOME#` or `#FAILURE#`. A server
/// calls this first and then [`answer_challenge`]; a client does the
/// opposite, so each side proves it knows the key without sending it.
///
/// # Errors
/// [`Error::AuthenticationFailed`] if the digest is wrong (the peer then
/// sees `#FAILURE#`) or the peer's message is not a digest at all; the
/// connection errors of [`Connection::recv`] if the peer goes away.
///
/// # Example
/// ```
/// use forklore::connection::{answer_challenge, deliver_challenge, pipe};
///
/// let (mut server, mut client) = pipe().unwrap();
/// let t = std::thread::spawn(move || answer_challenge(&mut client, b"secret"));
/// deliver_challenge(&mut server, b"secret").unwrap();
/// t.join().unwrap().unwrap();
/// ```
pub fn deliver_challenge(conn: &mut Connection, authkey: &[u8]) -> Result<()> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::sys::random_bytes(&mut nonce)?;
    let mut message = DIGEST_PREFIX.to_vec();
    message.extend_from_slice(&nonce);
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&message);
    conn.send_bytes(&challenge)?;
    let response = conn.recv_handshake()?;
    let ok = response
        .strip_prefix(DIGEST_PREFIX)
        .is_some_and(|mac| hmac::Mac::verify_slice(digest(authkey, &message), mac).is_ok());
    if ok {
        conn.send_bytes(WELCOME)?;
        Ok(())
    } else {
        // Tell the peer, then fail; a peer that already left changes nothing.
        let _ = conn.send_bytes(FAILURE);
        Err(auth_failed("digest received was wrong"))
    }
}

/// Prove to the peer that we know `authkey` (Python:
/// `multiprocessing.connection.answer_challenge`): receive its challenge,
/// send back the HMAC-SHA256 of it under `authkey`, and expect `#WELCOME#`.
///
/// # Errors
/// [`Error::AuthenticationFailed`] if the peer rejects the digest (`digest
/// sent was rejected`) or its first message is not a challenge; the
/// connection errors of [`Connection::recv`] if the peer goes away.
pub fn answer_challenge(conn: &mut Connection, authkey: &[u8]) -> Result<()> {
    let challenge = conn.recv_handshake()?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        return Err(auth_failed("the peer did not send a challenge"));
    };
    let Some(nonce) = message.strip_prefix(DIGEST_PREFIX) else {
        return Err(auth_failed(
            "the peer's challenge names a digest other than {sha256}",
        ));
    };
    // A short nonce would let a fake server have us sign (nearly) fixed
    // messages; CPython 3.12 refuses challenges under 20 bytes as well.
    if nonce.len() < MIN_NONCE_LEN {
        return Err(auth_failed(format!(
            "challenge too short: {} random bytes, at least {MIN_NONCE_LEN} are required",
            nonce.len()
        )));
    }
    let mac = hmac::Mac::finalize(digest(authkey, message)).into_bytes();
    let mut response = DIGEST_PREFIX.to_vec();
    response.extend_from_slice(&mac);
    conn.send_bytes(&response)?;
    match conn.recv_handshake() {
        Ok(reply) if reply == WELCOME => Ok(()),
        Ok(_) => Err(auth_failed("digest sent was rejected")),
        // A peer that closes instead of answering has rejected us too.
        Err(e) if e.is_disconnect() => Err(auth_failed(
            "digest sent was rejected (the peer closed the connection)",
        )),
        Err(e) => Err(e),
    }
}
