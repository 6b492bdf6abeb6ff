//! Parity of the MViT ports (mvit_v1_b, mvit_v2_s) with torchvision at their fixed
//! 16×224×224 input. One fixture per model (tests/py/model_fixture.py, batch 1, seed 0:
//! randomized LayerNorms, biases and classifier, saved as torchvision publishes weights),
//! shared by every test of this file through `cached_fixture`.
mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{close, read_json, read_npy, rel_err};
use gradtrust_video::models::Model;
use gradtrust_video::scores::closed_form::fast_scores;
use gradtrust_video::scores::gradtrust_autograd::gradtrust_autograd;
use gradtrust_video::scores::ScoreName;
use gradtrust_video::Error;
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    common::model_fixture(name, 1, 16, 224)
}

fn loaded(name: &str, file: &str) -> Model {
    common::loaded(name, &fixture(name), file)
}

/// Logits and features equal torchvision's for each weight file, then the dropout head of
/// the model contract on the forward's own head input.
fn parity(name: &str, files: &[&str]) {
    let dir = fixture(name);
    let input = read_npy(&dir.join("input.npy"));
    assert_eq!(input.size(), [1, 3, 16, 224, 224]);
    let want_logits = read_npy(&dir.join("logits.npy"));
    let want_features = read_npy(&dir.join("features.npy"));
    for file in files {
        let model = loaded(name, file);
        let start = Instant::now();
        let got = tch::no_grad(|| model.forward(&input)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let el = rel_err(&got.logits, &want_logits);
        let ef = rel_err(&got.features, &want_features);
        eprintln!(
            "{name} {file}: logits rel err {el:.2e}, features rel err {ef:.2e}, forward {secs:.2} s"
        );
        assert!(el <= 1e-4, "{name} {file}: logits rel err {el}");
        assert!(ef <= 1e-4, "{name} {file}: features rel err {ef}");
        assert_eq!(got.features.size(), [1, 768]);

        // head = Sequential(Dropout(0.5), Linear(768, 400)) on the class token.
        assert_eq!(model.head_dropout(), Some(0.5));
        assert_eq!(got.head_input.size(), got.features.size());
        let plain = tch::no_grad(|| model.head(&got.head_input, None)).unwrap();
        let e = rel_err(&plain, &got.logits);
        assert!(
            e <= 1e-6,
            "{name}: head without dropout differs from logits: {e}"
        );
        let rows = got.head_input.size()[0] as usize;
        let mut masks = gradtrust_video::models::dropout::DropoutMasks::new(&vec![0; rows], 1);
        let dropped = tch::no_grad(|| model.head(&got.head_input, Some(&mut masks))).unwrap();
        let diff = rel_err(&dropped, &got.logits);
        assert!(
            diff > 1e-3,
            "{name}: head with dropout equals the logits ({diff})"
        );
    }
}

#[test]
fn mvit_v1_b_parity_zip_and_legacy() {
    parity("mvit_v1_b", &["state_zip.pth", "state_legacy.pth"]);
}

#[test]
fn mvit_v2_s_parity() {
    parity("mvit_v2_s", &["state_zip.pth"]);
}

/// Parameter names in torchvision's `named_parameters()` order (relative-position tables and
/// positional embeddings before their module's children), and the counts of models.md.
#[test]
fn parameter_names_order_and_counts() {
    for (name, count) in [("mvit_v1_b", 36_610_672u64), ("mvit_v2_s", 34_537_744)] {
        let meta = read_json(&fixture(name).join("meta.json"));
        let model = Model::new(name, Device::Cpu).unwrap();
        let got: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
        let want: Vec<String> = serde_json::from_value(meta["param_names"].clone()).unwrap();
        assert_eq!(
            got, want,
            "{name}: parameter order differs from torchvision"
        );
        assert_eq!(model.num_params(), meta["num_params"].as_u64().unwrap());
        assert_eq!(model.num_params(), count, "{name}");
        assert_eq!(common::published(name).0, count, "{name}");
        // Every state_dict key is a variable (MViT has no buffers).
        let mut keys: Vec<String> = serde_json::from_value(meta["state_keys"].clone()).unwrap();
        let mut vars: Vec<String> = model.var_store().unwrap().variables().into_keys().collect();
        keys.sort();
        vars.sort();
        assert_eq!(vars, keys, "{name}: state_dict keys differ");
    }
}

/// Closed-form GradTrust equals the autograd one through the head (1e-5) and the reference's
/// full-model backward (1e-4); the other fast scores equal the Python reference.
#[test]
fn scores_closed_form_equals_autograd_and_reference() {
    for name in ["mvit_v1_b", "mvit_v2_s"] {
        let dir = fixture(name);
        let logits = read_npy(&dir.join("logits.npy"));
        let features = read_npy(&dir.join("features.npy"));
        let reference = read_json(&dir.join("scores.json"));
        let model = loaded(name, "state_zip.pth");
        let rust = fast_scores(&logits, &features).unwrap();
        let auto = gradtrust_autograd(&model.classifier(), &features).unwrap();
        for (i, sample) in rust.iter().enumerate() {
            let closed = sample.get(ScoreName::GradTrust).unwrap();
            let a = auto[i].unwrap();
            assert!(
                close(closed, a, 1e-5),
                "{name}: closed {closed} autograd {a}"
            );
            let want = &reference["samples"][i];
            let full = want["gradtrust_autograd_full"].as_f64().unwrap();
            assert!(
                close(closed, full, 1e-4),
                "{name}: closed {closed} full {full}"
            );
            eprintln!("{name}: gradtrust closed {closed:.6} autograd {a:.6} full-model {full:.6}");
            for (score, value) in sample.values() {
                let w = want[score.as_str()].as_f64().unwrap();
                let g = value.unwrap();
                assert!(close(g, w, 1e-4), "{name} {score}: rust {g} python {w}");
            }
        }
    }
}

/// MViT takes exactly [B, 3, 16, 224, 224]: larger clips pass the registry's minimum check,
/// so the network's own check must catch them; nothing may reach libtorch.
#[test]
fn wrong_input_size_is_an_error_not_a_panic() {
    for name in ["mvit_v1_b", "mvit_v2_s"] {
        let model = Model::new(name, Device::Cpu).unwrap();
        for shape in [
            vec![1, 3, 32, 224, 224],
            vec![1, 3, 16, 256, 256],
            vec![2, 3, 16, 224, 320],
            vec![1, 3, 8, 224, 224],
            vec![1, 3, 16, 112, 112],
            vec![1, 4, 16, 224, 224],
            vec![0, 3, 16, 224, 224],
            vec![3, 16, 224, 224],
        ] {
            let xs = Tensor::zeros(&shape[..], (Kind::Float, Device::Cpu));
            let err = model.forward(&xs).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::InputShape { .. }), "{msg}");
            let got = format!("{shape:?}");
            assert!(msg.contains(name) && msg.contains(&got), "{msg}");
            assert!(msg.contains("16") && msg.contains("224"), "{msg}");
        }
    }
    // The message says what to give.
    let model = Model::new("mvit_v2_s", Device::Cpu).unwrap();
    let xs = Tensor::zeros([1, 3, 32, 224, 224], (Kind::Float, Device::Cpu));
    let msg = model.forward(&xs).unwrap_err().to_string();
    assert!(msg.contains("exactly 16 frames of 224×224"), "{msg}");
    eprintln!("{msg}");
}

#[test]
fn mvit_v1_b_weights_into_mvit_v2_s_list_every_problem() {
    let file = fixture("mvit_v1_b").join("state_zip.pth");
    let mut model = Model::new("mvit_v2_s", Device::Cpu).unwrap();
    let err = model.load_weights(&file).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::WeightsMismatch { .. }), "{msg}");
    assert!(
        msg.contains("state_zip.pth") && msg.contains("mvit_v2_s"),
        "{msg}"
    );
    for problem in [
        // v2's relative position tables and residual-pooled queries are not in v1.
        "missing key blocks.0.attn.rel_pos_h",
        "missing key blocks.0.attn.pool_q.pool.weight",
        // v1's absolute positional embeddings are not in v2.
        "unexpected key pos_encoding.spatial_pos",
        "unexpected key pos_encoding.temporal_pos",
        "unexpected key pos_encoding.class_pos",
        // v1's block 0 widens 96 → 192, v2's keeps 96.
        "shape mismatch for blocks.0.mlp.3.weight",
        "unexpected key blocks.0.project.weight",
    ] {
        assert!(msg.contains(problem), "{problem} not in:\n{msg}");
    }
}
