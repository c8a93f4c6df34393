//! [`Popen`]: a running child, its pipes, `communicate`, and the reaping
//! of children dropped while they still run.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal;

use crate::os::Signal;
use nix::unistd::{getpid, Pid};

#[cfg(doc)]
use super::Redirect;
use super::{Captured, PopenArgs, PopenBuilder};
use crate::error::{Error, Result};
use crate::process::ExitStatus;
use crate::sys::{try_wait_pid, wait_pid, wait_pid_timeout};

/// A running (or finished) child program (Python: `subprocess.Popen`).
///
/// Made by [`Popen::new`], [`Popen::shell`] or [`PopenBuilder::spawn`]. See the
/// [module docs](crate::subprocess) for how the child is started and reaped, and what a
/// drop does.
pub struct Popen {
    pub(super) args: PopenArgs,
    pub(super) pid: Pid,
    /// The process that spawned the child; only it may wait for it.
    pub(super) owner: Pid,
    pub(super) returncode: Option<ExitStatus>,
    pub(super) stdin: Option<File>,
    pub(super) stdout: Option<File>,
    pub(super) stderr: Option<File>,
    /// Set by the first `communicate`; what it has read so far, and the
    /// input it has not yet sent, for a later call after a timeout.
    pub(super) comm: Option<Communication>,
}

#[derive(Default)]
pub(super) struct Communication {
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
    /// assert!(child.wait().unwrap().success());
    /// ```
    ///
    /// # Errors
    /// As [`PopenBuilder::spawn`].
    pub fn new<I, S>(args: I) -> Result<Popen>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        PopenBuilder::new(args).spawn()
    }

    /// Start `/bin/sh -c line`, all streams inherited
    /// (Python: `Popen(line, shell=True)`).
    ///
    /// # Errors
    /// As [`PopenBuilder::spawn`].
    pub fn shell(line: impl AsRef<OsStr>) -> Result<Popen> {
        PopenBuilder::shell(line).spawn()
    }

    /// What this child runs (Python: `p.args`).
    pub fn args(&self) -> &PopenArgs {
        &self.args
    }

    /// The child's pid (Python: `p.pid`).
    pub fn pid(&self) -> crate::Pid {
        crate::Pid::from_nix(self.pid)
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

    /// Wait for the child to end and reap it (Python: `p.wait()`).
    ///
    /// Do not `wait`
    /// on a child that writes more than a pipe holds (64 KiB) to a
    /// [`Redirect::Pipe`]: it blocks until someone reads, which nobody does.
    /// [`communicate`](Popen::communicate) reads while it waits.
    ///
    /// # Errors
    /// [`Error::Os`] (`ECHILD`) if something else reaped the child.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.wait_until(None)
    }

    /// [`wait`](Self::wait) at most `timeout` (Python: `p.wait(timeout)`).
    ///
    /// The wait sleeps in the kernel on a pidfd; if the child is still
    /// running when `timeout` expires, the result is
    /// [`Error::TimeoutExpired`] and the child is left running.
    ///
    /// # Errors
    /// [`Error::TimeoutExpired`]; [`Error::Os`] (`ECHILD`) if something else
    /// reaped the child.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.wait_until(limit(Some(timeout)))
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
    /// (Python: `p.communicate(input)`; with a timeout,
    /// [`communicate_timeout`](Self::communicate_timeout)).
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
    /// use forklore::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut p = PopenBuilder::shell("echo started; exec sleep 30")
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let e = p.communicate_timeout(None, Duration::from_millis(200)).unwrap_err();
    /// assert!(e.is_timeout());
    /// assert_eq!(p.poll().unwrap(), None); // not killed: still running
    /// p.kill().unwrap();
    /// let (out, _) = p.communicate(None).unwrap();
    /// assert_eq!(out.unwrap(), b"started\n"); // nothing read before the timeout is lost
    /// assert_eq!(p.returncode().unwrap().code(), -9);
    /// ```
    ///
    /// # Timeouts
    /// With [`communicate_timeout`](Self::communicate_timeout), when
    /// `timeout` expires first, the result is [`Error::TimeoutExpired`]
    /// and, as in Python, the child is **not** killed. Its `stdout` and
    /// `stderr` hold a copy of what was read so far from each piped stream
    /// (Python: `TimeoutExpired.stdout`/`.stderr`; CPython gives `None` for a
    /// pipe nothing was read from yet, forklore an empty buffer, so `Some`
    /// always means "a pipe"). What was read also
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
    pub fn communicate(&mut self, input: Option<&[u8]>) -> Result<Captured> {
        self.communicate_until(input, None)
    }

    /// [`communicate`](Self::communicate) at most `timeout` (Python:
    /// `p.communicate(input, timeout)`); see its `# Timeouts`.
    ///
    /// # Errors
    /// As [`communicate`](Self::communicate).
    pub fn communicate_timeout(
        &mut self,
        input: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Captured> {
        self.communicate_until(input, limit(Some(timeout)))
    }

    pub(super) fn communicate_until(
        &mut self,
        input: Option<&[u8]>,
        limit: Option<(Duration, Instant)>,
    ) -> Result<Captured> {
        let has_input = input.is_some_and(|i| !i.is_empty());
        let source: Cow<'_, [u8]> = match self.comm.as_mut() {
            Some(comm) => {
                if has_input {
                    return Err(Error::InvalidArgument(
                        "cannot send input after starting communication; \
                         call communicate(None) to go on"
                            .into(),
                    ));
                }
                Cow::Owned(std::mem::take(&mut comm.unsent))
            }
            None => {
                if has_input && self.stdin.is_none() {
                    return Err(Error::InvalidArgument(
                        "communicate() was given input, but the child's stdin is not a pipe; \
                         spawn it with .stdin(Redirect::Pipe)"
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
            // As CPython's TimeoutExpired: the output so far, which the
            // Popen keeps too (the next call returns all of it).
            let (stdout, stderr) = self
                .comm
                .as_ref()
                .map_or((None, None), |c| (c.stdout.clone(), c.stderr.clone()));
            let mut e = self.timeout_expired(limit.map_or(Duration::ZERO, |(t, _)| t));
            if let Error::TimeoutExpired {
                stdout: o,
                stderr: r,
                ..
            } = &mut e
            {
                (*o, *r) = (stdout, stderr);
            }
            return Err(e);
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
                crate::sys::poll(&mut fds, deadline)?;
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
    pub(super) fn drain(&mut self) -> Captured {
        match self.communicate_timeout(None, Duration::ZERO) {
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
        match signal::kill(self.pid, sig.to_nix()) {
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
    /// stdin of the next program in a pipeline (`Redirect::from(file)`).
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
pub(super) fn limit(timeout: Option<Duration>) -> Option<(Duration, Instant)> {
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

pub(super) fn reap_orphans() {
    let mut orphans = ORPHANS.lock().unwrap_or_else(PoisonError::into_inner);
    // Keep only those still running; reaped ones and pids that are not our
    // children (a copy of the list inherited through fork) go.
    orphans.retain(|&pid| matches!(try_wait_pid(pid), Ok(None)));
}
