//! Sending a [`SharedFds`] object to another process: over a Unix socket,
//! its descriptors as `SCM_RIGHTS` ([`send_shared`], [`recv_shared`]), or
//! as an argument of [`Process::from_fn`](crate::Process::from_fn), which
//! is how a `spawn` or `forkserver` child, which inherited no mapping,
//! gets a lock, a value or a queue.
//!
//! ## As a `from_fn` argument
//! Every shared object implements serde's `Serialize` and `Deserialize`,
//! but only for a start. While `from_fn` encodes its arguments, a
//! thread-local *side table* is open: an object's `Serialize` puts a
//! duplicate of each of its descriptors there (close-on-exec) and writes
//! only their place in it, `(first, count)`. The `Process` keeps the
//! table; its start method carries the descriptors to the child (`fork`:
//! inherited; `spawn`: inherited across `exec` with the same numbers,
//! listed in the payload; `forkserver`: `SCM_RIGHTS` to the server with
//! the child's stdio, then inherited by the forked child). The child
//! decodes the arguments with the received descriptors as its table, and
//! `Deserialize` takes them from there and maps them. A place outside the
//! table, or one already taken, is a decode error.
//!
//! Outside a start there is no table, and serializing such an object is an
//! error (CPython: "Lock objects should only be shared between processes
//! through inheritance"), never a descriptor number that means nothing in
//! the reader. [`SharedMemory`](crate::shared_memory::SharedMemory), which
//! has a name, travels by name outside a start.

use std::cell::RefCell;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::SharedFds;
use crate::error::{Error, Result};

thread_local! {
    /// The side table of the arguments being encoded, if any.
    static ENCODING: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    /// The side table of the arguments being decoded, if any.
    static DECODING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
    /// Why the last `Serialize`/`Deserialize` of a shared object failed
    /// (postcard keeps no message of a custom serde error).
    static NOTE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Restores a thread-local table when dropped (also on a panic).
struct Restore<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    previous: Option<Option<T>>,
}

impl<T: 'static> Drop for Restore<T> {
    fn drop(&mut self) {
        let previous = self.previous.take().unwrap_or(None);
        self.key.with(|t| *t.borrow_mut() = previous);
    }
}

/// Runs `f` (which encodes a start's arguments) with an open side table;
/// returns its result, the descriptors the encoded objects put in the
/// table, and the reason a shared object refused to encode, if one did.
pub(crate) fn encode_with_fds<R>(f: impl FnOnce() -> R) -> (R, Vec<OwnedFd>, Option<String>) {
    NOTE.with(|n| n.borrow_mut().take());
    let previous = ENCODING.with(|t| t.borrow_mut().replace(Vec::new()));
    let restore = Restore {
        key: &ENCODING,
        previous: Some(previous),
    };
    let r = f();
    let fds = ENCODING.with(|t| t.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (r, fds, NOTE.with(|n| n.borrow_mut().take()))
}

/// Runs `f` (which decodes a start's arguments) with `fds` as the side
/// table; descriptors that no object took are closed. Returns the reason
/// a shared object refused to decode, if one did.
pub(crate) fn decode_with_fds<R>(fds: Vec<OwnedFd>, f: impl FnOnce() -> R) -> (R, Option<String>) {
    NOTE.with(|n| n.borrow_mut().take());
    let table = fds.into_iter().map(Some).collect();
    let previous = DECODING.with(|t| t.borrow_mut().replace(table));
    let restore = Restore {
        key: &DECODING,
        previous: Some(previous),
    };
    let r = f();
    drop(restore);
    (r, NOTE.with(|n| n.borrow_mut().take()))
}

/// Runs `f` (which serializes or deserializes with postcard) and returns
/// the reason a shared object refused, if one did.
pub(crate) fn with_note<R>(f: impl FnOnce() -> R) -> (R, Option<String>) {
    NOTE.with(|n| n.borrow_mut().take());
    let r = f();
    (r, NOTE.with(|n| n.borrow_mut().take()))
}

/// True while a start's arguments are being encoded.
pub(crate) fn encoding_open() -> bool {
    ENCODING.with(|t| t.borrow().is_some())
}

/// Records why a shared object refused to encode or decode; returns it.
pub(crate) fn note(message: String) -> String {
    NOTE.with(|n| *n.borrow_mut() = Some(message.clone()));
    message
}

/// Puts duplicates of `fds` in the open side table; their place in it.
pub(crate) fn push_fds(
    fds: Vec<BorrowedFd<'_>>,
    what: &str,
) -> std::result::Result<(u32, u32), String> {
    ENCODING.with(|t| {
        let mut t = t.borrow_mut();
        let Some(table) = t.as_mut() else {
            return Err(note(format!(
                "{what} objects should only be shared between processes through inheritance: \
                 pass it as an argument of Process::from_fn (its memory travels as a file \
                 descriptor with the start), or to a forked child; it cannot be serialized \
                 elsewhere"
            )));
        };
        let first = u32::try_from(table.len()).map_err(|_| note("too many descriptors".into()))?;
        let count = u32::try_from(fds.len()).map_err(|_| note("too many descriptors".into()))?;
        for fd in fds {
            // F_DUPFD_CLOEXEC: the duplicate leaks into no program we exec.
            let dup = fd
                .try_clone_to_owned()
                .map_err(|e| note(format!("cannot duplicate the descriptor of a {what}: {e}")))?;
            table.push(dup);
        }
        Ok((first, count))
    })
}

/// Takes `count` descriptors from place `first` of the open side table.
pub(crate) fn take_fds(
    first: u32,
    count: u32,
    what: &str,
) -> std::result::Result<Vec<OwnedFd>, String> {
    DECODING.with(|t| {
        let mut t = t.borrow_mut();
        let Some(table) = t.as_mut() else {
            return Err(note(format!(
                "a {what} can only be decoded as an argument of a process started by forklore \
                 (its descriptors travel with the start)"
            )));
        };
        let n = table.len();
        let range = usize::try_from(first)
            .ok()
            .and_then(|a| Some((a, a.checked_add(usize::try_from(count).ok()?)?)))
            .filter(|&(_, end)| end <= n)
            .ok_or_else(|| {
                note(format!(
                    "a {what} names descriptors {first}..{first}+{count}, but the start carried {n}"
                ))
            })?;
        let mut out = Vec::with_capacity(range.1 - range.0);
        for (i, slot) in table.iter_mut().enumerate().take(range.1).skip(range.0) {
            let fd = slot
                .take()
                .ok_or_else(|| note(format!("descriptor {i} of the start was taken twice")))?;
            out.push(fd);
        }
        Ok(out)
    })
}

/// `Serialize` of a [`SharedFds`] object: its descriptors into the side
/// table, `(first, count)` into the output.
pub(crate) fn serialize_shared<S: serde::Serializer>(
    obj: &impl SharedFds,
    what: &str,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let place = push_fds(obj.fds(), what).map_err(S::Error::custom)?;
    serde::Serialize::serialize(&place, s)
}

/// `Deserialize` of a [`SharedFds`] object: its descriptors from the side
/// table, mapped.
pub(crate) fn deserialize_shared<'de, D: serde::Deserializer<'de>, T: SharedFds>(
    d: D,
    what: &str,
) -> std::result::Result<T, D::Error> {
    use serde::de::Error as _;
    let (first, count): (u32, u32) = serde::Deserialize::deserialize(d)?;
    let fds = take_fds(first, count, what).map_err(D::Error::custom)?;
    T::from_fds(fds).map_err(|e| D::Error::custom(note(format!("cannot map the {what}: {e}"))))
}

/// Implements `Serialize` and `Deserialize` through the side table.
macro_rules! travels_with_start {
    ([$($g:tt)*] $ty:ty, $what:literal) => {
        impl<$($g)*> serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                $crate::synchronize::serialize_shared(self, $what, s)
            }
        }
        impl<'de, $($g)*> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                $crate::synchronize::deserialize_shared(d, $what)
            }
        }
    };
}
pub(crate) use travels_with_start;

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

    fn decode<T: serde::de::DeserializeOwned>(
        bytes: &[u8],
        fds: Vec<OwnedFd>,
    ) -> std::result::Result<T, String> {
        let (r, why) = decode_with_fds(fds, || postcard::from_bytes::<T>(bytes));
        r.map_err(|e| why.unwrap_or_else(|| e.to_string()))
    }

    #[test]
    fn an_object_encoded_for_a_start_decodes_from_the_side_table_to_the_same_memory() {
        let lock = Lock::new().unwrap();
        let (bytes, fds, why) = encode_with_fds(|| postcard::to_stdvec(&(7u8, lock.clone())));
        assert!(why.is_none());
        assert_eq!(fds.len(), 1);
        let (n, same): (u8, Lock) = decode(&bytes.unwrap(), fds).unwrap();
        assert_eq!(n, 7);
        lock.acquire();
        assert!(same.locked());
    }

    #[test]
    fn serializing_outside_a_start_is_refused_with_cpythons_words() {
        let (r, why) = with_note(|| postcard::to_stdvec(&Lock::new().unwrap()));
        assert!(r.is_err());
        assert!(why.unwrap().starts_with(
            "Lock objects should only be shared between processes through inheritance"
        ));
        // And decoding outside one.
        let place = postcard::to_stdvec(&(0u32, 1u32)).unwrap();
        let (r, why) = with_note(|| postcard::from_bytes::<Lock>(&place));
        assert!(r.is_err());
        assert!(why.unwrap().contains("can only be decoded as an argument"));
    }

    #[test]
    fn a_place_outside_the_side_table_or_taken_twice_is_a_clear_error() {
        let lock = Lock::new().unwrap();
        let fd = || vec![lock.fds()[0].try_clone_to_owned().unwrap()];
        for (first, count) in [(1u32, 1u32), (0, 2), (u32::MAX, 2), (2, u32::MAX)] {
            let bytes = postcard::to_stdvec(&(first, count)).unwrap();
            let err = decode::<Lock>(&bytes, fd()).unwrap_err();
            assert!(
                err.contains("but the start carried 1"),
                "{first} {count}: {err}"
            );
        }
        let one = postcard::to_stdvec(&(0u32, 1u32)).unwrap();
        let twice = [one.clone(), one].concat();
        let err = decode::<(Lock, Lock)>(&twice, fd()).unwrap_err();
        assert!(err.contains("taken twice"), "{err}");
        // The right count of the wrong kind is refused by the object.
        let err = decode::<RLock>(&postcard::to_stdvec(&(0u32, 1u32)).unwrap(), fd()).unwrap_err();
        assert!(err.contains("cannot map the RLock"), "{err}");
    }

    #[test]
    fn descriptors_nobody_took_are_closed_and_a_nested_table_is_restored() {
        let lock = Lock::new().unwrap();
        let dup = lock.fds()[0].try_clone_to_owned().unwrap();
        let raw = dup.as_raw_fd();
        let (r, _) = decode_with_fds(vec![dup], || postcard::from_bytes::<u8>(&[3]));
        assert_eq!(r.unwrap(), 3);
        // Closed: the number is free, or (another test's thread opened a
        // descriptor since) no longer this memfd.
        let ino = nix::sys::stat::fstat(lock.fds()[0]).unwrap().st_ino;
        // SAFETY: `stat` is plain integers; all zeros is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid, writable stat buffer.
        let open = unsafe { libc::fstat(raw, &mut st) } == 0;
        assert!(!open || st.st_ino != ino);
        let ((inner, outer), fds, _) = encode_with_fds(|| {
            let (inner, inner_fds, _) = encode_with_fds(|| postcard::to_stdvec(&lock));
            assert_eq!(inner_fds.len(), 1);
            (inner, postcard::to_stdvec(&(lock.clone(), lock.clone())))
        });
        assert!(inner.is_ok() && outer.is_ok());
        assert_eq!(
            fds.len(),
            2,
            "the inner start's descriptor is not the outer's"
        );
        assert!(!encoding_open());
    }
}
