//! Rows for the objects that live in shared memory, with no server:
//! `forklore::sharedctypes`, `forklore::synchronize` and `forklore::queues`.

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Instant;

use forklore::queues::Queue;
use forklore::sharedctypes::Value;
use forklore::synchronize::Lock;
use forklore::Process;

use crate::harness::{round_trips, Spec};

/// `sharedctypes.value_add_locked`: `with v.get_lock(): v.value += 1`.
///
/// The floor is one atomic add (`lock xadd`) on a local word: what an
/// increment costs with no lock at all, the cost of `Value::fetch_add`.
pub fn value_add_locked() -> Spec<'static> {
    Spec {
        name: "sharedctypes.value_add_locked",
        unit: "µs per increment",
        ops: 2_000_000,
        rounds: 5,
        pinned: false,
        forklore: Box::new(|ops| {
            let v = Value::new(0i64).unwrap();
            let t = Instant::now();
            for _ in 0..ops {
                let _g = v.get_lock().guard().unwrap();
                v.set(v.get() + 1);
            }
            let d = t.elapsed();
            assert_eq!(v.get(), ops as i64);
            d
        }),
        floor: Some(Box::new(|ops| {
            let a = AtomicI64::new(0);
            let t = Instant::now();
            for _ in 0..ops {
                black_box(&a).fetch_add(1, Ordering::SeqCst);
            }
            t.elapsed()
        })),
        python: Some(("sharedctypes_value_add_locked.py", vec![])),
    }
}

/// `sync.lock_acquire_release`: an uncontended `acquire` + `release`.
///
/// The floor is one futex system call (`FUTEX_WAKE` with nobody waiting):
/// the least a lock pays each time it enters the kernel. An uncontended
/// forklore lock does not enter it (two atomic instructions), so this row
/// sits below its floor; CPython's `sem_wait`/`sem_post` do not enter it
/// either, and pay for the interpreter instead.
pub fn lock_acquire_release() -> Spec<'static> {
    Spec {
        name: "sync.lock_acquire_release",
        unit: "µs per pair",
        ops: 2_000_000,
        rounds: 5,
        pinned: false,
        forklore: Box::new(|ops| {
            let lock = Lock::new().unwrap();
            let t = Instant::now();
            for _ in 0..ops {
                lock.acquire();
                lock.release().unwrap();
            }
            t.elapsed()
        }),
        floor: Some(Box::new(|ops| {
            let word = AtomicU32::new(0);
            let t = Instant::now();
            for _ in 0..ops {
                // SAFETY: FUTEX_WAKE only uses the address of a live word.
                unsafe {
                    libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1, 0, 0, 0);
                }
            }
            t.elapsed()
        })),
        python: Some(("sync_lock_acquire_release.py", vec![])),
    }
}

/// `queue.put_get`: `put` on a queue, an echo process `get`s it and puts
/// it on a second queue, the parent `get`s it back; per round trip.
///
/// The floor is the same number of 16-byte round trips over a socketpair
/// to a forked echo child ([`round_trips`]).
pub fn queue_put_get() -> Spec<'static> {
    Spec {
        name: "queue.put_get",
        unit: "µs per round trip",
        ops: 20_000,
        rounds: 5,
        pinned: false,
        forklore: Box::new(|ops| {
            let (a, b) = (
                Queue::<Option<u64>>::new().unwrap(),
                Queue::<Option<u64>>::new().unwrap(),
            );
            let mut echo = {
                let (a, b) = (a.clone(), b.clone());
                Process::new(move || {
                    while let Some(x) = a.get().unwrap() {
                        b.put(&Some(x)).unwrap();
                    }
                })
            };
            echo.start().unwrap();
            a.put(&Some(0)).unwrap();
            b.get().unwrap();
            let t = Instant::now();
            for i in 0..ops as u64 {
                a.put(&Some(i)).unwrap();
                assert_eq!(b.get().unwrap(), Some(i));
            }
            let d = t.elapsed();
            a.put(&None).unwrap();
            echo.join().unwrap();
            d
        }),
        floor: Some(Box::new(round_trips)),
        python: Some(("queue_put_get.py", vec![])),
    }
}
