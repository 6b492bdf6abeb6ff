//! The whole score suite against the independent Python reference (tests/py/): ODIN,
//! Purview and MC-Dropout per sample and for the clip-averaged video, the closed forms on
//! the model's own forward, and batched = one at a time.
mod common;

use std::path::{Path, PathBuf};

use common::{cached_fixture, read_json, read_npy, run_python};
use gradtrust_video::models::dropout::DropoutMasks;
use gradtrust_video::models::Model;
use gradtrust_video::scores::engine::score_batch;
use gradtrust_video::scores::engine::score_samples;
use gradtrust_video::scores::{
    GradTrustMethod, SampleIds, SampleScores, ScoreName, ScoreOptions, ScoreSet,
};
use tch::Tensor;

/// (model, batch, frames, size) of the fixture each family's suite parity runs on.
type Fixture = (&'static str, u32, u32, u32);

fn model_fixture(name: &str) -> PathBuf {
    common::model_fixture(name, 2, 8, 112)
}

/// The reference's backward-based scores for a fixture, cached beside it.
fn suite_reference(
    name: &str,
    fixture: &Path,
    temperature: f64,
    epsilon: f64,
) -> serde_json::Value {
    let tag = fixture.file_name().unwrap().to_string_lossy();
    let key = format!("suite-{tag}-T{temperature}-eps{epsilon}");
    let dir = cached_fixture(&key, |dir| {
        run_python(
            "suite_reference.py",
            &[
                "--model",
                name,
                "--fixture",
                fixture.to_str().unwrap(),
                "--out",
                dir.join("scores.json").to_str().unwrap(),
                "--temperature",
                &temperature.to_string(),
                "--epsilon",
                &epsilon.to_string(),
            ],
        );
    });
    read_json(&dir.join("scores.json"))
}

fn loaded_from(dir: &std::path::Path, name: &str) -> Model {
    common::loaded(name, dir, "state_zip.pth")
}

fn loaded(name: &str) -> Model {
    loaded_from(&model_fixture(name), name)
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1e-12)
}

fn check_suite(fx: Fixture, temperature: f64, epsilon: f64) {
    let (name, batch, frames, size) = fx;
    let dir = common::model_fixture(name, batch, frames, size);
    check_suite_on(name, &dir, batch, temperature, epsilon);
}

fn check_suite_on(name: &str, dir: &Path, batch: u32, temperature: f64, epsilon: f64) {
    let reference = suite_reference(name, dir, temperature, epsilon);
    let model = loaded_from(dir, name);
    let input = read_npy(&dir.join("input.npy"));
    let opts = ScoreOptions {
        odin_temperature: temperature,
        odin_epsilon: epsilon,
        ..ScoreOptions::default()
    };
    let n = model.num_classes() as f64;
    let rows = batch as usize;
    let scored = score_batch(&model, &input, &[0..rows], &ScoreSet::all(), &opts).unwrap();
    let rows: Vec<(
        &str,
        &gradtrust_video::scores::SampleScores,
        &serde_json::Value,
    )> = scored
        .clips
        .iter()
        .enumerate()
        .map(|(i, s)| ("clip", s, &reference["samples"][i]))
        .chain(std::iter::once((
            "video",
            &scored.videos[0].1,
            &reference["video"],
        )))
        .collect();
    for (what, got, want) in rows {
        let odin = got.get(ScoreName::Odin).unwrap();
        let w = want["odin"].as_f64().unwrap();
        // ODIN within 1e-4 absolute (the bound); since at T = 100 every value is near
        // 1/N, also its distance from uniform within 1e-3 relative.
        assert!((odin - w).abs() <= 1e-4, "{name} {what} odin {odin} vs {w}");
        assert!(
            rel(odin - 1.0 / n, w - 1.0 / n) <= 1e-3,
            "{name} {what} odin {odin} vs {w}"
        );
        for score in [ScoreName::PurviewInitial, ScoreName::PurviewFinal] {
            let g = got.get(score).unwrap();
            let w = want[score.as_str()].as_f64().unwrap();
            assert!(rel(g, w) <= 1e-4, "{name} {what} {score}: {g} vs {w}");
        }
        eprintln!(
            "{name} T={temperature} eps={epsilon} {what}: odin {odin:.8} (ref {w:.8}), purview {:.6}/{:.6}",
            got.get(ScoreName::PurviewInitial).unwrap(),
            got.get(ScoreName::PurviewFinal).unwrap()
        );
        if what == "clip" && model.head_dropout().is_none() {
            // No dropout in the head: MC-Dropout is the deterministic value.
            let g = got.get(ScoreName::McDropout).unwrap();
            let w = want["mc_dropout_no_dropout"].as_f64().unwrap();
            assert!(rel(g, w) <= 1e-4, "{name} mc_dropout {g} vs {w}");
            // The reference's K passes agree with its single pass (up to float32 averaging).
            let k = want["mc_dropout"].as_f64().unwrap();
            assert!(
                rel(k, w) <= 1e-6,
                "{name} reference passes differ: {k} vs {w}"
            );
        }
    }
}

#[test]
fn r3d_18_suite_matches_reference() {
    check_suite(("r3d_18", 2, 8, 112), 100.0, 0.0014);
}

#[test]
fn s3d_suite_matches_reference() {
    // The 1×1×1-conv classifier and its dropout head.
    check_suite(("s3d", 2, 13, 209), 100.0, 0.0014);
}

#[test]
fn swin3d_t_suite_matches_reference() {
    check_suite(("swin3d_t", 2, 19, 90), 100.0, 0.0014);
}

#[test]
fn mvit_v2_s_suite_matches_reference() {
    check_suite(("mvit_v2_s", 1, 16, 224), 100.0, 0.0014);
}

/// Image models (single-frame clips): a ResNet, VGG's two-dropout head, ViT, and MaxViT's
/// classifier without bias.
#[test]
fn image_models_suite_matches_reference() {
    for name in ["resnet18", "vgg11_bn"] {
        let dir = common::model_fixture(name, 1, 1, 224);
        check_suite_on(name, &dir, 1, 100.0, 0.0014);
    }
    for name in ["vit_b_16", "maxvit_t"] {
        let dir = common::image_fixture(name, 224);
        check_suite_on(name, &dir, 1, 100.0, 0.0014);
    }
}

#[test]
fn r3d_18_odin_sharp_temperature() {
    // T = 1 and a large step make ODIN far from uniform, so a wrong sign or step shows.
    check_suite(("r3d_18", 2, 8, 112), 1.0, 0.05);
}

fn assert_same_scores(
    a: &gradtrust_video::scores::SampleScores,
    b: &gradtrust_video::scores::SampleScores,
    what: &str,
) {
    assert_eq!(a.len(), b.len(), "{what}");
    for ((name, x), (_, y)) in a.values().into_iter().zip(b.values()) {
        let (x, y) = (x.unwrap(), y.unwrap());
        let tol = if name == ScoreName::Odin { 1e-6 } else { 1e-4 };
        assert!(
            (x - y).abs() <= tol * y.abs().max(1e-3),
            "{what} {name}: batched {x} vs alone {y}"
        );
    }
}

#[test]
fn batched_equals_one_at_a_time_for_every_score() {
    let model = loaded("r3d_18");
    let input = read_npy(&model_fixture("r3d_18").join("input.npy"));
    let four = Tensor::cat(&[&input, &(input.flip([0]) * 0.5)], 0);
    let opts = ScoreOptions::default();
    let all = ScoreSet::all();
    // Two videos of two clips each, in one batch.
    let batch = score_batch(&model, &four, &[0..2, 2..4], &all, &opts).unwrap();
    for i in 0..4 {
        let alone = score_batch(&model, &four.narrow(0, i, 1), &[], &all, &opts).unwrap();
        assert_same_scores(
            &batch.clips[i as usize],
            &alone.clips[0],
            &format!("clip {i}"),
        );
    }
    for (v, range) in [(0usize, 0i64), (1, 2)] {
        let alone = score_batch(&model, &four.narrow(0, range, 2), &[0..2], &all, &opts).unwrap();
        assert_same_scores(
            &batch.videos[v].1,
            &alone.videos[0].1,
            &format!("video {v}"),
        );
    }
}

#[test]
fn autograd_gradtrust_equals_closed_form_through_the_engine() {
    let model = loaded("mc3_18");
    let input = read_npy(&model_fixture("mc3_18").join("input.npy"));
    let set: ScoreSet = "gradtrust".parse().unwrap();
    let closed = score_batch(&model, &input, &[0..2], &set, &ScoreOptions::default()).unwrap();
    let opts = ScoreOptions {
        gradtrust: GradTrustMethod::Autograd,
        ..ScoreOptions::default()
    };
    let auto = score_batch(&model, &input, &[0..2], &set, &opts).unwrap();
    let pairs = closed
        .clips
        .iter()
        .zip(&auto.clips)
        .chain(std::iter::once((&closed.videos[0].1, &auto.videos[0].1)));
    for (c, a) in pairs {
        let (c, a) = (
            c.get(ScoreName::GradTrust).unwrap(),
            a.get(ScoreName::GradTrust).unwrap(),
        );
        assert!(rel(c, a) <= 1e-5, "closed {c} autograd {a}");
    }
}

#[test]
fn requested_set_is_what_comes_out() {
    let model = loaded("r3d_18");
    let input = read_npy(&model_fixture("r3d_18").join("input.npy"));
    let set: ScoreSet = "odin,softmax".parse().unwrap();
    let scored = score_batch(&model, &input, &[0..2], &set, &ScoreOptions::default()).unwrap();
    for s in scored
        .clips
        .iter()
        .chain(std::iter::once(&scored.videos[0].1))
    {
        let names: Vec<ScoreName> = s.values().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, vec![ScoreName::Softmax, ScoreName::Odin]);
    }
    assert!("fast,odin".parse::<ScoreSet>().is_err());
    assert!("".parse::<ScoreSet>().is_err());
    let fast = ScoreSet::fast();
    assert!(fast.contains(ScoreName::McDropout) && !fast.contains(ScoreName::Odin));
}

/// Every score runs on every video model of the registry not covered above (finite values,
/// GradTrust present).
#[test]
fn every_score_runs_on_the_other_models() {
    for (name, batch, frames, size) in [
        ("mc3_18", 2, 8, 112),
        ("r2plus1d_18", 2, 8, 112),
        ("swin3d_s", 2, 5, 100),
        ("swin3d_b", 1, 5, 100),
        ("mvit_v1_b", 1, 16, 224),
    ] {
        let dir = common::model_fixture(name, batch, frames, size);
        let model = loaded_from(&dir, name);
        let input = read_npy(&dir.join("input.npy"));
        let scored = score_batch(
            &model,
            &input,
            &[0..batch as usize],
            &ScoreSet::all(),
            &ScoreOptions::default(),
        )
        .unwrap();
        for s in scored
            .clips
            .iter()
            .chain(scored.videos.iter().map(|(_, s)| s))
        {
            assert_eq!(s.len(), ScoreName::ALL.len(), "{name}");
            for (score, v) in s.values() {
                assert!(
                    v.is_some_and(f64::is_finite),
                    "{name} {score}: {v:?} {:?}",
                    s.notes()
                );
            }
        }
    }
}

/// MC-Dropout on a real dropout head (MViT v2: Dropout(0.5) → Linear): the passes must
/// apply dropout, at the head's input, with inverted scaling. Over many passes (masks from
/// one sample's own generator, as MC-Dropout draws them) the mean logit converges to the
/// dropout-free logit and the variance to the analytic `p/(1−p) Σ_d W_cd² h_d²`; the same
/// seed gives the same score.
#[test]
fn mc_dropout_applies_the_head_dropout_correctly() {
    let dir = common::model_fixture("mvit_v2_s", 1, 16, 224);
    let model = loaded_from(&dir, "mvit_v2_s");
    let p = model.head_dropout().expect("mvit has a dropout head");
    assert_eq!(p, 0.5);
    let h = read_npy(&dir.join("features.npy"));
    let logits = read_npy(&dir.join("logits.npy"));
    let passes = 4000;
    let many = h.expand([passes, h.size()[1]], false).contiguous();
    let mut masks = DropoutMasks::new(&[7], passes as usize);
    let draws = tch::no_grad(|| model.head(&many, Some(&mut masks)).unwrap());
    let w = model.classifier().weight;
    let analytic_var =
        (w.square() * h.square()).sum_dim_intlist(1, false, tch::Kind::Float) * (p / (1.0 - p));
    let mean = draws.mean_dim(0, false, tch::Kind::Float);
    let var = draws.var_dim(0, true, false);
    // Mean: within 5 standard errors everywhere.
    let se = (&analytic_var / passes as f64).sqrt();
    let z = ((&mean - logits.squeeze_dim(0)).abs() / &se)
        .max()
        .double_value(&[]);
    assert!(z < 5.0, "mean logit off by {z} standard errors");
    // Variance: the ratio to the analytic value averages 1 within 3% over the 400 classes.
    let ratio = (var / &analytic_var)
        .mean(tch::Kind::Double)
        .double_value(&[]);
    assert!((ratio - 1.0).abs() < 0.03, "variance ratio {ratio}");

    let score = |seed| {
        gradtrust_video::scores::mc_dropout::mc_dropout(&model, &h, &logits, 10, &[seed]).unwrap()
            [0]
    };
    let (a, b, c) = (score(3), score(3), score(4));
    assert_eq!(a, b, "same seed, same value");
    assert_ne!(a, c, "another seed, other masks");
    let deterministic = gradtrust_video::scores::mc_dropout::score_of_mean_probs(
        &logits.softmax(1, tch::Kind::Float),
    )
    .unwrap()[0];
    assert_ne!(a, deterministic, "dropout must change the passes");
}

/// MC-Dropout's masks follow each sample's identity and `--seed`, nothing else: on S3D's
/// dropout head (p = 0.2) a clip scores the same alone, in a batch with another video, and
/// on a second model (another stage) scoring at the same time in another thread; the same
/// clips under another name, or another seed, draw other masks.
#[test]
fn mc_dropout_is_the_same_alone_in_a_batch_and_on_another_stage() {
    let dir = common::model_fixture("s3d", 2, 13, 209);
    let input = read_npy(&dir.join("input.npy"));
    let set: ScoreSet = "mc_dropout".parse().unwrap();
    let opts = ScoreOptions::default();
    let mc = |s: &SampleScores| s.get(ScoreName::McDropout).unwrap();
    let model = loaded_from(&dir, "s3d");
    assert_eq!(model.head_dropout(), Some(0.2));
    // a.mp4 alone (2 clips and its video).
    fn alone(model: &gradtrust_video::models::Model, input: &Tensor, seed: u64) -> Vec<f64> {
        let ids = SampleIds::named([("a.mp4", 2)]);
        let opts = ScoreOptions {
            seed,
            ..ScoreOptions::default()
        };
        let set: ScoreSet = "mc_dropout".parse().unwrap();
        let s = score_samples(model, input, &[0..2], &ids, &set, &opts).unwrap();
        let mc = |s: &SampleScores| s.get(ScoreName::McDropout).unwrap();
        let mut v: Vec<f64> = s.clips.iter().map(mc).collect();
        v.push(mc(&s.videos[0].1));
        v
    }
    let want = alone(&model, &input, 0);
    // In a batch after the same clips under another name (b.mp4 first, a.mp4 second).
    let four = Tensor::cat(&[&input, &input], 0);
    let ids = SampleIds::named([("b.mp4", 2), ("a.mp4", 2)]);
    let batch = score_samples(&model, &four, &[0..2, 2..4], &ids, &set, &opts).unwrap();
    let in_batch = [
        mc(&batch.clips[2]),
        mc(&batch.clips[3]),
        mc(&batch.videos[1].1),
    ];
    let other_name = [
        mc(&batch.clips[0]),
        mc(&batch.clips[1]),
        mc(&batch.videos[0].1),
    ];
    // Another stage: a second model scoring in another thread while this one scores too.
    let (on_other_stage, again) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            let second = loaded_from(&dir, "s3d");
            alone(&second, &read_npy(&dir.join("input.npy")), 0)
        });
        let again = alone(&model, &input, 0);
        (other.join().unwrap(), again)
    });
    let other_seed = alone(&model, &input, 1);
    for i in 0..3 {
        let w = want[i];
        for (what, got) in [
            ("in a batch", in_batch[i]),
            ("on another stage", on_other_stage[i]),
            ("again, while the other stage ran", again[i]),
        ] {
            assert!(rel(got, w) <= 1e-7, "sample {i} {what}: {got} vs alone {w}");
        }
        // Other masks change the value far beyond that rounding (S3D's random-weight head
        // is nearly uniform, so even other masks move the score only in its fifth digit).
        for (what, got) in [
            ("another name", other_name[i]),
            ("another seed", other_seed[i]),
        ] {
            assert!(rel(got, w) > 1e-5 * 3.0, "sample {i} {what}: {got} vs {w}");
        }
        eprintln!(
            "s3d mc_dropout sample {i}: alone {w:.8}, batch {:.8}, other stage {:.8}, other name {:.8}, other seed {:.8}",
            in_batch[i], on_other_stage[i], other_name[i], other_seed[i]
        );
    }
}

/// A video's ODIN, Purview and real-gradient GradTrust/GradNorm accumulated over chunks of
/// its clips equal one backward over all its clips (relative 1e-5): on a TorchScript mc3_18
/// that returns logits only (so GradTrust and GradNorm come from real gradients too), a
/// video of 4 clips in chunks of 3 (3 + 1), 2 and 1; and r3d_18's 2 clips in chunks of 1.
///
/// One exception, float32's and not the accumulation's: on the tiny traced input (4×32×32)
/// libtorch's backward of 4 clips at once gives the first layers' parameter gradients
/// 1.3e-4 away from float64 (PyTorch's own float32 backward gives the same value), while
/// one clip at a time stays within 1.5e-7 of float64; so Purview's first half is compared
/// only where both sides are accurate (chunks of 2 and 3 there, and on r3d_18).
#[test]
fn chunked_backward_passes_equal_one_pass() {
    let dir = common::own_model_fixture(&["traced"]);
    let input = read_npy(&dir.join("input.npy"));
    let traced = gradtrust_video::models::Model::load(
        &gradtrust_video::models::ModelRequest {
            arch: gradtrust_video::models::Arch::TorchScript {
                preset: "mc3_18".into(),
                classifier: None,
            },
            weights: dir.join("traced.pt").into(),
            weights_key: None,
            labels: None,
        },
        tch::Device::Cpu,
    )
    .unwrap();
    assert!(!traced.gives_features(), "a logits-only module");
    let four = Tensor::cat(&[&input, &(input.flip([0]) * 0.5)], 0);
    let set: ScoreSet = "gradtrust,grad_norm,odin,purview_initial,purview_final"
        .parse()
        .unwrap();
    let run = |model: &gradtrust_video::models::Model, xs: &Tensor, chunk: usize| {
        let rows = xs.size()[0] as usize;
        let opts = ScoreOptions {
            backward_chunk: chunk,
            ..ScoreOptions::default()
        };
        score_batch(model, xs, &[0..rows], &set, &opts).unwrap()
    };
    let compare = |what: &str,
                   whole: &gradtrust_video::scores::engine::Scored,
                   chunked: &gradtrust_video::scores::engine::Scored,
                   names: &[ScoreName]| {
        let samples = whole
            .clips
            .iter()
            .zip(&chunked.clips)
            .chain(std::iter::once((&whole.videos[0].1, &chunked.videos[0].1)));
        for (i, (w, c)) in samples.enumerate() {
            for &name in names {
                let (wv, cv) = (w.get(name).unwrap(), c.get(name).unwrap());
                assert!(
                    rel(cv, wv) <= 1e-5,
                    "{what} sample {i} {name}: {cv} vs one pass {wv}"
                );
            }
        }
        let v = &chunked.videos[0].1;
        eprintln!(
            "{what}: video {}",
            names
                .iter()
                .map(|&n| format!(
                    "{n} {:.10e} (one pass {:.10e})",
                    v.get(n).unwrap(),
                    whole.videos[0].1.get(n).unwrap()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let whole = run(&traced, &four, 4);
    for chunk in [3, 2, 1] {
        let names: Vec<ScoreName> = set
            .names()
            .iter()
            .copied()
            .filter(|&n| chunk > 1 || n != ScoreName::PurviewInitial)
            .collect();
        compare(
            &format!("traced mc3_18, chunks of {chunk}"),
            &whole,
            &run(&traced, &four, chunk),
            &names,
        );
    }
    let r3d = loaded("r3d_18");
    let input = read_npy(&model_fixture("r3d_18").join("input.npy"));
    let names = [
        ScoreName::Odin,
        ScoreName::PurviewInitial,
        ScoreName::PurviewFinal,
    ];
    compare(
        "r3d_18, chunks of 1",
        &run(&r3d, &input, 2),
        &run(&r3d, &input, 1),
        &names,
    );
}
