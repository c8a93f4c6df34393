//! The `spawn` start method: run a `fn` item in a fresh run of this
//! executable, and [`init`], which makes a process so started run it.
//!
//! The parent starts `/proc/self/exe` (the very file it runs from, even if
//! its path was since replaced) with the same arguments and an environment
//! variable `FORKLORE_SPAWN=<parent pid>:<fd>`, where `fd` is the read end
//! of a pipe. It writes a length-prefixed postcard [`Payload`] into the pipe:
//! what to run, as offsets of two functions from [`anchor`] (the trampoline
//! for the argument type, and the user's `fn`), and the serialized
//! arguments. `init`, at the top of the child's `main`, reads it, checks the
//! executable is still the parent's, runs the function, and exits.

use std::io::{Read, Write};
#[cfg(test)]
use std::os::fd::IntoRawFd;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use nix::unistd::Pid;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const ENV: &str = "FORKLORE_SPAWN";

/// The largest payload sent in the environment variable itself (as hex,
/// twice as long; Linux takes up to 128 KiB per variable).
const INLINE_PAYLOAD: usize = 16 * 1024;

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// The largest payload a spawned child accepts (its arguments included).
const MAX_PAYLOAD: usize = 1 << 30;

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// This executable's identity, taken by [`init`] in the main process.
static EXE: OnceLock<Option<ExeId>> = OnceLock::new();

/// What tells two executables apart: the file's device, inode, size and
/// modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExeId {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: i64,
    mtime_nsec: i64,
}

fn exe_id() -> Option<ExeId> {
    let st = nix::sys::stat::stat("/proc/self/exe").ok()?;
    Some(ExeId {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size,
        mtime: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
    })
}

/// The known symbol that functions are located from: a spawned child maps
/// the executable at another address, but at the same offsets.
#[inline(never)]
pub(crate) fn anchor() -> usize {
    anchor as fn() -> usize as usize
}

/// Offset of `addr` (a function of this executable) from [`anchor`].
pub(crate) fn offset_of(addr: usize) -> i64 {
    (addr as i64).wrapping_sub(anchor() as i64)
}

/// The address of the function at `offset` from [`anchor`] in this process.
pub(crate) fn address_of(offset: i64) -> usize {
    (anchor() as i64).wrapping_add(offset) as usize
}

/// A trampoline: decodes the arguments for the `fn` at the first address
/// (the descriptors are the side table of the shared objects among them,
/// see [`crate::synchronize`]'s `travel`) and calls it. `Err` carries a
/// decode error.
pub(crate) type Call = fn(usize, &[u8], Vec<OwnedFd>) -> std::result::Result<(), String>;

/// What a spawned Manager's server runs (see [`Entry::Manager`]): the
/// listener, whether it is TCP, the authkey, the "owner alive" pipe and the
/// Unix socket's directory. It never returns.
pub(crate) type Serve = fn(OwnedFd, bool, Vec<u8>, OwnedFd, Option<PathBuf>) -> !;

/// The trampoline for a `fn(A)`.
pub(crate) fn call_fn<A: DeserializeOwned>(
    func: usize,
    args: &[u8],
    fds: Vec<OwnedFd>,
) -> std::result::Result<(), String> {
    // SAFETY: `func` is the address of a `fn(A)` that the parent took from a
    // real function pointer of exactly this type and sent along with this
    // instantiation of `call_fn` as the trampoline. Either this process is a
    // fork of the parent (same addresses), or a run of the same executable
    // whose identity `init` checked, where the offsets from `anchor` name the
    // same functions. Only `fn` pointers are accepted, never closures.
    let f = unsafe { std::mem::transmute::<usize, fn(A)>(func) };
    // The side table is open while the arguments decode, not while `f` runs.
    let (a, why) = crate::synchronize::decode_with_fds(fds, || postcard::from_bytes::<A>(args));
    let a = a.map_err(|e| why.unwrap_or_else(|| e.to_string()))?;
    f(a);
    Ok(())
}

/// A `fn` item and its serialized arguments, as absolute addresses in this
/// process, with the descriptors of the shared objects among the arguments
/// (duplicates, close-on-exec, owned here until the target is dropped).
#[derive(Debug, Clone)]
pub(crate) struct FnTarget {
    pub call: usize,
    pub func: usize,
    pub args: Vec<u8>,
    /// The managers (address, authkey) of the proxies in `args`: a
    /// spawned child learns them before it reads the arguments, as CPython
    /// gives its authkey to the children it starts (see [`super::keys`]).
    pub managers: Vec<(String, Vec<u8>)>,
    pub fds: Arc<Vec<OwnedFd>>,
}

/// The most descriptors the arguments of one start may carry: what one
/// `SCM_RIGHTS` message takes (the kernel's `SCM_MAX_FD`, 253) less the
/// three of stdio, for `forkserver`.
pub(crate) const MAX_ARG_FDS: usize = 250;

impl FnTarget {
    pub(crate) fn new<A: Serialize + DeserializeOwned + 'static>(
        f: fn(A),
        args: &A,
    ) -> Result<Self> {
        let capture = super::keys::Capture::start();
        let (args, fds, why) = crate::synchronize::encode_with_fds(|| postcard::to_stdvec(args));
        let args = args.map_err(|e| Error::Encode(why.unwrap_or_else(|| e.to_string())))?;
        if fds.len() > MAX_ARG_FDS {
            return Err(Error::Encode(format!(
                "the arguments hold {} descriptors of shared objects; a start carries at most \
                 {MAX_ARG_FDS}",
                fds.len()
            )));
        }
        Ok(FnTarget {
            call: call_fn::<A> as Call as usize,
            func: f as usize,
            args,
            managers: capture.finish(),
            fds: Arc::new(fds),
        })
    }

    /// The descriptors' numbers in this process.
    pub(crate) fn raw_fds(&self) -> Vec<RawFd> {
        self.fds.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Run it here. `Err` is a decode error of the arguments.
    pub(crate) fn run(self) -> std::result::Result<(), String> {
        super::keys::learn(&self.managers);
        let fds = match Arc::try_unwrap(self.fds) {
            Ok(fds) => fds,
            Err(shared) => shared
                .iter()
                .map(|f| f.try_clone())
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| format!("cannot duplicate a shared object's descriptor: {e}"))?,
        };
        // SAFETY: `call` was taken from a real `Call` in this executable,
        // either in this process or (relocated by `address_of`) in the one
        // that sent it; see `call_fn`.
        let call = unsafe { std::mem::transmute::<usize, Call>(self.call) };
        call(self.func, &self.args, fds)
    }

    pub(crate) fn to_wire(&self) -> WireFn {
        WireFn {
            call: offset_of(self.call),
            func: offset_of(self.func),
            args: self.args.clone(),
            managers: self.managers.clone(),
            fds: self.raw_fds(),
        }
    }
}

/// A [`FnTarget`] as offsets, to cross into another run of the executable.
/// `fds` are the sender's numbers of the descriptors: the same numbers in
/// a spawned child, which inherits them; only their count matters to the
/// fork server, which receives them by `SCM_RIGHTS`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireFn {
    call: i64,
    func: i64,
    args: Vec<u8>,
    managers: Vec<(String, Vec<u8>)>,
    pub(crate) fds: Vec<RawFd>,
}

impl WireFn {
    /// With the descriptors received for it, in order.
    pub(crate) fn into_local(self, fds: Vec<OwnedFd>) -> FnTarget {
        FnTarget {
            call: address_of(self.call),
            func: address_of(self.func),
            args: self.args,
            managers: self.managers,
            fds: Arc::new(fds),
        }
    }

    /// In a spawned child: take ownership of the descriptors it inherited
    /// under the numbers in `fds` (refused unless each is above stdio, open,
    /// and listed once), close-on-exec from now on.
    fn into_inherited(self) -> std::result::Result<FnTarget, String> {
        if self.fds.len() > MAX_ARG_FDS {
            return Err(format!("{} descriptors announced", self.fds.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for &fd in &self.fds {
            // SAFETY: F_GETFD only asks whether the number is open.
            let open = fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
            if !open || !seen.insert(fd) {
                return Err(format!(
                    "descriptor {fd} of the arguments was not inherited (or listed twice)"
                ));
            }
        }
        let fds = self
            .fds
            .iter()
            .map(|&fd| {
                set_cloexec(fd);
                // SAFETY: the parent made this descriptor inheritable for
                // us and listed its number once (checked above); it is open
                // and nothing else in this process (still inside `init`)
                // knows of it.
                unsafe { OwnedFd::from_raw_fd(fd) }
            })
            .collect();
        Ok(self.into_local(fds))
    }
}

/// What a spawned process is to do.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Entry {
    /// Run a process's target.
    Target { name: String, target: WireFn },
    /// Be a Manager's server, on an inherited listening socket (`tcp` or
    /// Unix), until `alive` reads end-of-file. `serve` is the offset of the
    /// [`Serve`] function that does it (the managers module's, which this
    /// module does not name: it is a layer above).
    Manager {
        serve: i64,
        listener: RawFd,
        tcp: bool,
        authkey: Vec<u8>,
        alive: RawFd,
        dir: Option<PathBuf>,
    },
    /// Be the fork server, on an inherited listening socket.
    ForkServer {
        listener: RawFd,
        authkey: Vec<u8>,
        dir: PathBuf,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    exe: Option<ExeId>,
    /// Offset of `init` from `anchor`: the same build on both sides.
    check: i64,
    entry: Entry,
}

/// Make a spawned process run what its parent sent it; otherwise, remember
/// that `spawn` and `forkserver` may be used. Call it first thing in `main`.
///
/// In the main process it returns at once (it takes the executable's
/// identity, one `stat`). In a process started by the `spawn` method (or
/// the fork server) it never returns: it runs the target and exits with
/// its status, as a forked child does (0, `1` after a panic with the
/// `Process Process-N:` header). Everything before `init` in `main` runs in
/// every spawned process too, so keep it first.
///
/// A spawned child refuses to run (status 1, a message on stderr) when the
/// executable on disk is no longer the one its parent ran (another device,
/// inode, size or modification time), since functions are located by offset.
pub fn init() {
    INITIALIZED.store(true, Ordering::Relaxed);
    let Some(value) = std::env::var_os(ENV) else {
        let _ = EXE.get_or_init(exe_id);
        return;
    };
    // `<parent pid>:<fd>` (a pipe to read the payload from) or
    // `<parent pid>:x<hex>` (the payload itself).
    let Some((ppid, source)) = value.to_str().and_then(|v| {
        let (p, f) = v.split_once(':')?;
        let source = match f.strip_prefix('x') {
            Some(hex) => Err(from_hex(hex)?),
            None => Ok(f.parse::<RawFd>().ok()?),
        };
        Some((p.parse::<i32>().ok()?, source))
    }) else {
        return;
    };
    // Whatever our parent is now, we were spawned: the spawner may have
    // exited before we got here (we were then handed to init), and running
    // `main` instead of the target would spawn again, and again. The
    // variable is removed, so programs we start do not see it. (The
    // spawner's pid is kept in it for `ps`/debugging only.)
    let _ = ppid;
    std::env::remove_var(ENV);
    let (fd, payload) = match source {
        Ok(fd) => {
            // SAFETY: the parent passed this descriptor to us, open and
            // unshared, under the name in `FORKLORE_SPAWN`; nothing else in
            // this process uses it (init runs first in main).
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            match read_payload(&fd) {
                Ok(p) => (Some(fd), p),
                Err(e) => fail(&format!("cannot read what to run from the parent: {e}")),
            }
        }
        Err(bytes) => match postcard::from_bytes::<Payload>(&bytes) {
            Ok(p) => (None, p),
            Err(e) => fail(&format!("cannot decode what to run: {e}")),
        },
    };
    let here = exe_id();
    if payload.exe.is_none() || payload.exe != here {
        fail(
            "the executable changed on disk since the parent started (device, inode, size or \
             modification time differ); refusing to run a function located by its offset",
        );
    }
    if payload.check != offset_of(init as fn() as usize) {
        fail("the executable is not the parent's build; refusing to run a function by offset");
    }
    match payload.entry {
        Entry::Target { name, target } => {
            drop(fd);
            match target.into_inherited() {
                Ok(target) => super::child::run_fn_child(name, target),
                Err(e) => fail(&format!("cannot take the arguments' descriptors: {e}")),
            }
        }
        Entry::Manager {
            serve,
            listener,
            tcp,
            authkey,
            alive,
            dir,
        } => {
            drop(fd);
            // SAFETY: the parent passed these two descriptors to us (their
            // numbers are in the payload it wrote into our pipe); nothing
            // else here owns them.
            let (listener, alive) =
                unsafe { (OwnedFd::from_raw_fd(listener), OwnedFd::from_raw_fd(alive)) };
            set_cloexec(listener.as_raw_fd());
            set_cloexec(alive.as_raw_fd());
            // SAFETY: `serve` is the offset of a real `Serve` function of
            // the parent's build, which `init` just checked this executable
            // is (same file, same offset of `init`): the same function here.
            let serve = unsafe { std::mem::transmute::<usize, Serve>(address_of(serve)) };
            serve(listener, tcp, authkey, alive, dir)
        }
        Entry::ForkServer {
            listener,
            authkey,
            dir,
        } => {
            // The fork server's payload always comes through its pipe, whose
            // end-of-file tells it that its client is gone.
            let Some(fd) = fd else {
                fail("the fork server needs its payload pipe")
            };
            // SAFETY: the parent passed this listening socket to us (its
            // number is in the payload it wrote into our pipe).
            let listener = unsafe { OwnedFd::from_raw_fd(listener) };
            set_cloexec(listener.as_raw_fd());
            set_cloexec(fd.as_raw_fd());
            super::forkserver::serve(listener, fd, authkey, dir)
        }
    }
}

/// Whether `init` was called in this process.
pub(crate) fn initialized() -> bool {
    INITIALIZED.load(Ordering::Relaxed)
}

fn fail(message: &str) -> ! {
    crate::io::write_stderr(&format!("forklore: spawned process: {message}\n"));
    crate::fork::exit_child(1)
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: F_SETFD on a descriptor number touches no memory of ours.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn read_payload(fd: &OwnedFd) -> std::io::Result<Payload> {
    let mut f = std::fs::File::from(fd.try_clone()?);
    let mut len = [0u8; 8];
    f.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD)
        .ok_or_else(|| std::io::Error::other(format!("payload of {len} bytes refused")))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf)?;
    postcard::from_bytes(&buf).map_err(std::io::Error::other)
}

/// Start this executable anew with `entry` as what it is to do; return its
/// pid and, with `keep_pipe`, the write end of its payload pipe (the fork
/// server reads end-of-file on it when this process is gone). `inherit`
/// lists descriptors the new process must receive (their close-on-exec flag
/// is cleared in it only).
pub(crate) fn spawn_entry(
    entry: Entry,
    inherit: &[RawFd],
    keep_pipe: bool,
) -> Result<(Pid, Option<OwnedFd>)> {
    if !INITIALIZED.load(Ordering::Relaxed) {
        return Err(Error::SpawnNotInitialized);
    }
    let exe = *EXE.get_or_init(exe_id);
    let payload = Payload {
        exe,
        check: offset_of(init as fn() as usize),
        entry,
    };
    let bytes = postcard::to_stdvec(&payload).map_err(|e| Error::Encode(e.to_string()))?;
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new("/proc/self/exe");
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args);
    if inherit.is_empty() && !keep_pipe && bytes.len() <= INLINE_PAYLOAD {
        // Small and needing no descriptor: the payload goes in the
        // variable itself, and with no `pre_exec` std can use
        // `posix_spawn` (a vfork) instead of a fork of this process.
        cmd.env(ENV, format!("{}:x{}", std::process::id(), to_hex(&bytes)));
        let child = cmd.spawn().map_err(|source| Error::Io {
            op: "spawn this executable anew (/proc/self/exe)",
            source,
        })?;
        // Dropping std's handle neither waits nor kills: the caller reaps.
        return Ok((Pid::from_raw(child.id() as i32), None));
    }
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::os("pipe2", e))?;
    cmd.env(ENV, format!("{}:{}", std::process::id(), r.as_raw_fd()));
    let mut fds = inherit.to_vec();
    fds.push(r.as_raw_fd());
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only fcntl, which is async-signal-safe; it allocates nothing (`fds`
    // was built before).
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| Error::Io {
        op: "spawn this executable anew (/proc/self/exe)",
        source,
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    // Dropping std's handle neither waits nor kills: the caller reaps `pid`.
    drop(child);
    drop(r);
    let mut f = std::fs::File::from(w);
    let mut framed = (bytes.len() as u64).to_le_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    // A child that died before reading shows in its exit status; the
    // caller learns it from join.
    let _ = f.write_all(&framed);
    Ok((pid, keep_pipe.then(|| OwnedFd::from(f))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(fds: Vec<RawFd>) -> WireFn {
        WireFn {
            call: 0,
            func: 0,
            args: Vec::new(),
            managers: Vec::new(),
            fds,
        }
    }

    #[test]
    fn a_spawned_child_refuses_stdio_unopened_or_repeated_descriptor_numbers() {
        for bad in [vec![0], vec![2], vec![-1], vec![i32::MAX]] {
            let err = wire(bad.clone()).into_inherited().unwrap_err();
            assert!(err.contains("was not inherited"), "{bad:?}: {err}");
        }
        let f = std::fs::File::open("/dev/null").unwrap();
        let fd = OwnedFd::from(f);
        let raw = fd.as_raw_fd();
        let err = wire(vec![raw, raw]).into_inherited().unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
        let too_many = vec![raw; MAX_ARG_FDS + 1];
        assert!(wire(too_many).into_inherited().is_err());
        // Listed once and open: taken (ownership passes to the target).
        let t = wire(vec![fd.into_raw_fd()]).into_inherited().unwrap();
        assert_eq!(t.raw_fds(), vec![raw]);
    }

    fn takes_events(_: Vec<crate::synchronize::Event>) {}

    #[test]
    fn more_descriptors_than_one_start_carries_is_an_encode_error() {
        let events: Vec<_> = (0..=MAX_ARG_FDS)
            .map(|_| crate::synchronize::Event::new().unwrap())
            .collect();
        match FnTarget::new(takes_events, &events) {
            Err(Error::Encode(e)) => assert!(e.contains("at most 250"), "{e}"),
            other => panic!("{other:?}"),
        }
        let fits = FnTarget::new(takes_events, &events[..MAX_ARG_FDS].to_vec()).unwrap();
        assert_eq!(fits.fds.len(), MAX_ARG_FDS);
    }
}
