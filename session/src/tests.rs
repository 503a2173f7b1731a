use super::*;

fn reading(level: f32) -> Reading {
    Reading {
        momentary_lufs: level,
        short_term_lufs: level - 1.0,
        integrated_lufs: level - 2.0,
        target_lufs: -14.0,
        target_tolerance_lu: 1.0,
        ..Reading::default()
    }
}

#[test]
fn registered_instances_appear_with_their_readings_and_go_when_dropped() {
    let registry = Registry::new(Region::in_memory());
    let a = registry.register("song", "Kick", Some(0xFF0000FF)).unwrap();
    let b = registry.register("song", "Bass", None).unwrap();
    let c = registry.register("other", "Vox", None).unwrap();
    a.publish(&reading(-10.0), true);
    b.publish(&reading(-20.0), false);
    let song = registry.group_entries("song");
    assert_eq!(song.len(), 2);
    let kick = song.iter().find(|e| e.name == "Kick").unwrap();
    assert_eq!(kick.reading.momentary_lufs, -10.0);
    assert_eq!(kick.reading.integrated_lufs, -12.0);
    assert_eq!(kick.color_rgba, Some(0xFF0000FF));
    assert!(kick.over_target(), "-12 LUFS is over -14 ± 1");
    let bass = song.iter().find(|e| e.name == "Bass").unwrap();
    assert_eq!(bass.color_rgba, None);
    assert!(!bass.over_target());
    assert_eq!(registry.entries().len(), 3);
    drop(c);
    assert_eq!(registry.entries().len(), 2);
    drop((a, b));
    assert!(registry.entries().is_empty());
}

#[test]
fn the_heartbeat_marks_audio_and_publishes() {
    let registry = Registry::new(Region::in_memory());
    let a = registry.register("g", "a", None).unwrap();
    let published = std::time::Instant::now();
    a.publish(&reading(-10.0), true);
    std::thread::sleep(std::time::Duration::from_millis(3 * HEARTBEAT_MS));
    let e = &registry.entries()[0];
    let elapsed = u64::try_from(published.elapsed().as_millis()).unwrap();
    assert!(e.receiving_audio);
    // The heartbeat notices a publish within one beat, so the age lies between the time
    // since the publish less a beat and the time since the publish (each in whole ms; the
    // lower bound allows a beat of scheduling delay on a loaded machine).
    assert!(
        e.age_ms <= elapsed + 1 && e.age_ms + 2 * HEARTBEAT_MS >= elapsed,
        "age {} ms, {elapsed} ms since the publish",
        e.age_ms
    );
    // Silence (published but not audible) stops counting as receiving audio.
    let start = std::time::Instant::now();
    while start.elapsed().as_millis() < u128::from(AUDIBLE_WINDOW_MS + 3 * HEARTBEAT_MS) {
        a.publish(&reading(-10.0), false);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let e = &registry.entries()[0];
    assert!(!e.receiving_audio);
    assert!(e.age_ms < 3 * HEARTBEAT_MS, "{}", e.age_ms);
}

#[test]
fn a_slot_whose_heartbeat_stopped_disappears_and_is_reclaimed() {
    let registry = Registry::new(Region::in_memory());
    let a = registry.register("g", "a", None).unwrap();
    // Simulate a crashed owner: a foreign token with an old heartbeat.
    let slot = &registry.region.slots()[a.index()];
    drop(a);
    slot.owner.store(0xDEAD_0000_0001, Ordering::Release);
    slot.heartbeat_ms
        .store(now_ms().saturating_sub(STALE_MS + 1), Ordering::Release);
    assert!(registry.entries().is_empty(), "stale slots are not shown");
    // Not yet reclaimable: the next instance takes another slot.
    let b = registry.register("g", "b", None).unwrap();
    assert_ne!(b.index(), 0);
    slot.heartbeat_ms
        .store(now_ms().saturating_sub(RECLAIM_MS + 1), Ordering::Release);
    let c = registry.register("g", "c", None).unwrap();
    assert_eq!(c.index(), 0, "a long-dead slot is reused");
    assert_eq!(registry.entries().len(), 2);
}

#[test]
fn a_taken_over_slot_is_not_written_by_its_old_owner() {
    let registry = Registry::new(Region::in_memory());
    let a = registry.register("g", "a", None).unwrap();
    a.publish(&reading(-10.0), true);
    let slot = &registry.region.slots()[a.index()];
    slot.owner.store(12345, Ordering::Release);
    assert!(!a.is_valid());
    a.publish(&reading(-30.0), true);
    a.set_label("g", "renamed", None);
    let e = registry.entries();
    assert_eq!(e[0].reading.momentary_lufs, -10.0);
    assert_eq!(e[0].name, "a");
    // Dropping the stale registration leaves the new owner alone.
    drop(a);
    assert_eq!(slot.owner.load(Ordering::Acquire), 12345);
}

#[test]
fn reset_requests_reach_every_instance_of_the_group_once() {
    let registry = Registry::new(Region::in_memory());
    let a = registry.register("g", "a", None).unwrap();
    let b = registry.register("g", "b", None).unwrap();
    let c = registry.register("h", "c", None).unwrap();
    assert!(!a.take_reset_request());
    registry.reset_group("g");
    assert!(a.take_reset_request());
    assert!(!a.take_reset_request(), "one request, one reset");
    assert!(b.take_reset_request());
    assert!(!c.take_reset_request(), "other groups are left alone");
}

#[test]
fn labels_can_change() {
    let registry = Registry::new(Region::in_memory());
    let a = registry.register("g", "a", None).unwrap();
    a.set_label("mix", "Drum Bus", Some(0x00FF00FF));
    let e = &registry.entries()[0];
    assert_eq!((e.group.as_str(), e.name.as_str()), ("mix", "Drum Bus"));
    assert_eq!(e.color_rgba, Some(0x00FF00FF));
}

#[test]
fn every_slot_can_be_taken_and_then_registration_fails_cleanly() {
    let registry = Registry::new(Region::in_memory());
    let all: Vec<_> = (0..slot::SLOTS)
        .map(|i| registry.register("g", &format!("t{i}"), None).unwrap())
        .collect();
    assert!(registry.register("g", "one too many", None).is_none());
    assert_eq!(registry.entries().len(), slot::SLOTS);
    drop(all);
    assert!(registry.entries().is_empty());
}

#[test]
fn readings_survive_the_word_encoding() {
    let r = Reading {
        momentary_lufs: -14.25,
        short_term_lufs: f32::NEG_INFINITY,
        integrated_lufs: -15.5,
        loudness_range_lu: 6.5,
        true_peak_max_dbtp: -0.75,
        plr_db: 14.75,
        correlation: -0.5,
        target_lufs: f32::NAN,
        target_tolerance_lu: 1.0,
        target_true_peak_dbtp: -1.0,
        overs: 7,
        channels: 2,
        sample_rate_hz: 96_000,
    };
    let back = Reading::from_words(&r.to_words());
    assert!(back.target_lufs.is_nan());
    assert_eq!(
        Reading {
            target_lufs: 0.0,
            ..back
        },
        Reading {
            target_lufs: 0.0,
            ..r
        }
    );
}
