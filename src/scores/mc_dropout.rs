//! MC-Dropout: the head's dropout on, K passes, `p̄` the mean of the K softmaxes, score
//! `Σ_c p̄_c log(p̄_c + 1e-4)`. Deviation from the reference (which keeps only the last pass):
//! the mean of K, as the method defines it. Dropout sits only in the classifier heads of
//! these models, so only the head is re-run, on the cached head input.
//!
//! Each sample's K masks come from its own generator ([`crate::models::dropout`]), seeded by
//! `--seed` and the sample's identity ([`super::SampleId::seed`]): no global generator is
//! touched, so a sample scores the same alone, in any batch, on any stage or device, and
//! stages never wait for each other. Probabilities are float64: a confident p̄_top rounds in
//! float32 by more than the score's fourth digit.
use tch::{Kind, Tensor};

use crate::models::dropout::DropoutMasks;
use crate::models::Model;
use crate::Result;

const EPS: f64 = 1e-4;

/// `Σ_c p̄_c log(p̄_c + 1e-4)` for each row of `p_bar` `[B, N]`.
pub fn score_of_mean_probs(p_bar: &Tensor) -> Result<Vec<f64>> {
    let p_bar = p_bar.f_to_kind(Kind::Double)?;
    let s = p_bar
        .f_mul(&p_bar.f_add_scalar(EPS)?.f_log()?)?
        .f_sum_dim_intlist(&[1i64][..], false, None)?;
    Ok(Vec::<f64>::try_from(s)?)
}

/// One value per row of `head_input`, row i's masks drawn from the generator seeded by
/// `seeds[i]`. `logits` are the dropout-free logits of the same rows: a model without head
/// dropout gives K identical passes, computed once from them.
pub fn mc_dropout(
    model: &Model,
    head_input: &Tensor,
    logits: &Tensor,
    passes: usize,
    seeds: &[u64],
) -> Result<Vec<f64>> {
    if model.head_dropout().is_none() || passes == 0 {
        return score_of_mean_probs(&logits.f_softmax(1, Kind::Double)?);
    }
    let rows = head_input.size().first().copied().unwrap_or(0);
    if seeds.len() != rows as usize {
        return Err(crate::Error::Invalid(format!(
            "MC-Dropout: {} seed(s) for {rows} sample(s)",
            seeds.len()
        )));
    }
    let mut means = Vec::with_capacity(rows as usize);
    tch::no_grad(|| -> Result<()> {
        for (i, &seed) in seeds.iter().enumerate() {
            // The sample's K passes as K rows of one head call, all drawing from its stream.
            let x = head_input.f_narrow(0, i as i64, 1)?;
            let mut shape = x.size();
            shape[0] = passes as i64;
            let x = x.f_expand(shape.as_slice(), false)?.f_contiguous()?;
            let mut masks = DropoutMasks::new(&[seed], passes);
            let probs = model
                .head(&x, Some(&mut masks))?
                .f_softmax(1, Kind::Double)?;
            means.push(probs.f_mean_dim(&[0i64][..], true, None)?);
        }
        Ok(())
    })?;
    if means.is_empty() {
        return Ok(Vec::new());
    }
    score_of_mean_probs(&Tensor::f_cat(&means, 0)?)
}
