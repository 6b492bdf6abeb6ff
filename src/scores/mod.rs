//! Trust scores (shared/spec/scores.md), every one oriented so that higher means more trust.
//!
//! The fast set comes from one forward: closed-form functions of the logits `z` and the
//! penultimate features `h` in [`closed_form`], and MC-Dropout on the cached head input in
//! [`mc_dropout`]. ODIN and Purview need backward passes ([`odin`], [`purview`]).
//! [`gradtrust_autograd`] computes GradTrust from real gradients, the reference the closed
//! form is tested against. [`plan`] decides which forwards and backwards a requested set
//! needs on a batch (pure, unit-tested); [`engine`] executes the plan. A sample's scores are
//! a typed map ([`SampleScores`]: score name → value, or missing with the reason).
pub mod closed_form;
pub mod engine;
pub mod gradtrust_autograd;
pub mod mc_dropout;
pub mod odin;
pub mod plan;
pub mod purview;

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScoreName {
    GradTrust,
    Softmax,
    Entropy,
    Margin,
    LogLikelihood,
    Energy,
    NegBrier,
    GradNorm,
    Doctor,
    McDropout,
    Odin,
    PurviewInitial,
    PurviewFinal,
}

impl ScoreName {
    /// How many of [`ScoreName::ALL`], from the start, `closed_form` computes.
    pub const CLOSED_FORM: usize = 9;

    /// Every score, in output order.
    /// The first nine are the closed forms of one forward's logits and features
    /// ([`ScoreName::CLOSED_FORM`]).
    pub const ALL: [ScoreName; 13] = [
        ScoreName::GradTrust,
        ScoreName::Softmax,
        ScoreName::Entropy,
        ScoreName::Margin,
        ScoreName::LogLikelihood,
        ScoreName::Energy,
        ScoreName::NegBrier,
        ScoreName::GradNorm,
        ScoreName::Doctor,
        ScoreName::McDropout,
        ScoreName::Odin,
        ScoreName::PurviewInitial,
        ScoreName::PurviewFinal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScoreName::GradTrust => "gradtrust",
            ScoreName::Softmax => "softmax",
            ScoreName::Entropy => "entropy",
            ScoreName::Margin => "margin",
            ScoreName::LogLikelihood => "log_likelihood",
            ScoreName::Energy => "energy",
            ScoreName::NegBrier => "neg_brier",
            ScoreName::GradNorm => "grad_norm",
            ScoreName::Doctor => "doctor",
            ScoreName::McDropout => "mc_dropout",
            ScoreName::Odin => "odin",
            ScoreName::PurviewInitial => "purview_initial",
            ScoreName::PurviewFinal => "purview_final",
        }
    }

    /// One line for help text and reports. `log_likelihood` says what it really is.
    pub fn description(self) -> &'static str {
        match self {
            ScoreName::GradTrust => "max/mean over classes of the variance of squared counterfactual gradients of the classifier (the paper's score, in [1, N])",
            ScoreName::Softmax => "maximum softmax probability",
            ScoreName::Entropy => "negative entropy of the softmax, sum p log p",
            ScoreName::Margin => "difference of the top two softmax probabilities",
            ScoreName::LogLikelihood => "the top logit (the reference applies NLL to raw logits, so its 'log-likelihood' is z of the predicted class; the misclassification-detection literature calls it MaxLogit)",
            ScoreName::Energy => "logsumexp of the logits (negative free energy)",
            ScoreName::NegBrier => "minus the mean squared difference between the softmax and the one-hot prediction",
            ScoreName::GradNorm => "minus the Frobenius norm of the classifier gradient of KL(uniform || softmax)",
            ScoreName::Doctor => "DOCTOR (Granese et al., NeurIPS 2021) as -D_alpha = -(1 - g)/g, g = sum p^2",
            ScoreName::McDropout => "sum p log(p + 1e-4) of the mean softmax over K passes with the head's dropout on",
            ScoreName::Odin => "max softmax at temperature T after an input step of size epsilon against the predicted class's loss gradient",
            ScoreName::PurviewInitial => "minus the mean squared gradient norm of the first half of the parameters (BCE against all ones)",
            ScoreName::PurviewFinal => "minus the mean squared gradient norm of the second half of the parameters (BCE against all ones)",
        }
    }
}

impl fmt::Display for ScoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScoreName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ScoreName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown score {s:?}; known: {}",
                    ScoreName::ALL.map(|n| n.as_str()).join(", ")
                ))
            })
    }
}

impl ScoreName {
    /// Computed from one forward (MC-Dropout re-runs only the head).
    pub fn is_fast(self) -> bool {
        !matches!(
            self,
            ScoreName::Odin | ScoreName::PurviewInitial | ScoreName::PurviewFinal
        )
    }
}

/// A requested set of scores, kept in output order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreSet(Vec<ScoreName>);

impl ScoreSet {
    /// Everything one forward gives (the default for batch runs).
    pub fn fast() -> Self {
        ScoreSet(ScoreName::ALL.into_iter().filter(|n| n.is_fast()).collect())
    }

    /// Every score (the default for `score`).
    pub fn all() -> Self {
        ScoreSet(ScoreName::ALL.to_vec())
    }

    pub fn contains(&self, name: ScoreName) -> bool {
        self.0.contains(&name)
    }

    pub fn names(&self) -> &[ScoreName] {
        &self.0
    }
}

impl FromStr for ScoreSet {
    type Err = Error;

    /// `fast`, `all`, or a comma list of score names.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fast" => return Ok(ScoreSet::fast()),
            "all" => return Ok(ScoreSet::all()),
            _ => {}
        }
        let mut wanted = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            wanted.push(part.parse::<ScoreName>()?);
        }
        if wanted.is_empty() {
            return Err(Error::Invalid(
                "no scores requested: use fast, all, or a comma list".into(),
            ));
        }
        Ok(ScoreSet(
            ScoreName::ALL
                .into_iter()
                .filter(|n| wanted.contains(n))
                .collect(),
        ))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradTrustMethod {
    /// `max (z−1/N)⁴ / mean (z−1/N)⁴`: no backward pass.
    ClosedForm,
    /// Real gradients of the classifier weight, one backward through the head per sample.
    Autograd,
}

/// Settings of the scores that have any, and how the engine splits a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreOptions {
    pub odin_temperature: f64,
    pub odin_epsilon: f64,
    pub mc_passes: usize,
    /// With each sample's identity, the seed of its MC-Dropout masks ([`SampleId`]).
    pub seed: u64,
    pub gradtrust: GradTrustMethod,
    /// Most clips per forward pass without a graph: a larger batch is split (peak memory
    /// follows this, not the number of clips of a video). No score depends on it.
    pub forward_chunk: usize,
    /// Most clips per forward pass that keeps its graph for backward passes (ODIN, Purview,
    /// real-gradient GradTrust and GradNorm): a video's gradients are accumulated over
    /// chunks of at most this many clips, exactly (the video's logits are the clip mean).
    /// No score depends on it.
    pub backward_chunk: usize,
}

impl ScoreOptions {
    /// Default [`ScoreOptions::forward_chunk`].
    pub const FORWARD_CHUNK: usize = 20;
    /// Default [`ScoreOptions::backward_chunk`]: one clip's graph, the least memory; with
    /// Purview (per-clip parameter gradients, so a graph per clip anyway) it is also the
    /// fewest forwards.
    pub const BACKWARD_CHUNK: usize = 1;
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            odin_temperature: 100.0,
            odin_epsilon: 0.0014,
            mc_passes: 10,
            seed: 0,
            gradtrust: GradTrustMethod::ClosedForm,
            forward_chunk: Self::FORWARD_CHUNK,
            backward_chunk: Self::BACKWARD_CHUNK,
        }
    }
}

/// Who a sample is, for the scores that draw random numbers (MC-Dropout's masks): its
/// source's name (a video's file name) and its place in that source (clip k, or the
/// clip-averaged video). With `--seed` it seeds the sample's own generator, so a sample
/// gets the same draws alone, in any batch, on any stage or device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SampleId(String);

impl SampleId {
    /// Clip (or timeline window) `index` of `source`.
    pub fn clip(source: &str, index: usize) -> Self {
        SampleId(format!("{source}#clip{index}"))
    }

    /// The clip-averaged model of `source`.
    pub fn video(source: &str) -> Self {
        SampleId(format!("{source}#video"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The seed of this sample's generator under the run's `seed`: FNV-1a of the identity,
    /// mixed with the seed by SplitMix64 (stable across platforms and versions, unlike
    /// std's hasher).
    pub fn seed(&self, seed: u64) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.0.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mix = crate::models::dropout::splitmix64;
        mix(seed ^ mix(h))
    }
}

/// The identities of a batch's clips and of its videos (one per clip range).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleIds {
    pub clips: Vec<SampleId>,
    pub videos: Vec<SampleId>,
}

impl SampleIds {
    /// Identities by position: a clip of a video is clip k of that video (its position in
    /// the video's range), a clip outside every range is clip k of the batch; sources are
    /// unnamed. A video's samples then draw the same masks whatever else is in the batch.
    pub fn positional(rows: usize, videos: &[std::ops::Range<usize>]) -> Self {
        let mut clips: Vec<SampleId> = (0..rows).map(|i| SampleId::clip("", i)).collect();
        for r in videos {
            for i in r.clone().filter(|&i| i < rows) {
                clips[i] = SampleId::clip("", i - r.start);
            }
        }
        SampleIds {
            clips,
            videos: videos.iter().map(|_| SampleId::video("")).collect(),
        }
    }

    /// The clips of each named video `(name, clips)` in order, and the videos.
    pub fn named<'a>(videos: impl IntoIterator<Item = (&'a str, usize)>) -> Self {
        let mut ids = SampleIds {
            clips: Vec::new(),
            videos: Vec::new(),
        };
        for (name, clips) in videos {
            ids.clips
                .extend((0..clips).map(|k| SampleId::clip(name, k)));
            ids.videos.push(SampleId::video(name));
        }
        ids
    }
}

/// One score of one sample: its value, or why it is missing.
#[derive(Clone, Debug, PartialEq)]
pub enum Score {
    Value(f64),
    Missing(String),
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    score: Score,
    /// How the value was obtained, where that differs from the default path (real
    /// gradients, a module's own features).
    notes: Vec<String>,
}

/// The scores of one sample (clip or video): score name → value or missing with a reason,
/// plus notes on how a value was obtained. Iteration follows [`ScoreName::ALL`] (output
/// order). A score that cannot be computed is missing with its reason, never NaN passed off
/// as a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleScores {
    entries: std::collections::BTreeMap<ScoreName, Entry>,
}

impl SampleScores {
    /// A score's value; `None` when missing or not computed.
    pub fn get(&self, name: ScoreName) -> Option<f64> {
        match self.entries.get(&name).map(|e| &e.score) {
            Some(Score::Value(v)) => Some(*v),
            _ => None,
        }
    }

    /// A score's outcome, if it was computed or declared missing.
    pub fn score(&self, name: ScoreName) -> Option<&Score> {
        self.entries.get(&name).map(|e| &e.score)
    }

    /// Whether the sample has an entry (value or missing) for `name`.
    pub fn contains(&self, name: ScoreName) -> bool {
        self.entries.contains_key(&name)
    }

    /// Sets a score (replacing any earlier value and its notes): `Some(v)` with v finite is
    /// the value; a non-finite `v` is missing with a note saying so; `None` is missing
    /// because `why_missing`.
    pub fn set(&mut self, name: ScoreName, value: Option<f64>, why_missing: &str) {
        let score = match value {
            Some(v) if v.is_finite() => Score::Value(v),
            Some(v) => Score::Missing(format!("not finite ({v})")),
            None => Score::Missing(why_missing.to_string()),
        };
        self.entries.insert(
            name,
            Entry {
                score,
                notes: Vec::new(),
            },
        );
    }

    /// The same as [`SampleScores::set`] (scores are a map: a second push replaces).
    pub fn push(&mut self, name: ScoreName, value: Option<f64>, why_missing: &str) {
        self.set(name, value, why_missing);
    }

    /// Adds a note on how `name`'s value was obtained (kept until the score is set again).
    pub fn note(&mut self, name: ScoreName, text: &str) {
        if let Some(e) = self.entries.get_mut(&name) {
            if !e.notes.iter().any(|n| n == text) {
                e.notes.push(text.to_string());
            }
        }
    }

    /// Keeps only the scores of `set`.
    pub fn retain(&mut self, set: &ScoreSet) {
        self.entries.retain(|n, _| set.contains(*n));
    }

    /// Every score in output order, `None` where missing.
    pub fn values(&self) -> Vec<(ScoreName, Option<f64>)> {
        self.entries.keys().map(|&n| (n, self.get(n))).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The notes as `name: text` lines, in output order: each missing score's reason, then
    /// the notes on how values were obtained.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, e) in &self.entries {
            if let Score::Missing(why) = &e.score {
                out.push(format!("{name}: {why}"));
            }
            out.extend(e.notes.iter().map(|n| format!("{name}: {n}")));
        }
        out
    }

    /// Scores from `(name, value)` pairs (a missing value without a reason).
    pub fn from_values(values: impl IntoIterator<Item = (ScoreName, Option<f64>)>) -> Self {
        let mut s = SampleScores::default();
        for (name, v) in values {
            s.set(name, v, "not computed");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_a_map_with_reasons() {
        let mut s = SampleScores::default();
        s.set(ScoreName::Odin, Some(0.5), "");
        s.set(ScoreName::GradTrust, None, "needs features");
        s.set(ScoreName::Softmax, Some(f64::NAN), "");
        s.note(ScoreName::GradTrust, "from real gradients");
        assert_eq!(s.get(ScoreName::Odin), Some(0.5));
        assert_eq!(s.get(ScoreName::GradTrust), None);
        assert_eq!(
            s.values(),
            vec![
                (ScoreName::GradTrust, None),
                (ScoreName::Softmax, None),
                (ScoreName::Odin, Some(0.5))
            ]
        );
        assert_eq!(
            s.notes(),
            vec![
                "gradtrust: needs features",
                "gradtrust: from real gradients",
                "softmax: not finite (NaN)"
            ]
        );
        // Setting again replaces the value and its notes.
        s.set(ScoreName::GradTrust, Some(2.0), "");
        assert_eq!(s.get(ScoreName::GradTrust), Some(2.0));
        assert_eq!(s.notes(), vec!["softmax: not finite (NaN)"]);
        s.retain(&"odin".parse().unwrap());
        assert_eq!(s.values(), vec![(ScoreName::Odin, Some(0.5))]);
    }

    #[test]
    fn sample_seeds_depend_on_identity_and_seed_only() {
        let a = SampleId::clip("v.mp4", 0);
        assert_eq!(a.seed(0), SampleId::clip("v.mp4", 0).seed(0));
        assert_ne!(a.seed(0), SampleId::clip("v.mp4", 1).seed(0));
        assert_ne!(a.seed(0), SampleId::video("v.mp4").seed(0));
        assert_ne!(a.seed(0), a.seed(1));
        let ids = SampleIds::positional(5, &[0..2, 2..5]);
        assert_eq!(ids.clips[3], SampleId::clip("", 1));
        assert_eq!(ids.videos.len(), 2);
        let named = SampleIds::named([("a.mp4", 2), ("b.mp4", 1)]);
        assert_eq!(named.clips[2], SampleId::clip("b.mp4", 0));
    }
}
