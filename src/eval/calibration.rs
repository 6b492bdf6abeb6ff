//! Calibration of the predicted probabilities (shared/spec/data-and-eval.md). Plain
//! functions of per-row numbers, optionally weighted by a count per row (a bootstrap
//! resample); `None` weights count every row once.
//!
//! - **Confidence** is the top-1 probability (the `softmax` score column), **accuracy** whether
//!   the top-1 prediction is right.
//! - **ECE**: 15 equal-width bins with edges `e_b = b·(1/15)` (`e_15 = 1`), as numpy's
//!   `linspace(0, 1, 16)`; bin b holds `e_b < conf ≤ e_{b+1}`, the first bin also `conf = 0`.
//!   `ECE = Σ_b |B_b|/n · |acc(B_b) − conf(B_b)|`; **MCE** = the largest of those gaps over the
//!   non-empty bins.
//! - **Adaptive ECE**: 15 equal-mass bins. The edges are the confidences' percentiles at
//!   `100·b/15` (numpy's linear interpolation; scikit-learn's `calibration_curve(strategy=
//!   "quantile")`), and membership is by value as above, so tied confidences always share a
//!   bin (a bin may then hold more or fewer than n/15 rows, never split a tie by row order).
//! - **NLL**: mean of `−ln p_y`, the true label's probability. **Brier** (of the full
//!   distribution against the one-hot label): mean of `Σ_c (p_c − [c = y])² = Σ_c p_c² −
//!   2 p_y + 1`; `Σ_c p_c²` is DOCTOR's `g`, recovered from the `doctor` column (`−D_α =
//!   1 − 1/g`, so `g = 1/(1 + D_α)`).
//! - **Temperature scaling** (Guo et al., ICML 2017): `T` minimising the mean NLL of
//!   `softmax(z/T)` on the fit rows, found by Newton's method on `β = 1/T` (the NLL is convex
//!   in β) with bisection as a safeguard, to machine precision.
use serde::Serialize;

/// Bins of ECE, MCE, adaptive ECE and the reliability diagram.
pub const BINS: usize = 15;

/// The equal-width edges, exactly numpy's `linspace(0, 1, BINS + 1)`.
pub fn uniform_edges() -> [f64; BINS + 1] {
    let step = 1.0 / BINS as f64;
    let mut e = [0.0; BINS + 1];
    for (b, x) in e.iter_mut().enumerate() {
        *x = b as f64 * step;
    }
    e[BINS] = 1.0;
    e
}

/// The bin of `x` under ascending `edges`: `e_b < x ≤ e_{b+1}`, `x ≤ e_1` in the first bin,
/// `x > e_{BINS−1}` in the last.
fn bin_of(edges: &[f64; BINS + 1], x: f64) -> usize {
    // The number of inner edges strictly below x (numpy's searchsorted, side = left).
    edges[1..BINS].partition_point(|&e| e < x)
}

/// One bin of the reliability diagram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    /// Rows in the bin (weighted).
    pub count: usize,
    /// Mean confidence and accuracy of its rows; `None` for an empty bin.
    pub confidence: Option<f64>,
    pub accuracy: Option<f64>,
}

fn weight(weights: Option<&[u32]>, i: usize) -> usize {
    weights.map_or(1, |w| w[i] as usize)
}

/// The rows binned by `edges`.
fn binned(
    edges: &[f64; BINS + 1],
    conf: &[f64],
    correct: &[bool],
    weights: Option<&[u32]>,
) -> Vec<Bin> {
    let mut count = [0usize; BINS];
    let mut conf_sum = [0.0f64; BINS];
    let mut right = [0usize; BINS];
    for (i, (&c, &ok)) in conf.iter().zip(correct).enumerate() {
        let k = weight(weights, i);
        if k == 0 {
            continue;
        }
        let b = bin_of(edges, c);
        count[b] += k;
        conf_sum[b] += k as f64 * c;
        right[b] += usize::from(ok) * k;
    }
    (0..BINS)
        .map(|b| Bin {
            lower: edges[b],
            upper: edges[b + 1],
            count: count[b],
            confidence: (count[b] > 0).then(|| conf_sum[b] / count[b] as f64),
            accuracy: (count[b] > 0).then(|| right[b] as f64 / count[b] as f64),
        })
        .collect()
}

/// The reliability diagram's bins (equal width).
pub fn reliability(conf: &[f64], correct: &[bool], weights: Option<&[u32]>) -> Vec<Bin> {
    binned(&uniform_edges(), conf, correct, weights)
}

/// `Σ_b |B_b|/n · |acc − conf|` and the largest gap; `None` without rows.
fn ece_mce(bins: &[Bin]) -> Option<(f64, f64)> {
    let n: usize = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return None;
    }
    let (mut ece, mut mce) = (0.0f64, 0.0f64);
    for b in bins {
        if let (Some(c), Some(a)) = (b.confidence, b.accuracy) {
            let gap = (a - c).abs();
            ece += b.count as f64 / n as f64 * gap;
            mce = mce.max(gap);
        }
    }
    Some((ece, mce))
}

/// The equal-mass edges of the (weighted) confidences: the percentiles at `100·b/15`,
/// `b = 0..=15`, as numpy's `percentile(conf, linspace(0, 1, 16) * 100)` computes them
/// (linear interpolation at position `q·(n−1)`), which is scikit-learn's
/// `calibration_curve(strategy="quantile")`.
fn quantile_edges(conf: &[f64], weights: Option<&[u32]>) -> Option<[f64; BINS + 1]> {
    let mut order: Vec<usize> = (0..conf.len())
        .filter(|&i| weight(weights, i) > 0)
        .collect();
    order.sort_by(|&a, &b| conf[a].total_cmp(&conf[b]));
    // cum[j] = rows (weighted) among the first j+1 of `order`.
    let mut cum = Vec::with_capacity(order.len());
    let mut total = 0usize;
    for &i in &order {
        total += weight(weights, i);
        cum.push(total);
    }
    if total == 0 {
        return None;
    }
    // The value at position p (0-based) of the expanded sorted multiset.
    let at = |p: usize| conf[order[cum.partition_point(|&c| c <= p)]];
    let uniform = uniform_edges();
    let mut edges = [0.0; BINS + 1];
    for (e, u) in edges.iter_mut().zip(uniform) {
        // numpy: q in percent, divided by 100 again inside `percentile`.
        let q = u * 100.0 / 100.0;
        let pos = (total - 1) as f64 * q;
        let lo = pos.floor() as usize;
        let hi = (lo + 1).min(total - 1);
        let (a, b) = (at(lo), at(hi));
        let t = pos - lo as f64;
        // numpy's _lerp.
        *e = if t >= 0.5 {
            b - (b - a) * (1.0 - t)
        } else {
            a + (b - a) * t
        };
    }
    Some(edges)
}

/// Every calibration number of one set of rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Calibration {
    /// Rows with a confidence.
    pub n: usize,
    pub ece: Option<f64>,
    pub adaptive_ece: Option<f64>,
    pub mce: Option<f64>,
    /// Rows with the true label's probability (NLL) and also DOCTOR's `Σ p²` (Brier).
    pub n_nll: usize,
    pub nll: Option<f64>,
    pub n_brier: usize,
    pub brier: Option<f64>,
}

/// The per-row inputs of [`Calibration`]; `None` where a row lacks the number.
#[derive(Clone, Debug, Default)]
pub struct CalibrationInputs {
    pub correct: Vec<bool>,
    /// Top-1 probability.
    pub confidence: Vec<Option<f64>>,
    /// The true label's probability.
    pub prob_label: Vec<Option<f64>>,
    /// `Σ_c p_c²`.
    pub sum_sq: Vec<Option<f64>>,
}

impl CalibrationInputs {
    pub fn compute(&self, weights: Option<&[u32]>) -> Calibration {
        let w = |i: usize| weight(weights, i);
        let (mut conf, mut ok, mut cw) = (Vec::new(), Vec::new(), Vec::new());
        for (i, c) in self.confidence.iter().enumerate() {
            if let Some(c) = c {
                conf.push(*c);
                ok.push(self.correct[i]);
                cw.push(w(i) as u32);
            }
        }
        let bins = binned(&uniform_edges(), &conf, &ok, Some(&cw));
        let (ece, mce) = ece_mce(&bins).unzip();
        let adaptive_ece = quantile_edges(&conf, Some(&cw))
            .and_then(|e| ece_mce(&binned(&e, &conf, &ok, Some(&cw))))
            .map(|(e, _)| e);

        let (mut nll_sum, mut n_nll) = (0.0, 0usize);
        let (mut brier_sum, mut n_brier) = (0.0, 0usize);
        for (i, p) in self.prob_label.iter().enumerate() {
            let Some(p) = *p else { continue };
            let k = w(i);
            n_nll += k;
            nll_sum += k as f64 * -p.ln();
            if let Some(g) = self.sum_sq[i] {
                n_brier += k;
                brier_sum += k as f64 * (g - 2.0 * p + 1.0);
            }
        }
        Calibration {
            n: cw.iter().map(|&k| k as usize).sum(),
            ece,
            adaptive_ece,
            mce,
            n_nll,
            nll: (n_nll > 0).then(|| nll_sum / n_nll as f64),
            n_brier,
            brier: (n_brier > 0).then(|| brier_sum / n_brier as f64),
        }
    }
}

/// Mean NLL of `softmax(β z)` against `labels`, with its first and second derivative in β.
fn nll_beta(logits: &[&[f64]], labels: &[usize], beta: f64) -> (f64, f64, f64) {
    let (mut f, mut d1, mut d2) = (0.0, 0.0, 0.0);
    for (z, &y) in logits.iter().zip(labels) {
        let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let (mut s, mut sz, mut szz) = (0.0, 0.0, 0.0);
        for &v in z.iter() {
            let e = (beta * (v - m)).exp();
            s += e;
            sz += e * v;
            szz += e * v * v;
        }
        let mean = sz / s;
        f += beta * m + s.ln() - beta * z[y];
        d1 += mean - z[y];
        d2 += (szz / s - mean * mean).max(0.0);
    }
    let n = logits.len() as f64;
    (f / n, d1 / n, d2 / n)
}

/// Mean NLL of `softmax(z / t)` against `labels`.
pub fn nll_at_temperature(logits: &[&[f64]], labels: &[usize], t: f64) -> f64 {
    nll_beta(logits, labels, 1.0 / t).0
}

/// The temperature minimising the mean NLL of `softmax(z / T)` on `(logits, labels)`.
/// `None` when the NLL has no minimum at a finite positive T (every row already predicted
/// with its label by a margin the NLL keeps rewarding, or no rows).
pub fn fit_temperature(logits: &[&[f64]], labels: &[usize]) -> Option<f64> {
    if logits.is_empty() {
        return None;
    }
    // Bracket the root of the derivative in β: it increases with β (convexity).
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while nll_beta(logits, labels, hi).1 < 0.0 {
        lo = hi;
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    let mut beta = 0.5 * (lo + hi);
    for _ in 0..200 {
        let (_, d1, d2) = nll_beta(logits, labels, beta);
        if d1 == 0.0 {
            break;
        }
        if d1 > 0.0 {
            hi = beta;
        } else {
            lo = beta;
        }
        let newton = beta - d1 / d2;
        let next = if d2 > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - beta).abs() <= 1e-15 * beta.max(1e-300) {
            beta = next;
            break;
        }
        beta = next;
    }
    (beta > 0.0).then(|| 1.0 / beta)
}

/// Softmax of `z / t` in f64.
pub fn softmax(z: &[f64], t: f64) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|&v| ((v - m) / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Confidence, true-label probability and `Σ p²` of `softmax(z / t)`.
pub fn probabilities(z: &[f64], label: usize, t: f64) -> (f64, f64, f64) {
    let p = softmax(z, t);
    let conf = p.iter().fold(0.0f64, |a, &b| a.max(b));
    let sq = p.iter().map(|v| v * v).sum();
    (conf, p[label], sq)
}

/// The seeded split of `n` rows into a fit half (the first `n/2` of a seeded permutation)
/// and the held-out rest, each in row order.
pub fn temperature_split(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = super::bootstrap::SplitMix64::new(seed ^ 0x7e3d_5a1c_0f00_d5ee);
    let mut order: Vec<usize> = (0..n).collect();
    // Fisher–Yates.
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    let mut fit = order[..n / 2].to_vec();
    let mut held = order[n / 2..].to_vec();
    fit.sort_unstable();
    held.sort_unstable();
    (fit, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_right_closed_first_closed_at_zero() {
        let e = uniform_edges();
        assert_eq!(bin_of(&e, 0.0), 0);
        assert_eq!(bin_of(&e, e[1]), 0);
        assert_eq!(bin_of(&e, e[1] + 1e-12), 1);
        assert_eq!(bin_of(&e, 1.0), BINS - 1);
        assert_eq!(bin_of(&e, e[14]), 13);
    }

    #[test]
    fn perfectly_calibrated_bins_have_no_gap() {
        // Two rows at confidence 0.5, one right: acc = conf in their bin.
        let inputs = CalibrationInputs {
            correct: vec![true, false, true],
            confidence: vec![Some(0.5), Some(0.5), Some(1.0)],
            prob_label: vec![Some(0.5), Some(0.25), Some(1.0)],
            sum_sq: vec![Some(0.5), Some(0.5), Some(1.0)],
        };
        let c = inputs.compute(None);
        assert_eq!(c.ece, Some(0.0));
        assert_eq!(c.mce, Some(0.0));
        assert_eq!(c.adaptive_ece, Some(0.0));
        let nll = (-(0.5f64).ln() - (0.25f64).ln()) / 3.0;
        assert!((c.nll.unwrap() - nll).abs() < 1e-15);
        let brier = ((0.5 - 1.0 + 1.0) + (0.5 - 0.5 + 1.0) + 0.0) / 3.0;
        assert!((c.brier.unwrap() - brier).abs() < 1e-15);
        // Weights: counting row 0 twice equals listing it twice.
        let w = inputs.compute(Some(&[2, 1, 0]));
        let listed = CalibrationInputs {
            correct: vec![true, true, false],
            confidence: vec![Some(0.5), Some(0.5), Some(0.5)],
            prob_label: vec![Some(0.5), Some(0.5), Some(0.25)],
            sum_sq: vec![Some(0.5), Some(0.5), Some(0.5)],
        }
        .compute(None);
        assert_eq!(w, listed);
        assert!((w.ece.unwrap() - (2.0 / 3.0 - 0.5)).abs() < 1e-15);
    }

    #[test]
    fn temperature_recovers_a_known_scale() {
        // Labels drawn from softmax(z / 2): the fit should land near T = 2.
        let mut rng = super::super::bootstrap::SplitMix64::new(3);
        let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..4000 {
            let z: Vec<f64> = (0..5).map(|_| 6.0 * u() - 3.0).collect();
            let p = softmax(&z, 2.0);
            let r = u();
            let mut acc = 0.0;
            let y = p
                .iter()
                .position(|&q| {
                    acc += q;
                    r < acc
                })
                .unwrap_or(4);
            logits.push(z);
            labels.push(y);
        }
        let views: Vec<&[f64]> = logits.iter().map(Vec::as_slice).collect();
        let t = fit_temperature(&views, &labels).unwrap();
        assert!((t - 2.0).abs() < 0.2, "{t}");
        // A minimum: nearby temperatures do worse.
        let f = nll_at_temperature(&views, &labels, t);
        assert!(f <= nll_at_temperature(&views, &labels, t * 1.01));
        assert!(f <= nll_at_temperature(&views, &labels, t / 1.01));
    }

    #[test]
    fn split_is_seeded_and_halves() {
        let (a, b) = temperature_split(11, 4);
        assert_eq!((a.len(), b.len()), (5, 6));
        assert_eq!(temperature_split(11, 4), (a.clone(), b.clone()));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        assert_ne!(temperature_split(11, 5).0, a);
    }
}
