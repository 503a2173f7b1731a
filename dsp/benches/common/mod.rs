//! Test material shared by the benches.

/// Deterministic programme-like stereo at `sample_rate` Hz for `seconds`: filtered noise with a
/// moving envelope and a tone.
pub fn programme(sample_rate: u32, seconds: usize, seed: u64) -> [Vec<f32>; 2] {
    let n = sample_rate as usize * seconds;
    let mut state = seed | 1;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let (mut l, mut r) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut bl, mut br) = (0.0f32, 0.0f32);
    for i in 0..n {
        let t = i as f32 / sample_rate as f32;
        let env = 0.1 + 0.3 * (0.5 + 0.5 * (t * 0.37).sin());
        bl = 0.9 * bl + 0.1 * rnd();
        br = 0.9 * br + 0.1 * rnd();
        let tone = 0.2 * (t * 2.0 * std::f32::consts::PI * 220.0).sin();
        l.push(env * (2.0 * bl + tone));
        r.push(env * (2.0 * br + 0.8 * tone));
    }
    [l, r]
}

/// Runs `process` over a stereo buffer in consecutive blocks of `block` frames (the last one
/// shorter), as a host would call a plugin.
// Each bench compiles this module on its own; the meter bench only reads its input.
#[allow(dead_code)]
pub fn for_each_block(
    buf: &mut [Vec<f32>; 2],
    block: usize,
    mut process: impl FnMut(&mut [f32], &mut [f32]),
) {
    let [l, r] = buf;
    for (l, r) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        process(l, r);
    }
}
