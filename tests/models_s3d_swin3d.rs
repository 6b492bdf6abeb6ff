//! Parity of the S3D and Swin3D T/S/B ports with torchvision (fixtures from
//! `tests/py/model_fixture.py`: seeded non-trivial weights saved as torchvision publishes them,
//! one input, the reference logits, features, parameter names and full-model GradTrust).
//!
//! Sizes: S3D at its minimum 13×209×209 and at 24×256×256 (a 2×2 map of classifier
//! positions); Swin3D-T at its 32×224×224 preset and at 19×90×90 (patch padding in T, H and
//! W, odd grids for patch merging, a temporal shift with window padding, clamped windows in
//! the last stages); Swin3D-S and -B at 5×100×100 (temporal window clamped to 3 tokens with
//! no temporal shift while H and W shift and pad).
mod common;

use std::path::PathBuf;

use common::{gradtrust_agrees, head_reproduces_logits, loaded, read_json, read_npy, rel_err};
use gradtrust_video::models::{self, s3d, Architecture, Model};
use gradtrust_video::Error;
use tch::{Device, Kind, Tensor};

const ALL_FORMATS: &[&str] = &[
    "state_zip.pth",
    "state_legacy.pth",
    "state_legacy_no_nbt.pth",
    "state.safetensors",
];
const ZIP: &[&str] = &["state_zip.pth"];

/// The reference fixture for `name` on a `batch`×3×`frames`×`size`×`size` input.
fn fixture(name: &str, batch: u32, frames: u32, size: u32) -> PathBuf {
    common::model_fixture(name, batch, frames, size)
}

/// Logits and features within 1e-4 of torchvision for each weight file format given; returns
/// the model loaded from the last one and its forward.
fn parity(name: &str, dir: &std::path::Path, formats: &[&str]) -> (Model, models::Forward) {
    let input = read_npy(&dir.join("input.npy"));
    let want_logits = read_npy(&dir.join("logits.npy"));
    let want_features = read_npy(&dir.join("features.npy"));
    let mut last = None;
    for file in formats {
        let model = loaded(name, dir, file);
        let got = tch::no_grad(|| model.forward(&input)).unwrap();
        let el = rel_err(&got.logits, &want_logits);
        let ef = rel_err(&got.features, &want_features);
        eprintln!(
            "{name} {:?} {file}: logits rel err {el:.2e}, features rel err {ef:.2e}",
            input.size()
        );
        assert!(el <= 1e-4, "{name} {file}: logits rel err {el}");
        assert!(ef <= 1e-4, "{name} {file}: features rel err {ef}");
        last = Some((model, got));
    }
    last.unwrap()
}

/// Parameter names in torchvision's `named_parameters()` order, and the count (fixture and
/// models.md).
fn parameter_order(name: &str, dir: &std::path::Path) {
    let meta = read_json(&dir.join("meta.json"));
    let model = Model::new(name, Device::Cpu).unwrap();
    let got: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = serde_json::from_value(meta["param_names"].clone()).unwrap();
    assert_eq!(
        got, want,
        "{name}: parameter order differs from torchvision"
    );
    assert_eq!(model.num_params(), meta["num_params"].as_u64().unwrap());
    assert_eq!(model.num_params(), common::published(name).0);
    let classifier = model.classifier();
    assert_eq!(
        classifier.weight.size(),
        [
            meta["num_classes"].as_i64().unwrap(),
            meta["feature_dim"].as_i64().unwrap()
        ]
    );
    eprintln!(
        "{name}: {} parameters, order as torchvision",
        model.num_params()
    );
}

#[test]
fn s3d_parity_at_minimum_size() {
    let dir = fixture("s3d", 2, 13, 209);
    let (model, fwd) = parity("s3d", &dir, ALL_FORMATS);
    parameter_order("s3d", &dir);
    gradtrust_agrees("s3d", &dir, &model, &fwd);
    head_reproduces_logits("s3d", &model, &fwd);
    // The head starts from the pooled map before dropout: [B, 1024, 1, 1, 1] here.
    assert_eq!(fwd.head_input.size(), [2, 1024, 1, 1, 1]);
    assert_eq!(model.head_dropout(), Some(0.2));
    let mut masks = gradtrust_video::models::dropout::DropoutMasks::new(&[0, 1], 1);
    let dropped = tch::no_grad(|| model.head(&fwd.head_input, Some(&mut masks))).unwrap();
    assert_eq!(dropped.size(), [2, 400]);
    assert!(
        rel_err(&dropped, &fwd.logits) > 1e-3,
        "dropout changed nothing"
    );
}

#[test]
fn s3d_parity_at_larger_size() {
    let dir = fixture("s3d", 1, 24, 256);
    let (model, fwd) = parity("s3d", &dir, ZIP);
    // A 2×2×2 map of classifier positions: the features are their mean.
    assert_eq!(fwd.head_input.size(), [1, 1024, 2, 2, 2]);
    let mean = fwd.head_input.mean_dim(&[2i64, 3, 4][..], false, None);
    assert!(rel_err(&fwd.features, &mean) <= 1e-6);
    gradtrust_agrees("s3d", &dir, &model, &fwd);
    head_reproduces_logits("s3d", &model, &fwd);
}

/// `min_input` is the smallest size the network runs at: one less in T or in H/W fails inside
/// the forward (as an error: the network's own ops are fallible), and `Model` refuses it first.
#[test]
fn s3d_minimum_input_is_tight() {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let net = s3d::S3d::new(&vs.root(), &s3d::Config::s3d());
    let run = |t: i64, s: i64| {
        let xs = Tensor::zeros([1, 3, t, s, s], (Kind::Float, Device::Cpu));
        tch::no_grad(|| net.forward(&xs))
    };
    assert!(run(13, 209).is_ok());
    assert!(run(12, 209).is_err());
    assert!(run(13, 208).is_err());
    assert_eq!(models::spec("s3d").unwrap().min_input, [13, 209, 209]);
    let model = Model::new("s3d", Device::Cpu).unwrap();
    let xs = Tensor::zeros([1, 3, 12, 224, 224], (Kind::Float, Device::Cpu));
    let err = model.forward(&xs).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InputShape { .. }), "{msg}");
    assert!(
        msg.contains("s3d") && msg.contains("T ≥ 13") && msg.contains("H ≥ 209"),
        "{msg}"
    );
}

#[test]
fn swin3d_t_parity_at_preset_size() {
    let dir = fixture("swin3d_t", 1, 32, 224);
    let (model, fwd) = parity("swin3d_t", &dir, ZIP);
    gradtrust_agrees("swin3d_t", &dir, &model, &fwd);
}

#[test]
fn swin3d_t_parity_with_padding_clamping_and_shift() {
    let dir = fixture("swin3d_t", 2, 19, 90);
    let (model, fwd) = parity("swin3d_t", &dir, ALL_FORMATS);
    parameter_order("swin3d_t", &dir);
    gradtrust_agrees("swin3d_t", &dir, &model, &fwd);
    head_reproduces_logits("swin3d_t", &model, &fwd);
    assert_eq!(model.head_dropout(), None);
    assert_eq!(fwd.features.size(), [2, 768]);
}

#[test]
fn swin3d_s_parity_with_clamped_temporal_window() {
    let dir = fixture("swin3d_s", 2, 5, 100);
    let (model, fwd) = parity("swin3d_s", &dir, ZIP);
    parameter_order("swin3d_s", &dir);
    gradtrust_agrees("swin3d_s", &dir, &model, &fwd);
}

#[test]
fn swin3d_b_parity_with_clamped_temporal_window() {
    let dir = fixture("swin3d_b", 1, 5, 100);
    let (model, fwd) = parity("swin3d_b", &dir, ZIP);
    parameter_order("swin3d_b", &dir);
    gradtrust_agrees("swin3d_b", &dir, &model, &fwd);
    assert_eq!(fwd.features.size(), [1, 1024]);
    assert_eq!(
        models::spec("swin3d_b").unwrap().weight_file,
        "swin3d_b_1k-24f7c7c6.pth"
    );
}

/// Swin3D-T's file into Swin3D-S: S's third stage has 18 blocks where T has 6, so blocks
/// 6–17 are missing, each key listed.
#[test]
fn swin3d_t_weights_into_swin3d_s_list_every_missing_key() {
    let file = fixture("swin3d_t", 2, 19, 90).join("state_zip.pth");
    let mut model = Model::new("swin3d_s", Device::Cpu).unwrap();
    let err = model.load_weights(&file).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{msg}");
    assert!(
        msg.contains("state_zip.pth") && msg.contains("swin3d_s"),
        "{msg}"
    );
    for key in [
        "features.4.6.norm1.weight",
        "features.4.6.attn.relative_position_index",
        "features.4.17.mlp.3.bias",
    ] {
        assert!(msg.contains(&format!("missing key {key}")), "{key}: {msg}");
    }
    // 12 blocks × (13 parameters + 1 index buffer).
    assert_eq!(msg.matches("missing key").count(), 12 * 14, "{msg}");
    assert!(!msg.contains("unexpected key"), "{msg}");
}

/// The relative position index is an int64 buffer, loaded as such and not a parameter.
#[test]
fn swin3d_relative_position_index_is_an_int64_buffer() {
    let model = Model::new("swin3d_t", Device::Cpu).unwrap();
    let vars = model.var_store().unwrap().variables();
    let index = &vars["features.0.0.attn.relative_position_index"];
    assert_eq!(index.kind(), Kind::Int64);
    assert_eq!(index.size(), [392, 392]);
    assert_eq!(index.int64_value(&[0, 0]), 2535 / 2);
    assert!(model
        .parameters()
        .iter()
        .all(|(name, _)| !name.ends_with("relative_position_index")));
}
