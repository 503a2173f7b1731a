//! DDP 2.00 filesets (Disc Description Protocol, DCA): what a CD plant cuts a glass master from.
//!
//! The DDP specification itself is licensed by DCA and not public; the layouts below were read
//! from public readers and real filesets, and every field Lathe writes is listed with its
//! source. Sources: **[A]** suntriprecords/ddpLib (Java reader whose field comments paraphrase
//! the specification: `v20/DdpIdLoader.java`, `common/AbstractMapPacketLoader.java`,
//! `common/AbstractPqDescriptorLoader.java`, `v20/DataStreamType.java`); **[B]** a real
//! 19-track fileset in mattcarp/media-modules (`file-handling/assets/DDPID`, `DDPMS`, `DDPPQ`);
//! **[C]** a real PQ descriptor hexdump (gist mzero/79677b2dd4128ec05c85574464752d8c);
//! **[D]** the public DVD Cutting Master Format specification, which reuses the map packet
//! layout (dvdforum.org, CMF2-DVD-3); **[F]** the cue2ddp / ddpinfo manuals
//! (ddp.andreasruge.de). Every field is ASCII; unused fields are spaces; text is left-justified;
//! numbers are written with leading zeros except where [B] shows right-justified spaces.
//!
//! **DDPID** (one 128-byte record) – offsets 0–92 agree in [A], [B], [D]:
//!
//! | off | len | field | written |
//! |---|---|---|---|
//! | 0 | 8 | DDPID level | `DDP 2.00` |
//! | 8 | 13 | UPC/EAN | the barcode (UPC-A with a leading 0), or spaces |
//! | 21 | 8 | MSS map stream start | spaces (file-based fileset) |
//! | 29 | 8 | MSL map stream length | DDPMS size in bytes, right-justified (`    384`, as [B]) |
//! | 37 | 1 | MED media number | space |
//! | 38 | 48 | MID master ID | the album title (ASCII, cut to 48) |
//! | 86 | 1 | BK book | space (Red Book) |
//! | 87 | 2 | TYPE | `CD` |
//! | 89 | 4 | NSIDE, SIDE, NLAYER, LAYER | spaces (DVD only) |
//! | 93 | 35 | text / reserved | spaces (readers disagree on this part; blank is safe) |
//!
//! **DDPMS** (128-byte map packets, one per stream) – [A], [B], [D]:
//!
//! | off | len | field | audio | PQ | CD-TEXT |
//! |---|---|---|---|---|---|
//! | 0 | 4 | MPV | `VVVM` | `VVVM` | `VVVM` |
//! | 4 | 2 | DST data stream type | `D0` main data | `S0` subcode | `S0` |
//! | 6 | 8 | DSP pointer | spaces | spaces | spaces |
//! | 14 | 8 | DSL length | 2352-byte sectors | bytes | bytes |
//! | 22 | 8 | DSS start sector | `00000000` | spaces | spaces |
//! | 30 | 8 | SUB subcode descriptor | spaces | `PQ DESCR` | `CDTEXT  ` |
//! | 38 | 2 | CDM CD mode | `DA` (digital audio) | spaces | spaces |
//! | 40 | 1 | SSM source storage mode | `0` (user data only, as [B]) | space | space |
//! | 41 | 1 | SCR scrambled | `0` | space | space |
//! | 42 | 4 | PRE1 | spaces | | |
//! | 46 | 4 | PRE2 pause inside the stream (sectors) | ` 150` (track 1's pause is in the image, as [B]) | | |
//! | 50 | 4 | PST | spaces | | |
//! | 54 | 1 | MED | space | | |
//! | 55 | 2 | TRK | `01` | spaces | spaces |
//! | 57 | 2 | IDX | `01` | spaces | spaces |
//! | 59 | 12 | ISRC | spaces (ISRCs are in the PQ stream) | | |
//! | 71 | 3 | SIZ length of DSI | `017` | `017` | `017` |
//! | 74 | 17 | DSI file name | `IMAGE.DAT` | `PQDESCR` | `CDTEXT.BIN` |
//! | 91 | 37 | NEW, PRE1NXT, PAUSEADD, OFS, padding | spaces | spaces | spaces |
//!
//! **PQ descriptor** (64-byte entries) – [A], [B], [C]:
//!
//! | off | len | field | written |
//! |---|---|---|---|
//! | 0 | 4 | SPV | `VVVS` |
//! | 4 | 2 | TRK | `00` lead-in, `01`…`99`, `AA` lead-out |
//! | 6 | 2 | IDX | `00`, `01` |
//! | 8 | 2 | HRS | `00` ([C]; [B] leaves it blank) |
//! | 10 | 6 | MIN SEC FRM | absolute time from the start of the image, which holds track 1's 2 s pause ([B] checks arithmetically: index 01 of track 2 = the sector where its data starts) |
//! | 16 | 2 | CB1 | `01`: Q control 0 (audio, no pre-emphasis, copy not permitted), ADR 1 |
//! | 18 | 2 | CB2 | spaces (reserved) |
//! | 20 | 12 | ISRC | the track's ISRC on each of its entries ([C]), else spaces |
//! | 32 | 13 | UPC/EAN | on the lead-in entry only ([A]: once per stream, first packet) |
//! | 45 | 19 | TXT | spaces (not recorded to disc) |
//!
//! Entries written: `00 00` at 00:00:00 (lead-in, with the UPC); per track `NN 00` at its pause
//! (when it has one; track 1 always, at 00:00:00) and `NN 01` at its start; `AA 01` at the
//! lead-out, written twice as [A] describes and [B], [C] show.
//!
//! **Audio** (`IMAGE.DAT`): 16-bit signed little-endian, left then right, 588 frames per
//! 2352-byte sector – the CD-DA sector order; [A] copies these bytes into WAV unswapped.
//! **CD-TEXT** (`CDTEXT.BIN`): raw 18-byte packs, no header ([A] reads packs from offset 0;
//! see `cdtext.rs`). **CHECKSUM.MD5**: not part of DDP; md5sum lines (`hash *NAME`) for every
//! file, the form cue2ddp writes and ddpinfo verifies [F].

use super::cdtext;
use super::layout::{Disc, FRAME_SAMPLES, msf};
use anyhow::{Result, bail};
use md5::{Digest, Md5};

pub const RECORD: usize = 128;
pub const PQ_ENTRY: usize = 64;
pub const SECTOR_BYTES: usize = 2352;
pub const IMAGE_NAME: &str = "IMAGE.DAT";
pub const PQ_NAME: &str = "PQDESCR";
pub const CDTEXT_NAME: &str = "CDTEXT.BIN";
pub const CHECKSUM_NAME: &str = "CHECKSUM.MD5";

/// Titles and performers for CD-TEXT.
pub struct Texts {
    pub album_title: String,
    pub album_performer: String,
    pub titles: Vec<String>,
    pub performers: Vec<String>,
}

/// A fileset: (file name, bytes), in the order written.
pub struct Fileset {
    pub files: Vec<(String, Vec<u8>)>,
}

/// Writes `text` into `rec[at..at + len]`, left-justified, space-padded, cut to `len`.
pub fn put(rec: &mut [u8], at: usize, len: usize, text: &str) {
    let b = text.as_bytes();
    let n = b.len().min(len);
    rec[at..at + n].copy_from_slice(&b[..n]);
}

/// Text as printable ASCII (others become `_`).
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The 13-digit form of a UPC-A or EAN-13.
pub fn ean13(upc: &str) -> String {
    format!("{upc:0>13}")
}

/// One map packet.
fn map_packet(dst: &str, dsl: usize, dss: Option<usize>, sub: &str, name: &str) -> [u8; RECORD] {
    let mut p = [b' '; RECORD];
    put(&mut p, 0, 4, "VVVM");
    put(&mut p, 4, 2, dst);
    put(&mut p, 14, 8, &format!("{dsl:08}"));
    if let Some(dss) = dss {
        put(&mut p, 22, 8, &format!("{dss:08}"));
    }
    put(&mut p, 30, 8, sub);
    if dst == "D0" {
        put(&mut p, 38, 2, "DA");
        put(&mut p, 40, 1, "0");
        put(&mut p, 41, 1, "0");
        put(&mut p, 46, 4, " 150");
        put(&mut p, 55, 2, "01");
        put(&mut p, 57, 2, "01");
    }
    put(&mut p, 71, 3, "017");
    put(&mut p, 74, 17, name);
    p
}

/// One PQ entry.
fn pq_entry(
    track: &str,
    index: u8,
    frames: usize,
    isrc: Option<&str>,
    upc: Option<&str>,
) -> [u8; PQ_ENTRY] {
    let mut e = [b' '; PQ_ENTRY];
    let (m, s, f) = msf(frames);
    put(&mut e, 0, 4, "VVVS");
    put(&mut e, 4, 2, track);
    put(&mut e, 6, 2, &format!("{index:02}"));
    put(&mut e, 8, 8, &format!("00{m:02}{s:02}{f:02}"));
    put(&mut e, 16, 2, "01");
    if let Some(i) = isrc {
        put(&mut e, 20, 12, i);
    }
    if let Some(u) = upc {
        put(&mut e, 32, 13, &ean13(u));
    }
    e
}

/// The PQ descriptor stream of a disc.
pub fn pq_stream(disc: &Disc, isrcs: &[Option<String>], upc: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&pq_entry("00", 0, 0, None, upc));
    for (i, (p, isrc)) in disc.tracks.iter().zip(isrcs).enumerate() {
        let t = format!("{:02}", i + 1);
        if p.pause < p.start {
            out.extend_from_slice(&pq_entry(&t, 0, p.pause, isrc.as_deref(), None));
        }
        out.extend_from_slice(&pq_entry(&t, 1, p.start, isrc.as_deref(), None));
    }
    for _ in 0..2 {
        out.extend_from_slice(&pq_entry("AA", 1, disc.lead_out, None, None));
    }
    out
}

/// The audio image: 16-bit little-endian stereo frames.
pub fn image_bytes(image: &[Vec<i32>]) -> Vec<u8> {
    let n = image.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(n * 4);
    for i in 0..n {
        for c in image {
            out.extend_from_slice(&(c[i] as i16).to_le_bytes());
        }
    }
    out
}

/// md5sum-style line for each file.
pub fn checksums(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = String::new();
    for (name, bytes) in files {
        let digest = Md5::digest(bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        out += &format!("{hex} *{name}\n");
    }
    out.into_bytes()
}

impl Fileset {
    /// Builds the fileset of a disc: `image` holds 16-bit steps, two channels, the disc's
    /// length.
    pub fn build(
        disc: &Disc,
        image: &[Vec<i32>],
        isrcs: &[Option<String>],
        upc: Option<&str>,
        texts: &Texts,
    ) -> Result<Fileset> {
        if image.len() != 2 || image[0].len() != disc.image_samples() {
            bail!("the CD image is not two channels of the disc's length");
        }
        let audio = image_bytes(image);
        debug_assert_eq!(audio.len(), disc.lead_out * FRAME_SAMPLES * 4);
        let pq = pq_stream(disc, isrcs, upc);
        let has_text = !texts.album_title.is_empty() || texts.titles.iter().any(|t| !t.is_empty());
        let cd_text = if has_text {
            let packs = cdtext::packs(&[
                cdtext::TextKind {
                    pack_type: cdtext::TITLE,
                    album: &texts.album_title,
                    tracks: texts.titles.iter().map(String::as_str).collect(),
                },
                cdtext::TextKind {
                    pack_type: cdtext::PERFORMER,
                    album: &texts.album_performer,
                    tracks: texts.performers.iter().map(String::as_str).collect(),
                },
            ])?;
            Some(packs.concat())
        } else {
            None
        };
        let mut ms = Vec::new();
        ms.extend_from_slice(&map_packet(
            "D0",
            audio.len() / SECTOR_BYTES,
            Some(0),
            "",
            IMAGE_NAME,
        ));
        ms.extend_from_slice(&map_packet("S0", pq.len(), None, "PQ DESCR", PQ_NAME));
        if let Some(t) = &cd_text {
            ms.extend_from_slice(&map_packet("S0", t.len(), None, "CDTEXT", CDTEXT_NAME));
        }
        let mut id = [b' '; RECORD];
        put(&mut id, 0, 8, "DDP 2.00");
        if let Some(u) = upc {
            put(&mut id, 8, 13, &ean13(u));
        }
        put(&mut id, 29, 8, &format!("{:>8}", ms.len()));
        put(&mut id, 38, 48, &ascii(&texts.album_title));
        put(&mut id, 87, 2, "CD");
        let mut files = vec![
            ("DDPID".to_string(), id.to_vec()),
            ("DDPMS".to_string(), ms),
            (IMAGE_NAME.to_string(), audio),
            (PQ_NAME.to_string(), pq),
        ];
        if let Some(t) = cd_text {
            files.push((CDTEXT_NAME.to_string(), t));
        }
        let sums = checksums(&files);
        files.push((CHECKSUM_NAME.to_string(), sums));
        Ok(Fileset { files })
    }
}
