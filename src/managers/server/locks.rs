//! The server's Lock, RLock, semaphores, Event and Condition: who may
//! acquire, who holds what, and the blocking methods.

use crate::managers::protocol::{ConditionOp, EventOp, LockOp, RemoteError, Reply};

use super::procs::Procs;
use super::wait::{deadline, err, ok, CallResult, Caller, ClientGone, Ctx, Guarded, Waited};

/// Lock, RLock, the semaphores and the robust lock: who may acquire, and
/// who holds what. The server never gives back what a caller holds because
/// its connection closed: see each variant.
pub(crate) enum Acquirer {
    /// A plain lock, as CPython's: it has no owner. Any caller may release
    /// it, and it stays held when the caller that acquired it ends, until
    /// someone releases it. `holder` is kept for the server's log only.
    Lock { holder: Option<Caller> },
    /// A reentrant lock, owned by one caller (a process and thread). It
    /// stays held when its owner's thread or process ends, as in CPython.
    RLock { owner: Option<Caller>, count: u64 },
    /// A counting semaphore: a counter, never given back implicitly.
    Semaphore {
        value: u64,
        initial: u64,
        bounded: bool,
    },
    /// A robust lock (POSIX `PTHREAD_MUTEX_ROBUST`): owned by a caller;
    /// when the owner's *process* dies, the next acquirer takes it and is
    /// told so (`owner_died`).
    Robust { owner: Option<Caller> },
}

impl Acquirer {
    /// Whether caller `c` may take it now. `procs` tells whether a robust
    /// lock's owner lives.
    pub(super) fn can_acquire(&self, c: Caller, procs: &Procs) -> bool {
        match self {
            Acquirer::Lock { holder } => holder.is_none(),
            Acquirer::RLock { owner, .. } => owner.is_none() || *owner == Some(c),
            Acquirer::Semaphore { value, .. } => *value > 0,
            Acquirer::Robust { owner } => match owner {
                None => true,
                Some(o) => !procs.alive(o.process),
            },
        }
    }

    /// Take it for `c` (after `can_acquire`). True when a robust lock's
    /// previous owner died holding it.
    pub(super) fn take(&mut self, c: Caller) -> bool {
        match self {
            Acquirer::Lock { holder } => *holder = Some(c),
            Acquirer::RLock { owner, count } => {
                *owner = Some(c);
                *count = count.saturating_add(1);
            }
            Acquirer::Semaphore { value, .. } => *value = value.saturating_sub(1),
            Acquirer::Robust { owner } => return owner.replace(c).is_some(),
        }
        false
    }

    pub(super) fn release(&mut self, c: Caller) -> Result<(), RemoteError> {
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
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        *owner = None;
                    }
                }
            },
            Acquirer::Semaphore {
                value,
                initial,
                bounded,
            } => {
                if *bounded && *value >= *initial {
                    return Err(RemoteError::ReleaseUnlocked(
                        "a BoundedSemaphore above its initial value (released too many times)"
                            .into(),
                    ));
                }
                *value = value.checked_add(1).ok_or_else(|| {
                    RemoteError::Invalid(format!(
                        "a Semaphore cannot count above {} (it is at its maximum)",
                        u64::MAX
                    ))
                })?;
            }
            Acquirer::Robust { owner } => match *owner {
                None => {
                    return Err(RemoteError::ReleaseUnlocked(
                        "a robust lock that is not acquired".into(),
                    ))
                }
                Some(o) if o != c => {
                    return Err(RemoteError::NotOwner(
                        "release of a robust lock that another caller holds".into(),
                    ))
                }
                Some(_) => *owner = None,
            },
        }
        Ok(())
    }

    pub(super) fn locked(&self) -> bool {
        match self {
            Acquirer::Lock { holder } => holder.is_some(),
            Acquirer::RLock { owner, .. } | Acquirer::Robust { owner } => owner.is_some(),
            Acquirer::Semaphore { value, .. } => *value == 0,
        }
    }
}

pub(super) struct Waiter {
    ticket: u64,
    notified: bool,
}

/// A condition variable with its own reentrant lock.
pub(crate) struct CondState {
    pub(super) owner: Option<Caller>,
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
    let c = ctx.caller;
    match op {
        LockOp::Acquire { .. } if matches!(*g, Acquirer::RLock { owner: Some(o), count: u64::MAX } if o == c) => {
            err(RemoteError::Invalid(format!(
                "an RLock cannot be acquired more than {} times",
                u64::MAX
            )))
        }
        LockOp::Acquire { blocking, timeout } => {
            let mut g = if !blocking {
                if !g.can_acquire(c, ctx.procs) {
                    return ok(false);
                }
                g
            } else {
                // A robust lock's owner may die without a notification:
                // the wait re-checks every slice.
                match l.wait(g, deadline(timeout), ctx, |s| s.can_acquire(c, ctx.procs)) {
                    Waited::Ready(g) => g,
                    Waited::TimedOut(_) => return ok(false),
                    Waited::Gone(_) => return Err(ClientGone),
                }
            };
            let owner_died = g.take(c);
            if matches!(*g, Acquirer::Robust { .. }) {
                return Ok(Ok(Reply::Acquired { owner_died }));
            }
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
    let c = ctx.caller;
    match op {
        ConditionOp::Acquire { .. } if g.owner == Some(c) && g.count == u64::MAX => {
            err(RemoteError::Invalid(format!(
                "a Condition's lock cannot be acquired more than {} times",
                u64::MAX
            )))
        }
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
            g.count = g.count.saturating_add(1);
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
            g.next_ticket = g.next_ticket.wrapping_add(1);
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

/// Whether caller `c` owns `a` for a condition: an RLock it holds, or a
/// plain Lock held by anyone (CPython's `Condition._is_owned` for a lock
/// without an owner: "it cannot be acquired now").
fn cond_owned(a: &Acquirer, c: Caller) -> bool {
    match a {
        Acquirer::RLock { owner, .. } => *owner == Some(c),
        Acquirer::Lock { holder } => holder.is_some(),
        _ => false,
    }
}

/// A condition on a shared Lock or RLock (`Condition(lock)`): the lock's
/// own state does the locking, `cond` holds the waiters. CPython's
/// `threading.Condition`: a waiter is registered before the lock is
/// released, so a notify after the release cannot be missed.
pub(super) fn condition_on_op(
    lock: &Guarded<Acquirer>,
    cond: &Guarded<CondState>,
    op: ConditionOp,
    ctx: &Ctx<'_>,
) -> CallResult {
    let c = ctx.caller;
    let not_owner = |what: &str| err(RemoteError::NotOwner(format!("{what} on a Condition")));
    match op {
        ConditionOp::Acquire { blocking, timeout } => {
            lock_op(lock, LockOp::Acquire { blocking, timeout }, ctx)
        }
        ConditionOp::Release => lock_op(lock, LockOp::Release, ctx),
        ConditionOp::Notify(_) | ConditionOp::NotifyAll | ConditionOp::Wait(_)
            if !cond_owned(&lock.lock(), c) =>
        {
            not_owner(match op {
                ConditionOp::Notify(_) => "notify",
                ConditionOp::NotifyAll => "notify_all",
                _ => "wait",
            })
        }
        ConditionOp::Notify(n) => {
            cond.lock().notify(n);
            cond.notify_all();
            ok(())
        }
        ConditionOp::NotifyAll => {
            cond.lock().notify(u64::MAX);
            cond.notify_all();
            ok(())
        }
        ConditionOp::Wait(timeout) => {
            let ticket = {
                let mut g = cond.lock();
                let ticket = g.next_ticket;
                g.next_ticket = g.next_ticket.wrapping_add(1);
                g.waiters.push(Waiter {
                    ticket,
                    notified: false,
                });
                ticket
            };
            // Release the lock completely (`_release_save`).
            let saved = {
                let mut a = lock.lock();
                let saved = match &mut *a {
                    Acquirer::RLock { owner, count } => {
                        *owner = None;
                        std::mem::take(count)
                    }
                    Acquirer::Lock { holder } => {
                        *holder = None;
                        1
                    }
                    _ => 0,
                };
                lock.notify_all();
                saved
            };
            let notified =
                |s: &mut CondState| s.waiters.iter().any(|w| w.ticket == ticket && w.notified);
            let notified = match cond.wait(cond.lock(), deadline(timeout), ctx, notified) {
                Waited::Ready(mut g) | Waited::TimedOut(mut g) => g.remove(ticket),
                Waited::Gone(mut g) => {
                    if g.remove(ticket) {
                        g.notify(1);
                        cond.notify_all();
                    }
                    return Err(ClientGone);
                }
            };
            // Take the lock back (`_acquire_restore`).
            let mut a = match lock.wait(lock.lock(), None, ctx, |s| s.can_acquire(c, ctx.procs)) {
                Waited::Ready(a) | Waited::TimedOut(a) => a,
                Waited::Gone(a) => {
                    drop(a);
                    if notified {
                        cond.lock().notify(1);
                        cond.notify_all();
                    }
                    return Err(ClientGone);
                }
            };
            match &mut *a {
                Acquirer::RLock { owner, count } => {
                    *owner = Some(c);
                    *count = saved;
                }
                Acquirer::Lock { holder } => *holder = Some(c),
                _ => {}
            }
            ok(notified)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(process: u64) -> Caller {
        Caller { process, thread: 0 }
    }

    #[test]
    fn a_semaphore_at_its_maximum_refuses_a_release() {
        let mut s = Acquirer::Semaphore {
            value: u64::MAX,
            initial: u64::MAX,
            bounded: false,
        };
        assert!(matches!(s.release(caller(1)), Err(RemoteError::Invalid(_))));
        let Acquirer::Semaphore { value, .. } = s else {
            unreachable!()
        };
        assert_eq!(value, u64::MAX);
    }

    #[test]
    fn an_rlock_acquired_u64_max_times_refuses_one_more() {
        use std::os::fd::AsFd;
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let procs = Procs::default();
        let ctx = Ctx {
            caller: caller(1),
            fd: a.as_fd(),
            procs: &procs,
        };
        let l = Guarded::new(Acquirer::RLock {
            owner: Some(caller(1)),
            count: u64::MAX,
        });
        let acquire = LockOp::Acquire {
            blocking: false,
            timeout: None,
        };
        let r = lock_op(&l, acquire, &ctx).unwrap();
        assert!(matches!(r, Err(RemoteError::Invalid(_))), "{r:?}");
        assert!(matches!(
            *l.lock(),
            Acquirer::RLock {
                count: u64::MAX,
                ..
            }
        ));
    }

    #[test]
    fn a_robust_lock_tells_the_next_owner_that_the_last_one_died() {
        let procs = Procs::default();
        procs.attach(1, None, false);
        let mut l = Acquirer::Robust { owner: None };
        assert!(l.can_acquire(caller(1), &procs));
        assert!(!l.take(caller(1)));
        assert!(!l.can_acquire(caller(2), &procs));
        // Process 1 has no connection left, and over TCP that is death.
        procs.detach(1);
        assert!(l.can_acquire(caller(2), &procs));
        assert!(l.take(caller(2)), "owner_died");
        assert!(matches!(
            l.release(caller(1)),
            Err(RemoteError::NotOwner(_))
        ));
        l.release(caller(2)).unwrap();
    }
}
