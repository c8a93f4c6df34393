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
