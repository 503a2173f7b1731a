//! The linear-phase mode: uniform FFT convolution (overlap-save) of each signal path with a
//! linear-phase kernel designed from the analog band curves. A new kernel takes over at a frame
//! boundary with a linear crossfade across the frame, so moving a band never clicks.
//!
//! The two costly steps never fall into the same block: new kernels are designed when the stream
//! passes the middle of a frame (from the bands as they are then), the convolution runs at the
//! frame's end. A change asked for after the middle waits for the next frame's middle.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealToComplex};

use super::design;

/// Frame (hop) length for a sample rate: about 1/12 s rounded up to a power of two (4096 at
/// 44.1 and 48 kHz, 8192 at 96 kHz), so the kernel (one sample shorter than the frame) resolves
/// the same ~12 Hz at every rate.
pub fn frame_len(sample_rate_hz: f64) -> usize {
    ((sample_rate_hz / 12.0).ceil() as usize)
        .next_power_of_two()
        .max(512)
}

/// Latency of the linear-phase mode: one frame of buffering plus the kernel's centre.
pub fn latency_for(sample_rate_hz: f64) -> u32 {
    let k = frame_len(crate::clamp_sample_rate(sample_rate_hz));
    (k + kernel_half(k)) as u32
}

/// Kernel length: odd, one shorter than the frame, so a frame convolved with it fits the FFT.
fn kernel_taps(frame: usize) -> usize {
    frame - 1
}

fn kernel_half(frame: usize) -> usize {
    (kernel_taps(frame) - 1) / 2
}

struct Path {
    /// The last two frames of input, oldest first; new samples land in the second half.
    input: Vec<f64>,
    /// The filtered frame being played out.
    output: Vec<f64>,
    /// Kernel spectrum in use.
    current: Vec<Complex<f64>>,
    /// Kernel spectrum taking over at the next frame.
    next: Vec<Complex<f64>>,
}

/// Overlap-save convolution of up to two paths with kernels redesigned on request.
pub struct Linear {
    sample_rate_hz: f64,
    frame: usize,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
    paths: [Path; 2],
    /// Position within the frame (0..frame) of the next sample.
    pos: usize,
    /// Whether `next` must be designed (at the next middle of a frame).
    redesign: bool,
    /// Whether `next` is designed and fades in at the next frame boundary.
    ready: bool,
    time: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    spectrum_copy: Vec<Complex<f64>>,
    zero_phase: Vec<Complex<f64>>,
    half_taps: Vec<f64>,
    window: Vec<f64>,
    scratch: Vec<Complex<f64>>,
    faded: Vec<f64>,
}

impl Linear {
    /// Plans the FFTs and allocates every buffer; kernels start as pure delays.
    pub fn new(sample_rate_hz: f64) -> Self {
        let frame = frame_len(sample_rate_hz);
        let fft_len = 2 * frame;
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(fft_len);
        let inverse = planner.plan_fft_inverse(fft_len);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let bins = fft_len / 2 + 1;
        let path = || Path {
            input: vec![0.0; fft_len],
            output: vec![0.0; frame],
            current: vec![Complex::new(0.0, 0.0); bins],
            next: vec![Complex::new(0.0, 0.0); bins],
        };
        let half = kernel_half(frame);
        let mut linear = Self {
            sample_rate_hz,
            frame,
            paths: [path(), path()],
            pos: 0,
            redesign: false,
            ready: false,
            time: vec![0.0; fft_len],
            spectrum: vec![Complex::new(0.0, 0.0); bins],
            spectrum_copy: vec![Complex::new(0.0, 0.0); bins],
            zero_phase: vec![Complex::new(0.0, 0.0); bins],
            half_taps: vec![0.0; half + 1],
            window: design::kaiser_half_window(half),
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
            faded: vec![0.0; frame],
            forward,
            inverse,
        };
        for p in 0..2 {
            linear.design_into(|_| 1.0, p, false);
        }
        linear
    }

    /// Latency in samples.
    pub fn latency_samples(&self) -> u32 {
        (self.frame + kernel_half(self.frame)) as u32
    }

    /// Asks for new kernels: designed at the next middle of a frame, faded in across the frame
    /// after it.
    pub fn request_redesign(&mut self) {
        self.redesign = true;
    }

    /// Designs the kernel of path `p` into `next` (or `current` when `into_next` is false).
    fn design_into(&mut self, magnitude: impl Fn(f64) -> f64, p: usize, into_next: bool) {
        let taps = kernel_taps(self.frame);
        let target = if into_next {
            &mut self.paths[p].next
        } else {
            &mut self.paths[p].current
        };
        design::linear_phase_kernel(
            magnitude,
            self.sample_rate_hz,
            taps,
            self.forward.as_ref(),
            self.inverse.as_ref(),
            &mut self.zero_phase,
            &mut self.time,
            &mut self.half_taps,
            &self.window,
            &mut self.scratch,
            target,
        );
    }

    /// Clears the signal state (kernels stay).
    pub fn reset(&mut self) {
        for path in &mut self.paths {
            path.input.iter_mut().for_each(|v| *v = 0.0);
            path.output.iter_mut().for_each(|v| *v = 0.0);
        }
        self.pos = 0;
    }

    /// Runs `paths` (1 or 2 slices of equal length) through the convolution in place.
    /// `magnitude(path, hz)` gives the kernels' target magnitude when a redesign is due.
    pub fn process(&mut self, paths: &mut [&mut [f64]], magnitude: impl Fn(usize, f64) -> f64) {
        let len = paths.first().map_or(0, |p| p.len());
        let half = self.frame / 2;
        let mut i = 0;
        while i < len {
            let mut n = (self.frame - self.pos).min(len - i);
            if self.pos < half {
                n = n.min(half - self.pos);
            }
            for (p, samples) in paths.iter_mut().enumerate() {
                let path = &mut self.paths[p];
                for (j, s) in samples[i..i + n].iter_mut().enumerate() {
                    path.input[self.frame + self.pos + j] = *s;
                    *s = path.output[self.pos + j];
                }
            }
            self.pos += n;
            i += n;
            if self.pos == half && std::mem::take(&mut self.redesign) {
                for p in 0..paths.len() {
                    self.design_into(|hz| magnitude(p, hz), p, true);
                }
                self.ready = true;
            }
            if self.pos == self.frame {
                self.pos = 0;
                let fade = std::mem::take(&mut self.ready);
                for p in 0..paths.len() {
                    self.run_frame(p, fade);
                }
            }
        }
    }

    /// Convolves the input frame of path `p`; with `fade`, crossfades from the current kernel to
    /// the next one across the frame and makes the next one current.
    fn run_frame(&mut self, p: usize, fade: bool) {
        let frame = self.frame;
        self.time.copy_from_slice(&self.paths[p].input);
        if self
            .forward
            .process_with_scratch(&mut self.time, &mut self.spectrum, &mut self.scratch)
            .is_err()
        {
            return;
        }
        if fade {
            self.spectrum_copy.copy_from_slice(&self.spectrum);
        }
        let path = &mut self.paths[p];
        let inverse = self.inverse.as_ref();
        filter_frame(
            inverse,
            &mut self.spectrum,
            &path.current,
            &mut self.time,
            &mut self.scratch,
            &mut path.output,
        );
        if fade {
            filter_frame(
                inverse,
                &mut self.spectrum_copy,
                &path.next,
                &mut self.time,
                &mut self.scratch,
                &mut self.faded,
            );
            for (j, (o, &f)) in path.output.iter_mut().zip(&self.faded).enumerate() {
                let x = (j as f64 + 0.5) / frame as f64;
                *o += (f - *o) * x;
            }
            std::mem::swap(&mut path.current, &mut path.next);
        }
        // Slide: the new half becomes the old half.
        path.input.copy_within(frame.., 0);
        if !path.output.iter().all(|v| v.is_finite()) {
            path.output.iter_mut().for_each(|v| *v = 0.0);
            path.input.iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

/// Multiplies a frame's spectrum by a kernel's, transforms back and writes the valid second half
/// (overlap-save), scaled, to `out`. `spectrum` is used up.
fn filter_frame(
    inverse: &dyn ComplexToReal<f64>,
    spectrum: &mut [Complex<f64>],
    kernel: &[Complex<f64>],
    time: &mut [f64],
    scratch: &mut [Complex<f64>],
    out: &mut [f64],
) {
    for (s, h) in spectrum.iter_mut().zip(kernel) {
        *s *= h;
    }
    // Bins 0 and N/2 of a real signal's product stay real in exact arithmetic.
    let last = spectrum.len() - 1;
    spectrum[0].im = 0.0;
    spectrum[last].im = 0.0;
    let _ = inverse.process_with_scratch(spectrum, time, scratch);
    let frame = out.len();
    let norm = 1.0 / time.len() as f64;
    for (o, &t) in out.iter_mut().zip(&time[frame..]) {
        *o = t * norm;
    }
}
