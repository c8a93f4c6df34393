//! The server's open connections: a duplicate of each one's socket, kept
//! while it is served, so that stopping the server ends them all
//! (`State::stop`).

use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use super::State;
use crate::pyproto::shared::Stream;

/// End a connection: both directions of its socket shut down, so that its
/// peer reads end of stream and the thread serving it wakes from a read.
pub(super) fn end(s: &Stream) {
    let _ = match s {
        Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
    };
}

/// Keeps a duplicate of a connection's socket in `State::open` while the
/// connection is served.
pub(super) struct Registered<'a> {
    state: &'a State,
    id: u64,
}

impl<'a> Registered<'a> {
    pub(super) fn new(state: &'a State, stream: &Stream) -> Registered<'a> {
        let id = state.next_conn.fetch_add(1, Ordering::Relaxed);
        let dup = match stream {
            Stream::Tcp(s) => s.try_clone().map(Stream::Tcp),
            Stream::Unix(s) => s.try_clone().map(Stream::Unix),
        };
        if let Ok(dup) = dup {
            let mut open = state.open.lock().unwrap_or_else(PoisonError::into_inner);
            // A connection that arrives while the server stops is ended too.
            if state.stopping.load(Ordering::SeqCst) {
                drop(open);
                end(&dup);
            } else {
                open.insert(id, dup);
            }
        }
        Registered { state, id }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut open = self
            .state
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.remove(&self.id);
    }
}
