//! `lathe`: Lathe's DSP offline.
//!
//! ```text
//! lathe analyze FILE.wav...    loudness and peaks of each file, as Lathe Meter measures them
//! ```
//! WAV (16/24/32-bit integer, 32-bit float; mono, stereo, 5.0, 5.1) is read for now; other formats
//! follow. Unreadable or hostile files get a one-line error and exit status 1.

use anyhow::{Context, Result, bail};
use lathe_dsp::level::{gain_to_db, gain_to_db_f64};
use lathe_dsp::loudness::{LoudnessMeter, LoudnessReading};
use lathe_dsp::true_peak::TruePeakMeter;
use std::path::Path;

/// What `analyze` measures in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Channels in the file.
    pub channels: usize,
    /// Sample rate (Hz).
    pub sample_rate: u32,
    /// Duration (s).
    pub duration_s: f64,
    /// Loudness readings at the end of the file.
    pub loudness: LoudnessReading,
    /// Highest true peak over all channels (dBTP).
    pub true_peak_dbtp: f64,
    /// Highest sample peak over all channels (dBFS).
    pub sample_peak_dbfs: f64,
}

/// Channel weights of BS.1770 for a channel count (5.1: L R C LFE Ls Rs, LFE excluded).
fn weights(channels: usize) -> Result<Vec<f64>> {
    Ok(match channels {
        1 | 2 => vec![1.0; channels],
        5 => vec![1.0, 1.0, 1.0, 1.41, 1.41],
        6 => vec![1.0, 1.0, 1.0, 0.0, 1.41, 1.41],
        n => bail!("{n} channels: only mono, stereo, 5.0 and 5.1 are measured"),
    })
}

/// Frames read and measured per chunk: bounded memory for files of any length.
const CHUNK_FRAMES: usize = 8192;

/// Measures a WAV file.
pub fn analyze(path: &Path) -> Result<Analysis> {
    let mut reader = hound::WavReader::open(path).context("not a readable WAV file")?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 {
        bail!("the file declares 0 channels");
    }
    if !(8_000..=384_000).contains(&spec.sample_rate) {
        bail!(
            "sample rate {} Hz is outside 8 kHz … 384 kHz",
            spec.sample_rate
        );
    }
    let sr = f64::from(spec.sample_rate);
    let mut loudness = LoudnessMeter::with_weights(sr, &weights(channels)?);
    let mut true_peaks: Vec<TruePeakMeter> =
        (0..channels).map(|_| TruePeakMeter::new(sr)).collect();
    let mut sample_peak = 0.0f32;
    let scale = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => None,
        (hound::SampleFormat::Int, b @ 8..=32) => Some(1.0 / (1u64 << (b - 1)) as f32),
        (f, b) => bail!("unsupported sample format {f:?} with {b} bits"),
    };
    let mut planar = vec![Vec::with_capacity(CHUNK_FRAMES); channels];
    let mut frames = 0u64;
    let mut samples: Box<dyn Iterator<Item = Result<f32, hound::Error>>> = match scale {
        None => Box::new(reader.samples::<f32>()),
        Some(k) => Box::new(
            reader
                .samples::<i32>()
                .map(move |r| r.map(|v| v as f32 * k)),
        ),
    };
    loop {
        for ch in &mut planar {
            ch.clear();
        }
        'fill: for _ in 0..CHUNK_FRAMES {
            for ch in planar.iter_mut() {
                match samples.next() {
                    Some(s) => ch.push(s.context("the file is truncated or corrupt")?),
                    None => break 'fill,
                }
            }
        }
        let n = planar.iter().map(Vec::len).min().unwrap_or(0);
        if n == 0 {
            break;
        }
        for ch in &mut planar {
            ch.truncate(n);
        }
        loudness.process(&planar);
        for (meter, ch) in true_peaks.iter_mut().zip(&planar) {
            meter.process(ch);
            sample_peak = sample_peak.max(lathe_dsp::peak::block_peak(ch));
        }
        frames += n as u64;
    }
    let true_peak = true_peaks
        .iter_mut()
        .map(TruePeakMeter::finish)
        .fold(0.0f32, f32::max);
    Ok(Analysis {
        channels,
        sample_rate: spec.sample_rate,
        duration_s: frames as f64 / sr,
        loudness: loudness.reading(),
        true_peak_dbtp: f64::from(gain_to_db(true_peak)),
        sample_peak_dbfs: gain_to_db_f64(f64::from(sample_peak)),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, files)) = args.split_first() else {
        eprintln!("usage: lathe analyze FILE.wav...");
        std::process::exit(2);
    };
    if command != "analyze" || files.is_empty() {
        eprintln!("usage: lathe analyze FILE.wav...");
        std::process::exit(2);
    }
    let mut failed = false;
    for file in files {
        match analyze(Path::new(file)) {
            Ok(a) => {
                let r = &a.loudness;
                println!("{file}");
                println!(
                    "  {} ch, {} Hz, {:.2} s",
                    a.channels, a.sample_rate, a.duration_s
                );
                println!("  integrated        {:>7.1} LUFS", r.integrated_lufs);
                println!("  loudness range    {:>7.1} LU", r.loudness_range_lu);
                println!("  max momentary     {:>7.1} LUFS", r.momentary_max_lufs);
                println!("  max short-term    {:>7.1} LUFS", r.short_term_max_lufs);
                println!("  true peak         {:>7.2} dBTP", a.true_peak_dbtp);
                println!("  sample peak       {:>7.2} dBFS", a.sample_peak_dbfs);
            }
            Err(e) => {
                eprintln!("lathe: {file}: {e:#}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tone(path: &Path, sr: u32, channels: u16, dbfs: f64, secs: f64, bits: u16) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: sr,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let amp = 10f64.powf(dbfs / 20.0) * f64::from((1u32 << (bits - 1)) - 1);
        for n in 0..(f64::from(sr) * secs) as usize {
            let v = (amp * (std::f64::consts::TAU * 1000.0 * n as f64 / f64::from(sr)).sin())
                .round() as i32;
            for _ in 0..channels {
                w.write_sample(v).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lathe-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn measures_tech3341_case_1_from_a_file() {
        let p = temp("case1.wav");
        write_tone(&p, 48_000, 2, -23.0, 20.0, 24);
        let a = analyze(&p).unwrap();
        assert_eq!((a.channels, a.sample_rate), (2, 48_000));
        assert!((a.duration_s - 20.0).abs() < 1e-9);
        assert!((a.loudness.integrated_lufs + 23.0).abs() < 0.05, "{a:?}");
        assert!((a.sample_peak_dbfs + 23.0).abs() < 0.01, "{a:?}");
        assert!((a.true_peak_dbtp + 23.0).abs() < 0.05, "{a:?}");
    }

    #[test]
    fn hostile_files_give_errors_not_panics() {
        let empty = temp("empty.wav");
        std::fs::write(&empty, b"").unwrap();
        assert!(analyze(&empty).is_err());
        let junk = temp("junk.wav");
        std::fs::write(&junk, b"RIFF\xff\xff\xff\xffWAVEfmt garbage garbage").unwrap();
        assert!(analyze(&junk).is_err());
        let good = temp("good.wav");
        write_tone(&good, 44_100, 1, -20.0, 1.0, 16);
        let bytes = std::fs::read(&good).unwrap();
        let cut = temp("cut.wav");
        std::fs::write(&cut, &bytes[..bytes.len() / 2 + 1]).unwrap();
        assert!(analyze(&cut).is_err());
        assert!(analyze(Path::new("/nonexistent/lathe.wav")).is_err());
    }
}
