//! The score plan: which forwards and backwards a requested set needs on a batch, decided
//! from the request, the model's facts and the batch's shape alone (pure: no tensor, no
//! model), so that it can be checked without running anything. [`super::engine`] executes
//! it.
//!
//! - The fast set needs one forward without a graph: the closed forms of the logits and
//!   features, and MC-Dropout's head passes on the cached head input.
//! - ODIN, Purview, and GradTrust/GradNorm of a network without features need gradients:
//!   forwards that keep their graph ("graph passes"), over chunks of at most
//!   `backward_chunk` clips of one video, each followed by its backward passes (every one
//!   but the last keeps the graph).
//! - A video is the clip-averaged model, `z_v = mean_k z_k`, so a video loss reaches clip k
//!   only through `∂L/∂z_v / K`: with that upstream gradient (computed from the logits, no
//!   graph) each chunk's backward of `Σ_k ⟨z_k, ∂L/∂z_v⟩ / K` gives exactly its share of
//!   the video's input or parameter gradients. The video's gradients are accumulated over
//!   its chunks, and peak memory follows the chunk size, not the video's length.
//! - When every video fits in one chunk, the graph passes' own logits are the outputs;
//!   otherwise a forward without a graph (chunks of `forward_chunk`) gives the logits first,
//!   the video's upstream gradients are taken from them, and then the graph passes run.
//! - Purview needs each clip's own parameter gradients: with one-clip chunks they come from
//!   the chunk's graph; with larger chunks every clip gets its own one-clip graph pass.
//! - A video of a single clip is that clip's model: its gradient-based scores are the
//!   clip's, no backward of its own.
use std::ops::Range;

use super::{GradTrustMethod, ScoreName, ScoreOptions, ScoreSet};

/// What the planner needs to know of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelFacts {
    /// The forward gives the classifier's input features `h` (else GradTrust and GradNorm
    /// need real gradients of the classifier weight).
    pub features: bool,
    /// The forward gives the head's input (MC-Dropout can re-run the head alone).
    pub head_input: bool,
    /// The head has dropout (else MC-Dropout's K passes are identical: none is run).
    pub head_dropout: bool,
}

/// A backward pass on a graph pass's graph, and what its gradient serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `Σ_k CE(z_k/T, ŷ_k)` over the pass's clips: each clip's own input gradient (clips are
    /// independent in inference mode).
    OdinClips,
    /// The pass's share of its video's ODIN input gradient.
    OdinVideo,
    /// Clip k's Purview loss: its parameter gradients.
    PurviewClip(usize),
    /// The pass's share of its video's Purview parameter gradients.
    PurviewVideo,
    /// Clip k's counterfactual loss: the classifier weight's gradient (GradTrust).
    GradTrustClip(usize),
    /// Clip k's GradNorm loss: the classifier weight's gradient.
    GradNormClip(usize),
    /// The pass's share of its video's classifier-weight gradient for GradTrust.
    GradTrustVideo,
    /// The same for GradNorm.
    GradNormVideo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backward {
    pub target: Target,
    /// Whether the graph is kept for a later backward of the same pass.
    pub keeps_graph: bool,
}

/// A forward that keeps its graph, and the backward passes on it, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphPass {
    /// Clips of the batch; never two videos' clips.
    pub clips: Range<usize>,
    /// The video (index into the batch's video ranges) the clips belong to.
    pub video: Option<usize>,
    /// Whether the input is on the tape (ODIN's input gradients).
    pub input_grad: bool,
    /// Whether this forward's logits, features and head input are the batch's outputs for
    /// its clips (no forward without a graph ran for them).
    pub outputs: bool,
    pub backwards: Vec<Backward>,
    /// Inputs of ODIN's second forward (no graph) run after this pass: its clips perturbed
    /// by their own gradients and by their video's.
    pub perturbed: usize,
}

/// How MC-Dropout is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McDropout {
    NotRequested,
    /// The network does not expose its head input: missing, with a note.
    Missing,
    /// No dropout in the head: the K passes equal the forward; computed from its logits.
    FromLogits,
    /// One head call of K rows per sample (clips, then videos).
    HeadPasses(usize),
}

/// The passes for one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Forwards without a graph whose logits, features and head input are the outputs.
    pub forwards: Vec<Range<usize>>,
    /// Forwards with a graph and their backwards, in execution order (video by video).
    pub graphs: Vec<GraphPass>,
    /// Most inputs per forward without a graph (ODIN's perturbed inputs are split too).
    pub forward_chunk: usize,
    pub mc_dropout: McDropout,
    /// GradTrust from real gradients on the features: one backward through the head alone
    /// per sample (clips and videos).
    pub head_backwards: bool,
    /// Video-level upstream gradients needed (from the outputs' logits): ODIN, Purview,
    /// GradTrust, GradNorm.
    pub video_upstream: [bool; 4],
}

impl Plan {
    /// Every forward through the network (the head-only MC-Dropout passes aside).
    pub fn forward_count(&self) -> usize {
        self.forwards.len()
            + self.graphs.len()
            + self
                .graphs
                .iter()
                .map(|g| g.perturbed.div_ceil(self.forward_chunk))
                .sum::<usize>()
    }

    /// Every backward through the network (the head-only ones of `head_backwards` aside).
    pub fn backward_count(&self) -> usize {
        self.graphs.iter().map(|g| g.backwards.len()).sum()
    }

    /// The largest number of clips whose graph is alive at once.
    pub fn largest_graph(&self) -> usize {
        self.graphs.iter().map(|g| g.clips.len()).max().unwrap_or(0)
    }
}

/// The plan for `set` on a batch of `clips` clips whose videos are `videos` (disjoint
/// ranges; clips outside every range are scored as clips only).
pub fn plan(
    set: &ScoreSet,
    opts: &ScoreOptions,
    model: ModelFacts,
    clips: usize,
    videos: &[Range<usize>],
) -> Plan {
    let forward_chunk = opts.forward_chunk.max(1);
    let backward_chunk = opts.backward_chunk.max(1);
    let odin = set.contains(ScoreName::Odin);
    let purview = set.contains(ScoreName::PurviewInitial) || set.contains(ScoreName::PurviewFinal);
    let gt = set.contains(ScoreName::GradTrust) && !model.features;
    let gn = set.contains(ScoreName::GradNorm) && !model.features;
    let mc_dropout = if !set.contains(ScoreName::McDropout) {
        McDropout::NotRequested
    } else if !model.head_input {
        McDropout::Missing
    } else if !model.head_dropout || opts.mc_passes == 0 {
        McDropout::FromLogits
    } else {
        McDropout::HeadPasses(opts.mc_passes)
    };
    let head_backwards = set.contains(ScoreName::GradTrust)
        && model.features
        && opts.gradtrust == GradTrustMethod::Autograd;
    let chunks = |r: Range<usize>, size: usize| -> Vec<Range<usize>> {
        r.clone()
            .step_by(size)
            .map(|s| s..(s + size).min(r.end))
            .collect()
    };
    let mut plan = Plan {
        forwards: Vec::new(),
        graphs: Vec::new(),
        forward_chunk,
        mc_dropout,
        head_backwards,
        video_upstream: [false; 4],
    };
    if !(odin || purview || gt || gn) {
        plan.forwards = chunks(0..clips, forward_chunk);
        return plan;
    }

    // Segments in clip order: each video's range, and the runs of clips outside them.
    let mut order: Vec<(usize, &Range<usize>)> = videos.iter().enumerate().collect();
    order.sort_by_key(|(_, r)| r.start);
    let mut segments: Vec<(Range<usize>, Option<usize>)> = Vec::new();
    let mut at = 0;
    for (v, r) in order {
        if r.start > at {
            segments.push((at..r.start, None));
        }
        segments.push((r.clone(), Some(v)));
        at = r.end;
    }
    if at < clips {
        segments.push((at..clips, None));
    }
    // Graph passes give the outputs when no video is split over several of them (its
    // upstream gradient needs all its logits first).
    let split = segments
        .iter()
        .any(|(r, v)| v.is_some() && r.len() > backward_chunk);
    if split {
        plan.forwards = chunks(0..clips, forward_chunk);
    }
    for (range, video) in segments {
        // A video of several clips has video-level gradients of its own.
        let video_grads = video.is_some() && range.len() > 1;
        plan.video_upstream[0] |= odin && video_grads;
        plan.video_upstream[1] |= purview && video_grads;
        plan.video_upstream[2] |= gt && video_grads;
        plan.video_upstream[3] |= gn && video_grads;
        for chunk in chunks(range, backward_chunk) {
            let mut targets = Vec::new();
            if odin {
                targets.push(Target::OdinClips);
                if video_grads {
                    targets.push(Target::OdinVideo);
                }
            }
            for k in chunk.clone() {
                if gt {
                    targets.push(Target::GradTrustClip(k));
                }
                if gn {
                    targets.push(Target::GradNormClip(k));
                }
            }
            if video_grads && gt {
                targets.push(Target::GradTrustVideo);
            }
            if video_grads && gn {
                targets.push(Target::GradNormVideo);
            }
            if purview && chunk.len() == 1 {
                targets.push(Target::PurviewClip(chunk.start));
            }
            if purview && video_grads {
                targets.push(Target::PurviewVideo);
            }
            let perturbed = if odin {
                chunk.len() * if video_grads { 2 } else { 1 }
            } else {
                0
            };
            plan.graphs.push(GraphPass {
                clips: chunk.clone(),
                video,
                input_grad: odin,
                outputs: !split,
                backwards: keeping(targets),
                perturbed,
            });
            // Per-clip Purview of a larger chunk: each clip's own graph.
            if purview && chunk.len() > 1 {
                for k in chunk {
                    plan.graphs.push(GraphPass {
                        clips: k..k + 1,
                        video,
                        input_grad: false,
                        outputs: false,
                        backwards: keeping(vec![Target::PurviewClip(k)]),
                        perturbed: 0,
                    });
                }
            }
        }
    }
    plan
}

/// Backward passes in order, each but the last keeping the graph.
fn keeping(targets: Vec<Target>) -> Vec<Backward> {
    let n = targets.len();
    targets
        .into_iter()
        .enumerate()
        .map(|(i, target)| Backward {
            target,
            keeps_graph: i + 1 < n,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE: ModelFacts = ModelFacts {
        features: true,
        head_input: true,
        head_dropout: false,
    };
    const DROPOUT_HEAD: ModelFacts = ModelFacts {
        head_dropout: true,
        ..NATIVE
    };
    const LOGITS_ONLY: ModelFacts = ModelFacts {
        features: false,
        head_input: false,
        head_dropout: false,
    };

    fn opts(forward_chunk: usize, backward_chunk: usize) -> ScoreOptions {
        ScoreOptions {
            forward_chunk,
            backward_chunk,
            ..ScoreOptions::default()
        }
    }

    fn set(s: &str) -> ScoreSet {
        s.parse().unwrap()
    }

    /// Each pass's backwards keep the graph except the last.
    fn keeps_all_but_last(p: &Plan) {
        for g in &p.graphs {
            let keeps: Vec<bool> = g.backwards.iter().map(|b| b.keeps_graph).collect();
            let mut want = vec![true; keeps.len()];
            if let Some(last) = want.last_mut() {
                *last = false;
            }
            assert_eq!(keeps, want, "{g:?}");
        }
    }

    #[test]
    fn fast_set_is_one_forward_without_a_graph() {
        let p = plan(&ScoreSet::fast(), &opts(20, 1), NATIVE, 12, &[0..12]);
        assert_eq!(p.forwards, vec![0..12]);
        assert_eq!((p.forward_count(), p.backward_count()), (1, 0));
        assert_eq!(p.mc_dropout, McDropout::FromLogits);
        assert!(!p.head_backwards);
        // A larger batch than the forward chunk: several forwards, no graph.
        let p = plan(&ScoreSet::fast(), &opts(5, 1), DROPOUT_HEAD, 12, &[0..12]);
        assert_eq!(p.forwards, vec![0..5, 5..10, 10..12]);
        assert_eq!(p.mc_dropout, McDropout::HeadPasses(10));
        assert_eq!(p.largest_graph(), 0);
        // No head input: missing; autograd GradTrust: head-only backwards.
        let autograd = ScoreOptions {
            gradtrust: GradTrustMethod::Autograd,
            ..opts(20, 1)
        };
        let p = plan(&set("gradtrust,mc_dropout"), &autograd, NATIVE, 2, &[0..2]);
        assert!(p.head_backwards && p.graphs.is_empty());
        let scripted = ModelFacts {
            head_input: false,
            ..NATIVE
        };
        let p = plan(&set("mc_dropout"), &opts(20, 1), scripted, 2, &[0..2]);
        assert_eq!(p.mc_dropout, McDropout::Missing);
    }

    #[test]
    fn all_scores_on_a_long_video_with_one_clip_chunks() {
        // `score --scores all` on swin3d_t's 12 clips: the logits first, then one graph per
        // clip with ODIN (clip and video), Purview (clip and video) on it.
        let p = plan(&ScoreSet::all(), &opts(20, 1), NATIVE, 12, &[0..12]);
        assert_eq!(p.forwards, vec![0..12]);
        assert_eq!(p.graphs.len(), 12);
        assert_eq!(p.largest_graph(), 1);
        for (k, g) in p.graphs.iter().enumerate() {
            assert_eq!(g.clips, k..k + 1);
            assert!(g.input_grad && !g.outputs);
            let targets: Vec<Target> = g.backwards.iter().map(|b| b.target).collect();
            assert_eq!(
                targets,
                vec![
                    Target::OdinClips,
                    Target::OdinVideo,
                    Target::PurviewClip(k),
                    Target::PurviewVideo
                ]
            );
            assert_eq!(g.perturbed, 2);
        }
        keeps_all_but_last(&p);
        // 1 forward + 12 graph forwards + 12 perturbed forwards; 4 backwards per clip.
        assert_eq!((p.forward_count(), p.backward_count()), (25, 48));
        assert_eq!(p.video_upstream, [true, true, false, false]);
    }

    #[test]
    fn all_scores_in_one_chunk_reuse_the_graph_for_the_outputs() {
        let p = plan(&ScoreSet::all(), &opts(20, 12), NATIVE, 12, &[0..12]);
        assert!(p.forwards.is_empty(), "the graph pass gives the outputs");
        assert_eq!(p.largest_graph(), 12);
        let main = &p.graphs[0];
        assert!(main.outputs && main.input_grad);
        let targets: Vec<Target> = main.backwards.iter().map(|b| b.target).collect();
        assert_eq!(
            targets,
            vec![Target::OdinClips, Target::OdinVideo, Target::PurviewVideo]
        );
        assert_eq!(main.perturbed, 24);
        // Then each clip's own graph for its Purview.
        assert_eq!(p.graphs.len(), 13);
        for (k, g) in p.graphs[1..].iter().enumerate() {
            assert_eq!(g.clips, k..k + 1);
            assert!(!g.input_grad && !g.outputs);
            assert_eq!(g.backwards.len(), 1);
            assert_eq!(g.backwards[0].target, Target::PurviewClip(k));
            assert!(!g.backwards[0].keeps_graph);
        }
        keeps_all_but_last(&p);
        // 13 graph forwards + 24 perturbed inputs in forwards of 20: 2.
        assert_eq!((p.forward_count(), p.backward_count()), (15, 15));
    }

    #[test]
    fn chunks_never_span_two_videos() {
        let p = plan(&set("odin"), &opts(20, 4), NATIVE, 10, &[0..3, 3..10]);
        let passes: Vec<(Range<usize>, Option<usize>)> = p
            .graphs
            .iter()
            .map(|g| (g.clips.clone(), g.video))
            .collect();
        assert_eq!(
            passes,
            vec![(0..3, Some(0)), (3..7, Some(1)), (7..10, Some(1))]
        );
        // Video 1 is split: the logits come from a forward without a graph first.
        assert_eq!(p.forwards, vec![0..10]);
        assert!(p.graphs.iter().all(|g| !g.outputs));
        keeps_all_but_last(&p);
        assert_eq!((p.forward_count(), p.backward_count()), (7, 6));
    }

    #[test]
    fn single_clip_videos_and_images_have_no_video_backward() {
        // An image (one clip, one video): ODIN and Purview of the clip are the video's.
        let p = plan(&ScoreSet::all(), &opts(20, 1), NATIVE, 1, &[0..1]);
        assert!(p.forwards.is_empty());
        assert_eq!(p.graphs.len(), 1);
        let targets: Vec<Target> = p.graphs[0].backwards.iter().map(|b| b.target).collect();
        assert_eq!(targets, vec![Target::OdinClips, Target::PurviewClip(0)]);
        keeps_all_but_last(&p);
        assert_eq!((p.forward_count(), p.backward_count()), (2, 2));
        assert_eq!(p.video_upstream, [false; 4]);
    }

    #[test]
    fn windows_without_videos_are_clips_only() {
        // A timeline batch of 4 windows, ODIN only, chunks of 2.
        let p = plan(&set("odin,softmax"), &opts(4, 2), NATIVE, 4, &[]);
        assert!(p.forwards.is_empty());
        assert_eq!(p.graphs.len(), 2);
        for g in &p.graphs {
            assert!(g.outputs && g.video.is_none());
            assert_eq!(g.backwards.len(), 1);
            assert_eq!(g.backwards[0].target, Target::OdinClips);
            assert_eq!(g.perturbed, 2);
        }
        assert_eq!((p.forward_count(), p.backward_count()), (4, 2));
    }

    #[test]
    fn logits_only_module_takes_real_gradients_of_the_last_layer() {
        // GradTrust and GradNorm need the graph (not the input): per clip a backward each,
        // and the video's share.
        let p = plan(&ScoreSet::fast(), &opts(20, 2), LOGITS_ONLY, 2, &[0..2]);
        assert!(p.forwards.is_empty());
        assert_eq!(p.graphs.len(), 1);
        let g = &p.graphs[0];
        assert!(g.outputs && !g.input_grad);
        let targets: Vec<Target> = g.backwards.iter().map(|b| b.target).collect();
        assert_eq!(
            targets,
            vec![
                Target::GradTrustClip(0),
                Target::GradNormClip(0),
                Target::GradTrustClip(1),
                Target::GradNormClip(1),
                Target::GradTrustVideo,
                Target::GradNormVideo
            ]
        );
        keeps_all_but_last(&p);
        assert_eq!(p.mc_dropout, McDropout::Missing);
        assert_eq!(p.video_upstream, [false, false, true, true]);
        // Chunks of one clip: the logits first, then a graph per clip.
        let p = plan(&ScoreSet::fast(), &opts(20, 1), LOGITS_ONLY, 2, &[0..2]);
        assert_eq!(p.forwards, vec![0..2]);
        assert_eq!((p.forward_count(), p.backward_count()), (3, 8));
        assert_eq!(p.largest_graph(), 1);
    }
}
