//! `subprocess`: launch external programs, as Python's `subprocess` does.
//!
//! ```
//! use forklore::subprocess::{PopenBuilder, Popen, Redirect};
//!
//! // p = Popen(["tr", "a-z", "A-Z"], stdin=PIPE, stdout=PIPE)
//! // out, err = p.communicate(b"hello\n")
//! let mut p = PopenBuilder::new(["tr", "a-z", "A-Z"])
//!     .stdin(Redirect::Pipe)
//!     .stdout(Redirect::Pipe)
//!     .spawn()
//!     .unwrap();
//! let (out, err) = p.communicate(Some(b"hello\n")).unwrap();
//! assert_eq!(out.as_deref(), Some(&b"HELLO\n"[..]));
//! assert_eq!(err, None); // stderr was not a pipe
//! assert_eq!(p.returncode().unwrap().code(), 0);
//!
//! // run(["sh", "-c", "exit 2"], check=True)
//! let e = PopenBuilder::new(["sh", "-c", "exit 2"]).check().run().unwrap_err();
//! assert_eq!(
//!     e.to_string(),
//!     "Command '['sh', '-c', 'exit 2']' returned non-zero exit status 2."
//! );
//! ```
//!
//! | Python | forklore |
//! |---|---|
//! | `Popen(["ls"])` | [`Popen::new`]`(["ls"])` |
//! | `Popen("ls \| wc -l", shell=True)` | [`Popen::shell`]`("ls \| wc -l")` |
//! | `Popen(args, stdin=PIPE, cwd=d, env=e)` | [`PopenBuilder::new`]`(args).stdin(Redirect::Pipe).cwd(d).env(k, v).spawn()` |
//! | `None`, `PIPE`, `DEVNULL`, `STDOUT`, a file | [`Redirect::Inherit`], [`Redirect::Pipe`], [`Redirect::DevNull`], [`Redirect::Stdout`], [`Redirect::Fd`] |
//! | `p.communicate(input)`, `p.communicate(input, timeout)` | [`Popen::communicate`], [`Popen::communicate_timeout`] |
//! | `p.wait()`, `p.wait(timeout)`, `p.poll()`, `p.returncode` | [`Popen::wait`], [`Popen::wait_timeout`], [`Popen::poll`], [`Popen::returncode`] |
//! | `p.terminate()`, `p.kill()`, `p.send_signal(s)` | [`Popen::terminate`], [`Popen::kill`], [`Popen::send_signal`] |
//! | `run(args, input=, capture_output=, timeout=, check=)` | [`run`], [`PopenBuilder::run`] |
//! | `check_output(args)` | [`check_output`], [`PopenBuilder::check_output`] |
//! | `TimeoutExpired`, `CalledProcessError` | [`Error::TimeoutExpired`], [`Error::CommandFailed`] |
//!
//! The return code is the crate's [`ExitStatus`]: `Exited(code)` or
//! `Signaled(signal)`, displayed as Python shows `returncode` (`-9` after
//! [`Popen::kill`]).
//!
//! # Starting the child
//! The child is started by [`std::process::Command`], never by a
//! hand-written fork/exec: std uses `posix_spawnp` where it can, and
//! otherwise a fork that reports an `exec` failure to the parent through a
//! close-on-exec pipe. Either way a missing program, a file that is not
//! executable or a working directory that does not exist is an
//! [`Error::Launch`] in the parent, naming the path at fault. It never shows
//! up as a child that exits 127, as it would after `sh -c`.
//!
//! What the kernel cannot be given is refused before anything starts, with
//! [`Error::InvalidArgument`] (Python: `ValueError`): a NUL byte in the
//! program, an argument, the command line, an environment variable or the
//! working directory, and an environment variable name that holds `=`
//! (which would otherwise set another variable: `A=B` set to `c` is `A`
//! set to `B=c`). The message shows the text escaped (`"a\0b"`).
//!
//! The pipes are forklore's own, created close-on-exec, so children spawned
//! at the same time by other threads do not inherit them. The std `Command`
//! holding the child's ends is dropped as soon as the child exists, so the
//! parent keeps only its own ends, and a reader sees end-of-file as soon as
//! the child closes its side.
//!
//! # Reaping: std starts the child, forklore waits for it
//! std's [`Child`](std::process::Child) handle is dropped right after the
//! spawn. That is sound: std does not wait on drop, and the handle owns no
//! pipe (forklore passes its own). From then on only forklore waits for the
//! child, with `waitpid` on its pid ([`wait_pid`](crate::process::wait_pid) and friends), so it is
//! reaped exactly once. A wait with a timeout sleeps on a pidfd in `poll(2)`
//! ([`wait_pid_timeout`](crate::process::wait_pid_timeout)); it does not busy-loop.
//!
//! # Dropping a `Popen` whose child still runs
//! Python leaves the child running and reaps it later (its `_cleanup` list,
//! drained when the next `Popen` is created). forklore does the same: the
//! drop closes the pipes (a child reading its stdin sees end-of-file) and
//! puts the pid on a list that is drained, without blocking, each time a
//! child is spawned or another `Popen` is dropped. No thread is started for
//! it (a thread in the caller's process would make a later
//! [`fork`](crate::fork()) refuse), so a child that ends after the last
//! such call stays a zombie until the program exits. Call [`Popen::wait`]
//! or [`Popen::kill`] first if you want the child gone.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;

use crate::error::{Error, Result};
use crate::process::ExitStatus;
#[cfg(doc)]
use crate::sys::{wait_pid, wait_pid_timeout};

mod command;
mod popen;

pub use command::PopenBuilder;
pub use popen::Popen;

/// The shell that runs a [`PopenBuilder::shell`] command line (Python's default).
pub const SHELL: &str = "/bin/sh";

/// Where one of the child's standard streams goes (Python: the `stdin`,
/// `stdout` and `stderr` arguments of `Popen`, and `PIPE`, `DEVNULL`,
/// `STDOUT`).
///
/// Not called `Stdio`, so that it does not shadow [`std::process::Stdio`]
/// in a program that uses both.
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Redirect {
    /// The child shares the parent's stream (Python: `None`, the default).
    #[default]
    Inherit,
    /// A new pipe; the parent holds the other end (Python: `PIPE`). Read it
    /// with [`Popen::communicate`], or take it with [`Popen::take_stdout`] and
    /// friends.
    Pipe,
    /// `/dev/null`: reads see end-of-file, writes vanish (Python: `DEVNULL`).
    DevNull,
    /// For stderr only: the same place as stdout, whatever that is
    /// (Python: `stderr=STDOUT`, the shell's `2>&1`).
    #[doc(alias = "STDOUT")]
    Stdout,
    /// An open file or pipe end, such as the stdout of another child taken
    /// with [`Popen::take_stdout`] (Python: a file object or a descriptor).
    /// The parent's copy is closed once the child has started.
    Fd(OwnedFd),
}

impl From<OwnedFd> for Redirect {
    fn from(fd: OwnedFd) -> Self {
        Redirect::Fd(fd)
    }
}

impl From<File> for Redirect {
    fn from(file: File) -> Self {
        Redirect::Fd(file.into())
    }
}

/// `(stdout, stderr)` as [`Popen::communicate`] returns them: each is `Some`
/// with what the child wrote if that stream is a pipe, `None` otherwise.
pub type Captured = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What to run: an argument vector, or a command line for the shell
/// (Python: `Popen`'s `args`, with `shell=False` or `shell=True`).
///
/// It displays as Python shows `args` in its error messages: a list in
/// Python syntax (`['ls', '-l']`), or the command line itself. (Not called
/// `Args`, which is [`std::env::Args`].)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PopenArgs {
    /// The program and its arguments, run directly, without a shell.
    Argv(Vec<OsString>),
    /// A command line run by [`SHELL`] as `/bin/sh -c LINE`.
    Shell(OsString),
}

impl fmt::Display for PopenArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopenArgs::Shell(line) => write!(f, "{}", line.to_string_lossy()),
            PopenArgs::Argv(argv) => {
                f.write_str("[")?;
                for (i, a) in argv.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&python_repr(&a.to_string_lossy()))?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A string as Python's `repr` writes it: single quotes, unless the text
/// holds a single quote and no double quote.
fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// What [`run`] returns: the finished child (Python:
/// `subprocess.CompletedProcess`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedProcess {
    /// What was run.
    pub args: PopenArgs,
    /// How it ended.
    pub returncode: ExitStatus,
    /// Its stdout, if stdout was a pipe.
    pub stdout: Option<Vec<u8>>,
    /// Its stderr, if stderr was a pipe.
    pub stderr: Option<Vec<u8>>,
}

impl CompletedProcess {
    /// `Ok` for exit status 0 (Python: `check_returncode()`).
    ///
    /// # Errors
    /// [`Error::CommandFailed`] with a copy of the output otherwise.
    pub fn check_returncode(&self) -> Result<()> {
        self.clone().into_checked().map(drop)
    }

    pub(super) fn into_checked(self) -> Result<Self> {
        if self.returncode.success() {
            return Ok(self);
        }
        Err(Error::CommandFailed {
            cmd: self.args.to_string(),
            returncode: self.returncode,
            stdout: self.stdout,
            stderr: self.stderr,
        })
    }
}

/// Run a program to completion, streams inherited (Python:
/// `subprocess.run(args)`). Use [`PopenBuilder`] to capture output, send input,
/// set a timeout or `check`.
///
/// ```
/// let done = forklore::subprocess::run(["sh", "-c", "exit 3"]).unwrap();
/// assert_eq!(done.returncode.code(), 3);
/// ```
///
/// # Errors
/// As [`PopenBuilder::run`].
pub fn run<I, S>(args: I) -> Result<CompletedProcess>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    PopenBuilder::new(args).run()
}

/// Run a program and return its stdout; a non-zero exit is an error
/// (Python: `subprocess.check_output(args)`).
///
/// ```
/// let out = forklore::subprocess::check_output(["echo", "hi"]).unwrap();
/// assert_eq!(out, b"hi\n");
/// ```
///
/// # Errors
/// As [`PopenBuilder::check_output`].
pub fn check_output<I, S>(args: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    PopenBuilder::new(args).check_output()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_display_as_python() {
        let a = PopenArgs::Argv(vec!["ls".into(), "no-such-file".into()]);
        assert_eq!(a.to_string(), "['ls', 'no-such-file']");
        let a = PopenArgs::Argv(vec!["echo".into(), "it's".into(), "a\\b\n".into()]);
        assert_eq!(a.to_string(), r#"['echo', "it's", 'a\\b\n']"#);
        let a = PopenArgs::Argv(vec![r#"'"#.into(), r#"'""#.into()]);
        assert_eq!(a.to_string(), r#"["'", '\'"']"#);
        assert_eq!(PopenArgs::Shell("exit 2".into()).to_string(), "exit 2");
    }
}
