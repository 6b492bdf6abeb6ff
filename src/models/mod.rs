//! The model contract and the registry of names.
//!
//! A network gives logits and, where it can, the penultimate features `h` (the classifier's
//! input) from one forward, and declares its classifier, so every score works on every model
//! without knowing its architecture. Two kinds implement the contract ([`Network`]): the
//! native ports of torchvision's architectures (one file per family, each an
//! [`Architecture`] whose parameters live in a `VarStore` named by torchvision's `state_dict`
//! keys) and TorchScript modules ([`scripted`]). [`Model`] wraps a network with what the
//! rest of the pipeline needs to know about it ([`ModelInfo`]: input kind, preset, labels).
//!
//! The class count of a native model is not declared: [`Model::load`] reads it from the
//! classifier tensor of the checkpoint, so a fine-tuned torchvision architecture with any
//! N ≥ 2 loads as the published one does.
pub mod alexnet;
pub mod convnext;
pub mod dropout;
pub mod efficientnet;
pub mod layers;
pub mod maxvit;
pub mod mobilenet_v3;
pub mod mvit;
pub mod resnet;
pub mod s3d;
pub mod scripted;
pub mod swin;
pub mod swin3d;
pub mod vgg;
pub mod video_resnet;
pub mod vit;

use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::labels::{LabelSet, Labels};
use crate::preset::{Interpolation, Preset};
use crate::weights::{Checkpoint, Weights};
use crate::{Error, Result};
use dropout::DropoutMasks;

/// What one forward of a native architecture gives: logits `[B, N]`, penultimate features
/// `h` `[B, D]` (the classifier's input, position-averaged where the classifier is a 1×1×1
/// conv), and the head's input (the tensor the dropout head starts from; the features
/// themselves for a model whose head is dropout → linear).
#[derive(Debug)]
pub struct Forward {
    pub logits: Tensor,
    pub features: Tensor,
    pub head_input: Tensor,
}

impl Forward {
    /// The common head: `logits = classifier(features)`, the head input being the features.
    pub fn linear_head(features: Tensor, classifier: &layers::Linear) -> Result<Self> {
        Ok(Forward {
            logits: classifier.forward(&features)?,
            head_input: features.shallow_clone(),
            features,
        })
    }
}

/// What one forward of any [`Network`] gives. A TorchScript module that returns only logits
/// has no features (GradTrust and GradNorm then come from real gradients) and no head input
/// (MC-Dropout cannot switch its dropout alone).
#[derive(Debug)]
pub struct Outputs {
    pub logits: Tensor,
    pub features: Option<Tensor>,
    pub head_input: Option<Tensor>,
}

impl From<Forward> for Outputs {
    fn from(f: Forward) -> Self {
        Outputs {
            logits: f.logits,
            features: Some(f.features),
            head_input: Some(f.head_input),
        }
    }
}

/// The final layer, as the scores see it: `z = W h + b` with `weight` `[N, D]`. A 1×1×1 conv
/// classifier (S3D) is presented as its `[N, D]` view.
#[derive(Debug)]
pub struct Classifier {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Classifier {
    /// The head without dropout: logits from features.
    pub fn logits(&self, features: &Tensor) -> Result<Tensor> {
        Ok(features.f_linear(&self.weight, self.bias.as_ref())?)
    }

    pub fn num_classes(&self) -> usize {
        self.weight.size().first().copied().unwrap_or(0) as usize
    }
}

/// One native architecture family's forward (parameters in the `VarStore` it was built on).
/// The [`Model`] wrapper validates the shape first (see [`ModelSpec::check_input`], which
/// knows only minimums); a network with a stricter constraint (MViT's fixed 16×224×224)
/// checks it at the start of its own forward.
pub trait Architecture: Send {
    /// Inference forward (dropout off).
    fn forward(&self, xs: &Tensor) -> Result<Forward>;
    fn classifier(&self) -> Classifier;
    /// Dropout probability of the classifier head, if it has dropout with p > 0.
    fn head_dropout(&self) -> Option<f64> {
        None
    }
    /// Logits from `Forward::head_input`, with the head's dropout layers drawing from `masks`
    /// (MC-Dropout re-runs only this on cached head inputs); `None` is inference (dropout
    /// off). The default is the plain linear classifier on the features.
    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        let _ = masks;
        self.classifier().logits(head_input)
    }
}

/// The contract every score works through, native or scripted.
pub trait Network: Send {
    fn forward(&self, xs: &Tensor) -> Result<Outputs>;
    fn classifier(&self) -> Classifier;
    fn head_dropout(&self) -> Option<f64>;
    /// See [`Architecture::head`]; an error for a network without a head input.
    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor>;
    /// Trainable parameters in the order the module registered them: torchvision's
    /// `named_parameters()` order (a module's own parameters before its children's), which
    /// Purview's split depends on.
    fn parameters(&self) -> Vec<(String, Tensor)>;
    /// A native network's parameters and buffers by state-dict key (what weight files load).
    fn var_store(&self) -> Option<&VarStore> {
        None
    }
    /// Whether [`Network::forward`] gives features (known once loaded).
    fn gives_features(&self) -> bool {
        true
    }
}

/// A native architecture with its parameters.
struct Native {
    vs: VarStore,
    arch: Box<dyn Architecture>,
}

impl Network for Native {
    fn forward(&self, xs: &Tensor) -> Result<Outputs> {
        self.arch.forward(xs).map(Outputs::from)
    }

    fn classifier(&self) -> Classifier {
        self.arch.classifier()
    }

    fn head_dropout(&self) -> Option<f64> {
        self.arch.head_dropout()
    }

    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        self.arch.head(head_input, masks)
    }

    fn var_store(&self) -> Option<&VarStore> {
        Some(&self.vs)
    }

    /// Layers create their parameters in torchvision's order, and the VarStore keeps
    /// creation order.
    fn parameters(&self) -> Vec<(String, Tensor)> {
        let named = self.vs.variables();
        let by_ptr: std::collections::HashMap<usize, &String> = named
            .iter()
            .map(|(name, t)| (t.data_ptr() as usize, name))
            .collect();
        self.vs
            .trainable_variables()
            .into_iter()
            .filter_map(|t| {
                let name = by_ptr.get(&(t.data_ptr() as usize))?;
                Some(((*name).clone(), t))
            })
            .collect()
    }
}

/// What a model classifies. Image models run on single-frame clips `[B, 3, 1, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Video,
    Image,
}

/// A registry entry: one torchvision architecture and the facts of its published
/// checkpoint (file, accuracy, cost, classes). What the network itself determines
/// (classifier shape, parameter count) is derived from a built network ([`ModelSpec::facts`]).
pub struct ModelSpec {
    /// The architecture family (its file in `src/models/`), also a `--preset` name.
    pub family: &'static str,
    pub name: &'static str,
    /// torchvision's file name; the 8 hex digits are the start of its SHA-256.
    pub weight_file: &'static str,
    pub gflops: f64,
    pub acc1: f64,
    pub acc5: f64,
    /// state_dict key of the classifier weight.
    pub classifier_key: &'static str,
    /// The classes of torchvision's checkpoint (its N).
    pub labels: LabelSet,
    pub input: InputKind,
    pub preset: fn() -> Preset,
    /// Other torchvision weight files of the same architecture (swin3d_b's ImageNet-22k
    /// pre-trained one).
    pub alt_weight_files: &'static [&'static str],
    /// Smallest (T, H, W) the architecture accepts.
    pub min_input: [i64; 3],
    /// A further input rule, for `models` and error messages.
    pub input_note: Option<&'static str>,
    /// The architecture with `N` classes.
    build: fn(&tch::nn::Path, i64) -> Box<dyn Architecture>,
}

impl std::fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSpec")
            .field("name", &self.name)
            .finish()
    }
}

/// torchvision's public model URL prefix.
pub const WEIGHTS_URL_PREFIX: &str = "https://download.pytorch.org/models/";

/// What a built network says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkFacts {
    pub num_params: u64,
    pub classifier_shape: Vec<i64>,
}

impl ModelSpec {
    pub fn weights_url(&self) -> String {
        format!("{WEIGHTS_URL_PREFIX}{}", self.weight_file)
    }

    /// Classes of torchvision's checkpoint.
    pub fn num_classes(&self) -> usize {
        self.labels.len()
    }

    /// Parameter count and classifier shape of the architecture with torchvision's N, from
    /// a network built on the CPU (zero-initialised, a few hundred MB at most, dropped).
    pub fn facts(&self) -> NetworkFacts {
        let vs = VarStore::new(Device::Cpu);
        let _arch = (self.build)(&vs.root(), self.num_classes() as i64);
        let vars = vs.variables();
        NetworkFacts {
            num_params: vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as u64)
                .sum(),
            classifier_shape: vars
                .get(self.classifier_key)
                .map(Tensor::size)
                .unwrap_or_default(),
        }
    }

    /// Rejects an input libtorch would fail on deep inside the forward, with a message that
    /// says what the model needs.
    pub fn check_input(&self, xs: &Tensor) -> Result<()> {
        check_input(self.name, self.input, self.min_input, xs)
    }
}

fn check_input(name: &str, input: InputKind, min: [i64; 3], xs: &Tensor) -> Result<()> {
    let size = xs.size();
    let [t, h, w] = min;
    let ok = size.len() == 5
        && size[0] >= 1
        && size[1] == 3
        && size[2] >= t
        && (input == InputKind::Video || size[2] == 1)
        && size[3] >= h
        && size[4] >= w;
    if ok {
        return Ok(());
    }
    Err(Error::InputShape {
        model: name.to_string(),
        expected: match input {
            InputKind::Video => format!("[B, 3, T, H, W] with B ≥ 1, T ≥ {t}, H ≥ {h}, W ≥ {w}"),
            InputKind::Image => {
                format!("[B, 3, 1, H, W] (single-frame clips) with B ≥ 1, H ≥ {h}, W ≥ {w}")
            }
        },
        got: size,
    })
}

/// Every registry entry, family by family; a new architecture is its file and one line here.
static FAMILIES: &[&[ModelSpec]] = &[
    video_resnet::SPECS,
    s3d::SPECS,
    mvit::SPECS,
    swin3d::SPECS,
    alexnet::SPECS,
    vgg::SPECS,
    resnet::SPECS,
    mobilenet_v3::SPECS,
    efficientnet::SPECS,
    convnext::SPECS,
    swin::SPECS,
    vit::SPECS,
    maxvit::SPECS,
];

/// Every registry entry, in `models` order.
pub fn all() -> impl Iterator<Item = &'static ModelSpec> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

pub fn spec(name: &str) -> Result<&'static ModelSpec> {
    all()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::UnknownModel {
            name: name.to_string(),
            known: all().map(|m| m.name).collect::<Vec<_>>().join(", "),
        })
}

/// The preset a TorchScript module borrows: a model's (`mc3_18`), a family's (`swin3d`: its
/// first model's), or `imagenet` (256 / 224 bilinear, torchvision's classic ImageNet
/// evaluation).
pub fn borrowed_preset(name: &str) -> Result<(Preset, InputKind)> {
    if name == "imagenet" {
        return Ok((
            Preset::imagenet(256, 224, Interpolation::Bilinear),
            InputKind::Image,
        ));
    }
    all()
        .find(|m| m.name == name)
        .or_else(|| all().find(|m| m.family == name))
        .map(|m| ((m.preset)(), m.input))
        .ok_or_else(|| {
            let mut families: Vec<&str> = all().map(|m| m.family).collect();
            families.dedup();
            Error::Invalid(format!(
                "preset {name:?}: not a model or family name; models: {}; families: {}, imagenet",
                all().map(|m| m.name).collect::<Vec<_>>().join(", "),
                families.join(", ")
            ))
        })
}

/// Which network to build and from what: what a user names on the command line.
#[derive(Clone, Debug)]
pub struct ModelRequest {
    pub arch: Arch,
    /// A resolved weight file (a state dict, a training checkpoint, or a TorchScript archive),
    /// or seeded untrained parameters.
    pub weights: Weights,
    /// The checkpoint key holding the state dict, when the search should not choose.
    pub weights_key: Option<String>,
    /// The user's class names; the checkpoint's class count must match them.
    pub labels: Option<Labels>,
}

#[derive(Clone, Debug)]
pub enum Arch {
    Registry(&'static ModelSpec),
    /// A TorchScript module run with a borrowed preset and, optionally, a named classifier
    /// parameter.
    TorchScript {
        preset: String,
        classifier: Option<String>,
    },
}

/// What the pipeline needs to know about a loaded model.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// The registry name, or `torchscript`.
    pub name: String,
    pub input: InputKind,
    pub preset: Preset,
    pub labels: Labels,
    /// The classifier's state-dict key (native) or parameter name (scripted).
    pub classifier: String,
    /// The weight file (or untrained:SEED) and, for a checkpoint, the key prefix its state
    /// dict sat under.
    pub weights: Weights,
    pub state_dict_prefix: String,
    /// Said in every report (generic class names, …).
    pub notes: Vec<String>,
    min_input: [i64; 3],
}

/// A network with its parameters, ready to run.
pub struct Model {
    info: ModelInfo,
    net: Box<dyn Network>,
}

impl Model {
    /// Builds a registry architecture with torchvision's class count and zeroed parameters;
    /// [`Model::load_weights`] fills them.
    pub fn new(name: &str, device: Device) -> Result<Self> {
        let spec = spec(name)?;
        Ok(Model::native(
            spec,
            spec.num_classes() as i64,
            device,
            Labels::builtin(spec.labels),
        ))
    }

    fn native(spec: &'static ModelSpec, n: i64, device: Device, labels: Labels) -> Model {
        let vs = VarStore::new(device);
        let arch = (spec.build)(&vs.root(), n);
        Model {
            info: ModelInfo {
                name: spec.name.to_string(),
                input: spec.input,
                preset: (spec.preset)(),
                labels,
                classifier: spec.classifier_key.to_string(),
                weights: Weights::File(PathBuf::new()),
                state_dict_prefix: String::new(),
                notes: Vec::new(),
                min_input: spec.min_input,
            },
            net: Box::new(Native { vs, arch }),
        }
    }

    /// What users run: the network `request` names, its class count read from the
    /// checkpoint, its weights strictly loaded, its class names resolved (the user's file,
    /// torchvision's list when N is torchvision's, else `class_<i>` with a note). A file
    /// under a torchvision name must have the SHA-256 prefix that name carries, and weights
    /// with NaN or ±inf, or integers where float parameters belong, are refused.
    /// Untrained weights build the architecture with the user's class count (else
    /// torchvision's) and seeded parameters ([`init_untrained`]), with a note saying so.
    pub fn load(request: &ModelRequest, device: Device) -> Result<Model> {
        let path = match &request.weights {
            Weights::File(path) => path,
            Weights::Untrained { seed } => return Model::untrained(request, *seed, device),
        };
        let mut model = match &request.arch {
            Arch::Registry(spec) => {
                let checkpoint = Checkpoint::open(path)?;
                let prefix =
                    checkpoint.locate(spec.classifier_key, request.weights_key.as_deref())?;
                let shape = checkpoint
                    .shape_at(&prefix, spec.classifier_key)
                    .unwrap_or_default();
                let n = shape.first().copied().unwrap_or(0);
                if n < 2 {
                    return Err(Error::Weights {
                        path: path.clone(),
                        reason: format!(
                            "classifier {prefix}{} has shape {shape:?}: a classifier needs at least 2 classes",
                            spec.classifier_key
                        ),
                    });
                }
                let (labels, notes) =
                    resolve_labels(request.labels.as_ref(), Some(spec.labels), n as usize, path)?;
                let mut model = Model::native(spec, n, device, labels);
                model.load_state_dict(&checkpoint, &prefix)?;
                model.info.notes = notes;
                model
            }
            Arch::TorchScript { preset, classifier } => {
                let (preset, input) = borrowed_preset(preset)?;
                // A native checkpoint gets both checks from `Checkpoint::open` and
                // `load_into`; the archive is read by libtorch, so they are made here.
                crate::weights::checksum::verify(path)?;
                let net = scripted::Scripted::load(
                    path,
                    device,
                    classifier.as_deref(),
                    request.labels.as_ref().map(Labels::len),
                    &preset,
                    input,
                )?;
                let parameters = net.parameters();
                crate::weights::check_finite(
                    parameters.iter().map(|(k, t)| (k.as_str(), t)),
                    path,
                )?;
                let head = net.classifier_name().to_string();
                let (labels, mut notes) =
                    resolve_labels(request.labels.as_ref(), None, net.num_classes(), path)?;
                notes.extend(net.notes());
                Model {
                    info: ModelInfo {
                        name: "torchscript".into(),
                        input,
                        preset,
                        labels,
                        classifier: head,
                        weights: request.weights.clone(),
                        state_dict_prefix: String::new(),
                        notes,
                        min_input: [1, 1, 1],
                    },
                    net: Box::new(net),
                }
            }
        };
        model.info.weights = request.weights.clone();
        Ok(model)
    }

    /// A registry architecture with seeded untrained parameters: the pipeline runs end to end
    /// where no weight file can be had, and every report says the predictions mean nothing.
    fn untrained(request: &ModelRequest, seed: u64, device: Device) -> Result<Model> {
        let Arch::Registry(spec) = &request.arch else {
            return Err(Error::Invalid(format!(
                "{}: untrained weights are for the built-in architectures; a TorchScript \
                 module brings its own",
                request.weights
            ))
            .with_remedy(crate::error::Remedy::WeightsFile));
        };
        let n = request
            .labels
            .as_ref()
            .map_or(spec.num_classes(), Labels::len);
        if n < 2 {
            return Err(Error::Invalid(format!(
                "{}: a classifier needs at least 2 classes, the label file names {n}",
                request.weights
            )));
        }
        let name = request.weights.name();
        let (labels, mut notes) = resolve_labels(
            request.labels.as_ref(),
            Some(spec.labels),
            n,
            Path::new(&name),
        )?;
        notes.extend(request.weights.note());
        let mut model = Model::native(spec, n as i64, device, labels);
        let vs = model.var_store().expect("a native model has a VarStore");
        init_untrained(vs, seed)?;
        model.info.notes = notes;
        model.info.weights = request.weights.clone();
        Ok(model)
    }

    /// Strict load of a weight file into a registry model (its state dict found as
    /// [`Checkpoint::locate`] finds it): every key present, none unexpected, every shape equal.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let checkpoint = Checkpoint::open(path)?;
        let prefix = checkpoint.locate(&self.info.classifier, None)?;
        self.load_state_dict(&checkpoint, &prefix)?;
        self.info.weights = Weights::File(path.to_path_buf());
        Ok(())
    }

    fn load_state_dict(&mut self, checkpoint: &Checkpoint, prefix: &str) -> Result<()> {
        let Some(vs) = self.var_store() else {
            return Err(Error::Invalid(format!(
                "model {}: its weights come with the TorchScript module",
                self.info.name
            )));
        };
        let file = checkpoint.state_dict(prefix)?;
        crate::weights::load_into(vs, &file, checkpoint.path(), &self.info.name)?;
        self.info.state_dict_prefix = prefix.to_string();
        Ok(())
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn labels(&self) -> &Labels {
        &self.info.labels
    }

    pub fn device(&self) -> Device {
        self.parameters()
            .first()
            .map_or(Device::Cpu, |(_, t)| t.device())
    }

    /// The parameters and buffers of a native model, by state-dict key.
    pub fn var_store(&self) -> Option<&VarStore> {
        self.net.var_store()
    }

    /// `xs`: normalized clips `[B, 3, T, H, W]` on the model's device. A native model's
    /// logits, features and head input.
    pub fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let out = self.outputs(xs)?;
        match (out.features, out.head_input) {
            (Some(features), Some(head_input)) => Ok(Forward {
                logits: out.logits,
                features,
                head_input,
            }),
            _ => Err(Error::Invalid(format!(
                "model {}: the module returns logits only (no features)",
                self.info.name
            ))),
        }
    }

    /// What the network gives, features and head input where it has them.
    pub fn outputs(&self, xs: &Tensor) -> Result<Outputs> {
        check_input(&self.info.name, self.info.input, self.info.min_input, xs)?;
        self.net.forward(xs)
    }

    pub fn classifier(&self) -> Classifier {
        self.net.classifier()
    }

    /// Whether the forward gives features `h` (every native model; a TorchScript module
    /// returning `(logits, features)`).
    pub fn gives_features(&self) -> bool {
        self.net.gives_features()
    }

    pub fn num_classes(&self) -> usize {
        self.info.labels.len()
    }

    pub fn head_dropout(&self) -> Option<f64> {
        self.net.head_dropout()
    }

    /// See [`Architecture::head`].
    pub fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        self.net.head(head_input, masks)
    }

    /// Trainable parameters in torchvision's `named_parameters()` order (see
    /// [`Network::parameters`]).
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        self.net.parameters()
    }

    pub fn num_params(&self) -> u64 {
        self.parameters()
            .iter()
            .map(|(_, t)| t.numel() as u64)
            .sum()
    }
}

/// Draws a native model's parameters from libtorch's generator seeded with `seed`, as
/// PyTorch's default `reset_parameters` does: a conv or linear weight and its bias uniform in
/// ±1/√fan_in, a normalization layer's weight 1 and bias 0, any other parameter (position
/// embeddings, class tokens, relative position tables, layer scales) N(0, 0.02²). Buffers
/// (BatchNorm's running statistics) keep their built values. Keys are visited in sorted
/// order and values drawn on the CPU, then copied: the same seed gives the same model on
/// every device. A lock keeps a concurrent load (one per device) from interleaving draws
/// from the shared generator.
fn init_untrained(vs: &VarStore, seed: u64) -> Result<()> {
    static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed as i64);
    let vars = vs.variables();
    let mut keys: Vec<&String> = vars.keys().filter(|k| vars[*k].requires_grad()).collect();
    keys.sort();
    let fan_in = |t: &Tensor| -> i64 { t.size().iter().skip(1).product::<i64>().max(1) };
    let uniform = |size: &[i64], fan_in: i64| -> Result<Tensor> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        Ok(Tensor::f_empty(size, (tch::Kind::Float, Device::Cpu))?.f_uniform_(-bound, bound)?)
    };
    tch::no_grad(|| -> Result<()> {
        for key in keys {
            let mut var = vars[key].shallow_clone();
            let size = var.size();
            let sibling = key
                .strip_suffix(".bias")
                .and_then(|m| vars.get(&format!("{m}.weight")))
                .filter(|w| w.dim() >= 2);
            let value = if size.len() >= 2 && key.ends_with(".weight") {
                uniform(&size, fan_in(&var))?
            } else if let Some(weight) = sibling {
                uniform(&size, fan_in(weight))?
            } else if size.len() == 1 && key.ends_with(".weight") {
                Tensor::f_ones(&size, (tch::Kind::Float, Device::Cpu))?
            } else if size.len() == 1 && key.ends_with(".bias") {
                Tensor::f_zeros(&size, (tch::Kind::Float, Device::Cpu))?
            } else {
                Tensor::f_randn(&size, (tch::Kind::Float, Device::Cpu))?.f_mul_scalar(0.02)?
            };
            var.f_copy_(&value)?;
        }
        Ok(())
    })
}

/// The class names of a model with `n` classes: the user's (whose count must be `n`),
/// else the built-in list when its count is `n`, else `class_<i>` with a note.
fn resolve_labels(
    user: Option<&Labels>,
    builtin: Option<LabelSet>,
    n: usize,
    weights: &Path,
) -> Result<(Labels, Vec<String>)> {
    if let Some(labels) = user {
        if labels.len() != n {
            return Err(Error::LabelCount {
                labels: labels.source().to_string(),
                names: labels.len(),
                weights: weights.to_path_buf(),
                classes: n,
            });
        }
        return Ok((labels.clone(), Vec::new()));
    }
    match builtin {
        Some(set) if set.len() == n => Ok((Labels::builtin(set), Vec::new())),
        _ => Ok((
            Labels::generic(n),
            vec![format!(
                "{}: {n} classes and no label file: classes are named class_0 … class_{}",
                weights.display(),
                n - 1
            )],
        )),
    }
}
