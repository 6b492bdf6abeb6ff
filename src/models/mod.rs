//! The model contract and the registry of names.
//!
//! A network (one file per architecture family) gives logits and the penultimate features
//! `h` (the classifier's input) from one forward, and declares its classifier, so every score
//! works on every model without knowing its architecture. [`Model`] wraps a network with its
//! parameters (a `VarStore` whose names are torchvision's `state_dict` keys), its preset and
//! its registry entry.
pub mod alexnet;
pub mod convnext;
pub mod efficientnet;
pub mod layers;
pub mod maxvit;
pub mod mobilenet_v3;
pub mod mvit;
pub mod resnet;
pub mod s3d;
pub mod swin;
pub mod swin3d;
pub mod vgg;
pub mod video_resnet;
pub mod vit;

use std::path::Path;

use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::labels::LabelSet;
use crate::preset::{Interpolation, Preset};
use crate::{Error, Result};

/// What one forward gives: logits `[B, N]`, penultimate features `h` `[B, D]` (the
/// classifier's input, position-averaged where the classifier is a 1×1×1 conv), and the
/// head's input (the tensor the dropout head starts from; the features themselves for a
/// model whose head is dropout → linear).
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
}

/// One architecture family's forward. The [`Model`] wrapper validates the shape first (see
/// [`ModelSpec::check_input`], which knows only minimums); a network with a stricter
/// constraint (MViT's fixed 16×224×224) checks it at the start of its own forward.
pub trait Network: Send {
    /// Inference forward (dropout off).
    fn forward(&self, xs: &Tensor) -> Result<Forward>;
    fn classifier(&self) -> Classifier;
    /// Dropout probability of the classifier head, if it has dropout with p > 0.
    fn head_dropout(&self) -> Option<f64> {
        None
    }
    /// Logits from `Forward::head_input`, with the head's dropout applied when `dropout` is
    /// true (MC-Dropout re-runs only this on cached head inputs). The default is the plain
    /// linear classifier on the features.
    fn head(&self, head_input: &Tensor, dropout: bool) -> Result<Tensor> {
        let _ = dropout;
        self.classifier().logits(head_input)
    }
}

/// What a model classifies. Image models run on single-frame clips `[B, 3, 1, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Video,
    Image,
}

/// A registry entry: the facts of shared/spec/models.md for one model.
pub struct ModelSpec {
    pub name: &'static str,
    /// torchvision's file name; the 8 hex digits are the start of its SHA-256.
    pub weight_file: &'static str,
    pub num_params: u64,
    pub gflops: f64,
    pub acc1: f64,
    pub acc5: f64,
    /// state_dict key of the classifier weight.
    pub classifier_key: &'static str,
    pub labels: LabelSet,
    pub input: InputKind,
    pub preset: fn() -> Preset,
    /// Other torchvision weight files of the same architecture (swin3d_b's ImageNet-22k
    /// pre-trained one).
    pub alt_weight_files: &'static [&'static str],
    /// Shape of the classifier weight in the state dict.
    pub classifier_shape: &'static [i64],
    /// Smallest (T, H, W) the architecture accepts.
    pub min_input: [i64; 3],
    /// A further input rule, for `models` and error messages.
    pub input_note: Option<&'static str>,
    build: fn(&tch::nn::Path) -> Box<dyn Network>,
}

/// torchvision's public model URL prefix.
pub const WEIGHTS_URL_PREFIX: &str = "https://download.pytorch.org/models/";

impl ModelSpec {
    pub fn weights_url(&self) -> String {
        format!("{WEIGHTS_URL_PREFIX}{}", self.weight_file)
    }

    pub fn num_classes(&self) -> usize {
        self.labels.len()
    }

    /// Rejects an input libtorch would fail on deep inside the forward, with a message that
    /// says what the model needs.
    pub fn check_input(&self, xs: &Tensor) -> Result<()> {
        let size = xs.size();
        let [t, h, w] = self.min_input;
        let ok = size.len() == 5
            && size[0] >= 1
            && size[1] == 3
            && size[2] >= t
            && (self.input == InputKind::Video || size[2] == 1)
            && size[3] >= h
            && size[4] >= w;
        if ok {
            Ok(())
        } else {
            Err(Error::InputShape {
                model: self.name.to_string(),
                expected: match self.input {
                    InputKind::Video => {
                        format!("[B, 3, T, H, W] with B ≥ 1, T ≥ {t}, H ≥ {h}, W ≥ {w}")
                    }
                    InputKind::Image => {
                        format!("[B, 3, 1, H, W] (single-frame clips) with B ≥ 1, H ≥ {h}, W ≥ {w}")
                    }
                },
                got: size,
            })
        }
    }
}

pub static MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "r3d_18",
        weight_file: "r3d_18-b3b3357e.pth",
        num_params: 33_371_472,
        gflops: 40.7,
        acc1: 63.200,
        acc5: 83.479,
        classifier_key: "fc.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::video_resnet,
        alt_weight_files: &[],
        classifier_shape: &[400, 512],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(video_resnet::VideoResNet::new(
                p,
                &video_resnet::Config::r3d_18(),
            ))
        },
    },
    ModelSpec {
        name: "mc3_18",
        weight_file: "mc3_18-a90a0ba3.pth",
        num_params: 11_695_440,
        gflops: 43.3,
        acc1: 63.960,
        acc5: 84.130,
        classifier_key: "fc.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::video_resnet,
        alt_weight_files: &[],
        classifier_shape: &[400, 512],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(video_resnet::VideoResNet::new(
                p,
                &video_resnet::Config::mc3_18(),
            ))
        },
    },
    ModelSpec {
        name: "r2plus1d_18",
        weight_file: "r2plus1d_18-91a641e6.pth",
        num_params: 31_505_325,
        gflops: 40.5,
        acc1: 67.463,
        acc5: 86.175,
        classifier_key: "fc.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::video_resnet,
        alt_weight_files: &[],
        classifier_shape: &[400, 512],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(video_resnet::VideoResNet::new(
                p,
                &video_resnet::Config::r2plus1d_18(),
            ))
        },
    },
    ModelSpec {
        name: "s3d",
        weight_file: "s3d-d76dad2f.pth",
        num_params: 8_320_048,
        gflops: 18.0,
        acc1: 68.368,
        acc5: 88.050,
        classifier_key: "classifier.1.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::s3d,
        // Four stride-2 steps that round up and a 2×2×2 pool that rounds down must leave the
        // (2, 7, 7) average pool a 2×7×7 map.
        alt_weight_files: &[],
        classifier_shape: &[400, 1024, 1, 1, 1],
        input_note: None,
        min_input: [13, 209, 209],
        build: |p| Box::new(s3d::S3d::new(p, &s3d::Config::s3d())),
    },
    ModelSpec {
        name: "mvit_v1_b",
        weight_file: "mvit_v1_b-dbeb1030.pth",
        num_params: 36_610_672,
        gflops: 70.6,
        acc1: 78.477,
        acc5: 93.582,
        classifier_key: "head.1.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::mvit,
        // Exactly this size: MViT's forward rejects any other (T, H, W).
        alt_weight_files: &[],
        classifier_shape: &[400, 768],
        input_note: Some("exactly 16×224×224"),
        min_input: [16, 224, 224],
        build: |p| Box::new(mvit::MViT::new(p, &mvit::Config::mvit_v1_b())),
    },
    ModelSpec {
        name: "mvit_v2_s",
        weight_file: "mvit_v2_s-ae3be167.pth",
        num_params: 34_537_744,
        gflops: 64.2,
        acc1: 80.757,
        acc5: 94.665,
        classifier_key: "head.1.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::mvit,
        alt_weight_files: &[],
        classifier_shape: &[400, 768],
        input_note: Some("exactly 16×224×224"),
        min_input: [16, 224, 224],
        build: |p| Box::new(mvit::MViT::new(p, &mvit::Config::mvit_v2_s())),
    },
    ModelSpec {
        name: "swin3d_t",
        weight_file: "swin3d_t-7615ae03.pth",
        num_params: 28_158_070,
        gflops: 43.9,
        acc1: 77.715,
        acc5: 93.519,
        classifier_key: "head.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::swin3d,
        alt_weight_files: &[],
        classifier_shape: &[400, 768],
        input_note: Some("any size; pads to the patch and window"),
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(swin3d::SwinTransformer3d::new(
                p,
                &swin3d::Config::swin3d_t(),
            ))
        },
    },
    ModelSpec {
        name: "swin3d_s",
        weight_file: "swin3d_s-da41c237.pth",
        num_params: 49_816_678,
        gflops: 82.8,
        acc1: 79.521,
        acc5: 94.158,
        classifier_key: "head.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::swin3d,
        alt_weight_files: &[],
        classifier_shape: &[400, 768],
        input_note: Some("any size; pads to the patch and window"),
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(swin3d::SwinTransformer3d::new(
                p,
                &swin3d::Config::swin3d_s(),
            ))
        },
    },
    ModelSpec {
        name: "swin3d_b",
        weight_file: "swin3d_b_1k-24f7c7c6.pth",
        num_params: 88_048_984,
        gflops: 140.7,
        acc1: 79.427,
        acc5: 94.386,
        classifier_key: "head.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::swin3d,
        alt_weight_files: &["swin3d_b_22k-7c6ae6fa.pth"],
        classifier_shape: &[400, 1024],
        input_note: Some("any size; pads to the patch and window"),
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(swin3d::SwinTransformer3d::new(
                p,
                &swin3d::Config::swin3d_b(),
            ))
        },
    },
    ModelSpec {
        name: "alexnet",
        weight_file: "alexnet-owt-7be5be79.pth",
        num_params: 61_100_840,
        gflops: 0.714,
        acc1: 56.522,
        acc5: 79.066,
        classifier_key: "classifier.6.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 4096],
        input_note: None,
        min_input: [1, 63, 63],
        build: |p| Box::new(alexnet::AlexNet::new(p, 1000)),
    },
    ModelSpec {
        name: "vgg11_bn",
        weight_file: "vgg11_bn-6002323d.pth",
        num_params: 132_868_840,
        gflops: 7.609,
        acc1: 70.370,
        acc5: 89.810,
        classifier_key: "classifier.6.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 4096],
        input_note: None,
        min_input: [1, 32, 32],
        build: |p| Box::new(vgg::Vgg::new(p, &vgg::Config::vgg11_bn())),
    },
    ModelSpec {
        name: "resnet18",
        weight_file: "resnet18-f37072fd.pth",
        num_params: 11_689_512,
        gflops: 1.814,
        acc1: 69.758,
        acc5: 89.078,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 512],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| Box::new(resnet::ResNet::new(p, &resnet::Config::resnet18())),
    },
    ModelSpec {
        name: "resnet50",
        weight_file: "resnet50-11ad3fa6.pth",
        num_params: 25_557_032,
        gflops: 4.089,
        acc1: 80.858,
        acc5: 95.434,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 2048],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| Box::new(resnet::ResNet::new(p, &resnet::Config::resnet50())),
    },
    ModelSpec {
        name: "wide_resnet50_2",
        weight_file: "wide_resnet50_2-9ba9bcbe.pth",
        num_params: 68_883_240,
        gflops: 11.398,
        acc1: 81.602,
        acc5: 95.758,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 2048],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| Box::new(resnet::ResNet::new(p, &resnet::Config::wide_resnet50_2())),
    },
    ModelSpec {
        name: "resnext50_32x4d",
        weight_file: "resnext50_32x4d-1a0047aa.pth",
        num_params: 25_028_904,
        gflops: 4.230,
        acc1: 81.198,
        acc5: 95.340,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 2048],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| Box::new(resnet::ResNet::new(p, &resnet::Config::resnext50_32x4d())),
    },
    ModelSpec {
        name: "resnext101_64x4d",
        weight_file: "resnext101_64x4d-173b62eb.pth",
        num_params: 83_455_272,
        gflops: 15.460,
        acc1: 83.246,
        acc5: 96.454,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 2048],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| Box::new(resnet::ResNet::new(p, &resnet::Config::resnext101_64x4d())),
    },
    ModelSpec {
        name: "mobilenet_v3_small",
        weight_file: "mobilenet_v3_small-047dcff4.pth",
        num_params: 2_542_856,
        gflops: 0.057,
        acc1: 67.668,
        acc5: 87.402,
        classifier_key: "classifier.3.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 1024],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(mobilenet_v3::MobileNetV3::new(
                p,
                &mobilenet_v3::Config::mobilenet_v3_small(),
            ))
        },
    },
    ModelSpec {
        name: "efficientnet_v2_s",
        weight_file: "efficientnet_v2_s-dd5fe13b.pth",
        num_params: 21_458_488,
        gflops: 8.366,
        acc1: 84.228,
        acc5: 96.878,
        classifier_key: "classifier.1.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(384, 384, Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 1280],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p| {
            Box::new(efficientnet::EfficientNet::new(
                p,
                &efficientnet::Config::efficientnet_v2_s(),
            ))
        },
    },
    ModelSpec {
        name: "convnext_tiny",
        weight_file: "convnext_tiny-983f1562.pth",
        num_params: 28_589_128,
        gflops: 4.456,
        acc1: 82.520,
        acc5: 96.146,
        classifier_key: "classifier.2.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(236, 224, crate::preset::Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 768],
        input_note: None,
        // The unpadded 4×4 stem and three 2×2 downsamplings must leave a 1×1 map.
        min_input: [1, 32, 32],
        build: |p| {
            Box::new(convnext::ConvNeXt::new(
                p,
                &convnext::Config::convnext_tiny(),
            ))
        },
    },
    ModelSpec {
        name: "swin_v2_t",
        weight_file: "swin_v2_t-b137f0e2.pth",
        num_params: 28_351_570,
        gflops: 5.94,
        acc1: 82.072,
        acc5: 96.132,
        classifier_key: "head.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(260, 256, crate::preset::Interpolation::Bicubic),
        alt_weight_files: &[],
        classifier_shape: &[1000, 768],
        input_note: Some("any size ≥ 4×4; pads to the window"),
        min_input: [1, 4, 4],
        build: |p| Box::new(swin::SwinTransformer::new(p, &swin::Config::swin_v2_t())),
    },
    ModelSpec {
        name: "swin_b",
        weight_file: "swin_b-68c6b09e.pth",
        num_params: 87_768_224,
        gflops: 15.431,
        acc1: 83.582,
        acc5: 96.640,
        classifier_key: "head.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(238, 224, crate::preset::Interpolation::Bicubic),
        alt_weight_files: &[],
        classifier_shape: &[1000, 1024],
        input_note: Some("any size ≥ 4×4; pads to the window"),
        min_input: [1, 4, 4],
        build: |p| Box::new(swin::SwinTransformer::new(p, &swin::Config::swin_b())),
    },
    ModelSpec {
        name: "vit_b_16",
        weight_file: "vit_b_16-c867db91.pth",
        num_params: 86_567_656,
        gflops: 17.564,
        acc1: 81.072,
        acc5: 95.318,
        classifier_key: "heads.head.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(256, 224, crate::preset::Interpolation::Bilinear),
        alt_weight_files: &[],
        classifier_shape: &[1000, 768],
        // The position embedding is learned for exactly a 14×14 patch grid.
        input_note: Some("exactly 224×224"),
        min_input: [1, 224, 224],
        build: |p| Box::new(vit::VisionTransformer::new(p, &vit::Config::vit_b_16())),
    },
    ModelSpec {
        name: "maxvit_t",
        weight_file: "maxvit_t-bc5ab103.pth",
        num_params: 30_919_624,
        gflops: 5.558,
        acc1: 83.700,
        acc5: 96.722,
        classifier_key: "classifier.5.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(224, 224, crate::preset::Interpolation::Bicubic),
        alt_weight_files: &[],
        classifier_shape: &[1000, 512],
        // Block and grid partitions are built for a 224×224 input.
        input_note: Some("exactly 224×224"),
        min_input: [1, 224, 224],
        build: |p| Box::new(maxvit::MaxVit::new(p, &maxvit::Config::maxvit_t())),
    },
];

pub fn spec(name: &str) -> Result<&'static ModelSpec> {
    MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::UnknownModel {
            name: name.to_string(),
            known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
        })
}

/// A network with its parameters, ready to run.
pub struct Model {
    spec: &'static ModelSpec,
    vs: VarStore,
    net: Box<dyn Network>,
}

impl Model {
    /// Builds the architecture with zeroed parameters; [`Model::load_weights`] fills them.
    pub fn new(name: &str, device: Device) -> Result<Self> {
        let spec = spec(name)?;
        let vs = VarStore::new(device);
        let net = (spec.build)(&vs.root());
        Ok(Model { spec, vs, net })
    }

    /// Strict load: every key present, none unexpected, every shape equal.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        crate::weights::load_into(&self.vs, path, self.spec.name)
    }

    pub fn spec(&self) -> &'static ModelSpec {
        self.spec
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// `xs`: normalized clips `[B, 3, T, H, W]` on the model's device.
    pub fn forward(&self, xs: &Tensor) -> Result<Forward> {
        self.spec.check_input(xs)?;
        self.net.forward(xs)
    }

    pub fn classifier(&self) -> Classifier {
        self.net.classifier()
    }

    pub fn head_dropout(&self) -> Option<f64> {
        self.net.head_dropout()
    }

    /// See [`Network::head`].
    pub fn head(&self, head_input: &Tensor, dropout: bool) -> Result<Tensor> {
        self.net.head(head_input, dropout)
    }

    /// Trainable parameters in torchvision's `named_parameters()` order (a module's own
    /// parameters before its children's), which Purview's split depends on. Layers create
    /// their parameters in that order, and the VarStore keeps creation order.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
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

    pub fn num_params(&self) -> u64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as u64)
            .sum()
    }
}
