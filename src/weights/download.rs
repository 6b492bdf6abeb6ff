//! Downloads a weight file with torch.hub's integrity check: the hex digits after the last
//! `-` of the file name must start the file's SHA-256. Bytes go to a hidden `.part` file that
//! is renamed into place only after the check passes, so a failed or refused download never
//! leaves a file that a later run would load.
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// torch.hub's `HASH_REGEX = r"-([a-f0-9]*)\."`: the hex run after the first `-` that is
/// followed by a `.`.
pub fn sha256_prefix(file_name: &str) -> Option<&str> {
    file_name.match_indices('-').find_map(|(i, _)| {
        let rest = &file_name[i + 1..];
        let end = rest.find(|c: char| !matches!(c, '0'..='9' | 'a'..='f'))?;
        (end > 0 && rest[end..].starts_with('.')).then(|| &rest[..end])
    })
}

/// Fetches `url` into `dir/file_name`, checking the SHA-256 prefix named by `file_name`.
pub fn fetch(url: &str, dir: &Path, file_name: &str) -> Result<PathBuf> {
    let expected = sha256_prefix(file_name).ok_or_else(|| {
        Error::Invalid(format!(
            "{file_name}: no SHA-256 prefix in the file name (expected NAME-<hex>.EXT)"
        ))
    })?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let dest = dir.join(file_name);
    let part = dir.join(format!(".{file_name}.part"));
    let result = download_to(url, &part).and_then(|digest| {
        if digest.starts_with(expected) {
            std::fs::rename(&part, &dest).map_err(|e| Error::io(&dest, e))?;
            super::checksum::remember_verified(&dest, &digest);
            Ok(())
        } else {
            Err(Error::Checksum {
                path: dest.clone(),
                expected: expected.to_string(),
                got: digest,
                advice: String::new(),
            })
        }
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result.map(|()| dest)
}

/// Streams the body into `part` and returns its SHA-256 in lowercase hex.
fn download_to(url: &str, part: &Path) -> Result<String> {
    let failed = |reason: String| Error::Download {
        url: url.to_string(),
        reason,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let mut body = response.into_reader();
    let mut file = File::create(part).map_err(|e| Error::io(part, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = body.read(&mut buf).map_err(|e| failed(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Error::io(part, e))?;
    }
    file.sync_all().map_err(|e| Error::io(part, e))?;
    Ok(super::checksum::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::sha256_prefix;

    #[test]
    fn prefix_like_torch_hub() {
        assert_eq!(sha256_prefix("r3d_18-b3b3357e.pth"), Some("b3b3357e"));
        assert_eq!(sha256_prefix("swin3d_b_1k-24f7c7c6.pth"), Some("24f7c7c6"));
        assert_eq!(sha256_prefix("alexnet-owt-7be5be79.pth"), Some("7be5be79"));
        assert_eq!(sha256_prefix("plain.pth"), None);
    }
}
