//! The server's queues (JoinableQueue) and barriers.

use std::collections::VecDeque;

use crate::managers::datum::Datum;
use crate::managers::protocol::{BarrierOp, QueueOp, RemoteError, Reply};

use super::wait::{deadline, err, ok, CallResult, ClientGone, Ctx, Guarded, Waited};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum BarrierPhase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

/// `threading.Barrier`, ported.
pub(crate) struct BarrierState {
    pub(super) parties: u64,
    /// The default timeout of a `wait` (Python: `Barrier(n, timeout=t)`).
    pub(super) timeout: Option<std::time::Duration>,
    pub(super) count: u64,
    pub(super) phase: BarrierPhase,
}

pub(crate) struct QueueState {
    pub(super) items: VecDeque<Datum>,
    pub(super) maxsize: u64,
    pub(super) unfinished: u64,
}

impl QueueState {
    pub(super) fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() as u64 >= self.maxsize
    }
}

pub(super) fn queue_op(q: &Guarded<QueueState>, op: QueueOp, ctx: &Ctx<'_>) -> CallResult {
    let g = q.lock();
    match op {
        QueueOp::Qsize => ok(g.items.len()),
        QueueOp::Empty => ok(g.items.is_empty()),
        QueueOp::Full => ok(g.full()),
        QueueOp::Put {
            item,
            block,
            timeout,
        } => {
            let mut g = if !block {
                if g.full() {
                    return err(RemoteError::QueueFull);
                }
                g
            } else {
                match q.wait(g, deadline(timeout), ctx, |s| !s.full()) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return err(RemoteError::QueueFull),
                    Waited::Gone(_) => return Err(ClientGone),
                }
            };
            g.items.push_back(item);
            g.unfinished += 1;
            q.notify_all();
            ok(())
        }
        QueueOp::Get { block, timeout } => {
            let mut g = if !block {
                g
            } else {
                match q.wait(g, deadline(timeout), ctx, |s| !s.items.is_empty()) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return err(RemoteError::QueueEmpty),
                    Waited::Gone(_) => return Err(ClientGone),
                }
            };
            match g.items.pop_front() {
                Some(d) => {
                    q.notify_all();
                    ok(d)
                }
                None => err(RemoteError::QueueEmpty),
            }
        }
        QueueOp::TaskDone => {
            let mut g = g;
            if g.unfinished == 0 {
                return err(RemoteError::TaskDoneTooManyTimes);
            }
            g.unfinished -= 1;
            if g.unfinished == 0 {
                q.notify_all();
            }
            ok(())
        }
        QueueOp::Join => match q.wait(g, None, ctx, |s| s.unfinished == 0) {
            Waited::Ready(_) | Waited::TimedOut(_) => ok(()),
            Waited::Gone(_) => Err(ClientGone),
        },
    }
}

pub(super) fn barrier_op(b: &Guarded<BarrierState>, op: BarrierOp, ctx: &Ctx<'_>) -> CallResult {
    use BarrierPhase::*;
    let mut g = b.lock();
    match op {
        BarrierOp::Parties => ok(g.parties as usize),
        BarrierOp::NWaiting => ok(if g.phase == Filling {
            g.count as usize
        } else {
            0
        }),
        BarrierOp::Broken => ok(g.phase == Broken),
        BarrierOp::Abort => {
            g.phase = Broken;
            b.notify_all();
            ok(())
        }
        BarrierOp::Reset => {
            if g.count > 0 {
                if g.phase == Filling || g.phase == Broken {
                    g.phase = Resetting;
                }
            } else {
                g.phase = Filling;
            }
            b.notify_all();
            ok(())
        }
        BarrierOp::Wait(timeout) => {
            // _enter: wait while the barrier drains or resets.
            let mut g = match b.wait(g, None, ctx, |s| !matches!(s.phase, Draining | Resetting)) {
                Waited::Ready(g) | Waited::TimedOut(g) => g,
                Waited::Gone(_) => return Err(ClientGone),
            };
            if g.phase == Broken {
                return err(RemoteError::BrokenBarrier);
            }
            // Python: `if timeout is None: timeout = self._timeout`.
            let timeout = timeout.or(g.timeout);
            let index = g.count;
            g.count += 1;
            let (mut g, result) = if index + 1 == g.parties {
                // _release: the last party lets everybody go.
                g.phase = Draining;
                b.notify_all();
                (g, Ok(Ok(Reply::Size(index))))
            } else {
                match b.wait(g, deadline(timeout), ctx, |s| s.phase != Filling) {
                    Waited::Ready(g) => {
                        let r = if matches!(g.phase, Broken | Resetting) {
                            err(RemoteError::BrokenBarrier)
                        } else {
                            Ok(Ok(Reply::Size(index)))
                        };
                        (g, r)
                    }
                    Waited::TimedOut(mut g) => {
                        g.phase = Broken;
                        b.notify_all();
                        (g, err(RemoteError::BrokenBarrier))
                    }
                    Waited::Gone(mut g) => {
                        // As when a thread's wait raises: the barrier breaks.
                        g.phase = Broken;
                        b.notify_all();
                        (g, Err(ClientGone))
                    }
                }
            };
            // _exit
            g.count -= 1;
            if g.count == 0 && matches!(g.phase, Draining | Resetting) {
                g.phase = Filling;
                b.notify_all();
            }
            result
        }
    }
}
