//! Rows for `forklore::Process`.

use forklore::Process;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};

use crate::harness::{time_ops, Spec};

/// `process.spawn_join`: start and join one child whose body is empty.
pub fn spawn_join() -> Spec<'static> {
    Spec {
        name: "process.spawn_join",
        unit: "µs per child",
        ops: 200,
        rounds: 7,
        forklore: Box::new(|ops| {
            time_ops(ops, || {
                let mut p = Process::new(|| {});
                p.start().unwrap();
                p.join().unwrap();
            })
        }),
        // The floor: fork + _exit + waitpid, nothing else.
        floor: Some(Box::new(|ops| {
            time_ops(ops, || {
                // SAFETY: the bench is single-threaded; the child only calls
                // the async-signal-safe `_exit`.
                match unsafe { fork() }.unwrap() {
                    // SAFETY: `_exit` ends the child at once.
                    ForkResult::Child => unsafe { libc::_exit(0) },
                    ForkResult::Parent { child } => {
                        waitpid(child, None).unwrap();
                    }
                }
            })
        })),
        python: Some(("process_spawn_join.py", vec![])),
    }
}
