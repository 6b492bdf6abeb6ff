//! Predictions: top-k classes with probabilities, per clip and per video. A video is the
//! clip-averaged model (`z_video = mean_k z_k`, `h_video = mean_k h_k`, exact for a linear
//! head); torchvision's protocol (sum of clip softmaxes) is reported beside it so published
//! accuracies can be compared.
use std::ops::Range;

use tch::{Kind, Tensor};

use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranked {
    pub index: usize,
    pub prob: f64,
}

/// Top `k` classes of each row of `probs` `[B, N]`.
fn top_k_of_probs(probs: &Tensor, k: i64) -> Result<Vec<Vec<Ranked>>> {
    let k = k.min(probs.size()[1]);
    let (values, indices) = probs.f_topk(k, 1, true, true)?;
    let values = Vec::<f64>::try_from(values.f_to_kind(Kind::Double)?.f_flatten(0, -1)?)?;
    let indices = Vec::<i64>::try_from(indices.f_flatten(0, -1)?)?;
    Ok(values
        .chunks(k as usize)
        .zip(indices.chunks(k as usize))
        .map(|(v, i)| {
            v.iter()
                .zip(i)
                .map(|(&prob, &index)| Ranked {
                    index: index as usize,
                    prob,
                })
                .collect()
        })
        .collect())
}

/// Top `k` by softmax probability for each row of `logits` `[B, N]`.
pub fn top_k(logits: &Tensor, k: i64) -> Result<Vec<Vec<Ranked>>> {
    top_k_of_probs(&logits.f_softmax(1, Kind::Float)?, k)
}

/// The clip-averaged model's input of one video: the mean over the rows `clips` of a batch
/// (logits `[B, N]` → `z_video [1, N]`, features → `h_video`, head inputs likewise).
pub fn video_mean(t: &Tensor, clips: &Range<usize>) -> Result<Tensor> {
    Ok(t.f_narrow(0, clips.start as i64, clips.len() as i64)?
        .f_mean_dim(&[0i64][..], true, None)?)
}

/// Each row of `logits` `[B, N]` as `f32` values on the CPU (what result rows carry).
pub fn logit_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    let n = logits.size().get(1).copied().unwrap_or(0).max(1) as usize;
    let flat = logits
        .f_to_device(tch::Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_flatten(0, -1)?;
    let values = Vec::<f32>::try_from(flat)?;
    Ok(values.chunks(n).map(<[f32]>::to_vec).collect())
}

/// The softmax probability of class `index` under `logits`, in f64 with the largest logit
/// subtracted first (no exponential overflows); `None` when `index` is not a class or a logit
/// is not finite.
pub fn probability(logits: &[f64], index: usize) -> Option<f64> {
    if index >= logits.len() || logits.iter().any(|z| !z.is_finite()) {
        return None;
    }
    let m = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let sum: f64 = logits.iter().map(|&z| (z - m).exp()).sum();
    Some((logits[index] - m).exp() / sum)
}

/// torchvision's video protocol: classes ranked by the sum of clip softmaxes; `prob` is that
/// sum divided by the number of clips (the mean clip probability).
pub fn top_k_softmax_sum(logits: &Tensor, k: i64) -> Result<Vec<Ranked>> {
    let mean = logits
        .f_softmax(1, Kind::Float)?
        .f_mean_dim(&[0i64][..], true, None)?;
    Ok(top_k_of_probs(&mean, k)?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusions_differ_where_they_should() {
        // Clip 1 is confident in class 0, clip 2 mildly prefers class 1.
        let z = Tensor::from_slice(&[10.0f32, 0.0, 0.0, 0.0, 0.5, 0.0]).view([2, 3]);
        let h = Tensor::from_slice(&[1.0f32, 3.0]).view([2, 1]);
        let (zv, hv) = (
            video_mean(&z, &(0..2)).unwrap(),
            video_mean(&h, &(0..2)).unwrap(),
        );
        assert_eq!(
            Vec::<f32>::try_from(zv.flatten(0, -1)).unwrap(),
            vec![5.0, 0.25, 0.0]
        );
        assert_eq!(Vec::<f32>::try_from(hv.flatten(0, -1)).unwrap(), vec![2.0]);
        let top = top_k(&zv, 2).unwrap();
        assert_eq!(top[0][0].index, 0);
        let summed = top_k_softmax_sum(&z, 3).unwrap();
        assert_eq!(summed[0].index, 0);
        let total: f64 = summed.iter().map(|r| r.prob).sum();
        assert!((total - 1.0).abs() < 1e-6);
        let rows = logit_rows(&z).unwrap();
        assert_eq!(rows, vec![vec![10.0, 0.0, 0.0], vec![0.0, 0.5, 0.0]]);
    }

    #[test]
    fn probability_is_the_softmax_entry() {
        let z = [1.0, 2.0, 3.0];
        let e: f64 = z.iter().map(|v: &f64| v.exp()).sum();
        for (i, v) in z.iter().enumerate() {
            let p = probability(&z, i).unwrap();
            assert!((p - v.exp() / e).abs() < 1e-15, "{i}: {p}");
        }
        // Large logits do not overflow.
        assert!((probability(&[1000.0, 1000.0], 0).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(probability(&z, 3), None);
        assert_eq!(probability(&[f64::NAN, 1.0], 1), None);
    }
}
