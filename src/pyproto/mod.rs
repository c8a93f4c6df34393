//! CPython's `multiprocessing.managers` wire protocol, so that forklore and
//! CPython programs share managers.
//!
//! - [`pickle`]: the pickle subset the protocol carries ([`Value`]).
//! - [`conn`]: the `!i`-framed connection and the HMAC challenge handshake
//!   of CPython 3.11 (MD5) and 3.12+ (`{sha256}`).
//! - [`client`]: a forklore client of a CPython `BaseManager`/`SyncManager`
//!   server, with typed proxies ([`PyManager`]).
//! - [`server`]: a manager server that CPython clients use unmodified
//!   ([`PyServer`]; the `forklore-manager` program wraps it).
//! - [`value_serde`]: serde types ↔ [`Value`].
//!
//! ```no_run
//! // A CPython master serves get_task_queue / get_result_queue on port 5000:
//! use forklore::pyproto::{PyAddress, PyManager};
//! let m = PyManager::connect(PyAddress::Tcp("127.0.0.1".into(), 5000), b"abc").unwrap();
//! let tasks = m.named_queue::<i64>("get_task_queue").unwrap();
//! let results = m.named_queue::<String>("get_result_queue").unwrap();
//! while let Ok(n) = tasks.get_timeout(std::time::Duration::from_secs(1)) {
//!     results.put(&format!("{n} * {n} = {}", n * n)).unwrap();
//! }
//! ```

//! # Security
//! A manager's authkey is its only secret. Every connection, in either
//! direction, starts with CPython's mutual HMAC challenge–response
//! ([`conn`]); nothing is unpickled before it succeeds, and the decoder
//! never imports or calls anything (a global is only a name, see
//! [`pickle`]), so a peer that knows the key still cannot run code in a
//! forklore process. A Python client, though, *does* unpickle what a
//! server sends: give the key only to servers you trust, as with CPython.
//!
//! **HMAC-MD5 is accepted only because CPython 3.11 needs it.** A 3.11
//! client answers the server's challenge with a bare HMAC-MD5, and a 3.11
//! server sends a 20-byte challenge that only HMAC-MD5 answers. forklore's
//! server always sends the 3.12 `{sha256}` challenge; it accepts a bare
//! 16-byte HMAC-MD5 reply, and its client answers a bare 20-byte challenge
//! with HMAC-MD5, only while [`Handshake::legacy_md5`] is on (the default;
//! `forklore-manager --no-md5` turns it off, and then 3.11 clients fail with
//! `AuthenticationError`). A `{md5}`-prefixed reply is always refused. HMAC
//! with MD5 is not broken the way plain MD5 is, but it is the weakest link:
//! turn it off once no 3.11 peer is left. 3.12+ peers always use HMAC-SHA256.
//!
//! Limits on what a peer can make the server allocate: a message is at most
//! [`conn::DEFAULT_MAX_MESSAGE`] bytes (a larger header closes that
//! connection before anything is allocated), handshake messages at most 256
//! bytes (as CPython), and one pickle at most [`pickle::DEFAULT_MAX_NODES`]
//! objects. A connection that does not authenticate and send its first
//! request within 30 seconds is dropped. Each connection has a server thread,
//! as in CPython: a peer with the key can open many.

//! # A peer that vanishes
//! CPython's manager protocol sets no keepalive and no deadline, so a
//! CPython client on a link that falls silent waits for ever. forklore goes
//! further on both sides. Every TCP connection, the client's and the
//! server's, runs keepalive with the settings of
//! [`managers::tcp`](crate::managers::tcp): a call fails about 5 s after
//! the other host went quiet ([`Error::ManagerUnreachable`](crate::Error::ManagerUnreachable)).
//! A call with a timeout of its own (`get_timeout`, `wait_timeout`, ...)
//! also gives up when no reply has come [`client::REPLY_GRACE`] after that
//! timeout ([`Error::ManagerNoReply`](crate::Error::ManagerNoReply)), which
//! catches what keepalive cannot: a relay or NAT in between that still
//! answers the probes but forwards nothing, or a stuck server.
//! [`client::ConnectOptions::reply_timeout`] bounds the other quick calls
//! the same way, and each message of the handshake must come within
//! [`managers::tcp::HANDSHAKE_TIMEOUT`](crate::managers::tcp::HANDSHAKE_TIMEOUT).

pub mod client;
pub mod conn;
pub mod pickle;
pub mod pyops;
pub mod server;
mod shared;
pub mod value_serde;

pub use client::{PyAddress, PyManager, PyProxy, Token};
pub use conn::{Handshake, PyConnection};
pub use pickle::Value;
pub use server::{PyServer, ShutdownHandle};
