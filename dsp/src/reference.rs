//! Reference records in the plugin: decoded audio at the session rate, the loop the user chose
//! on it with its integrated loudness, and the player that runs on the audio thread.
//!
//! Decoding, resampling and measuring happen off the audio thread (the plugin's loader); the
//! audio thread only receives a finished [`ReferenceLoop`] in a `Box`, plays it and hands the
//! one it replaces back, never dropping audio itself.

use crate::loudness::LoudnessMeter;
use std::sync::Arc;

/// Longest reference kept (s): longer files are cut here.
pub const MAX_SECONDS: f64 = 600.0;

/// Decoded reference audio at the session's rate: two channels (a mono file twice).
#[derive(Debug)]
pub struct ReferenceAudio {
    pub channels: [Vec<f32>; 2],
    pub sample_rate_hz: f64,
}

impl ReferenceAudio {
    /// Frames held.
    pub fn frames(&self) -> usize {
        self.channels[0].len()
    }

    /// Integrated loudness (BS.1770, LUFS) of frames `start..end`; −∞ for silence.
    pub fn loudness(&self, start: usize, end: usize) -> f64 {
        let end = end.min(self.frames());
        let start = start.min(end);
        let mut meter = LoudnessMeter::new(self.sample_rate_hz, 2);
        meter.process(&[&self.channels[0][start..end], &self.channels[1][start..end]]);
        meter.integrated_lufs()
    }

    /// [`Self::loudness`] of the mono mix-down (L+R)/2, as a mono instance plays it.
    pub fn loudness_mono(&self, start: usize, end: usize) -> f64 {
        let end = end.min(self.frames());
        let start = start.min(end);
        let mono: Vec<f32> = self.channels[0][start..end]
            .iter()
            .zip(&self.channels[1][start..end])
            .map(|(l, r)| 0.5 * (l + r))
            .collect();
        let mut meter = LoudnessMeter::new(self.sample_rate_hz, 1);
        meter.process(&[&mono[..]]);
        meter.integrated_lufs()
    }
}

/// A reference ready to play: its audio, the loop (frames, `start < end`), the loop's
/// integrated loudness, and the slot it belongs to (0…3).
#[derive(Debug)]
pub struct ReferenceLoop {
    pub audio: Arc<ReferenceAudio>,
    pub start: usize,
    pub end: usize,
    pub loop_lufs: f64,
    /// The loop's loudness as a mono instance plays it (mixed down).
    pub loop_lufs_mono: f64,
    pub slot: usize,
}

impl ReferenceLoop {
    /// The loop `start_s..end_s` (seconds, clamped to the audio; an empty or reversed range
    /// is the whole file) of `audio`, measured.
    pub fn new(audio: Arc<ReferenceAudio>, slot: usize, start_s: f64, end_s: f64) -> Self {
        let frames = audio.frames();
        let at = |s: f64| -> usize {
            if s.is_finite() {
                ((s.max(0.0) * audio.sample_rate_hz).round() as usize).min(frames)
            } else {
                frames
            }
        };
        let (mut start, mut end) = (at(start_s), at(end_s));
        if end <= start {
            (start, end) = (0, frames);
        }
        let loop_lufs = audio.loudness(start, end);
        let loop_lufs_mono = audio.loudness_mono(start, end);
        Self {
            audio,
            start,
            end,
            loop_lufs,
            loop_lufs_mono,
            slot,
        }
    }

    /// Loop length (frames).
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the loop holds no audio.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Plays the loop of each of four slots on the audio thread. Never allocates after
/// [`ReferencePlayer::prepare`], never drops a loop (replaced ones are returned).
#[derive(Debug, Default)]
pub struct ReferencePlayer {
    slots: [Option<Box<ReferenceLoop>>; 4],
    /// Free-running position inside the loop (frames from its start).
    pos: usize,
    /// The rendered block, per channel.
    block: [Vec<f32>; 2],
    /// The slot played last, and a crossfade from it when the slot changes: its position,
    /// samples left, length.
    last_slot: Option<usize>,
    fade_slot: usize,
    fade_pos: usize,
    fade_left: usize,
    fade_len: usize,
}

/// Crossfade when the slot changes (ms), as the A/B's.
pub const SLOT_FADE_MS: f64 = 30.0;

impl ReferencePlayer {
    /// Sizes the block buffers for blocks of up to `max_frames` at `sample_rate_hz`
    /// (allocates: call outside the audio thread).
    pub fn prepare(&mut self, max_frames: usize, sample_rate_hz: f64) {
        for b in &mut self.block {
            b.resize(max_frames.max(1), 0.0);
        }
        self.fade_len = ((SLOT_FADE_MS * 1e-3 * sample_rate_hz) as usize).max(1);
        self.fade_left = 0;
    }

    /// Puts a loop into its slot; returns the loop it replaces, for the caller to hand off the
    /// audio thread.
    pub fn replace(&mut self, new: Box<ReferenceLoop>) -> Option<Box<ReferenceLoop>> {
        let slot = new.slot.min(3);
        self.slots[slot].replace(new)
    }

    /// Takes a slot's loop out (the caller hands it off the audio thread).
    pub fn take(&mut self, slot: usize) -> Option<Box<ReferenceLoop>> {
        self.slots.get_mut(slot).and_then(Option::take)
    }

    /// The loop in `slot`, if loaded.
    pub fn get(&self, slot: usize) -> Option<&ReferenceLoop> {
        self.slots.get(slot).and_then(|s| s.as_deref())
    }

    /// Renders `frames` frames of `slot`'s loop into the player's block (stereo, or mixed to
    /// mono for `channels == 1`) and returns them; `None` when the slot is empty or the block
    /// too long. `song_frame`: the host transport's position (frames) while it plays – the
    /// loop then follows it (loop position = song position modulo the loop length), so the
    /// reference lines up with the same bar on every pass; `None`: free-running.
    pub fn render(
        &mut self,
        slot: usize,
        frames: usize,
        channels: usize,
        song_frame: Option<i64>,
    ) -> Option<[&[f32]; 2]> {
        // A new slot fades in over the old one's continuation (when the old one plays).
        if self.last_slot != Some(slot) {
            if let Some(old) = self.last_slot
                && self.slots[old].as_deref().is_some_and(|l| !l.is_empty())
            {
                self.fade_slot = old;
                self.fade_pos = self.pos;
                self.fade_left = self.fade_len;
                self.pos = 0;
            } else {
                self.fade_left = 0;
            }
            self.last_slot = Some(slot);
        }
        let r = self.slots.get(slot)?.as_deref()?;
        if frames > self.block[0].len() || r.is_empty() {
            return None;
        }
        let len = r.len();
        if let Some(song) = song_frame {
            self.pos = song.rem_euclid(len as i64) as usize;
        }
        let mut pos = self.pos % len;
        let [a, b] = &mut self.block;
        let (l, rr) = (&r.audio.channels[0], &r.audio.channels[1]);
        let mut done = 0;
        while done < frames {
            let n = (len - pos).min(frames - done);
            let from = r.start + pos;
            a[done..done + n].copy_from_slice(&l[from..from + n]);
            b[done..done + n].copy_from_slice(&rr[from..from + n]);
            done += n;
            pos = (pos + n) % len;
        }
        self.pos = pos;
        if self.fade_left > 0
            && let Some(old) = self.slots[self.fade_slot].as_deref()
            && !old.is_empty()
        {
            let old_len = old.len();
            let mut p = self.fade_pos % old_len;
            let n = self.fade_left.min(frames);
            for i in 0..n {
                let w = (self.fade_left - i) as f32 / self.fade_len as f32;
                a[i] = a[i] * (1.0 - w) + old.audio.channels[0][old.start + p] * w;
                b[i] = b[i] * (1.0 - w) + old.audio.channels[1][old.start + p] * w;
                p = (p + 1) % old_len;
            }
            self.fade_pos = p;
            self.fade_left -= n;
        } else {
            self.fade_left = 0;
        }
        if channels == 1 {
            for (x, y) in a[..frames].iter_mut().zip(&b[..frames]) {
                *x = 0.5 * (*x + *y);
            }
        }
        Some([&a[..frames], &b[..frames]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(frames: usize) -> Arc<ReferenceAudio> {
        Arc::new(ReferenceAudio {
            channels: [
                (0..frames).map(|i| i as f32).collect(),
                (0..frames).map(|i| -(i as f32)).collect(),
            ],
            sample_rate_hz: 100.0,
        })
    }

    #[test]
    fn loops_free_running_and_follows_the_transport() {
        let mut p = ReferencePlayer::default();
        p.prepare(64, 100.0);
        // Loop 0.1 s … 0.2 s = frames 10..20.
        assert!(
            p.replace(Box::new(ReferenceLoop::new(audio(50), 1, 0.1, 0.2)))
                .is_none()
        );
        assert!(
            p.render(0, 8, 2, None).is_none(),
            "empty slot plays nothing"
        );
        let first: Vec<f32> = p.render(1, 15, 2, None).unwrap()[0].to_vec();
        let want: Vec<f32> = (10..20).chain(10..15).map(|i| i as f32).collect();
        assert_eq!(first, want);
        let next = p.render(1, 3, 2, None).unwrap();
        assert_eq!(next[0], &[15.0, 16.0, 17.0]);
        assert_eq!(next[1], &[-15.0, -16.0, -17.0]);
        // Transport at song frame 1234: loop position 4.
        assert_eq!(p.render(1, 2, 2, Some(1234)).unwrap()[0], &[14.0, 15.0]);
        assert_eq!(p.render(1, 2, 2, Some(-1)).unwrap()[0], &[19.0, 10.0]);
        // Mono: the two channels mixed.
        assert_eq!(p.render(1, 1, 1, Some(0)).unwrap()[0], &[0.0]);
        // Too long a block is refused, not overrun.
        assert!(p.render(1, 65, 2, None).is_none());
        // Replacing hands the old loop back.
        let old = p.replace(Box::new(ReferenceLoop::new(audio(50), 1, 0.0, 0.0)));
        assert_eq!(old.map(|o| (o.start, o.end)), Some((10, 20)));
        assert_eq!(p.get(1).map(|l| (l.start, l.end)), Some((0, 50)));
    }

    #[test]
    fn changing_slot_crossfades() {
        let mut p = ReferencePlayer::default();
        // 30 ms at 1 kHz: 30 samples.
        p.prepare(256, 1000.0);
        let constant = |v: f32| {
            Arc::new(ReferenceAudio {
                channels: [vec![v; 100], vec![v; 100]],
                sample_rate_hz: 1000.0,
            })
        };
        p.replace(Box::new(ReferenceLoop::new(constant(1.0), 0, 0.0, 0.0)));
        p.replace(Box::new(ReferenceLoop::new(constant(-1.0), 1, 0.0, 0.0)));
        assert!(
            p.render(0, 10, 2, None).unwrap()[0]
                .iter()
                .all(|&x| x == 1.0)
        );
        let out = p.render(1, 40, 2, None).unwrap()[0].to_vec();
        // From +1 to −1 in 30 equal steps, never a jump of more than 2/30.
        assert!((out[0] - 1.0).abs() < 0.1, "{out:?}");
        assert!(
            out.windows(2)
                .all(|w| (w[1] - w[0]).abs() <= 2.0 / 30.0 + 1e-6),
            "{out:?}"
        );
        assert!(out[30..].iter().all(|&x| x == -1.0), "{out:?}");
    }
}
