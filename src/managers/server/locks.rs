//! The server's Lock, RLock, semaphores, Event and Condition: who may
//! acquire, who holds what, and the blocking methods.

use std::collections::BTreeMap;

use crate::managers::protocol::{ConditionOp, EventOp, LockOp, RemoteError};

use super::wait::{deadline, err, ok, CallResult, ClientGone, ConnId, Ctx, Guarded, Waited};

/// Lock, RLock and the semaphores: who may acquire, and who holds what.
pub(crate) enum Acquirer {
    /// A plain lock: any connection may release it; `holder` is the one that
    /// acquired it, released for it if it vanishes.
    Lock { holder: Option<ConnId> },
    /// A reentrant lock, owned by one connection.
    RLock { owner: Option<ConnId>, count: u64 },
    /// A counting semaphore. `held` counts, per connection, the acquisitions
    /// not yet balanced by a release; they are given back if it vanishes.
    Semaphore {
        value: u64,
        initial: u64,
        bounded: bool,
        held: BTreeMap<ConnId, u64>,
    },
}

impl Acquirer {
    pub(super) fn can_acquire(&self, c: ConnId) -> bool {
        match self {
            Acquirer::Lock { holder } => holder.is_none(),
            Acquirer::RLock { owner, .. } => owner.is_none() || *owner == Some(c),
            Acquirer::Semaphore { value, .. } => *value > 0,
        }
    }

    pub(super) fn take(&mut self, c: ConnId) {
        match self {
            Acquirer::Lock { holder } => *holder = Some(c),
            Acquirer::RLock { owner, count } => {
                *owner = Some(c);
                *count += 1;
            }
            Acquirer::Semaphore { value, held, .. } => {
                *value -= 1;
                *held.entry(c).or_default() += 1;
            }
        }
    }

    pub(super) fn release(&mut self, c: ConnId) -> Result<(), RemoteError> {
        match self {
            Acquirer::Lock { holder } => {
                if holder.take().is_none() {
                    return Err(RemoteError::ReleaseUnlocked("an unlocked lock".into()));
                }
            }
            Acquirer::RLock { owner, count } => match *owner {
                None => {
                    return Err(RemoteError::ReleaseUnlocked(
                        "an RLock that is not acquired".into(),
                    ))
                }
                Some(o) if o != c => {
                    return Err(RemoteError::NotOwner(
                        "release of an RLock that another caller holds".into(),
                    ))
                }
                Some(_) => {
                    *count -= 1;
                    if *count == 0 {
                        *owner = None;
                    }
                }
            },
            Acquirer::Semaphore {
                value,
                initial,
                bounded,
                held,
            } => {
                if *bounded && *value >= *initial {
                    return Err(RemoteError::ReleaseUnlocked(
                        "a BoundedSemaphore above its initial value (released too many times)"
                            .into(),
                    ));
                }
                *value += 1;
                // Balance the caller's own acquisition if it has one, else
                // someone else's (a release on another's behalf).
                let who = if held.contains_key(&c) {
                    Some(c)
                } else {
                    held.keys().next().copied()
                };
                if let Some(who) = who {
                    let n = held.get_mut(&who).expect("key just found");
                    *n -= 1;
                    if *n == 0 {
                        held.remove(&who);
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn locked(&self) -> bool {
        match self {
            Acquirer::Lock { holder } => holder.is_some(),
            Acquirer::RLock { owner, .. } => owner.is_some(),
            Acquirer::Semaphore { value, .. } => *value == 0,
        }
    }

    /// Give back what connection `c` holds. True if anything changed.
    pub(super) fn conn_gone(&mut self, c: ConnId) -> bool {
        match self {
            Acquirer::Lock { holder } if *holder == Some(c) => {
                *holder = None;
                true
            }
            Acquirer::RLock { owner, count } if *owner == Some(c) => {
                *owner = None;
                *count = 0;
                true
            }
            Acquirer::Semaphore {
                value,
                initial,
                held,
                ..
            } => match held.remove(&c) {
                // Give back what it acquired and did not release, but never
                // above the initial value: a semaphore counts `initial`
                // resources, and one made with 0 is a pure signal, whose
                // consumed permits are not resources to return.
                Some(n) => {
                    let give = n.min(initial.saturating_sub(*value));
                    *value += give;
                    give > 0
                }
                None => false,
            },
            _ => false,
        }
    }
}

pub(super) struct Waiter {
    ticket: u64,
    notified: bool,
}

/// A condition variable with its own reentrant lock.
pub(crate) struct CondState {
    pub(super) owner: Option<ConnId>,
    pub(super) count: u64,
    pub(super) waiters: Vec<Waiter>,
    pub(super) next_ticket: u64,
}

impl CondState {
    /// Mark up to `n` waiters, oldest first, as notified.
    pub(super) fn notify(&mut self, n: u64) {
        for w in self
            .waiters
            .iter_mut()
            .filter(|w| !w.notified)
            .take(n as usize)
        {
            w.notified = true;
        }
    }

    pub(super) fn remove(&mut self, ticket: u64) -> bool {
        let i = self
            .waiters
            .iter()
            .position(|w| w.ticket == ticket)
            .expect("a waiter removes itself once");
        self.waiters.remove(i).notified
    }
}

pub(super) fn event_op(e: &Guarded<bool>, op: EventOp, ctx: &Ctx<'_>) -> CallResult {
    let mut g = e.lock();
    match op {
        EventOp::Set => {
            *g = true;
            e.notify_all();
            ok(())
        }
        EventOp::Clear => {
            *g = false;
            ok(())
        }
        EventOp::IsSet => ok(*g),
        EventOp::Wait(timeout) => match e.wait(g, deadline(timeout), ctx, |s| *s) {
            Waited::Ready(_) => ok(true),
            Waited::TimedOut(g) => ok(*g),
            Waited::Gone(_) => Err(ClientGone),
        },
    }
}

pub(super) fn lock_op(l: &Guarded<Acquirer>, op: LockOp, ctx: &Ctx<'_>) -> CallResult {
    let g = l.lock();
    let c = ctx.conn;
    match op {
        LockOp::Acquire { blocking, timeout } => {
            let mut g = if !blocking {
                if !g.can_acquire(c) {
                    return ok(false);
                }
                g
            } else {
                match l.wait(g, deadline(timeout), ctx, |s| s.can_acquire(c)) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return ok(false),
                    Waited::Gone(_) => return Err(ClientGone),
                }
            };
            g.take(c);
            ok(true)
        }
        LockOp::Release => {
            let mut g = g;
            match g.release(c) {
                Ok(()) => {
                    l.notify_all();
                    ok(())
                }
                Err(e) => err(e),
            }
        }
        LockOp::Locked => ok(g.locked()),
    }
}

pub(super) fn condition_op(
    cond: &Guarded<CondState>,
    op: ConditionOp,
    ctx: &Ctx<'_>,
) -> CallResult {
    let mut g = cond.lock();
    let c = ctx.conn;
    match op {
        ConditionOp::Acquire { blocking, timeout } => {
            let free = move |s: &mut CondState| s.owner.is_none() || s.owner == Some(c);
            if !blocking {
                if !free(&mut g) {
                    return ok(false);
                }
            } else {
                g = match cond.wait(g, deadline(timeout), ctx, free) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return ok(false),
                    Waited::Gone(_) => return Err(ClientGone),
                };
            }
            g.owner = Some(c);
            g.count += 1;
            ok(true)
        }
        ConditionOp::Release => match g.owner {
            Some(o) if o == c => {
                g.count -= 1;
                if g.count == 0 {
                    g.owner = None;
                    cond.notify_all();
                }
                ok(())
            }
            Some(_) => err(RemoteError::NotOwner(
                "release of a Condition that another caller holds".into(),
            )),
            None => err(RemoteError::ReleaseUnlocked(
                "a Condition that is not acquired".into(),
            )),
        },
        ConditionOp::Notify(n) => {
            if g.owner != Some(c) {
                return err(RemoteError::NotOwner("notify on a Condition".into()));
            }
            g.notify(n);
            cond.notify_all();
            ok(())
        }
        ConditionOp::NotifyAll => {
            if g.owner != Some(c) {
                return err(RemoteError::NotOwner("notify_all on a Condition".into()));
            }
            g.notify(u64::MAX);
            cond.notify_all();
            ok(())
        }
        ConditionOp::Wait(timeout) => {
            if g.owner != Some(c) {
                return err(RemoteError::NotOwner("wait on a Condition".into()));
            }
            // Release the lock completely, wait to be notified, take it back.
            let saved = g.count;
            g.owner = None;
            g.count = 0;
            let ticket = g.next_ticket;
            g.next_ticket += 1;
            g.waiters.push(Waiter {
                ticket,
                notified: false,
            });
            cond.notify_all();
            let notified =
                |s: &mut CondState| s.waiters.iter().any(|w| w.ticket == ticket && w.notified);
            let (mut g, notified) = match cond.wait(g, deadline(timeout), ctx, notified) {
                Waited::Ready(mut g) | Waited::TimedOut(mut g) => {
                    let n = g.remove(ticket);
                    (g, n)
                }
                Waited::Gone(mut g) => {
                    // A notification meant for a vanished waiter goes to the
                    // next one, so a notify() is never lost.
                    if g.remove(ticket) {
                        g.notify(1);
                        cond.notify_all();
                    }
                    return Err(ClientGone);
                }
            };
            g = match cond.wait(g, None, ctx, |s| s.owner.is_none()) {
                Waited::Ready(g) | Waited::TimedOut(g) => g,
                Waited::Gone(mut g) => {
                    if notified {
                        g.notify(1);
                        cond.notify_all();
                    }
                    return Err(ClientGone);
                }
            };
            g.owner = Some(c);
            g.count = saved;
            ok(notified)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semaphore_gives_back_what_a_vanished_holder_held() {
        let mut s = Acquirer::Semaphore {
            value: 2,
            initial: 2,
            bounded: true,
            held: BTreeMap::new(),
        };
        s.take(1);
        s.take(1);
        assert!(!s.can_acquire(2));
        assert!(s.conn_gone(1));
        assert!(s.can_acquire(2));
        assert!(matches!(s.release(2), Err(RemoteError::ReleaseUnlocked(_))));
    }

    #[test]
    fn a_signal_semaphore_returns_nothing() {
        // Semaphore(0) used as a signal: one side releases, the other
        // acquires and exits. The consumed signal must not come back.
        let mut s = Acquirer::Semaphore {
            value: 0,
            initial: 0,
            bounded: false,
            held: BTreeMap::new(),
        };
        s.release(1).unwrap();
        s.take(2);
        assert!(!s.conn_gone(2));
        assert!(!s.can_acquire(3));
    }
}
