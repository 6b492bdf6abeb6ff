//! ImageNet validation as a batch run: `ILSVRC2012_val_{k:08}.JPEG` images with the devkit's
//! ground-truth file (1-based ILSVRC2012_IDs, one per line in file order) and synset mapping,
//! scored by an image model as single-frame clips; the rows carry torchvision's classes and
//! equal what `score` gives for the same image.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cached_fixture, ffmpeg};

const IMAGES: usize = 22;
/// Left out of the tree: its row must say so.
const MISSING: usize = 7;

/// Synset k (1-based devkit ID) is a made-up WordNet id whose sorted rank is `(k * 7) % 1000`:
/// the devkit order and torchvision's sorted order really differ.
fn wnid(k: usize) -> String {
    format!("n{:08}", (k * 7) % 1000)
}

fn torchvision_class(devkit_id: usize) -> usize {
    (devkit_id * 7) % 1000
}

fn devkit_id(line: usize) -> usize {
    (line * 37) % 1000 + 1
}

fn tree() -> PathBuf {
    cached_fixture("imagenet-val", |dir| {
        let root = dir.join("val");
        std::fs::create_dir_all(&root).unwrap();
        for k in 1..=IMAGES {
            if k == MISSING {
                continue;
            }
            let (w, h) = (160 + 13 * k, 120 + 7 * k);
            let file = root.join(format!("ILSVRC2012_val_{k:08}.JPEG"));
            ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size={w}x{h}:rate=1"),
                "-vf",
                &format!("hue=h={}", k * 17),
                "-frames:v",
                "1",
                "-c:v",
                "mjpeg",
                "-f",
                "image2",
                file.to_str().unwrap(),
            ]);
        }
        let gt: String = (1..=IMAGES)
            .map(|k| format!("{}\n", devkit_id(k)))
            .collect();
        std::fs::write(dir.join("ILSVRC2012_validation_ground_truth.txt"), gt).unwrap();
        let synsets: String = (1..=1000)
            .map(|k| format!("{} class {k}\n", wnid(k)))
            .collect();
        std::fs::write(dir.join("synsets.txt"), synsets).unwrap();
    })
}

fn read_rows(path: &Path) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            let row: BTreeMap<String, String> = header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect();
            ((row["id"].clone(), row["level"].clone()), row)
        })
        .collect()
}

#[test]
fn imagenet_ground_truth_batch() {
    let dir = tree();
    let weights = common::model_fixture("resnet18", 1, 1, 224).join("state_zip.pth");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("rows.csv");
    let run = Command::new(common::bin())
        .arg("batch")
        .args([
            "--list",
            "ILSVRC2012_validation_ground_truth.txt",
            "--format",
            "imagenet",
        ])
        .args([
            "--synsets",
            "synsets.txt",
            "--root",
            "val",
            "--model",
            "resnet18",
        ])
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&out)
        .args(["--devices", "cpu", "--batch-size", "8"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    // Completed, with the missing image's error row.
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    let rows = read_rows(&out);
    let videos: Vec<_> = rows.iter().filter(|((_, l), _)| l == "video").collect();
    assert_eq!(videos.len(), IMAGES);
    for k in 1..=IMAGES {
        let id = format!("ILSVRC2012_val_{k:08}");
        let row = &rows[&(id.clone(), "video".to_string())];
        let class = torchvision_class(devkit_id(k));
        assert_eq!(row["label_index"], class.to_string(), "{id}");
        assert_eq!(
            row["label"],
            gradtrust_video::labels::LabelSet::ImageNet1k
                .name(class)
                .unwrap()
        );
        if k == MISSING {
            assert!(
                row["status"].contains("no ILSVRC2012_val_00000007.JPEG"),
                "{row:?}"
            );
            continue;
        }
        assert_eq!(row["status"], "ok", "{row:?}");
        assert!(row["gradtrust"].parse::<f64>().unwrap() >= 1.0);
        assert_eq!(
            row["correct"],
            u8::from(row["pred_index"] == row["label_index"]).to_string()
        );
        // One clip row per image.
        assert_eq!(rows[&(id, "clip".to_string())]["status"], "ok");
    }

    // A row equals `score` on the same image.
    let image = dir.join("val/ILSVRC2012_val_00000003.JPEG");
    let single = Command::new(common::bin())
        .arg("score")
        .arg(&image)
        .args([
            "--model", "resnet18", "--scores", "fast", "--json", "--device", "cpu",
        ])
        .arg("--weights")
        .arg(&weights)
        .output()
        .unwrap();
    assert!(
        single.status.success(),
        "{}",
        String::from_utf8_lossy(&single.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&single.stdout).unwrap();
    let row = &rows[&("ILSVRC2012_val_00000003".to_string(), "video".to_string())];
    assert_eq!(
        row["pred_index"],
        v["video"]["top5"][0]["index"].to_string()
    );
    for (name, value) in v["video"]["scores"].as_object().unwrap() {
        let want = value.as_f64().unwrap();
        let got: f64 = row[name].parse().unwrap();
        assert!(
            (got - want).abs() <= 1e-4 * want.abs().max(1e-6),
            "{name}: batch {got} vs score {want}"
        );
    }
}

#[test]
fn bad_synset_file_is_named() {
    let dir = tree();
    let out_dir = tempfile::tempdir().unwrap();
    std::fs::write(out_dir.path().join("short.txt"), "n01440764 tench\n").unwrap();
    let run = Command::new(common::bin())
        .arg("batch")
        .args([
            "--list",
            "ILSVRC2012_validation_ground_truth.txt",
            "--root",
            "val",
        ])
        .arg("--synsets")
        .arg(out_dir.path().join("short.txt"))
        .args(["--model", "resnet18", "--devices", "cpu", "--out"])
        .arg(out_dir.path().join("rows.csv"))
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("short.txt") && stderr.contains("expected 1000"),
        "{stderr}"
    );
}
