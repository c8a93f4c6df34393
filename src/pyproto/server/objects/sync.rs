//! The synchronisation objects' methods: `queue.Queue`, `threading.Event`,
//! `Lock`/`RLock`/`Semaphore`/`BoundedSemaphore`/`Condition` and `Barrier`,
//! blocking on the server's threads.

use super::*;

impl QueueObj {
    pub(super) fn call(&self, method: &str, a: &CallArgs) -> Result<Outcome, Outcome> {
        let full = |s: &QueueState| s.maxsize > 0 && s.items.len() >= s.maxsize;
        match method {
            "put" | "put_nowait" => {
                let item = a.need(0, "item", method)?.clone();
                let (block, timeout) = if method == "put_nowait" {
                    (false, None)
                } else {
                    (
                        a.get(1, "block").is_none_or(truthy),
                        timeout_arg(a.get(2, "timeout"))?,
                    )
                };
                let g = lock(&self.st);
                let (mut g, room) = if block {
                    wait_until(&self.cv, g, timeout, |s| !full(s))
                } else {
                    let room = !full(&g);
                    (g, room)
                };
                if !room {
                    return Err(Outcome::Error(Value::exception("queue", "Full", vec![])));
                }
                g.items.push_back(item);
                g.unfinished = g.unfinished.saturating_add(1);
                drop(g);
                self.cv.notify_all();
                ok()
            }
            "get" | "get_nowait" => {
                let (block, timeout) = if method == "get_nowait" {
                    (false, None)
                } else {
                    (
                        a.get(0, "block").is_none_or(truthy),
                        timeout_arg(a.get(1, "timeout"))?,
                    )
                };
                let g = lock(&self.st);
                let (mut g, some) = if block {
                    wait_until(&self.cv, g, timeout, |s| !s.items.is_empty())
                } else {
                    let some = !g.items.is_empty();
                    (g, some)
                };
                match (some, g.items.pop_front()) {
                    (true, Some(v)) => {
                        drop(g);
                        self.cv.notify_all();
                        ret(v)
                    }
                    _ => Err(Outcome::Error(Value::exception("_queue", "Empty", vec![]))),
                }
            }
            "qsize" => ret(Value::Int(
                i64::try_from(lock(&self.st).items.len()).unwrap_or(i64::MAX),
            )),
            "empty" => ret(Value::Bool(lock(&self.st).items.is_empty())),
            "full" => ret(Value::Bool(full(&lock(&self.st)))),
            "task_done" => {
                let mut g = lock(&self.st);
                if g.unfinished == 0 {
                    return Err(value_error("task_done() called too many times"));
                }
                g.unfinished -= 1;
                drop(g);
                self.cv.notify_all();
                ok()
            }
            "join" => {
                let g = lock(&self.st);
                drop(wait_until(&self.cv, g, None, |s| s.unfinished == 0).0);
                ok()
            }
            _ => Err(no_method(method)),
        }
    }
}

impl EventObj {
    pub(super) fn call(&self, method: &str, a: &CallArgs) -> Result<Outcome, Outcome> {
        match method {
            "set" => {
                *lock(&self.flag) = true;
                self.cv.notify_all();
                ok()
            }
            "clear" => {
                *lock(&self.flag) = false;
                ok()
            }
            "is_set" => ret(Value::Bool(*lock(&self.flag))),
            "wait" => {
                let t = timeout_arg(a.get(0, "timeout"))?;
                let (_g, set) = wait_until(&self.cv, lock(&self.flag), t, |f| *f);
                ret(Value::Bool(set))
            }
            _ => Err(no_method(method)),
        }
    }
}

impl LockObj {
    pub(super) fn acquire(&self, caller: u64, a: &CallArgs) -> Result<bool, Outcome> {
        let blocking = a.get(0, "blocking").is_none_or(truthy);
        let timeout = match a.get(1, "timeout") {
            Some(Value::Float(f)) if *f == -1.0 => None,
            Some(Value::Int(-1)) => None,
            t => timeout_arg(t)?,
        };
        if !blocking && timeout.is_some() {
            return Err(value_error(
                "can't specify a timeout for a non-blocking call",
            ));
        }
        let kind = self.kind;
        let mut g = lock(&self.st);
        if kind == LockKind::RLock && g.owner == Some(caller) {
            g.count = g
                .count
                .checked_add(1)
                .ok_or_else(|| runtime_error("recursion overflow"))?;
            return Ok(true);
        }
        let free = move |s: &mut LockState| match kind {
            LockKind::Lock | LockKind::RLock => s.count == 0,
            _ => s.count > 0,
        };
        let got = if blocking {
            let (g2, got) = wait_until(&self.cv, g, timeout, free);
            g = g2;
            got
        } else {
            free(&mut g)
        };
        if got {
            match kind {
                LockKind::Lock => g.count = 1,
                LockKind::RLock => {
                    g.count = 1;
                    g.owner = Some(caller);
                }
                _ => g.count -= 1,
            }
        }
        Ok(got)
    }

    pub(super) fn release(&self, caller: u64) -> Result<(), Outcome> {
        let mut g = lock(&self.st);
        match self.kind {
            LockKind::Lock => {
                if g.count == 0 {
                    return Err(runtime_error("release unlocked lock"));
                }
                g.count = 0;
            }
            LockKind::RLock => {
                if g.owner != Some(caller) || g.count == 0 {
                    return Err(runtime_error("cannot release un-acquired lock"));
                }
                g.count -= 1;
                if g.count == 0 {
                    g.owner = None;
                }
            }
            LockKind::Semaphore => g.count = g.count.saturating_add(1),
            LockKind::Bounded(max) => {
                if g.count >= max {
                    return Err(value_error("Semaphore released too many times"));
                }
                g.count += 1;
            }
        }
        drop(g);
        self.cv.notify_all();
        Ok(())
    }

    pub(super) fn call(&self, caller: u64, method: &str, a: &CallArgs) -> Result<Outcome, Outcome> {
        match method {
            "acquire" => ret(Value::Bool(self.acquire(caller, a)?)),
            "release" => self.release(caller).map(|()| Outcome::Return(Value::None)),
            _ => Err(no_method(method)),
        }
    }

    /// `threading.Condition` over this RLock.
    pub(super) fn call_condition(
        &self,
        caller: u64,
        method: &str,
        a: &CallArgs,
    ) -> Result<Outcome, Outcome> {
        match method {
            "acquire" | "release" => self.call(caller, method, a),
            "notify" | "notify_all" => {
                let mut g = lock(&self.st);
                if g.owner != Some(caller) {
                    return Err(runtime_error("cannot notify on un-acquired lock"));
                }
                let n = if method == "notify_all" {
                    g.waiting.len()
                } else {
                    match a.get(0, "n") {
                        None => 1,
                        Some(v) => usize::try_from(int_arg(v)?).unwrap_or(0),
                    }
                };
                for _ in 0..n.min(g.waiting.len()) {
                    g.waiting.pop_front();
                }
                drop(g);
                self.cv.notify_all();
                ok()
            }
            "wait" => {
                let timeout = timeout_arg(a.get(0, "timeout"))?;
                let mut g = lock(&self.st);
                if g.owner != Some(caller) {
                    return Err(runtime_error("cannot wait on un-acquired lock"));
                }
                // Release fully, wait for a notify, then take the lock back
                // at the same depth.
                let depth = g.count;
                g.count = 0;
                g.owner = None;
                let ticket = g.next_ticket;
                g.next_ticket += 1;
                g.waiting.push_back(ticket);
                self.cv.notify_all();
                let (mut g, notified) =
                    wait_until(&self.cv, g, timeout, |s| !s.waiting.contains(&ticket));
                if !notified {
                    g.waiting.retain(|&t| t != ticket);
                }
                let (mut g, _) = wait_until(&self.cv, g, None, |s| s.count == 0);
                g.count = depth;
                g.owner = Some(caller);
                ret(Value::Bool(notified))
            }
            _ => Err(no_method(method)),
        }
    }
}

fn broken() -> Outcome {
    Outcome::Error(Value::exception("threading", "BrokenBarrierError", vec![]))
}

impl BarrierObj {
    pub(super) fn call(&self, method: &str, a: &CallArgs) -> Result<Outcome, Outcome> {
        match method {
            "wait" => {
                // Python: `wait(timeout=None)` uses the barrier's own.
                let timeout = timeout_arg(a.get(0, "timeout"))?.or(self.timeout);
                let mut g = lock(&self.st);
                if g.broken {
                    return Err(broken());
                }
                let index = g.waiting;
                g.waiting += 1;
                if g.waiting == self.parties {
                    g.waiting = 0;
                    g.generation = g.generation.wrapping_add(1);
                    drop(g);
                    self.cv.notify_all();
                    return ret(Value::Int(index));
                }
                let gen = g.generation;
                let (mut g, done) =
                    wait_until(&self.cv, g, timeout, |s| s.generation != gen || s.broken);
                if g.generation != gen {
                    return ret(Value::Int(index));
                }
                if !done {
                    g.broken = true;
                    self.cv.notify_all();
                }
                g.waiting -= 1;
                Err(broken())
            }
            "abort" => {
                lock(&self.st).broken = true;
                self.cv.notify_all();
                ok()
            }
            "reset" => {
                let mut g = lock(&self.st);
                if g.waiting > 0 {
                    // Waiters of this generation see a broken barrier.
                    g.broken = true;
                    self.cv.notify_all();
                    let (mut g2, _) = wait_until(&self.cv, g, None, |s| s.waiting == 0);
                    g2.broken = false;
                    g = g2;
                } else {
                    g.broken = false;
                }
                drop(g);
                ok()
            }
            "__getattribute__" => {
                let g = lock(&self.st);
                match a.need(0, "name", method)?.as_str() {
                    Some("parties") => ret(Value::Int(self.parties)),
                    Some("n_waiting") => ret(Value::Int(g.waiting)),
                    Some("broken") => ret(Value::Bool(g.broken)),
                    _ => Err(exc(
                        "builtins",
                        "AttributeError",
                        "'Barrier' object has no such attribute",
                    )),
                }
            }
            _ => Err(no_method(method)),
        }
    }
}
