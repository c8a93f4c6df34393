//! [`PopenBuilder`]: what to run and how, and the launch that turns it into a
//! [`Popen`].

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::unistd::{getpid, Pid};

use super::popen::reap_orphans;
use super::{CompletedProcess, Popen, PopenArgs, Redirect, SHELL};
use crate::error::{Error, Result};

/// What to run and how: the arguments of Python's `Popen` and `run`.
///
/// Build one with [`PopenBuilder::new`] (an argument vector) or
/// [`PopenBuilder::shell`] (a command line), set what differs from the defaults,
/// then [`spawn`](PopenBuilder::spawn) it into a [`Popen`], or
/// [`run`](PopenBuilder::run) it to completion.
///
/// It is named after what it builds, not `Command`, so that it does not
/// shadow [`std::process::Command`] in a program that uses both.
///
/// ```
/// use forklore::subprocess::{PopenBuilder, Redirect};
///
/// // run(["sh", "-c", "echo $GREETING; pwd"], cwd="/", env={..., "GREETING": "hi"},
/// //     capture_output=True)
/// let done = PopenBuilder::new(["sh", "-c", "echo $GREETING; pwd"])
///     .cwd("/")
///     .env("GREETING", "hi")
///     .capture_output()
///     .run()
///     .unwrap();
/// assert_eq!(done.stdout.unwrap(), b"hi\n/\n");
/// ```
#[derive(Debug)]
pub struct PopenBuilder {
    args: PopenArgs,
    stdin: Redirect,
    stdout: Redirect,
    stderr: Redirect,
    cwd: Option<PathBuf>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    input: Option<Vec<u8>>,
    timeout: Option<Duration>,
    check: bool,
}

impl PopenBuilder {
    /// Run a program with arguments, without a shell (Python:
    /// `Popen(["ls", "-l"])`). The first item is the program, looked up in
    /// `PATH` unless it holds a `/`.
    pub fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::with_args(PopenArgs::Argv(
            args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
        ))
    }

    /// Run a command line with `/bin/sh -c` (Python:
    /// `Popen("ls | wc -l", shell=True)`). Pipes, redirections and variables
    /// work; so does shell injection, so never paste untrusted text into it.
    pub fn shell(line: impl AsRef<OsStr>) -> Self {
        Self::with_args(PopenArgs::Shell(line.as_ref().to_owned()))
    }

    fn with_args(args: PopenArgs) -> Self {
        PopenBuilder {
            args,
            stdin: Redirect::Inherit,
            stdout: Redirect::Inherit,
            stderr: Redirect::Inherit,
            cwd: None,
            env_clear: false,
            env: Vec::new(),
            input: None,
            timeout: None,
            check: false,
        }
    }

    /// Where the child's stdin comes from (default: inherited).
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn stdin(mut self, stdin: impl Into<Redirect>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Where the child's stdout goes (default: inherited).
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn stdout(mut self, stdout: impl Into<Redirect>) -> Self {
        self.stdout = stdout.into();
        self
    }

    /// Where the child's stderr goes (default: inherited);
    /// [`Redirect::Stdout`] merges it into stdout.
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn stderr(mut self, stderr: impl Into<Redirect>) -> Self {
        self.stderr = stderr.into();
        self
    }

    /// Pipe both stdout and stderr (Python: `capture_output=True`).
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn capture_output(self) -> Self {
        self.stdout(Redirect::Pipe).stderr(Redirect::Pipe)
    }

    /// The child's working directory (Python: `cwd=`). A relative program
    /// path such as `./tool` is found relative to it, as in Python.
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Set one variable in the child's environment, which otherwise is a
    /// copy of the parent's: this *extends* the environment. A `key` holding
    /// `=`, or a NUL byte in `key` or `value`, makes the launch fail with
    /// [`Error::InvalidArgument`] (Python: `ValueError`).
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Set several variables, as [`env`](PopenBuilder::env) does for one.
    #[must_use = "a builder setter returns the changed PopenBuilder"]
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
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Start the child with an empty environment, to which
    /// [`env`](PopenBuilder::env) then adds: together they *replace* the
    /// environment (Python: `env={"K": "V"}`). Without `PATH` a bare
    /// program name is looked up in the parent's `PATH`.
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// For [`run`](PopenBuilder::run): bytes to send to the child's stdin, which
    /// becomes a pipe (Python: `run(input=...)`).
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn input(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// For [`run`](PopenBuilder::run): how long the child may take; after that it
    /// is killed and reaped, and `run` returns [`Error::TimeoutExpired`]
    /// (Python: `run(timeout=...)`).
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// For [`run`](PopenBuilder::run): turn a non-zero exit into
    /// [`Error::CommandFailed`] (Python: `run(check=True)`).
    #[must_use = "a builder setter returns the changed PopenBuilder"]
    pub fn check(mut self) -> Self {
        self.check = true;
        self
    }

    /// Start the child and return at once (Python: `Popen(...)`). The child
    /// runs on its own while the caller goes on.
    ///
    /// # Errors
    /// - [`Error::Launch`] when the program is missing or not executable, or
    ///   the working directory is missing; it names the path at fault.
    /// - [`Error::InvalidArgument`] for an empty argument vector, a NUL byte
    ///   in the program, an argument, the command line, an environment
    ///   variable or the working directory, an environment variable name
    ///   holding `=` (Python raises `ValueError` for each of these),
    ///   [`Redirect::Stdout`] given for stdin or stdout, or `input`, `timeout` or
    ///   `check` set (they belong to [`run`](PopenBuilder::run); pass input and a
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
    /// (Python: `subprocess.run`). With a [`timeout`](PopenBuilder::timeout), a
    /// child still running when it expires is killed and reaped before the
    /// error is returned.
    ///
    /// ```
    /// use forklore::subprocess::PopenBuilder;
    ///
    /// let done = PopenBuilder::new(["cat"]).input("to cat and back").capture_output().run().unwrap();
    /// assert_eq!(done.stdout.unwrap(), b"to cat and back");
    /// assert!(done.returncode.success());
    /// ```
    ///
    /// # Errors
    /// Those of [`spawn`](PopenBuilder::spawn) (except that `input`, `timeout` and
    /// `check` are welcome); [`Error::TimeoutExpired`] with the output read
    /// before the kill; [`Error::CommandFailed`] with [`check`](PopenBuilder::check)
    /// and a non-zero exit; [`Error::InvalidArgument`] when both `input` and a
    /// stdin other than [`Redirect::Inherit`] are given.
    pub fn run(mut self) -> Result<CompletedProcess> {
        let input = self.input.take();
        let timeout = self.timeout.take();
        let check = std::mem::take(&mut self.check);
        if input.is_some() {
            if !matches!(self.stdin, Redirect::Inherit) {
                return Err(Error::InvalidArgument(
                    "stdin and input may not both be used: input makes stdin a pipe".into(),
                ));
            }
            self.stdin = Redirect::Pipe;
        }
        let mut p = self.launch()?;
        let (stdout, stderr) =
            match p.communicate_until(input.as_deref(), super::popen::limit(timeout)) {
                Ok(out) => out,
                Err(Error::TimeoutExpired { cmd, timeout, .. }) => {
                    // Python: kill, collect what the child wrote, reap.
                    let _ = p.kill();
                    let _ = p.wait();
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
                    let _ = p.wait();
                    return Err(e);
                }
            };
        let returncode = p.wait()?;
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
    /// use forklore::subprocess::PopenBuilder;
    ///
    /// let out = PopenBuilder::shell("echo $((6 * 7))").check_output().unwrap();
    /// assert_eq!(out, b"42\n");
    /// ```
    ///
    /// # Errors
    /// Those of [`run`](PopenBuilder::run) with `check`; [`Error::InvalidArgument`]
    /// if stdout was set (it is always a pipe here).
    pub fn check_output(mut self) -> Result<Vec<u8>> {
        if !matches!(self.stdout, Redirect::Inherit) {
            return Err(Error::InvalidArgument(
                "check_output() pipes stdout itself; do not set stdout".into(),
            ));
        }
        self.stdout = Redirect::Pipe;
        self.check = true;
        Ok(self.run()?.stdout.unwrap_or_default())
    }

    /// Refuse what the kernel cannot be given, before anything is started
    /// (Python raises `ValueError` for each): a NUL byte in the program, an
    /// argument, the command line, an environment variable's name or value,
    /// or the working directory, and a `=` in a variable's name (which
    /// would silently become part of the value: `A=B` set to `c` is the
    /// entry `A=B=c`, that is `A` set to `B=c`).
    ///
    /// The message shows the offending text escaped (`"a\0b"`), never the
    /// raw byte.
    fn validate(&self) -> Result<()> {
        fn no_nul(what: impl FnOnce() -> String, s: &OsStr) -> Result<()> {
            if s.as_encoded_bytes().contains(&0) {
                return Err(Error::InvalidArgument(format!(
                    "embedded null byte in {}: {s:?}",
                    what()
                )));
            }
            Ok(())
        }
        match &self.args {
            PopenArgs::Argv(argv) => {
                for (i, a) in argv.iter().enumerate() {
                    no_nul(
                        || match i {
                            0 => "the program".to_string(),
                            i => format!("argument {i}"),
                        },
                        a,
                    )?;
                }
            }
            PopenArgs::Shell(line) => no_nul(|| "the command line".to_string(), line)?,
        }
        for (k, v) in &self.env {
            no_nul(|| "an environment variable's name".to_string(), k)?;
            if k.as_encoded_bytes().contains(&b'=') {
                return Err(Error::InvalidArgument(format!(
                    "illegal environment variable name {k:?}: a name cannot contain '='"
                )));
            }
            if let Some(v) = v {
                no_nul(|| format!("the value of environment variable {k:?}"), v)?;
            }
        }
        if let Some(dir) = &self.cwd {
            no_nul(|| "the working directory".to_string(), dir.as_os_str())?;
        }
        Ok(())
    }

    fn launch(self) -> Result<Popen> {
        self.validate()?;
        reap_orphans();
        let (program, rest): (&OsStr, Vec<&OsStr>) = match &self.args {
            PopenArgs::Argv(argv) => match argv.split_first() {
                Some((p, rest)) => (p, rest.iter().map(OsString::as_os_str).collect()),
                None => {
                    return Err(Error::InvalidArgument(
                        "the argument vector is empty: name a program to run".into(),
                    ))
                }
            },
            PopenArgs::Shell(line) => (OsStr::new(SHELL), vec![OsStr::new("-c"), line.as_os_str()]),
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
            Redirect::Inherit => (std::process::Stdio::inherit(), None),
            Redirect::DevNull => (std::process::Stdio::null(), None),
            Redirect::Fd(fd) => (fd.into(), None),
            Redirect::Pipe => {
                let (r, w) = pipe()?;
                (r.into(), Some(File::from(w)))
            }
            Redirect::Stdout => return Err(stdout_misplaced("stdin")),
        };
        // Kept as an fd (not yet a std Redirect) so that stderr can share it.
        enum Target {
            Inherit,
            Null,
            Fd(OwnedFd),
        }
        let (stdout_target, stdout_parent) = match self.stdout {
            Redirect::Inherit => (Target::Inherit, None),
            Redirect::DevNull => (Target::Null, None),
            Redirect::Fd(fd) => (Target::Fd(fd), None),
            Redirect::Pipe => {
                let (r, w) = pipe()?;
                (Target::Fd(w), Some(File::from(r)))
            }
            Redirect::Stdout => return Err(stdout_misplaced("stdout")),
        };
        let (stderr_child, stderr_parent) = match self.stderr {
            Redirect::Inherit => (std::process::Stdio::inherit(), None),
            Redirect::DevNull => (std::process::Stdio::null(), None),
            Redirect::Fd(fd) => (fd.into(), None),
            Redirect::Pipe => {
                let (r, w) = pipe()?;
                (w.into(), Some(File::from(r)))
            }
            Redirect::Stdout => {
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
        "Redirect::Stdout (Python's STDOUT) only makes sense for stderr, not for {stream}"
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

/// A builder setter whose result is dropped changed nothing, so the setters
/// are `#[must_use]`. This must not compile:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let cmd = forklore::subprocess::PopenBuilder::new(["true"]);
/// cmd.check();
/// ```
///
/// and `check` takes no `bool`: this must not compile either:
///
/// ```compile_fail,E0061
/// let _ = forklore::subprocess::PopenBuilder::new(["true"]).check(true);
/// ```
#[cfg(doctest)]
pub struct SettersAreMustUse;
