//! Weight downloads against a loopback HTTP server: a good file is saved; a checksum
//! mismatch or a cut-off transfer is refused and leaves nothing behind.
mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::thread;

use gradtrust_video::weights::download::fetch;
use gradtrust_video::Error;
use sha2::{Digest, Sha256};

/// Serves `body` to up to `requests` connections, each announcing `claimed_len` bytes (more
/// than sent simulates a dropped connection). Returns the base URL.
fn serve(body: Vec<u8>, claimed_len: usize, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let header = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {claimed_len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(header.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}/")
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn good_file_is_saved() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let name = format!("tiny-{}.pth", &sha_hex(&body)[..8]);
    let base = serve(body.clone(), body.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let path = fetch(&format!("{base}{name}"), dir.path(), &name).unwrap();
    assert_eq!(path, dir.path().join(&name));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(entries(dir.path()), vec![name]);
}

#[test]
fn checksum_mismatch_is_refused_without_partial_file() {
    let body = b"these are not the weights you are looking for".to_vec();
    let base = serve(body.clone(), body.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let name = "tiny-00000000.pth";
    let err = fetch(&format!("{base}{name}"), dir.path(), name).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(name) && msg.contains("00000000"), "{msg}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn cut_off_transfer_leaves_nothing() {
    let body = vec![1u8; 10_000];
    let name = format!("tiny-{}.pth", &sha_hex(&vec![1u8; 20_000])[..8]);
    let base = serve(body, 20_000, 1);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&format!("{base}{name}"), dir.path(), &name).unwrap_err();
    assert!(
        matches!(err, Error::Download { .. } | Error::Checksum { .. }),
        "{err}"
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn cli_fetch_refuses_a_mismatching_file() {
    let base = serve(b"not r3d weights".to_vec(), 15, 1);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["fetch", "r3d_18", "--models-dir"])
        .arg(dir.path())
        .args(["--weights-url", &base])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("r3d_18-b3b3357e.pth") && stderr.contains("b3b3357e"),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn offline_message_says_which_file_to_put_where() {
    // Nothing listens on port 9 of the loopback address: the connection is refused.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["fetch", "mc3_18", "--models-dir"])
        .arg(dir.path())
        .args(["--weights-url", "http://127.0.0.1:9/"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("mc3_18-a90a0ba3.pth"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}/mc3_18-a90a0ba3.pth", dir.path().display())),
        "{stderr}"
    );
    assert!(stderr.contains("--weights"), "{stderr}");
}

/// A user's copy of a legacy `.pth` under its torchvision name (`r3d_18-<8 hex of its own
/// SHA-256>.pth`): it loads, is hashed once (the second run finds it in the cache and leaves
/// the cache file as it was), and once one bit flips it is refused, naming the file, the
/// prefix and the actual hash, and saying how to get it again. Before, the flipped file
/// loaded and scored as if nothing had happened.
#[test]
fn legacy_file_under_its_torchvision_name_is_checked_once_and_a_flipped_bit_refused() {
    let legacy = common::weights(
        &common::model_fixture("r3d_18", 2, 8, 112),
        "state_legacy.pth",
    );
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let mut bytes = std::fs::read(&legacy).unwrap();
    let hash = sha_hex(&bytes);
    let name = format!("r3d_18-{}.pth", &hash[..8]);
    let weights = models.join(&name);
    std::fs::write(&weights, &bytes).unwrap();
    let clip = tmp.path().join("clip.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "0.6",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ]);
    let cache_home = tmp.path().join("cache");
    let cache = cache_home.join("gradtrust-video/verified-weights.json");
    let score = || {
        Command::new(common::bin())
            .arg("score")
            .arg(&clip)
            .arg("--weights")
            .arg(&weights)
            .args(["--scores", "softmax", "--device", "cpu"])
            .env("XDG_CACHE_HOME", &cache_home)
            .output()
            .unwrap()
    };

    let first = score();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stored = common::read_json(&cache);
    let key = std::fs::canonicalize(&weights).unwrap();
    let entry = &stored["files"][key.to_str().unwrap()];
    assert_eq!(entry["sha256"], hash.as_str(), "{stored}");
    assert_eq!(entry["size"], bytes.len() as u64, "{stored}");
    let mtime = std::fs::metadata(&weights).unwrap().modified().unwrap();
    let mtime_ns = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert_eq!(entry["mtime_ns"], mtime_ns, "{stored}");

    // Unchanged file: found in the cache, not hashed again, so the cache is not rewritten
    // (a rewrite renames a new file into place: a new inode).
    use std::os::unix::fs::MetadataExt;
    let before = std::fs::metadata(&cache).unwrap();
    let text_before = std::fs::read_to_string(&cache).unwrap();
    let second = score();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let after = std::fs::metadata(&cache).unwrap();
    assert_eq!(
        after.ino(),
        before.ino(),
        "cache rewritten: the file was hashed again"
    );
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), text_before);

    // One bit flipped in the middle of the tensor data: same size, new mtime.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&weights, &bytes).unwrap();
    let flipped = score();
    let stderr = String::from_utf8_lossy(&flipped.stderr);
    assert_eq!(flipped.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(&name), "{stderr}");
    assert!(stderr.contains(&hash[..8]), "{stderr}");
    assert!(stderr.contains(&sha_hex(&bytes)), "{stderr}");
    assert!(
        stderr.contains("refused") && stderr.contains("gradtrust-video fetch"),
        "{stderr}"
    );
    // A refused file is not remembered.
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), text_before);
}

/// `fetch` of a model whose file is already in the models directory checks that file
/// instead of reporting it present: a file under torchvision's name that is not
/// torchvision's is refused with the command that gets it again.
#[test]
fn cli_fetch_checks_a_file_already_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mc3_18-a90a0ba3.pth"), b"not mc3 weights").unwrap();
    let out = Command::new(common::bin())
        .args(["fetch", "mc3_18", "--models-dir"])
        .arg(dir.path())
        .args(["--weights-url", "http://127.0.0.1:9/"])
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mc3_18-a90a0ba3.pth")
            && stderr.contains(&sha_hex(b"not mc3 weights"))
            && stderr.contains("delete it and download it again")
            && stderr.contains("\nhint: download it again with `gradtrust-video fetch mc3_18`"),
        "{stderr}"
    );
}

// ---- offline demo ----

/// `scripts/demo.sh` with this build (`GRADTRUST_DEMO_BIN`: set-up and build skipped), fast
/// scores on the CPU, weight files looked for in `models` and downloaded from `url`.
fn demo(models: &Path, url: &str, cache: &Path, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(common::repo().join("scripts/demo.sh"))
        .args(["--scores", "fast", "--device", "cpu"])
        .args(args)
        .env("GRADTRUST_DEMO_BIN", common::bin())
        .env("GRADTRUST_MODELS_DIR", models)
        .env("GRADTRUST_WEIGHTS_URL", url)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap()
}

/// A loopback URL nothing listens on: the port was just free.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// No weight file and no network: the demo says so, scores the sample clip end to end with
/// untrained weights, and the report says its predictions are meaningless.
#[test]
fn demo_without_network_scores_the_sample_with_untrained_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let out = demo(&models, &dead_url(), &tmp.path().join("cache"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("demo: no usable r3d_18 weight file")
            && stderr.contains("r3d_18-b3b3357e.pth")
            && stderr.contains("--weights untrained:0"),
        "{stderr}"
    );
    assert!(
        stdout.contains("testsrc2-340x256-30fps.mp4")
            && stdout.contains("untrained weights (seed 0): predictions are meaningless")
            && stdout.contains("gradtrust"),
        "{stdout}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(entries(&models).is_empty(), "{:?}", entries(&models));
}

/// A download that arrives but is not torchvision's file (the bytes do not have the SHA-256
/// prefix the name carries) is refused and not kept; the demo says why and runs untrained,
/// its JSON saying so. The server seeing the request shows the demo tried the download.
#[test]
fn demo_with_a_refused_download_runs_untrained_and_its_json_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let body = b"not r3d weights".to_vec();
    let url = serve(body.clone(), body.len(), 1);
    let out = demo(&models, &url, &tmp.path().join("cache"), &["--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("does not start with b3b3357e") && stderr.contains("untrained:0"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("untrained weights (seed 0)")),
        "{report}"
    );
    assert_eq!(report["model"], "r3d_18", "{report}");
    assert!(entries(&models).is_empty(), "{:?}", entries(&models));
}

/// With a weight file given, the demo uses it: nothing is fetched (the URL is dead and
/// nothing is said about it) and nothing is marked untrained.
#[test]
fn demo_with_a_weight_file_uses_it() {
    let state = common::model_fixture("r3d_18", 2, 8, 112).join("state_zip.pth");
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let weights = state.to_str().unwrap();
    let out = demo(
        &models,
        &dead_url(),
        &tmp.path().join("cache"),
        &["--weights", weights],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("demo:"), "{stderr}");
    assert!(
        !stdout.contains("untrained") && !stderr.contains("untrained"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("gradtrust"), "{stdout}");
}

/// `untrained:SEED` parses (a bad seed is refused, anything else is a path); the same seed
/// gives the same parameters, another seed others; conv/linear weights are drawn, norm
/// weights are 1; the model says it is untrained.
#[test]
fn untrained_weights_are_seeded_and_say_so() {
    use gradtrust_video::models::{self, Arch, Model, ModelRequest};
    use gradtrust_video::weights::Weights;
    assert_eq!(
        "untrained:7".parse::<Weights>().unwrap(),
        Weights::Untrained { seed: 7 }
    );
    assert_eq!(
        "./untrained:7".parse::<Weights>().unwrap(),
        Weights::File("./untrained:7".into())
    );
    for bad in ["untrained:", "untrained:-1", "untrained:x"] {
        let err = bad.parse::<Weights>().unwrap_err().to_string();
        assert!(err.contains(bad) && err.contains("whole number"), "{err}");
    }
    let load = |seed: u64| {
        let request = ModelRequest {
            arch: Arch::Registry(models::spec("r3d_18").unwrap()),
            weights: Weights::Untrained { seed },
            weights_key: None,
            labels: None,
        };
        Model::load(&request, tch::Device::Cpu).unwrap()
    };
    let (a, b, c) = (load(0), load(0), load(1));
    assert_eq!(a.num_classes(), 400);
    assert_eq!(a.info().weights.name(), "untrained:0");
    assert!(
        a.info().notes.iter().any(|n| n.contains("untrained")),
        "{:?}",
        a.info().notes
    );
    let (pa, pb, pc) = (a.parameters(), b.parameters(), c.parameters());
    assert_eq!(pa.len(), pb.len());
    for (((key, x), (_, y)), (_, z)) in pa.iter().zip(&pb).zip(&pc) {
        assert!(x.equal(y), "{key} differs between two loads with seed 0");
        if x.dim() >= 2 {
            assert!(!x.equal(z), "{key} is the same with seeds 0 and 1");
            let bound = 1.0 / (x.size()[1..].iter().product::<i64>() as f64).sqrt();
            let max = x.abs().max().double_value(&[]);
            assert!(
                max > 0.5 * bound && max <= bound,
                "{key}: max {max}, bound {bound}"
            );
        }
    }
    let bn = pa.iter().find(|(k, _)| k == "stem.1.weight").unwrap();
    assert_eq!(bn.1.min().double_value(&[]), 1.0);
    assert_eq!(bn.1.max().double_value(&[]), 1.0);
}

/// A batch run with untrained weights records `untrained:0` and no hash as its weights, and a
/// timeline says the weights are untrained.
#[test]
fn untrained_batch_provenance_and_timeline_are_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = common::repo().join("clips/testsrc2-340x256-30fps.mp4");
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, format!("{} 0\n", clip.display())).unwrap();
    let results = tmp.path().join("results.csv");
    let out = Command::new(common::bin())
        .args(["batch", "--list"])
        .arg(&list)
        .arg("--out")
        .arg(&results)
        .args(["--weights", "untrained:0", "--device", "cpu"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("untrained weights (seed 0)"), "{stderr}");
    let provenance = common::read_json(&tmp.path().join("results.csv.provenance.json"));
    assert_eq!(provenance["weights_file"], "untrained:0", "{provenance}");
    assert_eq!(provenance["weights_sha256"], "", "{provenance}");

    let out = Command::new(common::bin())
        .arg("score")
        .arg(&clip)
        .args(["--timeline", "--scores", "softmax", "--device", "cpu"])
        .args(["--weights", "untrained:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("untrained weights (seed 0): predictions are meaningless"),
        "{stderr}"
    );

    // A TorchScript module brings its own weights: untrained ones are refused, the binary
    // naming the flag that gives the module.
    let out = Command::new(common::bin())
        .arg("score")
        .arg(&clip)
        .args(["--model", "torchscript", "--preset", "r3d_18"])
        .args(["--weights", "untrained:0", "--device", "cpu"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("untrained:0: untrained weights are for the built-in architectures")
            && stderr.contains("\nhint: score and batch take a weight file with --weights FILE"),
        "{stderr}"
    );
}
