//! Large values a reply shares with the object that stores them: written
//! to the socket after the object's lock is released, without a copy.

use std::sync::Arc;

/// A bulk value that an object stores shared and hands to its reply
/// (see [`share_reply_value`]).
pub(crate) enum SharedValue {
    /// A dict's value.
    Datum(Arc<crate::managers::datum::Datum>),
    /// A packed list of integers (`li[:]`).
    Ints(Arc<Vec<i64>>),
    /// A packed list of floats.
    Floats(Arc<Vec<crate::managers::datum::F64>>),
}

impl SharedValue {
    /// The value's kind and wire image, borrowed.
    pub(crate) fn bulk(&self) -> Option<(crate::managers::datum::BulkKind, &[u8])> {
        use crate::managers::datum::Datum;
        match self {
            SharedValue::Datum(d) => d.bulk(),
            // A run's image is its memory (on a little-endian target).
            SharedValue::Ints(v) => Datum::run_bulk_ints(v),
            SharedValue::Floats(v) => Datum::run_bulk_floats(v),
        }
    }
}

thread_local! {
    /// The value of the reply being made on this thread, when the object
    /// shares it instead of copying it (see [`share_reply_value`]).
    static SHARED_VALUE: std::cell::RefCell<Option<SharedValue>> =
        const { std::cell::RefCell::new(None) };
}

/// Hand `value`, a bulk value that an object stores shared, to the reply
/// being made on this thread: the object's method returns the reply's
/// skeleton (`Reply::Datum` or `Reply::Maybe(Some)` of the empty byte
/// string) and `send_reply` writes `value` in its place, after the
/// object's lock is released, without copying it.
pub(crate) fn share_reply_value(value: SharedValue) {
    SHARED_VALUE.with(|s| *s.borrow_mut() = Some(value));
}

/// Take the shared value of this thread's reply (clears it).
pub(super) fn take_shared_value() -> Option<SharedValue> {
    SHARED_VALUE.with(|s| s.borrow_mut().take())
}
