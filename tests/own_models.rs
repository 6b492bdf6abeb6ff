//! Users' own models: fine-tuned torchvision architectures with any class count, saved as
//! training scripts save them; label files; TorchScript modules. Parity with torchvision and
//! with the independent reference in tests/py/own_model_fixture.py.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{read_json, read_npy, rel_err};
use gradtrust_video::labels::Labels;
use gradtrust_video::models::{self, Arch, Model, ModelRequest};
use gradtrust_video::scores::closed_form::fast_scores;
use gradtrust_video::scores::engine::score_batch;
use gradtrust_video::scores::{SampleScores, ScoreName, ScoreOptions, ScoreSet};
use tch::{Device, Tensor};

/// A fixture of own_model_fixture.py ([`common::own_model_fixture`]).
fn fixture(args: &[&str]) -> PathBuf {
    common::own_model_fixture(args)
}

fn request(arch: Arch, weights: PathBuf) -> ModelRequest {
    ModelRequest {
        arch,
        weights: weights.into(),
        weights_key: None,
        labels: None,
    }
}

fn registry(name: &str, weights: PathBuf) -> ModelRequest {
    request(Arch::Registry(models::spec(name).unwrap()), weights)
}

fn torchscript(preset: &str, weights: PathBuf) -> ModelRequest {
    request(
        Arch::TorchScript {
            preset: preset.into(),
            classifier: None,
        },
        weights,
    )
}

fn rows(v: &serde_json::Value) -> Tensor {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let n = rows[0].len() as i64;
    let flat: Vec<f32> = rows.concat();
    Tensor::from_slice(&flat).view([rows.len() as i64, n])
}

/// Every requested score of `got` equals `want` (1e-4 relative; ODIN 1e-4 absolute, as in
/// scores_suite.rs: at T = 100 every value is close to 1/N). A reference `null` must be a
/// missing score.
fn scores_agree(what: &str, got: &SampleScores, want: &serde_json::Value) {
    for name in ScoreName::ALL {
        let w = want[name.as_str()].as_f64();
        let g = got.get(name);
        match (g, w) {
            (Some(g), Some(w)) if name == ScoreName::Odin => {
                assert!((g - w).abs() <= 1e-4, "{what} {name}: {g} vs {w}")
            }
            (Some(g), Some(w)) => assert!(
                common::close(g, w, 1e-4),
                "{what} {name}: rust {g} python {w}"
            ),
            (None, None) => {}
            (g, w) => panic!("{what} {name}: rust {g:?} python {w:?} ({:?})", got.notes()),
        }
    }
}

fn all_scores(model: &Model, input: &Tensor) -> gradtrust_video::scores::engine::Scored {
    let rows = input.size()[0] as usize;
    score_batch(
        model,
        input,
        &[0..rows],
        &ScoreSet::all(),
        &ScoreOptions::default(),
    )
    .unwrap()
}

/// A fine-tuned architecture with N classes loads from all four checkpoint forms with its
/// N read from the classifier tensor; logits and features equal torchvision's, and every
/// score equals the reference.
fn finetuned(name: &str, classes: usize, size: &str) {
    let n = classes.to_string();
    let dir = fixture(&[
        "finetuned",
        "--model",
        name,
        "--classes",
        &n,
        "--size",
        size,
    ]);
    let reference = read_json(&dir.join("reference.json"));
    let input = read_npy(&dir.join("input.npy"));
    let want_logits = rows(&reference["logits"]);
    let want_features = rows(&reference["features"]);
    for form in [
        "state_bare.pth",
        "state_ckpt.pth",
        "state_ddp.pth",
        "state_lightning.pth",
    ] {
        let model = Model::load(&registry(name, dir.join(form)), Device::Cpu)
            .unwrap_or_else(|e| panic!("{name} {form}: {e}"));
        assert_eq!(model.num_classes(), classes, "{name} {form}");
        assert_eq!(model.labels().name(1), Some("class_1"));
        assert!(
            model.info().notes.iter().any(|n| n.contains("class_0")),
            "{:?}",
            model.info().notes
        );
        let fwd = tch::no_grad(|| model.forward(&input)).unwrap();
        let (el, ef) = (
            rel_err(&fwd.logits, &want_logits),
            rel_err(&fwd.features, &want_features),
        );
        eprintln!("{name} N={classes} {form}: logits rel err {el:.2e}, features {ef:.2e}");
        assert!(el <= 1e-4 && ef <= 1e-4, "{name} {form}: {el} {ef}");
    }
    let model = Model::load(&registry(name, dir.join("state_bare.pth")), Device::Cpu).unwrap();
    let mut scored = all_scores(&model, &input);
    // The closed forms are compared on the reference's own logits and features (its
    // batch-of-one forwards differ from the batched one in the last bits, which a nearly
    // one-hot softmax magnifies in entropy); the logits themselves were compared above.
    let video_logits = want_logits.mean_dim(&[0i64][..], true, None);
    let video_features = want_features.mean_dim(&[0i64][..], true, None);
    let on_reference = fast_scores(&want_logits, &want_features)
        .unwrap()
        .into_iter()
        .chain(fast_scores(&video_logits, &video_features).unwrap());
    // Without head dropout MC-Dropout is a function of the logits alone, as ill-conditioned
    // for a confident prediction as DOCTOR: compared on the reference's logits too.
    let mean_probs = |z: &Tensor| {
        gradtrust_video::scores::mc_dropout::score_of_mean_probs(&z.softmax(1, tch::Kind::Double))
            .unwrap()
    };
    let no_dropout = model.head_dropout().is_none();
    let mc = mean_probs(&want_logits)
        .into_iter()
        .chain(mean_probs(&video_logits));
    let engine = scored
        .clips
        .iter_mut()
        .chain(std::iter::once(&mut scored.videos[0].1));
    for ((s, closed), mc) in engine.zip(on_reference).zip(mc) {
        for (score, value) in closed.values() {
            s.set(score, value, "");
        }
        if no_dropout {
            s.set(ScoreName::McDropout, Some(mc), "");
        }
    }
    for (i, s) in scored.clips.iter().enumerate() {
        scores_agree(&format!("{name} clip {i}"), s, &reference["samples"][i]);
    }
    scores_agree(
        &format!("{name} video"),
        &scored.videos[0].1,
        &reference["video"],
    );
}

#[test]
fn r3d_18_with_101_classes() {
    finetuned("r3d_18", 101, "32");
}

#[test]
fn swin3d_t_with_174_classes() {
    finetuned("swin3d_t", 174, "64");
}

#[test]
fn resnet50_with_10_classes() {
    finetuned("resnet50", 10, "64");
}

#[test]
fn checkpoint_errors_say_what_was_found() {
    let dir = fixture(&[
        "finetuned",
        "--model",
        "r3d_18",
        "--classes",
        "101",
        "--size",
        "32",
    ]);
    // The wrong architecture: no key ends in its classifier key.
    let err = Model::load(&registry("s3d", dir.join("state_ckpt.pth")), Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("classifier.1.weight"), "{err}");
    assert!(
        err.contains("top-level keys [optimizer, state_dict]"),
        "{err}"
    );
    // An explicit key that is not there.
    let mut req = registry("r3d_18", dir.join("state_ckpt.pth"));
    req.weights_key = Some("model_ema".into());
    let err = Model::load(&req, Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("weights key model_ema"), "{err}");
    req.weights_key = Some("state_dict".into());
    assert_eq!(Model::load(&req, Device::Cpu).unwrap().num_classes(), 101);
    // Labels whose count is not the checkpoint's: one error naming both files and counts.
    let labels = dir.join("ten.txt");
    std::fs::write(
        &labels,
        (0..10).map(|i| format!("c{i}\n")).collect::<String>(),
    )
    .unwrap();
    let mut req = registry("r3d_18", dir.join("state_bare.pth"));
    req.labels = Some(Labels::read(&labels).unwrap());
    let err = Model::load(&req, Device::Cpu).err().unwrap().to_string();
    assert!(
        err.contains("ten.txt has 10 class names")
            && err.contains("state_bare.pth has 101 classes"),
        "{err}"
    );
    // A TorchScript archive given to a registry model is recognised and explained.
    let ts = fixture(&["traced"]);
    // (The library says how to run it; the binary names the flags.)
    let err = Model::load(&registry("mc3_18", ts.join("traced.pt")), Device::Cpu)
        .err()
        .unwrap();
    assert_eq!(
        err.remedy(),
        Some(&gradtrust_video::error::Remedy::TorchScript)
    );
    let err = err.to_string();
    assert!(
        err.contains("TorchScript archive")
            && err.contains("run it as a TorchScript model")
            && !err.contains("--"),
        "{err}"
    );
    // And a state dict given as TorchScript.
    let err = Model::load(
        &torchscript("mc3_18", ts.join("state_zip.pth")),
        Device::Cpu,
    )
    .err()
    .unwrap();
    assert_eq!(
        err.remedy(),
        Some(&gradtrust_video::error::Remedy::Architecture)
    );
    let err = err.to_string();
    assert!(
        err.contains("not a TorchScript archive") && !err.contains("--"),
        "{err}"
    );
}

/// A traced torchvision mc3_18 scores as the native model does (every score it can compute;
/// MC-Dropout is missing with a note); a module returning (logits, features) takes the
/// closed-form path, one returning logits the gradient path, as the notes say.
#[test]
fn traced_mc3_18_equals_the_native_model() {
    let dir = fixture(&["traced"]);
    let input = read_npy(&dir.join("input.npy"));
    let native = Model::load(&registry("mc3_18", dir.join("state_zip.pth")), Device::Cpu).unwrap();
    let want = all_scores(&native, &input);
    for (file, path_note) in [
        ("traced.pt", "from real gradients"),
        ("pair.pt", "closed form on the (logits, features)"),
    ] {
        let model = Model::load(&torchscript("mc3_18", dir.join(file)), Device::Cpu).unwrap();
        assert_eq!(model.labels().name(0), Some("class_0"));
        let got = all_scores(&model, &input);
        assert!(rel_err(&got.logits, &want.logits) <= 1e-4, "{file} logits");
        let samples = got
            .clips
            .iter()
            .zip(&want.clips)
            .chain(std::iter::once((&got.videos[0].1, &want.videos[0].1)));
        for (i, (g, w)) in samples.enumerate() {
            for name in ScoreName::ALL {
                let (gv, wv) = (g.get(name), w.get(name).unwrap());
                if name == ScoreName::McDropout {
                    assert_eq!(gv, None, "{file}");
                    assert!(g.notes().iter().any(|n| n.starts_with("mc_dropout:")));
                    continue;
                }
                let gv = gv.unwrap_or_else(|| panic!("{file} {i} {name}: {:?}", g.notes()));
                let ok = if name == ScoreName::Odin {
                    (gv - wv).abs() <= 1e-4
                } else {
                    common::close(gv, wv, 1e-4)
                };
                assert!(ok, "{file} sample {i} {name}: scripted {gv} native {wv}");
            }
            assert!(
                g.notes()
                    .iter()
                    .any(|n| n.starts_with("gradtrust:") && n.contains(path_note)),
                "{file}: {:?}",
                g.notes()
            );
        }
    }
}

/// A network that is not torchvision's, scripted in the test's Python, scores as the
/// Python reference computes it (real gradients for GradTrust and GradNorm).
#[test]
fn scripted_custom_network_equals_the_reference() {
    let dir = fixture(&["custom"]);
    let reference = read_json(&dir.join("reference.json"));
    let input = read_npy(&dir.join("input.npy"));
    let model = Model::load(&torchscript("r3d_18", dir.join("scripted.pt")), Device::Cpu).unwrap();
    assert_eq!(model.info().classifier, "head.weight");
    assert_eq!(model.num_classes(), 7);
    let scored = all_scores(&model, &input);
    assert!(rel_err(&scored.logits, &rows(&reference["logits"])) <= 1e-4);
    for (i, s) in scored.clips.iter().enumerate() {
        scores_agree(&format!("custom clip {i}"), s, &reference["samples"][i]);
    }
    scores_agree("custom video", &scored.videos[0].1, &reference["video"]);
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn clip(dir: &Path) -> PathBuf {
    let path = dir.join("clip.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=15:duration=1.2",
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    path
}

/// Label files in each format name the classes in text, JSON and rows; a `path,label` list
/// written with those names runs through batch and eval; bad label files are clear errors.
#[test]
fn label_files_flow_through_score_batch_and_eval() {
    let dir = fixture(&[
        "finetuned",
        "--model",
        "r3d_18",
        "--classes",
        "101",
        "--size",
        "32",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let clip = clip(tmp.path());
    let weights = dir.join("state_ckpt.pth");
    let (w, c) = (weights.to_str().unwrap(), clip.to_str().unwrap());
    for file in ["labels.txt", "classInd.txt", "labels.json"] {
        let labels = dir.join(file);
        let l = labels.to_str().unwrap();
        let base = [
            "score",
            c,
            "--model",
            "r3d_18",
            "--weights",
            w,
            "--labels",
            l,
        ];
        let (code, json, err) = run(&[&base[..], &["--scores", "fast", "--json"]].concat());
        assert_eq!(code, 0, "{file}: {err}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let top = &v["video"]["top5"][0];
        let index = top["index"].as_u64().unwrap();
        assert_eq!(top["label"], format!("action {index}"), "{file}");
        let (code, text, err) = run(&[&base[..], &["--scores", "softmax"]].concat());
        assert_eq!(code, 0, "{err}");
        assert!(text.contains(&format!("action {index}")), "{file}: {text}");
    }
    // A batch over a path,label list written with the file's names, then eval.
    std::fs::copy(&clip, tmp.path().join("b.mp4")).unwrap();
    let list = tmp.path().join("list.csv");
    std::fs::write(
        &list,
        "path,label\nclip.mp4,action 3\nb.mp4,action 100\nc.mp4,no such action\n",
    )
    .unwrap();
    let out = tmp.path().join("rows.csv");
    let labels = dir.join("labels.txt");
    let (code, _, err) = run(&[
        "batch",
        "--list",
        list.to_str().unwrap(),
        "--model",
        "r3d_18",
        "--weights",
        w,
        "--labels",
        labels.to_str().unwrap(),
        "--clips-per-video",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "one row is an error (unknown label): {err}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(",action 3,"), "{text}");
    assert!(text.contains(",action 100,"), "{text}");
    assert!(text.contains("no such action"), "{text}");
    let report = tmp.path().join("report");
    let (code, table, err) = run(&[
        "eval",
        out.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("gradtrust"), "{table}");
    // per_class.csv names the classes as the rows do, or as `eval --labels` does.
    let per_class = std::fs::read_to_string(report.join("per_class.csv")).unwrap();
    assert!(per_class.contains(",3,action 3,"), "{per_class}");
    assert!(per_class.contains(",100,action 100,"), "{per_class}");
    let renamed = tmp.path().join("renamed.txt");
    let names: String = (0..101).map(|i| format!("renamed {i}\n")).collect();
    std::fs::write(&renamed, names).unwrap();
    let (code, _, err) = run(&[
        "eval",
        out.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
        "--labels",
        renamed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let per_class = std::fs::read_to_string(report.join("per_class.csv")).unwrap();
    assert!(per_class.contains(",3,renamed 3,"), "{per_class}");
    let short = tmp.path().join("short.txt");
    std::fs::write(&short, "a\nb\nc\n").unwrap();
    let (code, _, err) = run(&[
        "eval",
        out.to_str().unwrap(),
        "--labels",
        short.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("class index 100") && err.contains("short.txt has 3 class names"),
        "{err}"
    );

    // Bad label files: a count mismatch, a repeated name, a blank line in the middle.
    let bad = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        run(&[
            "score",
            c,
            "--model",
            "r3d_18",
            "--weights",
            w,
            "--labels",
            p.to_str().unwrap(),
            "--scores",
            "softmax",
        ])
    };
    let (code, _, err) = bad("three.txt", "a\nb\nc\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("three.txt has 3 class names") && err.contains("101 classes"),
        "{err}"
    );
    let (code, _, err) = bad("dup.txt", "a\nb\na\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("dup.txt") && err.contains("appears twice"),
        "{err}"
    );
    let (code, _, err) = bad("blank.txt", "a\n\nb\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("blank.txt") && err.contains("line 2 is blank"),
        "{err}"
    );
    // A trailing newline (or two) is fine.
    let names: String = (0..101).map(|i| format!("n{i}\n")).collect::<String>() + "\n";
    let (code, _, err) = bad("trailing.txt", &names);
    assert_eq!(code, 0, "{err}");
    // --model torchscript needs --preset (a flag error: exit 2).
    let ts = fixture(&["traced"]);
    let (code, _, err) = run(&[
        "score",
        c,
        "--model",
        "torchscript",
        "--weights",
        ts.join("traced.pt").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, json, err) = run(&[
        "score",
        c,
        "--model",
        "torchscript",
        "--preset",
        "mc3_18",
        "--weights",
        ts.join("pair.pt").to_str().unwrap(),
        "--scores",
        "fast",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(json.contains("closed-form GradTrust"), "{json}");
}
