//! Purview: `L = mean_c softplus(−z_c)` (BCE with logits against all ones), `s_i = Σ(∂L/∂θ_i)²`
//! for each parameter tensor in torchvision's `named_parameters()` order (P tensors,
//! `j = P − 1`); initial = `−mean(s[0 : ⌊j/2⌋])`, final = `−mean(s[⌈j/2⌉ : P])`.
//! Deviation from the reference: gradients are computed clean (the reference forgets to zero
//! the ones GradNorm left behind).
use tch::{Kind, Tensor};

use crate::Result;

/// The loss of one sample's logits `[1, N]`.
pub fn loss(logits: &Tensor) -> Result<Tensor> {
    Ok(logits.f_neg()?.f_softplus()?.f_mean(Kind::Float)?)
}

/// `(initial, final)` from the parameter gradients in order; `None` where a half is empty.
pub fn from_grads(grads: &[Tensor]) -> Result<(Option<f64>, Option<f64>)> {
    let sums: Vec<Tensor> = grads
        .iter()
        .map(|g| g.f_square()?.f_sum(Kind::Double))
        .collect::<Result<_, _>>()?;
    if sums.is_empty() {
        return Ok((None, None));
    }
    let s = Vec::<f64>::try_from(Tensor::f_stack(&sums, 0)?)?;
    Ok(split_means(&s))
}

fn split_means(s: &[f64]) -> (Option<f64>, Option<f64>) {
    let p = s.len();
    if p == 0 {
        return (None, None);
    }
    let j = p - 1;
    let neg_mean = |xs: &[f64]| (!xs.is_empty()).then(|| -xs.iter().sum::<f64>() / xs.len() as f64);
    (neg_mean(&s[..j / 2]), neg_mean(&s[j.div_ceil(2)..]))
}

#[cfg(test)]
mod tests {
    use super::split_means;

    #[test]
    fn halves_follow_the_reference_slicing() {
        // P = 5, j = 4: initial s[0:2], final s[2:5].
        let s = [1.0, 3.0, 5.0, 7.0, 9.0];
        assert_eq!(split_means(&s), (Some(-2.0), Some(-7.0)));
        // P = 6, j = 5: initial s[0:2], final s[3:6]; s[2] is in neither.
        let s = [1.0, 3.0, 100.0, 5.0, 7.0, 9.0];
        assert_eq!(split_means(&s), (Some(-2.0), Some(-7.0)));
        // P = 1: j = 0, the first half is empty.
        assert_eq!(split_means(&[4.0]), (None, Some(-4.0)));
    }
}
