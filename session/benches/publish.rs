//! `cargo xtask bench`: what the session registry costs the audio thread per block, and what a
//! full read of 128 instances costs the editor per frame.

use lathe_session::region::Region;
use lathe_session::{Reading, Registry};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let dir = std::env::temp_dir().join(format!("lathe-session-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The real thing: a shared file mapping, as the plugin uses it.
    let registry = Registry::new(Region::open(&dir.join("registry")).expect("mapping"));
    let instances: Vec<_> = (0..128)
        .map(|i| {
            registry
                .register("bench", &format!("track {i}"), None)
                .expect("slot")
        })
        .collect();

    let publishes = 20_000_000u32;
    let mut reading = Reading::default();
    let start = Instant::now();
    for i in 0..publishes {
        // A different value every time so nothing can be hoisted out of the loop.
        reading.momentary_lufs = (i & 1023) as f32 * -0.01;
        instances[0].publish(black_box(&reading), i & 1 == 0);
    }
    let publish_ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(publishes);
    println!("session publish (per block, one instance): {publish_ns:.1} ns");

    let reads = 2000;
    let start = Instant::now();
    let mut seen = 0;
    for _ in 0..reads {
        seen += black_box(registry.entries()).len();
    }
    assert_eq!(seen, reads * 128);
    let read_us = start.elapsed().as_secs_f64() * 1e6 / reads as f64;
    println!("session read of 128 instances (per editor frame): {read_us:.1} µs");

    drop(instances);
    let _ = std::fs::remove_dir_all(&dir);
}
