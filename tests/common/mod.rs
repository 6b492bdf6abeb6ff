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
    let _guard = fixture_lock();
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

/// One fixture is made at a time within the process (the test threads share the cache).
fn fixture_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
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
/// state_dict as `state_zip.pth`, input, logits, features, parameter names, scores), cached
/// as `model-{name}-seed0-b{batch}-t{frames}-s{size}-{generator hash}`. [`weights`] gives
/// the other formats of its state_dict.
pub fn model_fixture(name: &str, batch: u32, frames: u32, size: u32) -> PathBuf {
    let (batch, frames, size) = (batch.to_string(), frames.to_string(), size.to_string());
    seeded_fixture(
        &format!("model-{name}-seed0-b{batch}-t{frames}-s{size}"),
        &["model_fixture.py", "scores_reference.py", "state_format.py"],
        name,
        &["--batch", &batch, "--frames", &frames, "--size", &size],
    )
}

/// The reference fixture of `tests/py/image_model_fixture.py` for the image model `name`
/// (the transformers and ConvNeXt, with their extra parameters drawn) on a
/// `[1, 3, 1, size, size]` input, cached as `image-{name}-seed0-b1-s{size}-{generator hash}`.
/// [`weights`] gives the other formats of its state_dict.
pub fn image_fixture(name: &str, size: u32) -> PathBuf {
    let size = size.to_string();
    seeded_fixture(
        &format!("image-{name}-seed0-b1-s{size}"),
        &[
            "image_model_fixture.py",
            "model_fixture.py",
            "scores_reference.py",
            "state_format.py",
        ],
        name,
        &["--batch", "1", "--size", &size],
    )
}

/// `scripts[0] --model name --out DIR --seed 0 flags…`, cached as `key-{hash}`, the hash
/// of `scripts`: the generator, what it imports and `state_format.py`, which writes into
/// the fixture (see [`weights`]).
fn seeded_fixture(key: &str, scripts: &[&str], name: &str, flags: &[&str]) -> PathBuf {
    let key = format!("{key}-{:016x}", generator_hash(scripts));
    cached_fixture(&key, |dir| {
        let mut args = vec![
            "--model",
            name,
            "--out",
            dir.to_str().unwrap(),
            "--seed",
            "0",
        ];
        args.extend(flags);
        run_python(scripts[0], &args);
    })
}

/// Weight files that lie (`tests/py/weight_variants.py`: a NaN in `fc.bias`, int64 tensors,
/// a huge finite `fc.weight`), made from the seeded r3d_18 weights of [`model_fixture`].
pub fn weight_variants() -> PathBuf {
    let state = model_fixture("r3d_18", 2, 8, 112).join("state_zip.pth");
    cached_fixture("weight-variants-r3d_18-v1", |dir| {
        run_python(
            "weight_variants.py",
            &[
                "--state",
                state.to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
            ],
        );
    })
}

pub fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1e-12)
}

/// `dir/file`, one of the formats a state_dict is published in, for a fixture that holds
/// `state_zip.pth` ([`model_fixture`], [`image_fixture`]): `state_legacy.pth`, `state_legacy_no_nbt.pth` and `state.safetensors`
/// are made from the zip by `tests/py/state_format.py` the first time a test asks (written
/// under a temporary name and renamed, like [`cached_fixture`]). Weights are most of a
/// fixture's bytes, so only the formats some test loads are kept.
pub fn weights(dir: &Path, file: &str) -> PathBuf {
    let path = dir.join(file);
    let format = match file {
        "state_zip.pth" => return path,
        "state_legacy.pth" => "legacy",
        "state_legacy_no_nbt.pth" => "legacy_no_nbt",
        "state.safetensors" => "safetensors",
        other => panic!("no weight format is named {other}"),
    };
    let _guard = fixture_lock();
    if !path.is_file() {
        let partial = dir.join(format!("{file}.partial"));
        run_python(
            "state_format.py",
            &[
                "--zip",
                dir.join("state_zip.pth").to_str().unwrap(),
                "--format",
                format,
                "--out",
                partial.to_str().unwrap(),
            ],
        );
        std::fs::rename(&partial, &path).unwrap();
    }
    path
}

/// A model with the weights `dir/file` (see [`weights`]), strictly loaded.
pub fn loaded(name: &str, dir: &Path, file: &str) -> gradtrust_video::models::Model {
    let mut model = gradtrust_video::models::Model::new(name, tch::Device::Cpu).unwrap();
    model
        .load_weights(&weights(dir, file))
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
    let again = tch::no_grad(|| model.head(&fwd.head_input, None)).unwrap();
    let err = rel_err(&again, &fwd.logits);
    assert!(
        err <= 1e-6,
        "{name}: head(head_input) vs logits rel err {err}"
    );
}

/// The published parameter count and classifier shape of each torchvision checkpoint
/// (shared/spec/models.md): the registry derives both from the built network, and the
/// tests hold it to these facts.
pub fn published(name: &str) -> (u64, Vec<i64>) {
    let (params, shape): (u64, &[i64]) = match name {
        "r3d_18" => (33_371_472, &[400, 512]),
        "mc3_18" => (11_695_440, &[400, 512]),
        "r2plus1d_18" => (31_505_325, &[400, 512]),
        "s3d" => (8_320_048, &[400, 1024, 1, 1, 1]),
        "mvit_v1_b" => (36_610_672, &[400, 768]),
        "mvit_v2_s" => (34_537_744, &[400, 768]),
        "swin3d_t" => (28_158_070, &[400, 768]),
        "swin3d_s" => (49_816_678, &[400, 768]),
        "swin3d_b" => (88_048_984, &[400, 1024]),
        "alexnet" => (61_100_840, &[1000, 4096]),
        "vgg11_bn" => (132_868_840, &[1000, 4096]),
        "resnet18" => (11_689_512, &[1000, 512]),
        "resnet50" => (25_557_032, &[1000, 2048]),
        "wide_resnet50_2" => (68_883_240, &[1000, 2048]),
        "resnext50_32x4d" => (25_028_904, &[1000, 2048]),
        "resnext101_64x4d" => (83_455_272, &[1000, 2048]),
        "mobilenet_v3_small" => (2_542_856, &[1000, 1024]),
        "efficientnet_v2_s" => (21_458_488, &[1000, 1280]),
        "convnext_tiny" => (28_589_128, &[1000, 768]),
        "swin_v2_t" => (28_351_570, &[1000, 768]),
        "swin_b" => (87_768_224, &[1000, 1024]),
        "vit_b_16" => (86_567_656, &[1000, 768]),
        "maxvit_t" => (30_919_624, &[1000, 512]),
        other => panic!("no published facts for {other}"),
    };
    (params, shape.to_vec())
}

// ---------------------------------------------------------------------------------------
// Hand-made files whose container declares absurd values: small ffmpeg clips with header
// fields overwritten. Before the decode stage checked such values against the frames that
// exist, each made sampling allocate tens of gigabytes and abort.

/// Overwrites the 4 bytes at `offset` after the first `tag` in `bytes`.
fn patch_after(bytes: &mut [u8], tag: &[u8], offset: usize, value: [u8; 4]) {
    let at = bytes
        .windows(tag.len())
        .position(|w| w == tag)
        .unwrap_or_else(|| panic!("no {tag:?} in the file"));
    bytes[at + offset..at + offset + 4].copy_from_slice(&value);
}

/// An MPEG-4 AVI of 30 real frames (B-frames, so its packets carry no presentation
/// timestamps and it is decoded sequentially) whose headers declare 2^31 − 1 frames:
/// `dwTotalFrames` of `avih` and `dwLength` of the video `strh`.
pub fn avi_declaring_absurd_frame_count(path: &Path) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "1.2",
        "-c:v",
        "mpeg4",
        "-bf",
        "2",
        path.to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(path).unwrap();
    let absurd = 0x7fff_ffffu32.to_le_bytes();
    // avih: chunk header (8), dwMicroSecPerFrame, dwMaxBytesPerSec, dwPaddingGranularity,
    // dwFlags, then dwTotalFrames.
    patch_after(&mut bytes, b"avih", 8 + 16, absurd);
    // strh: chunk header (8), fccType, fccHandler, dwFlags, wPriority + wLanguage,
    // dwInitialFrames, dwScale, dwRate, dwStart, then dwLength.
    patch_after(&mut bytes, b"strh", 8 + 32, absurd);
    std::fs::write(path, bytes).unwrap();
}

/// An AVI of 30 frames whose stream declares one frame every 10^9 s (`strh` dwScale 10^9,
/// dwRate 1): a frame rate of 1e-9 fps.
pub fn avi_declaring_absurd_frame_rate(path: &Path) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "1.2",
        "-c:v",
        "mpeg4",
        path.to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(path).unwrap();
    patch_after(&mut bytes, b"strh", 8 + 20, 1_000_000_000u32.to_le_bytes());
    patch_after(&mut bytes, b"strh", 8 + 24, 1u32.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// An MP4 of 30 frames with a timestamp gap of 8·10^7 s after frame 10 (2·10^9 ticks of
/// 1/25 s), its media time scale then set from 25 to 1 per second: 30 frames over 2·10^9 s,
/// an average frame rate of 3/200000003, ~1.5e-8 fps. No B-frames and no edit list, so
/// every packet is a frame.
pub fn mp4_with_timestamp_gap(path: &Path) {
    ffmpeg(&[
        "-t",
        "1.2",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-vf",
        "setpts='if(gte(N,10),PTS+8e7/TB,PTS)'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-bf",
        "0",
        "-video_track_timescale",
        "25",
        "-use_editlist",
        "0",
        path.to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(path).unwrap();
    // mdhd (version 0): version + flags, creation, modification, then the time scale.
    patch_after(&mut bytes, b"mdhd", 4 + 12, 1u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// FNV-1a of the given `tests/py` scripts: the part of a cache key that makes a changed
/// generator regenerate its fixtures.
pub fn generator_hash(scripts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for script in scripts {
        for b in std::fs::read(repo().join("tests/py").join(script)).unwrap() {
            hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    hash
}

/// [`generator_hash`] of own_model_fixture.py and the scripts it imports.
pub fn own_model_generator_hash() -> u64 {
    generator_hash(&[
        "own_model_fixture.py",
        "model_fixture.py",
        "scores_reference.py",
        "suite_reference.py",
    ])
}

/// A fixture of own_model_fixture.py (tests/own_models.rs; scores_suite.rs uses its traced
/// module), cached under a key that includes the content of the generator and the scripts
/// it imports (a changed generator regenerates).
pub fn own_model_fixture(args: &[&str]) -> PathBuf {
    let key = format!(
        "own-{}-{:016x}",
        args.join("_").replace("--", ""),
        own_model_generator_hash()
    );
    cached_fixture(&key, |dir| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--out", dir.to_str().unwrap()]);
        run_python("own_model_fixture.py", &all);
    })
}
