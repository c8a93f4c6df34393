//! `multiprocessing.connection`: typed messages between processes.
//!
//! A [`Connection`] is one end of a byte stream (a Unix socket, or TCP for
//! remote managers) that carries whole messages. [`pipe`] makes a connected
//! pair over a `socketpair(2)`, as Python's `multiprocessing.Pipe()` does; fork
//! a child and each side keeps one end.
//!
//! # The wire
//! Each message is a frame: a 4-byte big-endian signed length, then that many
//! bytes of payload. A payload longer than `i32::MAX` is announced by a length
//! of `-1` followed by an 8-byte big-endian length, exactly as in CPython.
//! Typed messages ([`Connection::send`], [`Connection::recv`]) encode their
//! payload with [postcard](https://docs.rs/postcard), a compact serde codec
//! (the one ipc-channel and procspawn use), where CPython uses pickle.
//!
//! Every frame is written with a single `write` (header and payload in one
//! buffer), and reads go through a buffer, so a small message costs one system
//! call each way. The manager's bulk replies and requests are written with
//! one vectored `writev` instead (header, a few bytes of head, and the bulk
//! bytes where they lie), and read straight into their final buffer, or
//! cross through shared memory (below).
//!
//! # Shared memory for bulk frames
//! A manager's connection over a Unix socket can have an *arena* beside
//! it: a sealed `memfd` of two 32 MiB lanes, one each way, that the server
//! makes and sends with `SCM_RIGHTS` when the client asks
//! (`Request::Arena`, which the manager's proxies send when a connection
//! first moves a value of 64 KiB or more). From then on a frame whose
//! last part (a bulk value) is 64 KiB to 32 MiB is sent with that part in
//! the sender's lane: the socket carries a header of a length of `-2`, the
//! payload's length and the lane part's length (big-endian `u64`s), then
//! the rest of the payload. The value is copied once into shared memory
//! and once out of it, where a socket copies it into the kernel and out
//! again a few MiB at a time, waking the reader for each refill. In the
//! `versus` benchmark a manager's 16 MiB `d[k]` took 0.58 to 0.86 times
//! as long as the same bytes written through a socket pair in the same
//! run (2026-12-01, bar slow spells of the floor). A lane is reused only once the
//! receiver has taken its last frame out (a state word says so);
//! otherwise, and for larger values, TCP connections and [`pipe`]s, the
//! socket carries everything. Both sides check what they map (a sealed
//! forklore arena of the right size), so neither can shrink it under the
//! other, and bytes are copied out of a lane once, into private memory,
//! before anything reads them.
//!
//! The cost is memory: a connection keeps the pages its lanes have
//! carried (the largest value sent each way, up to 32 MiB) until it
//! closes, or until its server stops, which frees the pages of every
//! arena it made (`MADV_REMOVE`) before it exits. A manager's proxies keep
//! one connection per thread, for as long as the thread lives. The pages
//! are shared memory, counted in the `RssShmem` of both processes and
//! stored once. The server sends through its lane only once the client
//! has mapped the arena: a client that cannot (its address space full, its
//! descriptor limit reached) goes on through the socket.
//!
//! # Errors on receipt
//! They are distinct, so a caller can tell a peer that left from a peer that
//! misbehaved:
//! - [`Error::Closed`]: end of file before a frame began (the peer closed cleanly);
//! - [`Error::Truncated`]: end of file inside a frame;
//! - [`Error::FrameTooLarge`]: a length above the receiver's limit
//!   ([`DEFAULT_MAX_MESSAGE_SIZE`] unless changed with
//!   [`Connection::set_max_message_size`]), refused before anything is allocated;
//! - [`Error::Decode`]: a whole frame whose payload is not a valid encoding of
//!   the expected type. Decoding never panics.
//!
//! ```
//! let (mut a, mut b) = forklore::connection::pipe().unwrap();
//! a.send(&("hello", 42u32)).unwrap();
//! let got: (String, u32) = b.recv().unwrap();
//! assert_eq!(got, ("hello".to_string(), 42));
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// The largest frame a new [`Connection`] accepts: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Size of the read buffer; frames up to this size are read without an
/// extra allocation.
const READ_BUF: usize = 64 * 1024;

/// The byte stream under a [`Connection`].
#[derive(Debug)]
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.write_all(buf),
            Stream::Tcp(s) => s.write_all(buf),
        }
    }

    /// Write every byte of `parts`, in order, with as few `writev`s as the
    /// socket allows (no part is copied into another buffer).
    fn write_all_vectored(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let mut slices: Vec<io::IoSlice<'_>> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| io::IoSlice::new(p))
            .collect();
        let mut bufs = &mut slices[..];
        while !bufs.is_empty() {
            let n = match self {
                Stream::Unix(s) => s.write_vectored(bufs),
                Stream::Tcp(s) => s.write_vectored(bufs),
            };
            match n {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Read exactly `out.len()` bytes into `out`, which need not be
    /// initialized (so a large buffer is not zeroed first); `Ok(n)` with
    /// `n` short of it at end of file. The first `n` bytes of `out` are
    /// then initialized.
    fn read_into(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = self.fd().as_raw_fd();
        let mut got = 0;
        while got < out.len() {
            let rest = &mut out[got..];
            // SAFETY: `rest` is writable memory of `rest.len()` bytes that
            // we borrow mutably; `read(2)` writes at most that many bytes
            // into it (whether initialized before does not matter to the
            // kernel) and returns how many, or -1.
            let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
            match n {
                0 => break,
                n if n > 0 => got += n as usize,
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
        Ok(got)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }
}

/// One end of a message channel (Python: `multiprocessing.connection.Connection`).
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    max: usize,
    /// Shared memory beside the socket, for a manager connection's bulk
    /// frames (see [`arena`]).
    arena: Option<arena::Arena>,
    /// Whether reads take descriptors sent with `SCM_RIGHTS` (while a
    /// manager client waits for its arena), and the one taken.
    want_fd: bool,
    fd_in: Option<std::os::fd::OwnedFd>,
    /// Whether a frame of [`LANE_MIN`] bytes or more crossed this
    /// connection, and whether the client asked for an arena.
    bulk_seen: bool,
    arena_asked: bool,
}

/// Two connected ends over a Unix `socketpair` (Python: `multiprocessing.Pipe()`).
///
/// Both ends can send and receive. The sockets are close-on-exec, so a
/// program started with `exec` does not inherit them.
///
/// # Errors
/// [`Error::Io`] if the kernel cannot create the socket pair.
pub fn pipe() -> Result<(Connection, Connection)> {
    let (a, b) = UnixStream::pair().map_err(|e| Error::Io {
        op: "socketpair",
        source: e,
    })?;
    Ok((Connection::from(a), Connection::from(b)))
}

impl From<UnixStream> for Connection {
    fn from(s: UnixStream) -> Self {
        Connection::new(Stream::Unix(s))
    }
}

impl From<TcpStream> for Connection {
    fn from(s: TcpStream) -> Self {
        // Frames are written whole; do not let Nagle hold the last one back.
        let _ = s.set_nodelay(true);
        Connection::new(Stream::Tcp(s))
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.fd()
    }
}

fn io_err(op: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { op, source }
}

impl Connection {
    fn new(stream: Stream) -> Self {
        Connection {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            max: DEFAULT_MAX_MESSAGE_SIZE,
            arena: None,
            want_fd: false,
            fd_in: None,
            bulk_seen: false,
            arena_asked: false,
        }
    }

    /// Change the largest frame this end accepts. A longer frame fails with
    /// [`Error::FrameTooLarge`] before anything is allocated for it.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max = max;
    }

    /// The largest frame this end accepts.
    pub fn max_message_size(&self) -> usize {
        self.max
    }

    /// Send one value (Python: `conn.send(obj)`).
    ///
    /// # Errors
    /// [`Error::Encode`] if serde cannot encode the value; [`Error::Io`] if
    /// the write fails (for example `EPIPE` after the peer has gone).
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        // Four placeholder bytes for the header, then the payload.
        let mut frame =
            postcard::to_extend(value, vec![0u8; 4]).map_err(|e| Error::Encode(e.to_string()))?;
        self.write_frame(&mut frame)
    }

    /// Send raw bytes as one message (Python: `conn.send_bytes(buf)`).
    ///
    /// # Errors
    /// [`Error::Io`] if the write fails.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let mut frame = Vec::with_capacity(4 + bytes.len());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(bytes);
        self.write_frame(&mut frame)
    }

    /// Send a frame made by [`encode_frame`]: four placeholder bytes, then
    /// the payload (for a caller that checks the size before sending).
    ///
    /// # Errors
    /// [`Error::Io`] if the write fails.
    pub(crate) fn send_frame(&mut self, mut frame: Vec<u8>) -> Result<()> {
        self.write_frame(&mut frame)
    }

    /// As [`send_frame`](Self::send_frame), keeping the frame (to send it
    /// again on another connection).
    ///
    /// # Errors
    /// [`Error::Io`] if the write fails.
    pub(crate) fn send_frame_again(&mut self, frame: &mut Vec<u8>) -> Result<()> {
        self.write_frame(frame)
    }

    /// `frame` holds four placeholder bytes, then the payload: fill in the
    /// header (or widen it for payloads over `i32::MAX`) and write it in one go.
    fn write_frame(&mut self, frame: &mut Vec<u8>) -> Result<()> {
        let len = frame.len() - 4;
        if len <= i32::MAX as usize {
            frame[..4].copy_from_slice(&(len as i32).to_be_bytes());
        } else {
            let mut header = (-1i32).to_be_bytes().to_vec();
            header.extend_from_slice(&(len as u64).to_be_bytes());
            frame.splice(..4, header);
        }
        let r = self.stream.write_all(frame).map_err(io_err("send"));
        if len > i32::MAX as usize {
            // Back to four placeholder bytes, for a frame sent again.
            frame.splice(..12, [0u8; 4]);
        }
        r
    }

    /// Receive one value (Python: `conn.recv()`), blocking until it arrives.
    ///
    /// # Errors
    /// [`Error::Closed`], [`Error::Truncated`], [`Error::FrameTooLarge`],
    /// [`Error::Decode`] as described in the [module docs](self), and
    /// [`Error::Io`] for other read failures.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let payload = self.recv_bytes()?;
        decode_payload(&payload)
    }

    /// Wait up to `timeout` for a message, then receive it.
    ///
    /// # Errors
    /// [`Error::Timeout`] if none began to arrive in time; otherwise as
    /// [`recv`](Self::recv).
    pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
        if !self.poll(timeout)? {
            return Err(Error::Timeout {
                op: "recv",
                after: timeout,
            });
        }
        self.recv()
    }

    /// Receive one message's raw bytes (Python: `conn.recv_bytes()`).
    ///
    /// # Errors
    /// As [`recv`](Self::recv), except that there is nothing to decode.
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        self.begin_recv()?.into_vec()
    }

    /// Read the next frame's header (leaving it in the buffer): its size,
    /// the payload's length, and how many of the payload's last bytes are
    /// in the peer's lane of the arena rather than in the socket (0 but
    /// for an arena frame, see [`arena`]). [`Error::Closed`] at a clean end
    /// of file.
    fn read_header(&mut self) -> Result<(usize, usize, usize)> {
        if !self.fill(4, 0)? {
            return Err(Error::Closed);
        }
        let short = i32::from_be_bytes(self.buf[self.start..self.start + 4].try_into().unwrap());
        let word = |c: &Self, at: usize| {
            let b = &c.buf[c.start + at..c.start + at + 8];
            usize::try_from(u64::from_be_bytes(b.try_into().unwrap())).unwrap_or(usize::MAX)
        };
        match short {
            -1 => {
                self.fill(12, 12)?;
                Ok((12, word(self, 4), 0))
            }
            ARENA_FRAME if self.arena.is_some() => {
                self.fill(ARENA_HEADER, ARENA_HEADER)?;
                let (len, tail) = (word(self, 4), word(self, 12));
                if tail > arena::LANE {
                    return Err(arena::lane_overflow(tail));
                }
                if tail > len {
                    return Err(Error::Decode(format!(
                        "a frame of {len} bytes says {tail} of them are in shared memory"
                    )));
                }
                Ok((ARENA_HEADER, len, tail))
            }
            0.. => Ok((4, short as usize, 0)),
            _ => Err(Error::Decode(format!("invalid frame length {short}"))),
        }
    }

    /// Start receiving a frame: read its header, refuse it if it is over
    /// the limit ([`Error::FrameTooLarge`], nothing allocated), and hand
    /// back the frame, whose payload can then be read whole
    /// ([`Incoming::into_vec`]) or looked at first and read into a buffer
    /// of the caller's ([`Incoming::peek`], [`Incoming::finish_into`]).
    ///
    /// # Errors
    /// As [`recv_bytes`](Self::recv_bytes).
    pub(crate) fn begin_recv(&mut self) -> Result<Incoming<'_>> {
        let (header, len, tail) = self.read_header()?;
        if len > self.max {
            return Err(Error::FrameTooLarge { len, max: self.max });
        }
        self.start += header;
        self.bulk_seen |= len >= arena::LANE_MIN;
        Ok(Incoming {
            conn: self,
            header,
            len,
            tail,
        })
    }

    /// After [`Error::FrameTooLarge`] from a receive: read and discard that
    /// frame, if it is at most `most` bytes long, so that the stream stays
    /// in step and the next receive reads the next frame. Nothing is
    /// allocated for it. (The manager's server uses this to refuse an
    /// oversized request without closing the connection.)
    ///
    /// # Errors
    /// [`Error::FrameTooLarge`] for a frame over `most` (nothing skipped);
    /// [`Error::Decode`] for a header that is no length; [`Error::Closed`],
    /// [`Error::Truncated`] and [`Error::Io`] as for a receive.
    pub(crate) fn skip_frame(&mut self, most: usize) -> Result<()> {
        let (header, len, tail) = self.read_header()?;
        if len > most {
            return Err(Error::FrameTooLarge { len, max: most });
        }
        self.start += header;
        // The bytes in the socket; those in the arena are given back.
        let mut left = len - tail;
        if let (Some(arena), 1..) = (&self.arena, tail) {
            arena.discard();
        }
        loop {
            let buffered = (self.end - self.start).min(left);
            self.start += buffered;
            left -= buffered;
            if left == 0 {
                return Ok(());
            }
            self.start = 0;
            self.end = 0;
            let want = left.min(self.buf.len());
            match self.stream.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Err(Error::Truncated {
                        expected: header + len - tail,
                        got: header + len - tail - left,
                    })
                }
                Ok(n) => self.end = n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("recv")(e)),
            }
        }
    }

    /// Whether a message can be read now, waiting up to `timeout`
    /// (Python: `conn.poll(timeout)`). `Duration::ZERO` checks without waiting.
    /// A closed peer counts as readable: the next `recv` reports
    /// [`Error::Closed`] at once.
    ///
    /// # Errors
    /// [`Error::Os`] if `poll(2)` fails.
    pub fn poll(&mut self, timeout: Duration) -> Result<bool> {
        if self.end > self.start {
            return Ok(true);
        }
        crate::sys::poll_readable(&self.stream.fd(), timeout)
    }

    /// Poll for up to [`SPIN`], yielding between polls (both sides of a
    /// manager's connection call it before a blocking read).
    ///
    /// Most replies take a few microseconds of the peer's work. A thread that
    /// sleeps in `read` at once lets its CPU go idle, and waking an idle CPU
    /// (an inter-processor interrupt; in a virtual machine a halted vCPU) can
    /// cost more than the whole call. Polling for a moment keeps the CPU awake
    /// for the common quick reply; `yield_now` hands the CPU to the peer if
    /// both share it. A long wait costs at most [`SPIN`] of CPU.
    pub(crate) fn spin_until_readable(&mut self) {
        // Bytes already buffered end the wait at once, without a system call.
        if self.end > self.start {
            return;
        }
        crate::sys::spin_until_readable(self, SPIN);
    }

    /// Make sure `want` bytes are buffered from `start`. Returns `false` on
    /// a clean EOF with nothing buffered; a partial frame at EOF is
    /// [`Error::Truncated`] (`expected` is the size of the frame being read,
    /// or `want` while the header itself is incomplete).
    fn fill(&mut self, want: usize, expected: usize) -> Result<bool> {
        if self.end - self.start >= want {
            return Ok(true);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < want {
            let read = if self.want_fd {
                self.stream
                    .read_taking_fd(&mut self.buf[self.end..], &mut self.fd_in)
            } else {
                self.stream.read(&mut self.buf[self.end..])
            };
            match read {
                Ok(0) if self.end == 0 && expected == 0 => return Ok(false),
                Ok(0) => {
                    return Err(Error::Truncated {
                        expected: expected.max(want),
                        got: self.end,
                    })
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("recv")(e)),
            }
        }
        Ok(true)
    }

    /// Buffer a body of `len` bytes (header already consumed).
    fn fill_body(&mut self, len: usize, expected: usize) -> Result<()> {
        let header = expected - len;
        self.fill(len, expected).map_err(|e| match e {
            Error::Truncated { got, .. } => Error::Truncated {
                expected,
                got: header + got,
            },
            other => other,
        })?;
        Ok(())
    }
}

impl Connection {
    /// Send one frame whose payload is the concatenation of `parts`, with
    /// one vectored write (header and parts as they lie: nothing is
    /// copied into a frame buffer). For large payloads, where a copy of
    /// the payload would cost more than the write.
    ///
    /// # Errors
    /// [`Error::Io`] if the write fails.
    ///
    /// On a connection with an arena, a last part of at least
    /// [`arena::LANE_MIN`] bytes goes into this end's lane when it is free
    /// and large enough, and the socket carries the rest.
    pub(crate) fn send_parts(&mut self, parts: &[&[u8]]) -> Result<()> {
        let len = parts
            .iter()
            .try_fold(0usize, |n, p| n.checked_add(p.len()))
            .ok_or_else(|| Error::Encode("a frame longer than memory".into()))?;
        self.bulk_seen |= parts.last().is_some_and(|p| p.len() >= arena::LANE_MIN);
        if let (Some(arena), Some((last, front))) = (&self.arena, parts.split_last()) {
            if last.len() >= arena::LANE_MIN && arena.put(last) {
                let mut header = [0u8; ARENA_HEADER];
                header[..4].copy_from_slice(&ARENA_FRAME.to_be_bytes());
                header[4..12].copy_from_slice(&(len as u64).to_be_bytes());
                header[12..].copy_from_slice(&(last.len() as u64).to_be_bytes());
                let mut all = Vec::with_capacity(parts.len());
                all.push(&header[..]);
                all.extend_from_slice(front);
                return self.stream.write_all_vectored(&all).map_err(io_err("send"));
            }
        }
        let mut header = [0u8; 12];
        let header: &[u8] = if len <= i32::MAX as usize {
            header[..4].copy_from_slice(&(len as i32).to_be_bytes());
            &header[..4]
        } else {
            header[..4].copy_from_slice(&(-1i32).to_be_bytes());
            header[4..].copy_from_slice(&(len as u64).to_be_bytes());
            &header
        };
        let mut all = Vec::with_capacity(parts.len() + 1);
        all.push(header);
        all.extend_from_slice(parts);
        self.stream.write_all_vectored(&all).map_err(io_err("send"))
    }

    /// Ask the kernel for socket buffers of `bytes` each way
    /// (`SO_SNDBUF`, `SO_RCVBUF`), so that a large frame crosses in few
    /// steps: with Linux's default (about 208 KiB) 16 MiB take some
    /// eighty wake-ups of the reader, each a context switch. The size is
    /// a limit, not an allocation: the kernel takes memory only for the
    /// bytes in flight. It is capped by `/proc/sys/net/core/wmem_max` and
    /// `rmem_max` (212,992 bytes on a stock kernel, where this changes
    /// nothing); failures are ignored, the defaults then stay. Only for
    /// Unix sockets: TCP tunes its buffers by itself, and setting them
    /// would turn that off.
    pub(crate) fn widen_socket_buffers(&self, bytes: usize) {
        use nix::sys::socket::{setsockopt, sockopt};
        if let Stream::Unix(s) = &self.stream {
            let _ = setsockopt(s, sockopt::SndBuf, &bytes);
            let _ = setsockopt(s, sockopt::RcvBuf, &bytes);
        }
    }
}

#[cfg(test)]
impl Connection {
    /// Write raw bytes (a frame cut short, say), then close this end.
    pub(crate) fn send_raw_for_tests(mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }
}

/// Ask the kernel to back `mem`, a large buffer about to be filled, with
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`), where the system
/// allows them on request (`/sys/kernel/mm/transparent_hugepage/enabled`
/// = `madvise`, a common default) or always: a fresh 8 MiB buffer then
/// takes 4 page faults instead of 2,048, which cost more than filling it.
/// Only whole 2 MiB pages inside `mem` can be huge; smaller buffers are
/// left alone. Nothing about the memory's contents or validity changes,
/// and a refusal (no THP, an old kernel) changes nothing but speed.
pub(crate) fn advise_huge_pages<T>(mem: &mut [std::mem::MaybeUninit<T>]) {
    const HUGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(mem);
    if bytes < 2 * HUGE {
        return;
    }
    let start = mem.as_mut_ptr() as usize;
    let Some(end) = start.checked_add(bytes) else {
        return;
    };
    let page = 4096;
    let (lo, hi) = (start.div_ceil(page) * page, end / page * page);
    if hi > lo {
        // SAFETY: `[lo, hi)` is page-aligned and lies inside `mem`, memory
        // this process owns and that stays mapped while borrowed;
        // MADV_HUGEPAGE is advice about how to back it, which never
        // changes what the memory holds or whether it may be accessed.
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
        }
    }
}

/// The header's first word on an arena frame: a length no frame has. Then
/// come the payload's length and how many of its last bytes are in the
/// sender's lane (each a big-endian `u64`).
const ARENA_FRAME: i32 = -2;
/// An arena frame's header: the marker and two lengths.
const ARENA_HEADER: usize = 20;

/// The socket buffer size manager connections ask for
/// ([`Connection::widen_socket_buffers`]): 4 MiB.
pub(crate) const BULK_SOCKET_BUFFER: usize = 4 << 20;

/// Encode `value` for [`Connection::send_frame`]: four placeholder bytes for
/// the header, then the payload (its length is the frame's length minus 4).
pub(crate) fn encode_frame<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    postcard::to_extend(value, vec![0u8; 4]).map_err(|e| Error::Encode(e.to_string()))
}

/// Decode a postcard payload strictly: trailing bytes are an error too.
pub(crate) fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(Error::Decode(format!(
            "{} unexpected trailing bytes",
            rest.len()
        ))),
        Err(e) => Err(Error::Decode(e.to_string())),
    }
}

#[cfg(test)]
mod tests;

mod arena;
pub(crate) use arena::{free_served_lanes, LANE_MIN};
mod incoming;
pub(crate) use incoming::Incoming;
mod auth;
mod lanes;
pub(crate) use auth::SPIN;
pub use auth::{answer_challenge, deliver_challenge};
#[cfg(test)]
mod auth_tests;
