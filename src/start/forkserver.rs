//! The `forkserver` start method.
//!
//! On first use a process spawns the server (a fresh run of the executable,
//! so it has one thread) on a listening Unix socket in a private directory
//! (mode 0700). For each child, the client connects, both sides prove they
//! know a random key (HMAC challenge, each way), and the client sends the
//! target (a `fn` item by offset, its arguments) with its own stdin, stdout
//! and stderr as `SCM_RIGHTS`. The server forks; the child takes those three
//! descriptors and runs the target. The server answers with the child's pid
//! and a pidfd for it (so the client can signal it with no pid-reuse race),
//! and when the child ends, with its raw wait status, on the same
//! connection, which it then closes. The server leaves when the client
//! process (and whatever inherited its end of the payload pipe) is gone.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::spawn::{spawn_entry, Entry, FnTarget, WireFn};
use crate::connection::{answer_challenge, deliver_challenge, Connection};
use crate::error::{Error, Result};
use crate::exit_status::ExitStatus;

/// How long either side waits for the other during a request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request the server accepts.
const MAX_REQUEST: usize = 1 << 30;

struct Server {
    path: PathBuf,
    authkey: Vec<u8>,
    pid: Pid,
    /// The process that started it (a forked child of it shares it).
    owner: u32,
    /// Our end of the server's payload pipe; the server leaves when every
    /// copy is closed.
    _alive: OwnedFd,
}

static SERVER: Mutex<Option<Arc<Server>>> = Mutex::new(None);

/// The running server, started if there is none. The lock is held across
/// local system calls only (bind, spawn); no wait for the server.
fn server() -> Result<Arc<Server>> {
    let mut g = SERVER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = g.as_ref() {
        return Ok(Arc::clone(s));
    }
    if !super::spawn::initialized() {
        return Err(Error::SpawnNotInitialized);
    }
    let dir = crate::sys::private_dir("forkserver", "create the fork server's socket directory")?;
    let path = dir.join("fs");
    let started = UnixListener::bind(&path)
        .map_err(|source| Error::Io {
            op: "bind the fork server's socket",
            source,
        })
        .and_then(|listener| {
            let mut authkey = vec![0u8; 32];
            crate::sys::random_bytes(&mut authkey)?;
            let (pid, alive) = spawn_entry(
                Entry::ForkServer {
                    listener: listener.as_raw_fd(),
                    authkey: authkey.clone(),
                    dir: dir.clone(),
                },
                &[listener.as_raw_fd()],
                true,
            )?;
            Ok((listener, authkey, pid, alive))
        });
    let (listener, authkey, pid, alive) = match started {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    drop(listener);
    let s = Arc::new(Server {
        path,
        authkey,
        pid,
        owner: std::process::id(),
        _alive: alive.expect("asked to keep the pipe"),
    });
    *g = Some(Arc::clone(&s));
    Ok(s)
}

#[derive(Serialize, Deserialize)]
struct Request {
    name: String,
    /// Which of stdin, stdout, stderr (bits 0, 1, 2) come as descriptors,
    /// in that order; a closed one stays closed in the child.
    stdio: u8,
    target: WireFn,
}

/// A child of the fork server, seen from the process that asked for it.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) pid: Pid,
    conn: UnixStream,
    pidfd: Option<OwnedFd>,
}

fn io(op: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Io { op, source }
}

/// Ask the fork server for a child that runs `target` as `name`.
pub(crate) fn start(name: &str, target: &FnTarget) -> Result<Served> {
    let mut restarted = false;
    loop {
        let s = server()?;
        match request(&s, name, target) {
            Err(Error::ForkServerGone { .. }) if !restarted => {
                // The server died (killed, say): start another, once.
                restarted = true;
                let mut g = SERVER.lock().unwrap_or_else(PoisonError::into_inner);
                if g.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, &s)) {
                    *g = None;
                    // Reap it if it is ours, and remove what it could not.
                    if s.owner == std::process::id() {
                        let _ = crate::sys::try_wait_pid(s.pid);
                    }
                    let _ = std::fs::remove_file(&s.path);
                    if let Some(dir) = s.path.parent() {
                        let _ = std::fs::remove_dir(dir);
                    }
                }
                drop(g);
            }
            other => return other,
        }
    }
}

fn gone(op: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::Closed | Error::Truncated { .. } => Error::ForkServerGone { op },
        Error::Io { ref source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::NotFound
            ) =>
        {
            Error::ForkServerGone { op }
        }
        e => e,
    }
}

fn request(s: &Server, name: &str, target: &FnTarget) -> Result<Served> {
    let stream = connect_bounded(&s.path, REQUEST_TIMEOUT)
        .map_err(io("connect to the fork server"))
        .map_err(gone("connect"))?;
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(io("set a timeout"))?;
    stream
        .set_write_timeout(Some(REQUEST_TIMEOUT))
        .map_err(io("set a timeout"))?;
    {
        let mut conn = Connection::from(stream.try_clone().map_err(io("dup"))?);
        deliver_challenge(&mut conn, &s.authkey).map_err(gone("handshake"))?;
        answer_challenge(&mut conn, &s.authkey).map_err(gone("handshake"))?;
    }
    let mut stdio = 0u8;
    let mut fds = Vec::new();
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            stdio |= 1 << fd;
            fds.push(fd);
        }
    }
    // The shared objects among the arguments: after stdio, in order.
    fds.extend(target.raw_fds());
    let req = Request {
        name: name.to_string(),
        stdio,
        target: target.to_wire(),
    };
    let body = postcard::to_stdvec(&req).map_err(|e| Error::Encode(e.to_string()))?;
    let mut framed = (body.len() as u64).to_le_bytes().to_vec();
    framed.extend_from_slice(&body);
    send_with_fds(&stream, &framed, &fds)
        .map_err(io("send to the fork server"))
        .map_err(gone("send"))?;
    let mut pid = [0u8; 4];
    let mut got = recv_with_fds(&stream, &mut pid)
        .map_err(io("receive from the fork server"))
        .map_err(gone("recv"))?;
    if got.0 < 4 {
        (&stream)
            .read_exact(&mut pid[got.0..])
            .map_err(io("receive from the fork server"))
            .map_err(|e| match e {
                Error::Io { ref source, .. }
                    if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    Error::ForkServerGone { op: "recv" }
                }
                e => gone("recv")(e),
            })?;
    }
    let pid = i32::from_le_bytes(pid);
    if pid <= 0 {
        return Err(Error::ForkServerGone { op: "fork" });
    }
    let pidfd = got.1.pop();
    // The child may run for ever: waits on the status are the caller's.
    stream.set_read_timeout(None).map_err(io("set a timeout"))?;
    Ok(Served {
        pid: Pid::from_raw(pid),
        conn: stream,
        pidfd,
    })
}

/// Connect to a Unix socket, giving up after `timeout` while its listen
/// queue stays full (a blocking `connect` would wait for ever on a server
/// that stopped accepting).
fn connect_bounded(path: &std::path::Path, timeout: Duration) -> std::io::Result<UnixStream> {
    use nix::errno::Errno;
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    let deadline = std::time::Instant::now() + timeout;
    let mut nap = Duration::from_micros(100);
    loop {
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => break,
            Err(Errno::EINTR) => continue,
            // A Unix socket's queue is full: retry until the deadline.
            Err(Errno::EAGAIN) if std::time::Instant::now() < deadline => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(Errno::EAGAIN) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!("the fork server's listen queue stayed full for {timeout:?}"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn send_with_fds(s: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let iov = [IoSlice::new(bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    let sent = loop {
        match sendmsg::<()>(s.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.map_err(std::io::Error::from)?,
        }
    };
    let mut w = s;
    w.write_all(&bytes[sent..])
}

/// One `recvmsg` into `buf`; returns the bytes read and the descriptors
/// that came with them.
fn recv_with_fds(s: &UnixStream, buf: &mut [u8]) -> std::io::Result<(usize, Vec<OwnedFd>)> {
    // A start's request: up to 3 for stdio and MAX_ARG_FDS for arguments.
    let mut space = nix::cmsg_space!([RawFd; 3 + super::spawn::MAX_ARG_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(
            s.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.map_err(std::io::Error::from)?,
        }
    };
    let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
    let mut fds = Vec::new();
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(v) = c {
                for fd in v {
                    // SAFETY: the kernel just installed this descriptor in
                    // our table for this message; nobody else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
    }
    if truncated {
        // Some descriptors were dropped by the kernel: the message is not
        // what was sent (those that came are closed with `fds`).
        return Err(std::io::Error::other("descriptors truncated (MSG_CTRUNC)"));
    }
    Ok((msg.bytes, fds))
}

impl Served {
    /// Wait up to `timeout` (`None`: for ever) for the child's status.
    /// A copy of the connection's descriptor, readable once the fork
    /// server reports the child's end (for `active_children`).
    pub(crate) fn watch_fd(&self) -> Option<std::os::fd::OwnedFd> {
        self.conn.try_clone().ok().map(std::os::fd::OwnedFd::from)
    }

    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        if let Some(t) = timeout {
            if !crate::sys::poll_readable(&self.conn, t)? {
                return Ok(None);
            }
        }
        let mut raw = [0u8; 4];
        match (&self.conn).read_exact(&mut raw) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(Error::ForkServerGone { op: "wait" })
            }
            Err(source) => {
                return Err(gone("wait")(Error::Io {
                    op: "receive a status from the fork server",
                    source,
                }))
            }
        }
        ExitStatus::from_raw(i32::from_le_bytes(raw))
            .map(Some)
            .ok_or(Error::ForkServerGone { op: "wait" })
    }

    /// Send `sig` to the child, through its pidfd where there is one.
    pub(crate) fn signal(&self, sig: nix::sys::signal::Signal) -> Result<()> {
        let r = match &self.pidfd {
            // SAFETY: pidfd_send_signal takes a pidfd we own, a signal
            // number, a null siginfo and no flags; it touches no memory.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    sig as i32,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            },
            // SAFETY: kill(2) with a pid and a signal touches no memory.
            None => libc::c_long::from(unsafe { libc::kill(self.pid.as_raw(), sig as i32) }),
        };
        if r == -1 {
            match nix::errno::Errno::last() {
                // Already ended (and reaped by the server).
                nix::errno::Errno::ESRCH => {}
                e => return Err(Error::os("pidfd_send_signal", e)),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------

struct Kid {
    pid: Pid,
    pidfd: OwnedFd,
    conn: UnixStream,
}

/// The fork server's main loop. Never returns.
pub(crate) fn serve(listener: OwnedFd, alive: OwnedFd, authkey: Vec<u8>, dir: PathBuf) -> ! {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let listener = UnixListener::from(listener);
    let mut kids: Vec<Kid> = Vec::new();
    loop {
        let (alive_ev, listen_ev, ready) = {
            let mut fds = vec![
                PollFd::new(alive.as_fd(), PollFlags::POLLIN),
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            ];
            fds.extend(
                kids.iter()
                    .map(|k| PollFd::new(k.pidfd.as_fd(), PollFlags::POLLIN)),
            );
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ev = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let ready: Vec<usize> = fds[2..]
                .iter()
                .enumerate()
                .filter(|(_, f)| ev(f))
                .map(|(i, _)| i)
                .collect();
            (ev(&fds[0]), ev(&fds[1]), ready)
        };
        // Report ended children, last index first so removal keeps the
        // others' positions.
        for &i in ready.iter().rev() {
            if let Ok(Some(raw)) = waitpid_raw_nohang(kids[i].pid) {
                let k = kids.swap_remove(i);
                let _ = (&k.conn).write_all(&raw.to_le_bytes());
            }
        }
        if alive_ev {
            let mut b = [0u8; 16];
            match nix::unistd::read(&alive, &mut b) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if listen_ev {
            if let Ok((conn, _)) = listener.accept() {
                if let Some(kid) = handle(conn, &authkey, &listener, &alive, &kids) {
                    kids.push(kid);
                }
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("fs"));
    let _ = std::fs::remove_dir(&dir);
    // SAFETY: _exit ends the process at once; the server owns nothing that
    // must be released first. Its children keep running, as CPython's do.
    unsafe { libc::_exit(0) }
}

fn waitpid_raw_nohang(pid: Pid) -> std::result::Result<Option<i32>, nix::errno::Errno> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int for the call.
        let r = unsafe { libc::waitpid(pid.as_raw(), &mut status, libc::WNOHANG) };
        match r {
            -1 => match nix::errno::Errno::last() {
                nix::errno::Errno::EINTR => continue,
                e => return Err(e),
            },
            0 => return Ok(None),
            _ if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) => return Ok(Some(status)),
            _ => return Ok(None),
        }
    }
}

/// Serve one request: authenticate, read it, fork the child, answer its pid.
fn handle(
    conn: UnixStream,
    authkey: &[u8],
    listener: &UnixListener,
    alive: &OwnedFd,
    kids: &[Kid],
) -> Option<Kid> {
    conn.set_read_timeout(Some(REQUEST_TIMEOUT)).ok()?;
    conn.set_write_timeout(Some(REQUEST_TIMEOUT)).ok()?;
    {
        let mut c = Connection::from(conn.try_clone().ok()?);
        // The client delivers first, then answers; see `request`.
        answer_challenge(&mut c, authkey).ok()?;
        deliver_challenge(&mut c, authkey).ok()?;
    }
    let mut head = [0u8; 8];
    let (n, mut fds) = recv_with_fds(&conn, &mut head).ok()?;
    if n < 8 {
        (&conn).read_exact(&mut head[n..]).ok()?;
    }
    let len = usize::try_from(u64::from_le_bytes(head))
        .ok()
        .filter(|&l| l <= MAX_REQUEST)?;
    let mut body = vec![0u8; len];
    (&conn).read_exact(&mut body).ok()?;
    let req: Request = postcard::from_bytes(&body).ok()?;
    let stdio = (0..3).filter(|b| req.stdio & (1 << b) != 0).count();
    let wanted = stdio.checked_add(req.target.fds.len())?;
    if fds.len() != wanted {
        return None;
    }
    // SAFETY: this server is single-threaded (a spawned process that
    // started no thread), and the child ends through `run_fn_child`, which
    // leaves with `_exit`.
    match unsafe { crate::fork::fork() } {
        Ok(crate::fork::Fork::Child) => {
            // Keep nothing of the server's.
            // SAFETY: these descriptors belong to the server's objects,
            // which this child never uses again and never drops (it leaves
            // by `_exit` below), so nothing closes them twice.
            unsafe {
                for k in kids {
                    libc::close(k.pidfd.as_raw_fd());
                    libc::close(k.conn.as_raw_fd());
                }
                libc::close(listener.as_raw_fd());
                libc::close(alive.as_raw_fd());
            }
            let shared = fds.split_off(stdio);
            let mut it = fds.drain(..);
            for target in 0..3 {
                if req.stdio & (1 << target) != 0 {
                    let fd = it.next().expect("counted above");
                    // SAFETY: dup2 onto a standard descriptor number; the
                    // old descriptor there (the server's) is replaced.
                    unsafe { libc::dup2(fd.as_raw_fd(), target) };
                } else {
                    // SAFETY: the client had it closed; so does its child.
                    unsafe { libc::close(target) };
                }
            }
            drop(conn);
            super::child::run_fn_child(req.name, req.target.into_local(shared))
        }
        Ok(crate::fork::Fork::Parent { child }) => {
            let child = child.to_nix();
            drop(fds);
            let pidfd = crate::sys::pidfd_open(child);
            let bytes = child.as_raw().to_le_bytes();
            let sent = match &pidfd {
                Some(p) => send_with_fds(&conn, &bytes, &[p.as_raw_fd()]),
                None => send_with_fds(&conn, &bytes, &[]),
            };
            let pidfd = match pidfd {
                Some(p) => p,
                None => {
                    // No pidfds (Linux < 5.3): reap in a blocking way.
                    let _ = crate::sys::wait_pid(child);
                    return None;
                }
            };
            let _ = sent;
            let _ = conn.set_read_timeout(None);
            Some(Kid {
                pid: child,
                pidfd,
                conn,
            })
        }
        Err(_) => {
            let _ = send_with_fds(&conn, &0i32.to_le_bytes(), &[]);
            None
        }
    }
}
