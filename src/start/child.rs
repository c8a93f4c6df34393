//! The first frame of every started child, whatever its start method: it
//! records the child's name, runs the target under `catch_unwind` and leaves
//! with `_exit` and Python's status. `fork` reaches it from
//! [`Process::start`](crate::Process::start); `spawn` and `forkserver` from
//! [`init`](super::init) and the fork server, which is why it lives in
//! `start`, below `process`.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use super::spawn::FnTarget;
use crate::fork::exit_child;

/// In a child started by [`Process::start`](crate::Process::start), the name it was started as; null
/// in the main process. It points at the `name` field of the `Process` handle
/// in the child's copy of the parent's memory. That handle is borrowed by
/// [`run`], which never returns, so the string is never freed in the child.
/// Pointing instead of copying keeps the child from touching the heap, which
/// matters for start-up time (every page a child writes is a copy-on-write fault).
static CHILD_NAME: AtomicPtr<String> = AtomicPtr::new(std::ptr::null_mut());

/// Installs, once per process, the panic hook that gives a panicking child
/// Python's `Process Process-N:` header. It is installed in the child, so
/// the caller's own hook stays as it was; only
/// [`Process::start_with_threads`](crate::Process::start_with_threads)
/// installs it in the parent before the fork (its child must not take std's
/// hook lock), and there it defers to the hook that was there before.
static PANIC_HOOK: Once = Once::new();

/// The name this child was started as; `None` in the main process.
pub(crate) fn name() -> Option<&'static str> {
    let p = CHILD_NAME.load(Ordering::Acquire);
    // SAFETY: `CHILD_NAME` is either null or points at a `String` that lives
    // for the rest of this process (see its docs).
    unsafe { p.as_ref() }.map(String::as_str)
}

/// Install, once per process, the hook that prints a panicking child's
/// `Process <name>:` header.
pub(crate) fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match name() {
            Some(name) => crate::io::write_stderr(&format!("Process {name}:\n{info}\n")),
            None => previous(info),
        }));
    });
}

/// Run `body` as the child called `name`, then `_exit` with its code (1 if
/// it panicked). Never returns.
///
/// `name` must stay valid for the rest of the process, which holds because
/// it borrows the handle in a frame that is never left (this never returns).
pub(crate) fn run(name: &String, body: impl FnOnce(&str) -> i32) -> ! {
    CHILD_NAME.store(name as *const String as *mut String, Ordering::Release);
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(name))).unwrap_or(1);
    exit_child(code)
}

/// Run a `fn` target; 1 (with the `Process <name>:` header) when its
/// arguments do not decode.
pub(crate) fn run_fn(name: &str, f: FnTarget) -> i32 {
    match f.run() {
        Ok(()) => 0,
        Err(e) => {
            crate::io::write_stderr(&format!(
                "Process {name}:\ncannot decode the target's arguments: {e}\n"
            ));
            1
        }
    }
}

/// The child side of `spawn` and `forkserver`: run `f` as `name`, then
/// `_exit`, with the same status and panic report as a forked child.
pub(crate) fn run_fn_child(name: String, f: FnTarget) -> ! {
    // The name lives for the rest of the process.
    let name: &'static String = Box::leak(Box::new(name));
    install_panic_hook();
    run(name, |name| run_fn(name, f))
}
