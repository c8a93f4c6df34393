//! Rows for `forklore::Process`.

use forklore::start::StartMethod;
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
        pinned: false,
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

/// An empty target for the `spawn` and `forkserver` rows.
fn empty(_: ()) {}

/// `process.spawn_join.forkserver`: start and join one empty child through
/// the fork server (started before the clock, as CPython's is).
pub fn spawn_join_forkserver() -> Spec<'static> {
    let start_join = || {
        let mut p = Process::from_fn(empty, ()).start_method(StartMethod::ForkServer);
        p.start().unwrap();
        assert!(p.join().unwrap().success());
    };
    let mut warm = false;
    Spec {
        name: "process.spawn_join.forkserver",
        unit: "µs per child",
        ops: 200,
        rounds: 5,
        pinned: false,
        forklore: Box::new(move |ops| {
            if !warm {
                start_join();
                warm = true;
            }
            time_ops(ops, start_join)
        }),
        floor: None,
        python: Some(("process_spawn_join.py", vec!["forkserver".into()])),
    }
}

/// The variable that makes the bench binary exit at once (the spawn floor).
pub const FLOOR_EXIT: &str = "VERSUS_FLOOR_EXIT";

/// `process.spawn_join.spawn`: start and join one empty child by spawn (a
/// fresh run of this executable). The floor is a bare `posix_spawn` of the
/// same executable that exits first thing in `main`, and `waitpid`.
pub fn spawn_join_spawn() -> Spec<'static> {
    Spec {
        name: "process.spawn_join.spawn",
        unit: "µs per child",
        ops: 20,
        rounds: 5,
        pinned: false,
        forklore: Box::new(|ops| {
            time_ops(ops, || {
                let mut p = Process::from_fn(empty, ()).start_method(StartMethod::Spawn);
                p.start().unwrap();
                assert!(p.join().unwrap().success());
            })
        }),
        floor: Some(Box::new(|ops| {
            let path = std::ffi::CString::new("/proc/self/exe").unwrap();
            let arg0 = std::ffi::CString::new("versus").unwrap();
            let env = std::ffi::CString::new(format!("{FLOOR_EXIT}=1")).unwrap();
            let argv = [arg0.as_ptr() as *mut libc::c_char, std::ptr::null_mut()];
            let envp = [env.as_ptr() as *mut libc::c_char, std::ptr::null_mut()];
            time_ops(ops, || {
                let mut pid = 0;
                // SAFETY: every pointer is to a NUL-terminated string or a
                // null-terminated array that outlives the call; null file
                // actions and attributes are allowed.
                let rc = unsafe {
                    libc::posix_spawn(
                        &mut pid,
                        path.as_ptr(),
                        std::ptr::null(),
                        std::ptr::null(),
                        argv.as_ptr(),
                        envp.as_ptr(),
                    )
                };
                assert_eq!(rc, 0);
                waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
            })
        })),
        python: Some(("process_spawn_join.py", vec!["spawn".into()])),
    }
}
