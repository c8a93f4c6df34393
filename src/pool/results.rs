//! The handles a [`Pool`](super::Pool) gives back: [`AsyncResult`],
//! [`MapResult`], [`IMapIterator`], and the callbacks of `map_async`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::Wire;
use crate::error::{Error, Result};
use crate::worker::{decode, Chunks, Handle, Outcome, Shared, Stage, TaskId, Thunk};

/// One stage per chunk of a `map_async_with`: each decodes its chunk; the
/// last to complete calls `callback` with every result in order, or
/// `error_callback` with the first error (in completion order).
pub(super) fn gather<R: Wire + Send + 'static>(
    callback: impl FnOnce(&[R]) + Send + 'static,
    error_callback: impl FnOnce(&Error) + Send + 'static,
) -> impl FnMut() -> Option<Stage> {
    type Gathered<R> = (Vec<Option<Vec<R>>>, usize, Option<Error>);
    type Callbacks<R> = (
        Option<Box<dyn FnOnce(&[R]) + Send>>,
        Option<Box<dyn FnOnce(&Error) + Send>>,
    );
    let state: Arc<Mutex<Gathered<R>>> = Arc::new(Mutex::new((Vec::new(), 0, None)));
    let callbacks: Arc<Mutex<Callbacks<R>>> = Arc::new(Mutex::new((
        Some(Box::new(callback)),
        Some(Box::new(error_callback)),
    )));
    let mut index = 0;
    move || {
        let i = index;
        index += 1;
        lock(&state).0.push(None);
        let state = state.clone();
        let callbacks = callbacks.clone();
        Some(Box::new(move |outcome: &Outcome| -> Thunk {
            let mut s = lock(&state);
            match decode::<R>(outcome) {
                Ok(items) => s.0[i] = Some(items),
                Err(e) => {
                    s.2.get_or_insert(e);
                }
            }
            s.1 += 1;
            if s.1 < s.0.len() {
                return Box::new(|| {});
            }
            let (chunks, _, error) = std::mem::take(&mut *s);
            let (ok, err) = std::mem::take(&mut *lock(&callbacks));
            Box::new(move || match (error, ok, err) {
                (Some(e), _, Some(err)) => err(&e),
                (None, Some(ok), _) => {
                    let all: Vec<R> = chunks.into_iter().flatten().flatten().collect();
                    ok(&all)
                }
                _ => {}
            })
        }) as Stage)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The pending results of [`Pool::map_async`](super::Pool::map_async) and [`Pool::starmap_async`](super::Pool::starmap_async)
/// (Python: `MapResult`).
pub struct MapResult<R> {
    chunks: Chunks<R>,
}

impl<R> std::fmt::Debug for MapResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapResult").finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> MapResult<R> {
    pub(super) fn new(core: &Shared, ids: Vec<TaskId>) -> Self {
        MapResult {
            chunks: Chunks::new(core.clone(), ids, true),
        }
    }

    /// Wait for every chunk; all results in order, or the first error
    /// (Python: `get()`).
    ///
    /// # Errors
    /// As [`Pool::map`](super::Pool::map).
    pub fn get(&self) -> Result<Vec<R>> {
        if !self.chunks.wait_all(None)? {
            return Err(Error::Cancelled);
        }
        self.chunks.results()
    }

    /// [`get`](Self::get), waiting at most `timeout` (Python: `get(timeout)`).
    ///
    /// # Errors
    /// [`Error::Timeout`] if not every chunk is ready in time; otherwise as
    /// [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<R>> {
        if !self.chunks.wait_all(Some(timeout))? {
            return Err(Error::Timeout {
                op: "MapResult.get",
                after: timeout,
            });
        }
        self.chunks.results()
    }

    /// Whether every chunk has finished (Python: `ready()`).
    pub fn ready(&self) -> bool {
        self.chunks.wait_all(Some(Duration::ZERO)).unwrap_or(false)
    }

    /// Whether every chunk finished without error: `None` while some have
    /// not finished (Python: `successful()`).
    pub fn successful(&self) -> Option<bool> {
        self.ready().then(|| self.chunks.results().is_ok())
    }

    /// Wait until every chunk has finished (Python: `wait()`).
    ///
    /// # Errors
    /// [`Error::Os`] if polling the workers fails.
    pub fn wait(&self) -> Result<()> {
        self.chunks.wait_all(None).map(drop)
    }

    /// Wait up to `timeout`; true if every chunk has finished.
    ///
    /// # Errors
    /// [`Error::Os`] if polling the workers fails.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.chunks.wait_all(Some(timeout))
    }
}

/// The pending result of [`Pool::apply_async`](super::Pool::apply_async) (Python: `AsyncResult`).
///
/// In a pool without a background thread, each call collects whatever the
/// workers have finished meanwhile, so polling [`ready`](Self::ready) in a
/// loop makes progress. Dropping the
/// handle does not cancel the task; its result is discarded when it comes.
pub struct AsyncResult<R> {
    pub(super) handle: Handle<R>,
}

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("task", &self.handle.id)
            .finish()
    }
}

impl<R: DeserializeOwned> AsyncResult<R> {
    /// Wait for the result (Python: `get()`). It can be called again: each
    /// call decodes the stored result anew.
    ///
    /// # Errors
    /// The task's failure: [`Error::TaskPanicked`], [`Error::WorkerDied`],
    /// [`Error::Cancelled`] (pool terminated), [`Error::Decode`] or
    /// [`Error::Encode`] for values serde could not carry.
    pub fn get(&self) -> Result<R> {
        self.handle.get(None, "AsyncResult.get")
    }

    /// Wait up to `timeout` for the result (Python: `get(timeout)`). The
    /// task goes on after a timeout; ask again later.
    ///
    /// # Errors
    /// [`Error::Timeout`] if it is not ready in time; otherwise as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R> {
        self.handle.get(Some(timeout), "AsyncResult.get")
    }

    /// Whether the task has finished (Python: `ready()`).
    pub fn ready(&self) -> bool {
        self.handle.done()
    }

    /// Whether the task finished without error: `None` while it has not
    /// finished (Python raises `ValueError` then).
    pub fn successful(&self) -> Option<bool> {
        self.ready().then(|| self.handle.error().is_none())
    }

    /// Wait until the task has finished (Python: `wait()`).
    ///
    /// # Errors
    /// [`Error::Os`] if polling the workers fails.
    pub fn wait(&self) -> Result<()> {
        self.handle.wait(None).map(|_| ())
    }

    /// Wait up to `timeout`; true if the task has finished (Python:
    /// `wait(timeout)`, then `ready()`).
    ///
    /// # Errors
    /// [`Error::Os`] if polling the workers fails.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.handle.wait(Some(timeout))
    }
}

/// The results of [`Pool::imap`](super::Pool::imap) and [`Pool::imap_unordered`](super::Pool::imap_unordered) (Python:
/// `IMapIterator`). Each step waits for the next result and yields it, or the
/// error of the task that should have produced it.
pub struct IMapIterator<R> {
    pub(super) chunks: Chunks<R>,
}

impl<R> std::fmt::Debug for IMapIterator<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMapIterator").finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> IMapIterator<R> {
    /// The next result, waiting at most `timeout` (Python:
    /// `IMapIterator.next(timeout)`): `Some(Err(Error::Timeout))` if it is
    /// not ready in time, and the iterator goes on.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R>> {
        self.chunks.next_within(Some(timeout))
    }
}

impl<R: DeserializeOwned> Iterator for IMapIterator<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.chunks.next()
    }
}
