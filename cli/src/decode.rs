//! Reading audio files (WAV, AIFF, FLAC, MP3) with symphonia, in chunks: memory stays bounded
//! for files of any length. Every failure is an error with a one-line reason, never a panic.

use anyhow::{Context, Result, anyhow, bail};
use std::fs::File;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{
    CODEC_TYPE_MP1, CODEC_TYPE_MP2, CODEC_TYPE_MP3, CODEC_TYPE_NULL, Decoder, DecoderOptions,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Most channels a file may have to be measured.
pub const MAX_CHANNELS: usize = 8;

/// An open audio file, delivering planar f32 chunks.
pub struct AudioFile {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    /// Channels.
    pub channels: usize,
    /// Sample rate (Hz).
    pub sample_rate: u32,
    /// Frames the container says the file holds, when it says.
    pub declared_frames: Option<u64>,
    /// Frames delivered so far.
    pub frames_read: u64,
    /// How many frames short of `declared_frames` still count as complete: 0 for PCM and FLAC,
    /// whose headers are exact; four MPEG frames for MP3, whose count is an estimate that
    /// includes encoder padding.
    length_slack: u64,
    /// Packets the decoder rejected as corrupt (skipped).
    pub corrupt_packets: u64,
    /// Word length of integer PCM or FLAC files (their samples lie on that grid); `None` for
    /// floating-point and lossy files.
    pub source_bits: Option<u32>,
    /// The codec's short name (`pcm_s24le`, `flac`, `mp3`, …).
    pub codec_name: &'static str,
    interleaved: Option<SampleBuffer<f32>>,
}

impl AudioFile {
    /// Opens and probes a file.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, false)
    }

    /// Opens a file; with `gapless`, MP3 encoder delay and padding (LAME's tag) are trimmed, so
    /// the decoded length is the encoded signal's.
    pub fn open_with(path: &Path, gapless: bool) -> Result<Self> {
        let file = File::open(path).context("cannot open")?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = guard(|| {
            symphonia::default::get_probe().format(
                &hint,
                mss,
                &FormatOptions {
                    enable_gapless: gapless,
                    ..FormatOptions::default()
                },
                &MetadataOptions::default(),
            )
        })?
        .map_err(|e| anyhow!("not a readable WAV, AIFF, FLAC or MP3 file ({e})"))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .context("the file has no audio track")?;
        let params = track.codec_params.clone();
        let channels = params
            .channels
            .map(|c| c.count())
            .context("the file does not say how many channels it has")?;
        if channels == 0 || channels > MAX_CHANNELS {
            bail!("{channels} channels: at most {MAX_CHANNELS} are supported");
        }
        let sample_rate = params
            .sample_rate
            .context("the file does not say its sample rate")?;
        if !(8_000..=384_000).contains(&sample_rate) {
            bail!("sample rate {sample_rate} Hz is outside 8 kHz … 384 kHz");
        }
        let decoder =
            guard(|| symphonia::default::get_codecs().make(&params, &DecoderOptions::default()))?
                .map_err(|e| anyhow!("unsupported codec ({e})"))?;
        Ok(Self {
            track_id: track.id,
            format,
            decoder,
            channels,
            sample_rate,
            declared_frames: params.n_frames,
            frames_read: 0,
            length_slack: if [CODEC_TYPE_MP1, CODEC_TYPE_MP2, CODEC_TYPE_MP3]
                .contains(&params.codec)
            {
                4 * 1152
            } else if is_aiff(path) {
                // symphonia 0.5 counts the SSND chunk's 8-byte offset/block-size header as
                // audio, so it promises up to 8 bytes' worth of frames too many.
                let frame_bytes =
                    u64::from(params.bits_per_sample.unwrap_or(8).div_ceil(8)) * channels as u64;
                8u64.div_ceil(frame_bytes.max(1))
            } else {
                0
            },
            corrupt_packets: 0,
            source_bits: integer_bits(&params),
            codec_name: symphonia::default::get_codecs()
                .get_codec(params.codec)
                .map_or("unknown", |d| d.short_name),
            interleaved: None,
        })
    }

    /// Decodes the next packet into `planar` (cleared first). Returns false at the end.
    pub fn next_chunk(&mut self, planar: &mut [Vec<f32>]) -> Result<bool> {
        for ch in planar.iter_mut() {
            ch.clear();
        }
        loop {
            let packet = match guard(|| self.format.next_packet())? {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.at_end();
                }
                Err(SymError::ResetRequired) => bail!("the stream changed format midway"),
                Err(e) => bail!("cannot read the file ({e})"),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoded = match guard(|| self.decoder.decode(&packet))? {
                Ok(d) => d,
                Err(SymError::DecodeError(_)) => {
                    // A damaged frame (common in MP3s): skip it, count it, report it.
                    self.corrupt_packets += 1;
                    continue;
                }
                Err(e) => bail!("cannot decode the file ({e})"),
            };
            let spec = *decoded.spec();
            if spec.channels.count() != self.channels {
                bail!("the channel count changed midway");
            }
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let buf = match &mut self.interleaved {
                Some(b) if b.capacity() >= decoded.capacity() * self.channels => b,
                slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
            };
            buf.copy_interleaved_ref(decoded);
            for frame in buf.samples().chunks_exact(self.channels) {
                for (ch, &s) in planar.iter_mut().zip(frame) {
                    ch.push(s);
                }
            }
            self.frames_read += frames as u64;
            return Ok(true);
        }
    }

    fn at_end(&self) -> Result<bool> {
        if let Some(declared) = self.declared_frames
            && self.frames_read + self.length_slack < declared
        {
            bail!(
                "the file is truncated: its header promises {declared} frames, it holds {}",
                self.frames_read
            );
        }
        Ok(false)
    }
}

/// The word length of integer PCM and FLAC streams.
fn integer_bits(params: &symphonia::core::codecs::CodecParameters) -> Option<u32> {
    use symphonia::core::codecs as c;
    let integer = [
        c::CODEC_TYPE_FLAC,
        c::CODEC_TYPE_PCM_S8,
        c::CODEC_TYPE_PCM_U8,
        c::CODEC_TYPE_PCM_S16LE,
        c::CODEC_TYPE_PCM_S16BE,
        c::CODEC_TYPE_PCM_S24LE,
        c::CODEC_TYPE_PCM_S24BE,
        c::CODEC_TYPE_PCM_S32LE,
        c::CODEC_TYPE_PCM_S32BE,
    ];
    if integer.contains(&params.codec) {
        params.bits_per_sample
    } else {
        None
    }
}

/// Whether the file starts like an AIFF ("FORM").
fn is_aiff(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"FORM"
}

thread_local! {
    /// Set while decoder code runs under [`guard`]: its panics become errors and print nothing.
    static IN_DECODER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs a panic hook that stays silent for panics inside [`guard`] (they are reported as
/// one-line errors) and prints every other panic as Rust normally does.
pub fn quiet_decoder_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_DECODER.with(|f| f.get()) {
            default(info);
        }
    }));
}

/// Runs decoder code, turning a panic inside it into an error: a hostile file must never take
/// the whole batch down.
fn guard<T>(f: impl FnOnce() -> T) -> Result<T> {
    IN_DECODER.with(|flag| flag.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_DECODER.with(|flag| flag.set(false));
    result.map_err(|_| anyhow!("the decoder failed on malformed data"))
}
