//! The ring buffer in shared memory behind every queue: its layout, its
//! robust lock, and the copies in and out.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::error::{Error, Result};
use crate::region::{futex_wait, futex_wake, Deadline, Region, BODY};
use crate::synchronize::{init_robust, lock_robust, unlock_robust, ROBUST_SIZE};

const KIND_QUEUE: u32 = 20;
/// The default ring capacity in bytes.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

// Layout after the header.
pub(super) const HEAD: usize = BODY + 16; // u64: bytes consumed, ever
pub(super) const TAIL: usize = BODY + 24; // u64: bytes produced, ever
pub(super) const COUNT: usize = BODY + 32; // items in the ring
pub(super) const MAXSIZE: usize = BODY + 36; // 0: bounded by bytes only
pub(super) const ITEMS_SEQ: usize = BODY + 40; // bumped by put; getters wait on it
pub(super) const SPACE_SEQ: usize = BODY + 44; // bumped by get; putters wait on it
pub(super) const GET_WAITERS: usize = BODY + 48;
pub(super) const PUT_WAITERS: usize = BODY + 52;
pub(super) const UNFINISHED: usize = BODY + 56; // JoinableQueue: put minus task_done
pub(super) const JOIN_WAITERS: usize = BODY + 60;
pub(super) const CAPACITY: usize = BODY + 64; // u64
pub(super) const TYPE_HASH: usize = BODY + 72; // u64
pub(super) const RING_MUTEX: usize = BODY + 80; // a robust pthread mutex
pub(super) const DATA: usize = BODY + 128;
const _: () = assert!(RING_MUTEX + ROBUST_SIZE <= DATA);

/// The shared ring and its words.
pub(super) struct Ring {
    pub(super) region: Region,
    cap: u64,
}

pub(super) fn type_hash<T>() -> u64 {
    // FNV-1a of the type's name: refuses a descriptor of a Queue<u32>
    // where a Queue<String> is expected (same binary, or same names).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::any::type_name::<T>().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn corrupt() -> Error {
    Error::Decode(
        "queue memory is corrupt (written by something that is not a forklore queue)".into(),
    )
}

impl Ring {
    pub(super) fn new(capacity: usize, maxsize: u32, type_hash: u64) -> Result<Ring> {
        if capacity < 8 || capacity > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "queue capacity {capacity} bytes: must be 8..=4 GiB"
            )));
        }
        let region = Region::new(KIND_QUEUE, DATA + capacity)?;
        init_robust(&region, RING_MUTEX)?;
        region.u32_at(MAXSIZE).store(maxsize, Relaxed);
        region.u64_at(CAPACITY).store(capacity as u64, Relaxed);
        region.u64_at(TYPE_HASH).store(type_hash, SeqCst);
        Ok(Ring {
            region,
            cap: capacity as u64,
        })
    }

    pub(super) fn from_fd(fd: OwnedFd, type_hash: u64) -> Result<Ring> {
        let region = Region::from_fd(fd, KIND_QUEUE, DATA + 8)?;
        let cap = region.u64_at(CAPACITY).load(Relaxed);
        let fits = usize::try_from(cap)
            .ok()
            .and_then(|c| c.checked_add(DATA))
            .is_some_and(|end| end <= region.len());
        if !fits {
            return Err(corrupt());
        }
        if region.u64_at(TYPE_HASH).load(Relaxed) != type_hash {
            return Err(Error::InvalidArgument(
                "descriptor holds a queue of another item type".into(),
            ));
        }
        Ok(Ring { region, cap })
    }

    pub(super) fn word(&self, off: usize) -> &AtomicU32 {
        self.region.u32_at(off)
    }
    fn dword(&self, off: usize) -> &AtomicU64 {
        self.region.u64_at(off)
    }
    /// Locks the ring. If a process died holding the lock, the words it
    /// may have left half-updated are repaired first: items are committed
    /// by one store of TAIL and removed by one store of HEAD, so the bytes
    /// between them are whole items, and COUNT is recounted from them.
    pub(super) fn lock(&self) -> Result<()> {
        if lock_robust(&self.region, RING_MUTEX)? {
            if let Err(e) = self.recount() {
                self.unlock();
                return Err(e);
            }
        }
        Ok(())
    }

    pub(super) fn unlock(&self) {
        unlock_robust(&self.region, RING_MUTEX);
    }

    fn recount(&self) -> Result<()> {
        let used = self.used()?;
        let head = self.dword(HEAD).load(Relaxed);
        let (mut pos, mut n) = (0u64, 0u32);
        while pos < used {
            let mut len = [0u8; 4];
            if used - pos < 4 {
                return Err(corrupt());
            }
            self.read_at(head + pos, &mut len);
            pos = pos
                .checked_add(4 + u64::from(u32::from_le_bytes(len)))
                .filter(|&p| p <= used)
                .ok_or_else(corrupt)?;
            n = n.checked_add(1).ok_or_else(corrupt)?;
        }
        self.word(COUNT).store(n, Relaxed);
        // Whoever sleeps may have missed a wake-up the dead process owed.
        self.word(ITEMS_SEQ).fetch_add(1, SeqCst);
        self.word(SPACE_SEQ).fetch_add(1, SeqCst);
        futex_wake(self.word(ITEMS_SEQ), u32::MAX);
        futex_wake(self.word(SPACE_SEQ), u32::MAX);
        Ok(())
    }

    /// Copies `src` into the ring at logical position `pos`, wrapping.
    fn write_at(&self, pos: u64, src: &[u8]) {
        let start = (pos % self.cap) as usize;
        let first = src.len().min(self.cap as usize - start);
        // SAFETY: both ranges are inside the ring's DATA..DATA+cap bytes
        // (checked by ptr); src is a separate allocation of ours.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.region.ptr(DATA + start, first),
                first,
            );
            let rest = src.len() - first;
            std::ptr::copy_nonoverlapping(
                src.as_ptr().add(first),
                self.region.ptr(DATA, rest),
                rest,
            );
        }
    }

    /// Copies `dst.len()` bytes out of the ring at `pos`, wrapping.
    fn read_at(&self, pos: u64, dst: &mut [u8]) {
        let start = (pos % self.cap) as usize;
        let first = dst.len().min(self.cap as usize - start);
        // SAFETY: as in write_at, the other way.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.region.ptr(DATA + start, first),
                dst.as_mut_ptr(),
                first,
            );
            let rest = dst.len() - first;
            std::ptr::copy_nonoverlapping(
                self.region.ptr(DATA, rest),
                dst.as_mut_ptr().add(first),
                rest,
            );
        }
    }

    /// Bytes in use, checked: the words may have been scribbled on.
    fn used(&self) -> Result<u64> {
        let head = self.dword(HEAD).load(Relaxed);
        let tail = self.dword(TAIL).load(Relaxed);
        tail.checked_sub(head)
            .filter(|&u| u <= self.cap)
            .ok_or_else(corrupt)
    }

    pub(super) fn put(&self, bytes: &[u8], deadline: Deadline, joinable: bool) -> Result<()> {
        let need = bytes.len() as u64 + 4;
        if need > self.cap {
            return Err(Error::FrameTooLarge {
                len: bytes.len(),
                max: self.cap as usize - 4,
            });
        }
        let len = (bytes.len() as u32).to_le_bytes();
        loop {
            self.lock()?;
            let maxsize = self.word(MAXSIZE).load(Relaxed);
            let count = self.word(COUNT).load(Relaxed);
            let used = match self.used() {
                Ok(u) => u,
                Err(e) => {
                    self.unlock();
                    return Err(e);
                }
            };
            let room = (maxsize == 0 || count < maxsize) && self.cap - used >= need;
            if room && count < u32::MAX {
                let tail = self.dword(TAIL).load(Relaxed);
                self.write_at(tail, &len);
                self.write_at(tail + 4, bytes);
                self.dword(TAIL).store(tail + need, Relaxed);
                self.word(COUNT).store(count + 1, Relaxed);
                if joinable {
                    let u = self.word(UNFINISHED).load(Relaxed);
                    self.word(UNFINISHED).store(u.saturating_add(1), Relaxed);
                }
                self.word(ITEMS_SEQ).fetch_add(1, SeqCst);
                self.unlock();
                if self.word(GET_WAITERS).load(SeqCst) > 0 {
                    futex_wake(self.word(ITEMS_SEQ), 1);
                }
                return Ok(());
            }
            let seen = self.word(SPACE_SEQ).load(SeqCst);
            self.unlock();
            if deadline.expired() {
                return Err(Error::QueueFull);
            }
            self.word(PUT_WAITERS).fetch_add(1, SeqCst);
            futex_wait(self.word(SPACE_SEQ), seen, deadline.remaining());
            self.word(PUT_WAITERS).fetch_sub(1, SeqCst);
        }
    }

    pub(super) fn get(&self, deadline: Deadline) -> Result<Vec<u8>> {
        loop {
            self.lock()?;
            if self.word(COUNT).load(Relaxed) > 0 {
                let r = self.take();
                self.unlock();
                if self.word(PUT_WAITERS).load(SeqCst) > 0 {
                    futex_wake(self.word(SPACE_SEQ), u32::MAX);
                }
                return r;
            }
            let seen = self.word(ITEMS_SEQ).load(SeqCst);
            self.unlock();
            if deadline.expired() {
                return Err(Error::QueueEmpty);
            }
            self.word(GET_WAITERS).fetch_add(1, SeqCst);
            futex_wait(self.word(ITEMS_SEQ), seen, deadline.remaining());
            self.word(GET_WAITERS).fetch_sub(1, SeqCst);
        }
    }

    /// Removes the first item; the mutex is held.
    fn take(&self) -> Result<Vec<u8>> {
        let used = self.used()?;
        let head = self.dword(HEAD).load(Relaxed);
        let mut len = [0u8; 4];
        if used < 4 {
            return Err(corrupt());
        }
        self.read_at(head, &mut len);
        let len = u64::from(u32::from_le_bytes(len));
        if len > used - 4 {
            return Err(corrupt());
        }
        let mut out = vec![0u8; len as usize];
        self.read_at(head + 4, &mut out);
        self.dword(HEAD).store(head + 4 + len, Relaxed);
        let count = self.word(COUNT).load(Relaxed);
        self.word(COUNT).store(count.saturating_sub(1), Relaxed);
        self.word(SPACE_SEQ).fetch_add(1, SeqCst);
        Ok(out)
    }

    /// The number of items, read under the lock, so that a count left
    /// stale by a process that died inside `put` or `get` is repaired
    /// first. (If the lock cannot be had, the bare word.)
    pub(super) fn count(&self) -> u32 {
        if self.lock().is_ok() {
            let n = self.word(COUNT).load(Relaxed);
            self.unlock();
            n
        } else {
            self.word(COUNT).load(Relaxed)
        }
    }
}
