//! The SHA-256 prefix in a torchvision file name (`r3d_18-b3b3357e.pth`), checked whenever a
//! file under such a name is loaded, not only when it is downloaded: a file copied in by
//! hand, cut short, or changed on disk would otherwise load and give confident nonsense.
//!
//! Hashing a several-hundred-MB file on every run would cost seconds, so a verified file is
//! remembered by absolute path, size and modification time in the user's cache
//! (`$XDG_CACHE_HOME/gradtrust-video/verified-weights.json`, else
//! `~/.cache/gradtrust-video/…`). A cache that is missing, unreadable, corrupt or read-only
//! only costs the rehash. A file changed in place that keeps both its size and its
//! modification time is not hashed again (deleting the cache file forces it).
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::download::sha256_prefix;
use crate::error::Remedy;
use crate::{Error, Result};

/// torchvision's file names carry 8 hex digits; a shorter run after a `-` (`ckpt-10.pth`) is
/// an epoch or a version, not a hash.
const MIN_PREFIX: usize = 8;

/// The cache file's name inside the user's cache directory.
const CACHE_FILE: &str = "verified-weights.json";

/// The SHA-256 prefix `file_name` promises, when it is a torchvision name: a registry
/// model's name first (`r3d_18`, `alexnet-owt`, `swin3d_b_22k`), then torch.hub's
/// `-<hex>.` with at least 8 hex digits. Other names (a user's `finetuned-20240101.pth`)
/// promise nothing.
pub fn expected_prefix(file_name: &str) -> Option<&str> {
    let prefix = sha256_prefix(file_name).filter(|p| p.len() >= MIN_PREFIX)?;
    crate::models::all()
        .any(|m| file_name.starts_with(m.name))
        .then_some(prefix)
}

/// Refuses a weight file whose torchvision name promises a SHA-256 prefix its bytes do not
/// have. Files under other names pass unchecked.
pub fn verify(path: &Path) -> Result<()> {
    let Some(expected) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(expected_prefix)
    else {
        return Ok(());
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let key = key_of(path, &meta);
    let cache = cache_path();
    if let (Some(key), Some(cache)) = (&key, &cache) {
        if let Some(seen) = read_cache(cache).files.get(&key.path) {
            if seen.size == key.size
                && seen.mtime_ns == key.mtime_ns
                && seen.sha256.starts_with(expected)
            {
                return Ok(());
            }
        }
    }
    let got = sha256_file(path)?;
    if !got.starts_with(expected) {
        let (advice, remedy) = advice(path);
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            got,
            advice,
        }
        .with_remedy(remedy));
    }
    if let (Some(key), Some(cache)) = (key, cache) {
        remember(&cache, key, got);
    }
    Ok(())
}

/// Remembers a file whose SHA-256 is already known (a download just verified), so its first
/// load does not hash it again.
pub fn remember_verified(path: &Path, sha256: &str) {
    // Only names that are ever checked are worth an entry.
    let promised = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(expected_prefix);
    if !promised.is_some_and(|p| sha256.starts_with(p)) {
        return;
    }
    let (Ok(meta), Some(cache)) = (std::fs::metadata(path), cache_path()) else {
        return;
    };
    if let Some(key) = key_of(path, &meta) {
        remember(&cache, key, sha256.to_string());
    }
}

/// What to do about a refused file: torchvision's own file is downloaded again; a file
/// that only looks like one is the user's to replace or rename. The remedy says which model's
/// file to download (the binary names the command that does it).
fn advice(path: &Path) -> (String, Remedy) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let fetch = crate::models::all().find_map(|m| {
        if m.weight_file == name {
            Some(Remedy::Fetch {
                model: Some(m.name.to_string()),
                weights_file: None,
            })
        } else if m.alt_weight_files.contains(&name) {
            Some(Remedy::Fetch {
                model: Some(m.name.to_string()),
                weights_file: Some(name.to_string()),
            })
        } else {
            None
        }
    });
    match fetch {
        Some(remedy) => (
            ": the file is damaged or is not torchvision's; delete it and download it again"
                .to_string(),
            remedy,
        ),
        None => (
            ": the file is damaged or is not the one its name promises; delete it and download \
             it again if it is torchvision's, or give your own weights a name without the hash \
             part"
                .to_string(),
            Remedy::Fetch {
                model: None,
                weights_file: None,
            },
        ),
    }
}

/// The SHA-256 of a file's bytes, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex digits of `bytes` (how torch.hub writes a digest).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the cache lives: `$XDG_CACHE_HOME/gradtrust-video/`, else
/// `$HOME/.cache/gradtrust-video/` (where the setup script keeps the Python environment).
/// `None` when neither is set: nothing is cached.
pub fn cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("gradtrust-video").join(CACHE_FILE))
}

/// One verified file as the cache keeps it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct Seen {
    size: u64,
    mtime_ns: u64,
    sha256: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct Cache {
    /// By absolute path (symbolic links resolved).
    files: BTreeMap<String, Seen>,
}

struct Key {
    path: String,
    size: u64,
    mtime_ns: u64,
}

fn key_of(path: &Path, meta: &std::fs::Metadata) -> Option<Key> {
    let abs = std::fs::canonicalize(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(Key {
        path: abs.to_str()?.to_string(),
        size: meta.len(),
        mtime_ns: u64::try_from(mtime.as_nanos()).ok()?,
    })
}

/// The cache as stored; anything unreadable is an empty cache.
fn read_cache(cache: &Path) -> Cache {
    std::fs::read(cache)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Adds a verified file (dropping entries whose file is gone) and writes the cache through
/// a temporary file renamed into place, so a concurrent reader never sees half a file.
/// Failures are ignored: the cache only saves time.
fn remember(cache: &Path, key: Key, sha256: String) {
    let mut stored = read_cache(cache);
    stored.files.retain(|p, _| Path::new(p).is_file());
    stored.files.insert(
        key.path,
        Seen {
            size: key.size,
            mtime_ns: key.mtime_ns,
            sha256,
        },
    );
    let Some(dir) = cache.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(text) = serde_json::to_vec_pretty(&stored) else {
        return;
    };
    // A temporary file of its own per writer (model stages verify on several threads,
    // shards in several processes); the last rename wins, a lost entry is only rehashed.
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
        return;
    };
    if std::io::Write::write_all(&mut tmp, &text).is_ok() {
        let _ = tmp.persist(cache);
    }
}

#[cfg(test)]
mod tests {
    use super::expected_prefix;

    #[test]
    fn torchvision_names_promise_a_prefix() {
        assert_eq!(expected_prefix("r3d_18-b3b3357e.pth"), Some("b3b3357e"));
        assert_eq!(
            expected_prefix("alexnet-owt-7be5be79.pth"),
            Some("7be5be79")
        );
        assert_eq!(
            expected_prefix("swin3d_b_22k-7c6ae6fa.pth"),
            Some("7c6ae6fa")
        );
        assert_eq!(
            expected_prefix("r3d_18-0123abcd.safetensors"),
            Some("0123abcd")
        );
        // Epochs, versions and other people's names promise nothing.
        assert_eq!(expected_prefix("r3d_18-10.pth"), None);
        assert_eq!(expected_prefix("finetuned-20240101.pth"), None);
        assert_eq!(expected_prefix("r3d_18-finetuned.pth"), None);
        assert_eq!(expected_prefix("state_zip.pth"), None);
    }
}
