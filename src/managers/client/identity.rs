//! Client side: who calls. Each process draws a token, each thread a
//! number, and every connection says them once, in
//! [`Request::Hello`](crate::managers::protocol::Request::Hello), so that
//! the server can give an RLock or a Condition to a *caller* (a process and
//! thread) rather than to a connection: a caller that reconnects still holds
//! what it held.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::managers::protocol::Request;

/// Drawn once at random in the first process that needs it; forked
/// children inherit it. 0 while not drawn.
static SALT: AtomicU64 = AtomicU64::new(0);
/// The token of the process whose pid is `TOKEN_PID`.
static TOKEN: AtomicU64 = AtomicU64::new(0);
static TOKEN_PID: AtomicU32 = AtomicU32::new(0);
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// A 64-bit mix (splitmix64's finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// When this process started, in clock ticks since boot (field 22 of
/// `/proc/self/stat`), so that a reused pid gives another token.
fn start_time() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count from its ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// This process's token: the same in every thread, another in a forked child.
pub(crate) fn process_token(pid: u32) -> u64 {
    if TOKEN_PID.load(Ordering::Acquire) == pid {
        return TOKEN.load(Ordering::Acquire);
    }
    let mut salt = SALT.load(Ordering::Acquire);
    if salt == 0 {
        let mut b = [0u8; 8];
        let drawn = match crate::sys::random_bytes(&mut b) {
            Ok(()) => u64::from_ne_bytes(b) | 1,
            Err(_) => mix(u64::from(pid) ^ start_time()) | 1,
        };
        salt = match SALT.compare_exchange(0, drawn, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => drawn,
            Err(theirs) => theirs,
        };
    }
    // Deterministic for a pid: threads that race here store the same value.
    let token = mix(salt ^ mix(u64::from(pid) ^ (start_time() << 32)));
    TOKEN.store(token, Ordering::Release);
    TOKEN_PID.store(pid, Ordering::Release);
    token
}

/// This thread's number, unique within the process.
fn thread_number() -> u64 {
    THREAD.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

/// The `Hello` this thread of this process sends on a new connection;
/// `session` for the process's session connection.
pub(crate) fn hello(pid: u32, session: bool) -> Request {
    Request::Hello {
        process: process_token(pid),
        pid,
        thread: thread_number(),
        session,
    }
}
