//! Parity of the ImageNet transformer-family ports (convnext_tiny, swin_v2_t, vit_b_16, swin_b,
//! maxvit_t) with torchvision, run as single-frame clips `[1, 3, 1, H, W]` at each model's
//! preset crop (224; swin_v2_t 256). Fixtures from `tests/py/image_model_fixture.py`: seeded
//! non-trivial weights (including layer scales, class token, position tables, Swin V2 logit
//! scales above the clamp and a live continuous-position-bias MLP) saved as torchvision
//! publishes them, one input, the reference logits, features (the final Linear's input),
//! parameter names and full-model GradTrust.
mod common;

use std::path::Path;

use common::{
    gradtrust_agrees, head_reproduces_logits, image_fixture, loaded, read_json, read_npy, rel_err,
};
use gradtrust_video::models::{self, InputKind, Model};
use gradtrust_video::scores::engine::score_batch;
use gradtrust_video::scores::{ScoreOptions, ScoreSet};
use gradtrust_video::Error;
use tch::{Device, Kind, Tensor};

/// Logits and features within 1e-4 of torchvision for each weight file given; returns the
/// model loaded from the last one and its forward.
fn parity(name: &str, dir: &Path, files: &[&str]) -> (Model, models::Forward) {
    let input = read_npy(&dir.join("input.npy"));
    let want_logits = read_npy(&dir.join("logits.npy"));
    let want_features = read_npy(&dir.join("features.npy"));
    let mut last = None;
    for file in files {
        let model = loaded(name, dir, file);
        let start = std::time::Instant::now();
        let got = tch::no_grad(|| model.forward(&input)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let el = rel_err(&got.logits, &want_logits);
        let ef = rel_err(&got.features, &want_features);
        eprintln!(
            "{name} {:?} {file}: logits rel err {el:.2e}, features rel err {ef:.2e}, forward {secs:.2} s",
            input.size()
        );
        assert!(el <= 1e-4, "{name} {file}: logits rel err {el}");
        assert!(ef <= 1e-4, "{name} {file}: features rel err {ef}");
        last = Some((model, got));
    }
    last.unwrap()
}

/// Parameter names in torchvision's `named_parameters()` order, the count (fixture and the
/// registry), the classifier's shape and bias, the registry's facts.
fn parameter_order(name: &str, dir: &Path, model: &Model) {
    let meta = read_json(&dir.join("meta.json"));
    let got: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = serde_json::from_value(meta["param_names"].clone()).unwrap();
    if got != want {
        let first = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{name}: parameter order differs from torchvision at {first}: got {:?}, want {:?} \
             ({} vs {} parameters)",
            got.get(first),
            want.get(first),
            got.len(),
            want.len()
        );
    }
    let spec = models::spec(name).unwrap();
    assert_eq!(model.num_params(), meta["num_params"].as_u64().unwrap());
    assert_eq!(model.num_params(), common::published(name).0);
    let classifier = model.classifier();
    let shape = [
        meta["num_classes"].as_i64().unwrap(),
        meta["feature_dim"].as_i64().unwrap(),
    ];
    assert_eq!(classifier.weight.size(), shape);
    assert_eq!(common::published(name).1, shape);
    assert_eq!(
        spec.classifier_key,
        meta["classifier_param"].as_str().unwrap()
    );
    assert_eq!(
        classifier.bias.is_some(),
        meta["has_bias"].as_bool().unwrap()
    );
    assert_eq!(spec.input, InputKind::Image);
    assert_eq!(spec.num_classes(), 1000);
    assert_eq!(model.head_dropout(), None, "{name}: no dropout in the head");
    eprintln!(
        "{name}: {} parameters, order as torchvision",
        model.num_params()
    );
}

/// Every score of the suite on the fixture's one image: all present and finite.
fn every_score_runs(name: &str, dir: &Path, model: &Model) {
    let input = read_npy(&dir.join("input.npy"));
    // One video made of the whole batch of one.
    let whole = 0..input.size()[0] as usize;
    let videos = std::slice::from_ref(&whole);
    let start = std::time::Instant::now();
    let scored = score_batch(
        model,
        &input,
        videos,
        &ScoreSet::all(),
        &ScoreOptions::default(),
    )
    .unwrap();
    let rows = scored
        .clips
        .iter()
        .chain(scored.videos.iter().map(|(_, s)| s));
    for scores in rows {
        for (score, value) in scores.values() {
            let v =
                value.unwrap_or_else(|| panic!("{name}: {score:?} missing ({:?})", scores.notes()));
            assert!(v.is_finite(), "{name}: {score:?} = {v}");
        }
    }
    eprintln!(
        "{name}: {} scores finite in {:.1} s",
        scored.clips[0].len(),
        start.elapsed().as_secs_f64()
    );
}

/// A wrong input size is an `InputShape` error naming the model, never a panic.
fn wrong_size_is_an_error(name: &str, size: i64, batch_ok: bool) {
    let model = Model::new(name, Device::Cpu).unwrap();
    let zeros = |dims: &[i64]| Tensor::zeros(dims, (Kind::Float, Device::Cpu));
    let mut bad = vec![
        zeros(&[1, 3, 2, size, size]), // two frames
        zeros(&[1, 3, size, size]),    // not a clip
    ];
    if !batch_ok {
        bad.push(zeros(&[1, 3, 1, size + 16, size + 16]));
        bad.push(zeros(&[1, 3, 1, size, size - 1]));
    }
    for xs in bad {
        let shape = xs.size();
        let err = tch::no_grad(|| model.forward(&xs)).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, Error::InputShape { .. }),
            "{name} {shape:?}: {msg}"
        );
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn vit_b_16_parity_scores_and_legacy_format() {
    let name = "vit_b_16";
    let dir = image_fixture(name, 224);
    let (model, fwd) = parity(name, &dir, &["state_zip.pth", "state_legacy.pth"]);
    parameter_order(name, &dir, &model);
    gradtrust_agrees(name, &dir, &model, &fwd);
    head_reproduces_logits(name, &model, &fwd);
    assert_eq!(fwd.features.size(), [1, 768]);
    every_score_runs(name, &dir, &model);
    wrong_size_is_an_error(name, 224, false);
    let spec = models::spec(name).unwrap();
    assert_eq!(spec.input_note, Some("exactly 224×224"));
    assert_eq!(spec.weight_file, "vit_b_16-c867db91.pth");
    let preset = (spec.preset)();
    assert_eq!(preset.crop, (224, 224));
}

#[test]
fn maxvit_t_parity_scores_without_classifier_bias() {
    let name = "maxvit_t";
    let dir = image_fixture(name, 224);
    let (model, fwd) = parity(name, &dir, &["state_zip.pth"]);
    parameter_order(name, &dir, &model);
    assert!(model.classifier().bias.is_none());
    gradtrust_agrees(name, &dir, &model, &fwd);
    head_reproduces_logits(name, &model, &fwd);
    // The features are the tanh output that feeds the bias-free Linear.
    assert!(fwd.features.abs().max().double_value(&[]) <= 1.0);
    every_score_runs(name, &dir, &model);
    wrong_size_is_an_error(name, 224, false);
    assert_eq!(
        models::spec(name).unwrap().input_note,
        Some("exactly 224×224")
    );
}

#[test]
fn convnext_tiny_parity() {
    let name = "convnext_tiny";
    let dir = image_fixture(name, 224);
    let (model, fwd) = parity(name, &dir, &["state_zip.pth"]);
    parameter_order(name, &dir, &model);
    gradtrust_agrees(name, &dir, &model, &fwd);
    head_reproduces_logits(name, &model, &fwd);
    wrong_size_is_an_error(name, 224, true);
    // The smallest size runs (a 1×1 map before the pool); one pixel less is refused.
    let small = Tensor::zeros([1, 3, 1, 32, 32], (Kind::Float, Device::Cpu));
    assert_eq!(
        tch::no_grad(|| model.forward(&small))
            .unwrap()
            .logits
            .size(),
        [1, 1000]
    );
    let smaller = Tensor::zeros([1, 3, 1, 31, 40], (Kind::Float, Device::Cpu));
    assert!(matches!(
        tch::no_grad(|| model.forward(&smaller)),
        Err(Error::InputShape { .. })
    ));
}

#[test]
fn swin_b_parity() {
    let name = "swin_b";
    let dir = image_fixture(name, 224);
    let (model, fwd) = parity(name, &dir, &["state_zip.pth"]);
    parameter_order(name, &dir, &model);
    gradtrust_agrees(name, &dir, &model, &fwd);
    head_reproduces_logits(name, &model, &fwd);
    assert_eq!(fwd.features.size(), [1, 1024]);
    wrong_size_is_an_error(name, 224, true);
}

#[test]
fn swin_v2_t_parity_at_256() {
    let name = "swin_v2_t";
    let dir = image_fixture(name, 256);
    let (model, fwd) = parity(name, &dir, &["state_zip.pth"]);
    parameter_order(name, &dir, &model);
    gradtrust_agrees(name, &dir, &model, &fwd);
    head_reproduces_logits(name, &model, &fwd);
    let meta = read_json(&dir.join("meta.json"));
    let buffers: Vec<String> = serde_json::from_value(meta["buffer_keys"].clone()).unwrap();
    assert!(buffers.contains(&"features.1.0.attn.relative_coords_table".to_string()));
    // Any size runs: padding to the window, odd grids for patch merging.
    let odd = Tensor::zeros([1, 3, 1, 100, 75], (Kind::Float, Device::Cpu));
    assert_eq!(
        tch::no_grad(|| model.forward(&odd)).unwrap().logits.size(),
        [1, 1000]
    );
    wrong_size_is_an_error(name, 256, true);
}

/// Off the preset: at 100×100 the token grids are 25, 13, 7, 4, so every stage pads to the
/// 8-token window, the shifted blocks of the first two stages mask a padded grid, the last
/// two drop the shift, and the merges see odd grids.
#[test]
fn swin_v2_t_parity_with_window_padding() {
    let name = "swin_v2_t";
    let dir = image_fixture(name, 100);
    let (model, fwd) = parity(name, &dir, &["state_zip.pth"]);
    gradtrust_agrees(name, &dir, &model, &fwd);
    head_reproduces_logits(name, &model, &fwd);
}
