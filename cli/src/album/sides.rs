//! Vinyl and cassette sides: one 24-bit WAV per side (its tracks in order with their pauses)
//! and a pre-flight report of what a cutting or duplicating engineer checks first.
//!
//! Per side: its length against the format; out-of-phase low end (correlation and side energy
//! below 150 Hz, in 0.5 s windows, with timestamps: anti-phase bass throws a cutting stylus
//! vertically and can lift it out of the groove); high-frequency and sibilance energy (above
//! 5 kHz, 50 ms windows: hot highs overheat a cutter head and distort on playback, and
//! saturate tape); clipped runs and over-limiting (peak-to-loudness ratio); and a note when a
//! side is long for its loudness.
//!
//! Side lengths (per side; the common figures pressing plants and duplicators publish): 12"
//! 33⅓ up to 22 min (18 recommended), 12" 45 15 (12), 10" 33⅓ 15 (12), 7" 45 5:30 (4:30),
//! 7" 33⅓ 7 (5:30); cassettes C46 23 min, C60 30, C90 45. Groove spacing grows with level, so
//! the recommended time is for a side around −12 LUFS; louder sides get it scaled by
//! 10^((−12 − I)/20), and a side longer than that must be cut lower by about
//! 20·log10(length / time) dB – a rule of thumb, said as such in the report.

use crate::deliver::render::{self, Signal};
use serde_json::{Value, json};

/// A format a side is cut or duplicated to.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub name: &'static str,
    /// Longest side the format holds (s).
    pub max_s: f64,
    /// Side length a plant recommends at normal level (s).
    pub recommended_s: f64,
    pub vinyl: bool,
}

pub const VINYL: [Format; 5] = [
    Format {
        name: "12in-33",
        max_s: 22.0 * 60.0,
        recommended_s: 18.0 * 60.0,
        vinyl: true,
    },
    Format {
        name: "12in-45",
        max_s: 15.0 * 60.0,
        recommended_s: 12.0 * 60.0,
        vinyl: true,
    },
    Format {
        name: "10in-33",
        max_s: 15.0 * 60.0,
        recommended_s: 12.0 * 60.0,
        vinyl: true,
    },
    Format {
        name: "7in-45",
        max_s: 5.5 * 60.0,
        recommended_s: 4.5 * 60.0,
        vinyl: true,
    },
    Format {
        name: "7in-33",
        max_s: 7.0 * 60.0,
        recommended_s: 5.5 * 60.0,
        vinyl: true,
    },
];

pub const CASSETTE: [Format; 3] = [
    Format {
        name: "C46",
        max_s: 23.0 * 60.0,
        recommended_s: 23.0 * 60.0,
        vinyl: false,
    },
    Format {
        name: "C60",
        max_s: 30.0 * 60.0,
        recommended_s: 30.0 * 60.0,
        vinyl: false,
    },
    Format {
        name: "C90",
        max_s: 45.0 * 60.0,
        recommended_s: 45.0 * 60.0,
        vinyl: false,
    },
];

/// Looks a format up by name (case-insensitive; "12-33", "12\"/33" read as "12in-33").
pub fn format(name: &str, vinyl: bool) -> Option<Format> {
    let n: String = name
        .to_ascii_lowercase()
        .replace(['"', '/', ' '], "-")
        .replace("in-", "-")
        .replace("--", "-");
    let list: &[Format] = if vinyl { &VINYL } else { &CASSETTE };
    list.iter()
        .find(|f| f.name.to_ascii_lowercase().replace("in-", "-") == n)
        .copied()
}

/// Low end below this is checked for phase (Hz).
const LOW_HZ: f64 = 150.0;
/// Highs above this are checked for energy (Hz).
const HIGH_HZ: f64 = 5000.0;
/// Anti-phase low end: in a 0.5 s window, the side signal below 150 Hz louder than this
/// (dBFS RMS)…
const LOW_SIDE_PRESENT_DBFS: f64 = -40.0;
/// …and the two channels' low end correlated under this. Decorrelated (wide) low end, which
/// released metal and rock hold for seconds at a time (correlation near 0, side ~1 dB under
/// mid at −33 dBFS on the test album), is reported as figures, not flagged; anti-phase is.
const LOW_CORRELATION_MIN: f64 = -0.2;
/// Highs above 5 kHz louder than this in a 50 ms window are flagged (dBFS RMS). The loudest
/// 50 ms of a −10 LUFS metal master reads about −18.
const HIGH_MAX_DBFS: f64 = -15.0;
/// Peak-to-loudness ratio under which a side is called over-limited (dB).
const PLR_MIN_DB: f64 = 8.0;

/// A second-order section (RBJ cookbook), f64.
#[derive(Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl Biquad {
    fn new(rate: f64, hz: f64, q: f64, high: bool) -> Self {
        let w = 2.0 * std::f64::consts::PI * hz / rate;
        let (s, c) = w.sin_cos();
        let alpha = s / (2.0 * q);
        let a0 = 1.0 + alpha;
        let b = if high {
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0]
        } else {
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0]
        };
        Biquad {
            b: [b[0] / a0, b[1] / a0, b[2] / a0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            z: [0.0; 2],
        }
    }

    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// A fourth-order Butterworth low- or high-pass (two sections, Q 0.541 and 1.307), run one
/// sample at a time.
struct Butterworth4([Biquad; 2]);

impl Butterworth4 {
    fn new(rate: f64, hz: f64, high: bool) -> Self {
        Self([
            Biquad::new(rate, hz, 0.541_196_1, high),
            Biquad::new(rate, hz, 1.306_563, high),
        ])
    }

    fn run(&mut self, x: f64) -> f64 {
        let y = self.0[0].run(x);
        self.0[1].run(y)
    }
}

fn db(power: f64) -> f64 {
    10.0 * power.max(1e-30).log10()
}

/// Stretches of time (s) where `flag` holds, merged when they touch.
fn ranges(flags: &[(f64, f64, bool)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &(from, to, on) in flags {
        if !on {
            continue;
        }
        match out.last_mut() {
            Some(last) if from <= last.1 + 1e-9 => last.1 = to,
            _ => out.push((from, to)),
        }
    }
    out
}

fn time(s: f64) -> String {
    format!("{}:{:05.2}", (s / 60.0) as u64, s % 60.0)
}

/// The pre-flight report of one side.
pub fn preflight(side: &Signal, format: Format) -> Value {
    let rate = f64::from(side.rate_hz);
    let length = side.duration_s();
    let m = render::measure(side, false).report;
    let lufs = m.loudness.integrated_lufs;
    let mut notes: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();

    // Length.
    let recommended = if format.vinyl && lufs.is_finite() {
        format.recommended_s * 10f64.powf(((-12.0 - lufs) / 20.0).min(0.0))
    } else {
        format.recommended_s
    };
    if length > format.max_s {
        problems.push(format!(
            "{} is longer than a {} side holds ({})",
            time(length),
            format.name,
            time(format.max_s)
        ));
    } else if format.vinyl && length > recommended {
        notes.push(format!(
            "long for its loudness: {} at {lufs:.1} LUFS, where about {} cuts at full level; \
             expect it cut about {:.1} dB lower (rule of thumb: groove spacing grows with level)",
            time(length),
            time(recommended),
            20.0 * (length / recommended).log10()
        ));
    }

    // One pass over the side: the low end (below 150 Hz) summed in 0.25 s blocks – a 0.5 s
    // window every 0.25 s is two neighbouring blocks – and the highs (above 5 kHz) in 50 ms
    // blocks, so no filtered copy of the side is kept.
    let stereo = side.channels.len() == 2;
    let frames = side.frames();
    let low_block = ((rate * 0.25) as usize).max(1);
    let high_block = ((rate * 0.05) as usize).max(1);
    let has_highs = rate > 2.2 * HIGH_HZ;
    let mut low_filters = [
        Butterworth4::new(rate, LOW_HZ, false),
        Butterworth4::new(rate, LOW_HZ, false),
    ];
    let mut high_filters: Vec<Butterworth4> = side
        .channels
        .iter()
        .map(|_| Butterworth4::new(rate, HIGH_HZ.min(0.45 * rate), true))
        .collect();
    // Per low block: (side power, l·r, l², r²); whole-side sums: mid, side, l·r, l², r².
    let mut low_blocks: Vec<[f64; 4]> = Vec::with_capacity(frames / low_block + 1);
    let (mut lm, mut ls, mut llr, mut ll, mut lr) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut high_flags = Vec::new();
    let mut high_max = f64::NEG_INFINITY;
    let mut high_total = 0.0;
    let mut all_total = 0.0;
    let mut block = [0.0f64; 4];
    let mut high_sums = vec![0.0f64; side.channels.len()];
    for i in 0..frames {
        if stereo {
            let a = low_filters[0].run(side.channels[0][i]);
            let b = low_filters[1].run(side.channels[1][i]);
            let s = (a - b) * (a - b) / 4.0;
            block[0] += s;
            block[1] += a * b;
            block[2] += a * a;
            block[3] += b * b;
            lm += (a + b) * (a + b) / 4.0;
            ls += s;
            llr += a * b;
            ll += a * a;
            lr += b * b;
            if (i + 1) % low_block == 0 || i + 1 == frames {
                low_blocks.push(block);
                block = [0.0; 4];
            }
        }
        for ((c, f), sum) in side
            .channels
            .iter()
            .zip(&mut high_filters)
            .zip(&mut high_sums)
        {
            let x = c[i];
            all_total += x * x;
            if has_highs {
                let h = f.run(x);
                *sum += h * h;
            }
        }
        if (i + 1) % high_block == 0 || i + 1 == frames {
            let n = ((i % high_block) + 1) as f64;
            let from = (i + 1 - (i % high_block + 1)) as f64 / rate;
            let level = high_sums
                .iter()
                .map(|s| db(s / n))
                .fold(f64::NEG_INFINITY, f64::max);
            high_total += high_sums.iter().sum::<f64>();
            high_max = high_max.max(level);
            high_flags.push((from, (i + 1) as f64 / rate, level > HIGH_MAX_DBFS));
            high_sums.iter_mut().for_each(|s| *s = 0.0);
        }
    }
    let mut low_flags = Vec::new();
    for k in 0..low_blocks.len() {
        let pair = &low_blocks[k..(k + 2).min(low_blocks.len())];
        let n = (k * low_block) as f64;
        let end = ((k + pair.len()) * low_block).min(frames);
        let len = end as f64 - n;
        let sum = |j: usize| pair.iter().map(|b| b[j]).sum::<f64>();
        let corr = sum(1) / (sum(2) * sum(3)).sqrt().max(1e-30);
        let bad = db(sum(0) / len) > LOW_SIDE_PRESENT_DBFS && corr < LOW_CORRELATION_MIN;
        low_flags.push((n / rate, end as f64 / rate, bad));
        if end == frames {
            break;
        }
    }
    let low = ranges(&low_flags);
    if !low.is_empty() {
        problems.push(format!(
            "out-of-phase low end below {LOW_HZ} Hz at {}",
            low.iter()
                .take(8)
                .map(|(a, b)| format!("{}–{}", time(*a), time(*b)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let high = ranges(&high_flags);
    if !high.is_empty() {
        let what = if format.vinyl {
            "hot highs / sibilance above 5 kHz (cutter-head heat, playback distortion)"
        } else {
            "hot highs above 5 kHz (tape saturates there)"
        };
        problems.push(format!(
            "{what} at {}{}",
            high.iter()
                .take(8)
                .map(|(a, b)| format!("{}–{}", time(*a), time(*b)))
                .collect::<Vec<_>>()
                .join(", "),
            if high.len() > 8 {
                format!(" and {} more", high.len() - 8)
            } else {
                String::new()
            }
        ));
    }

    // Clipped runs (3 or more samples at the same full-scale value) and over-limiting.
    let mut clipped = Vec::new();
    for c in &side.channels {
        let mut run = 0usize;
        for (i, &v) in c.iter().enumerate() {
            if v.abs() >= 0.999 {
                run += 1;
                if run == 3 {
                    clipped.push(i as f64 / rate);
                }
            } else {
                run = 0;
            }
        }
    }
    clipped.sort_by(f64::total_cmp);
    if !clipped.is_empty() {
        problems.push(format!(
            "{} clipped runs, first at {}",
            clipped.len(),
            time(clipped[0])
        ));
    }
    if m.plr_db.is_finite() && m.plr_db < PLR_MIN_DB {
        notes.push(format!(
            "over-limited for {}: peak-to-loudness ratio {:.1} dB (under {PLR_MIN_DB} dB); a \
             master with its transients left in cuts and plays cleaner",
            if format.vinyl { "vinyl" } else { "tape" },
            m.plr_db
        ));
    }

    json!({
        "format": format.name,
        "length": time(length),
        "length_s": (length * 1000.0).round() / 1000.0,
        "max_length": time(format.max_s),
        "recommended_length": time(recommended),
        "integrated_lufs": super::num(lufs),
        "true_peak_dbtp": super::num(m.true_peak_max_dbtp),
        "plr_db": super::num(m.plr_db),
        "low_end": if stereo { json!({
            "correlation": super::num(llr / (ll * lr).sqrt().max(1e-30)),
            "side_to_mid_db": super::num(db(ls) - db(lm)),
            "out_of_phase": low.iter().map(|(a, b)| json!([time(*a), time(*b)])).collect::<Vec<_>>(),
        }) } else { Value::Null },
        "highs": {
            "share_above_5k_db": super::num(db(high_total) - db(all_total)),
            "loudest_50ms_dbfs": super::num(high_max),
            "hot": high.iter().map(|(a, b)| json!([time(*a), time(*b)])).collect::<Vec<_>>(),
        },
        "clipped_runs": clipped.len(),
        "problems": problems,
        "notes": notes,
        "ok": problems.is_empty(),
    })
}

/// Where a side's tracks start (s), as text for the report.
pub fn starts(starts_s: &[f64]) -> Vec<String> {
    starts_s.iter().map(|&s| time(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, seconds: f64, hz: f64, dbfs: f64, anti: bool) -> Signal {
        let n = (f64::from(rate) * seconds) as usize;
        let a = 10f64.powf(dbfs / 20.0);
        let l: Vec<f64> = (0..n)
            .map(|i| a * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin())
            .collect();
        let r = if anti {
            l.iter().map(|v| -v).collect()
        } else {
            l.clone()
        };
        Signal {
            rate_hz: rate,
            channels: vec![l, r],
        }
    }

    #[test]
    fn anti_phase_bass_is_flagged_and_in_phase_bass_is_not() {
        let f = format("12in-33", true).unwrap();
        let anti = preflight(&tone(44_100, 10.0, 60.0, -20.0, true), f);
        assert!(
            anti["problems"][0]
                .as_str()
                .unwrap()
                .contains("out-of-phase low end"),
            "{anti}"
        );
        assert!(anti["low_end"]["correlation"].as_f64().unwrap() < -0.99);
        let same = preflight(&tone(44_100, 10.0, 60.0, -20.0, false), f);
        assert_eq!(same["problems"].as_array().unwrap().len(), 0, "{same}");
        assert!(same["low_end"]["correlation"].as_f64().unwrap() > 0.99);
        // At 96 kHz too.
        let anti96 = preflight(&tone(96_000, 10.0, 60.0, -20.0, true), f);
        assert!(!anti96["ok"].as_bool().unwrap());
    }

    #[test]
    fn hot_highs_and_length_are_reported() {
        let f = format("7-45", true).unwrap();
        assert_eq!(f.name, "7in-45");
        let hot = preflight(&tone(48_000, 2.0, 8000.0, -6.0, false), f);
        assert!(
            hot["problems"][0].as_str().unwrap().contains("hot highs"),
            "{hot}"
        );
        let quiet = preflight(&tone(48_000, 2.0, 8000.0, -30.0, false), f);
        assert!(quiet["ok"].as_bool().unwrap(), "{quiet}");
        // 6 minutes of quiet tone on a 7" 45: too long.
        let long = preflight(&tone(8_000, 360.0, 100.0, -30.0, false), f);
        assert!(
            long["problems"][0]
                .as_str()
                .unwrap()
                .contains("longer than"),
            "{long}"
        );
        assert!(format("C60", false).is_some() && format("C61", false).is_none());
    }
}
