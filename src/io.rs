//! Output that does not tear when several processes share one terminal or pipe.
//!
//! Python's `print('say hi', li)` hands the stream `say hi`, a space, the list
//! and a newline as separate pieces; with ten processes writing to one pipe,
//! the pieces of different lines interleave (`say hi say hi [0, 1, 2]`). The
//! remedy is to build the whole line first and hand it to the kernel in one
//! `write(2)`. A write of at most `PIPE_BUF` (4096) bytes to a pipe is atomic,
//! so the line arrives whole.
//!
//! [`outln!`](crate::outln) and [`errln!`](crate::errln) do exactly that, and are
//! what every chapter uses instead of `println!`.

use std::io::Write;
use std::os::fd::BorrowedFd;

/// Print a line to stdout with a single `write(2)`, like `println!` but
/// never torn by another process's output.
///
/// ```
/// forklore::outln!("say hi {:?}", [3]);
/// ```
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::io::write_line_stdout(::std::format!($($arg)*))
    };
}

/// Print a line to stderr with a single `write(2)`.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::io::write_line_stderr(::std::format!($($arg)*))
    };
}

/// Append a newline to `line` and write it to stdout in one `write(2)`.
///
/// Anything already buffered in Rust's `stdout` is flushed first, so mixing
/// `print!` and `outln!` keeps their order.
pub fn write_line_stdout(mut line: String) {
    line.push('\n');
    if !crate::fork::child_of_threaded() {
        let _ = std::io::stdout().flush();
    }
    write_fd(1, line.as_bytes());
}

/// Append a newline to `line` and write it to stderr in one `write(2)`.
pub fn write_line_stderr(mut line: String) {
    line.push('\n');
    write_stderr(&line);
}

/// Write `text` to stderr in one `write(2)` (no newline added).
pub fn write_stderr(text: &str) {
    // In a child forked from a multithreaded parent, std's locks may be held
    // for ever: write through without them.
    if !crate::fork::child_of_threaded() {
        let _ = std::io::stderr().flush();
    }
    write_fd(2, text.as_bytes());
}

/// Write all of `bytes` to `fd`: one `write(2)` for anything up to the size
/// of the pipe buffer; a longer text is continued after a partial write.
/// Errors are ignored: a line that cannot be written (the reader of a pipe
/// has gone, `EPIPE`) is dropped. Python's `print` would raise
/// `BrokenPipeError` instead; a child's progress line is not worth a crash.
fn write_fd(fd: i32, mut bytes: &[u8]) {
    // SAFETY: fds 1 and 2 are open for the life of the process (the standard
    // streams); we only borrow them for the duration of this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}
