//! How a manager connection comes to have an [`Arena`]: the client asks
//! for one (`Request::Arena`) before its first bulk request or after its
//! first bulk reply ([`Connection::should_ask_arena`]), the server sends
//! it with the reply ([`Connection::send_with_arena`]), and the client
//! takes it with that reply ([`Connection::take_arena_during`]).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::Serialize;

use super::arena::Arena;
use super::{io_err, Connection, Stream};
use crate::error::{Error, Result};

impl Stream {
    /// As `read`, with `recvmsg`: a descriptor that comes with the bytes
    /// (`SCM_RIGHTS`) is kept in `fd` if it is empty, and closed otherwise
    /// (as is every other one). Received descriptors are close-on-exec. A
    /// control message the kernel cut short (this process at its
    /// descriptor limit, or more descriptors than fit) loses only the
    /// descriptors it could not install: the bytes are read all the same.
    pub(super) fn read_taking_fd(
        &mut self,
        buf: &mut [u8],
        fd: &mut Option<OwnedFd>,
    ) -> std::io::Result<usize> {
        let Stream::Unix(s) = self else {
            return self.read(buf);
        };
        // 64 bytes, aligned as a cmsghdr needs: a header and 12 descriptors.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is a valid empty one.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` points to one iovec over `buf` (writable, its length)
        // and to `control` (writable, its length), all alive for the call.
        let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel filled `msg` (msg_controllen is now the bytes
        // of control messages it wrote); CMSG_FIRSTHDR/NXTHDR stay within
        // them, and a message's data is `cmsg_len` less its header long,
        // within the buffer. Each SCM_RIGHTS number is a descriptor the
        // kernel installed in this process for us alone.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let h = &*c;
                if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c);
                    let header = data as usize - c as usize;
                    let count = (h.cmsg_len as usize).saturating_sub(header)
                        / std::mem::size_of::<libc::c_int>();
                    for i in 0..count {
                        let raw = std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                        let got = OwnedFd::from_raw_fd(raw);
                        if fd.is_none() {
                            *fd = Some(got);
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(n as usize)
    }
}

impl Connection {
    /// Whether the connection is a Unix socket (only those carry arenas).
    pub(crate) fn is_unix(&self) -> bool {
        matches!(self.stream, Stream::Unix(_))
    }

    /// End this side (`shutdown(SHUT_WR)`), then read and drop what comes
    /// until the peer closes its side too or `deadline` passes: a manager's
    /// server closes a connection once it has cleaned up after it.
    pub(crate) fn close_and_wait(mut self, deadline: std::time::Instant) {
        let done = match &self.stream {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
        };
        if done.is_err() {
            return;
        }
        let mut sink = [0u8; 256];
        // Buffered bytes are dropped first: `poll` would answer for them at
        // once, and the read below would then wait with no deadline.
        self.start = self.end;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || !matches!(self.poll(left), Ok(true)) {
                return;
            }
            match self.stream.read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Whether this connection has an arena.
    pub(crate) fn has_arena(&self) -> bool {
        self.arena.is_some()
    }

    /// The client's side: whether to ask for an arena before the next
    /// request (`sending_bulk`: it ends with [`LANE_MIN`](super::LANE_MIN)
    /// bytes or more). Only on a Unix socket, only once, and only once the
    /// connection moves bulk values: a connection of small calls never
    /// pays for one.
    pub(crate) fn should_ask_arena(&self, sending_bulk: bool) -> bool {
        self.is_unix()
            && self.arena.is_none()
            && !self.arena_asked
            && (self.bulk_seen || sending_bulk)
    }

    /// The server's side (the reply to `Request::Arena`): send `value` as one frame with a new arena's
    /// descriptor attached, then use the arena for this connection's bulk
    /// frames. If no arena can be made (out of memory or descriptors),
    /// `value` is sent alone and the connection goes on without one.
    ///
    /// # Errors
    /// [`Error::Encode`] or [`Error::Io`] as [`send`](Connection::send).
    pub(crate) fn send_with_arena<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let made = if self.is_unix() {
            Arena::create().ok()
        } else {
            None
        };
        let Some(mut arena) = made else {
            return self.send(value);
        };
        let mut frame = super::encode_frame(value)?;
        let len = frame.len() - 4;
        let len = i32::try_from(len)
            .map_err(|_| Error::Encode(format!("an arena reply of {len} bytes")))?;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        let Stream::Unix(s) = &mut self.stream else {
            unreachable!("checked above")
        };
        let fds = [arena.fd().as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let sent = loop {
            match sendmsg::<()>(
                s.as_raw_fd(),
                &[IoSlice::new(&frame)],
                &cmsg,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.map_err(std::io::Error::from).map_err(io_err("send"))?,
            }
        };
        // The descriptor went with the first byte; the rest of a frame
        // the socket took only in part follows as usual.
        self.stream
            .write_all(&frame[sent..])
            .map_err(io_err("send"))?;
        arena.close_fd();
        self.arena = Some(arena);
        Ok(())
    }

    /// The client's side: run `exchange` (`Request::Arena` and its reply)
    /// taking the descriptor the reply brings, and use that
    /// arena from then on. A reply without one leaves the connection
    /// without an arena.
    ///
    /// An arena that cannot be mapped (no address space left, a descriptor
    /// that is not a sealed forklore arena) or whose descriptor the kernel
    /// could not install (the descriptor limit) is done without: the server
    /// sends through its lane only once the client has mapped it.
    ///
    /// # Errors
    /// `exchange`'s.
    pub(crate) fn take_arena_during<R>(
        &mut self,
        exchange: impl FnOnce(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        self.want_fd = self.is_unix();
        self.arena_asked = true;
        let r = exchange(self);
        self.want_fd = false;
        let fd = self.fd_in.take();
        let r = r?;
        // An arena that cannot be mapped (no address space left, a
        // descriptor that is not one) is done without: the server sends
        // through its lane only once the client has mapped it.
        match fd.map(Arena::adopt) {
            Some(Ok(arena)) => self.arena = Some(arena),
            Some(Err(e)) => log::debug!("a manager connection goes on without an arena: {e}"),
            None => {}
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::super::{arena, pipe};
    use super::*;

    /// A connected pair whose ends share an arena, as a manager's client
    /// (`.0`) and server (`.1`) do after `Hello`.
    fn with_arena() -> (Connection, Connection) {
        let (mut client, mut server) = pipe().unwrap();
        server.send_with_arena(&7u32).unwrap();
        let got: u32 = client.take_arena_during(|c| c.recv()).unwrap();
        assert_eq!(got, 7);
        assert!(client.has_arena() && server.has_arena());
        (client, server)
    }

    /// Bytes waiting in `c`'s socket (`FIONREAD`).
    fn in_socket(c: &Connection) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which points
        // to `n`.
        let r = unsafe { libc::ioctl(c.as_fd().as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(r, 0);
        n as usize
    }

    fn bulk(seed: u8, n: usize) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    #[test]
    fn a_bulk_part_crosses_through_the_lane_and_only_the_head_through_the_socket() {
        let (mut client, mut server) = with_arena();
        let tail = bulk(1, arena::LANE_MIN);
        client.send_parts(&[b"head", &tail]).unwrap();
        // The 20-byte arena header and the head; the tail is in the lane.
        assert_eq!(in_socket(&server), 20 + 4);
        let got = server.recv_bytes().unwrap();
        assert_eq!(&got[..4], b"head");
        assert_eq!(&got[4..], &tail[..]);
        // The other way, read in two parts as the manager's client does.
        let tail = bulk(2, 3 << 20);
        server.send_parts(&[b"hd", &tail]).unwrap();
        assert_eq!(in_socket(&client), 20 + 2);
        let mut inc = client.begin_recv().unwrap();
        assert_eq!(inc.len(), 2 + tail.len());
        // Only the socket's bytes can be peeked.
        assert_eq!(inc.peek(4096).unwrap(), b"hd");
        let mut out = Vec::with_capacity(tail.len() + 1);
        inc.finish_into(1, &mut out.spare_capacity_mut()[..tail.len() + 1])
            .unwrap();
        // SAFETY: finish_into initialized those bytes.
        unsafe { out.set_len(tail.len() + 1) };
        assert_eq!(out[0], b'd');
        assert_eq!(&out[1..], &tail[..]);
    }

    #[test]
    fn a_lane_not_yet_taken_sends_the_next_frame_through_the_socket() {
        let (mut client, mut server) = with_arena();
        let (a, b) = (bulk(3, arena::LANE_MIN), bulk(4, arena::LANE_MIN + 1));
        client.send_parts(&[b"1", &a]).unwrap();
        client.send_parts(&[b"2", &b]).unwrap();
        assert_eq!(in_socket(&server), (20 + 1) + (4 + 1 + b.len()));
        assert_eq!(server.recv_bytes().unwrap()[1..], a[..]);
        assert_eq!(server.recv_bytes().unwrap()[1..], b[..]);
        // Taken: the lane carries the next one again.
        client.send_parts(&[b"3", &a]).unwrap();
        assert_eq!(in_socket(&server), 20 + 1);
        assert_eq!(server.recv_bytes().unwrap()[1..], a[..]);
    }

    #[test]
    fn a_part_larger_than_a_lane_goes_through_the_socket() {
        let (mut client, mut server) = with_arena();
        let big = bulk(5, arena::LANE + 1);
        let want = big.clone();
        let reader = std::thread::spawn(move || server.recv_bytes().unwrap());
        client.send_parts(&[b"x", &big]).unwrap();
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 1 + want.len());
        assert!(got[1..] == want[..]);
    }

    #[test]
    fn a_frame_refused_for_its_size_gives_its_lane_back_and_keeps_the_stream_in_step() {
        let (mut client, mut server) = with_arena();
        server.set_max_message_size(1000);
        let tail = bulk(6, arena::LANE_MIN);
        client.send_parts(&[b"h", &tail]).unwrap();
        client.send(&"next").unwrap();
        assert!(matches!(
            server.recv_bytes(),
            Err(Error::FrameTooLarge { len, max: 1000 }) if len == 1 + tail.len()
        ));
        server.skip_frame(1 << 30).unwrap();
        assert_eq!(server.recv::<String>().unwrap(), "next");
        client.send_parts(&[b"h", &tail]).unwrap();
        assert_eq!(in_socket(&server), 20 + 1, "the lane was given back");
    }

    #[test]
    fn an_arena_frame_without_an_arena_or_over_a_lane_is_refused() {
        let (a, mut b) = pipe().unwrap();
        let mut h = (-2i32).to_be_bytes().to_vec();
        h.extend(10u64.to_be_bytes());
        h.extend(10u64.to_be_bytes());
        a.send_raw_for_tests(&h);
        assert!(matches!(b.recv_bytes(), Err(Error::Decode(m)) if m == "invalid frame length -2"));

        let (mut client, mut server) = with_arena();
        let over = arena::LANE as u64 + 1;
        let mut h = (-2i32).to_be_bytes().to_vec();
        h.extend(over.to_be_bytes());
        h.extend(over.to_be_bytes());
        client.stream.write_all(&h).unwrap();
        assert!(
            matches!(server.recv_bytes(), Err(Error::Decode(m)) if m.contains("over the lane"))
        );
        // A tail longer than its payload.
        let mut h = (-2i32).to_be_bytes().to_vec();
        h.extend(5u64.to_be_bytes());
        h.extend(6u64.to_be_bytes());
        let (mut client2, mut server2) = with_arena();
        client2.stream.write_all(&h).unwrap();
        assert!(matches!(
            server2.recv_bytes(),
            Err(Error::Decode(m)) if m == "a frame of 5 bytes says 6 of them are in shared memory"
        ));
        drop((client, client2));
    }

    #[test]
    fn a_tcp_connection_gets_no_arena() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client =
            Connection::from(std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap());
        let mut server = Connection::from(l.accept().unwrap().0);
        server.send_with_arena(&7u32).unwrap();
        assert_eq!(client.take_arena_during(|c| c.recv::<u32>()).unwrap(), 7);
        assert!(!client.has_arena() && !server.has_arena());
        let tail = bulk(7, arena::LANE_MIN);
        client.send_parts(&[b"h", &tail]).unwrap();
        assert_eq!(server.recv_bytes().unwrap()[1..], tail[..]);
    }

    /// A reply that brings more descriptors than the receive buffer has
    /// room for (the kernel then sets `MSG_CTRUNC`) is still read, its
    /// arena taken and the others closed: it was refused with `ENOBUFS`
    /// after the four that fitted had been installed and leaked (found by
    /// a reviewer). Twenty: more than the twelve the buffer now holds.
    #[test]
    fn a_reply_with_extra_descriptors_is_still_read() {
        let (mut client, mut server) = pipe().unwrap();
        let arena = Arena::create().unwrap();
        let extra: Vec<OwnedFd> = (0..19)
            .map(|_| arena.fd().try_clone_to_owned().unwrap())
            .collect();
        let mut fds = vec![arena.fd().as_raw_fd()];
        fds.extend(extra.iter().map(|f| f.as_raw_fd()));
        let mut frame = super::super::encode_frame(&7u32).unwrap();
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        let Stream::Unix(s) = &mut server.stream else {
            unreachable!()
        };
        let sent = sendmsg::<()>(
            s.as_raw_fd(),
            &[IoSlice::new(&frame)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        assert_eq!(sent, frame.len());
        let got = client.take_arena_during(|c| c.recv::<u32>());
        assert!(matches!(got, Ok(7)), "{got:?}");
        assert!(client.has_arena());
    }

    /// `close_and_wait` returns by its deadline even when bytes were left
    /// in the read buffer (then `poll` answers at once, without asking the
    /// socket, and a blocking read waited for the peer for ever).
    #[test]
    fn close_and_wait_keeps_its_deadline_with_bytes_left_in_the_buffer() {
        let (mut a, mut b) = pipe().unwrap();
        b.send(&1u32).unwrap();
        b.send(&2u32).unwrap();
        // One read takes both frames: the second stays buffered.
        assert_eq!(a.recv::<u32>().unwrap(), 1);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            a.close_and_wait(std::time::Instant::now() + std::time::Duration::from_millis(100));
            let _ = tx.send(());
        });
        let r = rx.recv_timeout(std::time::Duration::from_secs(5));
        // The peer never closes its side before this point.
        drop(b);
        assert!(r.is_ok(), "close_and_wait waited past its deadline");
    }
}
