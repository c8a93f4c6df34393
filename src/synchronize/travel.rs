//! Sending a [`SharedFds`] object to another process over a Unix socket,
//! its descriptors as `SCM_RIGHTS`: how a `spawn` or `forkserver` child,
//! which inherited no mapping, gets a lock, a value or a queue.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::SharedFds;
use crate::error::{Error, Result};

/// The most descriptors one object travels as (a [`Barrier`](super::Barrier) takes 3).
const MAX_FDS: usize = 8;

/// Sends `obj`'s descriptors over `sock` (one message: a count byte and
/// the descriptors). The object stays usable here.
///
/// ```
/// use forklore::synchronize::{recv_shared, send_shared, Lock};
/// let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let lock = Lock::new().unwrap();
/// send_shared(&a, &lock).unwrap();
/// let same: Lock = recv_shared(&b).unwrap();
/// lock.acquire();
/// assert!(same.locked());
/// ```
///
/// # Errors
/// [`Error::Os`] if `sendmsg` fails (for example the peer is gone).
pub fn send_shared(sock: &UnixStream, obj: &impl SharedFds) -> Result<()> {
    let fds: Vec<RawFd> = obj.fds().iter().map(|f| f.as_raw_fd()).collect();
    let count = [fds.len() as u8];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&count)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::os("sendmsg", e))?;
    Ok(())
}

/// Receives an object sent by [`send_shared`] and maps it.
///
/// # Errors
/// [`Error::Closed`] if the peer closed the socket; [`Error::InvalidArgument`]
/// if the message does not hold the descriptors of a `T` (every received
/// descriptor is closed then); [`Error::Os`] if `recvmsg` fails.
pub fn recv_shared<T: SharedFds>(sock: &UnixStream) -> Result<T> {
    let mut count = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut count)];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::os("recvmsg", e))?;
    if msg.bytes == 0 {
        return Err(Error::Closed);
    }
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(|e| Error::os("recvmsg", e))? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: SCM_RIGHTS installed these descriptors in this
            // process just now; nothing else owns them.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let truncated = msg.flags.contains(MsgFlags::MSG_CTRUNC);
    if truncated || fds.len() != usize::from(count[0]) {
        return Err(Error::InvalidArgument(format!(
            "expected {} descriptors, received {}{}",
            count[0],
            fds.len(),
            if truncated { " (truncated)" } else { "" }
        )));
    }
    T::from_fds(fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synchronize::{Barrier, Lock, RLock};

    #[test]
    fn objects_arrive_whole_and_a_wrong_type_or_a_closed_peer_is_an_error() {
        let (a, b) = UnixStream::pair().unwrap();
        let barrier = Barrier::new(1).unwrap();
        send_shared(&a, &barrier).unwrap();
        let got: Barrier = recv_shared(&b).unwrap();
        assert_eq!(got.wait().unwrap(), 0);
        send_shared(&a, &Lock::new().unwrap()).unwrap();
        assert!(matches!(
            recv_shared::<RLock>(&b),
            Err(Error::InvalidArgument(_))
        ));
        send_shared(&a, &barrier).unwrap();
        assert!(matches!(
            recv_shared::<Lock>(&b),
            Err(Error::InvalidArgument(_))
        ));
        drop(a);
        assert!(matches!(recv_shared::<Lock>(&b), Err(Error::Closed)));
    }
}
