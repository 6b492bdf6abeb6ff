//! Helpers shared by the integration tests: the project's Python environment (the reference),
//! fixture generation cached under target/, clips made with the ffmpeg command line, and
//! tensor comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The reference Python (torch, torchvision, torchcodec). `scripts/test.sh` exports it.
pub fn python() -> PathBuf {
    match std::env::var_os("GRADTRUST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!("GRADTRUST_PYTHON is not set: run the tests with scripts/test.sh"),
    }
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where generated fixtures are cached between runs (target/tmp/fixtures).
pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gradtrust-video"))
}

/// Runs `tests/py/<script>` with the reference Python; panics with its stderr on failure.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo().join("tests/py").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Creates `fixtures_root()/key` once with `make(dir)`: the directory is built under a
/// temporary name and renamed when complete, so an interrupted run never leaves a half
/// fixture that later runs would trust. Serialized within the process.
pub fn cached_fixture(key: &str, make: impl FnOnce(&Path)) -> PathBuf {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    let _guard = LOCK
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let dir = fixtures_root().join(key);
    if dir.is_dir() {
        return dir;
    }
    let tmp = fixtures_root().join(format!("{key}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    make(&tmp);
    std::fs::rename(&tmp, &dir).unwrap();
    dir
}

/// Runs the `ffmpeg` command line (quiet, overwrite) and panics with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("cannot run ffmpeg (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// max |a − b| / max |b|: the parity measure (relative to the reference's scale, so values
/// near zero do not blow it up).
pub fn rel_err(got: &tch::Tensor, want: &tch::Tensor) -> f64 {
    assert_eq!(got.size(), want.size(), "shapes differ");
    let got = got.to_kind(tch::Kind::Double);
    let want = want.to_kind(tch::Kind::Double);
    let diff = (&got - &want).abs().max().double_value(&[]);
    let scale = want.abs().max().double_value(&[]).max(f64::MIN_POSITIVE);
    diff / scale
}

pub fn read_npy(path: &Path) -> tch::Tensor {
    tch::Tensor::read_npy(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A model parity fixture from `tests/py/model_fixture.py` (seeded torchvision model, its
/// state_dict in every format, input, logits, features, parameter names, scores), cached as
/// `model-{name}-seed0-b{batch}-t{frames}-s{size}`.
pub fn model_fixture(name: &str, batch: u32, frames: u32, size: u32) -> PathBuf {
    let key = format!("model-{name}-seed0-b{batch}-t{frames}-s{size}");
    cached_fixture(&key, |dir| {
        let (batch, frames, size) = (batch.to_string(), frames.to_string(), size.to_string());
        run_python(
            "model_fixture.py",
            &[
                "--model",
                name,
                "--out",
                dir.to_str().unwrap(),
                "--seed",
                "0",
                "--batch",
                &batch,
                "--frames",
                &frames,
                "--size",
                &size,
            ],
        );
    })
}

pub fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1e-12)
}

/// A model with the weights `dir/file`, strictly loaded.
pub fn loaded(name: &str, dir: &Path, file: &str) -> gradtrust_video::models::Model {
    let mut model = gradtrust_video::models::Model::new(name, tch::Device::Cpu).unwrap();
    model
        .load_weights(&dir.join(file))
        .unwrap_or_else(|e| panic!("{name} {file}: {e}"));
    model
}

/// Closed-form GradTrust (from logits and features) equals the autograd one through the
/// declared classifier (1e-5) and the reference's backward through the whole model (1e-4,
/// `scores.json` of the fixture).
pub fn gradtrust_agrees(
    name: &str,
    dir: &Path,
    model: &gradtrust_video::models::Model,
    fwd: &gradtrust_video::models::Forward,
) {
    use gradtrust_video::scores::{closed_form, gradtrust_autograd, ScoreName};
    let closed = closed_form::fast_scores(&fwd.logits, &fwd.features).unwrap();
    let auto = gradtrust_autograd::gradtrust_autograd(&model.classifier(), &fwd.features).unwrap();
    let full_model = read_json(&dir.join("scores.json"));
    for (i, sample) in closed.iter().enumerate() {
        let c = sample.get(ScoreName::GradTrust).unwrap();
        let a = auto[i].unwrap();
        assert!(
            close(c, a, 1e-5),
            "{name} sample {i}: closed {c} autograd {a}"
        );
        let full = full_model["samples"][i]["gradtrust_autograd_full"]
            .as_f64()
            .unwrap();
        assert!(
            close(c, full, 1e-4),
            "{name} sample {i}: closed {c} full {full}"
        );
        eprintln!("{name} sample {i}: gradtrust closed {c:.6} autograd {a:.6} python {full:.6}");
    }
}

/// The head without dropout, on the forward's head input, reproduces the logits.
pub fn head_reproduces_logits(
    name: &str,
    model: &gradtrust_video::models::Model,
    fwd: &gradtrust_video::models::Forward,
) {
    let again = tch::no_grad(|| model.head(&fwd.head_input, false)).unwrap();
    let err = rel_err(&again, &fwd.logits);
    assert!(
        err <= 1e-6,
        "{name}: head(head_input) vs logits rel err {err}"
    );
}
