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

pub mod client;
pub mod conn;
pub mod pickle;
pub mod pyops;
pub mod server;
pub mod value_serde;

pub use client::{PyAddress, PyManager, PyProxy, Token};
pub use conn::{Handshake, PyConnection};
pub use pickle::Value;
pub use server::{PyServer, ShutdownHandle};
