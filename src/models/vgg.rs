//! VGG with batch normalization: "Very Deep Convolutional Networks for Large-Scale Image
//! Recognition" (Simonyan & Zisserman, ICLR 2015). Follows torchvision 0.28
//! `torchvision/models/vgg.py` (`VGG`, `make_layers(cfg, batch_norm=True)`); state_dict keys
//! are torchvision's `Sequential` indices. Runs on single-frame clips `[B, 3, 1, H, W]` with
//! H, W ≥ 32.
use tch::nn::Path;
use tch::Tensor;

use super::dropout::{dropout, DropoutMasks};
use super::layers::{single_frame, BatchNorm, Conv2d, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::Result;

const BN_EPS: f64 = 1e-5;
const DROPOUT: f64 = 0.5;

/// One entry of torchvision's `cfgs`: a 3×3 conv to this many channels, or a 2×2 max pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Conv(i64),
    MaxPool,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub layers: Vec<Layer>,
    pub num_classes: i64,
}

impl Config {
    /// cfg "A" with batch norm.
    pub fn vgg11_bn() -> Self {
        use Layer::{Conv, MaxPool};
        Config {
            layers: vec![
                Conv(64),
                MaxPool,
                Conv(128),
                MaxPool,
                Conv(256),
                Conv(256),
                MaxPool,
                Conv(512),
                Conv(512),
                MaxPool,
                Conv(512),
                Conv(512),
                MaxPool,
            ],
            num_classes: 1000,
        }
    }
}

enum Stage {
    /// Conv (index i), BatchNorm (i + 1), ReLU (i + 2).
    Conv(Conv2d, BatchNorm),
    MaxPool,
}

pub struct Vgg {
    features: Vec<Stage>,
    /// `classifier.0`, `classifier.3`, `classifier.6`.
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl Vgg {
    pub fn new(p: &Path, cfg: &Config) -> Self {
        let f = p / "features";
        let mut index = 0;
        let mut channels = 3;
        let mut features = Vec::with_capacity(cfg.layers.len());
        for layer in &cfg.layers {
            match *layer {
                Layer::Conv(out) => {
                    let conv = Conv2d::new(&(&f / index), channels, out, 3, 1, 1, 1, true);
                    let bn = BatchNorm::new(&(&f / (index + 1)), out, BN_EPS);
                    features.push(Stage::Conv(conv, bn));
                    channels = out;
                    index += 3;
                }
                Layer::MaxPool => {
                    features.push(Stage::MaxPool);
                    index += 1;
                }
            }
        }
        let c = p / "classifier";
        Vgg {
            features,
            fc1: Linear::new(&(&c / 0), channels * 7 * 7, 4096, true),
            fc2: Linear::new(&(&c / 3), 4096, 4096, true),
            fc3: Linear::new(&(&c / 6), 4096, cfg.num_classes, true),
        }
    }

    /// `classifier[0..6]` up to the last Linear's input: fc, ReLU, dropout, fc, ReLU, dropout.
    /// Both dropouts draw from `masks`, the first layer's before the second's.
    fn penultimate(
        &self,
        head_input: &Tensor,
        mut masks: Option<&mut DropoutMasks>,
    ) -> Result<Tensor> {
        let xs = self.fc1.forward(head_input)?.f_relu()?;
        let xs = dropout(&xs, DROPOUT, masks.as_deref_mut())?;
        let xs = self.fc2.forward(&xs)?.f_relu()?;
        dropout(&xs, DROPOUT, masks)
    }
}

impl Architecture for Vgg {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let mut xs = single_frame("vgg", xs)?; // [B, 3, H, W]
        for stage in &self.features {
            xs = match stage {
                Stage::Conv(conv, bn) => bn.forward(&conv.forward(&xs)?)?.f_relu()?,
                Stage::MaxPool => xs.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?,
            };
        }
        // [B, 512, H/32, W/32] → AdaptiveAvgPool2d((7, 7)), flatten → [B, 25088]
        let head_input = xs.f_adaptive_avg_pool2d([7, 7])?.f_flatten(1, -1)?;
        let features = self.penultimate(&head_input, None)?; // [B, 4096]
        let logits = self.fc3.forward(&features)?;
        Ok(Forward {
            logits,
            features,
            head_input,
        })
    }

    fn classifier(&self) -> Classifier {
        self.fc3.as_classifier()
    }

    fn head_dropout(&self) -> Option<f64> {
        Some(DROPOUT)
    }

    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        self.fc3.forward(&self.penultimate(head_input, masks)?)
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "vgg",
    name: "vgg11_bn",
    weight_file: "vgg11_bn-6002323d.pth",
    gflops: 7.609,
    acc1: 70.370,
    acc5: 89.810,
    classifier_key: "classifier.6.weight",
    labels: LabelSet::ImageNet1k,
    input: InputKind::Image,
    preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
    alt_weight_files: &[],
    input_note: None,
    min_input: [1, 32, 32],
    build: |p, n| {
        Box::new(Vgg::new(
            p,
            &Config {
                num_classes: n,
                ..Config::vgg11_bn()
            },
        ))
    },
}];
