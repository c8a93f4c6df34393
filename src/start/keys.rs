//! The managers a start's arguments point to.
//!
//! A `Process` target's arguments may hold proxies of a Manager. A spawned
//! child (or a child of the fork server) is a fresh process that never
//! connected to that manager, so the parent sends each manager's address
//! and authkey along with the arguments, as CPython gives its authkey to
//! the children it starts. This module is where they travel through: the
//! managers' client reports each proxy it serializes ([`note`]) while a
//! [`Capture`] is open, and reads back what a child [`learn`]ed when it
//! meets a proxy of a manager it does not know ([`learned`]). It sits in
//! `start` so that `start` names nothing of the layer above it.

use std::sync::{Mutex, PoisonError};

/// (address, authkey) of a manager, the address as its text.
pub(crate) type Key = (String, Vec<u8>);

thread_local! {
    /// While a target's arguments are encoded on this thread: the managers
    /// of the proxies met, once each.
    static CAPTURE: std::cell::RefCell<Option<Vec<Key>>> =
        const { std::cell::RefCell::new(None) };
}

/// The managers learned from the targets this process was started to run.
static LEARNED: Mutex<Vec<Key>> = Mutex::new(Vec::new());

/// Collects the managers of the proxies serialized on this thread while it
/// lives (nested captures restore the outer one when they finish).
pub(crate) struct Capture(Option<Vec<Key>>);

impl Capture {
    pub(crate) fn start() -> Capture {
        Capture(CAPTURE.with(|c| c.borrow_mut().replace(Vec::new())))
    }

    /// The (address, authkey) of each manager met, once each, in the order
    /// first met.
    pub(crate) fn finish(self) -> Vec<Key> {
        CAPTURE
            .with(|c| std::mem::replace(&mut *c.borrow_mut(), self.0))
            .unwrap_or_default()
    }
}

/// A proxy of the manager `key()` names is being serialized on this thread:
/// remember it if a [`Capture`] is open (`key` is only called then).
pub(crate) fn note(key: impl FnOnce() -> Key) {
    let _ = CAPTURE.try_with(|c| {
        if let Some(met) = c.borrow_mut().as_mut() {
            let (address, authkey) = key();
            if !met.iter().any(|(a, _)| *a == address) {
                met.push((address, authkey));
            }
        }
    });
}

/// In a process about to read a target's arguments: know their managers.
pub(crate) fn learn(managers: &[Key]) {
    if managers.is_empty() {
        return;
    }
    LEARNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(managers.iter().cloned());
}

/// Every manager learned so far, the first learned first.
pub(crate) fn learned() -> Vec<Key> {
    LEARNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}
