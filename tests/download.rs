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
