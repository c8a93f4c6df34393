//! Python's `multiprocessing.shared_memory`: named blocks in `/dev/shm`
//! that any process can attach to by name ([`SharedMemory`]), and a typed
//! list stored in one ([`ShareableList`]).
//!
//! ## No block left behind, without a tracker
//! CPython starts a *resource tracker* process that unlinks the blocks a
//! program forgot; a block outlives a program killed by `SIGKILL` if the
//! tracker dies too, and CPython's tracker unlinks a block that another
//! program still uses when its creator exits (a known complaint).
//!
//! forklore uses the kernel's bookkeeping instead. Every process that has
//! a block open holds a *shared* `flock` on it, through its own open file
//! description; the kernel drops it when the last descriptor to that
//! description closes, which happens however the process ends. When a
//! block is created, a tiny *guardian* process (forked twice, so it is
//! nobody's child to reap, in its own session, holding no other
//! descriptor) asks for an *exclusive* `flock` on the block and sleeps in
//! the kernel until it gets it: that is, until every user has closed the
//! block or died. It then unlinks the name, if the name still refers to
//! that block, and exits. So:
//!
//! - a block exists as long as some process has it open (attached, or a
//!   forked child that inherited it), and no longer, even if every one of
//!   them is killed with `SIGKILL`;
//! - a process can attach by name while any user still has it open; an
//!   [`attach`](SharedMemory::attach) that loses the race with the last
//!   user's exit gets a clear "not found";
//! - [`unlink`](SharedMemory::unlink) removes the name at once, as in
//!   CPython; the memory lives until the last user closes it.
//!
//! What it costs: two `fork`s per [`create`](SharedMemory::create) (about
//! half a millisecond) and one sleeping process per live block. Killing the
//! guardian itself leaves the name behind, as killing CPython's tracker does.
//!
//! A named block is a file anyone with permission may truncate; a process
//! that touches its mapping past the new end gets `SIGBUS`, as in CPython.
//! (The unnamed objects of [`synchronize`](crate::synchronize),
//! [`sharedctypes`](crate::sharedctypes) and [`queues`](crate::queues) are
//! sealed `memfd`s, which nobody can shrink.)

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::fork::{fork_helper, Fork};
use crate::sharedctypes::Plain;

/// A named block of shared memory (Python:
/// `multiprocessing.shared_memory.SharedMemory`).
///
/// ```
/// use forklore::shared_memory::SharedMemory;
/// let a = SharedMemory::create(4096).unwrap();
/// a.write(0, b"hello").unwrap();
/// let b = SharedMemory::attach(a.name()).unwrap();
/// let mut buf = [0u8; 5];
/// b.read(0, &mut buf).unwrap();
/// assert_eq!(&buf, b"hello");
/// ```
pub struct SharedMemory {
    name: String,
    ptr: NonNull<u8>,
    size: usize,
    _fd: OwnedFd,
}

// SAFETY: the block is shared memory other processes change anyway; it
// is only read and written by raw-pointer copies.
unsafe impl Send for SharedMemory {}
// SAFETY: as above.
unsafe impl Sync for SharedMemory {}

fn shm_path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

fn check_name(name: &str) -> Result<&str> {
    let name = name.strip_prefix('/').unwrap_or(name);
    if name.is_empty() || name.len() > 250 || name.contains('/') || name.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "shared memory name {name:?}: must be 1 to 250 bytes, without '/' or NUL"
        )));
    }
    Ok(name)
}

fn io(op: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::Io {
        op,
        source: std::io::Error::from_raw_os_error(e as i32),
    }
}

fn flock(fd: &OwnedFd, op: libc::c_int) -> Result<()> {
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = nix::Error::last();
        if e != nix::Error::EINTR {
            return Err(Error::os("flock", e));
        }
    }
}

impl SharedMemory {
    /// Creates a block of `size` bytes under a new random name
    /// (`fl_` and 16 hex digits).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `size` is 0 (Python: `ValueError`);
    /// [`Error::Io`] or [`Error::Os`] if `/dev/shm` refuses.
    pub fn create(size: usize) -> Result<SharedMemory> {
        let mut r = [0u8; 8];
        crate::sys::random_bytes(&mut r)?;
        let name: String = std::iter::once("fl_".to_string())
            .chain(r.iter().map(|b| format!("{b:02x}")))
            .collect();
        SharedMemory::create_named(&name, size)
    }

    /// Creates a block of `size` bytes named `name` (a leading `/` is
    /// ignored).
    ///
    /// # Errors
    /// As [`create`](SharedMemory::create); an [`Error::Io`] whose kind is
    /// `AlreadyExists` if the name is taken (Python: `FileExistsError`).
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory> {
        let name = check_name(name)?;
        if size == 0 {
            return Err(Error::InvalidArgument(
                "'size' must be a positive number different from zero".into(),
            ));
        }
        let len = libc::off_t::try_from(size)
            .map_err(|_| Error::InvalidArgument(format!("size {size} is too large")))?;
        let fd = nix::sys::mman::shm_open(
            format!("/{name}").as_str(),
            nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .map_err(io("shm_open"))?;
        let made = (|| {
            flock(&fd, libc::LOCK_SH)?;
            nix::unistd::ftruncate(&fd, len).map_err(|e| Error::os("ftruncate", e))?;
            start_guardian(&fd, name)
        })();
        if let Err(e) = made {
            let _ = nix::sys::mman::shm_unlink(format!("/{name}").as_str());
            return Err(e);
        }
        SharedMemory::map(name, fd, size)
    }

    /// Attaches to the block named `name`, created by any process.
    ///
    /// # Errors
    /// An [`Error::Io`] whose kind is `NotFound` if there is no such block
    /// (Python: `FileNotFoundError`), also when its last user exited just
    /// now.
    pub fn attach(name: &str) -> Result<SharedMemory> {
        let name = check_name(name)?;
        let fd = nix::sys::mman::shm_open(
            format!("/{name}").as_str(),
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(io("shm_open"))?;
        flock(&fd, libc::LOCK_SH)?;
        let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::os("fstat", e))?;
        if st.st_nlink == 0 {
            // The guardian unlinked it between our open and our lock.
            return Err(io("shm_open")(nix::Error::ENOENT));
        }
        let size = usize::try_from(st.st_size).unwrap_or(0);
        if size == 0 {
            return Err(Error::InvalidArgument(format!(
                "shared memory {name:?} has size 0 (is it still being created?)"
            )));
        }
        SharedMemory::map(name, fd, size)
    }

    fn map(name: &str, fd: OwnedFd, size: usize) -> Result<SharedMemory> {
        // SAFETY: a new shared mapping of `size` bytes of the file, at an
        // address the kernel chooses.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::os("mmap", nix::Error::last()));
        }
        Ok(SharedMemory {
            name: name.to_string(),
            ptr: NonNull::new(p.cast()).expect("mmap returned a non-null pointer"),
            size,
            _fd: fd,
        })
    }

    /// The block's name, without the leading `/`, to pass to
    /// [`attach`](SharedMemory::attach) in another process.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    fn range(&self, offset: usize, len: usize) -> Result<*mut u8> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => {
                // SAFETY: offset + len <= size: inside the mapping.
                Ok(unsafe { self.ptr.as_ptr().add(offset) })
            }
            _ => Err(Error::IndexOutOfRange {
                index: i64::try_from(offset.saturating_add(len)).unwrap_or(i64::MAX),
                len: self.size,
            }),
        }
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] if the range passes the end of the block.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        let p = self.range(offset, buf.len())?;
        // SAFETY: the range is inside the mapping; buf is ours.
        unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` into the block at `offset`.
    ///
    /// # Errors
    /// As [`read`](SharedMemory::read).
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        let p = self.range(offset, data.len())?;
        // SAFETY: as in read.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    /// The start of the mapping, for code that needs the memory itself
    /// (Python: `shm.buf`). Using it is `unsafe`: other processes may
    /// change the bytes at any time, so never make a `&[u8]` of it.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Removes the name now (Python: `unlink()`); processes that have the
    /// block keep it until they close it.
    ///
    /// # Errors
    /// An [`Error::Io`] whose kind is `NotFound` if the name is gone already.
    pub fn unlink(&self) -> Result<()> {
        nix::sys::mman::shm_unlink(format!("/{}", self.name).as_str()).map_err(io("shm_unlink"))
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly our mapping; no reference into it exists.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.size);
        }
        // Closing the descriptor drops our shared lock.
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedMemory({:?}, size={})", self.name, self.size)
    }
}

/// How a block travels: by name, and within a start (an argument of
/// [`Process::from_fn`](crate::Process::from_fn)) also as its descriptor,
/// so that the block cannot vanish between the start and the child's
/// attach (the descriptor shares the parent's open file description, and
/// with it the parent's shared `flock`).
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    name: String,
    fd: Option<(u32, u32)>,
}

impl SharedMemory {
    /// A block received as the descriptor `fd`, named `name`.
    fn from_received(name: &str, fd: OwnedFd) -> Result<SharedMemory> {
        let name = check_name(name)?;
        let st = nix::sys::stat::fstat(&fd).map_err(|e| Error::os("fstat", e))?;
        let size = usize::try_from(st.st_size).unwrap_or(0);
        if size == 0 {
            return Err(Error::InvalidArgument(format!(
                "shared memory {name:?} has size 0"
            )));
        }
        SharedMemory::map(name, fd, size)
    }
}

/// By name (Python pickles a `SharedMemory` as its name); inside a start,
/// with its descriptor too.
impl serde::Serialize for SharedMemory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        use std::os::fd::AsFd;
        let fd = if crate::synchronize::encoding_open() {
            Some(
                crate::synchronize::push_fds(vec![self._fd.as_fd()], "SharedMemory")
                    .map_err(S::Error::custom)?,
            )
        } else {
            None
        };
        Wire {
            name: self.name.clone(),
            fd,
        }
        .serialize(s)
    }
}

/// Maps the descriptor that came with a start, else attaches by name.
impl<'de> serde::Deserialize<'de> for SharedMemory {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let w = Wire::deserialize(d)?;
        let shm = match w.fd {
            Some((first, count)) => {
                let mut fds = crate::synchronize::take_fds(first, count, "SharedMemory")
                    .map_err(D::Error::custom)?;
                match (fds.pop(), fds.is_empty()) {
                    (Some(fd), true) => SharedMemory::from_received(&w.name, fd),
                    _ => Err(Error::InvalidArgument(format!(
                        "a SharedMemory travels as 1 descriptor, got {count}"
                    ))),
                }
            }
            None => SharedMemory::attach(&w.name),
        };
        shm.map_err(|e| {
            D::Error::custom(crate::synchronize::note(format!(
                "cannot open the SharedMemory {:?}: {e}",
                w.name
            )))
        })
    }
}

/// As its [`SharedMemory`].
impl<T: Plain> serde::Serialize for ShareableList<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

/// As its [`SharedMemory`], then checked as [`ShareableList::attach`] does.
impl<'de, T: Plain> serde::Deserialize<'de> for ShareableList<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let shm = SharedMemory::deserialize(d)?;
        ShareableList::from_shm(shm)
            .map_err(|e| D::Error::custom(crate::synchronize::note(e.to_string())))
    }
}

/// Forks the guardian of the block open on `fd` (see the module docs).
fn start_guardian(fd: &OwnedFd, name: &str) -> Result<()> {
    let path = CString::new(shm_path(name)).expect("checked name has no NUL");
    // The guardian's own open file description: a lock through the
    // creator's would be the creator's lock.
    let own = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    // SAFETY: a path we just built; the result is checked.
    let raw = unsafe { libc::open(own.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(Error::os("open", nix::Error::last()));
    }
    // SAFETY: a new descriptor nothing else owns.
    let gfd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the child runs only async-signal-safe calls and `_exit`s
    // (guardian_child); nothing is allocated after the fork.
    match unsafe { fork_helper()? } {
        Fork::Child => {
            // SAFETY: see above; only async-signal-safe calls.
            unsafe {
                match libc::fork() {
                    0 => guardian_child(gfd.as_raw_fd(), &path),
                    -1 => libc::_exit(1),
                    _ => libc::_exit(0),
                }
            }
        }
        Fork::Parent { child } => {
            drop(gfd);
            // The middle process exits at once; reap it. ECHILD: someone
            // else's waitpid(-1) reaped it first, which is just as good.
            match nix::sys::wait::waitpid(child.to_nix(), None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) | Err(nix::Error::ECHILD) => Ok(()),
                // The second fork failed: no guardian, so no block.
                Ok(_) => Err(Error::os("fork", nix::Error::EAGAIN)),
                Err(e) => Err(Error::os("waitpid", e)),
            }
        }
    }
}

/// The guardian: waits for every user to let go, unlinks, exits.
///
/// # Safety
/// Called in a forked child; uses only async-signal-safe calls.
unsafe fn guardian_child(fd: libc::c_int, path: &CString) -> ! {
    // SAFETY: all calls below are async-signal-safe system calls on
    // descriptors and a path prepared before the fork.
    unsafe {
        libc::setsid();
        // Hold no descriptor but the block's: an inherited pipe end would
        // keep someone else's reader from seeing end of file.
        if libc::syscall(libc::SYS_close_range, (fd + 1) as u32, u32::MAX, 0u32) == 0 {
            if fd > 0 {
                libc::syscall(libc::SYS_close_range, 0u32, (fd - 1) as u32, 0u32);
            }
        } else {
            // Before Linux 5.9: one by one.
            for other in (0..65536).filter(|&o| o != fd) {
                libc::close(other);
            }
        }
        while libc::flock(fd, libc::LOCK_EX) != 0 {
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(1);
            }
        }
        let mut mine: libc::stat = std::mem::zeroed();
        let mut named: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut mine) == 0
            && libc::stat(path.as_ptr(), &mut named) == 0
            && mine.st_dev == named.st_dev
            && mine.st_ino == named.st_ino
        {
            libc::unlink(path.as_ptr());
        }
        libc::_exit(0)
    }
}

const LIST_MAGIC: u32 = 0x464b_534c; // "FKSL"
const LIST_DATA: usize = 16;

/// A fixed-length list of one [`Plain`] type in a named [`SharedMemory`]
/// block (Python: `multiprocessing.shared_memory.ShareableList`).
///
/// CPython's list mixes `int`, `float`, `bool`, `str`, `bytes` and `None`
/// in one block; this one holds a single plain type, so that every element
/// has a fixed size and a process attaching with the wrong type is told so
/// (the block records the type).
///
/// ```
/// use forklore::shared_memory::ShareableList;
/// let a = ShareableList::create(&[1i64, 2, 3]).unwrap();
/// let b = ShareableList::<i64>::attach(a.shm().name()).unwrap();
/// b.set(0, 10).unwrap();
/// assert_eq!(a.to_vec(), [10, 2, 3]);
/// assert!(ShareableList::<f64>::attach(a.shm().name()).is_err());
/// ```
pub struct ShareableList<T: Plain> {
    shm: SharedMemory,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Plain> ShareableList<T> {
    /// A new block under a random name holding a copy of `items`.
    ///
    /// # Errors
    /// As [`SharedMemory::create`].
    pub fn create(items: &[T]) -> Result<ShareableList<T>> {
        let bytes = items
            .len()
            .checked_mul(T::SIZE)
            .and_then(|b| b.checked_add(LIST_DATA))
            .ok_or_else(|| Error::InvalidArgument("list too large".into()))?;
        let shm = SharedMemory::create(bytes)?;
        shm.write(4, &T::CODE.to_ne_bytes())?;
        shm.write(8, &(items.len() as u64).to_ne_bytes())?;
        shm.write(0, &LIST_MAGIC.to_ne_bytes())?;
        let list = ShareableList {
            shm,
            len: items.len(),
            _t: std::marker::PhantomData,
        };
        for (i, &x) in items.iter().enumerate() {
            list.set(i, x)?;
        }
        Ok(list)
    }

    /// Attaches to the list in the block named `name`.
    ///
    /// # Errors
    /// As [`SharedMemory::attach`]; [`Error::InvalidArgument`] if the block
    /// does not hold a list of `T` (or its length does not fit its size).
    pub fn attach(name: &str) -> Result<ShareableList<T>> {
        ShareableList::from_shm(SharedMemory::attach(name)?)
    }

    fn from_shm(shm: SharedMemory) -> Result<ShareableList<T>> {
        let name = shm.name().to_string();
        let mut head = [0u8; LIST_DATA];
        if shm.size() < LIST_DATA {
            return Err(Error::InvalidArgument(format!(
                "{name:?} holds no ShareableList"
            )));
        }
        shm.read(0, &mut head)?;
        let word = |i: usize| u32::from_ne_bytes(head[i..i + 4].try_into().unwrap());
        let len = u64::from_ne_bytes(head[8..16].try_into().unwrap());
        if word(0) != LIST_MAGIC || word(4) != T::CODE {
            return Err(Error::InvalidArgument(format!(
                "{name:?} does not hold a ShareableList of {}",
                std::any::type_name::<T>()
            )));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|l| {
                l.checked_mul(T::SIZE)
                    .and_then(|b| b.checked_add(LIST_DATA))
                    .is_some_and(|end| end <= shm.size())
            })
            .ok_or_else(|| Error::InvalidArgument(format!("{name:?}: length does not fit")))?;
        Ok(ShareableList {
            shm,
            len,
            _t: std::marker::PhantomData,
        })
    }

    /// The block holding the list.
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the list has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, i: usize) -> Result<*mut u8> {
        if i >= self.len {
            return Err(Error::IndexOutOfRange {
                index: i64::try_from(i).unwrap_or(i64::MAX),
                len: self.len,
            });
        }
        self.shm.range(LIST_DATA + i * T::SIZE, T::SIZE)
    }

    /// Element `i`.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] if `i >= len`.
    pub fn get(&self, i: usize) -> Result<T> {
        let p = self.at(i)?;
        // SAFETY: inside the mapping, aligned (page-aligned base, offset
        // 16 + i * SIZE, SIZE a multiple of T's alignment).
        Ok(unsafe { T::load(p) })
    }

    /// Sets element `i`.
    ///
    /// # Errors
    /// As [`get`](ShareableList::get).
    pub fn set(&self, i: usize, value: T) -> Result<()> {
        let p = self.at(i)?;
        // SAFETY: as in get.
        unsafe { T::store(p, value) };
        Ok(())
    }

    /// A copy of every element.
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len).filter_map(|i| self.get(i).ok()).collect()
    }
}

impl<T: Plain> fmt::Debug for ShareableList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ShareableList({:?}, name={:?})",
            self.to_vec(),
            self.shm.name()
        )
    }
}
