//! Trust scores (shared/spec/scores.md), every one oriented so that higher means more trust.
//!
//! The fast set comes from one forward: closed-form functions of the logits `z` and the
//! penultimate features `h` in [`closed_form`], and MC-Dropout on the cached head input in
//! [`mc_dropout`]. ODIN and Purview need backward passes ([`odin`], [`purview`]).
//! [`gradtrust_autograd`] computes GradTrust from real gradients, the reference the closed
//! form is tested against. [`engine`] plans which forwards and backwards a requested set
//! needs and shares them.
pub mod closed_form;
pub mod engine;
pub mod gradtrust_autograd;
pub mod mc_dropout;
pub mod odin;
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

/// Settings of the scores that have any.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreOptions {
    pub odin_temperature: f64,
    pub odin_epsilon: f64,
    pub mc_passes: usize,
    pub seed: u64,
    pub gradtrust: GradTrustMethod,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            odin_temperature: 100.0,
            odin_epsilon: 0.0014,
            mc_passes: 10,
            seed: 0,
            gradtrust: GradTrustMethod::ClosedForm,
        }
    }
}

/// The scores of one sample (clip or video). A score that cannot be computed is `None`, with
/// a note saying why (never NaN passed off as a value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleScores {
    pub values: Vec<(ScoreName, Option<f64>)>,
    pub notes: Vec<String>,
}

impl SampleScores {
    pub fn get(&self, name: ScoreName) -> Option<f64> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v)
    }

    /// Replaces a score's value (or appends it), keeping notes consistent.
    pub fn set(&mut self, name: ScoreName, value: Option<f64>, why_missing: &str) {
        let prefix = format!("{name}:");
        self.notes.retain(|n| !n.starts_with(&prefix));
        self.values.retain(|(n, _)| *n != name);
        self.push(name, value, why_missing);
    }

    /// Keeps only the scores of `set`, in its order.
    pub fn retain(&mut self, set: &ScoreSet) {
        self.values.retain(|(n, _)| set.contains(*n));
        self.values.sort_by_key(|(n, _)| *n);
        self.notes.retain(|note| {
            set.names()
                .iter()
                .any(|n| note.starts_with(&format!("{n}:")))
        });
    }

    /// Records a value, turning a non-finite one into a missing score with a note.
    pub fn push(&mut self, name: ScoreName, value: Option<f64>, why_missing: &str) {
        match value {
            Some(v) if v.is_finite() => self.values.push((name, Some(v))),
            Some(v) => {
                self.values.push((name, None));
                self.notes.push(format!("{name}: not finite ({v})"));
            }
            None => {
                self.values.push((name, None));
                self.notes.push(format!("{name}: {why_missing}"));
            }
        }
    }
}
