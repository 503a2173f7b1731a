//! Concurrent publish and read through two separate mappings of one registry file (as two
//! processes would have them): no reader ever sees a reading mixed from two publishes.

use lathe_session::region::Region;
use lathe_session::{Reading, Registry};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A reading whose every field is derived from `k`, so a torn copy shows as a mismatch.
fn pattern(k: u32) -> Reading {
    let f = k as f32;
    Reading {
        momentary_lufs: f,
        short_term_lufs: f + 1.0,
        integrated_lufs: f + 2.0,
        loudness_range_lu: f + 3.0,
        true_peak_max_dbtp: f + 4.0,
        plr_db: f + 5.0,
        correlation: f + 6.0,
        target_lufs: f + 7.0,
        target_tolerance_lu: f + 8.0,
        target_true_peak_dbtp: f + 9.0,
        overs: k,
        channels: k ^ 0x5555,
        sample_rate_hz: k.wrapping_mul(3),
    }
}

#[test]
fn concurrent_publish_and_read_never_tears() {
    let dir = std::env::temp_dir().join(format!("lathe-session-torn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("registry");
    let writer_side = Registry::new(Region::open(&path).unwrap());
    let reader_side = Registry::new(Region::open(&path).unwrap());
    // Four instances publishing flat out, like four audio threads.
    let writers: Vec<_> = (0..4)
        .map(|i| {
            writer_side
                .register("torn", &format!("w{i}"), None)
                .unwrap()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = writers
        .into_iter()
        .map(|reg| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut k = 0u32;
                // Values stay exactly representable in f32 (below 2^24 − 10).
                while !stop.load(Ordering::Relaxed) {
                    k = (k + 1) % 16_000_000;
                    reg.publish(&pattern(k), true);
                }
                k
            })
        })
        .collect();

    let start = Instant::now();
    let mut checked = 0u64;
    let mut distinct = std::collections::HashSet::new();
    while start.elapsed() < Duration::from_secs(3) {
        for e in reader_side.group_entries("torn") {
            if e.reading.true_peak_max_dbtp == f32::NEG_INFINITY {
                continue; // registered, nothing published yet
            }
            let k = e.reading.overs;
            assert_eq!(e.reading, pattern(k), "torn reading in slot {}", e.slot);
            distinct.insert(k);
            checked += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        assert!(t.join().unwrap() > 0);
    }
    // The reads must actually have raced the writes.
    assert!(checked > 10_000, "only {checked} readings checked");
    assert!(
        distinct.len() > 1000,
        "only {} distinct readings",
        distinct.len()
    );
    eprintln!(
        "{checked} readings checked, {} distinct, none torn",
        distinct.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
