//! `subprocess`: launch external programs, as Python's `subprocess` does.
//!
//! ```
//! use forklore::subprocess::{Command, Popen, Stdio};
//!
//! // p = Popen(["tr", "a-z", "A-Z"], stdin=PIPE, stdout=PIPE)
//! // out, err = p.communicate(b"hello\n")
//! let mut p = Command::new(["tr", "a-z", "A-Z"])
//!     .stdin(Stdio::Pipe)
//!     .stdout(Stdio::Pipe)
//!     .spawn()
//!     .unwrap();
//! let (out, err) = p.communicate(Some(b"hello\n"), None).unwrap();
//! assert_eq!(out.as_deref(), Some(&b"HELLO\n"[..]));
//! assert_eq!(err, None); // stderr was not a pipe
//! assert_eq!(p.returncode().unwrap().code(), 0);
//!
//! // run(["sh", "-c", "exit 2"], check=True)
//! let e = Command::new(["sh", "-c", "exit 2"]).check(true).run().unwrap_err();
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
//! | `Popen(args, stdin=PIPE, cwd=d, env=e)` | [`Command::new`]`(args).stdin(Stdio::Pipe).cwd(d).env(k, v).spawn()` |
//! | `None`, `PIPE`, `DEVNULL`, `STDOUT`, a file | [`Stdio::Inherit`], [`Stdio::Pipe`], [`Stdio::DevNull`], [`Stdio::Stdout`], [`Stdio::Fd`] |
//! | `p.communicate(input, timeout)` | [`Popen::communicate`] |
//! | `p.wait(timeout)`, `p.poll()`, `p.returncode` | [`Popen::wait`], [`Popen::poll`], [`Popen::returncode`] |
//! | `p.terminate()`, `p.kill()`, `p.send_signal(s)` | [`Popen::terminate`], [`Popen::kill`], [`Popen::send_signal`] |
//! | `run(args, input=, capture_output=, timeout=, check=)` | [`run`], [`Command::run`] |
//! | `check_output(args)` | [`check_output`], [`Command::check_output`] |
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
//! child, with `waitpid` on its pid ([`wait_pid`] and friends), so it is
//! reaped exactly once. A wait with a timeout sleeps on a pidfd in `poll(2)`
//! ([`wait_pid_timeout`]); it does not busy-loop.
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

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, Signal};
use nix::unistd::{getpid, Pid};

use crate::error::{Error, Result};
use crate::process::{poll_timeout, try_wait_pid, wait_pid, wait_pid_timeout, ExitStatus};

/// The shell that runs a [`Command::shell`] command line (Python's default).
pub const SHELL: &str = "/bin/sh";

/// Where one of the child's standard streams goes (Python: the `stdin`,
/// `stdout` and `stderr` arguments of `Popen`).
#[derive(Debug, Default)]
pub enum Stdio {
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

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Self {
        Stdio::Fd(fd)
    }
}

impl From<File> for Stdio {
    fn from(file: File) -> Self {
        Stdio::Fd(file.into())
    }
}

/// `(stdout, stderr)` as [`Popen::communicate`] returns them: each is `Some`
/// with what the child wrote if that stream is a pipe, `None` otherwise.
pub type Captured = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What to run: an argument vector, or a command line for the shell
/// (Python: `Popen`'s `args`, with `shell=False` or `shell=True`).
///
/// It displays as Python shows `args` in its error messages: a list in
/// Python syntax (`['ls', '-l']`), or the command line itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// The program and its arguments, run directly, without a shell.
    Argv(Vec<OsString>),
    /// A command line run by [`SHELL`] as `/bin/sh -c LINE`.
    Shell(OsString),
}

impl fmt::Display for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Args::Shell(line) => write!(f, "{}", line.to_string_lossy()),
            Args::Argv(argv) => {
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

/// What to run and how: the arguments of Python's `Popen` and `run`.
///
/// Build one with [`Command::new`] (an argument vector) or
/// [`Command::shell`] (a command line), set what differs from the defaults,
/// then [`spawn`](Command::spawn) it into a [`Popen`], or
/// [`run`](Command::run) it to completion.
///
/// ```
/// use forklore::subprocess::{Command, Stdio};
///
/// // run(["sh", "-c", "echo $GREETING; pwd"], cwd="/", env={..., "GREETING": "hi"},
/// //     capture_output=True)
/// let done = Command::new(["sh", "-c", "echo $GREETING; pwd"])
///     .cwd("/")
///     .env("GREETING", "hi")
///     .capture_output()
///     .run()
///     .unwrap();
/// assert_eq!(done.stdout.unwrap(), b"hi\n/\n");
/// ```
#[derive(Debug)]
pub struct Command {
    args: Args,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    cwd: Option<PathBuf>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    input: Option<Vec<u8>>,
    timeout: Option<Duration>,
    check: bool,
}

impl Command {
    /// Run a program with arguments, without a shell (Python:
    /// `Popen(["ls", "-l"])`). The first item is the program, looked up in
    /// `PATH` unless it holds a `/`.
    pub fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::with_args(Args::Argv(
            args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
        ))
    }

    /// Run a command line with `/bin/sh -c` (Python:
    /// `Popen("ls | wc -l", shell=True)`). Pipes, redirections and variables
    /// work; so does shell injection, so never paste untrusted text into it.
    pub fn shell(line: impl AsRef<OsStr>) -> Self {
        Self::with_args(Args::Shell(line.as_ref().to_owned()))
    }

    fn with_args(args: Args) -> Self {
        Command {
            args,
            stdin: Stdio::Inherit,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            cwd: None,
            env_clear: false,
            env: Vec::new(),
            input: None,
            timeout: None,
            check: false,
        }
    }

    /// Where the child's stdin comes from (default: inherited).
    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Where the child's stdout goes (default: inherited).
    pub fn stdout(mut self, stdout: impl Into<Stdio>) -> Self {
        self.stdout = stdout.into();
        self
    }

    /// Where the child's stderr goes (default: inherited);
    /// [`Stdio::Stdout`] merges it into stdout.
    pub fn stderr(mut self, stderr: impl Into<Stdio>) -> Self {
        self.stderr = stderr.into();
        self
    }

    /// Pipe both stdout and stderr (Python: `capture_output=True`).
    pub fn capture_output(self) -> Self {
        self.stdout(Stdio::Pipe).stderr(Stdio::Pipe)
    }

    /// The child's working directory (Python: `cwd=`). A relative program
    /// path such as `./tool` is found relative to it, as in Python.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Set one variable in the child's environment, which otherwise is a
    /// copy of the parent's: this *extends* the environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Set several variables, as [`env`](Command::env) does for one.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Leave one variable out of the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Start the child with an empty environment, to which
    /// [`env`](Command::env) then adds: together they *replace* the
    /// environment (Python: `env={"K": "V"}`). Without `PATH` a bare
    /// program name is looked up in the parent's `PATH`.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// For [`run`](Command::run): bytes to send to the child's stdin, which
    /// becomes a pipe (Python: `run(input=...)`).
    pub fn input(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// For [`run`](Command::run): how long the child may take; after that it
    /// is killed and reaped, and `run` returns [`Error::TimeoutExpired`]
    /// (Python: `run(timeout=...)`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// For [`run`](Command::run): turn a non-zero exit into
    /// [`Error::CommandFailed`] (Python: `run(check=True)`).
    pub fn check(mut self, check: bool) -> Self {
        self.check = check;
        self
    }

    /// Start the child and return at once (Python: `Popen(...)`). The child
    /// runs on its own while the caller goes on.
    ///
    /// # Errors
    /// - [`Error::Launch`] when the program is missing or not executable, or
    ///   the working directory is missing; it names the path at fault.
    /// - [`Error::InvalidArgument`] for an empty argument vector,
    ///   [`Stdio::Stdout`] given for stdin or stdout, or `input`, `timeout` or
    ///   `check` set (they belong to [`run`](Command::run); pass input and a
    ///   timeout to [`Popen::communicate`] instead).
    /// - [`Error::Os`] if a pipe cannot be created.
    pub fn spawn(self) -> Result<Popen> {
        if self.input.is_some() || self.timeout.is_some() || self.check {
            return Err(Error::InvalidArgument(
                "input, timeout and check are arguments of run() and check_output(), \
                 not of spawn(); pass input and a timeout to Popen::communicate()"
                    .into(),
            ));
        }
        self.launch()
    }

    /// Run the child to completion and collect what it wrote to its pipes
    /// (Python: `subprocess.run`). With a [`timeout`](Command::timeout), a
    /// child still running when it expires is killed and reaped before the
    /// error is returned.
    ///
    /// ```
    /// use forklore::subprocess::Command;
    ///
    /// let done = Command::new(["cat"]).input("to cat and back").capture_output().run().unwrap();
    /// assert_eq!(done.stdout.unwrap(), b"to cat and back");
    /// assert!(done.returncode.success());
    /// ```
    ///
    /// # Errors
    /// Those of [`spawn`](Command::spawn) (except that `input`, `timeout` and
    /// `check` are welcome); [`Error::TimeoutExpired`] with the output read
    /// before the kill; [`Error::CommandFailed`] with [`check`](Command::check)
    /// and a non-zero exit; [`Error::InvalidArgument`] when both `input` and a
    /// stdin other than [`Stdio::Inherit`] are given.
    pub fn run(mut self) -> Result<CompletedProcess> {
        let input = self.input.take();
        let timeout = self.timeout.take();
        let check = std::mem::take(&mut self.check);
        if input.is_some() {
            if !matches!(self.stdin, Stdio::Inherit) {
                return Err(Error::InvalidArgument(
                    "stdin and input may not both be used: input makes stdin a pipe".into(),
                ));
            }
            self.stdin = Stdio::Pipe;
        }
        let mut p = self.launch()?;
        let (stdout, stderr) = match p.communicate(input.as_deref(), timeout) {
            Ok(out) => out,
            Err(Error::TimeoutExpired { cmd, timeout, .. }) => {
                // Python: kill, collect what the child wrote, reap.
                let _ = p.kill();
                let _ = p.wait(None);
                let (stdout, stderr) = p.drain();
                return Err(Error::TimeoutExpired {
                    cmd,
                    timeout,
                    stdout,
                    stderr,
                });
            }
            Err(e) => {
                let _ = p.kill();
                let _ = p.wait(None);
                return Err(e);
            }
        };
        let returncode = p.wait(None)?;
        let done = CompletedProcess {
            args: p.args.clone(),
            returncode,
            stdout,
            stderr,
        };
        if check {
            done.into_checked()
        } else {
            Ok(done)
        }
    }

    /// Run the child with stdout piped and `check` on, and return its stdout
    /// (Python: `subprocess.check_output`).
    ///
    /// ```
    /// use forklore::subprocess::Command;
    ///
    /// let out = Command::shell("echo $((6 * 7))").check_output().unwrap();
    /// assert_eq!(out, b"42\n");
    /// ```
    ///
    /// # Errors
    /// Those of [`run`](Command::run) with `check`; [`Error::InvalidArgument`]
    /// if stdout was set (it is always a pipe here).
    pub fn check_output(mut self) -> Result<Vec<u8>> {
        if !matches!(self.stdout, Stdio::Inherit) {
            return Err(Error::InvalidArgument(
                "check_output() pipes stdout itself; do not set stdout".into(),
            ));
        }
        self.stdout = Stdio::Pipe;
        self.check = true;
        Ok(self.run()?.stdout.unwrap_or_default())
    }

    fn launch(self) -> Result<Popen> {
        reap_orphans();
        let (program, rest): (&OsStr, Vec<&OsStr>) = match &self.args {
            Args::Argv(argv) => match argv.split_first() {
                Some((p, rest)) => (p, rest.iter().map(OsString::as_os_str).collect()),
                None => {
                    return Err(Error::InvalidArgument(
                        "the argument vector is empty: name a program to run".into(),
                    ))
                }
            },
            Args::Shell(line) => (OsStr::new(SHELL), vec![OsStr::new("-c"), line.as_os_str()]),
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(rest);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if self.env_clear {
            cmd.env_clear();
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }

        let (stdin_child, stdin_parent) = match self.stdin {
            Stdio::Inherit => (std::process::Stdio::inherit(), None),
            Stdio::DevNull => (std::process::Stdio::null(), None),
            Stdio::Fd(fd) => (fd.into(), None),
            Stdio::Pipe => {
                let (r, w) = pipe()?;
                (r.into(), Some(File::from(w)))
            }
            Stdio::Stdout => return Err(stdout_misplaced("stdin")),
        };
        // Kept as an fd (not yet a std Stdio) so that stderr can share it.
        enum Target {
            Inherit,
            Null,
            Fd(OwnedFd),
        }
        let (stdout_target, stdout_parent) = match self.stdout {
            Stdio::Inherit => (Target::Inherit, None),
            Stdio::DevNull => (Target::Null, None),
            Stdio::Fd(fd) => (Target::Fd(fd), None),
            Stdio::Pipe => {
                let (r, w) = pipe()?;
                (Target::Fd(w), Some(File::from(r)))
            }
            Stdio::Stdout => return Err(stdout_misplaced("stdout")),
        };
        let (stderr_child, stderr_parent) = match self.stderr {
            Stdio::Inherit => (std::process::Stdio::inherit(), None),
            Stdio::DevNull => (std::process::Stdio::null(), None),
            Stdio::Fd(fd) => (fd.into(), None),
            Stdio::Pipe => {
                let (r, w) = pipe()?;
                (w.into(), Some(File::from(r)))
            }
            Stdio::Stdout => {
                let dup = match &stdout_target {
                    Target::Inherit => io::stdout().as_fd().try_clone_to_owned(),
                    Target::Fd(fd) => fd.try_clone(),
                    Target::Null => File::options()
                        .write(true)
                        .open("/dev/null")
                        .map(OwnedFd::from),
                }
                .map_err(|source| Error::Io {
                    op: "duplicate stdout for stderr",
                    source,
                })?;
                (dup.into(), None)
            }
        };
        let stdout_child = match stdout_target {
            Target::Inherit => std::process::Stdio::inherit(),
            Target::Null => std::process::Stdio::null(),
            Target::Fd(fd) => fd.into(),
        };
        cmd.stdin(stdin_child)
            .stdout(stdout_child)
            .stderr(stderr_child);

        let spawned = cmd.spawn();
        // `cmd` holds the child's ends of the pipes: close them here, so that
        // only the child has them and the parent sees EOF when it exits.
        drop(cmd);
        let child = spawned.map_err(|e| launch_error(program, self.cwd.as_deref(), e))?;
        let pid = Pid::from_raw(child.id() as i32);
        // std's handle owns no pipe (ours were passed in) and does not wait
        // on drop: from here on only forklore waits for this pid.
        drop(child);
        Ok(Popen {
            args: self.args,
            pid,
            owner: getpid(),
            returncode: None,
            stdin: stdin_parent,
            stdout: stdout_parent,
            stderr: stderr_parent,
            comm: None,
        })
    }
}

fn stdout_misplaced(stream: &str) -> Error {
    Error::InvalidArgument(format!(
        "Stdio::Stdout (Python's STDOUT) only makes sense for stderr, not for {stream}"
    ))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::os("pipe2", e))
}

/// Turn std's spawn error into [`Error::Launch`], blaming the working
/// directory when it is unusable and the program otherwise. std reports both
/// as a bare errno (`ENOENT` for a missing program and a missing directory
/// alike), so the directory is checked after the fact.
fn launch_error(program: &OsStr, cwd: Option<&Path>, e: io::Error) -> Error {
    if let Some(dir) = cwd {
        if let Err(why) = usable_dir(dir) {
            return Error::Launch {
                program: program.into(),
                cwd: Some(dir.to_owned()),
                source: why,
            };
        }
    }
    Error::Launch {
        program: program.into(),
        cwd: None,
        source: e,
    }
}

/// Whether the child could `chdir` into `dir`; the reason if not.
fn usable_dir(dir: &Path) -> io::Result<()> {
    if !std::fs::metadata(dir)?.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    nix::unistd::access(dir, nix::unistd::AccessFlags::X_OK).map_err(io::Error::from)
}

/// A running (or finished) child program (Python: `subprocess.Popen`).
///
/// Made by [`Popen::new`], [`Popen::shell`] or [`Command::spawn`]. See the
/// [module docs](self) for how the child is started and reaped, and what a
/// drop does.
pub struct Popen {
    args: Args,
    pid: Pid,
    /// The process that spawned the child; only it may wait for it.
    owner: Pid,
    returncode: Option<ExitStatus>,
    stdin: Option<File>,
    stdout: Option<File>,
    stderr: Option<File>,
    /// Set by the first `communicate`; what it has read so far, and the
    /// input it has not yet sent, for a later call after a timeout.
    comm: Option<Communication>,
}

#[derive(Default)]
struct Communication {
    unsent: Vec<u8>,
    stdout: Option<Vec<u8>>,
    stderr: Option<Vec<u8>>,
}

impl fmt::Debug for Popen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Popen")
            .field("args", &self.args)
            .field("pid", &self.pid)
            .field("returncode", &self.returncode)
            .finish_non_exhaustive()
    }
}

impl Popen {
    /// Start `args[0]` with the arguments that follow, all streams
    /// inherited, and return at once (Python: `Popen(["ls"])`).
    ///
    /// ```
    /// use forklore::subprocess::Popen;
    ///
    /// let mut child = Popen::new(["true"]).unwrap();
    /// assert!(child.wait(None).unwrap().success());
    /// ```
    ///
    /// # Errors
    /// As [`Command::spawn`].
    pub fn new<I, S>(args: I) -> Result<Popen>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new(args).spawn()
    }

    /// Start `/bin/sh -c line`, all streams inherited
    /// (Python: `Popen(line, shell=True)`).
    ///
    /// # Errors
    /// As [`Command::spawn`].
    pub fn shell(line: impl AsRef<OsStr>) -> Result<Popen> {
        Command::shell(line).spawn()
    }

    /// What this child runs (Python: `p.args`).
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// The child's pid (Python: `p.pid`).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// How the child ended, as far as known: `None` until a [`poll`](Popen::poll),
    /// [`wait`](Popen::wait) or [`communicate`](Popen::communicate) has seen
    /// it end (Python: `p.returncode`). It makes no system call.
    pub fn returncode(&self) -> Option<ExitStatus> {
        self.returncode
    }

    /// Check, without blocking, whether the child has ended; reap it if so
    /// (Python: `p.poll()`). `Ok(None)` while it runs.
    ///
    /// # Errors
    /// [`Error::Os`] (`ECHILD`) if something else reaped the child.
    pub fn poll(&mut self) -> Result<Option<ExitStatus>> {
        if self.returncode.is_none() {
            self.returncode = try_wait_pid(self.pid)?;
        }
        Ok(self.returncode)
    }

    /// Wait for the child to end and reap it (Python: `p.wait(timeout)`).
    ///
    /// With a timeout, the wait sleeps in the kernel on a pidfd; if the child
    /// is still running when it expires, the result is
    /// [`Error::TimeoutExpired`] and the child is left running. Do not `wait`
    /// on a child that writes more than a pipe holds (64 KiB) to a
    /// [`Stdio::Pipe`]: it blocks until someone reads, which nobody does.
    /// [`communicate`](Popen::communicate) reads while it waits.
    ///
    /// # Errors
    /// [`Error::TimeoutExpired`]; [`Error::Os`] (`ECHILD`) if something else
    /// reaped the child.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<ExitStatus> {
        self.wait_until(limit(timeout))
    }

    /// Wait until the deadline of `(timeout, deadline)`, naming `timeout` in
    /// the error.
    fn wait_until(&mut self, limit: Option<(Duration, Instant)>) -> Result<ExitStatus> {
        if let Some(st) = self.returncode {
            return Ok(st);
        }
        let st = match limit {
            None => wait_pid(self.pid)?,
            Some((timeout, deadline)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match wait_pid_timeout(self.pid, left)? {
                    Some(st) => st,
                    None => return Err(self.timeout_expired(timeout)),
                }
            }
        };
        self.returncode = Some(st);
        Ok(st)
    }

    fn timeout_expired(&self, timeout: Duration) -> Error {
        Error::TimeoutExpired {
            cmd: self.args.to_string(),
            timeout,
            stdout: None,
            stderr: None,
        }
    }

    /// Send `input` to the child's stdin, read its stdout and stderr to
    /// end-of-file, wait for it to end, and return what it wrote
    /// (Python: `p.communicate(input, timeout)`).
    ///
    /// Each half of the result is `Some` if that stream is a pipe, `None`
    /// otherwise. Stdin is closed once the input is sent (at once without
    /// input), so a child reading it to the end can finish.
    ///
    /// It cannot deadlock: one thread `poll(2)`s the three pipes and writes
    /// or reads whichever is ready, with the pipes in non-blocking mode, so a
    /// child writing megabytes to stdout and stderr while it still reads its
    /// input never waits on the parent for long.
    ///
    /// ```
    /// use std::time::Duration;
    /// use forklore::subprocess::{Command, Stdio};
    ///
    /// let mut p = Command::shell("echo started; exec sleep 30")
    ///     .stdout(Stdio::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let e = p.communicate(None, Some(Duration::from_millis(200))).unwrap_err();
    /// assert!(e.is_timeout());
    /// assert_eq!(p.poll().unwrap(), None); // not killed: still running
    /// p.kill().unwrap();
    /// let (out, _) = p.communicate(None, None).unwrap();
    /// assert_eq!(out.unwrap(), b"started\n"); // nothing read before the timeout is lost
    /// assert_eq!(p.returncode().unwrap().code(), -9);
    /// ```
    ///
    /// # Timeouts
    /// When `timeout` expires first, the result is [`Error::TimeoutExpired`]
    /// and, as in Python, the child is **not** killed. What was read so far
    /// stays in the `Popen`, with the input not yet sent: call `communicate`
    /// again (without input) to go on, and it returns the complete output.
    /// Calls after the one that returned the output return empty buffers.
    ///
    /// Writing to a child that has closed its stdin fails with `EPIPE`, which
    /// is ignored (the input is dropped), as in Python. Rust programs ignore
    /// `SIGPIPE` by default, which this relies on; a program that restores
    /// it would be killed instead.
    ///
    /// # Errors
    /// [`Error::TimeoutExpired`]; [`Error::InvalidArgument`] for input when
    /// stdin is not a pipe, or input in a second call;
    /// [`Error::Io`]/[`Error::Os`] if a pipe operation fails.
    pub fn communicate(
        &mut self,
        input: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Captured> {
        let limit = limit(timeout);
        let has_input = input.is_some_and(|i| !i.is_empty());
        let source: Cow<'_, [u8]> = match self.comm.as_mut() {
            Some(comm) => {
                if has_input {
                    return Err(Error::InvalidArgument(
                        "cannot send input after starting communication; \
                         call communicate(None, ..) to go on"
                            .into(),
                    ));
                }
                Cow::Owned(std::mem::take(&mut comm.unsent))
            }
            None => {
                if has_input && self.stdin.is_none() {
                    return Err(Error::InvalidArgument(
                        "communicate() was given input, but the child's stdin is not a pipe; \
                         spawn it with .stdin(Stdio::Pipe)"
                            .into(),
                    ));
                }
                self.comm = Some(Communication {
                    unsent: Vec::new(),
                    stdout: self.stdout.is_some().then(Vec::new),
                    stderr: self.stderr.is_some().then(Vec::new),
                });
                Cow::Borrowed(input.unwrap_or(&[]))
            }
        };
        for f in [&self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
        {
            set_nonblocking(f, true)?;
        }
        let mut sent = 0;
        let finished = self.pump(&source, &mut sent, limit.map(|(_, d)| d))?;
        if !finished {
            // Timed out: keep the unsent input for the next call, and give
            // the pipes back in blocking mode for anyone who reads them.
            if self.stdin.is_some() {
                if let Some(comm) = self.comm.as_mut() {
                    comm.unsent = source[sent..].to_vec();
                }
            }
            for f in [&self.stdin, &self.stdout, &self.stderr]
                .into_iter()
                .flatten()
            {
                set_nonblocking(f, false)?;
            }
            return Err(self.timeout_expired(limit.map_or(Duration::ZERO, |(t, _)| t)));
        }
        self.wait_until(limit)?;
        let comm = self.comm.get_or_insert_with(Communication::default);
        Ok((
            comm.stdout.as_mut().map(std::mem::take),
            comm.stderr.as_mut().map(std::mem::take),
        ))
    }

    /// Move data until every pipe is closed (`Ok(true)`) or the deadline
    /// passes (`Ok(false)`). `sent` counts the bytes of `source` written.
    fn pump(&mut self, source: &[u8], sent: &mut usize, deadline: Option<Instant>) -> Result<bool> {
        const IN: usize = 0;
        const OUT: usize = 1;
        const ERR: usize = 2;
        loop {
            if self.stdin.is_some() && *sent >= source.len() {
                // All input sent: close stdin so the child sees end-of-file.
                self.stdin = None;
            }
            let mut ready = [false; 3];
            {
                let mut fds = Vec::with_capacity(3);
                let mut which = Vec::with_capacity(3);
                if let Some(f) = &self.stdin {
                    fds.push(PollFd::new(f.as_fd(), PollFlags::POLLOUT));
                    which.push(IN);
                }
                for (i, f) in [(OUT, &self.stdout), (ERR, &self.stderr)] {
                    if let Some(f) = f {
                        fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                        which.push(i);
                    }
                }
                if fds.is_empty() {
                    return Ok(true);
                }
                let wait = match deadline {
                    None => PollTimeout::NONE,
                    Some(d) => poll_timeout(d.saturating_duration_since(Instant::now())),
                };
                match poll(&mut fds, wait) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(Error::os("poll", e)),
                }
                for (fd, &i) in fds.iter().zip(&which) {
                    ready[i] = fd.revents().is_some_and(|r| !r.is_empty());
                }
            }
            if ready[IN] {
                if let Some(f) = self.stdin.as_mut() {
                    match f.write(&source[*sent..]) {
                        Ok(n) => *sent += n,
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) => {}
                        // The child closed its stdin (or exited): the rest
                        // of the input has no reader. Python ignores this too.
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                            *sent = source.len();
                            self.stdin = None;
                        }
                        Err(source) => {
                            return Err(Error::Io {
                                op: "write to the child's stdin",
                                source,
                            })
                        }
                    }
                }
            }
            let comm = self.comm.get_or_insert_with(Communication::default);
            if ready[OUT] {
                read_available(&mut self.stdout, &mut comm.stdout)?;
            }
            if ready[ERR] {
                read_available(&mut self.stderr, &mut comm.stderr)?;
            }
            let open = self.stdout.is_some()
                || self.stderr.is_some()
                || (self.stdin.is_some() && *sent < source.len());
            if open && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// After a kill: collect what is already in the pipes without waiting
    /// for end-of-file (a grandchild may still hold them open).
    fn drain(&mut self) -> Captured {
        match self.communicate(None, Some(Duration::ZERO)) {
            Ok(out) => out,
            Err(_) => {
                let comm = self.comm.get_or_insert_with(Communication::default);
                (
                    comm.stdout.as_mut().map(std::mem::take),
                    comm.stderr.as_mut().map(std::mem::take),
                )
            }
        }
    }

    /// Send `sig` to the child (Python: `p.send_signal(sig)`). Does nothing
    /// once the child is known to have ended.
    ///
    /// # Errors
    /// [`Error::Os`] if `kill(2)` fails for a reason other than the child
    /// having already exited.
    pub fn send_signal(&mut self, sig: Signal) -> Result<()> {
        if self.returncode.is_some() {
            return Ok(());
        }
        // The pid cannot have been reused: it is ours until we reap it.
        match signal::kill(self.pid, sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::os("kill", e)),
        }
    }

    /// Send SIGTERM (Python: `p.terminate()`); the return code is then `-15`
    /// unless the child handles the signal.
    ///
    /// # Errors
    /// As [`send_signal`](Popen::send_signal).
    pub fn terminate(&mut self) -> Result<()> {
        self.send_signal(Signal::SIGTERM)
    }

    /// Send SIGKILL (Python: `p.kill()`); the return code is then `-9`.
    ///
    /// # Errors
    /// As [`send_signal`](Popen::send_signal).
    pub fn kill(&mut self) -> Result<()> {
        self.send_signal(Signal::SIGKILL)
    }

    /// The parent's end of the child's stdin, if it is a pipe
    /// (Python: `p.stdin`).
    pub fn stdin(&mut self) -> Option<&mut File> {
        self.stdin.as_mut()
    }

    /// The parent's end of the child's stdout, if it is a pipe
    /// (Python: `p.stdout`).
    pub fn stdout(&mut self) -> Option<&mut File> {
        self.stdout.as_mut()
    }

    /// The parent's end of the child's stderr, if it is a pipe
    /// (Python: `p.stderr`).
    pub fn stderr(&mut self) -> Option<&mut File> {
        self.stderr.as_mut()
    }

    /// Take the stdin pipe out of the `Popen`; dropping it closes it.
    /// [`communicate`](Popen::communicate) then leaves stdin alone.
    pub fn take_stdin(&mut self) -> Option<File> {
        self.stdin.take()
    }

    /// Take the stdout pipe out of the `Popen`, for example to make it the
    /// stdin of the next program in a pipeline (`Stdio::from(file)`).
    pub fn take_stdout(&mut self) -> Option<File> {
        self.stdout.take()
    }

    /// Take the stderr pipe out of the `Popen`.
    pub fn take_stderr(&mut self) -> Option<File> {
        self.stderr.take()
    }
}

impl Drop for Popen {
    fn drop(&mut self) {
        // Close our pipe ends first: a child reading its stdin sees EOF, one
        // writing to a closed stdout gets SIGPIPE.
        self.stdin = None;
        self.stdout = None;
        self.stderr = None;
        // A copy inherited through fork is not the child's parent.
        if self.returncode.is_some() || getpid() != self.owner {
            return;
        }
        if let Ok(None) = try_wait_pid(self.pid) {
            reap_later(self.pid);
        }
    }
}

/// A timeout and the deadline it sets from now, or `None` for no limit:
/// without a timeout, and for one too large to represent as a deadline
/// (`Duration::MAX`), which would never expire anyway.
fn limit(timeout: Option<Duration>) -> Option<(Duration, Instant)> {
    let t = timeout?;
    Some((t, Instant::now().checked_add(t)?))
}

/// Read what `file` has ready into `buf`; close `file` at end-of-file.
fn read_available(file: &mut Option<File>, buf: &mut Option<Vec<u8>>) -> Result<()> {
    let Some(f) = file.as_mut() else {
        return Ok(());
    };
    let buf = buf.get_or_insert_with(Vec::new);
    // The pipe is non-blocking: read_to_end reads until EOF (Ok) or until
    // the pipe is empty (WouldBlock), keeping what it read either way.
    match f.read_to_end(buf) {
        Ok(_) => *file = None,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(source) => {
            return Err(Error::Io {
                op: "read from the child's pipe",
                source,
            })
        }
    }
    Ok(())
}

fn set_nonblocking(f: &File, on: bool) -> Result<()> {
    let flags = fcntl(f, FcntlArg::F_GETFL).map_err(|e| Error::os("fcntl", e))?;
    let flags = OFlag::from_bits_truncate(flags);
    let want = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    if want != flags {
        fcntl(f, FcntlArg::F_SETFL(want)).map_err(|e| Error::os("fcntl", e))?;
    }
    Ok(())
}

/// Pids of dropped children still running; drained without blocking each
/// time a child is spawned or another `Popen` is dropped (Python's
/// `_cleanup`, duct's reaping of leaked children on later calls).
static ORPHANS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// Reap `pid` on a later call, once it has ended. forklore starts no
/// thread in the caller's process for it.
fn reap_later(pid: Pid) {
    let mut orphans = ORPHANS.lock().unwrap_or_else(PoisonError::into_inner);
    orphans.push(pid);
    orphans.retain(|&pid| matches!(try_wait_pid(pid), Ok(None)));
}

fn reap_orphans() {
    let mut orphans = ORPHANS.lock().unwrap_or_else(PoisonError::into_inner);
    // Keep only those still running; reaped ones and pids that are not our
    // children (a copy of the list inherited through fork) go.
    orphans.retain(|&pid| matches!(try_wait_pid(pid), Ok(None)));
}

/// What [`run`] returns: the finished child (Python:
/// `subprocess.CompletedProcess`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedProcess {
    /// What was run.
    pub args: Args,
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

    fn into_checked(self) -> Result<Self> {
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
/// `subprocess.run(args)`). Use [`Command`] to capture output, send input,
/// set a timeout or `check`.
///
/// ```
/// let done = forklore::subprocess::run(["sh", "-c", "exit 3"]).unwrap();
/// assert_eq!(done.returncode.code(), 3);
/// ```
///
/// # Errors
/// As [`Command::run`].
pub fn run<I, S>(args: I) -> Result<CompletedProcess>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(args).run()
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
/// As [`Command::check_output`].
pub fn check_output<I, S>(args: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(args).check_output()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_display_as_python() {
        let a = Args::Argv(vec!["ls".into(), "no-such-file".into()]);
        assert_eq!(a.to_string(), "['ls', 'no-such-file']");
        let a = Args::Argv(vec!["echo".into(), "it's".into(), "a\\b\n".into()]);
        assert_eq!(a.to_string(), r#"['echo', "it's", 'a\\b\n']"#);
        let a = Args::Argv(vec![r#"'"#.into(), r#"'""#.into()]);
        assert_eq!(a.to_string(), r#"["'", '\'"']"#);
        assert_eq!(Args::Shell("exit 2".into()).to_string(), "exit 2");
    }
}
