//! ResNet, Wide ResNet and ResNeXt for ImageNet: "Deep Residual Learning for Image
//! Recognition" (He et al., CVPR 2016), "Wide Residual Networks" (Zagoruyko & Komodakis,
//! 2016), "Aggregated Residual Transformations for Deep Neural Networks" (Xie et al., CVPR
//! 2017). Follows torchvision 0.28 `torchvision/models/resnet.py` (`ResNet`, `BasicBlock`,
//! `Bottleneck` with the stride on the 3×3 conv, "ResNet V1.5"); state_dict keys are
//! torchvision's. Runs on single-frame clips `[B, 3, 1, H, W]`.
use tch::nn::Path;
use tch::Tensor;

use super::layers::{single_frame, BatchNorm, Conv2d, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::Result;

const BN_EPS: f64 = 1e-5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Two 3×3 convs, expansion 1 (resnet18/34).
    Basic,
    /// 1×1 → 3×3 (grouped) → 1×1, expansion 4.
    Bottleneck,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub block: BlockKind,
    pub layers: [usize; 4],
    pub groups: i64,
    pub width_per_group: i64,
    pub num_classes: i64,
}

impl Config {
    pub fn resnet18() -> Self {
        Config {
            block: BlockKind::Basic,
            layers: [2, 2, 2, 2],
            groups: 1,
            width_per_group: 64,
            num_classes: 1000,
        }
    }

    pub fn resnet50() -> Self {
        Config {
            block: BlockKind::Bottleneck,
            layers: [3, 4, 6, 3],
            ..Self::resnet18()
        }
    }

    pub fn wide_resnet50_2() -> Self {
        Config {
            width_per_group: 128,
            ..Self::resnet50()
        }
    }

    pub fn resnext50_32x4d() -> Self {
        Config {
            groups: 32,
            width_per_group: 4,
            ..Self::resnet50()
        }
    }

    pub fn resnext101_64x4d() -> Self {
        Config {
            layers: [3, 4, 23, 3],
            groups: 64,
            width_per_group: 4,
            ..Self::resnet50()
        }
    }
}

impl BlockKind {
    fn expansion(self) -> i64 {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// `BasicBlock` or `Bottleneck` (`conv3`/`bn3` only in the latter).
struct Block {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Option<(Conv2d, BatchNorm)>,
    /// `downsample`: `Sequential(conv1x1(stride), BatchNorm)`, keys `.0` and `.1`.
    downsample: Option<(Conv2d, BatchNorm)>,
}

impl Block {
    fn new(p: &Path, cfg: &Config, inplanes: i64, planes: i64, stride: i64) -> Self {
        let out = planes * cfg.block.expansion();
        // Created after the block's own layers: torchvision registers `downsample` last.
        let downsample = || {
            (stride != 1 || inplanes != out).then(|| {
                (
                    Conv2d::new(
                        &(p / "downsample" / 0),
                        inplanes,
                        out,
                        1,
                        stride,
                        0,
                        1,
                        false,
                    ),
                    BatchNorm::new(&(p / "downsample" / 1), out, BN_EPS),
                )
            })
        };
        match cfg.block {
            BlockKind::Basic => Block {
                conv1: Conv2d::new(&(p / "conv1"), inplanes, planes, 3, stride, 1, 1, false),
                bn1: BatchNorm::new(&(p / "bn1"), planes, BN_EPS),
                conv2: Conv2d::new(&(p / "conv2"), planes, planes, 3, 1, 1, 1, false),
                bn2: BatchNorm::new(&(p / "bn2"), planes, BN_EPS),
                conv3: None,
                downsample: downsample(),
            },
            BlockKind::Bottleneck => {
                // torchvision: width = int(planes * (base_width / 64.0)) * groups.
                let width = planes * cfg.width_per_group / 64 * cfg.groups;
                Block {
                    conv1: Conv2d::new(&(p / "conv1"), inplanes, width, 1, 1, 0, 1, false),
                    bn1: BatchNorm::new(&(p / "bn1"), width, BN_EPS),
                    conv2: Conv2d::new(
                        &(p / "conv2"),
                        width,
                        width,
                        3,
                        stride,
                        1,
                        cfg.groups,
                        false,
                    ),
                    bn2: BatchNorm::new(&(p / "bn2"), width, BN_EPS),
                    conv3: Some((
                        Conv2d::new(&(p / "conv3"), width, out, 1, 1, 0, 1, false),
                        BatchNorm::new(&(p / "bn3"), out, BN_EPS),
                    )),
                    downsample: downsample(),
                }
            }
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut ys = self.bn1.forward(&self.conv1.forward(xs)?)?.f_relu()?;
        ys = self.bn2.forward(&self.conv2.forward(&ys)?)?;
        if let Some((conv3, bn3)) = &self.conv3 {
            ys = bn3.forward(&conv3.forward(&ys.f_relu()?)?)?;
        }
        let identity = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(xs)?)?,
            None => xs.shallow_clone(),
        };
        Ok(ys.f_add(&identity)?.f_relu()?)
    }
}

pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    layers: Vec<Vec<Block>>,
    fc: Linear,
}

impl ResNet {
    pub fn new(p: &Path, cfg: &Config) -> Self {
        let conv1 = Conv2d::new(&(p / "conv1"), 3, 64, 7, 2, 3, 1, false);
        let bn1 = BatchNorm::new(&(p / "bn1"), 64, BN_EPS);
        let mut inplanes = 64;
        let mut layers = Vec::with_capacity(4);
        for (i, (&blocks, planes)) in cfg.layers.iter().zip([64, 128, 256, 512]).enumerate() {
            let lp = p / format!("layer{}", i + 1);
            let stride = if i == 0 { 1 } else { 2 };
            let mut stage = Vec::with_capacity(blocks);
            for b in 0..blocks {
                let s = if b == 0 { stride } else { 1 };
                stage.push(Block::new(&(&lp / b), cfg, inplanes, planes, s));
                inplanes = planes * cfg.block.expansion();
            }
            layers.push(stage);
        }
        let fc = Linear::new(&(p / "fc"), inplanes, cfg.num_classes, true);
        ResNet {
            conv1,
            bn1,
            layers,
            fc,
        }
    }
}

impl Architecture for ResNet {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let xs = single_frame("resnet", xs)?; // [B, 3, H, W]
        let mut xs = self.bn1.forward(&self.conv1.forward(&xs)?)?.f_relu()?;
        xs = xs.f_max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)?; // [B, 64, H/4, W/4]
        for stage in &self.layers {
            for block in stage {
                xs = block.forward(&xs)?;
            }
        }
        // [B, C, H/32, W/32] → adaptive average pool to 1×1 → [B, C]
        let features = xs.f_mean_dim(&[-2i64, -1][..], false, None)?;
        Forward::linear_head(features, &self.fc)
    }

    fn classifier(&self) -> Classifier {
        self.fc.as_classifier()
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[
    ModelSpec {
        family: "resnet",
        name: "resnet18",
        weight_file: "resnet18-f37072fd.pth",
        gflops: 1.814,
        acc1: 69.758,
        acc5: 89.078,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(ResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::resnet18()
                },
            ))
        },
    },
    ModelSpec {
        family: "resnet",
        name: "resnet50",
        weight_file: "resnet50-11ad3fa6.pth",
        gflops: 4.089,
        acc1: 80.858,
        acc5: 95.434,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(ResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::resnet50()
                },
            ))
        },
    },
    ModelSpec {
        family: "resnet",
        name: "wide_resnet50_2",
        weight_file: "wide_resnet50_2-9ba9bcbe.pth",
        gflops: 11.398,
        acc1: 81.602,
        acc5: 95.758,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(ResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::wide_resnet50_2()
                },
            ))
        },
    },
    ModelSpec {
        family: "resnet",
        name: "resnext50_32x4d",
        weight_file: "resnext50_32x4d-1a0047aa.pth",
        gflops: 4.230,
        acc1: 81.198,
        acc5: 95.340,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(ResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::resnext50_32x4d()
                },
            ))
        },
    },
    ModelSpec {
        family: "resnet",
        name: "resnext101_64x4d",
        weight_file: "resnext101_64x4d-173b62eb.pth",
        gflops: 15.460,
        acc1: 83.246,
        acc5: 96.454,
        classifier_key: "fc.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(232, 224, Interpolation::Bilinear),
        alt_weight_files: &[],
        input_note: None,
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(ResNet::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::resnext101_64x4d()
                },
            ))
        },
    },
];
