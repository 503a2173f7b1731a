//! The shared-memory layout: a fixed array of [`Slot`]s, one per registered meter instance.
//!
//! Every field is an atomic, so the same bytes can be mapped by several processes and written
//! and read without locks. A zero-filled file is a valid, empty registry: no header to
//! initialise, no creation race.
//!
//! Two seqlocks protect the multi-word records: `data_seq` for the readings (written only by the
//! instance's audio thread) and `meta_seq` for the label (written only by the owning process's
//! non-audio threads, under its registry mutex). Readers retry when a record changed while they
//! copied it, so they never see a torn reading.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Slots in the registry (instances that can be registered at once, across all processes).
pub const SLOTS: usize = 512;
/// Bytes of a group or track name (UTF-8, zero-padded; longer names are cut at a char boundary).
pub const NAME_BYTES: usize = 64;
/// 64-bit words holding one name.
const NAME_WORDS: usize = NAME_BYTES / 8;
/// 32-bit words of readings.
pub const DATA_WORDS: usize = 16;

/// One registered instance. 64-byte aligned so neighbouring instances never share a cache line
/// with each other's hot fields.
#[repr(C, align(64))]
pub struct Slot {
    /// 0 when free; otherwise the owning registration's token (never 0).
    pub owner: AtomicU64,
    /// Unix time (ms) of the owning process's latest heartbeat; a slot whose heartbeat is older
    /// than [`crate::STALE_MS`] is dead (its process crashed or hangs).
    pub heartbeat_ms: AtomicU64,
    /// Unix time (ms) at which the owner's heartbeat last saw a new publish.
    pub published_ms: AtomicU64,
    /// Unix time (ms) at which the owner's heartbeat last saw an audible block.
    pub audible_ms: AtomicU64,
    /// Process ID of the owner.
    pub pid: AtomicU32,
    /// Reset requests: anybody increments it, the instance resets when it sees a new value.
    pub reset_requests: AtomicU32,
    /// Publishes so far (audio thread, wrapping).
    pub publishes: AtomicU32,
    /// Published blocks that held audio above the silence floor (audio thread, wrapping).
    pub audible_blocks: AtomicU32,
    /// Seqlock counter of `color_rgba`, `group` and `name` (odd while being written).
    pub meta_seq: AtomicU32,
    /// Track colour as 0xRRGGBBAA; alpha 0 means "no colour".
    pub color_rgba: AtomicU32,
    /// Session group, UTF-8 zero-padded.
    pub group: [AtomicU64; NAME_WORDS],
    /// Track or user label, UTF-8 zero-padded.
    pub name: [AtomicU64; NAME_WORDS],
    /// Seqlock counter of `data` (odd while being written).
    pub data_seq: AtomicU32,
    /// The readings, see [`crate::Reading`] for the word order.
    pub data: [AtomicU32; DATA_WORDS],
}

impl Slot {
    /// A free slot (all zero), for in-memory registries.
    pub fn zeroed() -> Self {
        Self {
            owner: AtomicU64::new(0),
            heartbeat_ms: AtomicU64::new(0),
            published_ms: AtomicU64::new(0),
            audible_ms: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            reset_requests: AtomicU32::new(0),
            publishes: AtomicU32::new(0),
            audible_blocks: AtomicU32::new(0),
            meta_seq: AtomicU32::new(0),
            color_rgba: AtomicU32::new(0),
            group: Default::default(),
            name: Default::default(),
            data_seq: AtomicU32::new(0),
            data: Default::default(),
        }
    }
}

/// Seqlock write: makes the counter odd, runs `write` (which must only do relaxed atomic stores),
/// then makes it even again. One writer per counter at a time.
///
/// A counter left odd by a writer that died mid-write is simply carried on from.
#[inline]
pub fn seq_write(seq: &AtomicU32, write: impl FnOnce()) {
    let odd = seq.load(Ordering::Relaxed) | 1;
    seq.store(odd, Ordering::Relaxed);
    // Readers that see any of the following stores also see the odd counter.
    fence(Ordering::Release);
    write();
    seq.store(odd.wrapping_add(1), Ordering::Release);
}

/// Seqlock read: copies with `read` (relaxed atomic loads) until a copy was not overlapped by a
/// write. `None` after `attempts` overlapped copies (a writer died mid-write, or writes never
/// pause).
#[inline]
pub fn seq_read<T>(seq: &AtomicU32, attempts: u32, read: impl Fn() -> T) -> Option<T> {
    for _ in 0..attempts {
        let before = seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let value = read();
        // The copy's loads happen before the second counter load.
        fence(Ordering::Acquire);
        if seq.load(Ordering::Relaxed) == before {
            return Some(value);
        }
    }
    None
}

/// Stores `text` zero-padded into `words` (relaxed; call inside [`seq_write`]).
pub fn store_name(words: &[AtomicU64; NAME_WORDS], text: &str) {
    let mut bytes = [0u8; NAME_BYTES];
    let cut = truncate_utf8(text, NAME_BYTES);
    bytes[..cut.len()].copy_from_slice(cut.as_bytes());
    for (word, chunk) in words.iter().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        word.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
}

/// Loads a zero-padded name (relaxed; call inside [`seq_read`]).
pub fn load_name(words: &[AtomicU64; NAME_WORDS]) -> [u8; NAME_BYTES] {
    let mut bytes = [0u8; NAME_BYTES];
    for (word, chunk) in words.iter().zip(bytes.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
    bytes
}

/// Decodes a loaded name: up to the first zero byte, invalid UTF-8 replaced (the file may have
/// been written by anybody).
pub fn decode_name(bytes: &[u8; NAME_BYTES]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cut_on_char_boundaries() {
        let words: [AtomicU64; NAME_WORDS] = Default::default();
        store_name(&words, "Lead Vox");
        assert_eq!(decode_name(&load_name(&words)), "Lead Vox");
        // 63 ASCII bytes + a 2-byte char: the char does not fit and is dropped whole.
        let long = format!("{}é", "a".repeat(63));
        store_name(&words, &long);
        assert_eq!(decode_name(&load_name(&words)), "a".repeat(63));
        store_name(&words, "");
        assert_eq!(decode_name(&load_name(&words)), "");
    }

    #[test]
    fn garbage_names_decode_without_panicking() {
        let mut bytes = [0xFFu8; NAME_BYTES];
        bytes[3] = b'x';
        let text = decode_name(&bytes);
        assert!(text.contains('x'));
    }

    #[test]
    fn a_reader_gives_up_on_a_counter_left_odd() {
        let seq = AtomicU32::new(7);
        assert_eq!(seq_read(&seq, 10, || 1), None);
        // The next write carries on from the odd counter and leaves it even.
        seq_write(&seq, || {});
        assert_eq!(seq.load(Ordering::Relaxed), 8);
        assert_eq!(seq_read(&seq, 10, || 1), Some(1));
    }

    #[test]
    fn slot_layout_is_stable() {
        // The layout is shared between processes and builds: a change needs a new file name.
        assert_eq!(std::mem::align_of::<Slot>(), 64);
        // 4×8 + 6×4 + 2×64 (names) + 4 + 16×4 = 252 bytes, padded to the alignment.
        assert_eq!(std::mem::size_of::<Slot>(), 256);
    }
}
