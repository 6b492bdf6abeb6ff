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
    let legacy = common::model_fixture("r3d_18", 2, 8, 112).join("state_legacy.pth");
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
            && stderr.contains("delete it and download it again (`gradtrust-video fetch mc3_18`)"),
        "{stderr}"
    );
}
