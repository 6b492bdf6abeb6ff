//! Parity of the Rust ports with torchvision: the reference builds each model with a fixed
//! seed (randomized BatchNorm statistics and classifier, so every layer matters), saves its
//! state_dict as torchvision publishes it (zip, legacy, legacy without num_batches_tracked,
//! safetensors), and records logits, features, parameter names and scores for one input.
mod common;

use std::path::PathBuf;

use common::{close, read_json, read_npy, rel_err, run_python};
use gradtrust_video::models::{self, Model};
use gradtrust_video::scores::closed_form::fast_scores;
use gradtrust_video::scores::gradtrust_autograd::gradtrust_autograd;
use gradtrust_video::scores::ScoreName;
use gradtrust_video::{prediction, Error};
use tch::{Device, Tensor};

const WEIGHT_FILES: [&str; 4] = [
    "state_zip.pth",
    "state_legacy.pth",
    "state_legacy_no_nbt.pth",
    "state.safetensors",
];

fn model_fixture(name: &str) -> PathBuf {
    common::model_fixture(name, 2, 8, 112)
}

fn loaded(name: &str, file: &str) -> Model {
    common::loaded(name, &model_fixture(name), file)
}

fn logits_features_parity(name: &str) {
    let dir = model_fixture(name);
    let input = read_npy(&dir.join("input.npy"));
    let want_logits = read_npy(&dir.join("logits.npy"));
    let want_features = read_npy(&dir.join("features.npy"));
    for file in WEIGHT_FILES {
        let model = loaded(name, file);
        let got = tch::no_grad(|| model.forward(&input)).unwrap();
        let el = rel_err(&got.logits, &want_logits);
        let ef = rel_err(&got.features, &want_features);
        eprintln!("{name} {file}: logits rel err {el:.2e}, features rel err {ef:.2e}");
        assert!(el <= 1e-4, "{name} {file}: logits rel err {el}");
        assert!(ef <= 1e-4, "{name} {file}: features rel err {ef}");
    }
}

/// Parameter names in torchvision's `named_parameters()` order, and the count.
fn parameter_order(name: &str) {
    let meta = read_json(&model_fixture(name).join("meta.json"));
    let model = Model::new(name, Device::Cpu).unwrap();
    let got: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = serde_json::from_value(meta["param_names"].clone()).unwrap();
    assert_eq!(
        got, want,
        "{name}: parameter order differs from torchvision"
    );
    assert_eq!(model.num_params(), meta["num_params"].as_u64().unwrap());
    assert_eq!(model.num_params(), common::published(name).0);
}

/// Scores: Rust's closed forms on the reference's own logits and features equal the
/// independent Python implementation of scores.md; the closed-form GradTrust equals the
/// autograd one (Rust, head backward) and the reference's full-model backward.
fn scores_parity(name: &str) {
    let dir = model_fixture(name);
    // The reference scores of the very tensors Rust scores (the fixture's scores.json comes
    // from separate batch-of-one forwards, whose logits differ in the last bits).
    let out = tempfile::tempdir().unwrap();
    let scores_path = out.path().join("scores.json");
    let arg = |f: &str| dir.join(f).to_str().unwrap().to_string();
    run_python(
        "scores_reference.py",
        &[
            "--logits",
            &arg("logits.npy"),
            "--features",
            &arg("features.npy"),
            "--weight",
            &arg("classifier_weight.npy"),
            "--bias",
            &arg("classifier_bias.npy"),
            "--out",
            scores_path.to_str().unwrap(),
        ],
    );
    let scores = read_json(&scores_path);
    let full_model = read_json(&dir.join("scores.json"));
    let logits = read_npy(&dir.join("logits.npy"));
    let features = read_npy(&dir.join("features.npy"));
    let rust = fast_scores(&logits, &features).unwrap();
    let model = loaded(name, "state_zip.pth");
    let auto = gradtrust_autograd(&model.classifier(), &features).unwrap();
    for (i, sample) in rust.iter().enumerate() {
        let want = &scores["samples"][i];
        for (score, value) in sample.values() {
            let w = want[score.as_str()].as_f64().unwrap();
            let g = value.unwrap();
            assert!(
                close(g, w, 1e-4),
                "{name} sample {i} {score}: rust {g} python {w}"
            );
        }
        let closed = sample.get(ScoreName::GradTrust).unwrap();
        let a = auto[i].unwrap();
        assert!(
            close(closed, a, 1e-5),
            "{name}: closed {closed} autograd {a}"
        );
        let full = full_model["samples"][i]["gradtrust_autograd_full"]
            .as_f64()
            .unwrap();
        assert!(
            close(closed, full, 1e-4),
            "{name}: closed {closed} full {full}"
        );
        eprintln!(
            "{name} sample {i}: gradtrust closed {closed:.6} autograd {a:.6} python full-model {full:.6}"
        );
    }
    // Video level: the clip-averaged model, and both fusions' top-5.
    let clips = 0..logits.size()[0] as usize;
    let zv = prediction::video_mean(&logits, &clips).unwrap();
    let hv = prediction::video_mean(&features, &clips).unwrap();
    let indices = |ranked: Vec<prediction::Ranked>| -> Vec<u64> {
        ranked.into_iter().map(|r| r.index as u64).collect()
    };
    let want = |key: &str| -> Vec<u64> { serde_json::from_value(scores[key].clone()).unwrap() };
    assert_eq!(
        indices(prediction::top_k(&zv, 5).unwrap().remove(0)),
        want("video_top5_mean_logits")
    );
    assert_eq!(
        indices(prediction::top_k_softmax_sum(&logits, 5).unwrap()),
        want("video_top5_sum_softmax")
    );
    let video = fast_scores(&zv, &hv).unwrap().remove(0);
    for (score, value) in video.values() {
        let w = scores["video"][score.as_str()].as_f64().unwrap();
        assert!(
            close(value.unwrap(), w, 1e-4),
            "{name} video {score}: {value:?} vs {w}"
        );
    }
}

#[test]
fn r3d_18_parity() {
    logits_features_parity("r3d_18");
    parameter_order("r3d_18");
    scores_parity("r3d_18");
}

#[test]
fn mc3_18_parity() {
    logits_features_parity("mc3_18");
    parameter_order("mc3_18");
    scores_parity("mc3_18");
}

#[test]
fn r2plus1d_18_parity() {
    logits_features_parity("r2plus1d_18");
    parameter_order("r2plus1d_18");
    scores_parity("r2plus1d_18");
}

#[test]
fn registry_counts_match_spec_without_weights() {
    for spec in models::all() {
        let (params, shape) = common::published(spec.name);
        let model = Model::new(spec.name, Device::Cpu).unwrap();
        assert_eq!(model.num_params(), params, "{}", spec.name);
        // What `models` shows is derived from the built network.
        let facts = spec.facts();
        assert_eq!(facts.num_params, params, "{}", spec.name);
        assert_eq!(facts.classifier_shape, shape, "{}", spec.name);
    }
}

#[test]
fn weights_of_another_model_list_every_problem() {
    let file = model_fixture("mc3_18").join("state_zip.pth");
    let mut model = Model::new("r3d_18", Device::Cpu).unwrap();
    let err = model.load_weights(&file).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{msg}");
    assert!(
        msg.contains("state_zip.pth") && msg.contains("r3d_18"),
        "{msg}"
    );
    // mc3's stages 2–4 use 1×3×3 convs where r3d has 3×3×3.
    assert!(
        msg.contains("shape mismatch for layer2.0.conv1.0.weight"),
        "{msg}"
    );
    let r2 = model_fixture("r2plus1d_18").join("state_zip.pth");
    let msg = model.load_weights(&r2).unwrap_err().to_string();
    assert!(msg.contains("missing key layer1.0.conv1.0.weight"), "{msg}");
    assert!(
        msg.contains("unexpected key layer1.0.conv1.0.0.weight"),
        "{msg}"
    );
}

#[test]
fn truncated_and_foreign_weight_files_are_errors() {
    let src = model_fixture("r3d_18");
    let tmp = tempfile::tempdir().unwrap();
    for file in ["state_zip.pth", "state_legacy.pth", "state.safetensors"] {
        let bytes = std::fs::read(common::weights(&src, file)).unwrap();
        let cut = tmp.path().join(format!("cut-{file}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let mut model = Model::new("r3d_18", Device::Cpu).unwrap();
        let msg = model.load_weights(&cut).unwrap_err().to_string();
        assert!(msg.contains(&format!("cut-{file}")), "{msg}");
    }
    let text = tmp.path().join("notes.pth");
    std::fs::write(&text, "not a checkpoint").unwrap();
    let mut model = Model::new("r3d_18", Device::Cpu).unwrap();
    let msg = model.load_weights(&text).unwrap_err().to_string();
    assert!(
        msg.contains("notes.pth") && msg.contains("not a readable"),
        "{msg}"
    );
}

#[test]
fn batch_of_four_equals_one_at_a_time() {
    let model = loaded("r3d_18", "state_zip.pth");
    let input = read_npy(&model_fixture("r3d_18").join("input.npy"));
    let four = Tensor::cat(&[&input, &input.flip([0])], 0);
    let batch = tch::no_grad(|| model.forward(&four)).unwrap();
    let batch_scores = fast_scores(&batch.logits, &batch.features).unwrap();
    for i in 0..4 {
        let one = tch::no_grad(|| model.forward(&four.narrow(0, i, 1))).unwrap();
        assert!(rel_err(&batch.logits.narrow(0, i, 1), &one.logits) <= 1e-5);
        let s = fast_scores(&one.logits, &one.features).unwrap().remove(0);
        for (score, v) in s.values() {
            let b = batch_scores[i as usize].get(score).unwrap();
            assert!(close(b, v.unwrap(), 1e-4), "{score}: {b} vs {v:?}");
        }
    }
}

#[test]
fn wrong_input_shape_is_an_error_not_a_panic() {
    let model = Model::new("r3d_18", Device::Cpu).unwrap();
    let xs = Tensor::zeros([1, 4, 8, 32, 32], (tch::Kind::Float, Device::Cpu));
    let err = model.forward(&xs).unwrap_err().to_string();
    assert!(
        err.contains("r3d_18") && err.contains("[1, 4, 8, 32, 32]"),
        "{err}"
    );
}

fn load_r3d_18(weights: PathBuf) -> Result<Model, Error> {
    let request = models::ModelRequest {
        arch: models::Arch::Registry(models::spec("r3d_18").unwrap()),
        weights: weights.into(),
        weights_key: None,
        labels: None,
    };
    Model::load(&request, Device::Cpu)
}

/// A NaN in `fc.bias` (every key and shape right, legacy format) used to load and give an
/// arbitrary top-5 with rows marked ok; it is refused, naming the file and the tensor.
#[test]
fn nan_in_a_bias_is_refused() {
    let file = common::weight_variants().join("nan_bias.pth");
    let err = load_r3d_18(file).err().expect("NaN weights loaded");
    let msg = err.to_string();
    assert!(matches!(err, Error::Weights { .. }), "{msg}");
    assert!(
        msg.contains("nan_bias.pth")
            && msg.contains("non-finite values in fc.bias (1 NaN, 0 infinite, of 400 values)"),
        "{msg}"
    );
}

/// int64 tensors where float parameters belong used to be cast silently; both are listed.
#[test]
fn int64_tensors_are_refused() {
    let file = common::weight_variants().join("int64.pth");
    let err = load_r3d_18(file).err().expect("int64 weights loaded");
    let msg = err.to_string();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{msg}");
    for key in ["fc.weight", "layer1.0.conv1.0.weight"] {
        assert!(
            msg.contains(&format!(
                "dtype mismatch for {key}: model Float, file Int64 (a non-float tensor where a float parameter belongs)"
            )),
            "{msg}"
        );
    }
    assert!(msg.contains("int64.pth") && msg.contains("r3d_18"), "{msg}");
}
