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
    /// Its remedy, naming the file in the user's own terms, is [`Remedy::WeightsFile`].
    #[error("model {model}: weight file {file} not found in {dir} and could not be downloaded ({reason}); download {url} and put it at {dir}/{file}, or give the weight file's path")]
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
    /// An error the user can fix with a setting: shown as `error` alone (the library knows no
    /// flags), while `remedy` lets the binary name the flag that fixes it.
    #[error("{error}")]
    WithRemedy { error: Box<Error>, remedy: Remedy },
}

/// The kind of setting that fixes an error, for the binary to name as its flag: the library
/// says what is wrong and that a remedy exists; only the command line knows what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// An existing results file: continue it instead of starting over.
    Resume,
    /// A shard file that is damaged or unfinished: continue (and so repair) that shard's run.
    ResumeShard,
    /// An existing output file that may be replaced.
    Force,
    /// An output file that cannot be (re)used: write to another path.
    AnotherOut,
    /// An existing results file made with other settings: use the same ones, or another path.
    SameSettings,
    /// An existing results file with other columns: the same score and logit choices, or
    /// another path.
    SameColumns,
    /// A missing built-in weight file: give the path of one.
    WeightsFile,
    /// A checkpoint holding several state dicts with the classifier: say which one.
    WeightsKey,
    /// A TorchScript module whose classifier parameter is ambiguous or wrong: name it.
    Classifier,
    /// A TorchScript archive given as a state dict: run it as TorchScript, with a preset.
    TorchScript,
    /// A state dict or checkpoint given as TorchScript: run it as its torchvision model.
    Architecture,
    /// A torchvision weight file that failed its checksum: download it again (`model`, when
    /// the file is a known one; `weights_file`, when it is one of the model's other files).
    Fetch {
        model: Option<String>,
        weights_file: Option<String>,
    },
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

    /// This error, carrying the kind of setting that fixes it (its message is unchanged).
    pub fn with_remedy(self, remedy: Remedy) -> Self {
        Error::WithRemedy {
            error: Box::new(self),
            remedy,
        }
    }

    /// The kind of setting that fixes this error, if one does.
    pub fn remedy(&self) -> Option<&Remedy> {
        match self {
            Error::WithRemedy { remedy, .. } => Some(remedy),
            Error::WeightsUnavailable { .. } => Some(&Remedy::WeightsFile),
            _ => None,
        }
    }

    /// The error itself, without the remedy it may carry: for matching on what went wrong.
    pub fn kind(&self) -> &Error {
        match self {
            Error::WithRemedy { error, .. } => error.kind(),
            other => other,
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

    // ---- remedies ----

    /// A remedy changes nothing the user reads from the library (the binary adds the flag),
    /// and the error under it stays matchable.
    #[test]
    fn a_remedy_leaves_the_message_and_the_kind() {
        let plain = || Error::Weights {
            path: "m.pt".into(),
            reason: "several state dicts hold fc.weight; say which one".into(),
        };
        let e = plain().with_remedy(Remedy::WeightsKey);
        assert_eq!(e.to_string(), plain().to_string());
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.remedy(), Some(&Remedy::WeightsKey));
        assert!(matches!(e.kind(), Error::Weights { .. }));
        assert_eq!(plain().remedy(), None);
        let missing = Error::WeightsUnavailable {
            model: "r3d_18".into(),
            file: "r3d_18-b3b3357e.pth".into(),
            dir: "models".into(),
            url: "https://download.pytorch.org/models/r3d_18-b3b3357e.pth".into(),
            reason: "offline".into(),
        };
        assert_eq!(missing.remedy(), Some(&Remedy::WeightsFile));
        assert!(!missing.to_string().contains("--"), "{missing}");
    }
}
