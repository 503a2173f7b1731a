//! THD+N of a 1 kHz sine limited by 6 dB (48 kHz, -1 dBTP ceiling, default lookahead 1.5 ms,
//! automatic release): the residual after removing the best-fitting 1 kHz sine, relative to it.
use lathe_dsp::limiter::TruePeakLimiter;

fn main() {
    let sr = 48_000.0f64;
    let n = (sr * 4.0) as usize;
    let amp = 10f64.powf(-1.0 / 20.0);
    let x: Vec<f32> = (0..n)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / sr).sin()) as f32)
        .collect();
    for auto in [true, false] {
        let mut lim = TruePeakLimiter::new(sr, 1, 1.5);
        lim.set_ceiling_dbtp(-1.0);
        lim.set_drive_db(6.0);
        lim.set_release_ms(100.0);
        lim.set_auto_release(auto);
        lim.reset();
        let mut y = x.clone();
        for c in y.chunks_mut(512) {
            lim.process(&mut [c]);
        }
        // Steady part: the last 2 s (whole periods: 2000 of them).
        let seg = &y[n - 96_000..];
        let (mut s, mut c) = (0.0f64, 0.0f64);
        for (i, &v) in seg.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * 1000.0 * i as f64 / sr;
            s += f64::from(v) * ph.sin();
            c += f64::from(v) * ph.cos();
        }
        let (a, b) = (2.0 * s / seg.len() as f64, 2.0 * c / seg.len() as f64);
        let mut res = 0.0f64;
        let mut sig = 0.0f64;
        for (i, &v) in seg.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * 1000.0 * i as f64 / sr;
            let fit = a * ph.sin() + b * ph.cos();
            res += (f64::from(v) - fit).powi(2);
            sig += fit * fit;
        }
        let peak = seg.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        println!(
            "auto release {auto}: THD+N {:.1} dB ({:.4} %), output peak {:.3} dBFS, gain reduction {:.2} dB",
            10.0 * (res / sig).log10(),
            100.0 * (res / sig).sqrt(),
            20.0 * f64::from(peak).log10(),
            20.0 * ((a * a + b * b).sqrt() / amp).log10() - 6.0
        );
    }
}
