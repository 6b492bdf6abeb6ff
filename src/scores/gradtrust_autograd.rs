//! GradTrust from real gradients, as the paper's code computes it: for each sample alone,
//! `L = mean_c (z_c − 1/N)²`, `G = ∂L/∂W` by autograd, `e_c = Var_d(G[c,d]²)` (unbiased),
//! score `max_c e_c / mean_c e_c`. The loss depends on the classifier weight only through
//! `z = W h + b`, so the backward runs through the head on the forward's features; the
//! closed form in `closed_form` must agree with this.
use tch::{Kind, Tensor};

use crate::models::Classifier;
use crate::Result;

/// One value per sample; `None` where `mean_c e_c = 0` (the reference's 0/0).
pub fn gradtrust_autograd(classifier: &Classifier, features: &Tensor) -> Result<Vec<Option<f64>>> {
    // Callers run forwards under no_grad; this path needs the tape.
    tch::with_grad(|| per_sample(classifier, features))
}

fn per_sample(classifier: &Classifier, features: &Tensor) -> Result<Vec<Option<f64>>> {
    let n = classifier.weight.size().first().copied().unwrap_or(0) as f64;
    let rows = features.size().first().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(rows as usize);
    for i in 0..rows {
        let h = features.f_narrow(0, i, 1)?.f_detach()?;
        let weight = classifier
            .weight
            .f_detach_copy()?
            .f_set_requires_grad(true)?;
        let bias = classifier.bias.as_ref().map(Tensor::f_detach).transpose()?;
        let z = h.f_linear(&weight, bias.as_ref())?;
        let grads = Tensor::f_run_backward(&[loss(&z, n)?], &[&weight], false, false)?;
        out.push(from_gradient(&grads[0])?);
    }
    Ok(out)
}

/// The counterfactual loss `mean_c (z_c − 1/N)²` of one sample's logits `[1, N]`.
pub fn loss(z: &Tensor, n: f64) -> Result<Tensor> {
    Ok(z.f_sub_scalar(1.0 / n)?.f_square()?.f_mean(Kind::Float)?)
}

/// GradTrust from the classifier gradient `G` `[N, D]`: `max_c e_c / mean_c e_c` with
/// `e_c = Var_d(G[c,d]²)`; `None` where `mean_c e_c = 0` (the reference's 0/0).
pub fn from_gradient(grad: &Tensor) -> Result<Option<f64>> {
    let e = grad.f_square()?.f_var_dim(&[1i64][..], true, false)?;
    let mean = e.f_mean(Kind::Double)?.f_double_value(&[])?;
    let max = e.f_max()?.f_to_kind(Kind::Double)?.f_double_value(&[])?;
    Ok((mean > 0.0 && mean.is_finite()).then(|| max / mean))
}

/// GradNorm's loss `mean_c p_c (log p_c − 1/N)` (KL divergence of the softmax from the
/// uniform input, as the reference's `KLDivLoss`) of one sample's logits `[1, N]`. In
/// float64: the top class's `∂L/∂z = p (log p − Σ p log p) / N` cancels for a confident
/// prediction, and float32 loses every digit of it once `1 − p_top` nears 1e-7 (the
/// gradient flows back into the float32 graph as float32).
pub fn grad_norm_loss(z: &Tensor, n: f64) -> Result<Tensor> {
    let log_p = z.f_to_kind(Kind::Double)?.f_log_softmax(1, Kind::Double)?;
    Ok(log_p
        .f_exp()?
        .f_mul(&log_p.f_sub_scalar(1.0 / n)?)?
        .f_mean(Kind::Double)?)
}

/// GradNorm from the classifier gradient: `−‖G‖`.
pub fn grad_norm_of(grad: &Tensor) -> Result<Option<f64>> {
    Ok(Some(
        -grad
            .f_norm()?
            .f_to_kind(Kind::Double)?
            .f_double_value(&[])?,
    ))
}

/// `∂loss(z)/∂z` of one sample's logits `z` `[1, N]` (no graph needed): the upstream
/// gradient through which a video's loss reaches its clips' logits, chunk by chunk.
pub fn logit_gradient(z: &Tensor, loss: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    tch::with_grad(|| {
        let z = z.f_detach()?.f_set_requires_grad(true)?;
        let mut g = Tensor::f_run_backward(&[loss(&z)?], &[&z], false, false)?;
        match g.pop() {
            Some(g) => Ok(g),
            None => Ok(z.f_zeros_like()?),
        }
    })
}
