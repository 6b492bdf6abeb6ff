//! Percentile bootstrap confidence intervals (shared/spec/data-and-eval.md): resample the
//! evaluated rows with replacement `resamples` times, recompute every statistic on each
//! resample, and take the 2.5 % and 97.5 % percentiles of what comes out.
//!
//! - Seeded: the resamples depend only on the seed and the number of rows, so the same file
//!   and seed give the same intervals on every machine.
//! - Paired: one resample is drawn per round and every statistic (each score's metrics, the
//!   accuracies, calibration) is computed on it, so intervals of different scores describe
//!   the same resampled data sets.
//! - A resample is a count per row (how often it was drawn); the metrics take those counts as
//!   weights ([`super::metrics::Ranking`]), which is exactly the metric of the resampled
//!   multiset, duplicates being ties.
//! - A statistic that is undefined on a resample (AUROC of a resample without a wrong
//!   prediction) is left out of that statistic's percentiles; [`Interval::resamples`] says
//!   on how many resamples it was defined.
//! - Percentiles interpolate linearly between order statistics (numpy's default `linear`
//!   method): `q` of the sorted values `v[0..m]` is at position `q·(m−1)`.
use serde::Serialize;

/// The central coverage of every interval.
pub const LEVEL: f64 = 0.95;

/// How many resamples and from which seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bootstrap {
    /// 0 turns the intervals off.
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 1000,
            seed: 0,
        }
    }
}

/// A 95 % percentile-bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
    /// Resamples on which the statistic was defined.
    pub resamples: usize,
}

/// splitmix64 (Steele, Lea, Flood 2014): small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by the multiply-high map (bias below 2⁻³², far under
    /// anything a percentile can show).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// The `q`-quantile (0 ≤ q ≤ 1) of ascending `sorted`, numpy's `linear` method.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let m = sorted.len();
    debug_assert!(m > 0);
    let pos = q * (m - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(m - 1);
    let frac = pos - lo as f64;
    // numpy's lerp: a + (b − a)·t, with the end point taken exactly at t = 1.
    let (a, b) = (sorted[lo], sorted[hi]);
    if frac >= 0.5 {
        b - (b - a) * (1.0 - frac)
    } else {
        a + (b - a) * frac
    }
}

/// The percentile interval of one statistic's values over the resamples (`None` entries are
/// resamples where it was undefined); `None` when it was never defined.
pub fn interval(values: &mut [f64]) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let alpha = 1.0 - LEVEL;
    Some(Interval {
        lower: percentile(values, alpha / 2.0),
        upper: percentile(values, 1.0 - alpha / 2.0),
        resamples: values.len(),
    })
}

/// Draws `opts.resamples` resamples of `n` rows; for each, `stats(counts, out)` writes the
/// `n_stats` statistics of the resample into `out` (`counts[i]`: how often row `i` was drawn;
/// `None` = undefined on this resample). Returns one interval per statistic, all `None`
/// when the bootstrap is off or there are no rows.
pub fn intervals(
    n: usize,
    opts: Bootstrap,
    n_stats: usize,
    mut stats: impl FnMut(&[u32], &mut [Option<f64>]),
) -> Vec<Option<Interval>> {
    if opts.resamples == 0 || n == 0 {
        return vec![None; n_stats];
    }
    let mut rng = SplitMix64::new(opts.seed);
    let mut counts = vec![0u32; n];
    let mut out = vec![None; n_stats];
    let mut collected: Vec<Vec<f64>> = vec![Vec::with_capacity(opts.resamples); n_stats];
    for _ in 0..opts.resamples {
        counts.iter_mut().for_each(|c| *c = 0);
        for _ in 0..n {
            counts[rng.below(n)] += 1;
        }
        out.iter_mut().for_each(|o| *o = None);
        stats(&counts, &mut out);
        for (values, v) in collected.iter_mut().zip(&out) {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                values.push(v);
            }
        }
    }
    collected.iter_mut().map(|v| interval(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_like_numpy() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 8.0);
        // position 0.025 · 3 = 0.075 → 1 + 0.075
        assert!((percentile(&v, 0.025) - 1.075).abs() < 1e-15);
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&[5.0], 0.975), 5.0);
    }

    #[test]
    fn same_seed_same_intervals() {
        let data: Vec<f64> = (0..50).map(|i| f64::from(i % 7)).collect();
        let mean = |counts: &[u32], out: &mut [Option<f64>]| {
            let (s, n) = counts
                .iter()
                .zip(&data)
                .fold((0.0, 0u32), |(s, n), (&c, &x)| {
                    (s + f64::from(c) * x, n + c)
                });
            out[0] = Some(s / f64::from(n));
        };
        let opts = Bootstrap {
            resamples: 200,
            seed: 9,
        };
        let a = intervals(data.len(), opts, 1, mean);
        let b = intervals(data.len(), opts, 1, mean);
        assert_eq!(a, b);
        let c = intervals(data.len(), Bootstrap { seed: 10, ..opts }, 1, mean);
        assert_ne!(a, c);
        let i = a[0].unwrap();
        let m = data.iter().sum::<f64>() / data.len() as f64;
        assert!(i.lower < m && m < i.upper && i.resamples == 200, "{i:?}");
        let off = intervals(
            data.len(),
            Bootstrap {
                resamples: 0,
                seed: 0,
            },
            1,
            mean,
        );
        assert_eq!(off, vec![None]);
    }

    #[test]
    fn draws_are_uniform() {
        let mut rng = SplitMix64::new(1);
        let mut hist = [0usize; 10];
        for _ in 0..100_000 {
            hist[rng.below(10)] += 1;
        }
        assert!(
            hist.iter().all(|&h| (9_500..10_500).contains(&h)),
            "{hist:?}"
        );
    }
}
