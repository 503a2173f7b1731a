//! Cost per 512-frame block of the QC detectors (stereo, 44.1 kHz) on a 32-bit float WAV:
//! median, 99th and 99.9th percentile and worst block, three passes.
//!
//! `cargo run --release -p lathe-dsp --example qc_blocks -- target/music/onsets-wz-original-2.wav`
//! (the file is made by `cargo xtask qc-music`).

use lathe_dsp::qc::QcDetector;
use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: qc_blocks FILE.wav (32-bit float, stereo, 44.1 kHz)");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).expect("cannot read the file");
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("no data chunk")
        + 8;
    let s: Vec<f32> = bytes[data..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let l: Vec<f32> = s.iter().step_by(2).copied().collect();
    let r: Vec<f32> = s.iter().skip(1).step_by(2).copied().collect();
    for pass in 0..3 {
        let mut q = QcDetector::new(44_100.0, 2, 64);
        let mut t = Vec::new();
        for start in (0..l.len()).step_by(512) {
            let end = (start + 512).min(l.len());
            let began = Instant::now();
            q.process(&[&l[start..end], &r[start..end]]);
            t.push(began.elapsed().as_secs_f64() * 1e6);
        }
        t.sort_by(f64::total_cmp);
        let n = t.len();
        println!(
            "pass {pass}: median {:.1} µs, p99 {:.1}, p99.9 {:.1}, worst {:.1} µs ({:.1}× the median)",
            t[n / 2],
            t[n * 99 / 100],
            t[n * 999 / 1000],
            t[n - 1],
            t[n - 1] / t[n / 2]
        );
    }
}
