//! ODIN (Liang et al., ICLR 2018) as the reference computes it, on the normalized input:
//! `x' = x − ε·s` with `s = +1` where `∂CE(z(x)/T, ŷ)/∂x ≥ 0` and −1 elsewhere, score
//! `max softmax(z(x')/T)`.
use tch::{Kind, Reduction, Tensor};

use crate::Result;

/// Sum over rows of `CE(z_i/T, targets_i)`. Rows are independent in inference mode, so the
/// gradient of the sum with respect to row i's input is row i's own gradient: one backward
/// serves a whole batch.
pub fn loss(logits: &Tensor, targets: &Tensor, temperature: f64) -> Result<Tensor> {
    Ok(logits
        .f_div_scalar(temperature)?
        .f_cross_entropy_loss::<Tensor>(targets, None, Reduction::Sum, -100, 0.0)?)
}

/// The perturbed input `x − ε·s`.
pub fn perturb(xs: &Tensor, grad: &Tensor, epsilon: f64) -> Result<Tensor> {
    let sign = grad
        .f_ge(0.0)?
        .f_to_kind(xs.f_kind()?)?
        .f_mul_scalar(2.0)?
        .f_sub_scalar(1.0)?;
    Ok(xs.f_detach()?.f_sub(&sign.f_mul_scalar(epsilon)?)?)
}

/// `max softmax(z/T)` per row of `logits` `[B, N]`.
pub fn score(logits: &Tensor, temperature: f64) -> Result<Vec<f64>> {
    let p = logits
        .f_div_scalar(temperature)?
        .f_softmax(1, Kind::Float)?;
    let top = p
        .f_amax(&[1i64][..], false)?
        .f_to_kind(Kind::Double)?
        .f_to_device(tch::Device::Cpu)?;
    Ok(Vec::<f64>::try_from(top)?)
}
