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
    let n = classifier.weight.size()[0] as f64;
    let rows = features.size()[0];
    let mut out = Vec::with_capacity(rows as usize);
    for i in 0..rows {
        let h = features.f_narrow(0, i, 1)?.f_detach()?;
        let weight = classifier.weight.f_detach_copy()?.set_requires_grad(true);
        let bias = classifier.bias.as_ref().map(Tensor::detach);
        let z = h.f_linear(&weight, bias.as_ref())?;
        let loss = (z - 1.0 / n).f_square()?.f_mean(Kind::Float)?;
        let grads = Tensor::f_run_backward(&[loss], &[&weight], false, false)?;
        let e = grads[0].f_square()?.f_var_dim(&[1i64][..], true, false)?;
        let mean = e.f_mean(Kind::Double)?.double_value(&[]);
        let max = e.f_max()?.f_to_kind(Kind::Double)?.double_value(&[]);
        out.push((mean > 0.0 && mean.is_finite()).then(|| max / mean));
    }
    Ok(out)
}
