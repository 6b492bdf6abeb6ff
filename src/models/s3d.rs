//! S3D: "Rethinking Spatiotemporal Feature Learning: Speed-Accuracy Trade-offs in Video
//! Classification" (Xie et al., ECCV 2018). Follows torchvision 0.28
//! `torchvision/models/video/s3d.py` (`S3D`, `SepInceptionBlock3D`, `TemporalSeparableConv`)
//! and `torchvision/ops/misc.py` (`Conv3dNormActivation`); state_dict keys are torchvision's,
//! `Sequential` indices included.
//!
//! The classifier is a 1×1×1 conv applied at every position of the pooled map, followed by a
//! mean over positions. Being linear, it equals a linear layer on the position mean, so the
//! contract's features `h` are that mean (`[B, 1024]`) and the classifier is the conv weight
//! viewed `[400, 1024]`.
use tch::nn::Path;
use tch::Tensor;

use super::dropout::{dropout, DropoutMasks};
use super::layers::{BatchNorm, Conv3d};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Preset;
use crate::Result;

/// torchvision: `partial(nn.BatchNorm3d, eps=0.001, momentum=0.001)`.
const BN_EPS: f64 = 1e-3;
/// Feature width at the classifier.
const FEATURES: i64 = 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub num_classes: i64,
    /// `nn.Dropout` before the classifier conv.
    pub dropout: f64,
}

impl Config {
    pub fn s3d() -> Self {
        Config {
            num_classes: 400,
            dropout: 0.2,
        }
    }
}

/// `Conv3dNormActivation`: conv without bias (key `.0`), BatchNorm (`.1`), ReLU. Padding is
/// torchvision's default `(k − 1) / 2` unless given.
struct ConvBnRelu {
    conv: Conv3d,
    bn: BatchNorm,
}

impl ConvBnRelu {
    fn new(
        p: &Path,
        inp: i64,
        out: i64,
        kernel: [i64; 3],
        stride: [i64; 3],
        padding: [i64; 3],
    ) -> Self {
        ConvBnRelu {
            conv: Conv3d::new(&(p / 0), inp, out, kernel, stride, padding, false),
            bn: BatchNorm::new(&(p / 1), out, BN_EPS),
        }
    }

    /// The 1×1×1 unit.
    fn pointwise(p: &Path, inp: i64, out: i64) -> Self {
        Self::new(p, inp, out, [1, 1, 1], [1, 1, 1], [0, 0, 0])
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.bn.forward(&self.conv.forward(xs)?)?.f_relu()?)
    }
}

/// `TemporalSeparableConv`: a 1×k×k spatial unit (`.0`) then a k×1×1 temporal unit (`.1`).
struct TemporalSeparableConv {
    spatial: ConvBnRelu,
    temporal: ConvBnRelu,
}

impl TemporalSeparableConv {
    fn new(p: &Path, inp: i64, out: i64, kernel: i64, stride: i64, padding: i64) -> Self {
        TemporalSeparableConv {
            spatial: ConvBnRelu::new(
                &(p / 0),
                inp,
                out,
                [1, kernel, kernel],
                [1, stride, stride],
                [0, padding, padding],
            ),
            temporal: ConvBnRelu::new(
                &(p / 1),
                out,
                out,
                [kernel, 1, 1],
                [stride, 1, 1],
                [padding, 0, 0],
            ),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.temporal.forward(&self.spatial.forward(xs)?)
    }
}

/// `SepInceptionBlock3D`: four branches concatenated on channels.
struct SepInception {
    /// `branch0`: 1×1×1.
    branch0: ConvBnRelu,
    /// `branch1`: 1×1×1 (`.0`) then separable 3×3×3 (`.1`).
    branch1: (ConvBnRelu, TemporalSeparableConv),
    /// `branch2`: as branch1, narrower.
    branch2: (ConvBnRelu, TemporalSeparableConv),
    /// `branch3`: max pool 3×3×3 stride 1 (`.0`, no parameters) then 1×1×1 (`.1`).
    branch3: ConvBnRelu,
}

/// Output widths of one inception block: `b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out`.
type InceptionWidths = (i64, i64, i64, i64, i64, i64);

impl SepInception {
    fn new(p: &Path, inp: i64, widths: InceptionWidths) -> Self {
        let (b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out) = widths;
        let b1 = p / "branch1";
        let b2 = p / "branch2";
        SepInception {
            branch0: ConvBnRelu::pointwise(&(p / "branch0"), inp, b0_out),
            branch1: (
                ConvBnRelu::pointwise(&(&b1 / 0), inp, b1_mid),
                TemporalSeparableConv::new(&(&b1 / 1), b1_mid, b1_out, 3, 1, 1),
            ),
            branch2: (
                ConvBnRelu::pointwise(&(&b2 / 0), inp, b2_mid),
                TemporalSeparableConv::new(&(&b2 / 1), b2_mid, b2_out, 3, 1, 1),
            ),
            branch3: ConvBnRelu::pointwise(&(p / "branch3" / 1), inp, b3_out),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let x0 = self.branch0.forward(xs)?;
        let x1 = self.branch1.1.forward(&self.branch1.0.forward(xs)?)?;
        let x2 = self.branch2.1.forward(&self.branch2.0.forward(xs)?)?;
        let pooled = xs.f_max_pool3d([3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], false)?;
        let x3 = self.branch3.forward(&pooled)?;
        Ok(Tensor::f_cat(&[x0, x1, x2, x3], 1)?)
    }
}

/// One entry of torchvision's `features` Sequential.
enum Layer {
    Separable(TemporalSeparableConv),
    Unit(ConvBnRelu),
    Inception(Box<SepInception>),
    /// `nn.MaxPool3d(kernel, stride, padding)`.
    MaxPool {
        kernel: [i64; 3],
        stride: [i64; 3],
        padding: [i64; 3],
    },
}

impl Layer {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Layer::Separable(conv) => conv.forward(xs),
            Layer::Unit(unit) => unit.forward(xs),
            Layer::Inception(block) => block.forward(xs),
            Layer::MaxPool {
                kernel,
                stride,
                padding,
            } => Ok(xs.f_max_pool3d(kernel, stride, padding, [1, 1, 1], false)?),
        }
    }
}

pub struct S3d {
    features: Vec<Layer>,
    /// `classifier.1`: the 1×1×1 conv (`classifier.0` is the dropout).
    classifier: Conv3d,
    dropout: f64,
}

impl S3d {
    pub fn new(p: &Path, config: &Config) -> Self {
        let f = p / "features";
        let pool = |kernel: [i64; 3], stride: [i64; 3], padding: [i64; 3]| Layer::MaxPool {
            kernel,
            stride,
            padding,
        };
        let inception = |i: i64, inp: i64, widths: InceptionWidths| {
            Layer::Inception(Box::new(SepInception::new(&(&f / i), inp, widths)))
        };
        let features = vec![
            Layer::Separable(TemporalSeparableConv::new(&(&f / 0), 3, 64, 7, 2, 3)),
            pool([1, 3, 3], [1, 2, 2], [0, 1, 1]),
            Layer::Unit(ConvBnRelu::pointwise(&(&f / 2), 64, 64)),
            Layer::Separable(TemporalSeparableConv::new(&(&f / 3), 64, 192, 3, 1, 1)),
            pool([1, 3, 3], [1, 2, 2], [0, 1, 1]),
            inception(5, 192, (64, 96, 128, 16, 32, 32)),
            inception(6, 256, (128, 128, 192, 32, 96, 64)),
            pool([3, 3, 3], [2, 2, 2], [1, 1, 1]),
            inception(8, 480, (192, 96, 208, 16, 48, 64)),
            inception(9, 512, (160, 112, 224, 24, 64, 64)),
            inception(10, 512, (128, 128, 256, 24, 64, 64)),
            inception(11, 512, (112, 144, 288, 32, 64, 64)),
            inception(12, 528, (256, 160, 320, 32, 128, 128)),
            pool([2, 2, 2], [2, 2, 2], [0, 0, 0]),
            inception(14, 832, (256, 160, 320, 32, 128, 128)),
            inception(15, 832, (384, 192, 384, 48, 128, 128)),
        ];
        let classifier = Conv3d::new(
            &(p / "classifier" / 1),
            FEATURES,
            config.num_classes,
            [1, 1, 1],
            [1, 1, 1],
            [0, 0, 0],
            true,
        );
        S3d {
            features,
            classifier,
            dropout: config.dropout,
        }
    }
}

impl Architecture for S3d {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        // [B, 3, T, H, W] -> [B, 1024, T/8, H/32, W/32] (each stride-2 step rounds up, but
        // the last 2×2×2 pool rounds down: T ≥ 13 and H, W ≥ 209 leave 2×7×7 for the pool)
        let mut xs = xs.shallow_clone();
        for layer in &self.features {
            xs = layer.forward(&xs)?;
        }
        // AvgPool3d((2, 7, 7), stride 1): [B, 1024, t − 1, h − 6, w − 6]
        let head_input = xs.f_avg_pool3d([2, 7, 7], [1, 1, 1], [0, 0, 0], false, true, None)?;
        let features = head_input.f_mean_dim(&[2i64, 3, 4][..], false, None)?;
        let logits = self.head(&head_input, None)?;
        Ok(Forward {
            logits,
            features,
            head_input,
        })
    }

    fn classifier(&self) -> Classifier {
        // [N, 1024, 1, 1, 1] -> [N, 1024]; flattening a 5-D tensor cannot fail.
        Classifier {
            weight: self.classifier.weight.flatten(1, -1),
            bias: self.classifier.bias.as_ref().map(Tensor::shallow_clone),
        }
    }

    fn head_dropout(&self) -> Option<f64> {
        (self.dropout > 0.0).then_some(self.dropout)
    }

    /// Dropout → 1×1×1 conv → mean over positions, on the pooled map `[B, 1024, t, h, w]`.
    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        let xs = dropout(head_input, self.dropout, masks)?;
        let per_position = self.classifier.forward(&xs)?;
        Ok(per_position.f_mean_dim(&[2i64, 3, 4][..], false, None)?)
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "s3d",
    name: "s3d",
    weight_file: "s3d-d76dad2f.pth",
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
    input_note: None,
    min_input: [13, 209, 209],
    build: |p, n| {
        Box::new(S3d::new(
            p,
            &Config {
                num_classes: n,
                ..Config::s3d()
            },
        ))
    },
}];
