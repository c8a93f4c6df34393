//! Start methods: how a [`Process`](crate::Process) gets its new process
//! (Python: `multiprocessing.set_start_method`, `get_context`).
//!
//! | method | Python | what it does | what it can run |
//! |---|---|---|---|
//! | [`StartMethod::Fork`] | `"fork"` | `fork(2)` of the calling process | closures and `fn` items |
//! | [`StartMethod::Spawn`] | `"spawn"` | a fresh run of this executable (`/proc/self/exe`) | `fn` items with serde arguments |
//! | [`StartMethod::ForkServer`] | `"forkserver"` | a fork of a small single-threaded server, itself spawned on first use | `fn` items with serde arguments |
//!
//! `fork` copies only the calling thread, so it is refused in a process
//! with other threads ([`Error::ForkWithThreads`]):
//! a lock another thread held stays held for ever in the child. `spawn` and
//! `forkserver` are safe from any program, threaded or not, and the default
//! is `forkserver`, as in CPython 3.14 on Linux.
//!
//! # Why closures are fork-only
//! A forked child is a copy of the parent's memory, so a closure and
//! everything it captured are simply there. A spawned process is a new run
//! of the executable: it has the same code, but none of the parent's data,
//! so what crosses must be code (a `fn` item, found in the new image by its
//! offset from a symbol of forklore, since the executable may be loaded at
//! another address) and data that can be serialized (postcard, through
//! serde). The fork server is a spawned process too, and the parent's data
//! never reaches it. This is Python's picklability requirement, in Rust
//! terms: a `fn` item instead of a module-level function, `Serialize` instead
//! of picklable.
//!
//! # `forklore::init()`
//! `spawn` re-executes the program, so the new process starts at `main`
//! again. [`init`] must be the first thing `main` does: in a spawned
//! process it runs the requested function and exits, never returning into
//! the rest of `main`. It is Python's `if __name__ == '__main__':` guard.
//! Forgetting it is an error ([`Error::SpawnNotInitialized`]),
//! never a fork bomb: without `init`, `spawn` and `forkserver` refuse to
//! start anything.
//!
//! ```no_run
//! use forklore::start::{get_context, StartMethod};
//!
//! fn work(n: u32) {
//!     forklore::outln!("child got {n}");
//! }
//!
//! fn main() {
//!     forklore::init();
//!     let mut p = get_context(StartMethod::Spawn).process(work, 7);
//!     p.start().unwrap();
//!     assert!(p.join().unwrap().success());
//! }
//! ```

use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

pub(crate) mod child;
pub(crate) mod forkserver;
pub(crate) mod keys;
pub(crate) mod spawn;

pub use spawn::init;

/// How a process is started (Python's start method names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// `fork(2)` of the caller: fastest, runs closures, refused when the
    /// caller has other threads.
    Fork,
    /// A fresh run of this executable: slowest, safe anywhere, needs
    /// [`init`].
    Spawn,
    /// A fork of a single-threaded server that is spawned on first use:
    /// safe anywhere, needs [`init`]. The default.
    ForkServer,
}

impl StartMethod {
    /// Python's name for it: `"fork"`, `"spawn"`, `"forkserver"`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => StartMethod::Fork,
            1 => StartMethod::Spawn,
            _ => StartMethod::ForkServer,
        }
    }
}

impl std::fmt::Display for StartMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StartMethod {
    type Err = Error;

    /// Parse Python's names.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::ForkServer),
            other => Err(Error::InvalidArgument(format!(
                "cannot find context for {other:?} (the start methods are \"fork\", \"spawn\" and \"forkserver\")"
            ))),
        }
    }
}

static DEFAULT: AtomicU8 = AtomicU8::new(2);

/// Choose the start method of every process whose own method is not set
/// (Python: `multiprocessing.set_start_method(method, force=True)`).
pub fn set_start_method(method: StartMethod) {
    DEFAULT.store(method as u8, Ordering::Relaxed);
}

/// The program's start method: [`StartMethod::ForkServer`] unless
/// [`set_start_method`] chose another (Python:
/// `multiprocessing.get_start_method()`).
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(DEFAULT.load(Ordering::Relaxed))
}

/// Whether a Manager's server is spawned rather than forked: with an
/// explicit `Spawn` or `ForkServer`, yes; with none, when the program's
/// method is not `Fork` and `main` called [`init`] (a program that never
/// called `init` keeps forking its server, as before start methods).
pub(crate) fn server_is_spawned(explicit: Option<StartMethod>) -> bool {
    match explicit {
        Some(m) => m != StartMethod::Fork,
        None => get_start_method() != StartMethod::Fork && spawn::initialized(),
    }
}

/// A start method to create processes with (Python: the object
/// `multiprocessing.get_context("spawn")` returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub(crate) method: StartMethod,
}

/// The context of one start method (Python: `multiprocessing.get_context`).
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

impl Context {
    /// Its start method.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }
}
