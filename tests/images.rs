//! Image mode with the CNN ImageNet models: an image file becomes the one-frame clip
//! torchvision's `ImageClassification` makes of the PIL-decoded file; each CNN port equals
//! torchvision (seeded weights from `tests/py/model_fixture.py`); every score runs on every
//! one of them; `score` takes an image end to end and refuses a model of the other kind.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cached_fixture, ffmpeg, read_json, read_npy, rel_err, run_python};
use gradtrust_video::decode::{decode_video, media_kind, MediaKind};
use gradtrust_video::images::load_image;
use gradtrust_video::models::dropout::DropoutMasks;
use gradtrust_video::models::{self, Model};
use gradtrust_video::preset::{Interpolation, Preset};
use gradtrust_video::scores::engine::score_batch;
use gradtrust_video::scores::{ScoreOptions, ScoreSet};
use tch::{Device, Kind, Tensor};

/// The CNN image models and the input size of their parity fixture (the preset's crop).
const MODELS: [(&str, u32); 9] = [
    ("alexnet", 224),
    ("vgg11_bn", 224),
    ("resnet18", 224),
    ("resnet50", 224),
    ("wide_resnet50_2", 224),
    ("resnext50_32x4d", 224),
    ("resnext101_64x4d", 224),
    ("mobilenet_v3_small", 224),
    ("efficientnet_v2_s", 384),
];

fn fixture(name: &str) -> PathBuf {
    let size = MODELS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap();
    common::model_fixture(name, 1, 1, size)
}

fn loaded(name: &str) -> (Model, PathBuf) {
    let dir = fixture(name);
    let mut model = Model::new(name, Device::Cpu).unwrap();
    model
        .load_weights(&dir.join("state_zip.pth"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (model, dir)
}

/// Test images made with the ffmpeg command line: odd sizes, landscape and portrait.
fn images() -> PathBuf {
    cached_fixture("images-v1", |dir| {
        let src = |size: &str| format!("testsrc2=size={size}:rate=1");
        let one = |input: &str, out: &str, extra: &[&str]| {
            let path = dir.join(out);
            let mut args = vec!["-f", "lavfi", "-i", input, "-frames:v", "1"];
            args.extend_from_slice(extra);
            args.push(path.to_str().unwrap());
            ffmpeg(&args);
        };
        one(&src("517x389"), "landscape.png", &[]);
        one(&src("151x203"), "portrait.png", &[]);
        one(&src("517x389"), "landscape.jpg", &["-q:v", "3"]);
        // A PNG whose name says video: detection goes by content.
        std::fs::copy(dir.join("portrait.png"), dir.join("picture.mp4")).unwrap();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &src("160x120"),
            "-frames:v",
            "4",
            "-pix_fmt",
            "yuv420p",
            dir.join("clip.mp4").to_str().unwrap(),
        ]);
    })
}

fn interp_name(i: Interpolation) -> &'static str {
    match i {
        Interpolation::Bilinear => "bilinear",
        Interpolation::Bicubic => "bicubic",
    }
}

/// (max, mean) |ours − torchvision on the PIL image| and the same for the decoded pixels.
fn preprocessing_case(file: &str, resize: u32, crop: u32, interp: Interpolation) -> [f64; 4] {
    let path = images().join(file);
    let key = format!("imageref-v1-{file}-{resize}-{crop}-{}", interp_name(interp));
    let reference = cached_fixture(&key, |dir| {
        run_python(
            "image_reference.py",
            &[
                "--image",
                path.to_str().unwrap(),
                "--resize",
                &resize.to_string(),
                "--crop",
                &crop.to_string(),
                "--interpolation",
                interp_name(interp),
                "--out",
                dir.to_str().unwrap(),
            ],
        );
    });
    let preset = Preset::imagenet(resize, crop, interp);
    let clips = load_image(&path, &preset).unwrap();
    assert_eq!(clips.tensor.size(), [1, 3, 1, crop as i64, crop as i64]);
    let ours = clips.tensor.view([3, crop as i64, crop as i64]);
    let diff = |a: &Tensor, b: &Tensor| {
        let d = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs();
        (
            d.max().double_value(&[]),
            d.mean(Kind::Double).double_value(&[]),
        )
    };
    let (max, mean) = diff(&ours, &read_npy(&reference.join("pil.npy")));
    let pixels = gradtrust_video::transforms::rgb_tensor(
        &decode_video(&path).unwrap().rgb_frames(&[0]).unwrap(),
    )
    .unwrap()
    .select(0, 0);
    let (pmax, pmean) = diff(&pixels, &read_npy(&reference.join("pixels.npy")));
    let (tmax, tmean) = diff(
        &read_npy(&reference.join("tensor.npy")),
        &read_npy(&reference.join("pil.npy")),
    );
    eprintln!(
        "{file} {resize}/{crop} {}: ours vs torchvision(PIL) max {max:.3e} mean {mean:.3e}; \
         decoded pixels max {pmax} mean {pmean:.3e}; (torchvision tensor path vs PIL path: \
         max {tmax:.3e} mean {tmean:.3e})",
        interp_name(interp)
    );
    [max, mean, pmax, pmean]
}

#[test]
fn png_preprocessing_equals_torchvision_on_pil() {
    for (file, resize, crop, interp) in [
        ("landscape.png", 256, 224, Interpolation::Bilinear),
        ("landscape.png", 232, 224, Interpolation::Bilinear),
        ("landscape.png", 238, 224, Interpolation::Bicubic),
        ("landscape.png", 384, 384, Interpolation::Bilinear),
        // Upscaling, portrait.
        ("portrait.png", 256, 224, Interpolation::Bilinear),
        ("portrait.png", 260, 256, Interpolation::Bicubic),
    ] {
        let [max, _, pixels_max, _] = preprocessing_case(file, resize, crop, interp);
        assert_eq!(pixels_max, 0.0, "{file}: decoded pixels differ from PIL's");
        assert!(max <= 1e-6, "{file} {resize}/{crop}: max difference {max}");
    }
}

#[test]
fn jpeg_preprocessing_is_close_to_torchvision_on_pil() {
    let [max, mean, pixels_max, pixels_mean] =
        preprocessing_case("landscape.jpg", 256, 224, Interpolation::Bilinear);
    // FFmpeg's MJPEG decoder with swscale's chroma upsampling and YUV→RGB is not libjpeg's
    // (PIL): about 2 levels apart on average, far more at sharp colour edges (testsrc2's).
    assert!(
        pixels_mean < 3.0,
        "decoded pixels mean difference {pixels_mean}"
    );
    assert!(pixels_max <= 255.0);
    assert!(
        mean < 3.0 / 255.0 / 0.224,
        "normalized mean difference {mean}"
    );
    assert!(max.is_finite());
}

#[test]
fn images_are_detected_by_content() {
    let dir = images();
    for file in ["landscape.png", "landscape.jpg", "picture.mp4"] {
        assert_eq!(
            media_kind(&dir.join(file)).unwrap(),
            MediaKind::Image,
            "{file}"
        );
    }
    assert_eq!(media_kind(&dir.join("clip.mp4")).unwrap(), MediaKind::Video);
    let err = load_image(
        &dir.join("clip.mp4"),
        &Preset::imagenet(256, 224, Interpolation::Bilinear),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("clip.mp4") && err.contains("not an image"),
        "{err}"
    );
}

fn parity(name: &str) {
    let (model, dir) = loaded(name);
    let input = read_npy(&dir.join("input.npy"));
    assert_eq!(input.size().len(), 5);
    let got = tch::no_grad(|| model.forward(&input)).unwrap();
    let el = rel_err(&got.logits, &read_npy(&dir.join("logits.npy")));
    let ef = rel_err(&got.features, &read_npy(&dir.join("features.npy")));
    eprintln!("{name}: logits rel err {el:.2e}, features rel err {ef:.2e}");
    assert!(el <= 1e-4, "{name}: logits rel err {el}");
    assert!(ef <= 1e-4, "{name}: features rel err {ef}");

    // Parameters: torchvision's names, order and count, and the registry's facts.
    let meta = read_json(&dir.join("meta.json"));
    let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = serde_json::from_value(meta["param_names"].clone()).unwrap();
    assert_eq!(
        names, want,
        "{name}: parameter order differs from torchvision"
    );
    let spec = models::spec(name).unwrap();
    assert_eq!(model.num_params(), meta["num_params"].as_u64().unwrap());
    assert_eq!(
        model.num_params(),
        common::published(name).0,
        "{name}: published num_params"
    );
    assert_eq!(meta["classifier_param"].as_str(), Some(spec.classifier_key));
    let classifier = model.classifier();
    assert_eq!(classifier.weight.size(), common::published(name).1);
    assert_eq!(
        rel_err(
            &classifier.weight,
            &read_npy(&dir.join("classifier_weight.npy"))
        ),
        0.0
    );
    // The dropout head without dropout is the plain forward.
    let head = tch::no_grad(|| model.head(&got.head_input, None)).unwrap();
    assert!(
        rel_err(&head, &got.logits) <= 1e-6,
        "{name}: head(dropout off)"
    );
    if let Some(p) = model.head_dropout() {
        assert!(p > 0.0 && p < 1.0);
        let rows = got.head_input.size()[0] as usize;
        let mut masks = DropoutMasks::new(&vec![0; rows], 1);
        let noisy = tch::no_grad(|| model.head(&got.head_input, Some(&mut masks))).unwrap();
        assert!(
            rel_err(&noisy, &got.logits) > 0.0,
            "{name}: dropout head has no effect"
        );
    }

    // Every score, finite. A small input keeps the backward-based scores cheap (every
    // architecture here accepts 64×64; the preset size is what the parity above covers).
    tch::manual_seed(1);
    let small = Tensor::randn([1, 3, 1, 64, 64], (Kind::Float, Device::Cpu));
    let scored = score_batch(
        &model,
        &small,
        &[0..1],
        &ScoreSet::all(),
        &ScoreOptions {
            mc_passes: 3,
            ..ScoreOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name}: scoring: {e}"));
    for sample in scored
        .clips
        .iter()
        .chain(scored.videos.iter().map(|(_, s)| s))
    {
        for (score, value) in sample.values() {
            let v =
                value.unwrap_or_else(|| panic!("{name}: {score:?} missing: {:?}", sample.notes()));
            assert!(v.is_finite(), "{name}: {score:?} = {v}");
        }
    }
}

#[test]
fn alexnet_parity() {
    parity("alexnet");
}

#[test]
fn vgg11_bn_parity() {
    parity("vgg11_bn");
}

#[test]
fn resnet18_parity() {
    parity("resnet18");
}

#[test]
fn resnet50_parity() {
    parity("resnet50");
}

#[test]
fn wide_resnet50_2_parity() {
    parity("wide_resnet50_2");
}

#[test]
fn resnext50_32x4d_parity() {
    parity("resnext50_32x4d");
}

#[test]
fn resnext101_64x4d_parity() {
    parity("resnext101_64x4d");
}

#[test]
fn mobilenet_v3_small_parity() {
    parity("mobilenet_v3_small");
}

#[test]
fn efficientnet_v2_s_parity() {
    parity("efficientnet_v2_s");
}

#[test]
fn registry_presets_follow_the_spec() {
    let want = [
        ("alexnet", 256, 224),
        ("vgg11_bn", 256, 224),
        ("resnet18", 256, 224),
        ("resnet50", 232, 224),
        ("wide_resnet50_2", 232, 224),
        ("resnext50_32x4d", 232, 224),
        ("resnext101_64x4d", 232, 224),
        ("mobilenet_v3_small", 256, 224),
        ("efficientnet_v2_s", 384, 384),
    ];
    for (name, resize, crop) in want {
        let spec = models::spec(name).unwrap();
        assert_eq!(spec.input, models::InputKind::Image, "{name}");
        assert_eq!(spec.num_classes(), 1000, "{name}");
        let p = (spec.preset)();
        assert_eq!(
            p,
            Preset::imagenet(resize, crop, Interpolation::Bilinear),
            "{name}"
        );
    }
}

fn score_cli(args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .arg("score")
        .args(args)
        .args(["--device", "cpu"])
        .env("GRADTRUST_MODELS_DIR", "/nonexistent-models-dir")
        .env("GRADTRUST_WEIGHTS_URL", "http://127.0.0.1:9/")
        .output()
        .unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_scores_an_image_and_refuses_the_wrong_model_kind() {
    let dir = images();
    let weights = fixture("resnet18").join("state_zip.pth");
    let png = dir.join("landscape.png");
    let out = score_cli(&[
        path_str(&png),
        "--model",
        "resnet18",
        "--weights",
        path_str(&weights),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "score failed: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = json.to_string();
    assert!(text.contains("resnet18"), "{text}");
    assert!(text.contains("gradtrust"), "{text}");

    // The default model of an image is resnet18 (the explicit weights fit it).
    let out = score_cli(&[
        path_str(&png),
        "--weights",
        path_str(&weights),
        "--json",
        "--scores",
        "fast",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A video model given an image.
    let out = score_cli(&[path_str(&png), "--model", "r3d_18"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("landscape.png") && stderr.contains("r3d_18") && stderr.contains("image"),
        "{stderr}"
    );
    // An image model given a video.
    let clip = dir.join("clip.mp4");
    let out = score_cli(&[path_str(&clip), "--model", "resnet18"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("clip.mp4") && stderr.contains("resnet18") && stderr.contains("video"),
        "{stderr}"
    );
}
