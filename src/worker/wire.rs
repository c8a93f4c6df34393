//! The bytes between a pool and its workers: task records, reply records,
//! and the trampolines that turn a record back into a call (see the
//! [module docs](super) for the layout).

use std::os::fd::RawFd;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::TaskId;
use crate::error::{Error, Result};
use crate::start::spawn::offset_of;

/// The trampoline a worker calls: decode the arguments in `args`, call the
/// function at address `func`, append the encoded results to `out`.
pub(crate) type Call = fn(func: usize, args: &[u8], out: &mut Vec<u8>) -> Result<(), Failure>;

/// Why a worker could not produce results for a task; sent back in the reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The function panicked.
    Panicked {
        message: String,
        location: Option<String>,
    },
    /// The arguments did not decode.
    Decode(String),
    /// The results did not encode.
    Encode(String),
}

/// The trampoline for `fn(A) -> R`.
pub(crate) fn call_map<A: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    // SAFETY: `func` is the address of a `fn(A) -> R` that the parent
    // obtained from a real function pointer of exactly this type, and sent
    // (as an offset from a symbol of forklore, turned back into an address
    // of this process by the worker) along with this very instantiation of
    // `call_map` as the trampoline. The worker runs the parent's executable,
    // forked or spawned, so the address names the same function here. Only
    // `fn` pointers are accepted by the public API, never closures with
    // captures.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    run_chunk(args, out, f)
}

/// The trampoline for `fn(A, B) -> R` over pairs (`starmap`).
pub(crate) fn call_star<A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    // SAFETY: as in `call_map`, for a `fn(A, B) -> R`.
    let f = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(func) };
    run_chunk(args, out, |(a, b)| f(a, b))
}

fn run_chunk<T: DeserializeOwned, R: Serialize>(
    args: &[u8],
    out: &mut Vec<u8>,
    f: impl Fn(T) -> R,
) -> Result<(), Failure> {
    let items: Vec<T> = postcard::from_bytes(args).map_err(|e| Failure::Decode(e.to_string()))?;
    let results: Vec<R> = items.into_iter().map(f).collect();
    postcard::to_io(&results, out).map_err(|e| Failure::Encode(e.to_string()))?;
    Ok(())
}

/// The encoded record of one task.
pub(crate) fn task_record<T: Serialize>(
    id: TaskId,
    call: Call,
    func: usize,
    items: &[T],
) -> Result<Vec<u8>> {
    let enc = |e: postcard::Error| Error::Encode(e.to_string());
    // Offsets from a symbol of forklore, not addresses: a spawned worker
    // maps the executable elsewhere (see `crate::start::spawn`).
    let (call, func) = (offset_of(call as usize), offset_of(func));
    let mut record = postcard::to_extend(&(id, call, func), Vec::new()).map_err(enc)?;
    if !with_length(&mut record, |out| postcard::to_io(items, out).map(drop)).map_err(enc)? {
        return Err(Error::Encode("a task's arguments exceed 4 GiB".into()));
    }
    Ok(record)
}

/// Append to `out` a 4-byte little-endian length, then what `body`
/// appends. False (and `out` left with a wrong length) if that exceeds
/// `u32::MAX` bytes.
pub(crate) fn with_length<E>(
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<bool, E> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out)?;
    let Ok(len) = u32::try_from(out.len() - at - 4) else {
        return Ok(false);
    };
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(true)
}

/// Split a 4-byte length and that many bytes off the front of `bytes`.
pub(crate) fn split_length(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let body = bytes.get(4..4usize.checked_add(len)?)?;
    Some((body, &bytes[4 + len..]))
}

/// Parse the reply record at `frame[at..]`: its task, tag, the range of
/// its body, and where the next record starts.
pub(crate) fn parse_reply(
    frame: &[u8],
    at: usize,
) -> Option<(TaskId, u8, std::ops::Range<usize>, usize)> {
    let (id, rest) = postcard::take_from_bytes::<TaskId>(frame.get(at..)?).ok()?;
    let (&tag, rest) = rest.split_first()?;
    let (body, rest) = split_length(rest)?;
    let end = frame.len() - rest.len();
    Some((id, tag, end - body.len()..end, end))
}

/// A whole [`Connection`](crate::connection::Connection) frame carrying
/// `payload`: its header (4-byte big-endian length, or `-1` then an 8-byte
/// length above `i32::MAX`), then the payload. The pool writes such frames
/// itself, a piece at a time, so that no write ever blocks.
pub(crate) fn frame_of(payload_len: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload_len + 12);
    if let Ok(short) = i32::try_from(payload_len) {
        frame.extend_from_slice(&short.to_be_bytes());
    } else {
        frame.extend_from_slice(&(-1i32).to_be_bytes());
        frame.extend_from_slice(&(payload_len as u64).to_be_bytes());
    }
    fill(&mut frame);
    frame
}

/// The payload length of a frame made by `frame_of`.
pub(crate) fn payload_len(frame: &[u8]) -> usize {
    if frame[..4] == (-1i32).to_be_bytes() {
        frame.len() - 12
    } else {
        frame.len() - 4
    }
}

/// The length of the task record at the front of `bytes` (a record made by
/// `task_record`, so well formed).
pub(crate) fn record_len(bytes: &[u8]) -> usize {
    let Ok((_, rest)) = postcard::take_from_bytes::<(TaskId, i64, i64)>(bytes) else {
        return bytes.len();
    };
    let Some((_, after)) = split_length(rest) else {
        return bytes.len();
    };
    bytes.len() - after.len()
}

/// `send(2)` without blocking and without SIGPIPE.
pub(crate) fn send_nonblocking(fd: RawFd, bytes: &[u8]) -> nix::Result<usize> {
    if bytes.is_empty() {
        return Ok(0);
    }
    // SAFETY: `bytes` is a valid slice for its length; `fd` is a socket this
    // pool owns, open for the duration of the call (only the driver closes
    // the workers' sockets, and only the driver writes).
    let n = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(n as usize)
    }
}
