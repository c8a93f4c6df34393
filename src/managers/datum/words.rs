//! Packed runs and byte strings on the wire: how `Ints`, `Floats` and
//! `Bytes` are written as one little-endian block and read back in one
//! piece, and the bulk kinds the protocol reads straight into place.

use super::*;
/// An element of a packed run: 8 bytes, sent as its little-endian image.
pub(super) trait Word: Copy {
    fn from_le(b: [u8; 8]) -> Self;
    #[cfg_attr(target_endian = "little", allow(dead_code))]
    fn to_le(self) -> [u8; 8];
}
impl Word for i64 {
    fn from_le(b: [u8; 8]) -> Self {
        i64::from_le_bytes(b)
    }
    fn to_le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
}
impl Word for F64 {
    fn from_le(b: [u8; 8]) -> Self {
        F64(f64::from_bits(u64::from_le_bytes(b)))
    }
    fn to_le(self) -> [u8; 8] {
        self.0.to_bits().to_le_bytes()
    }
}

/// A packed run travels as one byte string, 8 little-endian bytes per
/// element: written with one copy, read with one pass, and it takes as
/// much memory decoded as it takes in the frame.
pub(super) fn ser_words<S: serde::Serializer, W: Word>(
    v: &[W],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    #[cfg(target_endian = "little")]
    {
        s.serialize_bytes(words_as_bytes(v))
    }
    #[cfg(not(target_endian = "little"))]
    {
        let bytes: Vec<u8> = v.iter().flat_map(|w| w.to_le()).collect();
        s.serialize_bytes(&bytes)
    }
}

/// A packed run's wire image, where it lies: on a little-endian target
/// its memory is its 8-byte little-endian words.
#[cfg(target_endian = "little")]
pub(super) fn words_as_bytes<W: Word>(v: &[W]) -> &[u8] {
    // SAFETY: `W` is `i64` or `F64` (a `repr(transparent)` `f64`):
    // 8 bytes, no padding, every byte initialized, and the little-endian
    // image is the memory image on this target. `u8` needs no alignment,
    // `v.len() * 8` bytes are exactly the slice's (a slice's size fits
    // `isize`), and the returned view borrows `v`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// What a bulk [`Datum`] is on the wire: its variant's index (one byte),
/// then a byte string (a varint length, then the bytes). Values of these
/// kinds travel without being copied into a frame, and arrive in their
/// final buffer (see [`crate::managers::protocol`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BulkKind {
    Str,
    Bytes,
    Ints,
    Floats,
}

impl BulkKind {
    /// The variant's index, as postcard writes it (one byte: below 128).
    pub(crate) fn tag(self) -> u8 {
        match self {
            BulkKind::Str => 5,
            BulkKind::Bytes => 6,
            BulkKind::Ints => 13,
            BulkKind::Floats => 14,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<BulkKind> {
        Some(match tag {
            5 => BulkKind::Str,
            6 => BulkKind::Bytes,
            13 => BulkKind::Ints,
            14 => BulkKind::Floats,
            _ => return None,
        })
    }

    /// Whether `n` bytes can be a value of this kind (a run is whole words).
    pub(crate) fn admits_len(self, n: usize) -> bool {
        match self {
            BulkKind::Str | BulkKind::Bytes => true,
            BulkKind::Ints | BulkKind::Floats => n.is_multiple_of(8) && n > 0,
        }
    }

    /// The value of this kind whose wire image is `bytes` (the bytes of
    /// a string or of a byte string, the little-endian words of a run).
    /// The vector becomes the value without a copy, except that a run's
    /// words are moved into a vector of words.
    ///
    /// # Errors
    /// A message for a string that is not UTF-8 or a run that is not
    /// whole words.
    pub(crate) fn build(self, bytes: Vec<u8>) -> std::result::Result<Datum, String> {
        match self {
            BulkKind::Str => String::from_utf8(bytes)
                .map(Datum::Str)
                .map_err(|e| format!("a string that is not UTF-8: {e}")),
            BulkKind::Bytes => Ok(Datum::Bytes(bytes)),
            BulkKind::Ints | BulkKind::Floats if !self.admits_len(bytes.len()) => {
                Err(format!("a packed run of {} bytes", bytes.len()))
            }
            BulkKind::Ints => Ok(Datum::Ints(
                bytes
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )),
            BulkKind::Floats => Ok(Datum::Floats(
                bytes
                    .chunks_exact(8)
                    .map(|c| {
                        F64(f64::from_bits(u64::from_le_bytes(
                            c.try_into().expect("8 bytes"),
                        )))
                    })
                    .collect(),
            )),
        }
    }
}

/// An 8-byte word read from the wire, as which a vector of `u64`s may be
/// taken without a pass over it.
///
/// # Safety
/// Implementors have the size and alignment of `u64`, and every bit
/// pattern is a valid value.
#[cfg(target_endian = "little")]
pub(super) unsafe trait FromWord {}
// SAFETY: `i64` has `u64`'s size and alignment; every bit pattern is one.
#[cfg(target_endian = "little")]
unsafe impl FromWord for i64 {}
// SAFETY: `F64` is a `repr(transparent)` `f64`: `u64`'s size and
// alignment, and every bit pattern is an `f64` (NaNs included).
#[cfg(target_endian = "little")]
unsafe impl FromWord for F64 {}

/// `words` as a vector of `W`, the same memory (no copy, no pass).
#[cfg(target_endian = "little")]
pub(super) fn retype<W: FromWord>(words: Vec<u64>) -> Vec<W> {
    const { assert!(std::mem::size_of::<W>() == 8 && std::mem::align_of::<W>() == 8) };
    let mut words = std::mem::ManuallyDrop::new(words);
    let (ptr, len, cap) = (words.as_mut_ptr(), words.len(), words.capacity());
    // SAFETY: the allocation was made by a `Vec<u64>` with capacity `cap`;
    // `W` has `u64`'s size and alignment (checked above, and promised by
    // `FromWord`), so the same layout frees it; its first `len` words are
    // initialized, and any 8 bytes are a valid `W`. `words` is not dropped,
    // so the allocation has one owner.
    unsafe { Vec::from_raw_parts(ptr.cast::<W>(), len, cap) }
}

impl BulkKind {
    /// Receive a value of this kind whose wire image is `n` bytes:
    /// `fill` writes them into the value's own memory (the bytes of a
    /// string or byte string, the words of a run on a little-endian
    /// target), so they are copied only by the kernel.
    ///
    /// # Errors
    /// `fill`'s error; a message (`Err(Ok(..))`) for a string that is not
    /// UTF-8 or a run that is not whole words.
    pub(crate) fn receive<E>(
        self,
        n: usize,
        fill: impl FnOnce(&mut [std::mem::MaybeUninit<u8>]) -> std::result::Result<(), E>,
    ) -> std::result::Result<Datum, std::result::Result<String, E>> {
        if !self.admits_len(n) {
            return Err(Ok(format!("a packed run of {n} bytes")));
        }
        #[cfg(target_endian = "little")]
        if matches!(self, BulkKind::Ints | BulkKind::Floats) {
            let mut words: Vec<u64> = Vec::with_capacity(n / 8);
            crate::connection::advise_huge_pages(words.spare_capacity_mut());
            // SAFETY: the spare capacity holds at least `n / 8` words, that
            // is `n` bytes, of writable memory owned by `words`; viewing it
            // as uninitialized bytes (`u8` needs no alignment) is fine, and
            // the view ends before `words` is used again.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(
                    words
                        .spare_capacity_mut()
                        .as_mut_ptr()
                        .cast::<std::mem::MaybeUninit<u8>>(),
                    n,
                )
            };
            fill(bytes).map_err(Err)?;
            // SAFETY: `fill` succeeded, so it initialized all `n` bytes,
            // which are `n / 8` words of the capacity (any 8 bytes are a
            // valid `u64`).
            unsafe { words.set_len(n / 8) };
            // On this little-endian target the words are the values as
            // they were sent: the vector becomes the run as it is.
            return Ok(if self == BulkKind::Ints {
                Datum::Ints(retype(words))
            } else {
                Datum::Floats(retype(words))
            });
        }
        let mut v: Vec<u8> = Vec::with_capacity(n);
        crate::connection::advise_huge_pages(v.spare_capacity_mut());
        fill(&mut v.spare_capacity_mut()[..n]).map_err(Err)?;
        // SAFETY: `fill` succeeded, so it initialized the first `n` bytes
        // of the capacity.
        unsafe { v.set_len(n) };
        self.build(v).map_err(Ok)
    }
}

impl Datum {
    /// A value that travels as one byte string: its kind and its wire
    /// image, borrowed from it. `None` for other values (and for packed
    /// runs on a big-endian target, whose image is not their memory).
    pub(crate) fn bulk(&self) -> Option<(BulkKind, &[u8])> {
        match self {
            Datum::Str(s) => Some((BulkKind::Str, s.as_bytes())),
            Datum::Bytes(b) => Some((BulkKind::Bytes, b)),
            #[cfg(target_endian = "little")]
            Datum::Ints(v) if !v.is_empty() => Some((BulkKind::Ints, words_as_bytes(v))),
            #[cfg(target_endian = "little")]
            Datum::Floats(v) if !v.is_empty() => Some((BulkKind::Floats, words_as_bytes(v))),
            _ => None,
        }
    }

    /// What [`bulk`](Self::bulk) gives for `Datum::Ints(v)`, for a run
    /// kept outside a `Datum`.
    pub(crate) fn run_bulk_ints(v: &[i64]) -> Option<(BulkKind, &[u8])> {
        #[cfg(target_endian = "little")]
        if !v.is_empty() {
            return Some((BulkKind::Ints, words_as_bytes(v)));
        }
        let _ = v;
        None
    }

    /// What [`bulk`](Self::bulk) gives for `Datum::Floats(v)`.
    pub(crate) fn run_bulk_floats(v: &[F64]) -> Option<(BulkKind, &[u8])> {
        #[cfg(target_endian = "little")]
        if !v.is_empty() {
            return Some((BulkKind::Floats, words_as_bytes(v)));
        }
        let _ = v;
        None
    }
}

/// Read a packed run written by [`ser_words`], paying its size (its
/// bytes, as many as the frame holds) from the budget.
pub(super) fn de_words<'de, D: Deserializer<'de>, W: Word>(
    d: D,
) -> std::result::Result<Vec<W>, D::Error> {
    struct Words<W>(std::marker::PhantomData<W>);
    impl<'de, W: Word> Visitor<'de> for Words<W> {
        type Value = Vec<W>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a packed run of 8-byte elements")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<Vec<W>, E> {
            if !v.len().is_multiple_of(8) {
                return Err(E::invalid_length(v.len(), &self));
            }
            if !charge(v.len()) {
                return Err(too_big());
            }
            Ok(v.chunks_exact(8)
                .map(|c| W::from_le(c.try_into().expect("8 bytes")))
                .collect())
        }
    }
    d.deserialize_bytes(Words(std::marker::PhantomData))
}

pub(super) fn ser_bytes<S: serde::Serializer>(
    b: &[u8],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_bytes(b)
}

/// Read bytes in one piece (postcard writes them as a sequence of `u8`
/// would be written: a length, then the bytes).
pub(super) fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> std::result::Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    d.deserialize_byte_buf(Bytes)
}
