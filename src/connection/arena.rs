//! Shared memory beside a manager connection: two lanes, one each way,
//! that carry the bulk part of a large frame instead of the socket.
//!
//! Through a socket, 16 MiB are copied twice (into the kernel's buffers,
//! then out of them), a few MiB at a time, with a wake-up of the reader
//! for each refill. Through a lane they are copied once into shared
//! memory by the sender and once out of it by the receiver, each a plain
//! `memcpy`; the frame's header and head still go through the socket, so
//! the receiver waits as it always does and the order of frames is the
//! socket's.
//!
//! The server makes the [`Arena`] (a sealed `memfd`, see
//! [`region`](crate::region)) when a client asks for one (`Request::Arena`,
//! which the proxies send when a connection first moves a bulk value), and
//! sends its descriptor with `SCM_RIGHTS` along with the reply; the client
//! maps it, checking that it is a sealed forklore arena of the right size,
//! so neither side can make the other's mapping shrink under it. Both
//! close the descriptor then: an arena costs no descriptor, only address
//! space, and the pages a lane has carried (the largest frame sent that
//! way, at most [`LANE`] bytes), which stay with the connection until it
//! closes, as a socket reader's heap keeps its largest buffer.
//!
//! A lane has a state word. The sender writes into its lane only if the
//! word says the receiver took the last frame out ([`FREE`]), and sets
//! [`FULL`] before it sends the header; the receiver copies the bytes into
//! its own buffer and sets [`FREE`]. A lane that is not free (a peer that
//! did not take its last frame) is simply not used: the frame goes through
//! the socket. A peer that writes into a lane out of turn can only change
//! the bytes of its own frames: the receiver copies them once into private
//! memory, and only then reads them.

use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::region::Region;

/// The region kind of an arena (see [`Region::new`]).
const KIND_ARENA: u32 = 30;
/// Bytes of one lane: the largest bulk part a frame may carry through
/// shared memory. A larger one goes through the socket.
pub(crate) const LANE: usize = 32 << 20;
/// A frame's bulk part of at least this many bytes goes through a lane
/// (below it, the socket's buffers take it in one step).
pub(crate) const LANE_MIN: usize = 64 << 10;
/// Where the state words are: the client's lane's, then the server's, each
/// on its own cache line after the region's header.
const STATE: [usize; 2] = [crate::region::BODY, crate::region::BODY + 64];
/// A word the client sets to 1 once it has mapped the arena: until then
/// the server sends nothing through its lane (a client that could not map
/// it, or never received its descriptor, reads every frame from the socket).
const MAPPED: usize = crate::region::BODY + 128;
/// Where the lanes start: the client's, then the server's.
const LANES: [usize; 2] = [4096, 4096 + LANE];
/// The whole region.
const SIZE: usize = 4096 + 2 * LANE;
/// A lane's state: the receiver took the last frame (or none was sent).
const FREE: u32 = 0;
/// A lane's state: a frame's bytes are in it, for the receiver.
const FULL: u32 = 1;

/// Which end of the connection holds the arena: it writes into its own
/// lane and reads from the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The end that asked for the arena (writes lane 0).
    Client = 0,
    /// The end that made it (writes lane 1).
    Server = 1,
}

/// The two lanes of one connection, mapped in this process.
#[derive(Debug)]
pub(crate) struct Arena {
    region: Region,
    end: End,
    /// The process that made or mapped it: a forked child's copy of the
    /// mapping is the parent's arena, whose pages are not the child's to
    /// free.
    pid: u32,
}

/// The server ends' arenas (the process that made each, and its lanes'
/// address), so that a server about to exit can free their pages
/// ([`free_served_lanes`]). A forked child inherits the list with the
/// mappings; it frees only its own.
static SERVED: std::sync::Mutex<Vec<(u32, usize)>> = std::sync::Mutex::new(Vec::new());

/// Give back the pages of both lanes of the arena mapped at `lanes`
/// (`MADV_REMOVE`: the kernel frees them in every process that maps them,
/// which then reads zeros there).
fn free_lanes(lanes: usize) {
    // SAFETY: `lanes` is the page-aligned start of two lanes inside a live
    // mapping of a memfd (the callers hold the registry's lock, which an
    // arena leaves only in its `Drop`, before its mapping goes); MADV_REMOVE
    // changes what the memory holds, never whether it may be accessed, and
    // no Rust reference covers the lanes.
    unsafe {
        libc::madvise(lanes as *mut libc::c_void, 2 * LANE, libc::MADV_REMOVE);
    }
}

/// Free the pages of every server end's arena in this process: for a
/// manager's server that is about to exit. Its clients' connections are
/// dead from then on, but a client thread that never calls again would
/// otherwise keep its connection's pages (up to 64 MiB) for as long as it
/// lives.
pub(crate) fn free_served_lanes() {
    let me = crate::sys::pid();
    let served = SERVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for &(_, lanes) in served.iter().filter(|(pid, _)| *pid == me) {
        free_lanes(lanes);
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if self.end == End::Server && self.pid == crate::sys::pid() {
            // The connection is over: its pages go now, even if the client
            // still maps them (a thread that will not call again).
            let lanes = self.region.ptr(LANES[0], 2 * LANE) as usize;
            let mut served = SERVED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            served.retain(|&entry| entry != (self.pid, lanes));
            free_lanes(lanes);
        }
    }
}

impl Arena {
    /// A new arena, for the server's end; its descriptor is to be sent to
    /// the client ([`fd`](Arena::fd)), then closed ([`close_fd`](Arena::close_fd)).
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be made or mapped.
    pub(crate) fn create() -> Result<Arena> {
        let arena = Arena {
            region: Region::new(KIND_ARENA, SIZE)?,
            end: End::Server,
            pid: crate::sys::pid(),
        };
        let lanes = arena.region.ptr(LANES[0], 2 * LANE) as usize;
        SERVED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((arena.pid, lanes));
        Ok(arena)
    }

    /// Map the arena a server sent, for the client's end, and close its
    /// descriptor.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `fd` is not a sealed forklore arena of
    /// this size; [`Error::Os`] if it cannot be mapped.
    pub(crate) fn adopt(fd: OwnedFd) -> Result<Arena> {
        let mut region = Region::from_fd(fd, KIND_ARENA, SIZE)?;
        if region.len() != SIZE {
            return Err(Error::InvalidArgument(format!(
                "an arena of {} bytes where {SIZE} were expected",
                region.len()
            )));
        }
        region.close_fd();
        // The server may send through its lane from now on.
        region.u32_at(MAPPED).store(1, Ordering::Release);
        Ok(Arena {
            region,
            end: End::Client,
            pid: crate::sys::pid(),
        })
    }

    /// The `memfd`, to send to the client.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.region.fd()
    }

    /// Close the descriptor once it has been sent: the mapping stays.
    pub(crate) fn close_fd(&mut self) {
        self.region.close_fd();
    }

    fn state(&self, end: End) -> &AtomicU32 {
        self.region.u32_at(STATE[end as usize])
    }

    fn other(&self) -> End {
        match self.end {
            End::Client => End::Server,
            End::Server => End::Client,
        }
    }

    /// Put `bytes` into this end's lane for the next frame, if they fit
    /// and the peer took the last frame out; `false` (nothing written)
    /// otherwise.
    pub(crate) fn put(&self, bytes: &[u8]) -> bool {
        let state = self.state(self.end);
        if bytes.len() > LANE || state.load(Ordering::Acquire) != FREE {
            return false;
        }
        if self.end == End::Server && self.region.u32_at(MAPPED).load(Ordering::Acquire) != 1 {
            return false;
        }
        let to = self.region.ptr(LANES[self.end as usize], bytes.len());
        // SAFETY: `to` is `bytes.len()` bytes inside the mapping (checked by
        // `ptr`), which no Rust reference covers, and cannot overlap
        // `bytes` (this process's own memory, not the lane).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), to, bytes.len()) };
        state.store(FULL, Ordering::Release);
        true
    }

    /// Copy the `out.len()` bytes of the frame the peer put into its lane
    /// into `out`, and give the lane back. Every byte of `out` is then
    /// initialized.
    ///
    /// # Errors
    /// [`Error::Decode`] if the frame says it carries more than a lane.
    pub(crate) fn take(&self, out: &mut [MaybeUninit<u8>]) -> Result<()> {
        let peer = self.other();
        if out.len() > LANE {
            return Err(lane_overflow(out.len()));
        }
        let from = self.region.ptr(LANES[peer as usize], out.len());
        // The peer's writes into the lane happened before it sent the
        // frame's header, which this process has read since.
        self.state(peer).load(Ordering::Acquire);
        // SAFETY: `from` is `out.len()` bytes inside the mapping (checked by
        // `ptr`); `out` is this process's memory, borrowed mutably, so the
        // two do not overlap. The lane's bytes are copied through raw
        // pointers only: a peer that wrote during the copy changes which
        // bytes arrive, nothing else.
        unsafe { std::ptr::copy_nonoverlapping(from, out.as_mut_ptr().cast(), out.len()) };
        self.state(peer).store(FREE, Ordering::Release);
        Ok(())
    }

    /// Give the peer's lane back without reading it (a frame refused for
    /// its size).
    pub(crate) fn discard(&self) {
        self.state(self.other()).store(FREE, Ordering::Release);
    }
}

/// The error for a frame that says it carries `n` bytes in a lane.
pub(crate) fn lane_overflow(n: usize) -> Error {
    Error::Decode(format!(
        "a frame says it carries {n} bytes in shared memory, over the lane's {LANE}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Arena, Arena) {
        let mut server = Arena::create().unwrap();
        let fd = server.fd().try_clone_to_owned().unwrap();
        server.close_fd();
        (Arena::adopt(fd).unwrap(), server)
    }

    fn take(a: &Arena, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        a.take(&mut v.spare_capacity_mut()[..n]).unwrap();
        // SAFETY: `take` initialized the first `n` bytes.
        unsafe { v.set_len(n) };
        v
    }

    #[test]
    fn each_end_writes_its_own_lane_and_a_lane_is_reused_only_once_taken() {
        let (client, server) = pair();
        assert!(client.put(b"request"));
        assert!(server.put(b"reply"));
        // Not taken yet: the next frame must go by the socket.
        assert!(!client.put(b"again"));
        assert_eq!(take(&server, 7), b"request");
        assert_eq!(take(&client, 5), b"reply");
        assert!(client.put(b"again"));
        assert_eq!(take(&server, 5), b"again");
        // A refused frame's lane is given back unread.
        assert!(server.put(b"refused"));
        client.discard();
        assert!(server.put(b"next"));
    }

    #[test]
    fn the_server_sends_through_its_lane_only_once_the_client_mapped_it() {
        let mut server = Arena::create().unwrap();
        let fd = server.fd().try_clone_to_owned().unwrap();
        server.close_fd();
        assert!(!server.put(b"too early"));
        let client = Arena::adopt(fd).unwrap();
        assert!(server.put(b"now"));
        assert_eq!(take(&client, 3), b"now");
    }

    #[test]
    fn a_server_arena_frees_its_pages_when_dropped_or_when_its_server_exits() {
        let (client, server) = pair();
        assert!(server.put(&[7u8; 8192]));
        free_served_lanes();
        // The client's mapping reads zeros where the pages were.
        assert_eq!(take(&client, 8192), vec![0u8; 8192]);
        assert!(server.put(&[9u8; 8192]));
        drop(server);
        assert_eq!(take(&client, 8192), vec![0u8; 8192]);
    }

    #[test]
    fn more_than_a_lane_is_never_written_or_read() {
        let (client, server) = pair();
        assert!(!client.put(&vec![1u8; LANE + 1]));
        let mut out = vec![MaybeUninit::uninit(); LANE + 1];
        assert!(matches!(server.take(&mut out), Err(Error::Decode(_))));
    }

    #[test]
    fn only_a_sealed_arena_of_the_right_size_is_adopted() {
        // Another kind of region, of the arena's size.
        let other = Region::new(KIND_ARENA + 1, SIZE).unwrap();
        let err = Arena::adopt(other.fd().try_clone_to_owned().unwrap()).unwrap_err();
        assert!(err.to_string().contains("kind"), "{err}");
        // An unsealed memfd.
        // SAFETY: a NUL-terminated literal name.
        let raw = unsafe { libc::memfd_create(c"x".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: memfd_create returned a new descriptor.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        nix::unistd::ftruncate(&fd, SIZE as libc::off_t).unwrap();
        let err = Arena::adopt(fd).unwrap_err();
        assert!(err.to_string().contains("sealed"), "{err}");
        // An arena too small to hold both lanes.
        let small = Region::new(KIND_ARENA, SIZE / 2).unwrap();
        assert!(Arena::adopt(small.fd().try_clone_to_owned().unwrap()).is_err());
    }
}
