//! EfficientNetV2: "EfficientNetV2: Smaller Models and Faster Training" (Tan & Le, ICML
//! 2021). Follows torchvision 0.28 `torchvision/models/efficientnet.py` (`EfficientNet`,
//! `MBConv`, `FusedMBConv`, `_efficientnet_conf`); state_dict keys are torchvision's.
//! Stochastic depth is the identity at inference and is left out. Runs on single-frame clips
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

/// `partial(nn.BatchNorm2d, eps=1e-03)` (EfficientNetV2).
const BN_EPS: f64 = 1e-3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    MBConv,
    FusedMBConv,
}

/// torchvision's `MBConvConfig` / `FusedMBConvConfig` (width and depth multipliers 1).
#[derive(Clone, Copy, Debug)]
pub struct StageConfig {
    pub kind: BlockKind,
    pub expand_ratio: i64,
    pub kernel: i64,
    pub stride: i64,
    pub input_channels: i64,
    pub out_channels: i64,
    pub num_layers: usize,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub stages: Vec<StageConfig>,
    pub last_channel: i64,
    pub dropout: f64,
    pub num_classes: i64,
}

impl Config {
    pub fn efficientnet_v2_s() -> Self {
        let s = |kind, expand_ratio, kernel, stride, input_channels, out_channels, num_layers| {
            StageConfig {
                kind,
                expand_ratio,
                kernel,
                stride,
                input_channels,
                out_channels,
                num_layers,
            }
        };
        use BlockKind::{FusedMBConv, MBConv};
        Config {
            stages: vec![
                s(FusedMBConv, 1, 3, 1, 24, 24, 2),
                s(FusedMBConv, 4, 3, 2, 24, 48, 4),
                s(FusedMBConv, 4, 3, 2, 48, 64, 4),
                s(MBConv, 4, 3, 2, 64, 128, 6),
                s(MBConv, 6, 3, 1, 128, 160, 9),
                s(MBConv, 6, 3, 2, 160, 256, 15),
            ],
            last_channel: 1280,
            dropout: 0.2,
            num_classes: 1000,
        }
    }
}

/// `MBConv` or `FusedMBConv`: the layers of its `block` Sequential in order.
struct Block {
    convs: Vec<Conv2dNormActivation>,
    /// MBConv's squeeze-excitation, applied after `convs[se_after]`.
    se: Option<(usize, SqueezeExcitation)>,
    use_res_connect: bool,
}

impl Block {
    fn new(p: &Path, cnf: &StageConfig) -> Self {
        let p = p / "block";
        let (inp, out, k, stride) = (cnf.input_channels, cnf.out_channels, cnf.kernel, cnf.stride);
        let exp = make_divisible((inp * cnf.expand_ratio) as f64, 8);
        let silu = Activation::Silu;
        let none = Activation::None;
        let mut convs = Vec::new();
        let mut se = None;
        match cnf.kind {
            BlockKind::FusedMBConv => {
                if exp != inp {
                    convs.push(Conv2dNormActivation::new(
                        &(&p / 0),
                        inp,
                        exp,
                        k,
                        stride,
                        1,
                        BN_EPS,
                        silu,
                    ));
                    convs.push(Conv2dNormActivation::new(
                        &(&p / 1),
                        exp,
                        out,
                        1,
                        1,
                        1,
                        BN_EPS,
                        none,
                    ));
                } else {
                    convs.push(Conv2dNormActivation::new(
                        &(&p / 0),
                        inp,
                        out,
                        k,
                        stride,
                        1,
                        BN_EPS,
                        silu,
                    ));
                }
            }
            BlockKind::MBConv => {
                let mut index = 0;
                if exp != inp {
                    convs.push(Conv2dNormActivation::new(
                        &(&p / 0),
                        inp,
                        exp,
                        1,
                        1,
                        1,
                        BN_EPS,
                        silu,
                    ));
                    index = 1;
                }
                convs.push(Conv2dNormActivation::new(
                    &(&p / index),
                    exp,
                    exp,
                    k,
                    stride,
                    exp,
                    BN_EPS,
                    silu,
                ));
                let squeeze = (inp / 4).max(1);
                se = Some((
                    convs.len() - 1,
                    SqueezeExcitation::new(
                        &(&p / (index + 1)),
                        exp,
                        squeeze,
                        silu,
                        Activation::Sigmoid,
                    ),
                ));
                convs.push(Conv2dNormActivation::new(
                    &(&p / (index + 2)),
                    exp,
                    out,
                    1,
                    1,
                    1,
                    BN_EPS,
                    none,
                ));
            }
        }
        Block {
            convs,
            se,
            use_res_connect: stride == 1 && inp == out,
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut ys = xs.shallow_clone();
        for (i, conv) in self.convs.iter().enumerate() {
            ys = conv.forward(&ys)?;
            if let Some((after, se)) = &self.se {
                if *after == i {
                    ys = se.forward(&ys)?;
                }
            }
        }
        if self.use_res_connect {
            // NOTE: torchvision's StochasticDepth is the identity in eval mode.
            ys = ys.f_add(xs)?;
        }
        Ok(ys)
    }
}

pub struct EfficientNet {
    stem: Conv2dNormActivation,
    stages: Vec<Vec<Block>>,
    last_conv: Conv2dNormActivation,
    /// `classifier.0` Dropout, `classifier.1` Linear.
    fc: Linear,
    dropout: f64,
}

impl EfficientNet {
    pub fn new(p: &Path, cfg: &Config) -> Self {
        let f = p / "features";
        let first = cfg.stages[0].input_channels;
        let stem =
            Conv2dNormActivation::new(&(&f / 0), 3, first, 3, 2, 1, BN_EPS, Activation::Silu);
        let mut stages = Vec::with_capacity(cfg.stages.len());
        for (i, cnf) in cfg.stages.iter().enumerate() {
            let sp = &f / (i + 1);
            let mut blocks = Vec::with_capacity(cnf.num_layers);
            for b in 0..cnf.num_layers {
                let mut block_cnf = *cnf;
                if b > 0 {
                    block_cnf.input_channels = block_cnf.out_channels;
                    block_cnf.stride = 1;
                }
                blocks.push(Block::new(&(&sp / b), &block_cnf));
            }
            stages.push(blocks);
        }
        let last_in = cfg.stages[cfg.stages.len() - 1].out_channels;
        let last_conv = Conv2dNormActivation::new(
            &(&f / (cfg.stages.len() + 1)),
            last_in,
            cfg.last_channel,
            1,
            1,
            1,
            BN_EPS,
            Activation::Silu,
        );
        EfficientNet {
            stem,
            stages,
            last_conv,
            fc: Linear::new(
                &(p / "classifier" / 1),
                cfg.last_channel,
                cfg.num_classes,
                true,
            ),
            dropout: cfg.dropout,
        }
    }
}

impl Architecture for EfficientNet {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let xs = single_frame("efficientnet", xs)?; // [B, 3, H, W]
        let mut xs = self.stem.forward(&xs)?; // [B, 24, H/2, W/2]
        for stage in &self.stages {
            for block in stage {
                xs = block.forward(&xs)?;
            }
        }
        let xs = self.last_conv.forward(&xs)?; // [B, 1280, H/32, W/32]
        let features = xs.f_mean_dim(&[-2i64, -1][..], false, None)?; // [B, 1280]
        Forward::linear_head(features, &self.fc)
    }

    fn classifier(&self) -> Classifier {
        self.fc.as_classifier()
    }

    fn head_dropout(&self) -> Option<f64> {
        (self.dropout > 0.0).then_some(self.dropout)
    }

    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        self.fc.forward(&dropout(head_input, self.dropout, masks)?)
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "efficientnet",
    name: "efficientnet_v2_s",
    weight_file: "efficientnet_v2_s-dd5fe13b.pth",
    gflops: 8.366,
    acc1: 84.228,
    acc5: 96.878,
    classifier_key: "classifier.1.weight",
    labels: LabelSet::ImageNet1k,
    input: InputKind::Image,
    preset: || Preset::imagenet(384, 384, Interpolation::Bilinear),
    alt_weight_files: &[],
    input_note: None,
    min_input: [1, 1, 1],
    build: |p, n| {
        Box::new(EfficientNet::new(
            p,
            &Config {
                num_classes: n,
                ..Config::efficientnet_v2_s()
            },
        ))
    },
}];
