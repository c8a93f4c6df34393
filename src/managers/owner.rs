//! The side of a Manager that runs in the process that started it: the
//! [`Owner`] of the server process (it shuts the server down, reaps it and
//! removes its socket directory) and the constructors that bind the socket
//! and fork or spawn the server. The server itself is [`accept`](super::accept)
//! and [`server`](super::server); the proxies' side is [`client`](super::client).

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::{self, Endpoint};
use super::protocol::{self, Request};
use super::{accept, lifeline, Address, Manager};
use crate::error::{Error, Result};
use crate::fork::{fork, Fork};
use crate::process::ExitStatus;

/// The part of a started manager that owns the server process.
pub(super) struct Owner {
    /// The process that started the server; only it shuts it down.
    pub(super) creator: u32,
    pub(super) server: nix::unistd::Pid,
    /// The Unix socket's private directory (none for TCP).
    pub(super) dir: Option<PathBuf>,
    /// The write end of the "owner alive" pipe (see `server::run`).
    pub(super) _alive: OwnedFd,
    pub(super) status: Mutex<Option<ExitStatus>>,
    pub(super) endpoint: Arc<Endpoint>,
}

impl Owner {
    pub(super) fn shutdown(&self) -> Result<ExitStatus> {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = *status {
            return Ok(st);
        }
        // Ask politely; the server replies, then exits.
        if let Ok(mut conn) = client::connect_timeout(&self.endpoint, Some(Duration::from_secs(1)))
        {
            if conn.send(&Request::Shutdown).is_ok() {
                let _ = conn.recv_timeout::<protocol::Response>(Duration::from_secs(1));
            }
        }
        client::forget_connection(&self.endpoint.address);
        let st = match crate::sys::wait_pid_timeout(self.server, Duration::from_secs(2))? {
            Some(st) => st,
            None => {
                let _ = nix::sys::signal::kill(self.server, nix::sys::signal::Signal::SIGKILL);
                crate::sys::wait_pid(self.server)?
            }
        };
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        *status = Some(st);
        Ok(st)
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // A copy inherited by a child process is not the owner.
        if std::process::id() == self.creator {
            let _ = self.shutdown();
        }
    }
}

/// In a process spawned to be a Manager's server: serve on the inherited
/// listener (`tcp` tells its kind) until the owner is gone. Never returns.
pub(crate) fn run_spawned_server(
    listener: OwnedFd,
    tcp: bool,
    authkey: Vec<u8>,
    alive: OwnedFd,
    dir: Option<PathBuf>,
) -> ! {
    let listener = if tcp {
        accept::Listener::Tcp(TcpListener::from(listener))
    } else {
        accept::Listener::Unix(UnixListener::from(listener))
    };
    // The spawned server's parent is the process that spawned it: its owner.
    accept::run(
        listener,
        authkey,
        alive,
        dir,
        crate::orphan::Owner::parent(),
    )
}

impl Manager {
    /// Fork the server process and return the handle that owns it
    /// (Python: `Manager()` / `SyncManager().start()`).
    ///
    /// The socket is bound before the fork, so the server is reachable as
    /// soon as this returns. Call it before starting threads: it forks.
    ///
    /// # Errors
    /// [`Error::Io`] if the socket directory or socket cannot be made;
    /// [`Error::Os`] if `fork` fails.
    pub fn start() -> Result<Manager> {
        Self::start_unix(None)
    }

    /// [`start`](Self::start), with the server started by `method`
    /// (Python: `get_context(method).Manager()`): `Fork` forks it (refused
    /// in a threaded process); `Spawn` and `ForkServer` run it in a fresh
    /// run of this executable, which needs [`forklore::init()`](crate::init)
    /// at the top of `main` (the fork server's children are not ours to
    /// reap, so the server of a Manager is spawned, not forked by it).
    ///
    /// [`start`](Self::start) uses the program's method
    /// ([`get_start_method`](crate::start::get_start_method)) when `main`
    /// called `init`, and `fork` otherwise.
    ///
    /// # Errors
    /// Those of [`start`](Self::start); [`Error::SpawnNotInitialized`] for
    /// `Spawn` or `ForkServer` without `init`.
    pub fn start_with(method: crate::start::StartMethod) -> Result<Manager> {
        Self::start_unix(Some(method))
    }

    fn start_unix(method: Option<crate::start::StartMethod>) -> Result<Manager> {
        let dir = crate::sys::private_dir("manager", "create the manager's socket directory")?;
        let path = dir.join("manager.sock");
        let listener = UnixListener::bind(&path).map_err(|source| {
            let _ = std::fs::remove_dir_all(&dir);
            Error::Io {
                op: "bind the manager's socket",
                source,
            }
        })?;
        let mut authkey = vec![0u8; 32];
        crate::sys::random_bytes(&mut authkey)?;
        Self::spawn(
            accept::Listener::Unix(listener),
            Address::Unix(path),
            authkey,
            Some(dir),
            method,
        )
    }

    /// Fork the server process, listening on TCP at `bind`, and return the
    /// handle that owns it (Python: `BaseManager(address=(host, port),
    /// authkey=key).start()`).
    ///
    /// Processes on other hosts reach it with [`Manager::connect`], the
    /// address and the same `authkey`; they find objects by the names given
    /// with [`register`](Self::register). Give port 0 to let the kernel
    /// choose a free port; [`address`](Self::address) tells which.
    ///
    /// The bind address is exactly what you give: `127.0.0.1` serves this
    /// host only, a LAN address serves that network, `0.0.0.0` every
    /// interface. Anyone who can reach the port and knows the key can use
    /// every object and shut the server down, and the traffic is not
    /// encrypted: on an untrusted network, tunnel it (SSH, WireGuard).
    /// Connections use keepalive and timeouts (see [`tcp`](super::tcp)).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `authkey` is empty (a TCP manager
    /// refuses to start without one) or `bind` resolves to no address;
    /// [`Error::Io`] if the address cannot be bound (in use, not local);
    /// [`Error::Os`] if `fork` fails.
    pub fn start_tcp(bind: impl std::net::ToSocketAddrs, authkey: &[u8]) -> Result<Manager> {
        if authkey.is_empty() {
            return Err(Error::InvalidArgument(
                "a TCP manager needs an authkey: anyone who can reach the port could \
                 otherwise use it (give a secret of 16 random bytes or more)"
                    .into(),
            ));
        }
        let io = |op| move |source| Error::Io { op, source };
        let addr = bind
            .to_socket_addrs()
            .map_err(io("resolve the manager's bind address"))?
            .next()
            .ok_or_else(|| {
                Error::InvalidArgument("the bind address resolves to no address".into())
            })?;
        let listener = TcpListener::bind(addr).map_err(io("bind the manager's TCP socket"))?;
        let local = listener
            .local_addr()
            .map_err(io("read the manager's TCP address"))?;
        Self::spawn(
            accept::Listener::Tcp(listener),
            Address::Tcp(local),
            authkey.to_vec(),
            None,
            None,
        )
    }

    /// Start the server on a bound listener: forked, or spawned (see
    /// [`start_with`](Self::start_with)).
    fn spawn(
        listener: accept::Listener,
        address: Address,
        authkey: Vec<u8>,
        dir: Option<PathBuf>,
        method: Option<crate::start::StartMethod>,
    ) -> Result<Manager> {
        use std::os::fd::AsRawFd;
        let (alive_r, alive_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::os("pipe", e))?;
        let child = if crate::start::server_is_spawned(method) {
            let (fd, tcp) = match &listener {
                accept::Listener::Unix(l) => (l.as_raw_fd(), false),
                accept::Listener::Tcp(l) => (l.as_raw_fd(), true),
            };
            let serve = run_spawned_server as crate::start::spawn::Serve;
            let entry = crate::start::spawn::Entry::Manager {
                serve: crate::start::spawn::offset_of(serve as usize),
                listener: fd,
                tcp,
                authkey: authkey.clone(),
                alive: alive_r.as_raw_fd(),
                dir: dir.clone(),
            };
            match crate::start::spawn::spawn_entry(entry, &[fd, alive_r.as_raw_fd()], false) {
                Ok((pid, _)) => pid,
                Err(e) => {
                    if let Some(dir) = &dir {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                    return Err(e);
                }
            }
        } else {
            let owner = crate::orphan::Owner::here();
            let held = lifeline::hold();
            // SAFETY: the child runs the server and ends with `exit_child`
            // (`_exit`); it never returns into the caller. `fork` refuses a
            // multithreaded caller.
            let forked = unsafe { fork() };
            held.release_in_parent(&forked);
            match forked? {
                Fork::Child => {
                    drop(alive_w);
                    client::forget_inherited();
                    accept::run(listener, authkey, alive_r, dir, owner)
                }
                Fork::Parent { child } => child.to_nix(),
            }
        };
        drop(listener);
        drop(alive_r);
        let endpoint = Endpoint::new(address, authkey);
        client::know(&endpoint);
        Ok(Manager {
            owner: Some(Arc::new(Owner {
                creator: std::process::id(),
                server: child,
                dir,
                _alive: alive_w,
                status: Mutex::new(None),
                endpoint: Arc::clone(&endpoint),
            })),
            endpoint,
        })
    }
}
