//! Client side: the proxy of queues.

use std::time::Duration;

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;
use crate::managers::datum::to_datum;
use crate::managers::protocol::{Method, QueueOp, Reply};
use crate::managers::{want, want_bool, want_size, want_unit, Handle};

// ---------------------------------------------------------------------------
// queue
// ---------------------------------------------------------------------------

/// A proxy of a shared FIFO queue (Python: `manager.Queue()` /
/// `manager.JoinableQueue()`).
///
/// # Example
/// ```
/// use std::time::Duration;
///
/// let manager = forklore::managers::Manager::start().unwrap();
/// let q = manager.queue_with_maxsize::<String>(1).unwrap();
/// q.put("job".to_string()).unwrap();
/// assert!(q.put_nowait("more".to_string()).unwrap_err().is_queue_full());
/// assert_eq!(q.get().unwrap(), "job");
/// q.task_done().unwrap();
/// q.join().unwrap(); // every item put has been marked done
/// let e = q.get_timeout(Duration::from_millis(10)).unwrap_err();
/// assert!(e.is_queue_empty());
/// ```
pub struct QueueProxy<T> {
    pub(crate) handle: Handle,
    _t: PhantomData<fn() -> T>,
}

proxy_common!(QueueProxy<T>);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    fn op(&self, op: QueueOp) -> Result<Reply> {
        self.handle.call(Method::Queue(op))
    }

    fn put_with(&self, item: &T, block: bool, timeout: Option<Duration>) -> Result<()> {
        want_unit(self.op(QueueOp::Put {
            item: to_datum(item)?,
            block,
            timeout,
        })?)
    }

    fn get_with(&self, block: bool, timeout: Option<Duration>) -> Result<T> {
        want(self.op(QueueOp::Get { block, timeout })?)
    }

    /// Add `item`, waiting for room if the queue is bounded and full
    /// (Python: `q.put(item)`).
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode); [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes, even
    /// while this waits.
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.put_with(item.borrow(), true, None)
    }

    /// Add `item`, waiting at most `timeout` for room
    /// (Python: `q.put(item, timeout=t)`).
    ///
    /// # Errors
    /// [`Error::QueueFull`](crate::Error::QueueFull) if there was no room in time.
    pub fn put_timeout(&self, item: impl Borrow<T>, timeout: Duration) -> Result<()> {
        self.put_with(item.borrow(), true, Some(timeout))
    }

    /// Add `item` if there is room now (Python: `q.put_nowait(item)`).
    ///
    /// # Errors
    /// [`Error::QueueFull`](crate::Error::QueueFull) if the queue is full.
    pub fn put_nowait(&self, item: impl Borrow<T>) -> Result<()> {
        self.put_with(item.borrow(), false, None)
    }

    /// Remove and return the oldest item, waiting for one
    /// (Python: `q.get()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes, even while this waits.
    pub fn get(&self) -> Result<T> {
        self.get_with(true, None)
    }

    /// Remove and return the oldest item, waiting at most `timeout`
    /// (Python: `q.get(timeout=t)`).
    ///
    /// # Errors
    /// [`Error::QueueEmpty`](crate::Error::QueueEmpty) if nothing came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_with(true, Some(timeout))
    }

    /// Remove and return the oldest item if there is one now
    /// (Python: `q.get_nowait()`).
    ///
    /// # Errors
    /// [`Error::QueueEmpty`](crate::Error::QueueEmpty) if the queue is empty.
    pub fn get_nowait(&self) -> Result<T> {
        self.get_with(false, None)
    }

    /// The number of items (Python: `q.qsize()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn qsize(&self) -> Result<usize> {
        want_size(self.op(QueueOp::Qsize)?)
    }

    /// Whether the queue is empty (Python: `q.empty()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn empty(&self) -> Result<bool> {
        want_bool(self.op(QueueOp::Empty)?)
    }

    /// Whether a bounded queue is full (Python: `q.full()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server has gone.
    pub fn full(&self) -> Result<bool> {
        want_bool(self.op(QueueOp::Full)?)
    }

    /// Mark one item taken with `get` as processed
    /// (Python: `JoinableQueue.task_done()`).
    ///
    /// # Errors
    /// [`Error::TaskDoneTooManyTimes`](crate::Error::TaskDoneTooManyTimes) if every item put is already done.
    pub fn task_done(&self) -> Result<()> {
        want_unit(self.op(QueueOp::TaskDone)?)
    }

    /// Wait until every item put has been marked done
    /// (Python: `JoinableQueue.join()`).
    ///
    /// # Errors
    /// [`Error::ManagerGone`](crate::Error::ManagerGone) if the server goes, even while this waits.
    pub fn join(&self) -> Result<()> {
        want_unit(self.op(QueueOp::Join)?)
    }
}
