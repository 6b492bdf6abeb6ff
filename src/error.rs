//! The library's one error type. Every variant names its subject (a file, a model, a key)
//! first, so a message read alone in a batch log still says what went wrong where.
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS error is part of the message and deliberately not a `source()`: callers print
    /// the whole chain (`{:#}`), which would repeat it ("No such file or directory (os error
    /// 2): No such file or directory (os error 2)").
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file exists but cannot be decoded as video (corrupt, truncated, not a media file,
    /// audio only, ...). `reason` says which.
    #[error("{path}: {reason}")]
    Decode { path: PathBuf, reason: String },
    /// A weight file that cannot be read at all (truncated, not a checkpoint, wrong dtype).
    #[error("{path}: {reason}")]
    Weights { path: PathBuf, reason: String },
    /// A readable weight file whose keys or shapes do not fit the model. `problems` lists every
    /// missing key, unexpected key and shape mismatch, one per line.
    #[error("{path}: does not fit model {model}:\n{problems}")]
    WeightsMismatch {
        path: PathBuf,
        model: String,
        problems: String,
    },
    #[error("{url}: download failed: {reason}")]
    Download { url: String, reason: String },
    /// A file whose bytes lack the SHA-256 prefix its torchvision name promises (a download,
    /// or a file found under such a name); `advice` says what to do about it.
    #[error(
        "{path}: SHA-256 {got} does not start with {expected} (from the file name); file refused{advice}"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        got: String,
        advice: String,
    },
    /// Weights not present and not downloadable: says which file to put where.
    #[error("model {model}: weight file {file} not found in {dir} and could not be downloaded ({reason}); download {url} and put it at {dir}/{file}, or pass --weights FILE")]
    WeightsUnavailable {
        model: String,
        file: String,
        dir: PathBuf,
        url: String,
        reason: String,
    },
    /// A label file that cannot be used (blank line between names, a repeated name, …).
    #[error("{path}: not a usable label file: {reason}")]
    Labels { path: PathBuf, reason: String },
    /// Class names that do not fit the checkpoint's classifier.
    #[error("{labels} has {names} class names, but the classifier in {weights} has {classes} classes", weights = weights.display())]
    LabelCount {
        labels: String,
        names: usize,
        weights: PathBuf,
        classes: usize,
    },
    #[error("unknown model {name:?}; known: {known}")]
    UnknownModel { name: String, known: String },
    /// A tensor of the wrong shape given to a model, caught before libtorch would panic.
    #[error("model {model}: input shape {got:?} invalid: {expected}")]
    InputShape {
        model: String,
        expected: String,
        got: Vec<i64>,
    },
    #[error("{0}")]
    Invalid(String),
    /// A libtorch failure. Shown as its message without the C++ stack trace libtorch appends
    /// (see [`torch_message`]), and not a `source()` either, so a chained print shows it once.
    #[error("libtorch: {}", torch_message(.0))]
    Torch(tch::TchError),
}

impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Error::Torch(e)
    }
}

/// A libtorch error as a user should read it: tch's message up to the C++ stack trace
/// libtorch appends (`Exception raised from … (most recent call first):` and the `frame #N:`
/// lines), which says where in libtorch's C++ it failed, never what the user can change — and
/// would otherwise fill a result row's status.
pub fn torch_message(e: &tch::TchError) -> String {
    // "libtorch: " already says what tch's "Internal torch error: " says.
    let text = match e {
        tch::TchError::Torch(message) => message.clone(),
        other => other.to_string(),
    };
    let kept: Vec<&str> = text
        .lines()
        .take_while(|line| {
            let line = line.trim_start();
            !(line.starts_with("Exception raised from") || line.starts_with("frame #"))
        })
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    if kept.is_empty() {
        text.lines().next().unwrap_or_default().trim().to_owned()
    } else {
        kept.join(" ")
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    pub fn decode(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Decode {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_no_trace(shown: &str) {
        assert!(
            !shown.contains("Exception raised from") && !shown.contains("frame #"),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "{shown}");
    }

    #[test]
    fn libtorch_errors_lose_their_cpp_stack_trace() {
        // A real libtorch failure, as every fallible `f_` call reports one.
        let a = tch::Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu));
        let e = Error::from(a.f_matmul(&a).unwrap_err());
        let shown = e.to_string();
        assert!(shown.starts_with("libtorch: "), "{shown}");
        assert!(shown.contains("cannot be multiplied"), "{shown}");
        assert!(!shown.contains("Internal torch error"), "{shown}");
        assert_no_trace(&shown);
        // The trace as libtorch appends it (what() of a c10::Error).
        let traced = tch::TchError::Torch(
            "The size of tensor a (3) must match the size of tensor b (4) at non-singleton \
             dimension 1\nException raised from infer_size_impl at \
             /pytorch/aten/src/ATen/ExpandUtils.cpp:31 (most recent call first):\nframe #0: \
             c10::Error::Error(c10::SourceLocation, std::string) + 0x96 (0x7f in libc10.so)\n\
             frame #1: <unknown function> + 0x1 (0x7f in libtorch_cpu.so)\n"
                .to_owned(),
        );
        let shown = Error::from(traced).to_string();
        assert_eq!(
            shown,
            "libtorch: The size of tensor a (3) must match the size of tensor b (4) at \
             non-singleton dimension 1"
        );
        // Chained printing (the CLI's `{:#}`) shows it once: it is not also a source.
        assert!(std::error::Error::source(&Error::from(a.f_matmul(&a).unwrap_err())).is_none());
    }

    #[test]
    fn os_errors_are_shown_once() {
        let e = Error::io(
            "clip.mp4",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(std::error::Error::source(&e).is_none());
        // The chain as the CLI prints it (`{:#}`): the error, then each source.
        let mut chained = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            chained = format!("{chained}: {s}");
            source = s.source();
        }
        assert_eq!(chained.matches("not found").count(), 1, "{chained}");
        assert!(chained.starts_with("clip.mp4: "), "{chained}");
    }
}
