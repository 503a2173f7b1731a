//! The signal path of one deliverable before encoding: read the master, convert the rate, hold
//! the true-peak ceiling at the output rate, and measure.

use crate::decode::AudioFile;
use anyhow::{Context, Result, bail};
use lathe_dsp::limiter::TruePeakLimiter;
use lathe_dsp::loudness::{LoudnessMeter, LoudnessReading};
use lathe_dsp::true_peak::TruePeakMeter;
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// A whole signal in memory, planar, f64.
#[derive(Clone)]
pub struct Signal {
    pub rate_hz: u32,
    pub channels: Vec<Vec<f64>>,
}

impl Signal {
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.rate_hz)
    }
}

/// The master as read.
pub struct Master {
    pub signal: Signal,
    /// Word length of an integer PCM / FLAC master; `None` for float or lossy.
    pub source_bits: Option<u32>,
    pub codec_name: &'static str,
}

/// Reads the whole master. Refuses what cannot be delivered (more than 2 channels, damaged
/// packets, truncation, non-finite samples).
pub fn read_master(path: &std::path::Path) -> Result<Master> {
    let mut file = AudioFile::open(path)?;
    if file.channels > 2 {
        bail!(
            "{} channels: deliverables are mono or stereo",
            file.channels
        );
    }
    // Sized for the length the header declares, so a long master is not copied as it grows:
    // capped at 2^25 frames (256 MiB a channel; a longer file just grows), and only where
    // the memory can be had (a hostile header gets an empty buffer, not an abort).
    let declared = file.declared_frames.unwrap_or(0).min(1 << 25) as usize;
    let mut channels: Vec<Vec<f64>> = (0..file.channels)
        .map(|_| {
            let mut c = Vec::new();
            c.try_reserve_exact(declared).ok();
            c
        })
        .collect();
    let mut planar = vec![Vec::new(); file.channels];
    while file.next_chunk(&mut planar)? {
        for (all, chunk) in channels.iter_mut().zip(&planar) {
            all.extend(chunk.iter().map(|&s| f64::from(s)));
        }
    }
    if file.corrupt_packets > 0 {
        bail!(
            "{} damaged packets: the master is not intact",
            file.corrupt_packets
        );
    }
    if channels.iter().flatten().any(|s| !s.is_finite()) {
        bail!("the master holds NaN or infinite samples");
    }
    if channels.first().is_none_or(Vec::is_empty) {
        bail!("the master holds no audio");
    }
    Ok(Master {
        signal: Signal {
            rate_hz: file.sample_rate,
            channels,
        },
        source_bits: file.source_bits,
        codec_name: file.codec_name,
    })
}

/// Frames per resampler chunk: long FFTs make a long, steep anti-aliasing filter (rubato's
/// FFT resampler filters with a windowed sinc as long as its input FFT).
const RESAMPLE_CHUNK_FRAMES: usize = 8192;

/// Converts the rate with rubato's synchronous FFT resampler (one sub-chunk per chunk, so the
/// whole FFT length is filter; Blackman-Harris² window). The output is time-aligned with the
/// input (the resampler's delay is removed) and exactly ⌈len · out/in⌉ frames long.
pub fn resample(signal: &Signal, to_hz: u32) -> Result<Signal> {
    if signal.rate_hz == to_hz {
        return Ok(signal.clone());
    }
    let from = signal.rate_hz as usize;
    let to = to_hz as usize;
    let g = gcd(from, to);
    let unit = from / g;
    let chunk = unit * RESAMPLE_CHUNK_FRAMES.div_ceil(unit);
    let channels = signal.channels.len();
    let mut resampler = Fft::<f64>::new_custom(
        from,
        to,
        chunk,
        1,
        channels,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .context("cannot set up the sample-rate converter")?;
    let frames = signal.frames();
    let input = SequentialSliceOfVecs::new(&signal.channels, channels, frames)
        .context("resampler input")?;
    let needed = resampler.process_all_needed_output_len(frames);
    let mut out = vec![vec![0.0f64; needed]; channels];
    let mut output =
        SequentialSliceOfVecs::new_mut(&mut out, channels, needed).context("resampler output")?;
    let (_, produced) = resampler
        .process_all_into_buffer(&input, &mut output, frames, None)
        .context("sample-rate conversion failed")?;
    // ⌈frames · to / from⌉ in integers: rubato computes it in f64 and can give one more
    // (1 323 000 frames at 44.1 → 48 kHz: 1 440 001 instead of 1 440 000).
    let exact = (frames as u64 * to as u64).div_ceil(from as u64) as usize;
    if produced < exact {
        bail!("the sample-rate converter gave {produced} frames, {exact} were due");
    }
    for c in &mut out {
        c.truncate(exact);
    }
    Ok(Signal {
        rate_hz: to_hz,
        channels: out,
    })
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// What a deliverable is judged by: BS.1770 loudness, true peak (Lathe's meter, as `lathe
/// analyze` and Lathe Meter read it) and sample peak. The analyzer's QC and stereo work is left
/// out: it would triple the time of a delivery.
pub struct Reading {
    pub loudness: LoudnessReading,
    pub true_peak_max_dbtp: f64,
    pub sample_peak_max_dbfs: f64,
    /// Peak-to-loudness ratio (true peak − integrated, dB).
    pub plr_db: f64,
}

/// Measures a signal; with `with_history`, momentary and short-term loudness every 100 ms.
pub fn measure(signal: &Signal, with_history: bool) -> Measured {
    let mut m = Measurer::new(signal.rate_hz, signal.channels.len(), with_history);
    m.push_with(&signal.channels, |s| s as f32);
    m.finish()
}

/// [`measure`] fed piece by piece (a file as it is read back): the meters see the same 100 ms
/// blocks however the pieces are cut, so the result equals `measure` of the whole signal.
pub struct Measurer {
    rate: f64,
    block: usize,
    loudness: LoudnessMeter,
    true_peak: Vec<TruePeakMeter>,
    buf: Vec<Vec<f32>>,
    history: Option<Vec<(f64, f64, f64)>>,
    sample_peak: f32,
    frames: usize,
}

impl Measurer {
    pub fn new(rate_hz: u32, channels: usize, with_history: bool) -> Self {
        let rate = f64::from(rate_hz);
        let block = (rate_hz as usize / 10).max(1);
        Self {
            rate,
            block,
            loudness: LoudnessMeter::new(rate, channels),
            true_peak: (0..channels).map(|_| TruePeakMeter::new(rate)).collect(),
            buf: vec![Vec::with_capacity(block); channels],
            history: with_history.then(Vec::new),
            sample_peak: 0.0,
            frames: 0,
        }
    }

    /// Adds frames (planar, every channel the same length).
    pub fn push(&mut self, chunk: &[Vec<f32>]) {
        self.push_with(chunk, |s| s);
    }

    /// Adds frames of any sample type, each converted to f32 by `to_f32` as it is taken in.
    pub fn push_with<T: Copy>(&mut self, chunk: &[Vec<T>], to_f32: impl Fn(T) -> f32) {
        let n = chunk.first().map_or(0, Vec::len);
        let mut at = 0;
        while at < n {
            let have = self.buf.first().map_or(0, Vec::len);
            let take = (self.block - have).min(n - at);
            for (b, c) in self.buf.iter_mut().zip(chunk) {
                b.extend(c[at..at + take].iter().map(|&s| to_f32(s)));
            }
            at += take;
            if have + take == self.block {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        let n = self.buf.first().map_or(0, Vec::len);
        if n == 0 {
            return;
        }
        for (b, tp) in self.buf.iter().zip(&mut self.true_peak) {
            self.sample_peak = b.iter().fold(self.sample_peak, |m, s| m.max(s.abs()));
            tp.process(b);
        }
        self.loudness.process(&self.buf);
        self.frames += n;
        if let Some(h) = &mut self.history {
            h.push((
                self.frames as f64 / self.rate,
                self.loudness.momentary_lufs(),
                self.loudness.short_term_lufs(),
            ));
        }
        for b in &mut self.buf {
            b.clear();
        }
    }

    pub fn finish(mut self) -> Measured {
        self.flush();
        let tp = self
            .true_peak
            .iter_mut()
            .map(|m| m.finish())
            .fold(0.0f32, f32::max);
        let db = |v: f32| 20.0 * f64::from(v).log10();
        let reading = self.loudness.reading();
        Measured {
            report: Reading {
                plr_db: db(tp) - reading.integrated_lufs,
                loudness: reading,
                true_peak_max_dbtp: db(tp),
                sample_peak_max_dbfs: db(self.sample_peak),
            },
            history: self.history.unwrap_or_default(),
        }
    }
}

/// A measurement and, when asked for, loudness over time.
pub struct Measured {
    pub report: Reading,
    /// (time s, momentary LUFS, short-term LUFS) every 100 ms.
    pub history: Vec<(f64, f64, f64)>,
}

/// Lookahead of the re-limiter (ms): Lathe Master's default.
const RELIMIT_LOOKAHEAD_MS: f32 = 1.5;

/// Holds a true-peak ceiling with Lathe's limiter (no drive: only overs are reduced),
/// latency removed so the output lines up with the input sample for sample.
pub fn limit(signal: &Signal, ceiling_dbtp: f64) -> Signal {
    let channels = signal.channels.len();
    let mut limiter =
        TruePeakLimiter::new(f64::from(signal.rate_hz), channels, RELIMIT_LOOKAHEAD_MS);
    limiter.set_ceiling_dbtp(ceiling_dbtp as f32);
    limiter.set_drive_db(0.0);
    let latency = limiter.latency_samples() as usize;
    let frames = signal.frames();
    let total = frames + latency;
    let mut out: Vec<Vec<f64>> = vec![Vec::with_capacity(frames); channels];
    let block = 4096;
    let mut buf: Vec<Vec<f32>> = vec![vec![0.0; block]; channels];
    let mut pos = 0;
    while pos < total {
        let n = block.min(total - pos);
        for (b, c) in buf.iter_mut().zip(&signal.channels) {
            b.resize(n, 0.0);
            for (i, s) in b.iter_mut().enumerate() {
                *s = c.get(pos + i).map_or(0.0, |&v| v as f32);
            }
        }
        limiter.process(&mut buf);
        for (o, b) in out.iter_mut().zip(&buf) {
            for (i, &s) in b.iter().enumerate() {
                if pos + i >= latency {
                    o.push(f64::from(s));
                }
            }
        }
        pos += n;
    }
    for o in &mut out {
        o.truncate(frames);
    }
    Signal {
        rate_hz: signal.rate_hz,
        channels: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, amp: f64, seconds: f64) -> Signal {
        let n = (f64::from(rate) * seconds) as usize;
        let c: Vec<f64> = (0..n)
            .map(|i| amp * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin())
            .collect();
        Signal {
            rate_hz: rate,
            channels: vec![c],
        }
    }

    /// RMS of the middle half (dB re the amplitude-1 sine's RMS).
    fn level_db(s: &Signal) -> f64 {
        let c = &s.channels[0];
        let mid = &c[c.len() / 4..3 * c.len() / 4];
        let p = mid.iter().map(|v| v * v).sum::<f64>() / mid.len() as f64;
        10.0 * (p * 2.0).log10()
    }

    /// Passband and aliasing of the rate converter, 96 kHz → 44.1 kHz and 44.1 → 48 kHz: the
    /// figures the README quotes come from this test's output (`--nocapture`).
    #[test]
    fn resampler_passband_and_aliasing() {
        let mut worst_ripple: f64 = 0.0;
        for (from, to) in [(96_000, 44_100), (44_100, 48_000), (48_000, 44_100)] {
            for hz in [20.0, 1_000.0, 10_000.0, 18_000.0, 20_000.0] {
                let out = resample(&tone(from, hz, 0.5, 1.0), to).unwrap();
                let db = level_db(&out) - 20.0 * 0.5f64.log10();
                worst_ripple = worst_ripple.max(db.abs());
                println!("{from} → {to}: {hz} Hz passes at {db:+.4} dB");
            }
        }
        assert!(worst_ripple < 0.01, "passband ripple {worst_ripple} dB");
        // The transition band (printed for the README).
        for hz in [
            21_000.0, 21_500.0, 21_800.0, 22_000.0, 22_100.0, 22_300.0, 22_600.0,
        ] {
            let out = resample(&tone(96_000, hz, 0.5, 1.0), 44_100).unwrap();
            let db = level_db(&out) - 20.0 * 0.5f64.log10();
            println!("96000 → 44100 transition: {hz} Hz at {db:.1} dB");
        }
        // Tones above the new Nyquist frequency must not fold back into the band.
        for (from, to, hz) in [
            (96_000, 44_100, 23_000.0),
            (96_000, 44_100, 30_000.0),
            (96_000, 44_100, 40_000.0),
            (48_000, 44_100, 23_000.0),
        ] {
            let out = resample(&tone(from, hz, 0.5, 1.0), to).unwrap();
            let db = level_db(&out) - 20.0 * 0.5f64.log10();
            println!("{from} → {to}: {hz} Hz (above Nyquist) leaves {db:.1} dB");
            assert!(db < -100.0, "{from} → {to}: {hz} Hz aliases at {db:.1} dB");
        }
    }

    #[test]
    fn resampling_keeps_time_and_length() {
        let mut s = tone(96_000, 1_000.0, 0.0, 1.0);
        s.channels[0][48_000] = 1.0;
        let out = resample(&s, 48_000).unwrap();
        assert_eq!(out.frames(), 48_000);
        // The length is exact where f64 rounding would add a frame.
        let long = tone(44_100, 1_000.0, 0.1, 30.0);
        assert_eq!(resample(&long, 48_000).unwrap().frames(), 1_440_000);
        let peak = out.channels[0]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert_eq!(peak, 24_000);
    }

    /// Fed in pieces of any size, the streaming measurer gives exactly what `measure` gives.
    #[test]
    fn measurer_does_not_depend_on_the_pieces() {
        let mut s = tone(48_000, 997.0, 0.5, 3.3);
        let other: Vec<f64> = s.channels[0].iter().map(|v| -0.7 * v).collect();
        s.channels.push(other);
        s.channels[1][70_001] = 0.99;
        let whole = measure(&s, true);
        for piece in [1usize, 7, 4_799, 4_800, 4_801, 65_536, 1 << 20] {
            let mut m = Measurer::new(s.rate_hz, 2, true);
            let mut at = 0;
            while at < s.frames() {
                let end = (at + piece).min(s.frames());
                let chunk: Vec<Vec<f32>> = s
                    .channels
                    .iter()
                    .map(|c| c[at..end].iter().map(|&v| v as f32).collect())
                    .collect();
                m.push(&chunk);
                at = end;
            }
            let got = m.finish();
            let (a, b) = (&got.report, &whole.report);
            assert_eq!(
                a.true_peak_max_dbtp, b.true_peak_max_dbtp,
                "pieces of {piece}"
            );
            assert_eq!(
                a.sample_peak_max_dbfs, b.sample_peak_max_dbfs,
                "pieces of {piece}"
            );
            assert_eq!(
                a.loudness.integrated_lufs, b.loudness.integrated_lufs,
                "pieces of {piece}"
            );
            assert_eq!(got.history, whole.history, "pieces of {piece}");
        }
        assert!(whole.report.sample_peak_max_dbfs > -0.1);
        assert_eq!(whole.history.len(), 33);
    }

    #[test]
    fn limit_holds_the_ceiling_in_time() {
        let s = tone(48_000, 997.0, 1.0, 1.0);
        let out = limit(&s, -1.0);
        assert_eq!(out.frames(), s.frames());
        let m = measure(&out, false);
        assert!(
            m.report.true_peak_max_dbtp <= -1.0,
            "{}",
            m.report.true_peak_max_dbtp
        );
        // Aligned: the zero crossings stay where they were.
        let cross = |c: &[f64]| c.windows(2).position(|w| w[0] < 0.0 && w[1] >= 0.0);
        assert_eq!(
            cross(&out.channels[0][1000..]),
            cross(&s.channels[0][1000..])
        );
    }
}
