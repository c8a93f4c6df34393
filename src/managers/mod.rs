//! `multiprocessing.managers`: a server process that holds shared objects,
//! and typed proxies that reach them over a socket.
//!
//! Processes do not share memory (chapter 6). A [`Manager`] works around
//! that the way CPython's `SyncManager` does: [`Manager::start`] forks a
//! server process, which holds the real list, dict, queue or lock; every
//! other process holds only a *proxy* — an object id and the server's
//! address — and each method call on a proxy is one request to the server
//! and one reply.
//!
//! ```
//! use forklore::managers::Manager;
//! use forklore::Process;
//!
//! let manager = Manager::start().unwrap();
//! let li = manager.list::<u32>().unwrap();
//! let mut children: Vec<Process> = (0..4)
//!     .map(|i| {
//!         let li = li.clone();
//!         Process::new(move || li.append(i).unwrap())
//!     })
//!     .collect();
//! for p in &mut children {
//!     p.start().unwrap();
//! }
//! for p in &mut children {
//!     p.join().unwrap();
//! }
//! let mut all = li.to_vec().unwrap();
//! all.sort();
//! assert_eq!(all, [0, 1, 2, 3]);
//! ```
//!
//! # The types
//! | Python | forklore |
//! |---|---|
//! | `manager.list()` | [`Manager::list`] → [`ListProxy<T>`] |
//! | `manager.dict()` | [`Manager::dict`] → [`DictProxy<K, V>`] |
//! | `manager.Queue()`, `manager.JoinableQueue()` | [`Manager::queue`] → [`QueueProxy<T>`] |
//! | `manager.Event()` | [`Manager::event`] → [`EventProxy`] |
//! | `manager.Lock()`, `manager.RLock()` | [`Manager::lock`], [`Manager::rlock`] → [`LockProxy`], [`RLockProxy`] |
//! | (POSIX's robust mutex) | [`Manager::robust_lock`] → [`RobustLockProxy`] |
//! | `manager.Semaphore(n)`, `manager.BoundedSemaphore(n)` | [`Manager::semaphore`], [`Manager::bounded_semaphore`] → [`SemaphoreProxy`] |
//! | `manager.Condition()`, `manager.Condition(lock)` | [`Manager::condition`], [`Manager::condition_with`] → [`ConditionProxy`] |
//! | `manager.Barrier(n)`, `manager.Barrier(n, timeout=t)` | [`Manager::barrier`], [`Manager::barrier_with_timeout`] → [`BarrierProxy`] |
//! | `manager.Value(typecode, v)` | [`Manager::value`] → [`ValueProxy<T>`] |
//! | `manager.Array(typecode, items)` | [`Manager::array`] → [`ArrayProxy<T>`] |
//! | `manager.Namespace()` | [`Manager::namespace`] → [`NamespaceProxy`] |
//!
//! Proxies are typed: a `ListProxy<String>` takes and returns `String`s.
//! Any `serde` type works. The server stores values as [`datum::Datum`]s, a
//! self-describing form it can compare and order, which is what
//! `remove`, `index`, `count`, `contains`, `sort` and dict keys need; the
//! [`datum`] module explains the choice.
//!
//! # Errors
//! An error raised inside the server comes back as the [`Error`] variant of
//! the same meaning: [`Error::IndexOutOfRange`], [`Error::KeyNotFound`],
//! [`Error::ValueNotInList`], [`Error::QueueEmpty`], [`Error::QueueFull`],
//! [`Error::ReleaseUnlocked`], [`Error::NotOwner`], [`Error::BrokenBarrier`].
//! A request the server refuses gives [`Error::ManagerRequest`] (or
//! [`Error::UnknownObject`]) and changes nothing; a bug that panics in the
//! server gives [`Error::ManagerPanicked`]; in both cases the connection
//! stays open. A server that has died gives [`Error::ManagerGone`] on every
//! call, even one blocked in [`QueueProxy::get`]; a wrong authkey gives
//! [`Error::AuthenticationFailed`].
//!
//! # Processes, threads and connections
//! Proxies are `Send + Sync + Clone` and may be moved into forked children
//! ([`Process`](crate::Process)) and threads. Each process and each thread
//! opens its own connection to the server on its first call, so the frames
//! of two callers never interleave. A blocking call (a queue `get`, a lock
//! `acquire`) occupies only the caller's connection and its server thread;
//! other clients go on being served.
//!
//! Each connection starts by telling the server who calls on it: a random
//! token of its process and a number of its thread. An [`RLockProxy`] or a
//! [`ConditionProxy`] is owned by that *caller*, not by a connection, so
//! one acquired in one thread cannot be released from another, as in
//! CPython, and a caller whose connection failed and was reopened still
//! holds it. A [`Guard`] is not `Send` for the same reason.
//!
//! # Locks when their holder dies
//! The rules are CPython's, decided rather than accidental:
//! - A [`LockProxy`] has no owner: anyone may release it, and the server
//!   never does. A lock acquired by a thread that ended, or by a process
//!   that exited or was killed, stays held until someone releases it
//!   (another process may: CPython's own tests release a child's lock from
//!   the parent).
//! - An [`RLockProxy`] (and a [`ConditionProxy`]'s lock) is owned by its
//!   (process, thread); it stays held when that thread or process ends.
//! - A [`SemaphoreProxy`] is a counter: permits are never given back
//!   implicitly.
//! - Going beyond CPython, but only when asked: a [`RobustLockProxy`] is
//!   released when its holder's *process* dies, and the next acquirer gets
//!   it with [`Acquired::OwnerDied`] (POSIX's `EOWNERDEAD`), so it knows the
//!   state the lock protects may be half-updated. Silent release and silent
//!   deadlock are both worse.
//!
//! A client that dies while *waiting* on a condition or a barrier is
//! removed from it (a notification meant for it goes to the next waiter;
//! the barrier breaks, as `threading.Barrier` does when a wait is
//! interrupted): waiting holds nothing.
//!
//! # A refused request is only a refused request
//! A request the server cannot carry out — a value nested too deeply, a
//! frame over the size limit, one that would decode to too much memory
//! (see [`datum::DECODE_FACTOR`]) or make the server take more than that
//! bound allows (`li.extend(b)` of many bytes into a list of other values;
//! a value of another kind into a list of over two million integers or
//! floats, which is stored packed, 8 bytes an element, and would become
//! 32), a reply too big to send back, a method
//! for another type of object, an unknown object id, an overflow — gets an
//! error reply ([`Error::ManagerRequest`], [`Error::UnknownObject`]...) on a
//! connection that stays open, and changes nothing: every object, every
//! reference and every lock hold is intact. A request too big to send is
//! refused by the client before anything is sent. Even a panic in the
//! server (a bug) is caught, answered with [`Error::ManagerPanicked`], and
//! the connection goes on.
//!
//! The server closes a connection only when its byte stream can no longer
//! be trusted (a frame header that is no length, a frame announced at more
//! than 1 GiB, a frame cut short, a frame that says it carries more in
//! shared memory than its lane holds). References are counted per connection,
//! and we chose to keep connections open in every refusal case, and to let
//! a process take its references back when a connection *fails* anyway:
//! the server keeps the references of a failed connection (one it closed,
//! or whose socket broke, not one its client closed) for the connection's
//! process — on a Unix socket while that process lives (the server watches
//! its pid), over TCP for 30 s — and the process's next connection takes
//! them back when it says who it is. The client reconnects on its next
//! call and re-adopts its live references (which counts none twice), so a
//! process whose link failed loses nothing. A process that exits or is
//! killed closes its connections cleanly, and its references go at once.
//! Lock holds belong to callers, so they survive a reconnection untouched.

//! # Reference counting
//! The server frees an object when the last proxy of it, in any process, is
//! dropped, as CPython's does. A proxy that a child inherits by `fork` is
//! counted before the child exists (forklore's own fork path adopts the
//! parent's live proxies on a connection the child inherits; no
//! process-wide fork hook is installed), and the
//! child's references go away with the child, however it ends. See
//! [`Manager::object_count`].
//!
//! # Proxies inside shared objects
//! Every proxy is `Serialize + Deserialize`, so it can be stored in a
//! managed list or dict, put in a queue, or passed as a
//! [`Process::from_fn`](crate::Process::from_fn) argument, as CPython's
//! proxies are pickled (`d['jobs'] = m.Queue()`; `b = m.list([a])`, and
//! `a.append(1)` is seen through `b[0]`):
//!
//! ```
//! use forklore::managers::{ListProxy, Manager};
//!
//! let manager = Manager::start().unwrap();
//! let a = manager.list::<i32>().unwrap();
//! let b = manager.list_from([a.clone()]).unwrap();
//! a.append(1).unwrap();
//! let inner: ListProxy<i32> = b.get(0).unwrap();
//! assert_eq!(inner.to_vec().unwrap(), [1]);
//! ```
//!
//! A proxy serializes as a *token*: its manager's address, the object's id
//! and its type (checked when read back: a list's token is not read as a
//! queue). Inside a managed value it becomes a [`datum::Datum::Ref`], which
//! the server recognizes. The reference counts stay right:
//! - An object lives while any process holds a proxy of it **or** a value
//!   stored in a live object (a list item, a dict key or value, a queued
//!   item, a `Value`, a namespace attribute) refers to it: once a proxy has
//!   been stored anywhere, the server frees objects by tracing from the
//!   objects processes hold through the proxies stored in them (cycles
//!   included: `b.append(b)` is freed when the last outside proxy goes).
//!   A server where no proxy was ever stored frees at a count of zero, as
//!   before, at no extra cost.
//! - A reply that carries proxies (`b[0]`, `q.get()`, `d.pop(k)`) hands one
//!   reference per proxy to the calling process, kept until that process
//!   reads the proxy (which adopts it on its own connection): an object
//!   taken out of the last container that held it is not freed on the way.
//!   A handed reference that is never read (the reply read as a raw
//!   [`datum::Datum`]) is given back when the process ends; over TCP,
//!   after 30 s.
//! - A proxy being sent is held by the sender until the request that
//!   carries it is answered, so `manager.list_from((0..3).map(|_|
//!   manager.list().unwrap()))` loses nothing.
//!
//! Deliberate differences from CPython, and why:
//! - A token never carries the authkey (it may sit in a queue that other
//!   clients read). A process reads a token only for a manager it knows:
//!   one it started, connected to ([`Manager::connect`]) or inherited by
//!   `fork`. A child started by `spawn` or `forkserver` learns the managers
//!   of the proxies in its [`Process::from_fn`](crate::Process::from_fn)
//!   arguments with them, as CPython hands its authkey to the children it
//!   starts. Reading a token of an unknown manager is an
//!   [`Error::Decode`] that says so.
//! - A proxy of *another* manager cannot be stored in an object (the store
//!   is refused with [`Error::InvalidArgument`]): a server counts references
//!   to its own objects only, and would otherwise free the object while it
//!   is stored (CPython stores it and lets it dangle).
//! - A proxy passed as a `Process::from_fn` argument is counted by the
//!   parent's proxies: keep one until the child has started using it
//!   (CPython's `Process` object keeps its `args` alive for you; a forklore
//!   `Process` keeps only their encoded bytes).
//!
//! # Left out: `SyncManager.Pool`
//! CPython's manager can host a `Pool` whose tasks run in the manager's
//! worker processes. forklore does not offer it. It was the lowest
//! priority of the issue that asked for it (issue 14), and it would have
//! the server run callers' code, which it never does today: a task that
//! panics, blocks or leaks would then stall or take down the process that
//! holds every other client's objects, where now a panic in the server is a
//! bug that is caught and answered. To share work between processes, put
//! tasks in a managed [`QueueProxy`] that each process's own
//! [`Pool`](crate::Pool) (or worker [`Process`](crate::Process)es) drains.
//!
//! # Going further than CPython
//! - A [`RobustLockProxy`], on request, is released when its holder's
//!   process dies, with notice to the next owner (see above); CPython has
//!   no such lock.
//! - [`ValueProxy::fetch_add`] and [`ValueProxy::compare_and_swap`] update a
//!   value atomically on the server, where CPython's `v.value += 1` from
//!   several processes loses updates.
//!
//! # Performance
//! A call costs one round trip on a Unix socket: about 4 µs on the 2-vCPU
//! development VM, where CPython's manager took 15 to 60 µs. Both the
//! client (waiting for a reply) and the server thread (waiting for the next
//! request) poll their socket for up to 50 µs, yielding the CPU between
//! polls, before they sleep in `read`: most replies come within a few
//! microseconds, and a sleeping reader whose CPU went idle can take tens of
//! microseconds to wake. A long wait (a blocked `get`) spends at most those
//! 50 µs of CPU before it sleeps.
//!
//! # Security and clean-up
//! The server listens on a Unix socket in a fresh directory that only the
//! current user can enter (mode 0700). Every connection starts with a mutual
//! HMAC-SHA256 challenge–response ([`crate::connection::deliver_challenge`])
//! under a random 32-byte authkey that forked children inherit. A failed
//! handshake or a byte stream that cannot be trusted closes that one
//! connection, with a line on the server's stderr; a request that is merely
//! refused does not (see above). Other clients are not disturbed.
//! A peer that has not authenticated gets 5 s for its whole handshake, at
//! most 32 such peers wait at once, and a server out of descriptors pauses
//! `accept` instead of spinning: see [`gate`].
//! Dropping the [`Manager`] stops the server, reaps it, and removes the
//! socket and its directory. A server whose owner is killed exits too, even
//! if a process the owner forked still runs, and a termination signal for
//! the process group (`SIGTERM`, `SIGHUP`, `SIGQUIT`) ends it as before, but
//! only after it has removed its socket and directory. Only a `SIGKILL` of
//! the server itself leaves the directory behind; its owner then removes
//! it. (How: `PR_SET_PDEATHSIG` and a `signalfd`, in the server process
//! only; the caller's signal handling is untouched.)
//!
//! # Beyond one machine: TCP and named objects
//! [`Manager::start_tcp`] listens on a TCP address instead (Python:
//! `BaseManager(address=(host, port), authkey=key).start()`), so that
//! processes on other hosts can [`Manager::connect`] with the same address
//! and key. An authkey is then mandatory: a TCP manager refuses to start
//! without one. Objects get names with [`Manager::register`], and a client
//! that connects finds them with [`Manager::lookup`] (Python:
//! `QueueManager.register('get_task_queue', ...)` and
//! `manager.get_task_queue()`):
//!
//! ```
//! use forklore::managers::{Manager, QueueProxy};
//!
//! let master = Manager::start_tcp("127.0.0.1:0", b"secret").unwrap();
//! let tasks = master.queue::<u32>().unwrap();
//! master.register("task_queue", &tasks).unwrap();
//! tasks.put(7).unwrap();
//!
//! // Elsewhere, with the address and the key:
//! let worker = Manager::connect(master.address().clone(), b"secret").unwrap();
//! let q: QueueProxy<u32> = worker.lookup("task_queue").unwrap();
//! assert_eq!(q.get().unwrap(), 7);
//! ```
//!
//! The wire, the handshake and the proxies are the same as over a Unix
//! socket. What TCP adds is a peer that can vanish without closing the
//! connection; keepalive and timeouts bound how long anyone waits for it
//! (about 5 s: see [`tcp`]).

pub mod datum;
pub mod gate;
pub mod protocol;
pub mod tcp;

mod accept;
mod address;
pub(crate) mod client;
mod lifeline;
pub(crate) mod named;
mod owner;
mod server;

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::process::ExitStatus;
use client::Endpoint;
use datum::to_datum;
use protocol::{Kind, Request};

pub use address::Address;
pub use client::dict::{DictIter, DictProxy};
pub use client::list::{ArrayProxy, ListIter, ListProxy};
pub use client::queue::QueueProxy;
pub use client::sync::{
    Acquired, BarrierProxy, ConditionProxy, EventProxy, Guard, LockProxy, RLockProxy,
    RobustLockProxy, SemaphoreProxy,
};
pub use client::value::{NamespaceProxy, ValueProxy};
pub use named::Shared;
use owner::Owner;

/// A handle to a manager's server process (Python: `multiprocessing.Manager()`,
/// a `SyncManager`).
///
/// [`Manager::start`] forks the server and returns the owning handle;
/// [`Manager::connect`] reaches a running one. The methods named after
/// Python's (`list`, `dict`, `queue`, `lock`...) create a shared object on
/// the server and return its proxy.
///
/// `Manager` is `Clone`; clones share the server. When the last clone in the
/// process that started the server is dropped, the server is shut down (as
/// leaving `with Manager() as m:` does), reaped, and its socket and directory
/// are removed. Copies that forked children inherit never shut it down.
///
/// # Example
/// ```
/// let manager = forklore::managers::Manager::start().unwrap();
/// let d = manager.dict::<String, u32>().unwrap();
/// d.set("one".to_string(), 1).unwrap();
/// assert_eq!(d.get("one").unwrap(), Some(1));
/// assert!(d.get_item("two").unwrap_err().is_key_not_found());
/// ```
#[derive(Clone)]
pub struct Manager {
    endpoint: Arc<Endpoint>,
    owner: Option<Arc<Owner>>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("address", &self.endpoint.address)
            .field("server_pid", &self.server_pid())
            .finish()
    }
}

impl Manager {
    /// Connect to a running server (Python: `BaseManager(address,
    /// authkey).connect()`). The handle does not own the server: dropping
    /// it leaves the server running.
    ///
    /// # Errors
    /// [`Error::AuthenticationFailed`] if `authkey` is wrong;
    /// [`Error::ManagerGone`] if nothing listens at `address`;
    /// for TCP, [`Error::ManagerUnreachable`] if its host does not answer
    /// within [`tcp::CONNECT_TIMEOUT`] (or stops answering during the
    /// handshake), and [`Error::Timeout`] if it accepts but does not
    /// complete the handshake within [`tcp::HANDSHAKE_TIMEOUT`].
    pub fn connect(address: Address, authkey: &[u8]) -> Result<Manager> {
        let endpoint = Endpoint::new(address, authkey.to_vec());
        drop(client::connect(&endpoint)?);
        client::know(&endpoint);
        Ok(Manager {
            endpoint,
            owner: None,
        })
    }

    /// The server's address.
    pub fn address(&self) -> &Address {
        &self.endpoint.address
    }

    /// The authkey (Python: `current_process().authkey`, which children
    /// inherit). Anyone who has it can use every object on the server.
    pub fn authkey(&self) -> &[u8] {
        &self.endpoint.authkey
    }

    /// The server process's pid, for a handle made by [`start`](Self::start).
    pub fn server_pid(&self) -> Option<crate::Pid> {
        self.owner.as_ref().map(|o| crate::Pid::from_nix(o.server))
    }

    /// Stop the server now (Python: `manager.shutdown()`), wait for it to
    /// exit and remove its socket. Later calls on proxies fail with
    /// [`Error::ManagerGone`]. Calling it again returns the same status.
    /// Only a handle made by [`start`](Self::start), in the process that
    /// made it, can shut the server down; other handles return `Ok(None)`.
    ///
    /// # Errors
    /// [`Error::Os`] if the server cannot be reaped.
    pub fn shutdown(&self) -> Result<Option<ExitStatus>> {
        match &self.owner {
            Some(o) if o.creator == std::process::id() => o.shutdown().map(Some),
            _ => Ok(None),
        }
    }

    /// How many objects the server holds (Python: `manager._number_of_objects()`).
    ///
    /// It drops to zero once every proxy, in every process, is gone. A
    /// process's references disappear when it drops its last proxy, or when it
    /// exits, shortly after.
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    ///
    /// # Example
    /// ```
    /// let manager = forklore::managers::Manager::start().unwrap();
    /// let a = manager.list::<i32>().unwrap();
    /// let b = a.clone();
    /// assert_eq!(manager.object_count().unwrap(), 1);
    /// drop(a);
    /// assert_eq!(manager.object_count().unwrap(), 1);
    /// drop(b);
    /// assert_eq!(manager.object_count().unwrap(), 0);
    /// ```
    pub fn object_count(&self) -> Result<usize> {
        // Proxies kept while being sent are let go first (see `named`).
        named::sent();
        client::object_count(&self.endpoint)
    }

    /// Give `proxy`'s object a name on the server, so that clients which
    /// [`connect`](Self::connect) later can [`lookup`](Self::lookup) it
    /// (Python: `QueueManager.register('get_task_queue', callable=lambda: q)`).
    ///
    /// The server keeps the object alive while the name points to it, even
    /// when no proxy is left. Registering a name again points it to the new
    /// object.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `proxy` belongs to another manager;
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn register<P: Shared>(&self, name: &str, proxy: &P) -> Result<()> {
        let handle = named::sealed::Sealed::handle(proxy);
        if handle.endpoint.address != self.endpoint.address {
            return Err(Error::InvalidArgument(format!(
                "cannot register {name:?}: the proxy belongs to the manager at {}, not {}",
                handle.endpoint.address, self.endpoint.address
            )));
        }
        let reply = client::call(
            &self.endpoint,
            &Request::Register(name.to_string(), handle.id),
        )?;
        want_unit(reply)
    }

    /// A proxy of the object registered as `name` (Python:
    /// `manager.get_task_queue()` for a registered `get_task_queue`). Say
    /// which proxy you expect with the type, as in
    /// `manager.lookup::<QueueProxy<u64>>("task_queue")`.
    ///
    /// # Errors
    /// [`Error::NotRegistered`] if no object has that name;
    /// [`Error::ManagerRequest`] if it is an object of another type (a dict
    /// asked for as a queue); [`Error::ManagerGone`] if the server has gone.
    /// The type parameters of the proxy (the `u64` of `QueueProxy<u64>`) are
    /// not checked here: a value of another type fails to decode, with
    /// [`Error::Decode`], when it is read.
    pub fn lookup<P: Shared>(&self, name: &str) -> Result<P> {
        let id = client::lookup(&self.endpoint, name, P::TYPE_NAMES)?;
        Ok(named::sealed::Sealed::from_handle(Handle {
            endpoint: Arc::clone(&self.endpoint),
            id,
        }))
    }

    fn create(&self, kind: Kind) -> Result<Handle> {
        named::check_destination(&self.endpoint.address)?;
        let id = client::create(&self.endpoint, kind);
        named::sent();
        let id = id?;
        Ok(Handle {
            endpoint: Arc::clone(&self.endpoint),
            id,
        })
    }

    /// A new empty shared list (Python: `manager.list()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ListProxy<T>> {
        self.list_from(std::iter::empty())
    }

    /// A new shared list holding `items` (Python: `manager.list(items)`).
    ///
    /// # Errors
    /// [`Error::Encode`] if an item cannot be converted; [`Error::ManagerGone`].
    pub fn list_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>> {
        let encoding = named::Encoding::start();
        let items = items
            .into_iter()
            .map(|x| to_datum(&x))
            .collect::<Result<_>>()?;
        drop(encoding);
        Ok(ListProxy::new(self.create(Kind::List(items))?))
    }

    /// A new empty shared dict (Python: `manager.dict()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        self.dict_from(std::iter::empty())
    }

    /// A new shared dict holding `pairs`, in their order (Python:
    /// `manager.dict(pairs)`).
    ///
    /// # Errors
    /// [`Error::Encode`] if a pair cannot be converted; [`Error::ManagerGone`].
    pub fn dict_from<K, V>(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let encoding = named::Encoding::start();
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((to_datum(&k)?, to_datum(&v)?)))
            .collect::<Result<_>>()?;
        drop(encoding);
        Ok(DictProxy::new(self.create(Kind::Dict(pairs))?))
    }

    /// A new unbounded queue (Python: `manager.Queue()`, which is also a
    /// `JoinableQueue` here: it has `task_done` and `join`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn queue<T: Serialize + DeserializeOwned>(&self) -> Result<QueueProxy<T>> {
        self.queue_with_maxsize(0)
    }

    /// A new queue that holds at most `maxsize` items; 0 means no limit
    /// (Python: `manager.Queue(maxsize)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn queue_with_maxsize<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<QueueProxy<T>> {
        Ok(QueueProxy::new(self.create(Kind::Queue {
            maxsize: maxsize as u64,
        })?))
    }

    /// A new event, initially clear (Python: `manager.Event()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn event(&self) -> Result<EventProxy> {
        Ok(EventProxy::new(self.create(Kind::Event)?))
    }

    /// A new lock (Python: `manager.Lock()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn lock(&self) -> Result<LockProxy> {
        Ok(LockProxy::new(self.create(Kind::Lock)?))
    }

    /// A new robust lock: released when its holder's process dies, and the
    /// next owner told so (beyond CPython; POSIX's robust mutex). See
    /// [`RobustLockProxy`].
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn robust_lock(&self) -> Result<RobustLockProxy> {
        Ok(RobustLockProxy::new(self.create(Kind::RobustLock)?))
    }

    /// A new reentrant lock (Python: `manager.RLock()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn rlock(&self) -> Result<RLockProxy> {
        Ok(RLockProxy::new(self.create(Kind::RLock)?))
    }

    /// A new semaphore with `value` permits (Python: `manager.Semaphore(value)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn semaphore(&self, value: usize) -> Result<SemaphoreProxy> {
        Ok(SemaphoreProxy::new(self.create(Kind::Semaphore {
            value: value as u64,
            bounded: false,
        })?))
    }

    /// A new bounded semaphore: releasing it above `value` is an error
    /// (Python: `manager.BoundedSemaphore(value)`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn bounded_semaphore(&self, value: usize) -> Result<SemaphoreProxy> {
        Ok(SemaphoreProxy::new(self.create(Kind::Semaphore {
            value: value as u64,
            bounded: true,
        })?))
    }

    /// A new condition with its own reentrant lock (Python: `manager.Condition()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn condition(&self) -> Result<ConditionProxy> {
        Ok(ConditionProxy::new(self.create(Kind::Condition)?))
    }

    /// A new condition on `lock`, a [`LockProxy`] or an [`RLockProxy`] of
    /// this manager (Python: `manager.Condition(lock)`). Several conditions
    /// may share one lock, as in CPython: acquiring any of them, or the
    /// lock itself, takes the same lock, and each condition's `wait`
    /// releases it for the others. The condition keeps the lock object
    /// alive on the server as long as the condition lives.
    ///
    /// As in CPython, `notify` and `wait` need the lock held: by the
    /// caller for an RLock, by anyone for a plain Lock (which has no
    /// owner); otherwise [`Error::NotOwner`].
    ///
    /// ```
    /// let manager = forklore::managers::Manager::start().unwrap();
    /// let lock = manager.lock().unwrap();
    /// let not_empty = manager.condition_with(&lock).unwrap();
    /// let not_full = manager.condition_with(&lock).unwrap();
    /// not_empty.acquire().unwrap();
    /// assert!(lock.locked().unwrap()); // the same lock
    /// assert!(!not_full.acquire_timeout(std::time::Duration::ZERO).unwrap());
    /// not_full.notify_all().unwrap(); // held (by this caller): allowed
    /// not_empty.release().unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a lock of another manager;
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn condition_with(&self, lock: &impl ConditionLock) -> Result<ConditionProxy> {
        let h = lock.lock_handle();
        if h.endpoint.address != self.endpoint.address {
            return Err(Error::InvalidArgument(
                "Manager::condition_with: the lock belongs to another manager".into(),
            ));
        }
        Ok(ConditionProxy::new(self.create(Kind::ConditionOn(h.id))?))
    }

    /// A new barrier for `parties` parties (Python: `manager.Barrier(parties)`).
    ///
    /// # Errors
    /// [`Error::ManagerRequest`] for zero parties; [`Error::ManagerGone`] if
    /// the server has gone.
    pub fn barrier(&self, parties: usize) -> Result<BarrierProxy> {
        if parties == 0 {
            return Err(Error::ManagerRequest(
                "a Barrier needs at least one party".into(),
            ));
        }
        Ok(BarrierProxy::new(self.create(Kind::Barrier {
            parties: parties as u64,
            timeout: None,
        })?))
    }

    /// A new shared barrier whose [`wait`](BarrierProxy::wait) times out
    /// after `timeout` (Python: `manager.Barrier(parties, timeout=timeout)`).
    /// The timeout is the barrier's, kept on the server: every process's
    /// `wait` uses it; [`wait_timeout`](BarrierProxy::wait_timeout) overrides
    /// it for one call. A timeout breaks the barrier, as in Python.
    ///
    /// # Errors
    /// As [`barrier`](Self::barrier).
    pub fn barrier_with_timeout(
        &self,
        parties: usize,
        timeout: std::time::Duration,
    ) -> Result<BarrierProxy> {
        if parties == 0 {
            return Err(Error::ManagerRequest(
                "a Barrier needs at least one party".into(),
            ));
        }
        Ok(BarrierProxy::new(self.create(Kind::Barrier {
            parties: parties as u64,
            timeout: Some(timeout),
        })?))
    }

    /// A new shared value (Python: `manager.Value(typecode, value)`; the
    /// type parameter plays the typecode's part).
    ///
    /// # Errors
    /// [`Error::Encode`] if the value cannot be converted; [`Error::ManagerGone`].
    pub fn value<T: Serialize + DeserializeOwned>(&self, value: T) -> Result<ValueProxy<T>> {
        Ok(ValueProxy::new(
            self.create(Kind::Value(to_datum(&value)?))?,
        ))
    }

    /// A new fixed-length shared array (Python: `manager.Array(typecode, items)`).
    ///
    /// # Errors
    /// [`Error::Encode`] if an item cannot be converted; [`Error::ManagerGone`].
    pub fn array<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>> {
        let encoding = named::Encoding::start();
        let items = items
            .into_iter()
            .map(|x| to_datum(&x))
            .collect::<Result<_>>()?;
        drop(encoding);
        Ok(ArrayProxy::new(self.create(Kind::Array(items))?))
    }

    /// A new empty namespace (Python: `manager.Namespace()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`] if the server has gone.
    pub fn namespace(&self) -> Result<NamespaceProxy> {
        Ok(NamespaceProxy::new(self.create(Kind::Namespace)?))
    }
}

mod handle;

/// A lock that [`Manager::condition_with`] accepts: a [`LockProxy`] or an
/// [`RLockProxy`] (sealed).
pub trait ConditionLock: sealed::Sealed {}
impl ConditionLock for LockProxy {}
impl ConditionLock for RLockProxy {}

mod sealed {
    pub trait Sealed {
        fn lock_handle(&self) -> &super::Handle;
    }
    impl Sealed for super::LockProxy {
        fn lock_handle(&self) -> &super::Handle {
            &self.handle
        }
    }
    impl Sealed for super::RLockProxy {
        fn lock_handle(&self) -> &super::Handle {
            &self.handle
        }
    }
}

use handle::Handle;
pub(crate) use handle::{
    unexpected, want, want_bool, want_maybe, want_pairs, want_seq, want_size, want_unit, want_vec,
};
pub(crate) use server::hosted::Hosted;

// Above `start`: the context makes a `Manager`, so its constructor lives here.
impl crate::start::Context {
    /// A Manager whose server is started by this context's method
    /// (Python: `ctx.Manager()`); see [`Manager::start_with`](crate::Manager::start_with).
    ///
    /// # Errors
    /// Those of [`Manager::start_with`](crate::Manager::start_with).
    pub fn manager(&self) -> Result<crate::Manager> {
        crate::Manager::start_with(self.method)
    }
}
