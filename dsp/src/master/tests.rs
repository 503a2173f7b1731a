use super::*;
use crate::ab::Listen;
use crate::eq::{Phase, Placement};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const SR: f64 = 48_000.0;

/// Programme-like stereo material: drums-like bursts, a bass tone, noise, some side content,
/// loud enough to keep the compressor and the limiter working.
fn programme(frames: usize, seed: u64) -> [Vec<f32>; 2] {
    let mut rng = SmallRng::seed_from_u64(seed);
    let [mut left, mut right] = [vec![0.0f32; frames], vec![0.0f32; frames]];
    let mut env = 0.0f32;
    for (i, (l, r)) in left.iter_mut().zip(right.iter_mut()).enumerate() {
        let t = i as f32 / SR as f32;
        if i % 12_000 == 0 {
            env = 1.0;
        }
        env *= 0.9995;
        let kick = env * (2.0 * std::f32::consts::PI * 55.0 * t).sin();
        let bass = 0.3 * (2.0 * std::f32::consts::PI * 82.4 * t).sin();
        let n1: f32 = rng.random_range(-0.25..0.25);
        let n2: f32 = rng.random_range(-0.25..0.25);
        *l = 0.6 * kick + bass + n1;
        *r = 0.6 * kick + bass * 0.8 + n2;
    }
    [left, right]
}

/// Every stage working.
fn busy_settings(phase: Phase, listen: Listen) -> MasterSettings {
    let mut s = MasterSettings::default();
    s.input.gain_db = 2.0;
    s.input.low_cut = LowCutMode::Sub20;
    s.eq.phase = phase;
    s.eq.low_cut.on = true;
    s.eq.low_shelf.gain_db = 2.0;
    s.eq.bell1.gain_db = -3.0;
    s.eq.bell2.gain_db = 1.5;
    s.eq.bell2.placement = Placement::Mid;
    s.eq.bell3.gain_db = 2.0;
    s.eq.bell3.placement = Placement::Side;
    s.eq.high_shelf.gain_db = 1.0;
    s.compressor.on = true;
    s.compressor.threshold_db = -24.0;
    s.compressor.auto_release = true;
    s.stereo.width_pct = 130.0;
    s.stereo.mono_bass = true;
    s.limiter.drive_db = 8.0;
    s.limiter.auto_release = true;
    s.output.gain_db = -0.5;
    s.output.dither_bits = 16;
    s.output.noise_shaping = true;
    s.output.listen = listen;
    s
}

/// Renders `input` in blocks from `next_block`, applying `changes` (frame, settings) at their
/// frames (blocks are split there, as a host splits at automation points).
fn render(
    input: &[Vec<f32>; 2],
    start: &MasterSettings,
    changes: &[(usize, MasterSettings)],
    mut next_block: impl FnMut() -> usize,
) -> [Vec<f32>; 2] {
    let mut chain = MasterChain::with_settings(SR, 2, start).unwrap();
    let mut out = input.clone();
    let frames = out[0].len();
    let mut pos = 0;
    let mut next_change = 0;
    while pos < frames {
        while next_change < changes.len() && changes[next_change].0 == pos {
            chain.set(&changes[next_change].1);
            next_change += 1;
        }
        let mut n = next_block().max(1).min(frames - pos);
        if let Some((at, _)) = changes.get(next_change) {
            n = n.min(at - pos);
        }
        let [l, r] = &mut out;
        chain.process(&mut [&mut l[pos..pos + n], &mut r[pos..pos + n]]);
        pos += n;
    }
    out
}

fn largest_difference(a: &[Vec<f32>; 2], b: &[Vec<f32>; 2]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn every_partition_gives_the_same_output_bit_for_bit() {
    let input = programme(150_000, 1);
    for (phase, listen) in [
        (Phase::Minimum, Listen::Processed),
        (Phase::Minimum, Listen::MatchedBypass),
        (Phase::Linear, Listen::Delta),
    ] {
        let start = busy_settings(phase, listen);
        // Automation at fixed frames: drive, an EQ gain, the trim and width glide from there.
        let mut later = start;
        later.limiter.drive_db = 11.0;
        later.eq.bell2.gain_db = -2.0;
        later.input.gain_db = 0.5;
        later.stereo.width_pct = 90.0;
        later.compressor.ratio = 3.0;
        let mut eq_off = later;
        eq_off.eq.on = false;
        let mut last = later;
        last.output.listen = Listen::Processed;
        last.eq.bell1.gain_db = 4.0;
        let changes = [(40_000, later), (61_001, eq_off), (97_777, last)];
        let reference = render(&input, &start, &changes, || usize::MAX);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut cases: Vec<(String, [Vec<f32>; 2])> = Vec::new();
        for block in [1usize, 7, 64, 512, 4096, 65_536] {
            cases.push((
                format!("{block}"),
                render(&input, &start, &changes, || block),
            ));
        }
        cases.push((
            "random".into(),
            render(&input, &start, &changes, || rng.random_range(1..=5000)),
        ));
        for (name, out) in &cases {
            let diff = largest_difference(&reference, out);
            assert!(
                diff == 0.0,
                "{phase:?}/{listen:?}: blocks of {name} differ from one pass by {diff}"
            );
        }
        // The chain really worked: limiting, compression, dither grid.
        let peak = reference[0].iter().fold(0.0f32, |m, &x| m.max(x.abs()));
        assert!(peak > 0.5, "output peak {peak}");
    }
}

#[test]
fn channel_counts_it_cannot_take_are_refused() {
    for channels in [0, 3, 6] {
        let err = MasterChain::new(SR, channels).err().expect("refused");
        assert!(err.to_string().contains("mono or stereo"), "{err}");
    }
    assert!(MasterChain::new(1_000.0, 2).is_err());
    assert!(MasterChain::new(f64::NAN, 2).is_err());
    for sr in [8_000.0, 44_100.0, 384_000.0] {
        let mut chain = MasterChain::new(sr, 1).unwrap();
        let mut x = vec![0.5f32; 3000];
        chain.process(&mut [&mut x]);
        assert!(x.iter().all(|s| s.is_finite()));
    }
    let mut stereo = crate::stereo::Stereo::new(SR);
    assert!(Processor::prepare(&mut stereo, SR, 1).is_err());
}

#[test]
fn garbage_in_gives_finite_output_under_the_ceiling() {
    let mut chain =
        MasterChain::with_settings(SR, 2, &busy_settings(Phase::Minimum, Listen::Processed))
            .unwrap();
    let mut l: Vec<f32> = (0..20_000)
        .map(|i| match i % 5 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => 1e-40,
            3 => 1e30,
            _ => -1.0,
        })
        .collect();
    let mut r = l.clone();
    chain.process(&mut [&mut l, &mut r]);
    let ceiling = crate::level::db_to_gain(-1.0);
    for s in l.iter().chain(&r) {
        assert!(s.is_finite() && s.abs() <= ceiling, "{s}");
    }
}

#[test]
fn latency_matches_latency_for() {
    for phase in [Phase::Minimum, Phase::Linear] {
        for lookahead in [0.5, 1.5, 5.0] {
            for sr in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
                let mut s = MasterSettings::default();
                s.eq.phase = phase;
                s.limiter.lookahead_ms = lookahead;
                let chain = MasterChain::with_settings(sr, 2, &s).unwrap();
                assert_eq!(chain.latency_samples(), MasterChain::latency_for(sr, &s));
            }
        }
    }
}

#[test]
fn settings_files_round_trip_and_errors_name_the_key() {
    let s = busy_settings(Phase::Linear, Listen::Processed);
    let text = s.to_toml();
    assert!(text.contains("version = 1"), "{text}");
    assert_eq!(MasterSettings::from_toml(&text).unwrap(), s);
    // A file without a version (0) is migrated; missing keys take their defaults.
    let old = MasterSettings::from_toml("[limiter]\ndrive_db = 3.0\n").unwrap();
    assert_eq!(old.limiter.drive_db, 3.0);
    assert_eq!(old.version, SETTINGS_VERSION);
    // Any key may be left out, down to one field of one band; a base (a preset) fills the rest.
    let bell = MasterSettings::from_toml("[eq.bell2]\ngain_db = -1.5\n").unwrap();
    assert_eq!(bell.eq.bell2.gain_db, -1.5);
    assert_eq!(
        bell.eq.bell2.freq_hz,
        MasterSettings::default().eq.bell2.freq_hz
    );
    let over = MasterSettings::from_toml_over("[limiter]\ndrive_db = 2.0\n", &s).unwrap();
    assert_eq!(over.limiter.drive_db, 2.0);
    assert_eq!(over.eq, s.eq);
    let err = |t: &str| MasterSettings::from_toml(t).unwrap_err().to_string();
    assert!(err("version = 99\n").contains("version"));
    assert!(err("[limiter]\ndrive_db = \"loud\"\n").contains("drive_db"));
    assert!(err("[limiter]\ndrive_db = 40.0\n").contains("limiter.drive_db"));
    assert!(err("[limiter]\ndrvie_db = 4.0\n").contains("drvie_db"));
    assert!(err("target = \"nowhere\"\n").contains("nowhere"));
    assert!(err("[eq.high_cut]\nfreq_hz = 9000.0\nslope_db_per_octave = 36\n").contains("slope"));
    assert!(err("not toml at all [").len() > 3);
}

/// Largest |second difference| of `x` (a step or a click shows as a spike).
fn largest_second_difference(x: &[f32]) -> f32 {
    x.windows(3)
        .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn host_bypass_is_the_delayed_input_bit_for_bit_and_switches_without_a_click() {
    for phase in [Phase::Minimum, Phase::Linear] {
        let settings = busy_settings(phase, Listen::Processed);
        let mut chain = MasterChain::with_settings(SR, 2, &settings).unwrap();
        let latency = chain.latency_samples() as usize;
        // A 1 kHz sine at −6 dBFS (the chain's drive and EQ make it much louder processed).
        let frames = 96_000;
        let tone: Vec<f32> = (0..frames)
            .map(|i| 0.5 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / SR).sin() as f32)
            .collect();
        let mut out = [tone.clone(), tone.clone()];
        let on_at = 24_000;
        let off_at = 60_000;
        let mut pos = 0;
        while pos < frames {
            chain.set_host_bypass((on_at..off_at).contains(&pos));
            let n = 480.min(frames - pos);
            let [l, r] = &mut out;
            chain.process(&mut [&mut l[pos..pos + n], &mut r[pos..pos + n]]);
            pos += n;
        }
        // Fully bypassed (after the 20 ms fade): the input delayed by the latency, exactly.
        let fade = (crate::ab::BYPASS_FADE_MS * 1e-3 * SR) as usize + 1;
        for i in on_at + fade..off_at {
            for ch in &out {
                assert_eq!(ch[i], tone[i - latency], "{phase:?}: frame {i}");
            }
        }
        // No click at either switch: the output's largest second difference around each switch
        // stays within 2× of the larger of the two steady signals' (processed, bypassed).
        let steady_bypassed = largest_second_difference(&out[0][on_at + fade..off_at - 10]);
        let steady_processed = largest_second_difference(&out[0][frames - 20_000..]);
        let bound = 2.0 * steady_bypassed.max(steady_processed);
        for at in [on_at, off_at] {
            let around = largest_second_difference(&out[0][at - 1000..at + fade + 1000]);
            assert!(
                around <= bound,
                "{phase:?}: switch at {at}: second difference {around} > {bound}"
            );
        }
    }
}

/// Renders a 1 kHz stereo tone (the right channel phase-shifted, so it has side content) in
/// 64-frame blocks, with settings `a`, switching to `b` at 0.5 s and back at 1.25 s. Returns the
/// largest second difference around the two switches and the larger of the three steady
/// stretches' (per channel, the worse channel).
fn switch_steps(a: &MasterSettings, b: &MasterSettings) -> (f32, f32) {
    let frames = 96_000;
    let w = 2.0 * std::f64::consts::PI * 1000.0 / SR;
    let input = [
        (0..frames)
            .map(|i| (0.25 * (w * i as f64).sin()) as f32)
            .collect::<Vec<_>>(),
        (0..frames)
            .map(|i| (0.25 * (w * i as f64 + 1.0).sin()) as f32)
            .collect::<Vec<_>>(),
    ];
    let out = render(&input, a, &[(24_000, *b), (60_000, *a)], || 64);
    let (mut around, mut steady) = (0.0f32, 0.0f32);
    for ch in &out {
        for range in [14_000..23_900, 40_000..59_900, 80_000..95_000] {
            steady = steady.max(largest_second_difference(&ch[range]));
        }
        for at in [24_000, 60_000] {
            around = around.max(largest_second_difference(&ch[at - 100..at + 4_000]));
        }
    }
    (around, steady)
}

#[test]
fn switches_and_sweeps_do_not_click_on_a_tone() {
    let base = {
        let mut s = MasterSettings::default();
        s.eq.bell2.freq_hz = 1000.0;
        s.eq.bell2.gain_db = 6.0;
        s.eq.bell2.q = 1.0;
        s.compressor.threshold_db = -30.0;
        s.compressor.ratio = 4.0;
        s.stereo.width_pct = 160.0;
        s.stereo.mono_below_hz = 300.0;
        s.limiter.on = false;
        s
    };
    let mut cases: Vec<(&str, MasterSettings, MasterSettings)> = Vec::new();
    for phase in [Phase::Minimum, Phase::Linear] {
        let mut a = base;
        a.eq.phase = phase;
        let mut b = a;
        b.eq.on = false;
        cases.push((
            if phase == Phase::Minimum {
                "EQ on/off (minimum phase)"
            } else {
                "EQ on/off (linear phase)"
            },
            a,
            b,
        ));
    }
    let mut b = base;
    b.compressor.on = true;
    cases.push(("compressor on/off", base, b));
    let mut b = base;
    b.stereo.on = false;
    cases.push(("stereo on/off", base, b));
    let mut b = base;
    b.stereo.width_pct = 0.0;
    cases.push(("width 160 % <-> 0 %", base, b));
    let mut b = base;
    b.stereo.mono_bass = true;
    cases.push(("mono bass on/off", base, b));
    let mut b = base;
    b.input.gain_db = -12.0;
    cases.push(("input gain 0 <-> -12 dB", base, b));
    let mut b = base;
    b.output.gain_db = -12.0;
    cases.push(("output gain 0 <-> -12 dB", base, b));
    let mut failures = Vec::new();
    for (name, a, b) in &cases {
        let (around, steady) = switch_steps(a, b);
        println!("{name}: {:.2}x the steady tone's", around / steady);
        if around > 2.0 * steady {
            failures.push(format!("{name}: {around} vs steady {steady}"));
        }
    }
    assert!(failures.is_empty(), "clicks: {failures:?}");
}

#[test]
fn eq_band_switches_do_not_click_on_a_tone() {
    let mut base = MasterSettings::default();
    base.eq.bell2.freq_hz = 1000.0;
    base.eq.bell2.gain_db = 6.0;
    base.limiter.on = false;
    let mut on = base;
    on.eq.bell2.on = false;
    let mut place = base;
    place.eq.bell2.placement = Placement::Side;
    let mut cut = base;
    cut.eq.low_cut.on = true;
    cut.eq.low_cut.freq_hz = 800.0;
    let mut slope = cut;
    slope.eq.low_cut.slope_db_per_octave = 48;
    let mut cut_side = cut;
    cut_side.eq.low_cut.placement = Placement::Side;
    let mut high = base;
    high.eq.high_cut.on = true;
    high.eq.high_cut.freq_hz = 1500.0;
    let mut linear_cut = cut;
    linear_cut.eq.phase = Phase::Linear;
    let mut linear_base = base;
    linear_base.eq.phase = Phase::Linear;
    let mut failures = Vec::new();
    for (name, a, b) in [
        ("bell on/off", base, on),
        ("bell placement stereo <-> side", base, place),
        ("low cut on/off at 800 Hz", base, cut),
        ("low cut slope 24 <-> 48", cut, slope),
        ("low cut placement stereo <-> side", cut, cut_side),
        ("high cut on/off at 1.5 kHz", base, high),
        (
            "low cut on/off at 800 Hz, linear phase",
            linear_base,
            linear_cut,
        ),
    ] {
        let (around, steady) = switch_steps(&a, &b);
        println!("{name}: {:.2}x the steady tone's", around / steady);
        if around > 2.0 * steady {
            failures.push(format!("{name}: {around} vs steady {steady}"));
        }
    }
    assert!(failures.is_empty(), "clicks: {failures:?}");
}

/// The chain flushes denormals itself, so `lathe` (whose thread runs without flush-to-zero)
/// renders the bits the plugins render (their process call turns it on): audio, a denormal
/// stretch and a long decay into silence come out identical both ways. Denormal input costs
/// no more than twice normal audio (best of three, 10 s stereo 48 kHz, every stage working).
#[test]
fn denormals_render_the_same_with_or_without_the_callers_ftz_and_cost_no_more_than_audio() {
    let mut settings = busy_settings(Phase::Minimum, Listen::Processed);
    // Float output: dither would hide differences below the 16-bit step.
    settings.output.dither_bits = 0;
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let render = |input: &[f32], caller_ftz: bool| {
        let _outer = caller_ftz.then(crate::denormal::FtzGuard::new);
        let mut chain = MasterChain::with_settings(SR, 2, &settings).unwrap();
        let (mut l, mut r) = (input.to_vec(), input.iter().map(|x| -x).collect::<Vec<_>>());
        let start = std::time::Instant::now();
        for (l, r) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
            chain.process(&mut [l, r]);
        }
        (start.elapsed().as_secs_f64(), l, r)
    };
    assert!(
        !crate::denormal::FtzGuard::is_enabled(),
        "the test thread starts without FTZ"
    );
    // 0.5 s of audio, 0.5 s of denormal noise, 40 s of silence (the tails decay through the
    // denormal range).
    let sr = SR as usize;
    let mut tail: Vec<f32> = (0..sr).map(|_| rnd()).collect();
    for (i, x) in tail.iter_mut().enumerate() {
        *x *= if i < sr / 2 { 0.3 } else { 1e-39 };
    }
    tail.resize(sr * 41, 0.0);
    let (_, l1, r1) = render(&tail, false);
    let (_, l2, r2) = render(&tail, true);
    let differ = l1
        .iter()
        .zip(&l2)
        .chain(r1.iter().zip(&r2))
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(
        differ, 0,
        "{differ} samples differ between a caller with and without FTZ"
    );

    let audio: Vec<f32> = (0..sr * 10).map(|_| 0.3 * rnd()).collect();
    let denormal: Vec<f32> = audio.iter().map(|x| x * 1e-38).collect();
    let best = |input: &[f32]| {
        (0..3)
            .map(|_| render(input, false).0)
            .fold(f64::INFINITY, f64::min)
    };
    let (t_audio, t_denormal) = (best(&audio), best(&denormal));
    assert!(
        t_denormal <= 2.0 * t_audio,
        "denormal input took {t_denormal:.3} s, audio {t_audio:.3} s"
    );
}
