//! # forklore
//!
//! Python's `multiprocessing` and `subprocess`, reimplemented in Rust and
//! taught chapter by chapter. The crate follows the Python modules' shape, so a
//! Python user finds things where they expect them:
//!
//! | Python | forklore |
//! |---|---|
//! | `os.fork()` | [`fork()`] returning [`Fork`] |
//! | `multiprocessing.Process` | [`Process`] |
//! | `multiprocessing.current_process()` | [`current_process()`] |
//! | `set_start_method`, `get_context("spawn")`, the `__main__` guard | [`start::set_start_method`], [`start::get_context`], [`init()`], [`Process::from_fn`] |
//! | `Process.exitcode` | [`ExitStatus`] (displays as `-15` after `terminate`) |
//! | `multiprocessing.Pipe()`, `Connection` | [`connection::pipe()`], [`connection::Connection`] |
//! | `multiprocessing.Pool`, `AsyncResult` | [`Pool`], [`pool::AsyncResult`] |
//! | `concurrent.futures.ProcessPoolExecutor`, `Future` | [`ProcessPoolExecutor`], [`executor::TaskFuture`] |
//! | `multiprocessing.Manager()`, its proxies | [`Manager`], [`managers::ListProxy`], [`managers::DictProxy`], ... |
//! | `subprocess.Popen`, `run`, `check_output` | [`subprocess::Popen`], [`subprocess::run`], [`subprocess::check_output`] |
//!
//! Output from several processes that share a terminal or pipe tears when a
//! line is written in pieces, as Python's `print` does. [`outln!`] and
//! [`errln!`] write each line with one `write(2)` (see [`io`]).
//!
//! Every fallible call returns [`Result`], whose error is the one [`Error`]
//! enum of the crate.
//!
//! ```
//! use forklore::Process;
//!
//! let mut children: Vec<Process> = (0..3)
//!     .map(|i| Process::new(move || forklore::outln!("child {i}")))
//!     .collect();
//! for p in &mut children {
//!     p.start().unwrap();
//! }
//! for p in &mut children {
//!     assert!(p.join().unwrap().success());
//! }
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "forklore runs on Linux only: it is built on fork(2), pidfds, Unix sockets and /proc"
);

pub mod connection;
pub mod error;
pub mod executor;
mod exit_status;
mod fork;
pub mod io;
pub mod managers;
mod orphan;
mod os;
pub mod pool;
pub mod process;
pub mod pyproto;
pub mod queues;
mod region;
pub mod shared_memory;
pub mod sharedctypes;
pub mod start;
pub mod subprocess;
pub mod synchronize;
mod sys;
mod worker;

pub use error::{Error, Result};
pub use executor::ProcessPoolExecutor;
pub use fork::{fork, fork_with_threads, thread_count, Fork};
pub use managers::Manager;
pub use os::{Pid, Signal};
pub use pool::Pool;
pub use process::{active_children, current_process, CurrentProcess, ExitStatus, Process};
pub use start::{init, StartMethod};
pub use subprocess::Popen;
