//! MC-Dropout: the head's dropout on, K passes, `p̄` the mean of the K softmaxes, score
//! `Σ_c p̄_c log(p̄_c + 1e-4)`. Deviation from the reference (which keeps only the last pass):
//! the mean of K, as the method defines it. Dropout sits only in the classifier heads of
//! these models, so only the head is re-run, on the cached head input. Each sample's passes
//! start from the same seed, so a sample scores the same alone or in a batch.
use tch::{Kind, Tensor};

use crate::models::Model;
use crate::Result;

const EPS: f64 = 1e-4;

/// `Σ_c p̄_c log(p̄_c + 1e-4)` for each row of `p_bar` `[B, N]`.
pub fn score_of_mean_probs(p_bar: &Tensor) -> Result<Vec<f64>> {
    let s = (p_bar * (p_bar + EPS).f_log()?).f_sum_dim_intlist(&[1i64][..], false, Kind::Double)?;
    Ok(Vec::<f64>::try_from(s)?)
}

/// One value per row of `head_input`. `logits` are the dropout-free logits of the same rows:
/// a model without head dropout gives K identical passes, computed once from them.
pub fn mc_dropout(
    model: &Model,
    head_input: &Tensor,
    logits: &Tensor,
    passes: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    if model.head_dropout().is_none() || passes == 0 {
        return score_of_mean_probs(&logits.f_softmax(1, Kind::Float)?);
    }
    let rows = head_input.size()[0];
    let mut means = Vec::with_capacity(rows as usize);
    tch::no_grad(|| -> Result<()> {
        for i in 0..rows {
            let x = head_input.f_narrow(0, i, 1)?;
            tch::manual_seed(seed as i64);
            let probs = (0..passes)
                .map(|_| {
                    model
                        .head(&x, true)?
                        .f_softmax(1, Kind::Float)
                        .map_err(Into::into)
                })
                .collect::<Result<Vec<_>>>()?;
            means.push(Tensor::f_stack(&probs, 0)?.f_mean_dim(&[0i64][..], false, None)?);
        }
        Ok(())
    })?;
    score_of_mean_probs(&Tensor::f_cat(&means, 0)?)
}
