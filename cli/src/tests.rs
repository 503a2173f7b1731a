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
        let v = (amp * (std::f64::consts::TAU * 1000.0 * n as f64 / f64::from(sr)).sin()).round()
            as i32;
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
    let a = analyze(&p, -1.0, false).unwrap();
    let r = &a.report;
    assert_eq!((r.channels, r.sample_rate_hz), (2, 48_000.0));
    assert!((r.duration_s - 20.0).abs() < 1e-9);
    assert!((r.loudness.integrated_lufs + 23.0).abs() < 0.05);
    assert!((r.sample_peak_max_dbfs + 23.0).abs() < 0.01);
    assert!((r.true_peak_max_dbtp + 23.0).abs() < 0.05);
    let v = to_json("case1.wav", &a, None);
    for key in [
        "integrated_lufs",
        "loudness_range_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "momentary_max_lufs",
        "short_term_max_lufs",
        "plr_db",
        "crest_db",
        "correlation",
        "channels",
        "sample_rate",
        "duration_s",
        "qc",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!((v["integrated_lufs"].as_f64().unwrap() + 23.0).abs() < 0.05);
    assert_eq!(v["sample_rate"], 48_000);
}

#[test]
fn silence_is_null_in_json_and_misses_a_loudness_target() {
    let p = temp("silence.wav");
    write_tone(&p, 44_100, 1, -200.0, 2.0, 16);
    let a = analyze(&p, -1.0, false).unwrap();
    let t = targets::find("spotify").unwrap();
    let v = t.judge(
        a.report.loudness.integrated_lufs,
        a.report.true_peak_max_dbtp,
    );
    assert!(!v.loudness_ok);
    let j = to_json("silence.wav", &a, Some((t, v)));
    assert!(j["integrated_lufs"].is_null());
    assert_eq!(j["target"]["loudness_ok"], false);
}

#[test]
fn hostile_files_give_errors_not_panics() {
    let empty = temp("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    assert!(analyze(&empty, -1.0, false).is_err());
    let junk = temp("junk.flac");
    std::fs::write(
        &junk,
        b"fLaC\x00\x00\x00\x22garbage garbage garbage garbage garbage",
    )
    .unwrap();
    assert!(analyze(&junk, -1.0, false).is_err());
    let noise = temp("noise.mp3");
    let bytes: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&noise, &bytes).unwrap();
    // Either refused outright or decoded as damaged packets; never a panic.
    let _ = analyze(&noise, -1.0, false);
    let good = temp("good.wav");
    write_tone(&good, 44_100, 1, -20.0, 1.0, 16);
    let data = std::fs::read(&good).unwrap();
    let cut = temp("cut.wav");
    std::fs::write(&cut, &data[..data.len() / 2 + 1]).unwrap();
    let err = analyze(&cut, -1.0, false)
        .err()
        .expect("truncated file must fail");
    assert!(format!("{err:#}").contains("truncated"), "{err:#}");
    assert!(analyze(Path::new("/nonexistent/lathe.wav"), -1.0, false).is_err());
}

/// Writes a 16-bit AIFF (big-endian PCM; the sample rate is an 80-bit extended float).
fn write_aiff(path: &Path, sr: u32, channels: u16, samples: &[i16]) {
    let frames = (samples.len() / usize::from(channels)) as u32;
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"FORM");
    b.extend_from_slice(&(4 + 26 + 16 + data_len).to_be_bytes());
    b.extend_from_slice(b"AIFFCOMM");
    b.extend_from_slice(&18u32.to_be_bytes());
    b.extend_from_slice(&channels.to_be_bytes());
    b.extend_from_slice(&frames.to_be_bytes());
    b.extend_from_slice(&16u16.to_be_bytes());
    // 80-bit extended: exponent 16383 + e, 64-bit mantissa with explicit leading 1.
    let e = 31 - sr.leading_zeros();
    b.extend_from_slice(&((16_383 + e) as u16).to_be_bytes());
    b.extend_from_slice(&((u64::from(sr)) << (63 - e)).to_be_bytes());
    b.extend_from_slice(b"SSND");
    b.extend_from_slice(&(8 + data_len).to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    for s in samples {
        b.extend_from_slice(&s.to_be_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// Encodes a WAV with a command-line encoder; the test needs it (CI installs flac and lame).
fn encode(tool: &str, args: &[&str]) {
    let status = std::process::Command::new(tool)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| {
            panic!("{tool} is needed for this test (Debian: apt-get install flac lame): {e}")
        });
    assert!(status.success(), "{tool} failed");
}

#[test]
fn reads_aiff_flac_and_mp3() {
    let sr = 44_100;
    let tone: Vec<i16> = (0..sr * 10)
        .flat_map(|n| {
            let v = (10f64.powf(-20.0 / 20.0)
                * 32_767.0
                * (std::f64::consts::TAU * 1000.0 * f64::from(n) / f64::from(sr)).sin())
                as i16;
            [v, v]
        })
        .collect();
    let aiff = temp("tone.aiff");
    write_aiff(&aiff, sr, 2, &tone);
    let a = analyze(&aiff, -1.0, false).unwrap().report;
    assert_eq!(a.channels, 2);
    assert!((a.duration_s - 10.0).abs() < 1e-9);
    assert!(
        (a.loudness.integrated_lufs + 20.0).abs() < 0.05,
        "{}",
        a.loudness.integrated_lufs
    );

    let wav = temp("tone.wav");
    write_tone(&wav, sr, 2, -20.0, 10.0, 16);
    let flac = temp("tone.flac");
    encode(
        "flac",
        &[
            "-f",
            "-s",
            "-o",
            flac.to_str().unwrap(),
            wav.to_str().unwrap(),
        ],
    );
    let f = analyze(&flac, -1.0, false).unwrap().report;
    let w = analyze(&wav, -1.0, false).unwrap().report;
    // FLAC is lossless: the same readings as the WAV it came from.
    assert_eq!(f.loudness.integrated_lufs, w.loudness.integrated_lufs);
    assert_eq!(f.true_peak_dbtp, w.true_peak_dbtp);

    let mp3 = temp("tone.mp3");
    encode(
        "lame",
        &[
            "--silent",
            "-b",
            "320",
            wav.to_str().unwrap(),
            mp3.to_str().unwrap(),
        ],
    );
    let m = analyze(&mp3, -1.0, false).unwrap().report;
    assert_eq!(m.channels, 2);
    // Lossy, with encoder delay and padding: loudness close, length within a few frames.
    assert!(
        (m.loudness.integrated_lufs + 20.0).abs() < 0.1,
        "{}",
        m.loudness.integrated_lufs
    );
    assert!((m.duration_s - 10.0).abs() < 0.1, "{}", m.duration_s);
}

/// Fuzzes the front door for a bounded time: WAV (16-bit and float), AIFF, FLAC and MP3 files
/// with damaged headers, chunk sizes, truncations and inserted junk. Every file gives a report or
/// a one-line error that says what is wrong – never a panic, never an empty message.
#[test]
fn fuzzed_files_give_reports_or_clear_errors() {
    // As `main` does: decoder panics (caught, reported as errors) print nothing.
    crate::decode::quiet_decoder_panics();
    let wav16 = temp("fuzz-seed16.wav");
    write_tone(&wav16, 44_100, 2, -6.0, 0.3, 16);
    let float = temp("fuzz-seedf.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&float, spec).unwrap();
        for n in 0..14_400 {
            w.write_sample((n as f32 * 0.05).sin() * 0.5).unwrap();
        }
        w.finalize().unwrap();
    }
    let aiff = temp("fuzz-seed.aiff");
    write_aiff(
        &aiff,
        44_100,
        1,
        &(0..13_230)
            .map(|n| (n * 37 % 20_000) as i16)
            .collect::<Vec<_>>(),
    );
    let flac = temp("fuzz-seed.flac");
    encode(
        "flac",
        &[
            "-f",
            "-s",
            "-o",
            flac.to_str().unwrap(),
            wav16.to_str().unwrap(),
        ],
    );
    let mp3 = temp("fuzz-seed.mp3");
    encode(
        "lame",
        &[
            "--silent",
            "-b",
            "128",
            wav16.to_str().unwrap(),
            mp3.to_str().unwrap(),
        ],
    );

    let seeds: Vec<(&str, Vec<u8>)> = [&wav16, &float, &aiff, &flac, &mp3]
        .iter()
        .map(|p| {
            let ext = p.extension().unwrap().to_str().unwrap();
            (ext, std::fs::read(p).unwrap())
        })
        .collect();
    // xorshift: the cases are the same on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    let budget = std::time::Duration::from_secs(8);
    let start = std::time::Instant::now();
    let (mut cases, mut reports, mut errors) = (0, 0, 0);
    while start.elapsed() < budget {
        let (ext, seed) = &seeds[cases % seeds.len()];
        let mut bytes = seed.clone();
        for _ in 0..1 + next(4) {
            // Mostly the header, where the parsers decide what to read.
            let at = if next(4) > 0 {
                next(bytes.len().min(256))
            } else {
                next(bytes.len())
            };
            match next(6) {
                0 => bytes[at] ^= 1 << next(8),
                1 => bytes[at] = [0x00, 0xff, 0x7f, 0x80][next(4)],
                2 if at + 4 <= bytes.len() => {
                    // A 32-bit size or count field gone wrong (either byte order).
                    let v = [0u32, 1, 0xffff_ffff, 0x7fff_ffff, next(1 << 20) as u32][next(5)];
                    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
                3 => bytes.truncate(at),
                4 => {
                    let junk: Vec<u8> = (0..next(64)).map(|_| next(256) as u8).collect();
                    bytes.splice(at..at, junk);
                }
                _ => {
                    let end = (at + next(32)).min(bytes.len());
                    bytes.drain(at..end);
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        let path = temp(&format!("fuzz-case.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        cases += 1;
        match analyze(&path, -1.0, false) {
            Ok(a) => {
                reports += 1;
                let r = &a.report;
                assert!(
                    r.duration_s.is_finite() && r.duration_s >= 0.0,
                    "case {cases}"
                );
            }
            Err(e) => {
                errors += 1;
                let msg = format!("{e:#}");
                assert!(
                    !msg.trim().is_empty() && !msg.contains('\n'),
                    "case {cases} ({ext}): unclear error {msg:?}"
                );
            }
        }
    }
    assert!(cases > 200, "only {cases} cases in {budget:?}");
    eprintln!("{cases} fuzzed files: {reports} reports, {errors} errors");
}

/// A 1 kHz tone with faint noise (fixed seed) and one 1-sample click of `click` at 1.5 s,
/// 24-bit mono at 44.1 kHz.
fn write_tone_with_click(path: &Path, click: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let full = f64::from((1u32 << 23) - 1);
    let mut seed = 0x2545_f491_u32;
    for n in 0..3 * 44_100usize {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (f64::from(seed >> 8) / f64::from(1u32 << 24) - 0.5) * 2e-3;
        let mut v = 0.1 * (std::f64::consts::TAU * 1000.0 * n as f64 / 44_100.0).sin() + noise;
        if n == 66_150 {
            v += click;
        }
        w.write_sample((v * full).round() as i32).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn the_click_threshold_reaches_the_detector() {
    // The analysis of a click of height `click` at threshold `db`, and its clicks (time, dB).
    let analysis = |click: f64, db: f64| {
        let p = temp(&format!("tone-click-{click}.wav"));
        write_tone_with_click(&p, click);
        let config = AnalyzerConfig {
            click_threshold_db: db,
            ..AnalyzerConfig::default()
        };
        let a = analyze_with(&p, config, false).unwrap();
        let clicks = a
            .report
            .qc
            .iter()
            .filter(|e| e.kind == lathe_dsp::qc::QcKind::Click)
            .map(|e| (e.start_s, e.value))
            .collect::<Vec<_>>();
        (a, clicks)
    };
    let clicks = |click: f64, db: f64| analysis(click, db).1;
    let default = lathe_dsp::qc::click::CLICK_RATIO_DB;
    // About 37 dB out: found at the default, not at 45 dB.
    let loud = clicks(0.04, default);
    assert!(
        loud.len() == 1 && (loud[0].0 - 1.5).abs() < 0.001,
        "{loud:?}"
    );
    assert!(clicks(0.04, 45.0).is_empty());
    // About 25 dB out: not found at the default, found at 22 dB.
    assert!(clicks(0.012, default).is_empty());
    let (a, faint) = analysis(0.012, 22.0);
    assert!(
        faint.len() == 1 && (faint[0].0 - 1.5).abs() < 0.001,
        "{faint:?}"
    );
    // The report says which threshold it was made with.
    assert_eq!(to_json("t.wav", &a, None)["click_threshold_db"], 22.0);
}

#[test]
fn the_click_threshold_is_parsed_and_bounded() {
    use clap::Parser;
    let parse = |v: &str| match Cli::try_parse_from([
        "lathe",
        "analyze",
        "x.wav",
        "--click-threshold",
        v,
    ]) {
        Ok(Cli {
            command: Commands::Analyze(a),
            ..
        }) => Ok(a.click_threshold),
        Ok(_) => Err("another command".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    assert_eq!(parse("22"), Ok(22.0));
    assert_eq!(parse("12"), Ok(12.0));
    assert_eq!(parse("60"), Ok(60.0));
    assert!(parse("11.9").is_err());
    assert!(parse("NaN").is_err());
    assert!(parse("5").is_err());
    assert!(parse("61").is_err());
    assert!(parse("loud").is_err());
    let default = Cli::try_parse_from(["lathe", "analyze", "x.wav"]).unwrap();
    assert!(
        matches!(default.command, Commands::Analyze(a) if a.click_threshold == lathe_dsp::qc::click::CLICK_RATIO_DB)
    );
}
