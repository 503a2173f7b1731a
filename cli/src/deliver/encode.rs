//! Writing deliverables: WAV (with BWF `bext`, RIFF `LIST/INFO` and an `id3 ` chunk), FLAC
//! (flacenc, Vorbis comments through lofty) and MP3 (LAME 320 kb/s CBR with its Info/LAME tag,
//! ID3v2.4 through lofty). Every writer returns the bytes; the caller writes them under a
//! temporary name.

use super::meta::Metadata;
use anyhow::{Context, Result, anyhow, bail};
use lofty::config::WriteOptions;
use lofty::tag::{Accessor, ItemKey, Tag, TagExt, TagType};

/// Loudness figures for the BWF `bext` chunk (EBU Tech 3285 v2).
#[derive(Debug, Clone, Copy)]
pub struct BextLoudness {
    pub integrated_lufs: f64,
    pub range_lu: f64,
    pub true_peak_dbtp: f64,
    pub momentary_max_lufs: f64,
    pub short_term_max_lufs: f64,
}

impl From<&super::render::Reading> for BextLoudness {
    /// The figures of a measurement.
    fn from(r: &super::render::Reading) -> Self {
        Self {
            integrated_lufs: r.loudness.integrated_lufs,
            range_lu: r.loudness.loudness_range_lu,
            true_peak_dbtp: r.true_peak_max_dbtp,
            momentary_max_lufs: r.loudness.momentary_max_lufs,
            short_term_max_lufs: r.loudness.short_term_max_lufs,
        }
    }
}

/// A generic tag filled from the metadata; lofty maps its keys to each format's own frames
/// (ID3v2: TIT2 TPE1 TALB TRCK TDRC TSRC TCOM, TXXX:BARCODE; Vorbis: TITLE ARTIST ALBUM
/// TRACKNUMBER TRACKTOTAL DATE ISRC COMPOSER BARCODE).
fn tag_of(meta: &Metadata, kind: TagType) -> Tag {
    let mut tag = Tag::new(kind);
    if let Some(v) = &meta.title {
        tag.set_title(v.clone());
    }
    if let Some(v) = &meta.artist {
        tag.set_artist(v.clone());
    }
    if let Some(v) = &meta.album {
        tag.set_album(v.clone());
    }
    if let Some((n, m)) = meta.track_numbers() {
        tag.set_track(n);
        if let Some(m) = m {
            tag.set_track_total(m);
        }
    }
    if let Some(v) = &meta.year {
        tag.insert_text(ItemKey::RecordingDate, v.clone());
    }
    if let Some(v) = &meta.isrc {
        tag.insert_text(ItemKey::Isrc, v.clone());
    }
    if let Some(v) = &meta.upc {
        tag.insert_text(ItemKey::Barcode, v.clone());
    }
    if let Some(v) = &meta.composer {
        tag.insert_text(ItemKey::Composer, v.clone());
    }
    tag.insert_text(
        ItemKey::EncoderSoftware,
        format!("Lathe {}", env!("CARGO_PKG_VERSION")),
    );
    tag
}

/// An ID3v2.4 tag as bytes (for MP3 files and the WAV `id3 ` chunk).
fn id3v2_bytes(meta: &Metadata) -> Result<Vec<u8>> {
    let tag = lofty::id3::v2::Id3v2Tag::from(tag_of(meta, TagType::Id3v2));
    let mut out = Vec::new();
    tag.dump_to(&mut out, WriteOptions::default())
        .map_err(|e| anyhow!("cannot build the ID3v2 tag ({e})"))?;
    Ok(out)
}

/// One RIFF chunk, padded to an even length.
fn chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

/// A fixed-width ASCII field, NUL-padded (non-ASCII characters become '?').
fn fixed(out: &mut Vec<u8>, text: &str, width: usize) {
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .take(width)
        .collect();
    out.extend_from_slice(&bytes);
    out.extend(std::iter::repeat_n(0u8, width - bytes.len()));
}

/// Loudness in hundredths for `bext` (0x7fff where unknown, as Tech 3285 v2 asks).
fn centi(v: f64) -> i16 {
    if v.is_finite() {
        (v * 100.0).round().clamp(-32_767.0, 32_766.0) as i16
    } else {
        0x7fff
    }
}

/// The `bext` chunk body (EBU Tech 3285 v2): Description 256, Originator 32,
/// OriginatorReference 32, OriginationDate 10, OriginationTime 8, TimeReference 2×u32,
/// Version u16 = 2, UMID 64, five loudness values as i16 hundredths, 180 reserved bytes, then
/// CodingHistory. The ISRC goes at the start of Description tagged `ISRC:` (EBU Tech 3352,
/// identifiers in BWF).
fn bext(meta: &Metadata, loudness: &BextLoudness, history: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(602 + history.len());
    let mut description = String::new();
    if let Some(isrc) = &meta.isrc {
        description.push_str(&format!("ISRC:{isrc}"));
    }
    if let Some(t) = &meta.title {
        if !description.is_empty() {
            description.push_str("\r\n");
        }
        description.push_str(t);
    }
    fixed(&mut b, &description, 256);
    fixed(&mut b, "Lathe", 32);
    fixed(&mut b, "", 32);
    let (date, time) = utc_now();
    fixed(&mut b, &date, 10);
    fixed(&mut b, &time, 8);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend(std::iter::repeat_n(0u8, 64));
    for v in [
        loudness.integrated_lufs,
        loudness.range_lu,
        loudness.true_peak_dbtp,
        loudness.momentary_max_lufs,
        loudness.short_term_max_lufs,
    ] {
        b.extend_from_slice(&centi(v).to_le_bytes());
    }
    b.extend(std::iter::repeat_n(0u8, 180));
    b.extend_from_slice(history.as_bytes());
    // An even length, NUL-terminating the history: RIFF pads odd chunks with a byte outside the
    // chunk, which some readers (hound 3.5) do not skip.
    if b.len() % 2 == 1 {
        b.push(0);
    }
    b
}

/// Today's UTC date `yyyy-mm-dd` and time `hh:mm:ss` (civil-from-days, proleptic Gregorian).
fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// RIFF `LIST/INFO`: INAM title, IART artist, IPRD album, ICRD year, IPRT track (ffmpeg and
/// most players read these), IMUS composer (not in the 1991 RIFF list, which has no composer;
/// ExifTool and lofty read it), ISFT software. The ISRC is not put in INFO:
/// the RIFF `ISRC` field means "source", not the recording code.
fn list_info(meta: &Metadata) -> Vec<u8> {
    let mut body = b"INFO".to_vec();
    let track = meta.track_numbers().map(|(n, m)| match m {
        Some(m) => format!("{n}/{m}"),
        None => n.to_string(),
    });
    let software = format!("Lathe {}", env!("CARGO_PKG_VERSION"));
    for (id, v) in [
        (b"INAM", meta.title.as_deref()),
        (b"IART", meta.artist.as_deref()),
        (b"IPRD", meta.album.as_deref()),
        (b"ICRD", meta.year.as_deref()),
        (b"IPRT", track.as_deref()),
        (b"IMUS", meta.composer.as_deref()),
        (b"ISFT", Some(software.as_str())),
    ] {
        if let Some(v) = v {
            let mut text = v.as_bytes().to_vec();
            text.push(0);
            chunk(&mut body, id, &text);
        }
    }
    body
}

/// A WAV file: `fmt ` (PCM), `bext`, `data`, `LIST/INFO`, `id3 `. `samples` are integer steps
/// at `bits` (16 or 24).
pub fn wav(
    samples: &[Vec<i32>],
    rate_hz: u32,
    bits: u32,
    meta: &Metadata,
    loudness: &BextLoudness,
    history: &str,
) -> Result<Vec<u8>> {
    let channels = samples.len();
    let frames = samples.first().map_or(0, Vec::len);
    let bytes_per_sample = (bits / 8) as usize;
    let data_len = frames * channels * bytes_per_sample;
    let bext = bext(meta, loudness, history);
    let info = list_info(meta);
    let id3 = id3v2_bytes(meta)?;
    // RIFF sizes are 32-bit: "WAVE", five chunk headers, bodies and pad bytes.
    let riff_len = 4 + 5 * 8 + 16 + bext.len() + data_len + info.len() + id3.len() + 3;
    if riff_len > u32::MAX as usize {
        bail!("the WAV would pass 4 GiB (RIFF's limit): deliver a shorter master or FLAC");
    }
    let mut fmt = Vec::with_capacity(16);
    fmt.extend_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM (BWF requires it)
    fmt.extend_from_slice(&(channels as u16).to_le_bytes());
    fmt.extend_from_slice(&rate_hz.to_le_bytes());
    let block_align = (channels * bytes_per_sample) as u32;
    fmt.extend_from_slice(&(rate_hz * block_align).to_le_bytes());
    fmt.extend_from_slice(&(block_align as u16).to_le_bytes());
    fmt.extend_from_slice(&(bits as u16).to_le_bytes());

    let mut data = Vec::with_capacity(data_len);
    for i in 0..frames {
        for c in samples {
            let s = c[i].to_le_bytes();
            data.extend_from_slice(&s[..bytes_per_sample]);
        }
    }
    let mut body = b"WAVE".to_vec();
    chunk(&mut body, b"fmt ", &fmt);
    chunk(&mut body, b"bext", &bext);
    chunk(&mut body, b"data", &data);
    chunk(&mut body, b"LIST", &info);
    chunk(&mut body, b"id3 ", &id3);
    let mut out = Vec::with_capacity(body.len() + 8);
    chunk(&mut out, b"RIFF", &body);
    Ok(out)
}

/// Highest rate flacenc 0.5 accepts in its STREAMINFO check; FLAC itself stores rates up to
/// 1 048 575 Hz (RFC 9639 §8.2).
const FLACENC_MAX_RATE_HZ: u32 = 96_000;

/// A FLAC stream without tags ([`tag_flac`] adds the Vorbis comments once it is on disk):
/// flacenc with LPC, constant and verbatim subframes and MD5 of the audio in STREAMINFO.
///
/// Two flacenc 0.5 limits are worked around here, both measured: its fixed-predictor subframes
/// blow up on loud high-entropy 24-bit audio (dithered, limited noise: 146 MB instead of 3.5 MB
/// for 12 s, which symphonia then cannot read), so fixed prediction is off (LPC covers it); and
/// it refuses rates above 96 kHz, so such streams are encoded as 96 kHz and the true rate is
/// written into STREAMINFO and every frame header (rate code 0000, "from STREAMINFO"), with
/// the header CRC-8 and frame CRC-16 recomputed. Sample values and MD5 do not depend on the rate.
pub fn flac(samples: &[Vec<i32>], rate_hz: u32, bits: u32) -> Result<Vec<u8>> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let channels = samples.len();
    let frames = samples.first().map_or(0, Vec::len);
    let mut interleaved = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        for c in samples {
            interleaved.push(c[i]);
        }
    }
    let mut config = flacenc::config::Encoder::default();
    config.subframe_coding.use_fixed = false;
    config.subframe_coding.qlpc.lpc_order = 8;
    let config = config
        .into_verified()
        .map_err(|e| anyhow!("FLAC encoder configuration ({e:?})"))?;
    let encode_rate = rate_hz.min(FLACENC_MAX_RATE_HZ);
    let source = flacenc::source::MemSource::from_samples(
        &interleaved,
        channels,
        bits as usize,
        encode_rate as usize,
    );
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| anyhow!("FLAC encoding failed ({e:?})"))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream
        .write(&mut sink)
        .map_err(|e| anyhow!("FLAC writing failed ({e:?})"))?;
    let mut bytes = sink.as_slice().to_vec();
    fix_min_blocksize(&mut bytes);
    if rate_hz != encode_rate {
        let mut lengths = Vec::with_capacity(stream.frame_count());
        for n in 0..stream.frame_count() {
            let mut s = flacenc::bitsink::ByteSink::new();
            if let Some(f) = stream.frame(n) {
                f.write(&mut s)
                    .map_err(|e| anyhow!("FLAC writing failed ({e:?})"))?;
            }
            lengths.push(s.as_slice().len());
        }
        set_flac_rate(&mut bytes, rate_hz, &lengths)?;
    }
    let raw = frames * channels * (bits as usize / 8);
    if bytes.len() > raw + raw / 20 + 65_536 {
        bail!(
            "the FLAC encoder produced {} bytes for {raw} bytes of audio",
            bytes.len()
        );
    }
    Ok(bytes)
}

/// flacenc 0.5 writes the short last block's size as STREAMINFO's minimum block size; RFC 9639
/// §8.2 says the minimum excludes the last block, and readers (symphonia) take a minimum below
/// the maximum to mean a variable-block-size stream and fail. The frames are encoded with one
/// fixed size, so the minimum is set to the maximum.
fn fix_min_blocksize(bytes: &mut [u8]) {
    // "fLaC", then the STREAMINFO header (type 0, 3-byte length 34), then min and max (u16 BE).
    if bytes.len() >= 12 && &bytes[0..4] == b"fLaC" && bytes[4] & 0x7f == 0 {
        let min = u16::from_be_bytes([bytes[8], bytes[9]]);
        let max = u16::from_be_bytes([bytes[10], bytes[11]]);
        if min < max {
            bytes.copy_within(10..12, 8);
        }
    }
}

/// CRC-8 of FLAC frame headers (polynomial x⁸ + x² + x + 1, initial 0).
fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in data {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// CRC-16 of FLAC frames (polynomial x¹⁶ + x¹⁵ + x² + 1, initial 0).
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Writes `rate_hz` into STREAMINFO and every frame header of a FLAC stream whose frames have
/// the byte `lengths` given (RFC 9639 §8.2 STREAMINFO, §9.1 frame header).
fn set_flac_rate(bytes: &mut [u8], rate_hz: u32, lengths: &[usize]) -> Result<()> {
    if bytes.len() < 42 || &bytes[0..4] != b"fLaC" || bytes[4] & 0x7f != 0 {
        bail!("not a FLAC stream starting with STREAMINFO");
    }
    // STREAMINFO body at 8: the rate is the 20 bits from body byte 10.
    bytes[18] = (rate_hz >> 12) as u8;
    bytes[19] = (rate_hz >> 4) as u8;
    bytes[20] = (bytes[20] & 0x0f) | (((rate_hz & 0x0f) as u8) << 4);
    // Skip the metadata blocks to the first frame.
    let mut pos = 4;
    loop {
        let header = *bytes.get(pos).context("FLAC metadata runs past the end")?;
        let len = usize::from(bytes[pos + 1]) << 16
            | usize::from(bytes[pos + 2]) << 8
            | usize::from(bytes[pos + 3]);
        pos += 4 + len;
        if header & 0x80 != 0 {
            break;
        }
    }
    for &len in lengths {
        let frame = bytes
            .get_mut(pos..pos + len)
            .context("FLAC frames run past the end")?;
        if frame.len() < 8 || frame[0] != 0xff || frame[1] & 0xfe != 0xf8 {
            bail!("no FLAC frame sync where one was expected");
        }
        // Rate code (low nibble of byte 2) → 0000, "from STREAMINFO": no extra bytes, before or after.
        let block_code = frame[2] >> 4;
        if !matches!(frame[2] & 0x0f, 0b0000..=0b1011) {
            bail!("unexpected FLAC rate code in a frame header");
        }
        frame[2] &= 0xf0;
        // Coded frame number: UTF-8-like, length from its first byte's leading ones.
        let number_len = match frame[4].leading_ones() {
            0 => 1,
            n @ 2..=7 => n as usize,
            _ => bail!("bad coded number in a FLAC frame header"),
        };
        let extra = match block_code {
            0b0110 => 1,
            0b0111 => 2,
            _ => 0,
        };
        let header_len = 4 + number_len + extra;
        frame[header_len] = crc8(&frame[..header_len]);
        let crc = crc16(&frame[..len - 2]);
        frame[len - 2..].copy_from_slice(&crc.to_be_bytes());
        pos += len;
    }
    if pos != bytes.len() {
        bail!("FLAC frame lengths do not add up to the stream");
    }
    Ok(())
}

/// Adds Vorbis comments to a FLAC file on disk.
pub fn tag_flac(path: &std::path::Path, meta: &Metadata) -> Result<()> {
    use lofty::file::TaggedFileExt;
    let mut file = lofty::read_from_path(path).context("cannot reopen the FLAC to tag it")?;
    file.insert_tag(tag_of(meta, TagType::VorbisComments));
    lofty::file::AudioFile::save_to_path(&file, path, WriteOptions::default())
        .context("cannot write the FLAC's Vorbis comments")?;
    Ok(())
}

/// An MP3: LAME, MPEG-1 Layer III 320 kb/s CBR, joint stereo, quality 3 (LAME's default), with
/// the Info/LAME tag frame (encoder delay and padding, so decoders trim to the exact length) and
/// an ID3v2.4 tag.
/// LAME reserves the tag's frame at the start of the stream when encoding begins; after the
/// flush its final bytes replace that reserved frame in place.
pub fn mp3(signal: &[Vec<f32>], rate_hz: u32, meta: &Metadata) -> Result<Vec<u8>> {
    use mp3lame_encoder::{Bitrate, Builder, DualPcm, FlushGap, Mode, MonoPcm, Quality};
    let channels = signal.len();
    let lame = |e: mp3lame_encoder::BuildError| anyhow!("LAME: {e:?}");
    let mut builder = Builder::new().context("cannot start LAME")?;
    builder.set_num_channels(channels as u8).map_err(lame)?;
    builder.set_sample_rate(rate_hz).map_err(lame)?;
    builder.set_brate(Bitrate::Kbps320).map_err(lame)?;
    builder
        .set_mode(if channels == 1 {
            Mode::Mono
        } else {
            Mode::JointStereo
        })
        .map_err(lame)?;
    builder.set_quality(Quality::VeryNice).map_err(lame)?;
    builder.set_to_write_vbr_tag(true).map_err(lame)?;
    let mut encoder = builder.build().map_err(lame)?;
    let frames = signal.first().map_or(0, Vec::len);
    let mut stream = Vec::with_capacity(frames / 3 + 16_384);
    let enc = |e: mp3lame_encoder::EncodeError| anyhow!("LAME: {e:?}");
    for start in (0..frames).step_by(1152 * 16) {
        let end = (start + 1152 * 16).min(frames);
        stream.reserve(mp3lame_encoder::max_required_buffer_size(end - start));
        if channels == 1 {
            encoder
                .encode_to_vec(MonoPcm(&signal[0][start..end]), &mut stream)
                .map_err(enc)?;
        } else {
            encoder
                .encode_to_vec(
                    DualPcm {
                        left: &signal[0][start..end],
                        right: &signal[1][start..end],
                    },
                    &mut stream,
                )
                .map_err(enc)?;
        }
    }
    stream.reserve(7200);
    encoder.flush_to_vec::<FlushGap>(&mut stream).map_err(enc)?;
    let mut tag_frame = Vec::with_capacity(encoder.lame_tag_size());
    encoder
        .lame_tag_encode_to_vec(&mut tag_frame)
        .context("LAME did not give its Info tag")?;
    if tag_frame.len() > stream.len() || !tag_frame.windows(4).any(|w| w == b"Info") {
        bail!("LAME's Info tag frame is missing or malformed");
    }
    stream[..tag_frame.len()].copy_from_slice(&tag_frame);
    let mut out = id3v2_bytes(meta)?;
    out.extend_from_slice(&stream);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bext_layout() {
        let meta = Metadata {
            isrc: Some("GBAAA2600001".into()),
            title: Some("Song".into()),
            ..Metadata::default()
        };
        let l = BextLoudness {
            integrated_lufs: -14.02,
            range_lu: 6.5,
            true_peak_dbtp: -1.1,
            momentary_max_lufs: f64::NEG_INFINITY,
            short_term_max_lufs: -10.0,
        };
        let b = bext(&meta, &l, "A=PCM,F=44100,W=16,M=stereo,T=Lathe\r\n");
        // Offsets from EBU Tech 3285 v2: Version at 346, UMID 348..412, loudness at 412.
        assert_eq!(&b[0..17], b"ISRC:GBAAA2600001");
        assert_eq!(&b[256..261], b"Lathe");
        assert_eq!(u16::from_le_bytes([b[346], b[347]]), 2);
        assert_eq!(i16::from_le_bytes([b[412], b[413]]), -1402);
        assert_eq!(i16::from_le_bytes([b[414], b[415]]), 650);
        assert_eq!(i16::from_le_bytes([b[416], b[417]]), -110);
        assert_eq!(i16::from_le_bytes([b[418], b[419]]), 0x7fff);
        assert_eq!(&b[602..607], b"A=PCM");
        let (date, time) = utc_now();
        assert_eq!((date.len(), time.len()), (10, 8));
    }
}

#[cfg(test)]
mod flac_tests {
    use super::*;

    /// CRC check values of the two FLAC polynomials for "123456789" (CRC-8/SMBUS 0xF4,
    /// CRC-16/UMTS 0xFEE8, from the CRC catalogue).
    #[test]
    fn crcs() {
        assert_eq!(crc8(b"123456789"), 0xf4);
        assert_eq!(crc16(b"123456789"), 0xfee8);
    }

    #[test]
    fn rates_above_96k_and_loud_noise() {
        let mut x: u64 = 1;
        let noise: Vec<i32> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as i32) - (1 << 23)
            })
            .collect();
        for rate in [44_100u32, 192_000, 384_000] {
            let bytes = flac(&[noise.clone(), noise.clone()], rate, 24).unwrap();
            assert!(bytes.len() < 40_000 * 2 * 3 + 8192, "{} bytes", bytes.len());
            // STREAMINFO's rate field.
            let stored =
                u32::from(bytes[18]) << 12 | u32::from(bytes[19]) << 4 | u32::from(bytes[20]) >> 4;
            assert_eq!(stored, rate);
        }
    }
}
