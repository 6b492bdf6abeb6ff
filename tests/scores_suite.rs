//! The whole score suite against the independent Python reference (tests/py/): ODIN,
//! Purview and MC-Dropout per sample and for the clip-averaged video, the closed forms on
//! the model's own forward, and batched = one at a time.
mod common;

use std::path::PathBuf;

use common::{cached_fixture, read_json, read_npy, run_python};
use gradtrust_video::models::Model;
use gradtrust_video::scores::engine::score_batch;
use gradtrust_video::scores::{GradTrustMethod, ScoreName, ScoreOptions, ScoreSet};
use tch::{Device, Tensor};

fn model_fixture(name: &str) -> PathBuf {
    common::model_fixture(name, 2, 8, 112)
}

/// The reference's backward-based scores for a fixture, cached beside it.
fn suite_reference(name: &str, temperature: f64, epsilon: f64) -> serde_json::Value {
    let fixture = model_fixture(name);
    let key = format!("suite-{name}-T{temperature}-eps{epsilon}");
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

fn loaded(name: &str) -> Model {
    let mut model = Model::new(name, Device::Cpu).unwrap();
    model
        .load_weights(&model_fixture(name).join("state_zip.pth"))
        .unwrap();
    model
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1e-12)
}

fn check_suite(name: &str, temperature: f64, epsilon: f64) {
    let reference = suite_reference(name, temperature, epsilon);
    let model = loaded(name);
    let input = read_npy(&model_fixture(name).join("input.npy"));
    let opts = ScoreOptions {
        odin_temperature: temperature,
        odin_epsilon: epsilon,
        ..ScoreOptions::default()
    };
    let n = 400.0;
    let scored = score_batch(&model, &input, &[0..2], &ScoreSet::all(), &opts).unwrap();
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
        if what == "clip" {
            // No dropout in the video ResNets: MC-Dropout is the deterministic value.
            let g = got.get(ScoreName::McDropout).unwrap();
            let w = want["mc_dropout_no_dropout"].as_f64().unwrap();
            assert!(rel(g, w) <= 1e-4, "{name} mc_dropout {g} vs {w}");
            assert_eq!(want["mc_dropout"], want["mc_dropout_no_dropout"]);
        }
    }
}

#[test]
fn r3d_18_suite_matches_reference() {
    check_suite("r3d_18", 100.0, 0.0014);
}

#[test]
fn r3d_18_odin_sharp_temperature() {
    // T = 1 and a large step make ODIN far from uniform, so a wrong sign or step shows.
    check_suite("r3d_18", 1.0, 0.05);
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
