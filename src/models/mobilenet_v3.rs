//! MobileNetV3: "Searching for MobileNetV3" (Howard et al., ICCV 2019). Follows torchvision
//! 0.28 `torchvision/models/mobilenetv3.py` (`MobileNetV3`, `InvertedResidual`,
//! `_mobilenet_v3_conf`); state_dict keys are torchvision's. Runs on single-frame clips
//! `[B, 3, 1, H, W]`.
use tch::nn::Path;
use tch::Tensor;

use super::dropout::{dropout, DropoutMasks};
use super::layers::{
    make_divisible, single_frame, Activation, Conv2dNormActivation, Linear, SqueezeExcitation,
};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::Result;

/// `partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)`.
const BN_EPS: f64 = 1e-3;

/// torchvision's `InvertedResidualConfig` (width multiplier 1, no dilation).
#[derive(Clone, Copy, Debug)]
pub struct BlockConfig {
    pub input_channels: i64,
    pub kernel: i64,
    pub expanded_channels: i64,
    pub out_channels: i64,
    pub use_se: bool,
    /// Hardswish ("HS") or ReLU ("RE").
    pub use_hs: bool,
    pub stride: i64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub blocks: Vec<BlockConfig>,
    pub last_channel: i64,
    pub dropout: f64,
    pub num_classes: i64,
}

impl Config {
    pub fn mobilenet_v3_small() -> Self {
        let b =
            |input_channels, kernel, expanded_channels, out_channels, use_se, use_hs, stride| {
                BlockConfig {
                    input_channels,
                    kernel,
                    expanded_channels,
                    out_channels,
                    use_se,
                    use_hs,
                    stride,
                }
            };
        Config {
            blocks: vec![
                b(16, 3, 16, 16, true, false, 2),
                b(16, 3, 72, 24, false, false, 2),
                b(24, 3, 88, 24, false, false, 1),
                b(24, 5, 96, 40, true, true, 2),
                b(40, 5, 240, 40, true, true, 1),
                b(40, 5, 240, 40, true, true, 1),
                b(40, 5, 120, 48, true, true, 1),
                b(48, 5, 144, 48, true, true, 1),
                b(48, 5, 288, 96, true, true, 2),
                b(96, 5, 576, 96, true, true, 1),
                b(96, 5, 576, 96, true, true, 1),
            ],
            last_channel: 1024,
            dropout: 0.2,
            num_classes: 1000,
        }
    }
}

/// `InvertedResidual`: `block` = [expand 1×1] → depthwise → [SE] → project 1×1.
struct InvertedResidual {
    expand: Option<Conv2dNormActivation>,
    depthwise: Conv2dNormActivation,
    se: Option<SqueezeExcitation>,
    project: Conv2dNormActivation,
    use_res_connect: bool,
}

impl InvertedResidual {
    fn new(p: &Path, cnf: &BlockConfig) -> Self {
        let p = p / "block";
        let act = if cnf.use_hs {
            Activation::Hardswish
        } else {
            Activation::Relu
        };
        let (inp, exp, out) = (cnf.input_channels, cnf.expanded_channels, cnf.out_channels);
        let mut index = 0;
        let mut next = || {
            index += 1;
            &p / (index - 1)
        };
        let expand = (exp != inp)
            .then(|| Conv2dNormActivation::new(&next(), inp, exp, 1, 1, 1, BN_EPS, act));
        let depthwise =
            Conv2dNormActivation::new(&next(), exp, exp, cnf.kernel, cnf.stride, exp, BN_EPS, act);
        let se = cnf.use_se.then(|| {
            SqueezeExcitation::new(
                &next(),
                exp,
                make_divisible((exp / 4) as f64, 8),
                Activation::Relu,
                Activation::Hardsigmoid,
            )
        });
        let project =
            Conv2dNormActivation::new(&next(), exp, out, 1, 1, 1, BN_EPS, Activation::None);
        InvertedResidual {
            expand,
            depthwise,
            se,
            project,
            use_res_connect: cnf.stride == 1 && inp == out,
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut ys = match &self.expand {
            Some(expand) => expand.forward(xs)?,
            None => xs.shallow_clone(),
        };
        ys = self.depthwise.forward(&ys)?;
        if let Some(se) = &self.se {
            ys = se.forward(&ys)?;
        }
        ys = self.project.forward(&ys)?;
        if self.use_res_connect {
            ys = ys.f_add(xs)?;
        }
        Ok(ys)
    }
}

pub struct MobileNetV3 {
    stem: Conv2dNormActivation,
    blocks: Vec<InvertedResidual>,
    last_conv: Conv2dNormActivation,
    /// `classifier.0` (Linear), 1 Hardswish, 2 Dropout, `classifier.3` (Linear).
    fc1: Linear,
    fc2: Linear,
    dropout: f64,
}

impl MobileNetV3 {
    pub fn new(p: &Path, cfg: &Config) -> Self {
        let f = p / "features";
        let first = cfg.blocks[0].input_channels;
        let stem =
            Conv2dNormActivation::new(&(&f / 0), 3, first, 3, 2, 1, BN_EPS, Activation::Hardswish);
        let blocks: Vec<_> = cfg
            .blocks
            .iter()
            .enumerate()
            .map(|(i, cnf)| InvertedResidual::new(&(&f / (i + 1)), cnf))
            .collect();
        let last_in = cfg.blocks[cfg.blocks.len() - 1].out_channels;
        let last_out = 6 * last_in;
        let last_conv = Conv2dNormActivation::new(
            &(&f / (cfg.blocks.len() + 1)),
            last_in,
            last_out,
            1,
            1,
            1,
            BN_EPS,
            Activation::Hardswish,
        );
        let c = p / "classifier";
        MobileNetV3 {
            stem,
            blocks,
            last_conv,
            fc1: Linear::new(&(&c / 0), last_out, cfg.last_channel, true),
            fc2: Linear::new(&(&c / 3), cfg.last_channel, cfg.num_classes, true),
            dropout: cfg.dropout,
        }
    }

    fn penultimate(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        let xs = self.fc1.forward(head_input)?.f_hardswish()?;
        dropout(&xs, self.dropout, masks)
    }
}

impl Architecture for MobileNetV3 {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let xs = single_frame("mobilenet_v3", xs)?; // [B, 3, H, W]
        let mut xs = self.stem.forward(&xs)?; // [B, 16, H/2, W/2]
        for block in &self.blocks {
            xs = block.forward(&xs)?;
        }
        let xs = self.last_conv.forward(&xs)?; // [B, 576, H/32, W/32]
        let head_input = xs.f_mean_dim(&[-2i64, -1][..], false, None)?; // [B, 576]
        let features = self.penultimate(&head_input, None)?; // [B, 1024]
        let logits = self.fc2.forward(&features)?;
        Ok(Forward {
            logits,
            features,
            head_input,
        })
    }

    fn classifier(&self) -> Classifier {
        self.fc2.as_classifier()
    }

    fn head_dropout(&self) -> Option<f64> {
        (self.dropout > 0.0).then_some(self.dropout)
    }

    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        self.fc2.forward(&self.penultimate(head_input, masks)?)
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "mobilenet_v3",
    name: "mobilenet_v3_small",
    weight_file: "mobilenet_v3_small-047dcff4.pth",
    gflops: 0.057,
    acc1: 67.668,
    acc5: 87.402,
    classifier_key: "classifier.3.weight",
    labels: LabelSet::ImageNet1k,
    input: InputKind::Image,
    preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
    alt_weight_files: &[],
    input_note: None,
    min_input: [1, 1, 1],
    build: |p, n| {
        Box::new(MobileNetV3::new(
            p,
            &Config {
                num_classes: n,
                ..Config::mobilenet_v3_small()
            },
        ))
    },
}];
