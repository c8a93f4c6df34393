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

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::datum::TOKEN_NAME;
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

/// What a serialized proxy carries: its manager's address, the object's
/// id, and the object's type (checked when it is read back). Never the
/// authkey: a process that reads a token must know the manager already
/// (it started it, connected to it, or inherited it through `fork`).
#[derive(Serialize, Deserialize)]
struct Token {
    address: String,
    id: u64,
    kind: String,
}

fn token(h: &Handle, kind: &str) -> Token {
    Token {
        address: h.endpoint.address.to_string(),
        id: h.id,
        kind: kind.to_string(),
    }
}

/// The handle of the proxy a token describes, adopted in this process;
/// `Err` says why not.
fn from_token(t: Token, accept: &[&str]) -> std::result::Result<Handle, String> {
    if !accept.contains(&t.kind.as_str()) {
        return Err(format!(
            "a proxy of a {} cannot be read as a proxy of a {}",
            t.kind,
            accept.join(" or ")
        ));
    }
    let address: super::Address = t.address.parse().map_err(|e: crate::Error| e.to_string())?;
    let ep = super::client::known(&address).ok_or_else(|| {
        format!(
            "a proxy of the manager at {address}, which this process does not know: \
             connect to it first (Manager::connect with its address and authkey)"
        )
    })?;
    super::client::adopt(&ep, t.id).map_err(|e| format!("a proxy of object {}: {e}", t.id))?;
    Ok(Handle {
        endpoint: ep,
        id: t.id,
    })
}

thread_local! {
    /// Copies of the proxies serialized on this thread since its last
    /// call to a manager: a proxy being sent (into a list, a queue) must
    /// not be freed before the request that carries it arrives, even if the
    /// caller dropped it while the value was encoded (`list_from(iter)`).
    static SENDING: std::cell::RefCell<Vec<Handle>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keep a copy of `h` until this thread's next call completes.
fn sending(h: &Handle) {
    // A `Process` target's arguments being encoded: a spawned child must
    // learn this manager's key.
    crate::start::keys::note(|| (h.endpoint.address.to_string(), h.endpoint.authkey.clone()));
    let h = h.clone();
    let _ = SENDING.try_with(|s| s.borrow_mut().push(h));
}

thread_local! {
    /// How many iterators of values are being encoded on this thread: a
    /// call made meanwhile (creating a proxy inside `list_from`'s iterator)
    /// does not let go of the proxies already encoded for the outer call.
    static ENCODING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Encoding an iterator of values: see [`ENCODING`].
pub(crate) struct Encoding(());

impl Encoding {
    pub(crate) fn start() -> Encoding {
        let _ = ENCODING.try_with(|c| c.set(c.get() + 1));
        Encoding(())
    }
}

impl Drop for Encoding {
    fn drop(&mut self) {
        let _ = ENCODING.try_with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Before a request to the manager at `address`: refuse it if the values
/// it carries hold proxies of another manager (its server could not count
/// them). Unless an outer value is still being encoded (then the check
/// waits for the outer request).
pub(crate) fn check_destination(address: &super::Address) -> crate::Result<()> {
    if ENCODING.try_with(std::cell::Cell::get).unwrap_or(0) > 0 {
        return Ok(());
    }
    let carried = super::datum::take_ref_addresses();
    if carried.is_empty() {
        // The common call, which carries no proxy: nothing to format.
        return Ok(());
    }
    let here = address.to_string();
    match carried.into_iter().find(|a| *a != here) {
        None => Ok(()),
        Some(other) => {
            sent();
            Err(crate::Error::InvalidArgument(format!(
                "a proxy of the manager at {other} cannot be stored in an object of the manager \
                 at {here}: a server counts the references to its own objects only"
            )))
        }
    }
}

/// After a call: let go of the proxies it carried (unless an outer value
/// is still being encoded).
pub(crate) fn sent() {
    if ENCODING.try_with(std::cell::Cell::get).unwrap_or(0) > 0 {
        return;
    }
    // Proxies encoded but never sent (a `to_datum` by hand) are not held
    // against the next request.
    drop(super::datum::take_ref_addresses());
    let kept = SENDING
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default();
    drop(kept);
}

struct TokenVisitor;

impl<'de> serde::de::Visitor<'de> for TokenVisitor {
    type Value = Token;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a proxy's token")
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Token, D::Error> {
        Token::deserialize(d)
    }
}

macro_rules! serde_proxy {
    ($name:ident $(< $($p:ident),* >)?) => {
        /// A proxy serializes as a token (address, object id, type; never
        /// the authkey), so it can be stored in a managed list or dict, put
        /// in a queue, or passed to a process; reading it back in a process
        /// that knows the manager gives a proxy of the same object, counted
        /// by the server (see the managers module's docs).
        impl$(<$($p),*>)? Serialize for $name$(<$($p),*>)? {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let kind = <Self as Shared>::TYPE_NAMES[0];
                sending(&self.handle);
                s.serialize_newtype_struct(TOKEN_NAME, &token(&self.handle, kind))
            }
        }
        impl<'de, $($($p),*)?> Deserialize<'de> for $name$(<$($p),*>)? {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let t = d.deserialize_newtype_struct(TOKEN_NAME, TokenVisitor)?;
                from_token(t, <Self as Shared>::TYPE_NAMES)
                    .map(<Self as sealed::Sealed>::from_handle)
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! shared {
    ($name:ident < $($p:ident),* >, $($ty:literal),+) => {
        serde_proxy!($name<$($p),*>);
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
        serde_proxy!($name);
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
