//! Match: the EQ and width that make a mix sound like its reference records.
//!
//! The input is the long-term power per 1/3-octave band of the mix and of the references
//! (level-matched and averaged), mid and side. The output is the EQ's five tone bands (low
//! shelf, three bells, high shelf – each stereo, mid or side) and the stereo width, fitted to the
//! difference by weighted least squares on the EQ's own analog responses (Levenberg–Marquardt
//! with bounds, from several starts), every band's gain within a limit. What is fitted:
//! - **tone**: the overall balance, mid and side together, with stereo bands (the width stays);
//! - **width**: the side-to-mid balance per band, with the width control and side bands (the
//!   mid stays);
//! - both: mid and side each, with bands on any placement and the width.
//!
//! The EQ's cuts stay as they are and are part of the model; a constant level difference is
//! not fitted (the loudness match or the output gain set the level). The amount scales the
//! curve fitted (50 % fits half the difference in dB). Pure computation: meant for the CLI and
//! the editor, never for the audio thread.

use crate::eq::{self, BandKind, Placement, Slope};
use crate::master::{BandSettings, EqSettings};

/// The long-term spectra to match (linear power per band; 0 = nothing there).
pub struct Spectra<'a> {
    /// Band centres (Hz).
    pub centres_hz: &'a [f64],
    /// The mix, mid and side.
    pub mix_mid: &'a [f64],
    pub mix_side: &'a [f64],
    /// The references (level-matched to the mix and averaged), mid and side.
    pub ref_mid: &'a [f64],
    pub ref_side: &'a [f64],
    /// The mix's power in each fifth of every band (log-spaced), mid and side: how the energy
    /// lies inside a band, so the model sees a band as its measurement does. Empty: spread
    /// evenly.
    pub mix_mid_fifths: &'a [[f64; 5]],
    pub mix_side_fifths: &'a [[f64; 5]],
}

/// What to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aspects {
    /// Spectral balance.
    pub tone: bool,
    /// Side-to-mid balance per band.
    pub width: bool,
}

/// How far to match.
#[derive(Debug, Clone, Copy)]
pub struct MatchOptions {
    pub aspects: Aspects,
    /// Fraction of the difference (dB) to fit, 0…1.
    pub amount: f64,
    /// Largest gain of one band (dB, 0…18).
    pub limit_db: f64,
}

/// The fit.
#[derive(Debug, Clone)]
pub struct MatchFit {
    /// The EQ with its five tone bands replaced (cuts, phase as given).
    pub eq: EqSettings,
    /// Stereo width (%), when width was matched.
    pub width_pct: Option<f32>,
    /// Per band: the curve fitted (dB; the target times the amount) and what the fit leaves
    /// of it, mid and side (`None` where the band was not fitted: no signal, or a path the
    /// aspect leaves alone). For tone alone both paths hold the overall (mid + side) curve.
    pub target_mid_db: Vec<Option<f64>>,
    pub target_side_db: Vec<Option<f64>>,
    pub residual_mid_db: Vec<Option<f64>>,
    pub residual_side_db: Vec<Option<f64>>,
}

/// The largest |value| of a per-band list (on [`crate::band_spectrum::NOMINAL_HZ`]) from 40 Hz to
/// 16 kHz – what the match leaves, as users read it; `None` when no band there holds a value.
pub fn largest_from_40_hz_to_16_khz(values: &[Option<f64>]) -> Option<f64> {
    values
        .iter()
        .zip(crate::band_spectrum::NOMINAL_HZ)
        .filter(|(_, f)| (40.0..=16_000.0).contains(f))
        .filter_map(|(r, _)| *r)
        .map(f64::abs)
        .reduce(f64::max)
}

/// Bands below this much under a path's loudest band (dB) carry no weight; from 15 dB less on
/// they fade out. Such bands hold hum, noise or nothing, and their difference says nothing.
const DEPTH_DB: f64 = 60.0;
/// Weight of the outermost bands (below 40 Hz, above 16 kHz), whose long-term level depends
/// most on the passage and the converter.
const EDGE_WEIGHT: f64 = 0.25;
/// Pull of every band's gain toward 0 dB (dB of residual per dB of gain): bands the curve does
/// not need stay flat.
const RIDGE: f64 = 0.1;

/// Paths of the model.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// One path: mid + side, stereo bands only.
    Tone,
    /// One path: side − mid, side bands and the width.
    Width,
    /// Two paths: mid and side, any placement, the width.
    Both,
}

/// Kinds of the five tone bands, in signal order.
const KINDS: [BandKind; 5] = [
    BandKind::LowShelf,
    BandKind::Bell,
    BandKind::Bell,
    BandKind::Bell,
    BandKind::HighShelf,
];

/// Parameters: per band ln f, gain dB, ln q, side gain dB (used only while the placements are
/// relaxed: mid and side gains apart); then the width (dB on the side) and the level.
const PER_BAND: usize = 4;
const W: usize = 5 * PER_BAND;
const C: usize = W + 1;
const PARAMS: usize = C + 1;

struct Problem<'a> {
    mode: Mode,
    /// Sample points (Hz) per band: the centres of its fifths, log-spaced.
    points: Vec<[f64; 5]>,
    /// Weight of each point per path (summing to 1 over a band).
    point_weights: [Vec<[f64; 5]>; 2],
    /// Targets and weights per path (path 0: mid or the single path; path 1: side).
    target: [Vec<f64>; 2],
    weight: [Vec<f64>; 2],
    /// The cuts' response per band and path (dB), fixed.
    cuts_db: [Vec<f64>; 2],
    limit_db: f64,
    free: [bool; PARAMS],
    /// Both mode, every band with a mid and a side gain of its own (placements ignored): a
    /// continuous problem whose answer suggests the placements.
    relaxed: bool,
    base: &'a EqSettings,
}

fn db(p: f64) -> f64 {
    10.0 * p.max(1e-30).log10()
}

fn band_of(kind: BandKind, p: &[f64], placement: Placement) -> eq::Band {
    eq::Band {
        kind,
        enabled: true,
        freq_hz: p[0].exp() as f32,
        gain_db: p[1] as f32,
        q: p[2].exp() as f32,
        slope: Slope::Db24,
        placement,
    }
}

/// Bounds of parameter `i`.
fn bounds(i: usize, limit_db: f64) -> (f64, f64) {
    if i == W {
        // 25 … 200 % width.
        return (20.0 * 0.25f64.log10(), 20.0 * 2.0f64.log10());
    }
    if i == C {
        return (-60.0, 60.0);
    }
    let kind = KINDS[i / PER_BAND];
    match (i % PER_BAND, kind) {
        (0, BandKind::LowShelf) => (20f64.ln(), 2_000f64.ln()),
        (0, BandKind::HighShelf) => (1_000f64.ln(), 20_000f64.ln()),
        (0, _) => (25f64.ln(), 18_000f64.ln()),
        (1 | 3, _) => (-limit_db, limit_db),
        (_, BandKind::Bell) => (0.3f64.ln(), 4.0f64.ln()),
        // Shelves: the EQ's own range.
        _ => (0.3f64.ln(), 2.0f64.ln()),
    }
}

impl Problem<'_> {
    /// Model response per band (dB) for each path.
    fn model(&self, p: &[f64; PARAMS], placements: &[Placement; 5], out: &mut [Vec<f64>; 2]) {
        let paths = if self.mode == Mode::Both { 2 } else { 1 };
        for (path, o) in out.iter_mut().enumerate().take(paths) {
            let bands: Vec<eq::Band> = (0..5)
                .map(|b| {
                    let mut band = band_of(KINDS[b], &p[b * PER_BAND..], placements[b]);
                    if self.relaxed {
                        band.placement = Placement::Stereo;
                        if path == 1 {
                            band.gain_db = p[b * PER_BAND + 3] as f32;
                        }
                    }
                    band
                })
                .collect();
            for (k, pts) in self.points.iter().enumerate() {
                let mut mean = 0.0;
                for (&hz, &pw) in pts.iter().zip(&self.point_weights[path][k]) {
                    let mut m = 1.0;
                    for b in &bands {
                        let acts = match (self.mode, b.placement) {
                            (Mode::Both, Placement::Mid) => path == 0,
                            (Mode::Both, Placement::Side) => path == 1,
                            _ => true,
                        };
                        if acts {
                            m *= eq::design::band_magnitude_sq(b, hz);
                        }
                    }
                    mean += pw * m;
                }
                let mut v = db(mean) + self.cuts_db[path][k];
                if path == 1 || self.mode == Mode::Width {
                    v += p[W];
                }
                if self.mode != Mode::Width {
                    v += p[C];
                }
                o[k] = v;
            }
        }
    }

    /// Weighted residuals (model − target), then the gains' pull toward 0.
    fn residuals(&self, p: &[f64; PARAMS], placements: &[Placement; 5], r: &mut Vec<f64>) {
        let n = self.points.len();
        let mut m = [vec![0.0; n], vec![0.0; n]];
        self.model(p, placements, &mut m);
        r.clear();
        for (path, model) in m.iter().enumerate() {
            for ((&w, &t), &v) in self.weight[path].iter().zip(&self.target[path]).zip(model) {
                r.push(if w > 0.0 { w.sqrt() * (v - t) } else { 0.0 });
            }
        }
        // Close to an L1 pull for large gains (one band doing a job beats several sharing
        // it), smooth at 0.
        for b in 0..5 {
            for g in [p[b * PER_BAND + 1], p[b * PER_BAND + 3]] {
                r.push(RIDGE * g / (g.abs() + 0.5).sqrt());
            }
        }
    }

    fn clamp(&self, p: &mut [f64; PARAMS]) {
        for (i, v) in p.iter_mut().enumerate() {
            let (lo, hi) = bounds(i, self.limit_db);
            *v = if self.free[i] { v.clamp(lo, hi) } else { 0.0 };
        }
    }

    /// Levenberg–Marquardt from `p`, projected onto the bounds; returns the cost reached.
    fn solve(&self, p: &mut [f64; PARAMS], placements: &[Placement; 5]) -> f64 {
        self.clamp(p);
        let idx: Vec<usize> = (0..PARAMS).filter(|&i| self.free[i]).collect();
        let m = idx.len();
        let mut r = Vec::new();
        self.residuals(p, placements, &mut r);
        let mut cost: f64 = r.iter().map(|x| x * x).sum();
        let mut mu = 1e-2;
        let mut rp = Vec::new();
        for _ in 0..200 {
            // Jacobian by forward differences.
            let mut jac = vec![vec![0.0; r.len()]; m];
            for (j, &i) in idx.iter().enumerate() {
                let h = if i % PER_BAND == 1 || i % PER_BAND == 3 || i >= W {
                    1e-3
                } else {
                    1e-4
                };
                let mut q = *p;
                q[i] += h;
                self.residuals(&q, placements, &mut rp);
                for (d, (a, b)) in jac[j].iter_mut().zip(rp.iter().zip(&r)) {
                    *d = (a - b) / h;
                }
            }
            let mut jtj = vec![vec![0.0; m]; m];
            let mut jtr = vec![0.0; m];
            for a in 0..m {
                for b in a..m {
                    let s: f64 = jac[a].iter().zip(&jac[b]).map(|(x, y)| x * y).sum();
                    jtj[a][b] = s;
                    jtj[b][a] = s;
                }
                jtr[a] = jac[a].iter().zip(&r).map(|(x, y)| x * y).sum();
            }
            let mut improved = false;
            while mu < 1e10 {
                let mut a = jtj.clone();
                for (k, row) in a.iter_mut().enumerate() {
                    row[k] += mu * jtj[k][k] + 1e-9;
                }
                let Some(step) = solve_linear(a, jtr.iter().map(|v| -v).collect()) else {
                    mu *= 4.0;
                    continue;
                };
                let mut q = *p;
                for (j, &i) in idx.iter().enumerate() {
                    q[i] += step[j];
                }
                self.clamp(&mut q);
                self.residuals(&q, placements, &mut rp);
                let c: f64 = rp.iter().map(|x| x * x).sum();
                if c < cost {
                    let gain = cost - c;
                    *p = q;
                    std::mem::swap(&mut r, &mut rp);
                    cost = c;
                    mu = (mu / 3.0).max(1e-9);
                    improved = gain > 1e-10 * cost.max(1e-12);
                    break;
                }
                mu *= 4.0;
            }
            if !improved {
                break;
            }
        }
        cost
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
fn solve_linear(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            if f != 0.0 {
                let (upper, lower) = a.split_at_mut(row);
                for (x, y) in lower[0][col..].iter_mut().zip(&upper[col][col..]) {
                    *x -= f * y;
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Weights of one path from the mix's and the references' power: 0 where either is empty,
/// fading out below [`DEPTH_DB`] under the loudest band, [`EDGE_WEIGHT`] at the edges.
fn weights(centres: &[f64], mix: &[f64], reference: &[f64]) -> Vec<f64> {
    let top = mix
        .iter()
        .zip(reference)
        .filter(|(m, r)| **m > 0.0 && **r > 0.0)
        .map(|(m, r)| db(*m).max(db(*r)))
        .fold(f64::NEG_INFINITY, f64::max);
    centres
        .iter()
        .zip(mix.iter().zip(reference))
        .map(|(&f, (&m, &r))| {
            if !(m > 0.0 && r > 0.0 && top.is_finite()) {
                return 0.0;
            }
            let depth = top - db(m).min(db(r));
            let level = ((DEPTH_DB - depth) / 15.0).clamp(0.0, 1.0);
            let edge = if (39.0..=16_500.0).contains(&f) {
                1.0
            } else {
                EDGE_WEIGHT
            };
            level * edge
        })
        .collect()
}

/// Fits the EQ (and the width) of `base` so the mix moves toward the references.
pub fn fit(spectra: &Spectra, base: &EqSettings, options: &MatchOptions) -> MatchFit {
    let n = spectra.centres_hz.len();
    let amount = options.amount.clamp(0.0, 1.0);
    let limit_db = options.limit_db.clamp(0.0, 18.0);
    let stereo = spectra.mix_side.iter().any(|&s| s > 0.0);
    let mode = match (options.aspects.tone, options.aspects.width && stereo) {
        (true, true) => Mode::Both,
        (false, true) => Mode::Width,
        (true, false) => Mode::Tone,
        // Width alone on a mono mix: nothing to match; the EQ stays as it is.
        (false, false) => {
            return MatchFit {
                eq: *base,
                width_pct: None,
                target_mid_db: vec![None; n],
                target_side_db: vec![None; n],
                residual_mid_db: vec![None; n],
                residual_side_db: vec![None; n],
            };
        }
    };
    let diff = |r: f64, m: f64| amount * (db(r) - db(m));
    let sum = |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x + y).collect() };
    let (mix_total, ref_total) = (
        sum(spectra.mix_mid, spectra.mix_side),
        sum(spectra.ref_mid, spectra.ref_side),
    );
    let w_mid = weights(spectra.centres_hz, spectra.mix_mid, spectra.ref_mid);
    let w_side = weights(spectra.centres_hz, spectra.mix_side, spectra.ref_side);
    let (target, weight) = match mode {
        Mode::Tone => (
            [
                (0..n).map(|k| diff(ref_total[k], mix_total[k])).collect(),
                vec![0.0; n],
            ],
            [
                weights(spectra.centres_hz, &mix_total, &ref_total),
                vec![0.0; n],
            ],
        ),
        Mode::Width => (
            [
                (0..n)
                    .map(|k| {
                        diff(spectra.ref_side[k], spectra.mix_side[k])
                            - diff(spectra.ref_mid[k], spectra.mix_mid[k])
                    })
                    .collect(),
                vec![0.0; n],
            ],
            [
                w_mid.iter().zip(&w_side).map(|(a, b)| a.min(*b)).collect(),
                vec![0.0; n],
            ],
        ),
        Mode::Both => (
            [
                (0..n)
                    .map(|k| diff(spectra.ref_mid[k], spectra.mix_mid[k]))
                    .collect(),
                (0..n)
                    .map(|k| diff(spectra.ref_side[k], spectra.mix_side[k]))
                    .collect(),
            ],
            [w_mid, w_side],
        ),
    };
    let points: Vec<[f64; 5]> = spectra
        .centres_hz
        .iter()
        .map(|&c| std::array::from_fn(|j| c * 10f64.powf((j as f64 - 2.0) / 50.0)))
        .collect();
    // Point weights: the mix's own distribution inside each band where it is known.
    let normalise = |fifths: &[[f64; 5]], k: usize| -> [f64; 5] {
        match fifths.get(k) {
            Some(f) if f.iter().sum::<f64>() > 0.0 && f.iter().all(|v| v.is_finite()) => {
                let total: f64 = f.iter().sum();
                f.map(|v| v / total)
            }
            _ => [0.2; 5],
        }
    };
    let total_fifths: Vec<[f64; 5]> = (0..n)
        .map(|k| {
            let (m, s) = (
                spectra.mix_mid_fifths.get(k).copied().unwrap_or([0.0; 5]),
                spectra.mix_side_fifths.get(k).copied().unwrap_or([0.0; 5]),
            );
            std::array::from_fn(|j| m[j] + s[j])
        })
        .collect();
    let per_path =
        |fifths: &[[f64; 5]]| -> Vec<[f64; 5]> { (0..n).map(|k| normalise(fifths, k)).collect() };
    let point_weights = match mode {
        Mode::Tone => [per_path(&total_fifths), per_path(&total_fifths)],
        Mode::Width => [
            per_path(spectra.mix_side_fifths),
            per_path(spectra.mix_side_fifths),
        ],
        Mode::Both => [
            per_path(spectra.mix_mid_fifths),
            per_path(spectra.mix_side_fifths),
        ],
    };
    // The cuts, fixed: on the mid/single path and the side path by their placement.
    let cuts = [base.low_cut, base.high_cut];
    let kinds = [BandKind::LowCut, BandKind::HighCut];
    let cut_db = |path: usize, k: usize| -> f64 {
        let mut mean = 0.0;
        for (&hz, &pw) in points[k].iter().zip(&point_weights[path][k]) {
            let mut m = 1.0;
            for (c, &kind) in cuts.iter().zip(&kinds) {
                // Width: the path is side − mid, which a stereo cut leaves alone (a cut on
                // the mid only is left out: it would shape the mid, not the width).
                let acts = match (mode, c.placement) {
                    (Mode::Both, Placement::Mid) => path == 0,
                    (Mode::Both, Placement::Side) => path == 1,
                    (Mode::Width, placement) => placement == Placement::Side,
                    _ => true,
                };
                if c.on && acts {
                    let band = eq::Band {
                        kind,
                        enabled: true,
                        freq_hz: c.freq_hz,
                        gain_db: 0.0,
                        q: std::f32::consts::FRAC_1_SQRT_2,
                        slope: c.slope(),
                        placement: c.placement,
                    };
                    m *= eq::design::band_magnitude_sq(&band, hz);
                }
            }
            mean += pw * m;
        }
        db(mean)
    };
    let cuts_db = [
        (0..n).map(|k| cut_db(0, k)).collect(),
        (0..n).map(|k| cut_db(1, k)).collect(),
    ];
    let mut free = [true; PARAMS];
    for b in 0..5 {
        free[b * PER_BAND + 3] = false;
    }
    // The width needs a side to measure (a mono reference has none: the width stays).
    free[W] = mode != Mode::Tone
        && weight[if mode == Mode::Both { 1 } else { 0 }]
            .iter()
            .any(|&w| w > 0.0);
    free[C] = mode != Mode::Width;
    let mut problem = Problem {
        mode,
        points,
        point_weights,
        target,
        weight,
        cuts_db,
        limit_db,
        free,
        relaxed: false,
        base,
    };

    // Starts: the EQ's default band positions, flat; the placements the mode allows.
    let mut start = [0.0; PARAMS];
    for (b, (f, q)) in [
        (100.0f64, 0.707f64),
        (250.0, 1.0),
        (1_000.0, 1.0),
        (4_000.0, 1.0),
        (8_000.0, 0.707),
    ]
    .iter()
    .enumerate()
    {
        start[b * PER_BAND] = f.ln();
        start[b * PER_BAND + 2] = q.ln();
    }
    let choices: &[Placement] = match mode {
        Mode::Tone => &[Placement::Stereo],
        Mode::Width => &[Placement::Side],
        Mode::Both => &[Placement::Stereo, Placement::Mid, Placement::Side],
    };
    // The width and the level start at the curves' weighted medians (what most of the
    // spectrum needs), so broad differences go to them rather than to a pair of shelves.
    let median = |path: usize| -> f64 {
        let mut v: Vec<(f64, f64)> = problem.target[path]
            .iter()
            .zip(&problem.weight[path])
            .filter(|(_, w)| **w > 0.0)
            .map(|(t, w)| (*t, *w))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let half = v.iter().map(|x| x.1).sum::<f64>() / 2.0;
        let mut acc = 0.0;
        for (t, w) in &v {
            acc += w;
            if acc >= half {
                return *t;
            }
        }
        0.0
    };
    match mode {
        Mode::Tone => start[C] = median(0),
        Mode::Width => start[W] = median(0),
        Mode::Both => {
            start[C] = median(0);
            start[W] = median(1) - median(0);
        }
    }
    let mut placements = [choices[0]; 5];
    let mut best = start;
    let mut best_cost = problem.solve(&mut best, &placements);
    if mode == Mode::Both {
        // Relaxed: mid and side gains apart; each band then takes the placement closest to
        // its pair of gains.
        problem.relaxed = true;
        for b in 0..5 {
            problem.free[b * PER_BAND + 3] = true;
        }
        let mut p = start;
        problem.solve(&mut p, &placements);
        problem.relaxed = false;
        for b in 0..5 {
            problem.free[b * PER_BAND + 3] = false;
        }
        let mut pl = placements;
        for b in 0..5 {
            let (gm, gs) = (p[b * PER_BAND + 1], p[b * PER_BAND + 3]);
            let mean = 0.5 * (gm + gs);
            let errors = [
                (
                    Placement::Stereo,
                    (gm - mean).powi(2) + (gs - mean).powi(2),
                    mean,
                ),
                (Placement::Mid, gs * gs, gm),
                (Placement::Side, gm * gm, gs),
            ];
            let (choice, _, g) = errors
                .iter()
                .copied()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or(errors[0]);
            pl[b] = choice;
            p[b * PER_BAND + 1] = g;
            p[b * PER_BAND + 3] = 0.0;
        }
        let c = problem.solve(&mut p, &pl);
        if c < best_cost {
            (best, best_cost, placements) = (p, c, pl);
        }
    }

    // Improve: move each bell to where the fit is worst; try each band on each placement.
    for _round in 0..2 {
        for b in 1..4 {
            for (path, k, missing) in problem.worst(&best, &placements) {
                let mut p = best;
                let mut pl = placements;
                p[b * PER_BAND] = problem.points[k][2].ln();
                p[b * PER_BAND + 1] = missing.clamp(-limit_db, limit_db);
                p[b * PER_BAND + 2] = 1.0f64.ln();
                if mode == Mode::Both {
                    pl[b] = if path == 0 {
                        Placement::Mid
                    } else {
                        Placement::Side
                    };
                }
                let c = problem.solve(&mut p, &pl);
                if c < best_cost {
                    (best, best_cost, placements) = (p, c, pl);
                }
            }
        }
        for b in 0..5 {
            for &choice in choices {
                if choice == placements[b] {
                    continue;
                }
                let mut pl = placements;
                pl[b] = choice;
                let mut p = best;
                let c = problem.solve(&mut p, &pl);
                if c < best_cost {
                    (best, best_cost, placements) = (p, c, pl);
                }
            }
        }
    }
    // Least squares spreads the error; users read the largest band. A few reweighted passes
    // (Lawson's scheme toward the minimax fit) pull the worst bands in.
    let weight = problem.weight.clone();
    let mut fitted = best;
    let worst = |problem: &Problem, p: &[f64; PARAMS]| -> f64 {
        let n = problem.points.len();
        let mut m = [vec![0.0; n], vec![0.0; n]];
        problem.model(p, &placements, &mut m);
        (0..2)
            .flat_map(|path| (0..n).map(move |k| (path, k)))
            .filter(|&(path, k)| weight[path][k] >= 1.0)
            .map(|(path, k)| (m[path][k] - problem.target[path][k]).abs())
            .fold(0.0, f64::max)
    };
    let mut fitted_worst = worst(&problem, &fitted);
    for _pass in 0..4 {
        let n = problem.points.len();
        let mut m = [vec![0.0; n], vec![0.0; n]];
        problem.model(&fitted, &placements, &mut m);
        for ((weights, model), target) in problem.weight.iter_mut().zip(&m).zip(&problem.target) {
            for ((w, v), t) in weights.iter_mut().zip(model).zip(target) {
                *w *= 1.0 + ((v - t).abs() / 0.2).powi(2);
            }
        }
        let mut p = fitted;
        problem.solve(&mut p, &placements);
        let w = worst(&problem, &p);
        if w < fitted_worst {
            (fitted, fitted_worst) = (p, w);
        }
    }
    problem.weight = weight;
    problem.finish(&fitted, &placements)
}

impl Problem<'_> {
    /// Path and band of the largest weighted residual.
    /// Up to three places the fit misses most (weighted), a third of an octave and more apart
    /// on a path: (path, band, dB missing there).
    fn worst(&self, p: &[f64; PARAMS], placements: &[Placement; 5]) -> Vec<(usize, usize, f64)> {
        let mut r = Vec::new();
        self.residuals(p, placements, &mut r);
        let n = self.points.len();
        let mut order: Vec<usize> = (0..2 * n).filter(|&i| r[i] != 0.0).collect();
        order.sort_by(|&a, &b| r[b].abs().total_cmp(&r[a].abs()));
        let mut out: Vec<(usize, usize, f64)> = Vec::new();
        for i in order {
            let (path, k) = (i / n, i % n);
            if out.iter().any(|&(q, j, _)| q == path && j.abs_diff(k) < 3) {
                continue;
            }
            out.push((path, k, -r[i] / self.weight[path][k].sqrt()));
            if out.len() == 3 {
                break;
            }
        }
        out
    }

    fn finish(&self, p: &[f64; PARAMS], placements: &[Placement; 5]) -> MatchFit {
        let n = self.points.len();
        let mut m = [vec![0.0; n], vec![0.0; n]];
        self.model(p, placements, &mut m);
        let mut eq = *self.base;
        eq.on = true;
        let set = |b: usize, s: &mut BandSettings| {
            *s = BandSettings {
                on: true,
                freq_hz: p[b * PER_BAND].exp() as f32,
                gain_db: p[b * PER_BAND + 1] as f32,
                q: p[b * PER_BAND + 2].exp() as f32,
                placement: placements[b],
            };
        };
        set(0, &mut eq.low_shelf);
        set(1, &mut eq.bell1);
        set(2, &mut eq.bell2);
        set(3, &mut eq.bell3);
        set(4, &mut eq.high_shelf);
        let column = |path: usize, what: &dyn Fn(usize) -> f64| -> Vec<Option<f64>> {
            (0..n)
                .map(|k| (self.weight[path][k] > 0.0).then(|| what(k)))
                .collect()
        };
        // The level is not part of the match: residuals are taken after it.
        let level = if self.mode == Mode::Width { 0.0 } else { p[C] };
        let (t0, t1) = (
            column(0, &|k| self.target[0][k] - level),
            column(1, &|k| self.target[1][k] - level),
        );
        let (r0, r1) = (
            column(0, &|k| self.target[0][k] - m[0][k]),
            column(1, &|k| self.target[1][k] - m[1][k]),
        );
        let (target_mid_db, target_side_db, residual_mid_db, residual_side_db) = match self.mode {
            Mode::Both => (t0, t1, r0, r1),
            Mode::Tone => (t0.clone(), t0, r0.clone(), r0),
            // Width: the mid is left alone; the side's curve is relative to the mid.
            Mode::Width => (vec![None; n], t0, vec![None; n], r0),
        };
        MatchFit {
            eq,
            width_pct: (self.mode != Mode::Tone).then(|| (100.0 * 10f64.powf(p[W] / 20.0)) as f32),
            target_mid_db,
            target_side_db,
            residual_mid_db,
            residual_side_db,
        }
    }
}

#[cfg(test)]
mod tests;
