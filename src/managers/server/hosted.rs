//! forklore's own manager protocol served from another program's accept
//! loop: [`pyproto`](crate::pyproto)'s server hands it the connections that
//! turn out, after the handshake, to speak forklore's dialect, so that one
//! listener (one `forklore-manager` port) serves CPython clients and
//! forklore's own [`Manager`](crate::managers::Manager) clients alike.
//!
//! The two dialects keep separate objects: a forklore client sees the
//! objects forklore clients made (typed values, forklore's semantics), a
//! CPython client those CPython clients made (Python's values and
//! semantics). A Rust program that wants to share objects with Python
//! programs uses [`PyManager`](crate::pyproto::PyManager), which speaks
//! CPython's dialect.

use std::sync::Arc;

use super::{serve_session, OnShutdown, Server};
use crate::connection::Connection;

/// A server of forklore's own protocol that lives in another server's
/// process and serves connections already authenticated there.
pub(crate) struct Hosted {
    server: Arc<Server>,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hosted").finish_non_exhaustive()
    }
}

impl Hosted {
    /// A server with no object yet. `tcp`: its clients come over TCP (so a
    /// client's pid means nothing here). A client's `shutdown` calls `stop`
    /// (which should stop the host's server) instead of ending the process.
    pub(crate) fn new(authkey: &[u8], tcp: bool, stop: Box<dyn Fn() + Send + Sync>) -> Hosted {
        let mut server = Server::new(authkey.to_vec(), None, tcp);
        server.on_shutdown = OnShutdown::Call(stop);
        Hosted {
            server: Arc::new(server),
        }
    }

    /// Serve `conn`, whose peer passed the host's handshake with this
    /// server's key, until it closes. Its first request has not been read.
    pub(crate) fn serve(&self, conn: Connection, peer: &str) {
        let cid = self
            .server
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        serve_session(&self.server, conn, cid, peer);
    }
}
