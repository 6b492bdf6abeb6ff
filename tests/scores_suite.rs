//! The whole score suite against the independent Python reference (tests/py/): ODIN,
//! Purview and MC-Dropout per sample and for the clip-averaged video, the closed forms on
//! the model's own forward, and batched = one at a time.
mod common;

use std::path::{Path, PathBuf};

use common::{cached_fixture, read_json, read_npy, run_python};
use gradtrust_video::models::Model;
use gradtrust_video::scores::engine::score_batch;
use gradtrust_video::scores::{GradTrustMethod, ScoreName, ScoreOptions, ScoreSet};
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
        // Fixtures of tests/images_transformers.rs.
        // The fixtures of tests/images_transformers.rs (same key, same files: vit_b_16's
        // includes the legacy format).
        let dir = cached_fixture(&format!("image-{name}-seed0-b1-s224"), |d| {
            let mut args = vec![
                "--model",
                name,
                "--out",
                d.to_str().unwrap(),
                "--seed",
                "0",
                "--batch",
                "1",
                "--size",
                "224",
            ];
            if name == "vit_b_16" {
                args.push("--legacy");
            }
            run_python("image_model_fixture.py", &args);
        });
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
    assert_eq!(a.values.len(), b.values.len(), "{what}");
    for ((name, x), (_, y)) in a.values.iter().zip(&b.values) {
        let (x, y) = (x.unwrap(), y.unwrap());
        let tol = if *name == ScoreName::Odin { 1e-6 } else { 1e-4 };
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
        let names: Vec<ScoreName> = s.values.iter().map(|(n, _)| *n).collect();
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
            assert_eq!(s.values.len(), 12, "{name}");
            for (score, v) in &s.values {
                assert!(
                    v.is_some_and(f64::is_finite),
                    "{name} {score}: {v:?} {:?}",
                    s.notes
                );
            }
        }
    }
}

/// MC-Dropout on a real dropout head (MViT v2: Dropout(0.5) → Linear): the passes must
/// apply dropout, at the head's input, with inverted scaling. Over many passes the mean
/// logit converges to the dropout-free logit and the variance to the analytic
/// `p/(1−p) Σ_d W_cd² h_d²`; the same seed gives the same score.
#[test]
fn mc_dropout_applies_the_head_dropout_correctly() {
    let dir = common::model_fixture("mvit_v2_s", 1, 16, 224);
    let model = loaded_from(&dir, "mvit_v2_s");
    let p = model.head_dropout().expect("mvit has a dropout head");
    assert_eq!(p, 0.5);
    let h = read_npy(&dir.join("features.npy"));
    let logits = read_npy(&dir.join("logits.npy"));
    let passes = 4000;
    tch::manual_seed(7);
    let draws = tch::no_grad(|| {
        Tensor::cat(
            &(0..passes)
                .map(|_| model.head(&h, true).unwrap())
                .collect::<Vec<_>>(),
            0,
        )
    });
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
        gradtrust_video::scores::mc_dropout::mc_dropout(&model, &h, &logits, 10, seed).unwrap()[0]
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
