//! The worker's side: the body of a worker process, forked or spawned.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::wire::{split_length, with_length, Call, Failure};
use super::{TaskId, COALESCE_BELOW, COALESCE_MAX_BYTES, MAX_FRAME};
use crate::connection::Connection;
use crate::process::exit_child;
use crate::start::spawn::address_of;

thread_local! {
    /// Set while a task runs, so the panic hook stays quiet and records.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// Where the last task panic happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What a spawned worker gets: the number of its inherited socket.
#[derive(Serialize, Deserialize)]
pub(crate) struct SpawnedWorker {
    pub fd: RawFd,
    pub max_tasks: Option<usize>,
}

/// The target of a spawned worker.
pub(crate) fn spawned_worker(args: SpawnedWorker) {
    use std::os::fd::FromRawFd;
    // SAFETY: the parent made this descriptor inheritable for this process
    // only and sent its number; nothing else here owns it.
    let stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(args.fd) };
    // SAFETY: F_SETFD on our own descriptor touches no memory.
    unsafe { libc::fcntl(args.fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let mut conn = Connection::from(stream);
    conn.set_max_message_size(MAX_FRAME);
    worker_main(conn, &[], None, args.max_tasks)
}

/// The body of a worker process. Never returns.
pub(crate) fn worker_main(
    mut conn: Connection,
    inherited: &[RawFd],
    init: Option<Arc<dyn Fn() + Send + Sync>>,
    max_tasks: Option<usize>,
) -> ! {
    for &fd in inherited {
        // SAFETY: these are the parent's ends of this pool's sockets (and its
        // pidfds), copied into this process by fork. The objects that own
        // them in this copy of the parent's memory are never used or dropped
        // here (a worker ends with `_exit`), so closing the numbers cannot
        // close anything twice or pull an fd from under code that uses it.
        unsafe { libc::close(fd) };
    }
    install_panic_hook();
    if let Some(init) = init {
        // A panicking initializer ends the worker (exit code 1, reported by
        // the hook of `Process`): the parent sees the worker die.
        init();
    }
    // The frame of tasks in hand, and where its next record starts.
    let mut frame: Vec<u8> = Vec::new();
    let mut at = 0;
    // Replies held back to be sent together.
    let mut replies: Vec<u8> = Vec::new();
    let mut answered = 0;
    loop {
        if at == frame.len() {
            flush(&mut conn, &mut replies);
            frame = match conn.recv_bytes() {
                Ok(f) if !f.is_empty() => f,
                // An empty frame is the stop signal; EOF: the parent is gone.
                _ => exit_child(0),
            };
            at = 0;
        }
        let started = Instant::now();
        let Some(next) = run_task(&frame, at, &mut replies) else {
            exit_child(70) // EX_SOFTWARE: not a task record
        };
        at = next;
        answered += 1;
        let last = max_tasks == Some(answered);
        if at == frame.len()
            || last
            || started.elapsed() >= COALESCE_BELOW
            || replies.len() >= COALESCE_MAX_BYTES
        {
            flush(&mut conn, &mut replies);
        }
        if last {
            exit_child(0);
        }
    }
}

/// Send the held-back replies, if any, in one frame.
fn flush(conn: &mut Connection, replies: &mut Vec<u8>) {
    if !replies.is_empty() {
        if conn.send_bytes(replies).is_err() {
            exit_child(0); // the parent is gone
        }
        replies.clear();
    }
}

/// Run the task record at `frame[at..]`, append its reply record to `out`,
/// and return where the next record starts; `None` if it is not a task.
fn run_task(frame: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    let ((id, call, func), rest) =
        postcard::take_from_bytes::<(TaskId, i64, i64)>(&frame[at..]).ok()?;
    let (call, func) = (address_of(call), address_of(func));
    let (args, rest) = split_length(rest)?;
    let next = frame.len() - rest.len();
    // SAFETY: `call` is the address of a trampoline of type `Call` in this
    // program, taken by the parent (`task_record`) from a real function and
    // sent as an offset from a symbol of forklore; this worker runs the
    // parent's executable, so the address is that function.
    let call = unsafe { std::mem::transmute::<usize, Call>(call) };
    let mark = out.len();
    postcard::to_io(&id, &mut *out).ok()?;
    out.push(0);
    IN_TASK.with(|t| t.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| {
        with_length(out, |o| call(func, args, o))
    }));
    IN_TASK.with(|t| t.set(false));
    let failure = match result {
        Ok(Ok(true)) => return Some(next),
        Ok(Ok(false)) => Failure::Encode("a task's results exceed 4 GiB".into()),
        Ok(Err(f)) => f,
        Err(payload) => Failure::Panicked {
            message: panic_message(payload.as_ref()),
            location: PANIC_AT.with(|p| p.borrow_mut().take()),
        },
    };
    // Drop whatever the failed task appended; the replies held back before
    // it stay.
    out.truncate(mark);
    postcard::to_io(&id, &mut *out).ok()?;
    out.push(1);
    with_length(out, |o| postcard::to_io(&failure, o).map(drop))
        .ok()
        .filter(|&fits| fits)?;
    Some(next)
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// In a worker, a panic inside a task is caught and sent back to the
/// parent; printing it here too would report it twice. The hook records the
/// location for the reply and prints nothing; panics outside tasks go to the
/// hook that was there before.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_TASK.with(Cell::get) {
            PANIC_AT.with(|p| *p.borrow_mut() = info.location().map(|l| l.to_string()));
        } else {
            previous(info);
        }
    }));
}
