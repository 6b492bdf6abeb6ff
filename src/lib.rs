//! gradtrust-video: how far to trust each prediction of a video action-recognition model.
//!
//! The pipeline, one module per stage:
//! decode (ffmpeg → RGB frames with timestamps) → sampling (which frames form each clip) →
//! transforms (a model's preset: resize, crop, normalize; `images` makes a picture a
//! one-frame clip) → models (libtorch forward giving logits and penultimate features) →
//! scores (GradTrust and the baselines) → output (text, JSON, rows). `weights` reads and fetches torchvision weight files. The flags live with the binary
//! (`src/main.rs`, `src/cli/`): the library knows none.
//!
//! Batch runs: `lists` reads video lists and finds the files; `pipeline` wires decode
//! workers → model stages (one per device, batching clips across videos) → a writer;
//! `rows` is the rows format (CSV / JSON Lines, append, resume, merge).

pub mod clips;
pub mod decode;
pub mod error;
pub mod eval;
pub mod images;
pub mod labels;
pub mod lists;
pub mod models;
pub mod output;
pub mod pipeline;
pub mod prediction;
pub mod preset;
pub mod results;
pub mod sampling;
pub mod scores;
pub mod scoring;
pub mod timeline;
pub mod transforms;
pub mod weights;

pub use error::{Error, Result};

/// A path's file name, or the whole path when it has none (`..`, `/`): how a video, a list
/// or a weight file is named in sample identities, provenance and progress.
pub(crate) fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
