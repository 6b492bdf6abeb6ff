//! Command-line interface, layered as ripgrep's: `flags` (the clap structs), `args` (their
//! resolution into the library's options), `run` (the command bodies), `progress` (what a
//! batch shows while it works). The binary is the only place that knows flags; the library's
//! errors name none, and these modules add the flag as context.
mod args;
mod flags;
mod progress;
mod run;

pub use flags::Cli;
pub use run::{exit_status, run};

use gradtrust_video::error::Remedy;

/// The flag (or command) that fixes a failed command's error, when the library said one
/// exists: the first library error in the chain that carries a remedy.
pub fn hint(e: &anyhow::Error) -> Option<String> {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<gradtrust_video::Error>())
        .find_map(|e| e.remedy())
        .map(remedy_hint)
}

/// A remedy in the command line's terms.
fn remedy_hint(remedy: &Remedy) -> String {
    match remedy {
        Remedy::Resume => "pass --resume to continue it".into(),
        Remedy::ResumeShard => {
            "finish a shard by running its batch command again with --resume".into()
        }
        Remedy::Force => "pass --force to replace it".into(),
        Remedy::AnotherOut => "give another --out".into(),
        Remedy::SameSettings => {
            "resume with the flags of the run that made it, or give another --out".into()
        }
        Remedy::SameColumns => {
            "resume with the same --scores and --logits, or give another --out".into()
        }
        // `fetch` has no --weights: the commands that load weights take the file this way.
        Remedy::WeightsFile => "score and batch take a weight file with --weights FILE".into(),
        Remedy::WeightsKey => "pick one with --weights-key KEY".into(),
        Remedy::Classifier => "name the classifier parameter with --classifier NAME".into(),
        Remedy::TorchScript => "run it with --model torchscript --weights FILE --preset NAME \
                                (the built-in model or family whose preset it borrows, e.g. \
                                r3d_18, swin3d, imagenet)"
            .into(),
        Remedy::Architecture => {
            "run it with --model <its torchvision architecture> --weights FILE".into()
        }
        Remedy::Fetch {
            model: Some(model),
            weights_file,
        } => match weights_file {
            Some(file) => format!(
                "download it again with `gradtrust-video fetch {model} --weights-file {file}`"
            ),
            None => format!("download it again with `gradtrust-video fetch {model}`"),
        },
        Remedy::Fetch { model: None, .. } => {
            "`gradtrust-video fetch MODEL` downloads torchvision's files".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every remedy the library can give becomes a hint naming what to type.
    #[test]
    fn every_remedy_names_a_flag_or_command() {
        let fetch = |model: Option<&str>, file: Option<&str>| Remedy::Fetch {
            model: model.map(str::to_string),
            weights_file: file.map(str::to_string),
        };
        let all = [
            (Remedy::Resume, "--resume"),
            (Remedy::ResumeShard, "--resume"),
            (Remedy::Force, "--force"),
            (Remedy::AnotherOut, "--out"),
            (Remedy::SameSettings, "--out"),
            (Remedy::SameColumns, "--scores and --logits"),
            (Remedy::WeightsFile, "--weights FILE"),
            (Remedy::WeightsKey, "--weights-key"),
            (Remedy::Classifier, "--classifier"),
            (
                Remedy::TorchScript,
                "--model torchscript --weights FILE --preset",
            ),
            (Remedy::Architecture, "--model"),
            (
                fetch(Some("mc3_18"), None),
                "`gradtrust-video fetch mc3_18`",
            ),
            (
                fetch(Some("mc3_18"), Some("alt.pth")),
                "`gradtrust-video fetch mc3_18 --weights-file alt.pth`",
            ),
            (fetch(None, None), "`gradtrust-video fetch MODEL`"),
        ];
        for (remedy, named) in all {
            // A new remedy must be listed here: this match fails to compile until it is.
            match remedy {
                Remedy::Resume
                | Remedy::ResumeShard
                | Remedy::Force
                | Remedy::AnotherOut
                | Remedy::SameSettings
                | Remedy::SameColumns
                | Remedy::WeightsFile
                | Remedy::WeightsKey
                | Remedy::Classifier
                | Remedy::TorchScript
                | Remedy::Architecture
                | Remedy::Fetch { .. } => {}
            }
            let hint = remedy_hint(&remedy);
            assert!(hint.contains(named), "{remedy:?}: {hint}");
        }
    }

    /// The hint is found under the CLI's context layers, and an error without a remedy
    /// has none.
    #[test]
    fn hint_is_found_through_context() {
        use anyhow::Context;
        let e: anyhow::Result<()> = Err(gradtrust_video::Error::Invalid(
            "out.csv: already exists".into(),
        )
        .with_remedy(Remedy::Resume)
        .into());
        let e = e.context("batch").unwrap_err();
        assert_eq!(hint(&e).as_deref(), Some("pass --resume to continue it"));
        assert_eq!(format!("{e:#}"), "batch: out.csv: already exists");
        let plain = anyhow::Error::from(gradtrust_video::Error::Invalid("x".into()));
        assert_eq!(hint(&plain), None);
    }
}
