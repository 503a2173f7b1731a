//! CD-TEXT: album and track titles and performers as the lead-in of a CD carries them, in
//! 18-byte packs (one block, English, ISO 8859-1).
//!
//! Pack layout (MMC-3 annex J "CD-TEXT", also described in cdrtools' `cdtext.c` documentation
//! and libcdio's `cdtext.c`; the three agree):
//!
//! | byte | field |
//! |---|---|
//! | 0 | pack type: 0x80 title, 0x81 performer, 0x8F size information |
//! | 1 | track number the pack's first character belongs to (0 = the album); for 0x8F the pack's index 0–2 |
//! | 2 | sequence number, 0… over all packs of the block |
//! | 3 | bit 7 double-byte characters (0 here), bits 6–4 block number (0), bits 3–0 characters of the current string already given in earlier packs (15 at most) |
//! | 4–15 | 12 bytes of text: the strings of the album and then each track, each ended by a NUL, run together across packs |
//! | 16–17 | CRC-16 of bytes 0–15: polynomial x¹⁶ + x¹² + x⁵ + 1, initial value 0, the result inverted, high byte first |
//!
//! The size-information packs (type 0x8F, three of them, 36 bytes of payload) carry: character
//! code (0x00 = ISO 8859-1), first track, last track, copyright flags, the number of packs of
//! each type 0x80…0x8F (16 bytes), the last sequence number of each of the 8 blocks (8 bytes),
//! and each block's language code (8 bytes; 0x09 = English, EBU Tech 3264 annex 3).

use anyhow::{Result, bail};

pub const PACK_BYTES: usize = 18;
pub const TITLE: u8 = 0x80;
pub const PERFORMER: u8 = 0x81;
pub const SIZE_INFO: u8 = 0x8F;
/// ISO 8859-1.
const CHARSET_ISO_8859_1: u8 = 0x00;
/// English (EBU Tech 3264).
const LANGUAGE_ENGLISH: u8 = 0x09;
/// One block holds at most 256 packs (sequence numbers are one byte).
const MAX_PACKS: usize = 256;

/// CRC-16/CCITT as CD-TEXT uses it (init 0, no reflection, result inverted).
pub fn crc(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    !crc
}

/// Text as ISO 8859-1 bytes; characters outside it are refused (the disc could not show them).
fn latin1(text: &str, what: &str) -> Result<Vec<u8>> {
    text.chars()
        .map(|c| match u32::from(c) {
            0x20..=0x7E | 0xA0..=0xFF => Ok(u32::from(c) as u8),
            _ => bail!("{what} {text:?}: {c:?} is not in ISO 8859-1, which CD-TEXT uses here"),
        })
        .collect()
}

/// The text of one pack type: the album's string, then each track's.
pub struct TextKind<'a> {
    pub pack_type: u8,
    pub album: &'a str,
    pub tracks: Vec<&'a str>,
}

/// Builds the packs of one block: titles and performers of the album and each track, then the
/// three size-information packs. Refuses text that does not fit one block.
pub fn packs(kinds: &[TextKind]) -> Result<Vec<[u8; PACK_BYTES]>> {
    let track_count = kinds.first().map_or(0, |k| k.tracks.len());
    let mut out: Vec<[u8; PACK_BYTES]> = Vec::new();
    let mut counts = [0u8; 16];
    for kind in kinds {
        let mut strings = vec![latin1(kind.album, "album text")?];
        for t in &kind.tracks {
            strings.push(latin1(t, "track text")?);
        }
        // Every byte of the stream with the track it belongs to and its position in its string.
        let mut stream: Vec<(u8, u8, usize)> = Vec::new();
        for (track, s) in strings.iter().enumerate() {
            for (pos, &b) in s.iter().chain(std::iter::once(&0u8)).enumerate() {
                stream.push((b, track as u8, pos));
            }
        }
        for chunk in stream.chunks(12) {
            let (_, track, pos) = chunk[0];
            let mut p = [0u8; PACK_BYTES];
            p[0] = kind.pack_type;
            p[1] = track;
            p[2] = out.len().min(255) as u8;
            p[3] = pos.min(15) as u8;
            for (i, &(b, _, _)) in chunk.iter().enumerate() {
                p[4 + i] = b;
            }
            out.push(p);
            counts[usize::from(kind.pack_type & 0x0F)] += 1;
        }
    }
    counts[usize::from(SIZE_INFO & 0x0F)] = 3;
    if out.len() + 3 > MAX_PACKS {
        bail!(
            "the titles and performers need {} CD-TEXT packs; one block holds {MAX_PACKS}",
            out.len() + 3
        );
    }
    let last_sequence = (out.len() + 2) as u8;
    let mut info = [0u8; 36];
    info[0] = CHARSET_ISO_8859_1;
    info[1] = 1;
    info[2] = track_count as u8;
    info[3] = 0; // no copyright flags
    info[4..20].copy_from_slice(&counts);
    info[20] = last_sequence; // block 0; blocks 1–7 unused
    info[28] = LANGUAGE_ENGLISH;
    for (i, part) in info.chunks(12).enumerate() {
        let mut p = [0u8; PACK_BYTES];
        p[0] = SIZE_INFO;
        p[1] = i as u8;
        p[2] = out.len() as u8;
        p[3] = 0;
        p[4..16].copy_from_slice(part);
        out.push(p);
    }
    for p in &mut out {
        let c = crc(&p[..16]);
        p[16..18].copy_from_slice(&c.to_be_bytes());
    }
    Ok(out)
}

/// What a CD-TEXT stream says: per pack type, the album's string and each track's.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub titles: Vec<String>,
    pub performers: Vec<String>,
    /// Packs whose CRC does not match (their sequence numbers).
    pub bad_crc: Vec<u8>,
}

/// Reads packs back (for `lathe ddp-check`): checks every CRC and splits the strings.
pub fn parse(bytes: &[u8]) -> Result<Parsed> {
    if !bytes.len().is_multiple_of(PACK_BYTES) {
        bail!(
            "CD-TEXT stream of {} bytes is not a whole number of 18-byte packs",
            bytes.len()
        );
    }
    let mut parsed = Parsed::default();
    let mut titles: Vec<u8> = Vec::new();
    let mut performers: Vec<u8> = Vec::new();
    for p in bytes.chunks(PACK_BYTES) {
        if crc(&p[..16]) != u16::from_be_bytes([p[16], p[17]]) {
            parsed.bad_crc.push(p[2]);
        }
        match p[0] {
            TITLE => titles.extend_from_slice(&p[4..16]),
            PERFORMER => performers.extend_from_slice(&p[4..16]),
            _ => {}
        }
    }
    let split = |b: &[u8]| -> Vec<String> {
        let mut v: Vec<String> = b
            .split(|&c| c == 0)
            .map(|s| s.iter().map(|&c| char::from(c)).collect())
            .collect();
        // The stream ends with the last string's NUL and zero padding.
        while v.last().is_some_and(String::is_empty) {
            v.pop();
        }
        v
    };
    // A TAB stands for "the same as the previous track" (MMC-3 annex J).
    let same_as_before = |mut v: Vec<String>| {
        for i in 1..v.len() {
            if v[i] == "\t" {
                v[i] = v[i - 1].clone();
            }
        }
        v
    };
    parsed.titles = same_as_before(split(&titles));
    parsed.performers = same_as_before(split(&performers));
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_ccitt_check_value() {
        // CRC-16/XMODEM (poly 0x1021, init 0) of "123456789" is 0x31C3; CD-TEXT inverts it.
        assert_eq!(crc(b"123456789"), !0x31C3);
    }

    #[test]
    fn packs_round_trip_and_a_flipped_bit_is_caught() {
        let kinds = [
            TextKind {
                pack_type: TITLE,
                album: "Night Drive",
                tracks: vec!["Intro", "A much longer title than twelve bytes"],
            },
            TextKind {
                pack_type: PERFORMER,
                album: "The Lathes",
                tracks: vec!["The Lathes", "Guest"],
            },
        ];
        let built = packs(&kinds).unwrap();
        let bytes: Vec<u8> = built.iter().flatten().copied().collect();
        let back = parse(&bytes).unwrap();
        assert_eq!(
            back.titles,
            [
                "Night Drive",
                "Intro",
                "A much longer title than twelve bytes"
            ]
        );
        assert_eq!(back.performers, ["The Lathes", "The Lathes", "Guest"]);
        assert!(back.bad_crc.is_empty());
        // Sequence numbers run 0… and the last size pack gives the last one.
        for (i, p) in built.iter().enumerate() {
            assert_eq!(usize::from(p[2]), i);
        }
        let size = &built[built.len() - 3..];
        assert_eq!(usize::from(size[1][4 + 8]), built.len() - 1);
        let mut broken = bytes.clone();
        broken[18 * 2 + 5] ^= 1;
        assert_eq!(parse(&broken).unwrap().bad_crc, vec![2]);
        assert!(
            packs(&[TextKind {
                pack_type: TITLE,
                album: "日本",
                tracks: vec![]
            }])
            .is_err()
        );
    }
}
