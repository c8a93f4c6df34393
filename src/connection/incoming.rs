//! [`Incoming`]: a frame whose header has been read, its payload still in
//! the socket (and, for an arena frame, partly in the peer's lane).

use std::io::Read;

use super::{io_err, Connection, Stream, READ_BUF};
use crate::error::{Error, Result};

/// A frame whose header has been read ([`Connection::begin_recv`]); its
/// payload is still to be read, whole or in two parts.
pub(crate) struct Incoming<'c> {
    pub(super) conn: &'c mut Connection,
    /// The header's size (4 or 12 bytes), for error reports.
    pub(super) header: usize,
    /// The payload's length, within the receiver's limit.
    pub(super) len: usize,
    /// How many of the payload's last bytes are in the peer's lane of the
    /// arena (0 but for an arena frame); the others are in the socket.
    pub(super) tail: usize,
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
    /// Of an arena frame, only the bytes in the socket can be peeked.
    pub(crate) fn peek(&mut self, n: usize) -> Result<&[u8]> {
        let n = n.min(self.len - self.tail);
        assert!(n <= READ_BUF, "peek beyond the read buffer");
        self.conn.fill_body(n, self.header + self.len)?;
        Ok(&self.conn.buf[self.conn.start..self.conn.start + n])
    }

    /// The whole payload, in a vector of exactly its size.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::Io`] as for a receive.
    pub(crate) fn into_vec(self) -> Result<Vec<u8>> {
        if self.tail > 0 {
            let len = self.len;
            let mut out = Vec::with_capacity(len);
            self.finish_into(0, &mut out.spare_capacity_mut()[..len])?;
            // SAFETY: `finish_into` initialized the first `len` bytes of
            // the spare capacity.
            unsafe { out.set_len(len) };
            return Ok(out);
        }
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
        let (conn, len, tail) = (self.conn, self.len, self.tail);
        assert!(
            head <= conn.end - conn.start
                && head <= len - tail
                && head.checked_add(out.len()) == Some(len),
            "finish_into: the head must be buffered and the parts must make the payload"
        );
        conn.start += head;
        // The bytes in the socket, then those in the peer's lane.
        let (socket, lane) = out.split_at_mut(out.len() - tail);
        let buffered = (conn.end - conn.start).min(socket.len());
        for (o, b) in socket[..buffered]
            .iter_mut()
            .zip(&conn.buf[conn.start..conn.start + buffered])
        {
            o.write(*b);
        }
        conn.start += buffered;
        let got = conn
            .stream
            .read_into(&mut socket[buffered..])
            .map_err(io_err("recv"))?;
        if buffered + got < socket.len() {
            return Err(Error::Truncated {
                expected: self.header + len - tail,
                got: self.header + head + buffered + got,
            });
        }
        if tail > 0 {
            // `read_header` reports a tail only on a connection with an arena.
            let arena = conn
                .arena
                .as_ref()
                .expect("an arena frame without an arena");
            arena.take(lane)?;
        }
        Ok(())
    }
}
