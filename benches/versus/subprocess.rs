//! Rows for `forklore::subprocess`.

use std::ffi::CString;

use forklore::subprocess::Popen;

use crate::harness::{time_ops, Spec};

extern "C" {
    /// The C library's environment block, as `posix_spawnp` expects it.
    static environ: *const *mut libc::c_char;
}

/// `subprocess.spawn_wait`: start `true` and wait for it.
pub fn spawn_wait() -> Spec<'static> {
    Spec {
        name: "subprocess.spawn_wait",
        unit: "µs per child",
        ops: 200,
        rounds: 7,
        pinned: false,
        forklore: Box::new(|ops| {
            time_ops(ops, || {
                let mut p = Popen::new(["true"]).unwrap();
                assert!(p.wait().unwrap().success());
            })
        }),
        // The floor: posix_spawnp + waitpid, with the PATH lookup, the same
        // environment and no file actions, nothing else.
        floor: Some(Box::new(|ops| {
            let prog = CString::new("true").unwrap();
            let argv = [prog.as_ptr() as *mut libc::c_char, std::ptr::null_mut()];
            time_ops(ops, || {
                let mut pid: libc::pid_t = 0;
                // SAFETY: `prog` and `argv` are NUL-terminated and live for
                // the call; `environ` is the process's environment, which
                // the bench does not modify; null attributes and file
                // actions mean "none".
                let rc = unsafe {
                    libc::posix_spawnp(
                        &mut pid,
                        prog.as_ptr(),
                        std::ptr::null(),
                        std::ptr::null(),
                        argv.as_ptr(),
                        environ,
                    )
                };
                assert_eq!(rc, 0, "posix_spawnp failed");
                let mut status = 0;
                // SAFETY: waits for the child just spawned and writes its
                // status into `status`.
                let r = unsafe { libc::waitpid(pid, &mut status, 0) };
                assert!(r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
            })
        })),
        python: Some(("subprocess_spawn_wait.py", vec![])),
    }
}
