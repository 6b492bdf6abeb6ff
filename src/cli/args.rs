//! The flags resolved into the library's options: devices, score sets, score options,
//! the weight source, the model request, the list of videos. Errors name the flag.
use std::path::PathBuf;

use anyhow::bail;
use tch::Device;

use gradtrust_video::decode::MediaKind;
use gradtrust_video::lists;
use gradtrust_video::models::{self, InputKind};
use gradtrust_video::scores::{GradTrustMethod, ScoreOptions};
use gradtrust_video::weights::{Weights, WeightsSource};

use super::flags::{Devices, ListArgs, ModelArgs, ScoreOptionArgs, WeightsArgs, TORCHSCRIPT};

impl ModelArgs {
    /// The architecture `name` names, its preset and input kind; nothing is read or fetched.
    pub(super) fn arch(
        &self,
        name: &str,
    ) -> anyhow::Result<(models::Arch, gradtrust_video::preset::Preset, InputKind)> {
        if name == TORCHSCRIPT {
            let preset = self.preset.clone().unwrap_or_default();
            let (p, input) = models::borrowed_preset(&preset)
                .map_err(|e| anyhow::Error::new(e).context(BadFlag("--preset".to_owned())))?;
            return Ok((
                models::Arch::TorchScript {
                    preset,
                    classifier: self.classifier.clone(),
                },
                p,
                input,
            ));
        }
        if self.preset.is_some() || self.classifier.is_some() {
            return Err(BadFlag(format!(
                "--preset and --classifier are for --model {TORCHSCRIPT}; model {name} has its own preset and classifier"
            ))
            .into());
        }
        let spec = models::spec(name)?;
        Ok((models::Arch::Registry(spec), (spec.preset)(), spec.input))
    }

    /// The full request: the weight file resolved (looked for, downloaded with its checksum
    /// checked), the label file read.
    pub(super) fn request(&self, arch: models::Arch) -> anyhow::Result<models::ModelRequest> {
        let labels = self
            .labels
            .as_deref()
            .map(gradtrust_video::labels::Labels::read)
            .transpose()?;
        let weights = match &arch {
            models::Arch::Registry(spec) => checked_file(
                source(
                    &self.weights_source,
                    self.weights.clone(),
                    self.weights_file.clone(),
                ),
                spec,
            )?
            .resolve(spec)?,
            // clap requires --weights with torchscript; untrained weights are refused by
            // the model's loading, which says the module brings its own.
            models::Arch::TorchScript { .. } => self
                .weights
                .clone()
                .unwrap_or_else(|| Weights::File(PathBuf::new())),
        };
        Ok(models::ModelRequest {
            arch,
            weights,
            weights_key: self.weights_key.clone(),
            labels,
        })
    }
}

impl ListArgs {
    pub(super) fn read(
        &self,
        labels: &gradtrust_video::labels::Labels,
    ) -> anyhow::Result<Vec<lists::Entry>> {
        let format = self
            .format
            .as_deref()
            .map(str::parse::<lists::ListFormat>)
            .transpose()?;
        let (_, entries) = lists::read_list(
            &self.list,
            format,
            self.root.as_deref(),
            labels,
            self.synsets.as_deref(),
        )?;
        Ok(entries)
    }
}

impl ScoreOptionArgs {
    /// The values are checked by clap's value parsers (`flags`).
    pub(super) fn options(&self) -> ScoreOptions {
        ScoreOptions {
            backward_chunk: self.backward_chunk,
            forward_chunk: ScoreOptions::FORWARD_CHUNK,
            odin_temperature: self.odin_temperature,
            odin_epsilon: self.odin_epsilon,
            mc_passes: self.mc_passes,
            seed: self.seed,
            gradtrust: if self.gradtrust == "autograd" {
                GradTrustMethod::Autograd
            } else {
                GradTrustMethod::ClosedForm
            },
        }
    }
}

/// `source` when its `--weights-file` is one of `spec`'s torchvision files; a file name the
/// model does not have is a usage error.
pub(super) fn checked_file(
    source: WeightsSource,
    spec: &models::ModelSpec,
) -> anyhow::Result<WeightsSource> {
    match source.file_name(spec) {
        Ok(_) => Ok(source),
        Err(e) => Err(anyhow::Error::new(e).context(BadFlag("--weights-file".to_owned()))),
    }
}

/// `score`'s device: the first of `--device`'s list, else CUDA when available.
pub(super) fn device(given: Option<&Devices>) -> Device {
    given.map_or_else(Device::cuda_if_available, |d| d.0[0])
}

/// `batch`'s model stages: `--devices`, else cuda:0 when available, else the CPU.
pub(super) fn devices(given: Option<Devices>) -> Vec<Device> {
    given.map_or_else(|| vec![Device::cuda_if_available()], |d| d.0)
}

/// A flag value found wrong only once more is known (the model's preset or frame rate):
/// a usage error like clap's own, exit status 2 (see [`super::run::exit_status`]).
#[derive(Debug)]
pub(super) struct BadFlag(pub(super) String);

impl std::fmt::Display for BadFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadFlag {}

pub(super) fn source(
    args: &WeightsArgs,
    explicit: Option<Weights>,
    file: Option<String>,
) -> WeightsSource {
    WeightsSource {
        explicit,
        file,
        models_dir: args.models_dir.clone(),
        base_url: args.weights_url.clone(),
    }
}

pub(super) const DEFAULT_VIDEO_MODEL: &str = "r3d_18";
pub(super) const DEFAULT_IMAGE_MODEL: &str = "resnet18";

/// A video model given an image, or an image model given a video: say so, naming both.
pub(super) fn check_input_kind(
    path: &std::path::Path,
    kind: MediaKind,
    name: &str,
    input: InputKind,
) -> anyhow::Result<()> {
    match (kind, input) {
        (MediaKind::Video, InputKind::Video) | (MediaKind::Image, InputKind::Image) => Ok(()),
        (MediaKind::Image, InputKind::Video) => bail!(
            "{}: is an image, but model {} is a video model (Kinetics-400 clips); use an image \
             model, e.g. --model {DEFAULT_IMAGE_MODEL}",
            path.display(),
            name
        ),
        (MediaKind::Video, InputKind::Image) => bail!(
            "{}: is a video, but model {} is an image model (ImageNet); use a video model, \
             e.g. --model {DEFAULT_VIDEO_MODEL}",
            path.display(),
            name
        ),
    }
}
