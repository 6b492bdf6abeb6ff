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
//! - A network that gives no features (a TorchScript module returning logits only):
//!   GradTrust and GradNorm from real gradients of the classifier weight, one backward per
//!   clip and per video on the shared forward's graph, each stopping at the last layer.
//!
//! A video is the clip-averaged model (`z = mean_k z_k`, `h = mean_k h_k`), and every score
//! of a video is computed on that model.
use std::ops::Range;

use tch::Tensor;

use super::{
    closed_form, gradtrust_autograd, mc_dropout, odin, purview, GradTrustMethod, SampleScores,
    ScoreName, ScoreOptions, ScoreSet,
};
use crate::models::{Model, Outputs};
use crate::prediction::video_mean;
use crate::{Error, Result};

/// What a scored batch gives: the forward's tensors (detached) and the scores per clip and
/// per video.
#[derive(Debug)]
pub struct Scored {
    pub logits: Tensor,
    /// `None` for a network that gives no features.
    pub features: Option<Tensor>,
    pub clips: Vec<SampleScores>,
    /// The clip-averaged logits `[1, N]` of each video, with its scores.
    pub videos: Vec<(Tensor, SampleScores)>,
}

const NO_HALF: &str = "the model has too few parameter tensors to split in two halves";
const NO_HEAD: &str = "needs the classifier head's input, which a TorchScript module does not expose (its dropout layers cannot be switched alone)";
const FROM_GRADIENTS: &str =
    "from real gradients of the classifier weight (the module returns logits only)";
const CLOSED_ON_MODULE: &str = "closed form on the (logits, features) the module returns";

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
    // Without features, GradTrust and GradNorm need the forward's graph too.
    let logits_only = !model.gives_features();
    let want_gt = set.contains(ScoreName::GradTrust) && logits_only;
    let want_gn = set.contains(ScoreName::GradNorm) && logits_only;
    let mut grads_clip = Vec::new();
    let mut grads_video = Vec::new();
    let forward = if want_odin || want_purview || want_gt || want_gn {
        tch::with_grad(|| -> Result<Outputs> {
            let x = xs.f_detach()?.set_requires_grad(want_odin);
            let fwd = model.outputs(&x)?;
            if want_gt || want_gn {
                let weight = model.classifier().weight;
                let clips = (0..rows as i64)
                    .map(|i| fwd.logits.f_narrow(0, i, 1))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                grads_clip = gradtrust_autograd::from_graph(&clips, &weight, want_gt, want_gn)?;
                let videos = videos
                    .iter()
                    .map(|r| video_mean(&fwd.logits, r))
                    .collect::<Result<Vec<_>>>()?;
                grads_video = gradtrust_autograd::from_graph(&videos, &weight, want_gt, want_gn)?;
            }
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
                    let one = model.outputs(&xs.f_narrow(0, i, 1)?)?;
                    let loss = purview::loss(&one.logits)?;
                    purview_clip.push(purview_of(&loss, &params, false)?);
                }
            }
            Ok(Outputs {
                logits: fwd.logits.f_detach()?,
                features: fwd.features.as_ref().map(Tensor::f_detach).transpose()?,
                head_input: fwd.head_input.as_ref().map(Tensor::f_detach).transpose()?,
            })
        })?
    } else {
        tch::no_grad(|| model.outputs(xs))?
    };

    // ODIN's second forward: every perturbed input at once.
    let mut odin_clip_scores = Vec::new();
    let mut odin_video_logits = None;
    if let Some(x_clip) = &odin_clip {
        let both = match &odin_video {
            Some(x_video) => Tensor::f_cat(&[x_clip, x_video], 0)?,
            None => x_clip.shallow_clone(),
        };
        let z = tch::no_grad(|| model.outputs(&both))?.logits;
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
        if let Some(&(gt, gn)) = grads_clip.get(i) {
            set_from_gradients(s, want_gt, want_gn, gt, gn);
        }
        if let Some(&(initial, last)) = purview_clip.get(i) {
            s.set(ScoreName::PurviewInitial, initial, NO_HALF);
            s.set(ScoreName::PurviewFinal, last, NO_HALF);
        }
        s.retain(set);
    }

    // Video rows: the clip-averaged model.
    let mut out_videos = Vec::with_capacity(videos.len());
    for (v, r) in videos.iter().enumerate() {
        let mean = |t: &Option<Tensor>| t.as_ref().map(|t| video_mean(t, r)).transpose();
        let video_forward = Outputs {
            logits: video_mean(&forward.logits, r)?,
            features: mean(&forward.features)?,
            head_input: mean(&forward.head_input)?,
        };
        let mut s = sample_scores(model, &video_forward, set, opts)?.remove(0);
        if let Some(&(gt, gn)) = grads_video.get(v) {
            set_from_gradients(&mut s, want_gt, want_gn, gt, gn);
        }
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
                    let z = model.outputs(&clips)?.logits;
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

fn set_from_gradients(
    s: &mut SampleScores,
    want_gt: bool,
    want_gn: bool,
    gt: Option<f64>,
    gn: Option<f64>,
) {
    if want_gt {
        s.set(ScoreName::GradTrust, gt, closed_form::DEGENERATE);
        s.notes
            .push(format!("{}: {FROM_GRADIENTS}", ScoreName::GradTrust));
    }
    if want_gn {
        s.set(ScoreName::GradNorm, gn, "");
        s.notes
            .push(format!("{}: {FROM_GRADIENTS}", ScoreName::GradNorm));
    }
}

/// The scores one forward gives, for each row of `forward`.
fn sample_scores(
    model: &Model,
    forward: &Outputs,
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<Vec<SampleScores>> {
    let mut scores = match &forward.features {
        Some(features) => closed_form::fast_scores(&forward.logits, features)?,
        None => closed_form::logit_scores(&forward.logits)?,
    };
    // A scripted module's own features: say which path the scores took.
    if forward.features.is_some() && model.var_store().is_none() {
        for s in &mut scores {
            for name in [ScoreName::GradTrust, ScoreName::GradNorm] {
                s.notes.push(format!("{name}: {CLOSED_ON_MODULE}"));
            }
        }
    }
    if let (true, GradTrustMethod::Autograd, Some(features)) = (
        set.contains(ScoreName::GradTrust),
        opts.gradtrust,
        &forward.features,
    ) {
        let values = gradtrust_autograd::gradtrust_autograd(&model.classifier(), features)?;
        for (s, v) in scores.iter_mut().zip(values) {
            s.set(ScoreName::GradTrust, v, closed_form::DEGENERATE);
        }
    }
    if set.contains(ScoreName::McDropout) {
        match &forward.head_input {
            Some(head_input) => {
                let values = mc_dropout::mc_dropout(
                    model,
                    head_input,
                    &forward.logits,
                    opts.mc_passes,
                    opts.seed,
                )?;
                for (s, v) in scores.iter_mut().zip(values) {
                    s.set(ScoreName::McDropout, Some(v), "");
                }
            }
            None => {
                for s in &mut scores {
                    s.set(ScoreName::McDropout, None, NO_HEAD);
                }
            }
        }
    }
    Ok(scores)
}
