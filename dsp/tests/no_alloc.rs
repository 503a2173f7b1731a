//! Six simulated hours through the analyzer: after construction, processing allocates nothing,
//! so memory stays flat however long the programme (a counting global allocator proves it).
//! Only the test's own thread is counted: libtest's main thread may allocate while it waits for
//! the result (CI once saw exactly one such allocation land inside the measured span).

use lathe_dsp::analyzer::{Analyzer, AnalyzerConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the thread under test only; a const initialiser, so reading it never allocates.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn six_hours_allocate_nothing() {
    // 8 kHz keeps the test quick; the analyzer's state does not depend on the rate's size.
    let sr = 8_000.0;
    let block = 4_000;
    let mut a = Analyzer::new(
        sr,
        2,
        AnalyzerConfig {
            qc_capacity: 64,
            ..AnalyzerConfig::default()
        },
    );
    // Programme with overs, clips and clicks so every event path runs and the QC list fills.
    let mut l = vec![0.0f32; block];
    for (i, s) in l.iter_mut().enumerate() {
        *s = 0.4 * (i as f32 * 0.07).sin() + if i % 997 == 0 { 0.6 } else { 0.0 };
    }
    l[100..106].fill(1.0);
    let r: Vec<f32> = l.iter().map(|x| -0.9 * x).collect();
    let blocks = (6.0 * 3600.0 * sr) as usize / block;
    COUNTED.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..blocks {
        std::hint::black_box(a.process(&[&l[..], &r[..]]));
    }
    a.finish();
    let during = ALLOCATIONS.load(Ordering::Relaxed) - before;
    COUNTED.with(|c| c.set(false));
    assert_eq!(during, 0, "{during} allocations while processing 6 h");
    let report = a.report();
    assert!(report.duration_s >= 6.0 * 3600.0 - 1.0);
    assert!(
        report.qc_dropped > 0,
        "the event list should have filled up"
    );
}
