//! The linear-phase mode: each signal path is convolved with a linear-phase kernel designed from
//! the analog band curves, by uniformly partitioned overlap-save convolution, with the work
//! spread evenly over the stream so that no block costs many times another.
//!
//! - The kernel (one sample shorter than a "frame" of about fs/12) is cut into
//!   [`PARTITIONS`] partitions of `P` samples. Every `P` input samples, the last `2P` are
//!   transformed, the newest spectrum is multiplied with partition 0, and one inverse transform
//!   gives the next `P` output samples. The products of the older input spectra with partitions
//!   1… are accumulated ahead, a third at each of the [`SUBSTEPS`] sub-steps of a partition but
//!   the one that ends at the boundary, so a boundary costs two small FFTs and one product.
//! - A new kernel is designed step by step, one step per sub-step ([`DESIGN_STEPS`] per path:
//!   the band curves sampled on a grid, a four-step FFT of the grid to the zero-phase response,
//!   the window, the partitions' spectra), while the old kernel keeps playing. Then the new
//!   kernel's products are accumulated for one partition and the output crossfades from the old
//!   kernel to the new one across a frame, so moving a band never clicks.
//!
//! Everything happens at fixed positions of the stream, so the output does not depend on the
//! host's block sizes. [`Linear::reset`] finishes a pending design at once.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealToComplex};
use rustfft::Fft;

/// Partitions of the kernel.
pub const PARTITIONS: usize = 16;
/// Sub-steps per partition: the products for the next boundary and the design advance at each
/// but the first (which has the boundary's transforms).
pub const SUBSTEPS: usize = 4;
/// Chunks of each design stage (per path): magnitude grid, FFT columns, FFT rows, window (1),
/// partition spectra.
const MAG_CHUNKS: usize = 16;
const COL_CHUNKS: usize = 4;
const ROW_CHUNKS: usize = 4;
const PART_CHUNKS: usize = 8;
/// Design steps per path.
pub const DESIGN_STEPS: usize = MAG_CHUNKS + COL_CHUNKS + ROW_CHUNKS + 1 + PART_CHUNKS;

/// Frame length for a sample rate: about 1/12 s rounded up to a power of two (4096 at 44.1 and
/// 48 kHz, 8192 at 96 kHz), so the kernel (one sample shorter than the frame) resolves the same
/// ~12 Hz at every rate. The crossfade to a new kernel lasts one frame.
pub fn frame_len(sample_rate_hz: f64) -> usize {
    ((sample_rate_hz / 12.0).ceil() as usize)
        .next_power_of_two()
        .max(512)
}

fn partition_len(frame: usize) -> usize {
    frame / PARTITIONS
}

/// Latency of the linear-phase mode: one partition of buffering plus the kernel's centre.
pub fn latency_for(sample_rate_hz: f64) -> u32 {
    let k = frame_len(crate::clamp_sample_rate(sample_rate_hz));
    (partition_len(k) + kernel_half(k)) as u32
}

/// Kernel length: odd, one shorter than the frame.
fn kernel_taps(frame: usize) -> usize {
    frame - 1
}

fn kernel_half(frame: usize) -> usize {
    (kernel_taps(frame) - 1) / 2
}

fn zeros(n: usize) -> Vec<Complex<f64>> {
    vec![Complex::new(0.0, 0.0); n]
}

/// One signal path's convolution state.
struct Path {
    /// The last two partitions of input, oldest first; new samples land in the second half.
    input: Vec<f64>,
    /// Spectra of the last [`PARTITIONS`] input blocks (a ring; `Linear::head` is the newest).
    history: Vec<Vec<Complex<f64>>>,
    /// Per kernel set (0 = playing, 1 = taking over): the products of partitions 1… with the
    /// history, accumulated for the next boundary.
    acc: [Vec<Complex<f64>>; 2],
    /// Per kernel set: the partitions' spectra.
    kernels: [Vec<Vec<Complex<f64>>>; 2],
    /// The output partition being played out.
    output: Vec<f64>,
}

/// Where a new kernel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Only set 0 plays.
    Idle,
    /// Set 1 is designed; its products are accumulated this partition, the fade starts at the
    /// next boundary.
    Accumulate,
    /// Crossfading from set 0 to set 1; samples of the fade done so far.
    Fade(usize),
}

/// The spread design of a kernel: the band curves on a grid of `grid` points, transformed by a
/// four-step FFT (`n1` × `n2`) to the zero-phase impulse response, windowed, cut into
/// partitions and transformed.
struct Designer {
    grid: usize,
    n1: usize,
    n2: usize,
    fft_n1: Arc<dyn Fft<f64>>,
    fft_n2: Arc<dyn Fft<f64>>,
    /// e^(−2πi t / grid) for t in 0..grid.
    twiddles: Vec<Complex<f64>>,
    /// The grid (then the row results).
    a: Vec<Complex<f64>>,
    /// The column results.
    b: Vec<Complex<f64>>,
    column: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    taps: Vec<f64>,
    window: Vec<f64>,
    /// Next step (0..2 × DESIGN_STEPS) of a running design.
    step: Option<usize>,
}

/// Partitioned convolution of up to two paths with kernels redesigned on request.
pub struct Linear {
    sample_rate_hz: f64,
    frame: usize,
    part: usize,
    substep: usize,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
    paths: [Path; 2],
    /// Position within the partition (0..part) of the next sample.
    pos: usize,
    /// Ring index of the newest input spectrum.
    head: usize,
    /// Paths processed by the last call.
    used: usize,
    /// A new kernel is wanted (designed as soon as the previous one has taken over).
    redesign: bool,
    stage: Stage,
    designer: Designer,
    /// A finished design waits in set 1.
    design_done: bool,
    time: Vec<f64>,
    product: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    faded: Vec<f64>,
}

impl Linear {
    /// Plans the FFTs and allocates every buffer; kernels start as pure delays.
    pub fn new(sample_rate_hz: f64) -> Self {
        let frame = frame_len(sample_rate_hz);
        let part = partition_len(frame);
        let fft_len = 2 * part;
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(fft_len);
        let inverse = planner.plan_fft_inverse(fft_len);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let bins = part + 1;
        let path = || Path {
            input: vec![0.0; fft_len],
            history: (0..PARTITIONS).map(|_| zeros(bins)).collect(),
            acc: [zeros(bins), zeros(bins)],
            kernels: [
                (0..PARTITIONS).map(|_| zeros(bins)).collect(),
                (0..PARTITIONS).map(|_| zeros(bins)).collect(),
            ],
            output: vec![0.0; part],
        };
        // The design grid: twice the frame, as a four-step FFT of two near-square factors.
        let grid = 2 * frame;
        let n1 = 1 << (grid.trailing_zeros() / 2);
        let n2 = grid / n1;
        let mut complex = rustfft::FftPlanner::<f64>::new();
        let fft_n1 = complex.plan_fft_forward(n1);
        let fft_n2 = complex.plan_fft_forward(n2);
        let design_scratch = fft_n1
            .get_inplace_scratch_len()
            .max(fft_n2.get_inplace_scratch_len());
        let twiddles = (0..grid)
            .map(|t| {
                let phase = -std::f64::consts::TAU * t as f64 / grid as f64;
                Complex::new(phase.cos(), phase.sin())
            })
            .collect();
        let half = kernel_half(frame);
        let mut linear = Self {
            sample_rate_hz,
            frame,
            part,
            substep: part / SUBSTEPS,
            paths: [path(), path()],
            pos: 0,
            head: 0,
            used: 2,
            redesign: false,
            stage: Stage::Idle,
            design_done: false,
            designer: Designer {
                grid,
                n1,
                n2,
                fft_n1,
                fft_n2,
                twiddles,
                a: zeros(grid),
                b: zeros(grid),
                column: zeros(n1.max(n2)),
                scratch: zeros(design_scratch),
                taps: vec![0.0; frame],
                window: super::design::kaiser_half_window(half),
                step: None,
            },
            time: vec![0.0; fft_len],
            product: zeros(bins),
            scratch: zeros(scratch_len),
            faded: vec![0.0; part],
            forward,
            inverse,
        };
        linear.design_now(|_, _| 1.0);
        linear
    }

    /// Latency in samples.
    pub fn latency_samples(&self) -> u32 {
        (self.part + kernel_half(self.frame)) as u32
    }

    /// Asks for new kernels: designed step by step once any earlier one has taken over, then
    /// faded in across a frame.
    pub fn request_redesign(&mut self) {
        self.redesign = true;
    }

    /// Whether a design is running (its band curves must not change until it is done).
    pub fn designing(&self) -> bool {
        self.designer.step.is_some()
    }

    /// Clears the signal state; a wanted or running design is finished at once and takes over
    /// without a fade (there is no signal to fade).
    pub fn reset(&mut self, magnitude: impl Fn(usize, f64) -> f64) {
        if self.redesign || self.designing() {
            self.design_now(&magnitude);
        } else if self.stage != Stage::Idle || self.design_done {
            // A design that finished just before the reset takes over too.
            self.design_done = false;
            self.take_over();
        }
        for p in 0..2 {
            self.clear_path(p);
        }
        self.pos = 0;
        self.head = 0;
    }

    /// Clears one path's signal state (no allocation).
    fn clear_path(&mut self, p: usize) {
        let path = &mut self.paths[p];
        path.input.fill(0.0);
        path.output.fill(0.0);
        for h in &mut path.history {
            h.fill(Complex::new(0.0, 0.0));
        }
        for acc in &mut path.acc {
            acc.fill(Complex::new(0.0, 0.0));
        }
    }

    /// Designs both paths' kernels in one go and makes them current.
    fn design_now(&mut self, magnitude: impl Fn(usize, f64) -> f64) {
        self.redesign = false;
        self.design_done = false;
        self.designer.step = Some(0);
        while self.designer.step.is_some() {
            self.design_step(&magnitude);
        }
        self.take_over();
    }

    /// One step of the design of set 1 (see [`DESIGN_STEPS`]); clears `designer.step` after
    /// the last.
    fn design_step(&mut self, magnitude: &impl Fn(usize, f64) -> f64) {
        let Some(step) = self.designer.step else {
            return;
        };
        let (p, k) = (step / DESIGN_STEPS, step % DESIGN_STEPS);
        let d = &mut self.designer;
        let (grid, n1, n2) = (d.grid, d.n1, d.n2);
        let chunk =
            |count: usize, total: usize, c: usize| (c * total / count)..((c + 1) * total / count);
        if k < MAG_CHUNKS {
            // The band curves on the grid, mirrored: a real, even (zero-phase) spectrum.
            for bin in chunk(MAG_CHUNKS, grid / 2 + 1, k) {
                let m = magnitude(p, self.sample_rate_hz * bin as f64 / grid as f64);
                let m = if m.is_finite() { m } else { 1.0 };
                d.a[bin] = Complex::new(m, 0.0);
                if bin > 0 && bin < grid / 2 {
                    d.a[grid - bin] = Complex::new(m, 0.0);
                }
            }
        } else if k < MAG_CHUNKS + COL_CHUNKS {
            // Four-step FFT, first half: length-n2 transforms of the columns, twiddled.
            for c1 in chunk(COL_CHUNKS, n1, k - MAG_CHUNKS) {
                let column = &mut d.column[..n2];
                for (c2, v) in column.iter_mut().enumerate() {
                    *v = d.a[c1 + n1 * c2];
                }
                d.fft_n2.process_with_scratch(column, &mut d.scratch);
                for (k2, v) in column.iter().enumerate() {
                    d.b[c1 * n2 + k2] = v * d.twiddles[(c1 * k2) % grid];
                }
            }
        } else if k < MAG_CHUNKS + COL_CHUNKS + ROW_CHUNKS {
            // Second half: length-n1 transforms of the rows; X[k2 + n2·k1] lands in `a`.
            for k2 in chunk(ROW_CHUNKS, n2, k - MAG_CHUNKS - COL_CHUNKS) {
                let column = &mut d.column[..n1];
                for (c1, v) in column.iter_mut().enumerate() {
                    *v = d.b[c1 * n2 + k2];
                }
                d.fft_n1.process_with_scratch(column, &mut d.scratch);
                for (k1, v) in column.iter().enumerate() {
                    d.a[k2 + n2 * k1] = *v;
                }
            }
        } else if k == MAG_CHUNKS + COL_CHUNKS + ROW_CHUNKS {
            // The zero-phase response's centre, windowed, moved to the kernel's middle.
            let half = kernel_half(self.frame);
            let norm = 1.0 / grid as f64;
            let taps = kernel_taps(self.frame);
            for (n, t) in d.taps.iter_mut().enumerate() {
                *t = if n < taps {
                    let m = n.abs_diff(half);
                    d.a[m].re * norm * d.window[m]
                } else {
                    0.0
                };
            }
        } else {
            // The partitions' spectra (each zero-padded to the transform length).
            let c = k - (MAG_CHUNKS + COL_CHUNKS + ROW_CHUNKS + 1);
            let part = self.part;
            for j in chunk(PART_CHUNKS, PARTITIONS, c) {
                self.time[..part].copy_from_slice(&d.taps[j * part..(j + 1) * part]);
                self.time[part..].fill(0.0);
                let _ = self.forward.process_with_scratch(
                    &mut self.time,
                    &mut self.paths[p].kernels[1][j],
                    &mut self.scratch,
                );
            }
        }
        self.designer.step = (step + 1 < 2 * DESIGN_STEPS).then_some(step + 1);
    }

    /// Set 1 becomes the playing set.
    fn take_over(&mut self) {
        for path in &mut self.paths {
            path.kernels.swap(0, 1);
            path.acc.swap(0, 1);
        }
        self.stage = Stage::Idle;
    }

    /// Runs `paths` (1 or 2 slices of equal length) through the convolution in place.
    /// `magnitude(path, hz)` gives the kernels' target magnitude; it must not change while
    /// [`Self::designing`].
    pub fn process(&mut self, paths: &mut [&mut [f64]], magnitude: impl Fn(usize, f64) -> f64) {
        let len = paths.first().map_or(0, |p| p.len());
        let used = paths.len().min(2);
        // A path that was not running (mono before) starts from silence, not from the stale
        // state it was left with.
        for p in self.used..used {
            self.clear_path(p);
        }
        self.used = used;
        let mut i = 0;
        while i < len {
            let next_event = (self.pos / self.substep + 1) * self.substep;
            let n = (next_event - self.pos).min(len - i);
            for (p, samples) in paths.iter_mut().take(used).enumerate() {
                let path = &mut self.paths[p];
                for (j, s) in samples[i..i + n].iter_mut().enumerate() {
                    path.input[self.part + self.pos + j] = *s;
                    *s = path.output[self.pos + j];
                }
            }
            self.pos += n;
            i += n;
            if self.pos == next_event {
                if self.pos == self.part {
                    self.boundary(used);
                    self.pos = 0;
                }
                self.substep_work(used, &magnitude);
            }
        }
    }

    /// The end of a partition: the newest block's spectrum, the output of the next partition
    /// (crossfaded while a new kernel takes over), the stage moves on.
    fn boundary(&mut self, used: usize) {
        if let Stage::Fade(done) = self.stage
            && done >= self.frame
        {
            self.take_over();
        }
        let fading = self.stage != Stage::Idle;
        let fade_from = match self.stage {
            Stage::Fade(done) => done,
            _ => 0,
        };
        self.head = (self.head + 1) % PARTITIONS;
        let part = self.part;
        let norm = 1.0 / (2 * part) as f64;
        for p in 0..used {
            self.time.copy_from_slice(&self.paths[p].input);
            let path = &mut self.paths[p];
            if self
                .forward
                .process_with_scratch(
                    &mut self.time,
                    &mut path.history[self.head],
                    &mut self.scratch,
                )
                .is_err()
            {
                continue;
            }
            for set in 0..if fading { 2 } else { 1 } {
                let newest = &path.history[self.head];
                for ((y, &a), (&h, &x)) in self
                    .product
                    .iter_mut()
                    .zip(&path.acc[set])
                    .zip(path.kernels[set][0].iter().zip(newest))
                {
                    *y = a + h * x;
                }
                let last = self.product.len() - 1;
                self.product[0].im = 0.0;
                self.product[last].im = 0.0;
                let _ = self.inverse.process_with_scratch(
                    &mut self.product,
                    &mut self.time,
                    &mut self.scratch,
                );
                let out = if set == 0 {
                    &mut path.output
                } else {
                    &mut self.faded
                };
                for (o, &t) in out.iter_mut().zip(&self.time[part..]) {
                    *o = t * norm;
                }
                path.acc[set].fill(Complex::new(0.0, 0.0));
            }
            if fading {
                for (j, (o, &f)) in path.output.iter_mut().zip(&self.faded).enumerate() {
                    let x = ((fade_from + j) as f64 + 0.5) / self.frame as f64;
                    *o += (f - *o) * x;
                }
            }
            path.input.copy_within(part.., 0);
            if !path.output.iter().all(|v| v.is_finite()) {
                path.output.fill(0.0);
                path.input.fill(0.0);
                for h in &mut path.history {
                    h.fill(Complex::new(0.0, 0.0));
                }
            }
        }
        self.stage = match self.stage {
            Stage::Idle if self.design_done => {
                self.design_done = false;
                for path in &mut self.paths {
                    path.acc[1].fill(Complex::new(0.0, 0.0));
                }
                Stage::Accumulate
            }
            Stage::Idle => Stage::Idle,
            Stage::Accumulate => Stage::Fade(part),
            Stage::Fade(done) => Stage::Fade(done + part),
        };
    }

    /// One sub-step's share of the products for the next boundary, and one design step (none at
    /// the boundary itself).
    fn substep_work(&mut self, used: usize, magnitude: &impl Fn(usize, f64) -> f64) {
        // The boundary's own sub-step (0) has the transforms; the others share the rest.
        let q = self.pos / self.substep;
        if q == 0 {
            return;
        }
        let sets = if self.stage == Stage::Idle { 1 } else { 2 };
        for path in self.paths.iter_mut().take(used) {
            for j in (q..PARTITIONS).step_by(SUBSTEPS - 1) {
                // The next boundary's block j partitions back is the newest one j − 1 back.
                let x = &path.history[(self.head + PARTITIONS - (j - 1)) % PARTITIONS];
                for set in 0..sets {
                    for ((a, &h), &x) in path.acc[set].iter_mut().zip(&path.kernels[set][j]).zip(x)
                    {
                        *a += h * x;
                    }
                }
            }
        }
        if self.designer.step.is_none()
            && self.redesign
            && self.stage == Stage::Idle
            && !self.design_done
        {
            self.redesign = false;
            self.designer.step = Some(0);
        }
        if self.designer.step.is_some() {
            self.design_step(magnitude);
            if self.designer.step.is_none() {
                self.design_done = true;
            }
        }
    }
}
