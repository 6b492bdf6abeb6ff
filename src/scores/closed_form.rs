//! The fast set: every score one forward gives, as batched tensor arithmetic on logits `z`
//! `[B, N]` and features `h` `[B, D]`, per sample exactly as in a batch of one.
//!
//! GradTrust needs no backward pass: for a linear classifier and a batch of one, the MSE
//! loss against 1/N has `∂L/∂W[c,:] = (2/N)(z_c − 1/N)·h`, so `Var_d(G[c,d]²)` is
//! `(2/N)⁴ (z_c − 1/N)⁴ Var_d(h_d²)` and the ratio max/mean reduces to
//! `max (z_c − 1/N)⁴ / mean (z_c − 1/N)⁴` whenever `Var_d(h_d²) > 0`. GradNorm's classifier
//! gradient is an outer product too: `‖∂L/∂W‖ = ‖∂L/∂z‖·‖h‖`, with
//! `∂L/∂z_j = (1/N) p_j (log p_j − Σ_c p_c log p_c)`.
//!
//! DOCTOR (Granese et al., NeurIPS 2021): `g = Σ_c p_c²`, `D_α = (1 − g)/g`, reported as
//! `−D_α = 1 − 1/g` so that higher means more trust (in `(1 − N, 0]`).
use tch::{Kind, Tensor};

use super::{SampleScores, ScoreName};
use crate::{Error, Result};

pub const DEGENERATE: &str = "features h have Var(h²) = 0 (e.g. all zero): every counterfactual gradient row has zero variance and GradTrust is 0/0";

/// Why GradTrust and GradNorm are missing from [`logit_scores`].
pub const NEEDS_FEATURES: &str = "needs the classifier's input features h or real gradients";

/// Fast-set scores for each sample of a batch.
pub fn fast_scores(logits: &Tensor, features: &Tensor) -> Result<Vec<SampleScores>> {
    scores(logits, Some(features))
}

/// The fast-set scores that need only the logits, for a network that gives no features:
/// GradTrust and GradNorm are missing (the engine takes them from real gradients).
pub fn logit_scores(logits: &Tensor) -> Result<Vec<SampleScores>> {
    scores(logits, None)
}

fn scores(logits: &Tensor, features: Option<&Tensor>) -> Result<Vec<SampleScores>> {
    let (b, n) = logits
        .size2()
        .map_err(|_| Error::Invalid(format!("logits must be [B, N], got {:?}", logits.size())))?;
    // Without features, a stand-in of ones keeps one code path; what depends on h is then
    // reported missing, not computed from the stand-in.
    let have_features = features.is_some();
    let ones;
    let features = match features {
        Some(f) => f,
        None => {
            ones = logits.f_ones_like()?;
            &ones
        }
    };
    let (bf, _) = features.size2().map_err(|_| {
        Error::Invalid(format!(
            "features must be [B, D], got {:?}",
            features.size()
        ))
    })?;
    if bf != b {
        return Err(Error::Invalid(format!(
            "logits have {b} rows but features {bf}"
        )));
    }
    let z = logits.f_to_kind(Kind::Float)?;
    let h = features.f_to_kind(Kind::Float)?;
    let n_f = n as f64;
    let dim1 = &[1i64][..];

    // Probabilities in float64: for a confident prediction 1 − p_top is ~1e-4 or less, and
    // float32's rounding of p (~6e-8) would leave the scores built on it (neg_brier, DOCTOR,
    // MC-Dropout's mean) with three or four correct digits.
    let log_p = z.f_to_kind(Kind::Double)?.f_log_softmax(1, Kind::Double)?;
    let p = log_p.f_exp()?;

    let d4 = z.f_sub_scalar(1.0 / n_f)?.f_pow_tensor_scalar(4)?;
    let d4_max = d4.f_amax(dim1, false)?;
    let d4_mean = d4.f_mean_dim(dim1, false, None)?;
    let gradtrust = d4_max.f_div(&d4_mean)?;
    // Unbiased variance over D of h², as torch.var does on each gradient row.
    let h_sq_var = h.f_square()?.f_var_dim(dim1, true, false)?;

    let softmax = p.f_amax(dim1, false)?;
    let entropy = p.f_mul(&log_p)?.f_sum_dim_intlist(dim1, false, None)?;
    let (top2, _) = p.f_topk(2.min(n), 1, true, true)?;
    let margin = if n >= 2 {
        top2.f_select(1, 0)?.f_sub(&top2.f_select(1, 1)?)?
    } else {
        top2.f_select(1, 0)?
    };
    let log_likelihood = z.f_amax(dim1, false)?;
    let energy = z.f_logsumexp(dim1, false)?;
    let predicted = z.f_argmax(1, true)?;
    let onehot = p.f_zeros_like()?.f_scatter_value(1, &predicted, 1.0)?;
    let neg_brier = p
        .f_sub(&onehot)?
        .f_square()?
        .f_mean_dim(dim1, false, None)?
        .f_neg()?;
    let plogp = p.f_mul(&log_p)?.f_sum_dim_intlist(dim1, true, None)?;
    let dl_dz = p.f_mul(&log_p.f_sub(&plogp)?)?.f_div_scalar(n_f)?;
    let grad_norm = dl_dz
        .f_norm_scalaropt_dim(2, dim1, false)?
        .f_mul(
            &h.f_norm_scalaropt_dim(2, dim1, false)?
                .f_to_kind(Kind::Double)?,
        )?
        .f_neg()?;
    // −D_α = −(1 − g)/g = 1 − 1/g.
    let g = p.f_square()?.f_sum_dim_intlist(dim1, false, None)?;
    let doctor = g.f_reciprocal()?.f_neg()?.f_add_scalar(1.0)?;
    let to_double = |t: Tensor| t.f_to_kind(Kind::Double);

    let columns = Tensor::f_stack(
        &[
            to_double(gradtrust)?,
            to_double(softmax)?,
            to_double(entropy)?,
            to_double(margin)?,
            to_double(log_likelihood)?,
            to_double(energy)?,
            neg_brier,
            grad_norm,
            doctor,
            to_double(h_sq_var)?,
        ],
        1,
    )?
    .f_to_device(tch::Device::Cpu)?;
    let values: Vec<f64> = Vec::<f64>::try_from(columns.f_flatten(0, -1)?)?;

    // One row per sample: the closed-form scores in ScoreName::ALL order, then Var(h²).
    let width = ScoreName::CLOSED_FORM + 1;
    Ok(values
        .chunks(width)
        .map(|row| {
            let mut s = SampleScores::default();
            let degenerate = row[ScoreName::CLOSED_FORM] <= 0.0;
            for (name, &v) in ScoreName::ALL[..ScoreName::CLOSED_FORM].iter().zip(row) {
                let needs_h = matches!(name, ScoreName::GradTrust | ScoreName::GradNorm);
                if needs_h && !have_features {
                    s.push(*name, None, NEEDS_FEATURES);
                } else if *name == ScoreName::GradTrust && degenerate {
                    s.push(*name, None, DEGENERATE);
                } else {
                    s.push(*name, Some(v), "");
                }
            }
            s
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[&[f32]]) -> Tensor {
        let n = rows[0].len() as i64;
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, n])
    }

    #[test]
    fn hand_computed_values() {
        // N = 3, z = [2, 0, 0]: p = [e²/(e²+2), 1/(e²+2), 1/(e²+2)].
        let z = t(&[&[2.0, 0.0, 0.0]]);
        let h = t(&[&[1.0, 2.0]]);
        let s = &fast_scores(&z, &h).unwrap()[0];
        let e2 = 2f64.exp();
        let p0 = e2 / (e2 + 2.0);
        let p1 = 1.0 / (e2 + 2.0);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
        assert!(close(s.get(ScoreName::Softmax).unwrap(), p0));
        assert!(close(s.get(ScoreName::Margin).unwrap(), p0 - p1));
        assert!(close(s.get(ScoreName::LogLikelihood).unwrap(), 2.0));
        assert!(close(s.get(ScoreName::Energy).unwrap(), (e2 + 2.0).ln()));
        let ent = p0 * p0.ln() + 2.0 * p1 * p1.ln();
        assert!(close(s.get(ScoreName::Entropy).unwrap(), ent));
        let brier = ((p0 - 1.0).powi(2) + 2.0 * p1 * p1) / 3.0;
        assert!(close(s.get(ScoreName::NegBrier).unwrap(), -brier));
        let d = [2.0 - 1.0 / 3.0, -1.0 / 3.0, -1.0 / 3.0f64];
        let d4: Vec<f64> = d.iter().map(|x| x.powi(4)).collect();
        let gt = d4[0] / (d4.iter().sum::<f64>() / 3.0);
        assert!(close(s.get(ScoreName::GradTrust).unwrap(), gt));
        let g: Vec<f64> = [p0, p1, p1]
            .iter()
            .map(|&pj| pj * (pj.ln() - ent) / 3.0)
            .collect();
        let gn = g.iter().map(|x| x * x).sum::<f64>().sqrt() * 5f64.sqrt();
        assert!(close(s.get(ScoreName::GradNorm).unwrap(), -gn));
        let g = p0 * p0 + 2.0 * p1 * p1;
        assert!(close(s.get(ScoreName::Doctor).unwrap(), -(1.0 - g) / g));
        assert!(s.notes().is_empty());
    }

    #[test]
    fn zero_features_give_missing_gradtrust_with_note() {
        let z = t(&[&[1.0, 0.5, -1.0], &[0.1, 0.2, 0.3]]);
        let h = t(&[&[0.0, 0.0, 0.0, 0.0], &[1.0, -1.0, 1.0, -1.0]]);
        let scores = fast_scores(&z, &h).unwrap();
        assert_eq!(scores[0].get(ScoreName::GradTrust), None);
        assert!(scores[0].notes()[0].starts_with("gradtrust:"));
        // ±1 features: h² is constant, so Var(h²) = 0 as well.
        assert_eq!(scores[1].get(ScoreName::GradTrust), None);
        assert!(scores[0].get(ScoreName::Softmax).is_some());
    }

    #[test]
    fn batch_equals_single() {
        let z = Tensor::randn([4, 400], (Kind::Float, tch::Device::Cpu));
        let h = Tensor::randn([4, 512], (Kind::Float, tch::Device::Cpu));
        let batch = fast_scores(&z, &h).unwrap();
        for i in 0..4 {
            let one = fast_scores(&z.narrow(0, i, 1), &h.narrow(0, i, 1)).unwrap();
            for (name, v) in batch[i as usize].values() {
                let w = one[0].get(name).unwrap();
                let v = v.unwrap();
                assert!(
                    (v - w).abs() <= 1e-6 * w.abs().max(1.0),
                    "{name}: {v} vs {w}"
                );
            }
        }
    }
}
