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
//! bytes where they lie), and read straight into their final buffer.
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

    /// Read the next frame's header (leaving it in the buffer): its size
    /// and the payload's length. [`Error::Closed`] at a clean end of file.
    fn read_header(&mut self) -> Result<(usize, usize)> {
        if !self.fill(4, 0)? {
            return Err(Error::Closed);
        }
        let short = i32::from_be_bytes(self.buf[self.start..self.start + 4].try_into().unwrap());
        if short == -1 {
            self.fill(12, 12)?;
            let long = u64::from_be_bytes(
                self.buf[self.start + 4..self.start + 12]
                    .try_into()
                    .unwrap(),
            );
            Ok((12, usize::try_from(long).unwrap_or(usize::MAX)))
        } else if short < 0 {
            Err(Error::Decode(format!("invalid frame length {short}")))
        } else {
            Ok((4, short as usize))
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
        let (header, len) = self.read_header()?;
        if len > self.max {
            return Err(Error::FrameTooLarge { len, max: self.max });
        }
        self.start += header;
        Ok(Incoming {
            conn: self,
            header,
            len,
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
        let (header, len) = self.read_header()?;
        if len > most {
            return Err(Error::FrameTooLarge { len, max: most });
        }
        self.start += header;
        let mut left = len;
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
                        expected: header + len,
                        got: header + len - left,
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
        // Bytes already buffered (or an error) end the wait at once.
        if !matches!(self.poll(Duration::ZERO), Ok(false)) {
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
            match self.stream.read(&mut self.buf[self.end..]) {
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

/// A frame whose header has been read ([`Connection::begin_recv`]); its
/// payload is still to be read, whole or in two parts.
pub(crate) struct Incoming<'c> {
    conn: &'c mut Connection,
    /// The header's size (4 or 12 bytes), for error reports.
    header: usize,
    /// The payload's length, within the receiver's limit.
    len: usize,
}

impl Incoming<'_> {
    /// The payload's length.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The payload's first `n` bytes (all of it if it is shorter), read
    /// into the connection's buffer if they are not there yet; `n` must
    /// fit the buffer (64 KiB).
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::Io`] as for a receive.
    pub(crate) fn peek(&mut self, n: usize) -> Result<&[u8]> {
        let n = n.min(self.len);
        assert!(n <= READ_BUF, "peek beyond the read buffer");
        self.conn.fill_body(n, self.header + self.len)?;
        Ok(&self.conn.buf[self.conn.start..self.conn.start + n])
    }

    /// The whole payload, in a vector of exactly its size.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::Io`] as for a receive.
    pub(crate) fn into_vec(self) -> Result<Vec<u8>> {
        let (conn, len) = (self.conn, self.len);
        let expected = self.header + len;
        if len <= conn.buf.len() {
            conn.fill_body(len, expected)?;
            let out = conn.buf[conn.start..conn.start + len].to_vec();
            conn.start += len;
            return Ok(out);
        }
        // A frame larger than the buffer: take what is buffered, then read
        // the rest straight into an allocation of exactly the announced size
        // (which is within the limit).
        let mut out = Vec::with_capacity(len);
        let buffered = (conn.end - conn.start).min(len);
        out.extend_from_slice(&conn.buf[conn.start..conn.start + buffered]);
        conn.start += buffered;
        // Into the allocation's spare capacity: nothing is zeroed first,
        // and the bytes land where the caller gets them.
        let rest = (len - out.len()) as u64;
        let read = match &mut conn.stream {
            Stream::Unix(s) => s.take(rest).read_to_end(&mut out),
            Stream::Tcp(s) => s.take(rest).read_to_end(&mut out),
        };
        read.map_err(io_err("recv"))?;
        if out.len() < len {
            return Err(Error::Truncated {
                expected,
                got: self.header + out.len(),
            });
        }
        Ok(out)
    }

    /// Pass over the payload's first `head` bytes (which [`peek`](Self::peek)
    /// returned), then read the rest of it, which must be `out.len()`
    /// bytes, into `out`: the bytes already buffered are copied, the others
    /// are read from the socket straight into `out`. On success every byte
    /// of `out` is initialized.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::Io`] as for a receive.
    pub(crate) fn finish_into(
        self,
        head: usize,
        out: &mut [std::mem::MaybeUninit<u8>],
    ) -> Result<()> {
        let (conn, len) = (self.conn, self.len);
        assert!(
            head <= conn.end - conn.start && head.checked_add(out.len()) == Some(len),
            "finish_into: the head must be buffered and the parts must make the payload"
        );
        conn.start += head;
        let buffered = (conn.end - conn.start).min(out.len());
        for (o, b) in out[..buffered]
            .iter_mut()
            .zip(&conn.buf[conn.start..conn.start + buffered])
        {
            o.write(*b);
        }
        conn.start += buffered;
        let got = conn
            .stream
            .read_into(&mut out[buffered..])
            .map_err(io_err("recv"))?;
        if buffered + got < out.len() {
            return Err(Error::Truncated {
                expected: self.header + len,
                got: self.header + head + buffered + got,
            });
        }
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
    pub(crate) fn send_parts(&mut self, parts: &[&[u8]]) -> Result<()> {
        let len = parts
            .iter()
            .try_fold(0usize, |n, p| n.checked_add(p.len()))
            .ok_or_else(|| Error::Encode("a frame longer than memory".into()))?;
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
mod tests {
    use super::*;

    fn raw_pair() -> (UnixStream, Connection) {
        let (a, b) = UnixStream::pair().unwrap();
        (a, Connection::from(b))
    }

    /// Manager connections ask for larger socket buffers; the kernel
    /// grants them up to `net.core.wmem_max` (doubled, for its
    /// bookkeeping): the buffer is then that large, never smaller than before.
    #[test]
    fn widened_socket_buffers_are_as_large_as_the_kernel_allows() {
        use nix::sys::socket::{getsockopt, sockopt};
        let (a, _b) = pipe().unwrap();
        let Stream::Unix(s) = &a.stream else {
            unreachable!()
        };
        let before = getsockopt(s, sockopt::SndBuf).unwrap();
        a.widen_socket_buffers(BULK_SOCKET_BUFFER);
        let after = getsockopt(s, sockopt::SndBuf).unwrap();
        assert!(after >= before, "{before} -> {after}");
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
            .ok()
            .and_then(|m| m.trim().parse().ok())
            .unwrap_or(after);
        assert!(after >= 2 * BULK_SOCKET_BUFFER.min(max), "{after}");
    }

    #[test]
    fn round_trip_of_typed_values() {
        let (mut a, mut b) = pipe().unwrap();
        a.send(&vec![1u64, 2, 3]).unwrap();
        a.send("text").unwrap();
        a.send(&Some((1.5f64, 'x'))).unwrap();
        assert_eq!(b.recv::<Vec<u64>>().unwrap(), vec![1, 2, 3]);
        assert_eq!(b.recv::<String>().unwrap(), "text");
        assert_eq!(b.recv::<Option<(f64, char)>>().unwrap(), Some((1.5, 'x')));
    }

    #[test]
    fn frames_use_a_big_endian_length_header() {
        let (mut raw, mut conn) = raw_pair();
        conn.send_bytes(b"abc").unwrap();
        let mut got = [0u8; 7];
        raw.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"\0\0\0\x03abc");
    }

    #[test]
    fn large_frames_round_trip() {
        let (mut a, mut b) = pipe().unwrap();
        let big: Vec<u8> = (0..(3 * READ_BUF + 17)).map(|i| i as u8).collect();
        let writer = std::thread::spawn(move || {
            a.send_bytes(&big).unwrap();
            big
        });
        let got = b.recv_bytes().unwrap();
        assert_eq!(got, writer.join().unwrap());
    }

    #[test]
    fn clean_eof_is_closed() {
        let (raw, mut conn) = raw_pair();
        drop(raw);
        assert!(matches!(conn.recv_bytes(), Err(Error::Closed)));
    }

    #[test]
    fn eof_inside_header_or_body_is_truncated() {
        let (mut raw, mut conn) = raw_pair();
        raw.write_all(&[0, 0]).unwrap();
        drop(raw);
        assert!(matches!(
            conn.recv_bytes(),
            Err(Error::Truncated {
                expected: 4,
                got: 2
            })
        ));

        let (mut raw, mut conn) = raw_pair();
        raw.write_all(&[0, 0, 0, 10, 1, 2, 3]).unwrap();
        drop(raw);
        assert!(matches!(
            conn.recv_bytes(),
            Err(Error::Truncated {
                expected: 14,
                got: 7
            })
        ));
    }

    #[test]
    fn oversize_frame_is_refused_before_allocation() {
        let (mut raw, mut conn) = raw_pair();
        conn.set_max_message_size(1000);
        raw.write_all(&1001i32.to_be_bytes()).unwrap();
        assert!(matches!(
            conn.recv_bytes(),
            Err(Error::FrameTooLarge {
                len: 1001,
                max: 1000
            })
        ));
        // A 2 GiB+ announcement via the -1 marker is refused the same way.
        let (mut raw, mut conn) = raw_pair();
        raw.write_all(&(-1i32).to_be_bytes()).unwrap();
        raw.write_all(&(u64::MAX).to_be_bytes()).unwrap();
        assert!(matches!(
            conn.recv_bytes(),
            Err(Error::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn negative_length_is_a_decode_error() {
        let (mut raw, mut conn) = raw_pair();
        raw.write_all(&(-7i32).to_be_bytes()).unwrap();
        assert!(matches!(conn.recv_bytes(), Err(Error::Decode(_))));
    }

    #[test]
    fn garbage_payload_is_a_decode_error_not_a_panic() {
        let (mut a, mut b) = pipe().unwrap();
        a.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert!(matches!(b.recv::<String>(), Err(Error::Decode(_))));
        a.send(&(1u8, 2u8)).unwrap();
        assert!(matches!(b.recv::<u8>(), Err(Error::Decode(m)) if m.contains("trailing")));
        // The connection is still usable after a bad payload.
        a.send(&5u32).unwrap();
        assert_eq!(b.recv::<u32>().unwrap(), 5);
    }

    #[test]
    fn poll_waits_up_to_the_timeout() {
        let (mut a, mut b) = pipe().unwrap();
        let t = std::time::Instant::now();
        assert!(!b.poll(Duration::from_millis(30)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert!(matches!(
            b.recv_timeout::<u8>(Duration::from_millis(1)),
            Err(Error::Timeout { .. })
        ));
        a.send(&1u8).unwrap();
        assert!(b.poll(Duration::from_secs(5)).unwrap());
        a.send(&2u8).unwrap();
        assert_eq!(b.recv::<u8>().unwrap(), 1);
        // The second message is already buffered: poll says so at once.
        assert!(b.poll(Duration::ZERO).unwrap());
        assert_eq!(b.recv::<u8>().unwrap(), 2);
    }

    #[test]
    fn a_timeout_too_large_for_a_deadline_waits_without_one() {
        let (mut a, mut b) = pipe().unwrap();
        a.send(&3u8).unwrap();
        assert!(b.poll(Duration::MAX).unwrap());
        assert_eq!(b.recv_timeout::<u8>(Duration::MAX).unwrap(), 3);
    }
}

// ---------------------------------------------------------------------------
// Authentication: multiprocessing.connection's challenge–response handshake.
// ---------------------------------------------------------------------------

/// The first bytes of a challenge (Python: `_CHALLENGE`).
const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The reply to a correct digest (Python: `_WELCOME`).
const WELCOME: &[u8] = b"#WELCOME#";
/// The reply to a wrong digest (Python: `_FAILURE`).
const FAILURE: &[u8] = b"#FAILURE#";
/// The digest's name, sent in braces before the nonce and the digest, as
/// CPython 3.12+ does.
const DIGEST_PREFIX: &[u8] = b"{sha256}";
/// Random bytes in a challenge (Python: `MESSAGE_LENGTH`, 40 since 3.12).
const NONCE_LEN: usize = 40;
/// The largest handshake message either side accepts (Python passes 256 to
/// `recv_bytes` during the handshake).
const HANDSHAKE_MAX: usize = 256;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How long [`Connection::spin_until_readable`] polls before sleeping.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

fn auth_failed(reason: impl Into<String>) -> Error {
    Error::AuthenticationFailed {
        reason: reason.into(),
    }
}

/// `HMAC-SHA256(authkey, message)`.
fn digest(authkey: &[u8], message: &[u8]) -> HmacSha256 {
    use hmac::Mac;
    let mut mac = HmacSha256::new_from_slice(authkey).expect("HMAC takes keys of any length");
    mac.update(message);
    mac
}

impl Connection {
    /// Receive one handshake message: at most [`HANDSHAKE_MAX`] bytes, so a
    /// peer that does not speak the handshake cannot make us allocate.
    fn recv_handshake(&mut self) -> Result<Vec<u8>> {
        let max = self.max;
        self.max = HANDSHAKE_MAX;
        let got = self.recv_bytes();
        self.max = max;
        got.map_err(|e| match e {
            Error::FrameTooLarge { len, .. } => auth_failed(format!(
                "the peer sent a {len}-byte handshake message; the limit is {HANDSHAKE_MAX}"
            )),
            other => other,
        })
    }
}

/// The shortest nonce [`answer_challenge`] accepts (CPython's minimum).
const MIN_NONCE_LEN: usize = 20;

/// Make sure the peer knows `authkey` (Python:
/// `multiprocessing.connection.deliver_challenge`).
///
/// Sends `#CHALLENGE#{sha256}` and 40 random bytes, expects back
/// `{sha256}` and the HMAC-SHA256 of that message under `authkey`, compares
/// it in constant time, and answers `#WELCOME#` or `#FAILURE#`. A server
/// calls this first and then [`answer_challenge`]; a client does the
/// opposite, so each side proves it knows the key without sending it.
///
/// # Errors
/// [`Error::AuthenticationFailed`] if the digest is wrong (the peer then
/// sees `#FAILURE#`) or the peer's message is not a digest at all; the
/// connection errors of [`Connection::recv`] if the peer goes away.
///
/// # Example
/// ```
/// use forklore::connection::{answer_challenge, deliver_challenge, pipe};
///
/// let (mut server, mut client) = pipe().unwrap();
/// let t = std::thread::spawn(move || answer_challenge(&mut client, b"secret"));
/// deliver_challenge(&mut server, b"secret").unwrap();
/// t.join().unwrap().unwrap();
/// ```
pub fn deliver_challenge(conn: &mut Connection, authkey: &[u8]) -> Result<()> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::sys::random_bytes(&mut nonce)?;
    let mut message = DIGEST_PREFIX.to_vec();
    message.extend_from_slice(&nonce);
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&message);
    conn.send_bytes(&challenge)?;
    let response = conn.recv_handshake()?;
    let ok = response
        .strip_prefix(DIGEST_PREFIX)
        .is_some_and(|mac| hmac::Mac::verify_slice(digest(authkey, &message), mac).is_ok());
    if ok {
        conn.send_bytes(WELCOME)?;
        Ok(())
    } else {
        // Tell the peer, then fail; a peer that already left changes nothing.
        let _ = conn.send_bytes(FAILURE);
        Err(auth_failed("digest received was wrong"))
    }
}

/// Prove to the peer that we know `authkey` (Python:
/// `multiprocessing.connection.answer_challenge`): receive its challenge,
/// send back the HMAC-SHA256 of it under `authkey`, and expect `#WELCOME#`.
///
/// # Errors
/// [`Error::AuthenticationFailed`] if the peer rejects the digest (`digest
/// sent was rejected`) or its first message is not a challenge; the
/// connection errors of [`Connection::recv`] if the peer goes away.
pub fn answer_challenge(conn: &mut Connection, authkey: &[u8]) -> Result<()> {
    let challenge = conn.recv_handshake()?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        return Err(auth_failed("the peer did not send a challenge"));
    };
    let Some(nonce) = message.strip_prefix(DIGEST_PREFIX) else {
        return Err(auth_failed(
            "the peer's challenge names a digest other than {sha256}",
        ));
    };
    // A short nonce would let a fake server have us sign (nearly) fixed
    // messages; CPython 3.12 refuses challenges under 20 bytes as well.
    if nonce.len() < MIN_NONCE_LEN {
        return Err(auth_failed(format!(
            "challenge too short: {} random bytes, at least {MIN_NONCE_LEN} are required",
            nonce.len()
        )));
    }
    let mac = hmac::Mac::finalize(digest(authkey, message)).into_bytes();
    let mut response = DIGEST_PREFIX.to_vec();
    response.extend_from_slice(&mac);
    conn.send_bytes(&response)?;
    match conn.recv_handshake() {
        Ok(reply) if reply == WELCOME => Ok(()),
        Ok(_) => Err(auth_failed("digest sent was rejected")),
        // A peer that closes instead of answering has rejected us too.
        Err(e) if e.is_disconnect() => Err(auth_failed(
            "digest sent was rejected (the peer closed the connection)",
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod auth_tests {
    use super::*;

    #[test]
    fn a_short_challenge_is_refused_before_anything_is_signed() {
        for nonce_len in [0usize, 19] {
            let (mut fake_server, mut c) = pipe().unwrap();
            let mut challenge = CHALLENGE.to_vec();
            challenge.extend_from_slice(DIGEST_PREFIX);
            challenge.extend(std::iter::repeat_n(7u8, nonce_len));
            fake_server.send_bytes(&challenge).unwrap();
            let e = answer_challenge(&mut c, b"secret").unwrap_err();
            assert!(e.to_string().contains("challenge too short"), "{e}");
            // Nothing was sent back: no digest for the fake server.
            drop(c);
            assert!(matches!(fake_server.recv_bytes(), Err(Error::Closed)));
        }
    }

    fn handshake(server_key: &'static [u8], client_key: &'static [u8]) -> (Result<()>, Result<()>) {
        let (mut s, mut c) = pipe().unwrap();
        let client = std::thread::spawn(move || {
            answer_challenge(&mut c, client_key)?;
            deliver_challenge(&mut c, client_key)
        });
        let server = deliver_challenge(&mut s, server_key)
            .and_then(|()| answer_challenge(&mut s, server_key));
        drop(s);
        (server, client.join().unwrap())
    }

    #[test]
    fn same_key_passes_both_ways() {
        let (s, c) = handshake(b"key", b"key");
        s.unwrap();
        c.unwrap();
    }

    #[test]
    fn wrong_key_fails_on_both_sides() {
        let (s, c) = handshake(b"key", b"other");
        let s = s.unwrap_err();
        let c = c.unwrap_err();
        assert!(s.is_authentication_failed(), "{s}");
        assert!(c.is_authentication_failed(), "{c}");
        assert!(s.to_string().contains("digest received was wrong"), "{s}");
        assert!(c.to_string().contains("digest sent was rejected"), "{c}");
    }

    #[test]
    fn garbage_instead_of_a_digest_fails_cleanly() {
        let (mut s, mut c) = pipe().unwrap();
        let t = std::thread::spawn(move || {
            let _challenge = c.recv_bytes().unwrap();
            c.send_bytes(b"not a digest").unwrap();
            c.recv_bytes().unwrap()
        });
        let e = deliver_challenge(&mut s, b"k").unwrap_err();
        assert!(e.is_authentication_failed());
        assert_eq!(t.join().unwrap(), FAILURE);
    }

    #[test]
    fn oversize_handshake_message_is_refused() {
        let (mut s, mut c) = pipe().unwrap();
        c.send_bytes(&[b'x'; 1000]).unwrap();
        let e = answer_challenge(&mut s, b"k").unwrap_err();
        assert!(e.is_authentication_failed(), "{e}");
        // The limit was only for the handshake.
        assert_eq!(s.max_message_size(), DEFAULT_MAX_MESSAGE_SIZE);
    }
}
