//! R3D-18, MC3-18 and R(2+1)D-18: "A Closer Look at Spatiotemporal Convolutions for Action
//! Recognition" (Tran et al., CVPR 2018). Follows torchvision 0.28
//! `torchvision/models/video/resnet.py` (`VideoResNet`, `BasicBlock`, `Conv3DSimple`,
//! `Conv3DNoTemporal`, `Conv2Plus1D`, `BasicStem`, `R2Plus1dStem`); state_dict keys are
//! torchvision's, `Sequential` indices included.
use tch::nn::Path;
use tch::Tensor;

use super::layers::{BatchNorm, Conv3d, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Preset;
use crate::Result;

const BN_EPS: f64 = 1e-5;

/// Which convolution each of the four stages uses, and the stem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// 3×3×3 (r3d).
    Simple,
    /// 1×3×3, no temporal extent (mc3 stages 2–4).
    NoTemporal,
    /// 1×3×3 spatial then 3×1×1 temporal with a BN+ReLU between (r2plus1d).
    TwoPlusOne,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub stage_convs: [ConvKind; 4],
    pub blocks: [usize; 4],
    pub two_plus_one_stem: bool,
    pub num_classes: i64,
}

impl Config {
    pub fn r3d_18() -> Self {
        Config {
            stage_convs: [ConvKind::Simple; 4],
            blocks: [2, 2, 2, 2],
            two_plus_one_stem: false,
            num_classes: 400,
        }
    }

    pub fn mc3_18() -> Self {
        Config {
            stage_convs: [
                ConvKind::Simple,
                ConvKind::NoTemporal,
                ConvKind::NoTemporal,
                ConvKind::NoTemporal,
            ],
            ..Self::r3d_18()
        }
    }

    pub fn r2plus1d_18() -> Self {
        Config {
            stage_convs: [ConvKind::TwoPlusOne; 4],
            two_plus_one_stem: true,
            ..Self::r3d_18()
        }
    }
}

/// One `conv_builder(in, out, midplanes, stride)` of torchvision.
enum SpatioTemporalConv {
    Single(Conv3d),
    /// `Sequential(conv 1×3×3, BN, ReLU, conv 3×1×1)`: keys `.0`, `.1`, `.3`.
    TwoPlusOne {
        spatial: Conv3d,
        bn: BatchNorm,
        temporal: Conv3d,
    },
}

impl SpatioTemporalConv {
    fn new(p: &Path, kind: ConvKind, inp: i64, out: i64, mid: i64, stride: i64) -> Self {
        match kind {
            ConvKind::Simple => SpatioTemporalConv::Single(Conv3d::new(
                p,
                inp,
                out,
                [3, 3, 3],
                [stride; 3],
                [1, 1, 1],
                false,
            )),
            ConvKind::NoTemporal => SpatioTemporalConv::Single(Conv3d::new(
                p,
                inp,
                out,
                [1, 3, 3],
                [1, stride, stride],
                [0, 1, 1],
                false,
            )),
            ConvKind::TwoPlusOne => SpatioTemporalConv::TwoPlusOne {
                spatial: Conv3d::new(
                    &(p / 0),
                    inp,
                    mid,
                    [1, 3, 3],
                    [1, stride, stride],
                    [0, 1, 1],
                    false,
                ),
                bn: BatchNorm::new(&(p / 1), mid, BN_EPS),
                temporal: Conv3d::new(
                    &(p / 3),
                    mid,
                    out,
                    [3, 1, 1],
                    [stride, 1, 1],
                    [1, 0, 0],
                    false,
                ),
            },
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            SpatioTemporalConv::Single(conv) => conv.forward(xs),
            SpatioTemporalConv::TwoPlusOne {
                spatial,
                bn,
                temporal,
            } => {
                let xs = bn.forward(&spatial.forward(xs)?)?.f_relu()?;
                temporal.forward(&xs)
            }
        }
    }
}

/// torchvision's `get_downsample_stride`: no temporal stride for the no-temporal conv.
fn downsample_stride(kind: ConvKind, stride: i64) -> [i64; 3] {
    match kind {
        ConvKind::NoTemporal => [1, stride, stride],
        ConvKind::Simple | ConvKind::TwoPlusOne => [stride; 3],
    }
}

struct BasicBlock {
    conv1: SpatioTemporalConv,
    bn1: BatchNorm,
    conv2: SpatioTemporalConv,
    bn2: BatchNorm,
    downsample: Option<(Conv3d, BatchNorm)>,
}

impl BasicBlock {
    fn new(p: &Path, kind: ConvKind, inplanes: i64, planes: i64, stride: i64) -> Self {
        // torchvision computes midplanes once from the block's input width and uses it for
        // both convs (only Conv2Plus1D reads it).
        let midplanes = (inplanes * planes * 27) / (inplanes * 9 + 3 * planes);
        let conv1 = SpatioTemporalConv::new(
            &(p / "conv1" / 0),
            kind,
            inplanes,
            planes,
            midplanes,
            stride,
        );
        let bn1 = BatchNorm::new(&(p / "conv1" / 1), planes, BN_EPS);
        let conv2 = SpatioTemporalConv::new(&(p / "conv2" / 0), kind, planes, planes, midplanes, 1);
        let bn2 = BatchNorm::new(&(p / "conv2" / 1), planes, BN_EPS);
        let downsample = (stride != 1 || inplanes != planes).then(|| {
            let ds = p / "downsample";
            (
                Conv3d::new(
                    &(&ds / 0),
                    inplanes,
                    planes,
                    [1, 1, 1],
                    downsample_stride(kind, stride),
                    [0, 0, 0],
                    false,
                ),
                BatchNorm::new(&(&ds / 1), planes, BN_EPS),
            )
        });
        BasicBlock {
            conv1,
            bn1,
            conv2,
            bn2,
            downsample,
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let out = self.bn1.forward(&self.conv1.forward(xs)?)?.f_relu()?;
        let out = self.bn2.forward(&self.conv2.forward(&out)?)?;
        let residual = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(xs)?)?,
            None => xs.shallow_clone(),
        };
        Ok((out + residual).f_relu()?)
    }
}

enum Stem {
    /// `BasicStem`: conv 3×7×7 stride (1,2,2), BN, ReLU.
    Basic(Conv3d, BatchNorm),
    /// `R2Plus1dStem`: conv 1×7×7 to 45 channels, BN, ReLU, conv 3×1×1 to 64, BN, ReLU.
    TwoPlusOne(Conv3d, BatchNorm, Conv3d, BatchNorm),
}

impl Stem {
    fn new(p: &Path, two_plus_one: bool) -> Self {
        if two_plus_one {
            Stem::TwoPlusOne(
                Conv3d::new(&(p / 0), 3, 45, [1, 7, 7], [1, 2, 2], [0, 3, 3], false),
                BatchNorm::new(&(p / 1), 45, BN_EPS),
                Conv3d::new(&(p / 3), 45, 64, [3, 1, 1], [1, 1, 1], [1, 0, 0], false),
                BatchNorm::new(&(p / 4), 64, BN_EPS),
            )
        } else {
            Stem::Basic(
                Conv3d::new(&(p / 0), 3, 64, [3, 7, 7], [1, 2, 2], [1, 3, 3], false),
                BatchNorm::new(&(p / 1), 64, BN_EPS),
            )
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Stem::Basic(conv, bn) => Ok(bn.forward(&conv.forward(xs)?)?.f_relu()?),
            Stem::TwoPlusOne(c1, b1, c2, b2) => {
                let xs = b1.forward(&c1.forward(xs)?)?.f_relu()?;
                Ok(b2.forward(&c2.forward(&xs)?)?.f_relu()?)
            }
        }
    }
}

pub struct VideoResNet {
    stem: Stem,
    stages: Vec<Vec<BasicBlock>>,
    fc: Linear,
}

impl VideoResNet {
    pub fn new(p: &Path, config: &Config) -> Self {
        let stem = Stem::new(&(p / "stem"), config.two_plus_one_stem);
        let mut inplanes = 64;
        let mut stages = Vec::with_capacity(4);
        for (i, planes) in [64i64, 128, 256, 512].into_iter().enumerate() {
            let stage = p / format!("layer{}", i + 1);
            let stride = if i == 0 { 1 } else { 2 };
            let blocks = (0..config.blocks[i])
                .map(|b| {
                    let block = BasicBlock::new(
                        &(&stage / b),
                        config.stage_convs[i],
                        inplanes,
                        planes,
                        if b == 0 { stride } else { 1 },
                    );
                    inplanes = planes;
                    block
                })
                .collect();
            stages.push(blocks);
        }
        let fc = Linear::new(&(p / "fc"), 512, config.num_classes, true);
        VideoResNet { stem, stages, fc }
    }
}

impl Architecture for VideoResNet {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        // [B, 3, T, H, W] -> [B, 64, T, H/2, W/2]
        let mut xs = self.stem.forward(xs)?;
        // -> [B, 512, T/8, H/16, W/16] (r3d/r2plus1d; mc3 keeps T after stage 1)
        for block in self.stages.iter().flatten() {
            xs = block.forward(&xs)?;
        }
        // AdaptiveAvgPool3d(1) + flatten: [B, 512]
        let features = xs.f_mean_dim(&[2i64, 3, 4][..], false, None)?;
        Forward::linear_head(features, &self.fc)
    }

    fn classifier(&self) -> Classifier {
        self.fc.as_classifier()
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[
    ModelSpec {
        family: "video_resnet",
        name: "r3d_18",
        weight_file: "r3d_18-b3b3357e.pth",
        gflops: 40.7,
        acc1: 63.200,
        acc5: 83.479,
        classifier_key: "fc.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::video_resnet,
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(VideoResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::r3d_18()
                },
            ))
        },
    },
    ModelSpec {
        family: "video_resnet",
        name: "mc3_18",
        weight_file: "mc3_18-a90a0ba3.pth",
        gflops: 43.3,
        acc1: 63.960,
        acc5: 84.130,
        classifier_key: "fc.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::video_resnet,
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(VideoResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::mc3_18()
                },
            ))
        },
    },
    ModelSpec {
        family: "video_resnet",
        name: "r2plus1d_18",
        weight_file: "r2plus1d_18-91a641e6.pth",
        gflops: 40.5,
        acc1: 67.463,
        acc5: 86.175,
        classifier_key: "fc.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::video_resnet,
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(VideoResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::r2plus1d_18()
                },
            ))
        },
    },
];
