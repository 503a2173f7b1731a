//! Limiter speed: x-realtime of lathe-dsp's true-peak limiter on 60 s of stereo 48 kHz
//! programme-like audio driven 12 dB into the ceiling (so it is limiting most of the time).
//!
//! Run with `cargo xtask bench` (or `cargo bench -p lathe-dsp --bench limiter`).

use lathe_dsp::limiter::TruePeakLimiter;
use std::hint::black_box;
use std::time::Instant;

const SAMPLE_RATE: f64 = 48_000.0;
const SECONDS: usize = 60;
const BLOCK: usize = 512;
const PASSES: usize = 3;

fn programme() -> [Vec<f32>; 2] {
    let n = SAMPLE_RATE as usize * SECONDS;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let (mut l, mut r) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut bl, mut br) = (0.0f32, 0.0f32);
    for i in 0..n {
        let t = i as f32 / SAMPLE_RATE as f32;
        let env = 0.1 + 0.3 * (0.5 + 0.5 * (t * 0.37).sin());
        bl = 0.9 * bl + 0.1 * rnd();
        br = 0.9 * br + 0.1 * rnd();
        let tone = 0.2 * (t * 2.0 * std::f32::consts::PI * 220.0).sin();
        l.push(env * (2.0 * bl + tone));
        r.push(env * (2.0 * br + 0.8 * tone));
    }
    [l, r]
}

fn main() {
    let input = programme();
    let mut best = f64::INFINITY;
    let mut min_gain = 1.0f32;
    for _ in 0..PASSES {
        let mut lim = TruePeakLimiter::new(SAMPLE_RATE, 2, 1.5);
        lim.set_ceiling_dbtp(-1.0);
        lim.set_drive_db(12.0);
        let mut buf = input.clone();
        let start = Instant::now();
        let n = buf[0].len();
        let mut pos = 0;
        while pos < n {
            let k = BLOCK.min(n - pos);
            let (l, r) = buf.split_at_mut(1);
            lim.process(&mut [&mut l[0][pos..pos + k], &mut r[0][pos..pos + k]]);
            min_gain = min_gain.min(lim.take_min_gain());
            pos += k;
        }
        best = best.min(start.elapsed().as_secs_f64());
        black_box(&buf);
    }
    println!(
        "true-peak limiter (stereo 48 kHz, 1.5 ms lookahead, +12 dB drive, deepest gain reduction {:.1} dB): {:.0}x realtime",
        -20.0 * min_gain.log10(),
        SECONDS as f64 / best
    );
}
