//! Where every track sits on the CD: Red Book time (75 frames of 588 stereo samples per second
//! at 44.1 kHz), gaps rounded so every index falls on a frame, and the limits a plant enforces.

use anyhow::{Result, bail};

/// Samples (per channel) in one CD frame (sector): 2352 bytes of 16-bit stereo.
pub const FRAME_SAMPLES: usize = 588;
/// CD frames per second.
pub const FRAMES_PER_SECOND: usize = 75;
/// CD audio sample rate.
pub const CD_RATE_HZ: u32 = 44_100;
/// Red Book: the pause before track 1 is at least 2 s (150 frames).
pub const MIN_FIRST_PREGAP_FRAMES: usize = 150;
/// Red Book: a track lasts at least 4 s.
pub const MIN_TRACK_FRAMES: usize = 4 * FRAMES_PER_SECOND;
/// Red Book: at most 99 tracks.
pub const MAX_TRACKS: usize = 99;
/// The longest programme a 80-minute disc holds, 79:57:74 (frames from the start of track 1's
/// pause to the lead-out).
pub const MAX_PROGRAM_FRAMES: usize = (79 * 60 + 57) * FRAMES_PER_SECOND + 74;

/// A CD time `mm:ss:ff`.
pub fn msf(frames: usize) -> (usize, usize, usize) {
    (
        frames / (60 * FRAMES_PER_SECOND),
        frames / FRAMES_PER_SECOND % 60,
        frames % FRAMES_PER_SECOND,
    )
}

/// `mm:ss:ff` as text.
pub fn msf_text(frames: usize) -> String {
    let (m, s, f) = msf(frames);
    format!("{m:02}:{s:02}:{f:02}")
}

/// One track's place in the image, in CD frames from the start of the image (the start of
/// track 1's pause, which the image holds as silence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Index 00: the start of the pause before the track (= `start` when it has none).
    pub pause: usize,
    /// Index 01: the first frame of the track's audio.
    pub start: usize,
    /// Frames from index 01 to the next track's index 00 (or the lead-out): the audio, its
    /// last frame completed with silence.
    pub frames: usize,
    /// Samples of the track's own audio (the rest of its last frame is silence).
    pub samples: usize,
}

/// The disc: every track placed, and the lead-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disc {
    pub tracks: Vec<Placed>,
    /// First frame after the programme (the lead-out's start; the image's length in frames).
    pub lead_out: usize,
}

impl Disc {
    /// Places tracks of `samples` samples each (44.1 kHz), each after a pause of `gaps_s`
    /// seconds. A pause is rounded to whole frames (the nearest, never below what was asked
    /// when that is 2 s for track 1); each track's last frame is completed with silence, so
    /// every index lies on a frame and no audio moves. Refuses what Red Book does not allow,
    /// naming the track.
    pub fn place(samples: &[usize], gaps_s: &[f64], names: &[String]) -> Result<Disc> {
        if samples.is_empty() {
            bail!("the album has no tracks");
        }
        if samples.len() > MAX_TRACKS {
            bail!("{} tracks: a CD holds at most {MAX_TRACKS}", samples.len());
        }
        let mut tracks = Vec::with_capacity(samples.len());
        let mut at = 0usize;
        for (i, (&n, &gap)) in samples.iter().zip(gaps_s).enumerate() {
            let name = &names[i];
            if !gap.is_finite() || gap < 0.0 {
                bail!("track {} ({name}): gap {gap} s is negative", i + 1);
            }
            if gap > 3600.0 {
                bail!(
                    "track {} ({name}): gap {gap} s is longer than an hour",
                    i + 1
                );
            }
            let mut gap_frames = (gap * FRAMES_PER_SECOND as f64).round() as usize;
            if i == 0 {
                if gap_frames < MIN_FIRST_PREGAP_FRAMES {
                    bail!(
                        "track 1 ({name}): the pause before track 1 is {gap} s; Red Book asks \
                         for at least 2 s"
                    );
                }
                gap_frames = gap_frames.max(MIN_FIRST_PREGAP_FRAMES);
            }
            let frames = n.div_ceil(FRAME_SAMPLES);
            // The track's own audio, not its last frame's padding, must last 4 s.
            if n < MIN_TRACK_FRAMES * FRAME_SAMPLES {
                bail!(
                    "track {} ({name}) lasts {:.2} s; Red Book asks for at least 4 s",
                    i + 1,
                    n as f64 / f64::from(CD_RATE_HZ)
                );
            }
            let pause = at;
            let start = at + gap_frames;
            tracks.push(Placed {
                pause,
                start,
                frames,
                samples: n,
            });
            at = start + frames;
        }
        if at > MAX_PROGRAM_FRAMES {
            bail!(
                "the album lasts {} with its pauses; a CD holds at most {}",
                msf_text(at),
                msf_text(MAX_PROGRAM_FRAMES)
            );
        }
        Ok(Disc {
            tracks,
            lead_out: at,
        })
    }

    /// Samples (per channel) of the whole image.
    pub fn image_samples(&self) -> usize {
        self.lead_out * FRAME_SAMPLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn indexes_fall_on_frames_and_audio_is_not_moved() {
        // 10 s + 1 sample, then 5 s exactly, gaps 2 s and 1.234 s.
        let disc = Disc::place(&[441_001, 220_500], &[2.0, 1.234], &names(2)).unwrap();
        let t = &disc.tracks;
        assert_eq!((t[0].pause, t[0].start), (0, 150));
        // 441 001 samples = 750 frames + 1 sample → 751 frames.
        assert_eq!(t[0].frames, 751);
        assert_eq!(t[1].pause, 150 + 751);
        // 1.234 s = 92.55 frames → 93.
        assert_eq!(t[1].start, 150 + 751 + 93);
        assert_eq!(t[1].frames, 375);
        assert_eq!(disc.lead_out, 150 + 751 + 93 + 375);
        assert_eq!(msf_text(150), "00:02:00");
        assert_eq!(msf_text(MAX_PROGRAM_FRAMES), "79:57:74");
    }

    #[test]
    fn red_book_limits_are_refused_with_the_track() {
        let long = 44_100 * 10;
        let e = Disc::place(&[long], &[1.5], &names(1)).unwrap_err();
        assert!(e.to_string().contains("track 1"), "{e}");
        let e = Disc::place(&[long, 44_100 * 3], &[2.0, 0.0], &names(2)).unwrap_err();
        assert!(e.to_string().contains("track 2 (t2)"), "{e}");
        let e = Disc::place(&[long, long], &[2.0, -1.0], &names(2)).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = Disc::place(&vec![long; 100], &[2.0; 100], &names(100)).unwrap_err();
        assert!(e.to_string().contains("99"), "{e}");
        // 80 minutes in two tracks.
        let e = Disc::place(&[44_100 * 2400; 2], &[2.0, 2.0], &names(2)).unwrap_err();
        assert!(e.to_string().contains("79:57:74"), "{e}");
        // 3.99 s (padded to 300 frames) is refused; exactly 4 s is allowed.
        let e = Disc::place(&[long, 175_813], &[2.0, 0.0], &names(2)).unwrap_err();
        assert!(e.to_string().contains("track 2"), "{e}");
        // Exactly 4 s is allowed.
        assert!(Disc::place(&[long, 44_100 * 4], &[2.0, 0.0], &names(2)).is_ok());
    }
}
