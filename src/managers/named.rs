//! Named objects: how a client that did not create an object finds it.
//!
//! CPython's remote managers declare names on a `BaseManager` subclass:
//!
//! ```python
//! QueueManager.register('get_task_queue', callable=lambda: task_queue)
//! ```
//!
//! and a client that connects calls `manager.get_task_queue()` to get a
//! proxy. Here the process that created an object gives it a name with
//! [`Manager::register`](super::Manager::register), and any client asks for
//! it by name and proxy type with [`Manager::lookup`](super::Manager::lookup).
//! The server checks the type: asking for a `QueueProxy` of an object that
//! is a dict is refused, not misread.

use super::{
    ArrayProxy, BarrierProxy, ConditionProxy, DictProxy, EventProxy, Handle, ListProxy, LockProxy,
    NamespaceProxy, QueueProxy, RLockProxy, RobustLockProxy, SemaphoreProxy, ValueProxy,
};

pub(crate) mod sealed {
    use super::Handle;

    /// What the crate needs of a proxy type; outside the crate it cannot be
    /// named, so `Shared` cannot be implemented elsewhere.
    pub trait Sealed {
        fn from_handle(handle: Handle) -> Self;
        fn handle(&self) -> &Handle;
    }
}

/// A proxy type that can be registered under a name and looked up by it:
/// every proxy of this module ([`QueueProxy`], [`DictProxy`], [`LockProxy`]...).
///
/// The trait is sealed; it only tells the server which object types a
/// proxy can speak to.
pub trait Shared: sealed::Sealed + Sized {
    /// The server's names of the object types this proxy can drive
    /// (`"Queue"`; `"Semaphore"` and `"BoundedSemaphore"`...).
    const TYPE_NAMES: &'static [&'static str];
}

macro_rules! shared {
    ($name:ident < $($p:ident),* >, $($ty:literal),+) => {
        impl<$($p),*> sealed::Sealed for $name<$($p),*> {
            fn from_handle(handle: Handle) -> Self {
                $name::new(handle)
            }
            fn handle(&self) -> &Handle {
                &self.handle
            }
        }
        impl<$($p),*> Shared for $name<$($p),*> {
            const TYPE_NAMES: &'static [&'static str] = &[$($ty),+];
        }
    };
    ($name:ident, $($ty:literal),+) => {
        impl sealed::Sealed for $name {
            fn from_handle(handle: Handle) -> Self {
                $name::new(handle)
            }
            fn handle(&self) -> &Handle {
                &self.handle
            }
        }
        impl Shared for $name {
            const TYPE_NAMES: &'static [&'static str] = &[$($ty),+];
        }
    };
}

shared!(ListProxy<T>, "list");
shared!(DictProxy<K, V>, "dict");
shared!(QueueProxy<T>, "Queue");
shared!(ValueProxy<T>, "Value");
shared!(ArrayProxy<T>, "Array");
shared!(NamespaceProxy, "Namespace");
shared!(LockProxy, "Lock");
shared!(RLockProxy, "RLock");
shared!(RobustLockProxy, "RobustLock");
shared!(SemaphoreProxy, "Semaphore", "BoundedSemaphore");
shared!(EventProxy, "Event");
shared!(ConditionProxy, "Condition");
shared!(BarrierProxy, "Barrier");
