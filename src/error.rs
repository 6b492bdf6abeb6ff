//! The library's one error type. Every variant names its subject (a file, a model, a flag)
//! first, so a message read alone in a batch log still says what went wrong where.
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
    #[error(
        "{path}: SHA-256 {got} does not start with {expected} (from the file name); file refused"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        got: String,
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
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn decode(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Decode {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
