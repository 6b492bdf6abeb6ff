//! The score planner: runs the fewest forwards and backwards a requested set needs and
//! shares them.
//!
//! - Fast set only: one no-grad forward; the closed forms and MC-Dropout's head passes.
//! - ODIN: one forward with the input on the tape; one backward of the summed per-clip
//!   losses gives every clip's own input gradient (clips are independent in inference mode),
//!   one more of the summed per-video losses gives the videos'; one no-grad forward of all
//!   perturbed inputs together.
//! - Purview: per-sample parameter gradients, so one forward and backward per clip (the
//!   shared forward's graph is reused when there is a single clip) and per video of several
//!   clips.
//!
//! A video is the clip-averaged model (`z = mean_k z_k`, `h = mean_k h_k`), and every score
//! of a video is computed on that model.
use std::ops::Range;

use tch::Tensor;

use super::{
    closed_form, gradtrust_autograd, mc_dropout, odin, purview, GradTrustMethod, SampleScores,
    ScoreName, ScoreOptions, ScoreSet,
};
use crate::models::{Forward, Model};
use crate::prediction::video_mean;
use crate::{Error, Result};

/// What a scored batch gives: the forward's tensors (detached) and the scores per clip and
/// per video.
#[derive(Debug)]
pub struct Scored {
    pub logits: Tensor,
    pub features: Tensor,
    pub clips: Vec<SampleScores>,
    /// The clip-averaged logits `[1, N]` of each video, with its scores.
    pub videos: Vec<(Tensor, SampleScores)>,
}

const NO_HALF: &str = "the model has too few parameter tensors to split in two halves";

/// Scores clips `xs` `[B, 3, T, H, W]` (on the model's device) and the videos made of the
/// clip ranges in `videos` (disjoint; may be empty).
pub fn score_batch(
    model: &Model,
    xs: &Tensor,
    videos: &[Range<usize>],
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<Scored> {
    let rows = xs.size().first().copied().unwrap_or(0) as usize;
    if videos.iter().any(|r| r.is_empty() || r.end > rows) {
        return Err(Error::Invalid(format!(
            "video clip ranges {videos:?} do not fit a batch of {rows} clips"
        )));
    }
    let want_odin = set.contains(ScoreName::Odin);
    let want_purview =
        set.contains(ScoreName::PurviewInitial) || set.contains(ScoreName::PurviewFinal);

    let mut odin_clip = None;
    let mut odin_video = None;
    let mut purview_clip: Vec<(Option<f64>, Option<f64>)> = Vec::new();
    // One video made of the whole batch (the `score` case) reuses the shared forward's graph.
    let video_spans_batch = videos.len() == 1 && videos[0] == (0..rows) && rows > 1;
    let mut purview_video_spanning = None;
    let forward = if want_odin || want_purview {
        tch::with_grad(|| -> Result<Forward> {
            let x = xs.f_detach()?.set_requires_grad(want_odin);
            let fwd = model.forward(&x)?;
            let params: Vec<Tensor> = if want_purview {
                model.parameters().into_iter().map(|(_, t)| t).collect()
            } else {
                Vec::new()
            };
            // Backward passes on this forward's graph; each but the last keeps it.
            let mut pending = usize::from(want_odin)
                + usize::from(want_odin && !videos.is_empty())
                + usize::from(want_purview && rows == 1)
                + usize::from(want_purview && video_spans_batch);
            let mut keep = || {
                pending -= 1;
                pending > 0
            };
            if want_odin {
                let t = opts.odin_temperature;
                let predicted = fwd.logits.f_argmax(1, false)?;
                let loss = odin::loss(&fwd.logits, &predicted, t)?;
                let grad = Tensor::f_run_backward(&[loss], &[&x], keep(), false)?;
                odin_clip = Some(odin::perturb(xs, &grad[0], opts.odin_epsilon)?);
                if !videos.is_empty() {
                    let z = videos
                        .iter()
                        .map(|r| video_mean(&fwd.logits, r))
                        .collect::<Result<Vec<_>>>()?;
                    let z = Tensor::f_cat(&z, 0)?;
                    let loss = odin::loss(&z, &z.f_argmax(1, false)?, t)?;
                    let grad = Tensor::f_run_backward(&[loss], &[&x], keep(), false)?;
                    odin_video = Some(odin::perturb(xs, &grad[0], opts.odin_epsilon)?);
                }
            }
            if want_purview && rows == 1 {
                let loss = purview::loss(&fwd.logits)?;
                purview_clip.push(purview_of(&loss, &params, keep())?);
            }
            if want_purview && video_spans_batch {
                let z = video_mean(&fwd.logits, &videos[0])?;
                purview_video_spanning = Some(purview_of(&purview::loss(&z)?, &params, keep())?);
            }
            if want_purview && rows > 1 {
                for i in 0..rows as i64 {
                    let one = model.forward(&xs.f_narrow(0, i, 1)?)?;
                    let loss = purview::loss(&one.logits)?;
                    purview_clip.push(purview_of(&loss, &params, false)?);
                }
            }
            Ok(Forward {
                logits: fwd.logits.f_detach()?,
                features: fwd.features.f_detach()?,
                head_input: fwd.head_input.f_detach()?,
            })
        })?
    } else {
        tch::no_grad(|| model.forward(xs))?
    };

    // ODIN's second forward: every perturbed input at once.
    let mut odin_clip_scores = Vec::new();
    let mut odin_video_logits = None;
    if let Some(x_clip) = &odin_clip {
        let both = match &odin_video {
            Some(x_video) => Tensor::f_cat(&[x_clip, x_video], 0)?,
            None => x_clip.shallow_clone(),
        };
        let z = tch::no_grad(|| model.forward(&both))?.logits;
        odin_clip_scores = odin::score(&z.f_narrow(0, 0, rows as i64)?, opts.odin_temperature)?;
        if odin_video.is_some() {
            odin_video_logits = Some(z.f_narrow(0, rows as i64, rows as i64)?);
        }
    }

    // Clip rows.
    let mut clips = sample_scores(model, &forward, set, opts)?;
    for (i, s) in clips.iter_mut().enumerate() {
        if want_odin {
            s.set(ScoreName::Odin, odin_clip_scores.get(i).copied(), "");
        }
        if let Some(&(initial, last)) = purview_clip.get(i) {
            s.set(ScoreName::PurviewInitial, initial, NO_HALF);
            s.set(ScoreName::PurviewFinal, last, NO_HALF);
        }
        s.retain(set);
    }

    // Video rows: the clip-averaged model.
    let mut out_videos = Vec::with_capacity(videos.len());
    for r in videos {
        let video_forward = Forward {
            logits: video_mean(&forward.logits, r)?,
            features: video_mean(&forward.features, r)?,
            head_input: video_mean(&forward.head_input, r)?,
        };
        let mut s = sample_scores(model, &video_forward, set, opts)?.remove(0);
        if let Some(z) = &odin_video_logits {
            let v = odin::score(&video_mean(z, r)?, opts.odin_temperature)?;
            s.set(ScoreName::Odin, v.first().copied(), "");
        }
        if want_purview {
            let (initial, last) = if r.len() == 1 {
                purview_clip[r.start]
            } else if let Some(spanning) = purview_video_spanning {
                spanning
            } else {
                tch::with_grad(|| -> Result<_> {
                    let params: Vec<Tensor> =
                        model.parameters().into_iter().map(|(_, t)| t).collect();
                    let clips = xs.f_narrow(0, r.start as i64, r.len() as i64)?;
                    let z = model.forward(&clips)?.logits;
                    let z = z.f_mean_dim(&[0i64][..], true, None)?;
                    purview_of(&purview::loss(&z)?, &params, false)
                })?
            };
            s.set(ScoreName::PurviewInitial, initial, NO_HALF);
            s.set(ScoreName::PurviewFinal, last, NO_HALF);
        }
        s.retain(set);
        out_videos.push((video_forward.logits, s));
    }

    Ok(Scored {
        logits: forward.logits,
        features: forward.features,
        clips,
        videos: out_videos,
    })
}

fn purview_of(
    loss: &Tensor,
    params: &[Tensor],
    keep_graph: bool,
) -> Result<(Option<f64>, Option<f64>)> {
    let refs: Vec<&Tensor> = params.iter().collect();
    let grads = Tensor::f_run_backward(&[loss], &refs, keep_graph, false)?;
    purview::from_grads(&grads)
}

/// The scores one forward gives, for each row of `forward`.
fn sample_scores(
    model: &Model,
    forward: &Forward,
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<Vec<SampleScores>> {
    let mut scores = closed_form::fast_scores(&forward.logits, &forward.features)?;
    if set.contains(ScoreName::GradTrust) && opts.gradtrust == GradTrustMethod::Autograd {
        let values =
            gradtrust_autograd::gradtrust_autograd(&model.classifier(), &forward.features)?;
        for (s, v) in scores.iter_mut().zip(values) {
            s.set(ScoreName::GradTrust, v, closed_form::DEGENERATE);
        }
    }
    if set.contains(ScoreName::McDropout) {
        let values = mc_dropout::mc_dropout(
            model,
            &forward.head_input,
            &forward.logits,
            opts.mc_passes,
            opts.seed,
        )?;
        for (s, v) in scores.iter_mut().zip(values) {
            s.set(ScoreName::McDropout, Some(v), "");
        }
    }
    Ok(scores)
}
