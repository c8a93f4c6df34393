//! Rows for `forklore::managers`: calls on proxies, each one round trip to
//! the manager's server process.
//!
//! The floor is the same number of round trips of a 16-byte message over a
//! Unix socketpair between this process and a forked echo child, measured in
//! the same run: what any manager call must pay at the least.
//!
//! Both ends of the floor wait for a message the way forklore's client and
//! server do: they poll for up to 50 µs, yielding the CPU between polls,
//! before they sleep in `read`. On this 2-vCPU virtual machine a sleeping
//! reader whose vCPU has gone idle takes 20–30 µs to wake, and whether that
//! happens depends on where the scheduler put the two ends; a floor that
//! sleeps at once measured anywhere from 4 µs to 60 µs per round trip from
//! one run to the next. With the same waiting strategy on both sides, the
//! floor is stable and `over_floor` measures only what the manager adds
//! (encoding, dispatch, the server's thread and locks).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use forklore::managers::Manager;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};

use crate::harness::Spec;

const OPS: usize = 20_000;
const ROUNDS: usize = 5;

/// Wait until `s` is readable: poll for up to 50 µs, yielding between polls
/// (as `forklore::managers` does), then let the blocking read sleep.
fn spin_readable(s: &UnixStream) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let t = Instant::now();
    loop {
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::ZERO).unwrap_or(1) > 0
            || t.elapsed() >= Duration::from_micros(50)
        {
            return;
        }
        std::thread::yield_now();
    }
}

/// `ops` × `per_op` ping-pongs with a forked echo child.
fn ping_pong(ops: usize, per_op: usize) -> Duration {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    // SAFETY: the bench is single-threaded; the child only reads, writes and
    // `_exit`s, touching nothing the parent owns.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(a);
            let mut buf = [0u8; 16];
            loop {
                spin_readable(&b);
                if b.read_exact(&mut buf).is_err() || b.write_all(&buf).is_err() {
                    break;
                }
            }
            // SAFETY: `_exit` ends the child at once.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(b);
            let mut buf = [7u8; 16];
            let t = Instant::now();
            for _ in 0..ops * per_op {
                a.write_all(&buf).unwrap();
                spin_readable(&a);
                a.read_exact(&mut buf).unwrap();
            }
            let d = t.elapsed();
            drop(a);
            waitpid(child, None).unwrap();
            d
        }
    }
}

/// A manager started on first use and kept for every round of a row.
fn lazy_manager() -> impl FnMut() -> Manager {
    let mut m: Option<Manager> = None;
    move || m.get_or_insert_with(|| Manager::start().unwrap()).clone()
}

/// `manager.list_append`: `append` from one client.
pub fn list_append() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.list_append",
        unit: "µs per call",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let li = manager().list::<u64>().unwrap();
            // The first call opens this thread's connection: not timed.
            li.append(0).unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                li.append(i).unwrap();
            }
            let d = t.elapsed();
            assert_eq!(li.len().unwrap(), ops + 1);
            d
        }),
        floor: Some(Box::new(|ops| ping_pong(ops, 1))),
        python: Some(("manager_list_append.py", vec![])),
    }
}

/// `manager.queue_put_get`: a `put` then a `get`, two calls per pair.
pub fn queue_put_get() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.queue_put_get",
        unit: "µs per pair",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let q = manager().queue::<u64>().unwrap();
            q.put(0).unwrap();
            q.get().unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                q.put(i).unwrap();
                assert_eq!(q.get().unwrap(), i);
            }
            t.elapsed()
        }),
        floor: Some(Box::new(|ops| ping_pong(ops, 2))),
        python: Some(("manager_queue_put_get.py", vec![])),
    }
}

/// `manager.value_get_set`: read a Value, write it back plus one.
pub fn value_get_set() -> Spec<'static> {
    let mut manager = lazy_manager();
    Spec {
        name: "manager.value_get_set",
        unit: "µs per pair",
        ops: OPS,
        rounds: ROUNDS,
        forklore: Box::new(move |ops| {
            let v = manager().value(0i64).unwrap();
            v.get().unwrap();
            let t = Instant::now();
            for _ in 0..ops {
                v.set(v.get().unwrap() + 1).unwrap();
            }
            let d = t.elapsed();
            assert_eq!(v.get().unwrap(), ops as i64);
            d
        }),
        floor: Some(Box::new(|ops| ping_pong(ops, 2))),
        python: Some(("manager_value_get_set.py", vec![])),
    }
}
