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
}

impl Arena {
    /// A new arena, for the server's end; its descriptor is to be sent to
    /// the client ([`fd`](Arena::fd)), then closed ([`close_fd`](Arena::close_fd)).
    ///
    /// # Errors
    /// [`Error::Os`] if the shared memory cannot be made or mapped.
    pub(crate) fn create() -> Result<Arena> {
        Ok(Arena {
            region: Region::new(KIND_ARENA, SIZE)?,
            end: End::Server,
        })
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
        Ok(Arena {
            region,
            end: End::Client,
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
