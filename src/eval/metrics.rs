//! Misprediction-detection metrics of one score (shared/spec/data-and-eval.md): how well the
//! score ranks wrong predictions below correct ones. Plain functions of `(score, correct)`
//! pairs; every score is oriented so that higher means more trust.
//!
//! Ties in the score are one threshold everywhere: nothing here depends on the input order.
//! The samples are sorted by score and merged into tie groups ([`TieGroups`]); every metric
//! and curve is computed from the groups.
//!
//! Definitions where the spec leaves room:
//! - **AUROC**: correct = positive. `P(s_correct > s_wrong) + ½ P(s_correct = s_wrong)`, the
//!   Mann–Whitney statistic with average ranks; equals scikit-learn's `roc_auc_score`.
//! - **AUPR-Success / AUPR-Error**: scikit-learn's `average_precision_score`,
//!   `Σ_t (R_t − R_{t−1}) P_t` over the distinct thresholds `t`, from the strictest to the
//!   loosest (recall `R`, precision `P` of the samples at or above `t`); Success: correct = positive ranked by the score, Error: wrong =
//!   positive ranked by −score.
//! - **FPR@95TPR**: accept every sample with `score ≥ t`. `t*` is the largest score value whose
//!   accepted set holds at least 95% of the correct predictions (`20·TP ≥ 19·n_correct`, in
//!   integers, so no rounding decides it); FPR@95TPR is the fraction of wrong predictions
//!   accepted at `t*`. A tie group is accepted whole, so this is the smallest threshold set
//!   reaching 95% TPR (sklearn's `roc_curve` followed by the first point with TPR ≥ 0.95).
//! - **Risk–coverage**: sort by score, descending; `E(k)` = errors among the `k` most trusted.
//!   Inside a tie group of `m` samples holding `w` errors, the `j`-th of its samples adds
//!   `w/m` errors: `E(k)` is the expected count over every order of the tied samples, so a
//!   group is one threshold, never split by input order. `risk(k) = E(k)/k`.
//!   **AURC** = `(1/n) Σ_{k=1..n} risk(k)`; **E-AURC** = AURC − AURC of the oracle ranking
//!   (every correct prediction before every wrong one); **AUGRC** =
//!   `(1/n) Σ_{k=1..n} E(k)/n`, the generalized risk (errors accepted over all `n`) averaged
//!   over the coverages `k/n`, the same discrete average as AURC.
//! - When every prediction is correct, or every one is wrong, the detection metrics (AUROC,
//!   AUPR-*, FPR@95TPR) are undefined and left empty; AURC, E-AURC and AUGRC are still
//!   defined (all zero when every prediction is correct; 1, 0 and (n+1)/(2n) when every one
//!   is wrong).
use serde::Serialize;

/// Samples merged into groups of equal score, sorted by score descending.
#[derive(Clone, Debug)]
pub struct TieGroups {
    groups: Vec<Group>,
    n_correct: usize,
    n_wrong: usize,
}

#[derive(Clone, Copy, Debug)]
struct Group {
    score: f64,
    correct: usize,
    wrong: usize,
}

impl Group {
    fn len(&self) -> usize {
        self.correct + self.wrong
    }
}

impl TieGroups {
    /// `scores[i]` is sample `i`'s trust score (finite, higher = more trust), `correct[i]`
    /// whether its prediction is right.
    pub fn new(scores: &[f64], correct: &[bool]) -> Self {
        assert_eq!(
            scores.len(),
            correct.len(),
            "scores and correct differ in length"
        );
        Ranking::new(scores.iter().map(|&s| Some(s))).tie_groups(correct, None)
    }

    /// The oracle ranking: every correct prediction above every wrong one.
    fn oracle(n_correct: usize, n_wrong: usize) -> Self {
        let groups = [
            Group {
                score: 1.0,
                correct: n_correct,
                wrong: 0,
            },
            Group {
                score: 0.0,
                correct: 0,
                wrong: n_wrong,
            },
        ]
        .into_iter()
        .filter(|g| g.len() > 0)
        .collect();
        TieGroups {
            groups,
            n_correct,
            n_wrong,
        }
    }

    pub fn len(&self) -> usize {
        self.n_correct + self.n_wrong
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn n_correct(&self) -> usize {
        self.n_correct
    }

    pub fn n_wrong(&self) -> usize {
        self.n_wrong
    }

    /// Number of distinct score values.
    pub fn distinct(&self) -> usize {
        self.groups.len()
    }

    fn both_classes(&self) -> bool {
        self.n_correct > 0 && self.n_wrong > 0
    }

    /// AUROC with correct = positive; `None` unless both classes occur.
    pub fn auroc(&self) -> Option<f64> {
        if !self.both_classes() {
            return None;
        }
        // For each correct sample: wrong samples strictly below count 1, tied ones ½.
        let mut wrong_above = 0usize;
        let mut pairs = 0.0f64;
        for g in &self.groups {
            let wrong_below = self.n_wrong - wrong_above - g.wrong;
            pairs += g.correct as f64 * (wrong_below as f64 + 0.5 * g.wrong as f64);
            wrong_above += g.wrong;
        }
        Some(pairs / (self.n_correct as f64 * self.n_wrong as f64))
    }

    /// Average precision (scikit-learn's `average_precision_score`) with correct = positive
    /// ranked by the score (`errors = false`), or wrong = positive ranked by −score
    /// (`errors = true`). `None` unless both classes occur.
    pub fn average_precision(&self, errors: bool) -> Option<f64> {
        if !self.both_classes() {
            return None;
        }
        let (mut tp, mut fp) = (0usize, 0usize);
        let mut ap = 0.0;
        let mut step = |pos: usize, neg: usize, total_pos: usize| {
            tp += pos;
            fp += neg;
            if pos > 0 {
                let precision = tp as f64 / (tp + fp) as f64;
                ap += pos as f64 / total_pos as f64 * precision;
            }
        };
        if errors {
            for g in self.groups.iter().rev() {
                step(g.wrong, g.correct, self.n_wrong);
            }
        } else {
            for g in &self.groups {
                step(g.correct, g.wrong, self.n_correct);
            }
        }
        Some(ap)
    }

    /// FPR@95TPR as defined in the module docs; `None` unless both classes occur.
    pub fn fpr_at_95_tpr(&self) -> Option<f64> {
        if !self.both_classes() {
            return None;
        }
        let (mut tp, mut fp) = (0usize, 0usize);
        for g in &self.groups {
            tp += g.correct;
            fp += g.wrong;
            if 20 * tp >= 19 * self.n_correct {
                return Some(fp as f64 / self.n_wrong as f64);
            }
        }
        unreachable!("all correct predictions are accepted at the lowest threshold")
    }

    /// `E(k)` for `k = 1..=n`: the expected errors among the `k` most trusted samples, a tie
    /// group spreading its errors evenly over its positions.
    pub fn expected_errors(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        let mut before = 0.0;
        for g in &self.groups {
            let per = g.wrong as f64 / g.len() as f64;
            for j in 1..=g.len() {
                out.push(before + j as f64 * per);
            }
            before += g.wrong as f64;
        }
        out
    }

    /// `(Σ_k risk(k), Σ_k E(k))` over `k = 1..n`, in one pass over the groups.
    fn risk_sums(&self) -> (f64, f64) {
        let (mut risk_sum, mut errors_sum) = (0.0, 0.0);
        let (mut pos, mut before) = (0usize, 0.0f64);
        for g in &self.groups {
            let m = g.len();
            let per = g.wrong as f64 / m as f64;
            for j in 1..=m {
                let e = before + j as f64 * per;
                risk_sum += e / (pos + j) as f64;
            }
            // Σ_j (before + j·per) = m·before + per·m(m+1)/2
            errors_sum += m as f64 * before + per * (m * (m + 1)) as f64 / 2.0;
            pos += m;
            before += g.wrong as f64;
        }
        (risk_sum, errors_sum)
    }

    /// AURC; `None` for no samples.
    pub fn aurc(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.risk_sums().0 / self.len() as f64)
    }

    /// AURC minus the oracle ranking's AURC; `None` for no samples.
    pub fn e_aurc(&self) -> Option<f64> {
        let oracle = TieGroups::oracle(self.n_correct, self.n_wrong).aurc()?;
        Some(self.aurc()? - oracle)
    }

    /// AUGRC; `None` for no samples.
    pub fn augrc(&self) -> Option<f64> {
        let n = self.len() as f64;
        (!self.is_empty()).then(|| self.risk_sums().1 / (n * n))
    }

    /// ROC curve with correct = positive: `(FPR, TPR)` from `(0, 0)`, one point per threshold.
    pub fn roc_curve(&self) -> Vec<(f64, f64)> {
        let mut points = vec![(0.0, 0.0)];
        if !self.both_classes() {
            return points;
        }
        let (mut tp, mut fp) = (0usize, 0usize);
        for g in &self.groups {
            tp += g.correct;
            fp += g.wrong;
            points.push((
                fp as f64 / self.n_wrong as f64,
                tp as f64 / self.n_correct as f64,
            ));
        }
        points
    }

    /// Risk–coverage curve for plots: `(k/n, risk(k))` at about `max_points` evenly spaced
    /// coverages, always including `k = 1` and `k = n`.
    pub fn risk_coverage_curve(&self, max_points: usize) -> Vec<(f64, f64)> {
        let errors = self.expected_errors();
        let n = errors.len();
        if n == 0 {
            return Vec::new();
        }
        let stride = n.div_ceil(max_points.max(1)).max(1);
        (1..=n)
            .filter(|k| k % stride == 0 || *k == n || *k == 1)
            .map(|k| (k as f64 / n as f64, errors[k - 1] / k as f64))
            .collect()
    }

    /// The operating point `accept score ≥ t` for a coverage or risk target: for
    /// [`Target::Coverage`] the strictest threshold whose accepted share reaches the coverage,
    /// for [`Target::Risk`] the loosest threshold whose error rate among the accepted is at
    /// most the risk. A tie group is accepted whole (a deployable threshold), so the
    /// coverage reached may exceed the target. `None` for no samples.
    pub fn working_point(&self, target: Target) -> Option<WorkingPoint> {
        if self.is_empty() {
            return None;
        }
        let n = self.len();
        let (mut accepted, mut errors) = (0usize, 0usize);
        let mut found: Option<WorkingPoint> = None;
        for g in &self.groups {
            accepted += g.len();
            errors += g.wrong;
            let point = WorkingPoint {
                target,
                threshold: Some(g.score),
                accepted,
                coverage: accepted as f64 / n as f64,
                risk: Some(errors as f64 / accepted as f64),
            };
            match target {
                // Integer percentages: no rounding decides whether a target is met.
                Target::Coverage(pct) if 100 * accepted >= pct as usize * n => {
                    return Some(point);
                }
                Target::Risk(pct) if 100 * errors <= pct as usize * accepted => {
                    found = Some(point);
                }
                _ => {}
            }
        }
        Some(found.unwrap_or(WorkingPoint {
            target,
            threshold: None,
            accepted: 0,
            coverage: 0.0,
            risk: None,
        }))
    }

    /// The oracle ranking's risk–coverage curve, for reference in plots.
    pub fn oracle_risk_coverage_curve(&self, max_points: usize) -> Vec<(f64, f64)> {
        TieGroups::oracle(self.n_correct, self.n_wrong).risk_coverage_curve(max_points)
    }
}

/// One score's samples sorted by score once. The tie groups of any reweighting of the
/// samples (a bootstrap resample is a count per sample) are the same groups with other
/// counts, so each resample costs one pass instead of a sort.
#[derive(Clone, Debug, Default)]
pub struct Ranking {
    /// Indices of the samples that have a value, by score descending.
    order: Vec<usize>,
    /// Per tie group, best first: its score and the end (exclusive) of its run in `order`.
    groups: Vec<(f64, usize)>,
}

impl Ranking {
    /// `scores` has one entry per sample; `None` (no value) leaves the sample out.
    pub fn new(scores: impl Iterator<Item = Option<f64>>) -> Self {
        let values: Vec<(usize, f64)> = scores
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        let mut sorted = values;
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut groups: Vec<(f64, usize)> = Vec::new();
        for (pos, &(_, s)) in sorted.iter().enumerate() {
            match groups.last_mut() {
                // `==` rather than total_cmp: 0.0 and -0.0 are one threshold.
                Some(g) if g.0 == s => g.1 = pos + 1,
                _ => groups.push((s, pos + 1)),
            }
        }
        Ranking {
            order: sorted.into_iter().map(|(i, _)| i).collect(),
            groups,
        }
    }

    /// Samples with a value.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The tie groups with sample `i` counted `weights[i]` times (once each without weights);
    /// `correct` is indexed like the samples given to [`Ranking::new`].
    pub fn tie_groups(&self, correct: &[bool], weights: Option<&[u32]>) -> TieGroups {
        let mut groups = Vec::with_capacity(self.groups.len());
        let (mut n_correct, mut n_wrong) = (0, 0);
        let mut start = 0;
        for &(score, end) in &self.groups {
            let (mut c, mut w) = (0usize, 0usize);
            for &i in &self.order[start..end] {
                let k = weights.map_or(1, |w| w[i] as usize);
                if correct[i] {
                    c += k;
                } else {
                    w += k;
                }
            }
            start = end;
            if c + w > 0 {
                groups.push(Group {
                    score,
                    correct: c,
                    wrong: w,
                });
                n_correct += c;
                n_wrong += w;
            }
        }
        TieGroups {
            groups,
            n_correct,
            n_wrong,
        }
    }
}

/// A deployment target, in whole percent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "percent", rename_all = "snake_case")]
pub enum Target {
    /// Accept at least this share of the rows; report the risk.
    Coverage(u8),
    /// Keep the error rate among the accepted at most this; report the coverage.
    Risk(u8),
}

impl Target {
    /// What `eval` reports: risk at 80/90/95 % coverage, coverage at 5/10 % risk.
    pub const ALL: [Target; 5] = [
        Target::Coverage(80),
        Target::Coverage(90),
        Target::Coverage(95),
        Target::Risk(5),
        Target::Risk(10),
    ];

    /// Column stem: `risk_at_80_coverage`, `coverage_at_5_risk`.
    pub fn name(self) -> String {
        match self {
            Target::Coverage(p) => format!("risk_at_{p}_coverage"),
            Target::Risk(p) => format!("coverage_at_{p}_risk"),
        }
    }

    pub fn title(self) -> String {
        match self {
            Target::Coverage(p) => format!("risk @ {p}% coverage"),
            Target::Risk(p) => format!("coverage @ {p}% risk"),
        }
    }
}

/// One working point of a score ([`TieGroups::working_point`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WorkingPoint {
    pub target: Target,
    /// Accept rows with `score ≥ threshold`; `None` when no threshold meets a risk target.
    pub threshold: Option<f64>,
    pub accepted: usize,
    pub coverage: f64,
    /// Error rate among the accepted; `None` when nothing is accepted.
    pub risk: Option<f64>,
}

impl WorkingPoint {
    /// The number the target asks for: the risk of a coverage target, the coverage of a risk
    /// target.
    pub fn value(&self) -> Option<f64> {
        match self.target {
            Target::Coverage(_) => self.risk,
            Target::Risk(_) => Some(self.coverage),
        }
    }
}

/// Every misprediction-detection metric of one score over one set of samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DetectionMetrics {
    /// Samples the metrics were computed on (ok, labelled, with a finite score value).
    pub n: usize,
    pub n_correct: usize,
    pub n_wrong: usize,
    /// Distinct score values; 1 means the score is constant and ranks nothing.
    pub distinct_values: usize,
    pub auroc: Option<f64>,
    pub aupr_error: Option<f64>,
    pub aupr_success: Option<f64>,
    pub fpr95tpr: Option<f64>,
    pub aurc: Option<f64>,
    pub e_aurc: Option<f64>,
    pub augrc: Option<f64>,
}

impl DetectionMetrics {
    pub fn compute(scores: &[f64], correct: &[bool]) -> Self {
        Self::from_groups(&TieGroups::new(scores, correct))
    }

    pub fn from_groups(g: &TieGroups) -> Self {
        DetectionMetrics {
            n: g.len(),
            n_correct: g.n_correct(),
            n_wrong: g.n_wrong(),
            distinct_values: g.distinct(),
            auroc: g.auroc(),
            aupr_error: g.average_precision(true),
            aupr_success: g.average_precision(false),
            fpr95tpr: g.fpr_at_95_tpr(),
            aurc: g.aurc(),
            e_aurc: g.e_aurc(),
            augrc: g.augrc(),
        }
    }

    /// A constant score (one distinct value over two or more samples) ranks nothing.
    pub fn is_constant(&self) -> bool {
        self.n >= 2 && self.distinct_values == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn perfect_ranking() {
        let m = DetectionMetrics::compute(&[0.9, 0.8, 0.2, 0.1], &[true, true, false, false]);
        close(m.auroc.unwrap(), 1.0);
        close(m.aupr_success.unwrap(), 1.0);
        close(m.aupr_error.unwrap(), 1.0);
        close(m.fpr95tpr.unwrap(), 0.0);
        // risk: 0, 0, 1/3, 2/4
        close(m.aurc.unwrap(), (1.0 / 3.0 + 0.5) / 4.0);
        close(m.e_aurc.unwrap(), 0.0);
        // E: 0, 0, 1, 2 → (3/4)/4
        close(m.augrc.unwrap(), 3.0 / 16.0);
    }

    #[test]
    fn inverted_ranking() {
        let m = DetectionMetrics::compute(&[0.1, 0.2, 0.8, 0.9], &[true, true, false, false]);
        close(m.auroc.unwrap(), 0.0);
        close(m.fpr95tpr.unwrap(), 1.0);
        // risk: 1, 1, 2/3, 2/4
        close(m.aurc.unwrap(), (2.0 + 2.0 / 3.0 + 0.5) / 4.0);
        // AP success: correct at ranks 3, 4 → (1/2)(1/3) + (1/2)(2/4)
        close(m.aupr_success.unwrap(), 0.5 / 3.0 + 0.25);
    }

    #[test]
    fn ties_count_half_and_ignore_input_order() {
        // one correct and one wrong tied at the top, one correct below: AUROC = (½ + 0)/2
        let a = DetectionMetrics::compute(&[1.0, 1.0, 0.5], &[true, false, true]);
        let b = DetectionMetrics::compute(&[1.0, 1.0, 0.5], &[false, true, true]);
        assert_eq!(a, b);
        close(a.auroc.unwrap(), 0.25);
        // E(k): ½, 1, 1 → risk ½, ½, ⅓
        close(a.aurc.unwrap(), (0.5 + 0.5 + 1.0 / 3.0) / 3.0);
        close(a.augrc.unwrap(), (0.5 + 1.0 + 1.0) / 9.0);
        // 95% of 2 correct needs both: everything accepted
        close(a.fpr95tpr.unwrap(), 1.0);
        // AP success: threshold 1.0 → P=½, R=½; threshold 0.5 → P=⅔, R=1
        close(a.aupr_success.unwrap(), 0.25 + 1.0 / 3.0);
    }

    #[test]
    fn fpr95_is_the_smallest_accepting_set() {
        // 20 correct at 1..=20, one wrong at 1.5: accepting 19 correct (score ≥ 2) leaves it out.
        let mut s: Vec<f64> = (1..=20).map(f64::from).collect();
        let mut c = vec![true; 20];
        s.push(1.5);
        c.push(false);
        close(DetectionMetrics::compute(&s, &c).fpr95tpr.unwrap(), 0.0);
        // wrong at 2.0 ties the 19th correct: the threshold accepts it.
        *s.last_mut().unwrap() = 2.0;
        close(DetectionMetrics::compute(&s, &c).fpr95tpr.unwrap(), 1.0);
    }

    #[test]
    fn constant_score_is_random_order() {
        let c = [true, false, true, true, false];
        let m = DetectionMetrics::compute(&[3.0; 5], &c);
        assert!(m.is_constant());
        close(m.auroc.unwrap(), 0.5);
        close(m.aurc.unwrap(), 0.4);
        close(m.aupr_success.unwrap(), 0.6);
        close(m.aupr_error.unwrap(), 0.4);
        close(m.fpr95tpr.unwrap(), 1.0);
        close(m.augrc.unwrap(), 0.4 * 6.0 / 10.0);
    }

    #[test]
    fn one_class_only() {
        let m = DetectionMetrics::compute(&[0.3, 0.2], &[true, true]);
        assert_eq!(
            (m.auroc, m.aupr_error, m.aupr_success, m.fpr95tpr),
            (None, None, None, None)
        );
        assert_eq!(
            (m.aurc, m.e_aurc, m.augrc),
            (Some(0.0), Some(0.0), Some(0.0))
        );
        let m = DetectionMetrics::compute(&[0.3, 0.2], &[false, false]);
        assert_eq!(m.auroc, None);
        close(m.aurc.unwrap(), 1.0);
        close(m.e_aurc.unwrap(), 0.0);
        close(m.augrc.unwrap(), 3.0 / 4.0);
        let m = DetectionMetrics::compute(&[], &[]);
        assert_eq!((m.n, m.aurc, m.augrc), (0, None, None));
    }

    #[test]
    fn oracle_aurc() {
        // 2 correct, 2 wrong: oracle risk 0, 0, 1/3, 1/2
        let m = DetectionMetrics::compute(&[0.1, 0.2, 0.3, 0.4], &[true, false, true, false]);
        let oracle = (1.0 / 3.0 + 0.5) / 4.0;
        close(m.e_aurc.unwrap(), m.aurc.unwrap() - oracle);
    }

    #[test]
    fn curves() {
        let g = TieGroups::new(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]);
        assert_eq!(
            g.roc_curve(),
            vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
        let rc = g.risk_coverage_curve(1000);
        assert_eq!(rc.len(), 4);
        close(rc[1].1, 0.25);
        close(rc[3].1, 0.5);
        assert_eq!(g.expected_errors(), vec![0.0, 0.5, 1.0, 2.0]);
        // the stride keeps the curve short and always ends at full coverage
        let many = TieGroups::new(&vec![1.0; 1000], &vec![true; 1000]);
        let rc = many.risk_coverage_curve(100);
        assert!(rc.len() <= 102 && rc.last().unwrap().0 == 1.0);
    }
}
