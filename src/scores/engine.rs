//! The score executor: runs the passes of a [`plan::Plan`] on a batch of clips and assembles
//! every sample's scores.
//!
//! A video is the clip-averaged model (`z = mean_k z_k`, `h = mean_k h_k`), and every score
//! of a video is computed on that model; a video of a single clip is that clip's model, and
//! its scores are the clip's. Its gradient-based scores accumulate over the plan's chunks
//! (see [`plan`]), so peak memory follows the chunk size, not the video's length.
//!
//! Every libtorch call here and in the score modules is the fallible `f_` form: a failure
//! (a CUDA out-of-memory, logits that are not finite) is an error for the batch, which the
//! pipeline retries video by video, never a panic in a stage thread.
use std::collections::BTreeMap;
use std::ops::Range;

use tch::{Kind, Tensor};

use super::plan::{self, GraphPass, McDropout, ModelFacts, Plan, Target};
use super::{
    closed_form, gradtrust_autograd, mc_dropout, odin, purview, SampleIds, SampleScores, ScoreName,
    ScoreOptions, ScoreSet,
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

/// What the planner needs to know of `model`.
pub fn facts(model: &Model) -> ModelFacts {
    ModelFacts {
        features: model.gives_features(),
        // Every network that gives features gives its head input, except a TorchScript
        // module, whose head cannot be run alone.
        head_input: model.var_store().is_some(),
        head_dropout: model.head_dropout().is_some(),
    }
}

/// Scores clips `xs` `[B, 3, T, H, W]` (on the model's device) and the videos made of the
/// clip ranges in `videos` (disjoint; may be empty). Samples are identified by position
/// ([`SampleIds::positional`]); see [`score_samples`] to name them.
pub fn score_batch(
    model: &Model,
    xs: &Tensor,
    videos: &[Range<usize>],
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<Scored> {
    let rows = xs.size().first().copied().unwrap_or(0) as usize;
    score_samples(
        model,
        xs,
        videos,
        &SampleIds::positional(rows, videos),
        set,
        opts,
    )
}

/// [`score_batch`] with each clip's and video's identity (MC-Dropout's masks follow it).
pub fn score_samples(
    model: &Model,
    xs: &Tensor,
    videos: &[Range<usize>],
    ids: &SampleIds,
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<Scored> {
    score_samples_observed(model, xs, videos, ids, set, opts, &|_| {})
}

/// A step of the plan, told to an observer as it starts: a caller that shows progress
/// (the `score` command on a terminal) learns where a long `--scores all` is; the engine
/// itself prints nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A forward without a graph: chunk `chunk` of `of` (from 1).
    Forward { chunk: usize, of: usize },
    /// A forward that keeps its graph for the backwards after it: pass `pass` of `of`.
    GraphForward { pass: usize, of: usize },
    /// A backward through the network, `n` of the plan's `of`, for `what`.
    Backward { what: Gradient, n: usize, of: usize },
    /// ODIN's forward of the inputs perturbed after graph pass `pass` of `of`.
    PerturbedForward { pass: usize, of: usize },
    /// The scores from the outputs: closed forms, MC-Dropout's head passes, GradTrust's
    /// backwards through the head alone.
    Assembling,
}

/// Which score a backward's gradient serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gradient {
    Odin,
    Purview,
    GradTrust,
    GradNorm,
}

impl std::fmt::Display for Gradient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gradient::Odin => "ODIN",
            Gradient::Purview => "Purview",
            Gradient::GradTrust => "GradTrust",
            Gradient::GradNorm => "GradNorm",
        })
    }
}

impl Target {
    fn gradient(self) -> Gradient {
        match self {
            Target::OdinClips | Target::OdinVideo => Gradient::Odin,
            Target::PurviewClip(_) | Target::PurviewVideo => Gradient::Purview,
            Target::GradTrustClip(_) | Target::GradTrustVideo => Gradient::GradTrust,
            Target::GradNormClip(_) | Target::GradNormVideo => Gradient::GradNorm,
        }
    }
}

/// [`score_samples`], telling `observe` each [`Step`] as it starts.
pub fn score_samples_observed(
    model: &Model,
    xs: &Tensor,
    videos: &[Range<usize>],
    ids: &SampleIds,
    set: &ScoreSet,
    opts: &ScoreOptions,
    observe: &dyn Fn(Step),
) -> Result<Scored> {
    let rows = xs.size().first().copied().unwrap_or(0) as usize;
    let mut sorted: Vec<&Range<usize>> = videos.iter().collect();
    sorted.sort_by_key(|r| r.start);
    let overlap = sorted.windows(2).any(|w| w[1].start < w[0].end);
    if videos.iter().any(|r| r.is_empty() || r.end > rows) || overlap {
        return Err(Error::Invalid(format!(
            "video clip ranges {videos:?} do not fit a batch of {rows} clips"
        )));
    }
    if ids.clips.len() != rows || ids.videos.len() != videos.len() {
        return Err(Error::Invalid(format!(
            "{} clip and {} video identities for {rows} clips and {} videos",
            ids.clips.len(),
            ids.videos.len(),
            videos.len()
        )));
    }
    let plan = plan::plan(set, opts, facts(model), rows, videos);
    Executor {
        model,
        xs,
        videos,
        opts,
        plan: &plan,
        rows,
        observe,
        backwards_done: 0,
        outputs: Vec::new(),
        all_logits: None,
        upstream: BTreeMap::new(),
        odin_clip: vec![None; rows],
        odin_video_rows: BTreeMap::new(),
        purview_clip: vec![None; rows],
        grads_clip: vec![(None, None); rows],
        video_acc: None,
        purview_video: BTreeMap::new(),
        grads_video: BTreeMap::new(),
    }
    .run(set, ids)
}

/// The upstream gradients `∂L/∂z_v / K` of one video's losses, `[1, N]` each.
#[derive(Default)]
struct Upstream {
    odin: Option<Tensor>,
    purview: Option<Tensor>,
    gradtrust: Option<Tensor>,
    grad_norm: Option<Tensor>,
}

/// A video's gradients accumulated over its chunks.
struct VideoAcc {
    video: usize,
    params: Option<Vec<Tensor>>,
    gradtrust: Option<Tensor>,
    grad_norm: Option<Tensor>,
}

type Halves = (Option<f64>, Option<f64>);

/// Real-gradient GradTrust and GradNorm of a sample, each `Some` where the plan took it
/// (its value `None` where it is 0/0).
type Grads = (Option<Option<f64>>, Option<Option<f64>>);

struct Executor<'a> {
    model: &'a Model,
    xs: &'a Tensor,
    videos: &'a [Range<usize>],
    opts: &'a ScoreOptions,
    plan: &'a Plan,
    rows: usize,
    observe: &'a dyn Fn(Step),
    /// Backwards run so far (for [`Step::Backward`]).
    backwards_done: usize,
    /// The outputs' chunks (first clip, detached outputs), from either kind of forward.
    outputs: Vec<(usize, Outputs)>,
    /// All clips' logits once the forwards without a graph ran.
    all_logits: Option<Tensor>,
    upstream: BTreeMap<usize, Upstream>,
    odin_clip: Vec<Option<f64>>,
    /// Each video's clips' logits under the video's ODIN perturbation.
    odin_video_rows: BTreeMap<usize, Vec<Tensor>>,
    purview_clip: Vec<Option<Halves>>,
    /// Real-gradient GradTrust and GradNorm per clip.
    grads_clip: Vec<Grads>,
    video_acc: Option<VideoAcc>,
    purview_video: BTreeMap<usize, Halves>,
    grads_video: BTreeMap<usize, Grads>,
}

impl Executor<'_> {
    fn run(mut self, set: &ScoreSet, ids: &SampleIds) -> Result<Scored> {
        // Every chunk's logits are checked before the batch fails, so that the error names
        // all the clips whose logits are not finite.
        let mut bad = NonFinite::default();
        let of = self.plan.forwards.len();
        for (i, chunk) in self.plan.forwards.iter().enumerate() {
            (self.observe)(Step::Forward { chunk: i + 1, of });
            let x = self
                .xs
                .f_narrow(0, chunk.start as i64, chunk.len() as i64)?;
            let out = tch::no_grad(|| self.model.outputs(&x))?;
            bad.add(&out.logits, chunk.start)?;
            self.outputs.push((chunk.start, out));
        }
        bad.check(self.rows)?;
        if !self.plan.forwards.is_empty() {
            self.all_logits = self.gathered(|o| Some(&o.logits))?;
        }
        for (i, pass) in self.plan.graphs.iter().enumerate() {
            self.graph_pass(pass, i + 1)?;
        }
        self.finish_video()?;
        (self.observe)(Step::Assembling);
        let forward = Outputs {
            logits: self
                .gathered(|o| Some(&o.logits))?
                .ok_or_else(|| Error::Invalid("no clips to score".into()))?,
            features: self.gathered(|o| o.features.as_ref())?,
            head_input: self.gathered(|o| o.head_input.as_ref())?,
        };
        self.assemble(forward, set, ids)
    }

    /// One output tensor over all clips in order (`None` where the network gives none).
    fn gathered(&self, pick: impl Fn(&Outputs) -> Option<&Tensor>) -> Result<Option<Tensor>> {
        let mut parts: Vec<(usize, &Tensor)> = Vec::new();
        for (start, o) in &self.outputs {
            match pick(o) {
                Some(t) => parts.push((*start, t)),
                None => return Ok(None),
            }
        }
        parts.sort_by_key(|(s, _)| *s);
        match parts.as_slice() {
            [] => Ok(None),
            [(_, one)] => Ok(Some(one.shallow_clone())),
            _ => {
                let ts: Vec<&Tensor> = parts.iter().map(|(_, t)| *t).collect();
                Ok(Some(Tensor::f_cat(&ts, 0)?))
            }
        }
    }

    /// The outputs' logits of clips `r` (detached).
    fn logits_of(&self, r: &Range<usize>, own: Option<&Tensor>) -> Result<Tensor> {
        match (&self.all_logits, own) {
            (Some(all), _) => Ok(all.f_narrow(0, r.start as i64, r.len() as i64)?),
            (None, Some(own)) => Ok(own.shallow_clone()),
            (None, None) => Err(Error::Invalid(
                "score plan: logits needed before any forward".into(),
            )),
        }
    }

    /// Upstream gradients of video `v` from its outputs' logits (`own`: the pass's, when the
    /// pass holds the whole video).
    fn upstream_of(&mut self, v: usize, pass: &GraphPass, own: Option<&Tensor>) -> Result<()> {
        if self.upstream.contains_key(&v) {
            return Ok(());
        }
        let r = &self.videos[v];
        let z = match &self.all_logits {
            Some(all) => video_mean(all, r)?,
            None => {
                // The pass holds the whole video (the plan splits no video then).
                let own = own.ok_or_else(|| {
                    Error::Invalid("score plan: a video's logits are not known".into())
                })?;
                let local = (r.start - pass.clips.start)..(r.end - pass.clips.start);
                video_mean(own, &local)?
            }
        };
        let k = r.len() as f64;
        let n = z.size().get(1).copied().unwrap_or(1) as f64;
        let [odin_up, purview_up, gt_up, gn_up] = self.plan.video_upstream;
        let t = self.opts.odin_temperature;
        let scaled = |g: Tensor| -> Result<Tensor> { Ok(g.f_div_scalar(k)?) };
        let mut up = Upstream::default();
        if odin_up {
            let y = z.f_argmax(1, false)?;
            up.odin = Some(scaled(gradtrust_autograd::logit_gradient(&z, |z| {
                odin::loss(z, &y, t)
            })?)?);
        }
        if purview_up {
            up.purview = Some(scaled(gradtrust_autograd::logit_gradient(
                &z,
                purview::loss,
            )?)?);
        }
        if gt_up {
            up.gradtrust = Some(scaled(gradtrust_autograd::logit_gradient(&z, |z| {
                gradtrust_autograd::loss(z, n)
            })?)?);
        }
        if gn_up {
            up.grad_norm = Some(scaled(gradtrust_autograd::logit_gradient(&z, |z| {
                gradtrust_autograd::grad_norm_loss(z, n)
            })?)?);
        }
        self.upstream.insert(v, up);
        Ok(())
    }

    /// Ends the accumulation of the current video's gradients.
    fn finish_video(&mut self) -> Result<()> {
        let Some(acc) = self.video_acc.take() else {
            return Ok(());
        };
        if let Some(params) = &acc.params {
            self.purview_video
                .insert(acc.video, purview::from_grads(params)?);
        }
        let gt = acc
            .gradtrust
            .as_ref()
            .map(gradtrust_autograd::from_gradient)
            .transpose()?;
        let gn = acc
            .grad_norm
            .as_ref()
            .map(gradtrust_autograd::grad_norm_of)
            .transpose()?;
        if gt.is_some() || gn.is_some() {
            self.grads_video.insert(acc.video, (gt, gn));
        }
        Ok(())
    }

    fn accumulator(&mut self, v: usize) -> Result<&mut VideoAcc> {
        if self.video_acc.as_ref().is_some_and(|a| a.video != v) {
            self.finish_video()?;
        }
        Ok(self.video_acc.get_or_insert(VideoAcc {
            video: v,
            params: None,
            gradtrust: None,
            grad_norm: None,
        }))
    }

    /// Graph pass `number` (from 1) of the plan's.
    fn graph_pass(&mut self, pass: &GraphPass, number: usize) -> Result<()> {
        let passes = self.plan.graphs.len();
        let backwards_of = self.plan.backward_count();
        (self.observe)(Step::GraphForward {
            pass: number,
            of: passes,
        });
        if let Some(v) = pass.video {
            if self.video_acc.as_ref().is_some_and(|a| a.video != v) {
                self.finish_video()?;
            }
        }
        let (start, len) = (pass.clips.start, pass.clips.len());
        let model = self.model;
        let needs_params = pass
            .backwards
            .iter()
            .any(|b| matches!(b.target, Target::PurviewClip(_) | Target::PurviewVideo));
        let params: Vec<Tensor> = if needs_params {
            model.parameters().into_iter().map(|(_, t)| t).collect()
        } else {
            Vec::new()
        };
        let weight = model.classifier().weight;
        let n = weight.size().first().copied().unwrap_or(1) as f64;
        let xs = self.xs.f_narrow(0, start as i64, len as i64)?;
        let mut clip_grad = None;
        let mut video_grad = None;
        tch::with_grad(|| -> Result<()> {
            let x = xs.f_detach()?;
            let x = if pass.input_grad {
                x.f_set_requires_grad(true)?
            } else {
                x
            };
            let fwd = model.outputs(&x)?;
            let own = if pass.outputs {
                check_logits(&fwd.logits, start, self.rows)?;
                let detached = Outputs {
                    logits: fwd.logits.f_detach()?,
                    features: fwd.features.as_ref().map(Tensor::f_detach).transpose()?,
                    head_input: fwd.head_input.as_ref().map(Tensor::f_detach).transpose()?,
                };
                let own = detached.logits.shallow_clone();
                self.outputs.push((start, detached));
                Some(own)
            } else {
                None
            };
            if let Some(v) = pass.video {
                if self.videos[v].len() > 1 {
                    self.upstream_of(v, pass, own.as_ref())?;
                }
            }
            let z = &fwd.logits;
            let clip = |k: usize| z.f_narrow(0, (k - start) as i64, 1);
            let surrogate = |up: Option<&Tensor>| -> Result<Tensor> {
                let up = up.ok_or_else(|| {
                    Error::Invalid("score plan: a video's upstream gradient is missing".into())
                })?;
                Ok(z.f_mul(up)?.f_sum(Kind::Float)?)
            };
            for b in &pass.backwards {
                self.backwards_done += 1;
                (self.observe)(Step::Backward {
                    what: b.target.gradient(),
                    n: self.backwards_done,
                    of: backwards_of,
                });
                let keep = b.keeps_graph;
                let up = pass.video.and_then(|v| self.upstream.get(&v));
                match b.target {
                    Target::OdinClips => {
                        let y = self
                            .logits_of(&pass.clips, own.as_ref())?
                            .f_argmax(1, false)?;
                        let loss = odin::loss(z, &y, self.opts.odin_temperature)?;
                        let g = Tensor::f_run_backward(&[loss], &[&x], keep, false)?;
                        clip_grad = g.into_iter().next();
                    }
                    Target::OdinVideo => {
                        let s = surrogate(up.and_then(|u| u.odin.as_ref()))?;
                        let g = Tensor::f_run_backward(&[s], &[&x], keep, false)?;
                        video_grad = g.into_iter().next();
                    }
                    Target::PurviewClip(k) => {
                        let loss = purview::loss(&clip(k)?)?;
                        let grads = Tensor::f_run_backward(&[loss], &params, keep, false)?;
                        self.purview_clip[k] = Some(purview::from_grads(&grads)?);
                    }
                    Target::PurviewVideo => {
                        let s = surrogate(up.and_then(|u| u.purview.as_ref()))?;
                        let grads = Tensor::f_run_backward(&[s], &params, keep, false)?;
                        let v = pass.video.unwrap_or(0);
                        let acc = self.accumulator(v)?;
                        acc.params = Some(match acc.params.take() {
                            None => grads,
                            Some(sum) => sum
                                .iter()
                                .zip(&grads)
                                .map(|(a, g)| a.f_add(g))
                                .collect::<std::result::Result<_, _>>()?,
                        });
                    }
                    Target::GradTrustClip(k) => {
                        let loss = gradtrust_autograd::loss(&clip(k)?, n)?;
                        let g = Tensor::f_run_backward(&[loss], &[&weight], keep, false)?;
                        let value = match g.first() {
                            Some(g) => gradtrust_autograd::from_gradient(g)?,
                            None => None,
                        };
                        self.grads_clip[k].0 = Some(value);
                    }
                    Target::GradNormClip(k) => {
                        let loss = gradtrust_autograd::grad_norm_loss(&clip(k)?, n)?;
                        let g = Tensor::f_run_backward(&[loss], &[&weight], keep, false)?;
                        let value = match g.first() {
                            Some(g) => gradtrust_autograd::grad_norm_of(g)?,
                            None => None,
                        };
                        self.grads_clip[k].1 = Some(value);
                    }
                    Target::GradTrustVideo | Target::GradNormVideo => {
                        let is_gt = b.target == Target::GradTrustVideo;
                        let s = surrogate(up.and_then(|u| {
                            if is_gt {
                                u.gradtrust.as_ref()
                            } else {
                                u.grad_norm.as_ref()
                            }
                        }))?;
                        let mut g = Tensor::f_run_backward(&[s], &[&weight], keep, false)?;
                        let g = g.pop().ok_or_else(|| {
                            Error::Invalid("no gradient for the classifier weight".into())
                        })?;
                        let v = pass.video.unwrap_or(0);
                        let acc = self.accumulator(v)?;
                        let slot = if is_gt {
                            &mut acc.gradtrust
                        } else {
                            &mut acc.grad_norm
                        };
                        *slot = Some(match slot.take() {
                            None => g,
                            Some(sum) => sum.f_add(&g)?,
                        });
                    }
                }
            }
            Ok(())
        })?;

        // ODIN's second forward, without a graph: the clips perturbed by their own
        // gradients, and by their video's.
        if pass.perturbed > 0 {
            (self.observe)(Step::PerturbedForward {
                pass: number,
                of: passes,
            });
            let eps = self.opts.odin_epsilon;
            let mut parts = Vec::new();
            if let Some(g) = &clip_grad {
                parts.push(odin::perturb(&xs, g, eps)?);
            }
            if let Some(g) = &video_grad {
                parts.push(odin::perturb(&xs, g, eps)?);
            }
            drop((clip_grad, video_grad));
            let both = Tensor::f_cat(&parts, 0)?;
            drop(parts);
            let total = both.size().first().copied().unwrap_or(0);
            let step = self.plan.forward_chunk.max(1) as i64;
            let mut logits = Vec::new();
            let mut at = 0;
            while at < total {
                let n = step.min(total - at);
                let x = both.f_narrow(0, at, n)?;
                logits.push(tch::no_grad(|| model.outputs(&x))?.logits);
                at += n;
            }
            let z = Tensor::f_cat(&logits, 0)?;
            let scores = odin::score(&z.f_narrow(0, 0, len as i64)?, self.opts.odin_temperature)?;
            for (i, s) in scores.into_iter().enumerate() {
                self.odin_clip[start + i] = Some(s);
            }
            if total > len as i64 {
                if let Some(v) = pass.video {
                    self.odin_video_rows
                        .entry(v)
                        .or_default()
                        .push(z.f_narrow(0, len as i64, len as i64)?);
                }
            }
        }
        Ok(())
    }

    /// Every sample's scores from the outputs and what the passes gave.
    fn assemble(self, forward: Outputs, set: &ScoreSet, ids: &SampleIds) -> Result<Scored> {
        let model = self.model;
        let opts = self.opts;
        let want_odin = set.contains(ScoreName::Odin);
        let want_purview =
            set.contains(ScoreName::PurviewInitial) || set.contains(ScoreName::PurviewFinal);
        let clip_seeds: Vec<u64> = ids.clips.iter().map(|id| id.seed(opts.seed)).collect();
        let mut clips = sample_scores(model, &forward, self.plan, &clip_seeds)?;
        for (i, s) in clips.iter_mut().enumerate() {
            if want_odin {
                s.set(ScoreName::Odin, self.odin_clip[i], "ODIN was not computed");
            }
            set_from_gradients(s, self.grads_clip[i]);
            if want_purview {
                let (initial, last) = self.purview_clip[i].unwrap_or((None, None));
                s.set(ScoreName::PurviewInitial, initial, NO_HALF);
                s.set(ScoreName::PurviewFinal, last, NO_HALF);
            }
        }

        let mut out_videos = Vec::with_capacity(self.videos.len());
        for (v, r) in self.videos.iter().enumerate() {
            let logits = video_mean(&forward.logits, r)?;
            if r.len() == 1 {
                // The clip's model: its scores.
                out_videos.push((logits, clips[r.start].clone()));
                continue;
            }
            let mean = |t: &Option<Tensor>| t.as_ref().map(|t| video_mean(t, r)).transpose();
            let video_forward = Outputs {
                logits,
                features: mean(&forward.features)?,
                head_input: mean(&forward.head_input)?,
            };
            let seed = [ids.videos[v].seed(opts.seed)];
            let mut s = sample_scores(model, &video_forward, self.plan, &seed)?
                .into_iter()
                .next()
                .unwrap_or_default();
            if want_odin {
                let value = match self.odin_video_rows.get(&v) {
                    Some(rows) => {
                        let z = Tensor::f_cat(rows, 0)?.f_mean_dim(&[0i64][..], true, None)?;
                        odin::score(&z, opts.odin_temperature)?.first().copied()
                    }
                    None => None,
                };
                s.set(ScoreName::Odin, value, "ODIN was not computed");
            }
            if let Some(&grads) = self.grads_video.get(&v) {
                set_from_gradients(&mut s, grads);
            }
            if want_purview {
                let (initial, last) = self.purview_video.get(&v).copied().unwrap_or((None, None));
                s.set(ScoreName::PurviewInitial, initial, NO_HALF);
                s.set(ScoreName::PurviewFinal, last, NO_HALF);
            }
            out_videos.push((video_forward.logits, s));
        }
        for s in clips
            .iter_mut()
            .chain(out_videos.iter_mut().map(|(_, s)| s))
        {
            s.retain(set);
        }
        Ok(Scored {
            logits: forward.logits,
            features: forward.features,
            clips,
            videos: out_videos,
        })
    }
}

/// Logits with NaN or ±inf (a forward that overflowed, weights that are not finite) make
/// the prediction and every score meaningless (softmax of +inf is NaN, a NaN reorders the
/// top-5): the batch is an error naming its clips, never rows of values. Checked right after
/// each forward that gives outputs, before any backward. The pipeline retries a failed batch
/// of several videos one video at a time, so only the video whose clips give such logits
/// fails. `offset`: the chunk's first clip in the batch of `total`.
fn check_logits(logits: &Tensor, offset: usize, total: usize) -> Result<()> {
    let mut bad = NonFinite::default();
    bad.add(logits, offset)?;
    bad.check(total)
}

/// The clips whose logits are not finite, gathered over a batch's forwards so that the
/// error names all of them.
#[derive(Default)]
struct NonFinite {
    clips: Vec<usize>,
    nan: bool,
    inf: bool,
}

impl NonFinite {
    fn add(&mut self, logits: &Tensor, offset: usize) -> Result<()> {
        let bad = logits.f_isfinite()?.f_all_dim(1, false)?.f_logical_not()?;
        if bad.f_sum(Kind::Int64)?.f_int64_value(&[])? == 0 {
            return Ok(());
        }
        let rows = Vec::<i64>::try_from(bad.f_nonzero()?.f_flatten(0, -1)?)?;
        self.clips.extend(rows.iter().map(|&r| r as usize + offset));
        let any = |mask: Tensor| -> Result<bool> { Ok(mask.f_any()?.f_int64_value(&[])? != 0) };
        self.nan |= any(logits.f_isnan()?)?;
        self.inf |= any(logits.f_isinf()?)?;
        Ok(())
    }

    fn check(&self, total: usize) -> Result<()> {
        if self.clips.is_empty() {
            return Ok(());
        }
        let what = match (self.nan, self.inf) {
            (true, true) => "NaN and infinite",
            (true, false) => "NaN",
            _ => "infinite",
        };
        Err(Error::Invalid(format!(
            "the model's logits are not finite ({what}) for clip(s) {} of {total}: the forward \
             overflowed or the weights hold huge values; no prediction or score can be given",
            self.clips
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        )))
    }
}

/// Real-gradient GradTrust and GradNorm where the plan took them.
fn set_from_gradients(s: &mut SampleScores, grads: Grads) {
    if let Some(gt) = grads.0 {
        s.set(ScoreName::GradTrust, gt, closed_form::DEGENERATE);
        s.note(ScoreName::GradTrust, FROM_GRADIENTS);
    }
    if let Some(gn) = grads.1 {
        s.set(ScoreName::GradNorm, gn, "");
        s.note(ScoreName::GradNorm, FROM_GRADIENTS);
    }
}

/// The scores one forward gives, for each row of `forward` (`seeds`: each row's MC-Dropout
/// generator).
fn sample_scores(
    model: &Model,
    forward: &Outputs,
    plan: &Plan,
    seeds: &[u64],
) -> Result<Vec<SampleScores>> {
    let mut scores = match &forward.features {
        Some(features) => closed_form::fast_scores(&forward.logits, features)?,
        None => closed_form::logit_scores(&forward.logits)?,
    };
    // A scripted module's own features: say which path the scores took.
    if forward.features.is_some() && model.var_store().is_none() {
        for s in &mut scores {
            for name in [ScoreName::GradTrust, ScoreName::GradNorm] {
                s.note(name, CLOSED_ON_MODULE);
            }
        }
    }
    if let (true, Some(features)) = (plan.head_backwards, &forward.features) {
        let values = gradtrust_autograd::gradtrust_autograd(&model.classifier(), features)?;
        for (s, v) in scores.iter_mut().zip(values) {
            s.set(ScoreName::GradTrust, v, closed_form::DEGENERATE);
        }
    }
    match (plan.mc_dropout, &forward.head_input) {
        (McDropout::NotRequested, _) => {}
        (McDropout::FromLogits | McDropout::HeadPasses(_), Some(head_input)) => {
            let passes = match plan.mc_dropout {
                McDropout::HeadPasses(k) => k,
                _ => 0,
            };
            let values = mc_dropout::mc_dropout(model, head_input, &forward.logits, passes, seeds)?;
            for (s, v) in scores.iter_mut().zip(values) {
                s.set(ScoreName::McDropout, Some(v), "");
            }
        }
        _ => {
            for s in &mut scores {
                s.set(ScoreName::McDropout, None, NO_HEAD);
            }
        }
    }
    Ok(scores)
}
