//! ConvNeXt-T: "A ConvNet for the 2020s" (Liu et al., CVPR 2022). Follows torchvision 0.28
//! `torchvision/models/convnext.py` (`ConvNeXt`, `CNBlock`, `LayerNorm2d`); state_dict keys are
//! torchvision's, `Sequential` indices included (`features.{0..7}`, `block.{0,2,3,5}`,
//! `classifier.{0,2}`).
//!
//! Any input of at least 32×32 runs (the 4×4 stem and three 2×2 downsamplings, none padded,
//! must leave a 1×1 map).
//!
//! The classifier is `Sequential(LayerNorm2d, Flatten, Linear)` after the average pool: the
//! features are the normalized pooled vector (the Linear's input). There is no head dropout.
//!
//! NOTE: inference only. Stochastic depth (identity in eval mode) is left out.
use tch::nn::Path;
use tch::Tensor;

use super::layers::{gelu, single_frame, Conv2d, LayerNorm, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::Result;

/// torchvision: `partial(LayerNorm2d, eps=1e-6)` and the blocks' `partial(nn.LayerNorm,
/// eps=1e-6)`.
const LN_EPS: f64 = 1e-6;

#[derive(Clone, Debug)]
pub struct Config {
    pub name: &'static str,
    /// Width of each stage.
    pub channels: [i64; 4],
    /// Blocks per stage.
    pub depths: [usize; 4],
    pub num_classes: i64,
}

impl Config {
    pub fn convnext_tiny() -> Self {
        Config {
            name: "convnext_tiny",
            channels: [96, 192, 384, 768],
            depths: [3, 3, 9, 3],
            num_classes: 1000,
        }
    }
}

/// `LayerNorm2d`: LayerNorm over channels of `[B, C, H, W]` (channels-last inside).
fn layer_norm_2d(norm: &LayerNorm, xs: &Tensor) -> Result<Tensor> {
    Ok(norm
        .forward(&xs.f_permute([0, 2, 3, 1])?)?
        .f_permute([0, 3, 1, 2])?)
}

/// `CNBlock`: depthwise 7×7 conv, channels-last LayerNorm, MLP (4×, GELU), per-channel layer
/// scale, residual.
struct CnBlock {
    /// `[C, 1, 1]`, the module's own parameter (first in named_parameters()).
    layer_scale: Tensor,
    dwconv: Conv2d,
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl CnBlock {
    fn new(p: &Path, dim: i64) -> Self {
        let layer_scale = p.var("layer_scale", &[dim, 1, 1], tch::nn::Init::Const(0.0));
        let b = p / "block";
        CnBlock {
            layer_scale,
            dwconv: Conv2d::new(&(&b / 0), dim, dim, 7, 1, 3, dim, true),
            norm: LayerNorm::new(&(&b / 2), dim, LN_EPS),
            fc1: Linear::new(&(&b / 3), dim, 4 * dim, true),
            fc2: Linear::new(&(&b / 5), 4 * dim, dim, true),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        // [B, C, H, W] -> channels last [B, H, W, C] for the norm and the MLP
        let x = self.dwconv.forward(xs)?.f_permute([0, 2, 3, 1])?;
        let x = self
            .fc2
            .forward(&gelu(&self.fc1.forward(&self.norm.forward(&x)?)?)?)?
            .f_permute([0, 3, 1, 2])?;
        Ok(self.layer_scale.f_mul(&x)?.f_add(xs)?)
    }
}

/// One entry of torchvision's `features` Sequential after the stem: a stage of blocks or the
/// downsampling between stages (`LayerNorm2d` then a 2×2 stride-2 conv).
enum Layer {
    Stage(Vec<CnBlock>),
    Downsample(LayerNorm, Conv2d),
}

pub struct ConvNeXt {
    stem_conv: Conv2d,
    stem_norm: LayerNorm,
    features: Vec<Layer>,
    norm: LayerNorm,
    head: Linear,
    config: Config,
}

impl ConvNeXt {
    pub fn new(p: &Path, config: &Config) -> Self {
        let f = p / "features";
        let c0 = config.channels[0];
        let stem_conv = Conv2d::new(&(&f / 0 / 0), 3, c0, 4, 4, 0, 1, true);
        let stem_norm = LayerNorm::new(&(&f / 0 / 1), c0, LN_EPS);
        let mut features = Vec::with_capacity(7);
        for (stage, (&dim, &depth)) in config.channels.iter().zip(&config.depths).enumerate() {
            let index = features.len() as i64 + 1;
            let blocks = (0..depth)
                .map(|i| CnBlock::new(&(&f / index / i as i64), dim))
                .collect();
            features.push(Layer::Stage(blocks));
            if let Some(&next) = config.channels.get(stage + 1) {
                let d = &f / (index + 1);
                features.push(Layer::Downsample(
                    LayerNorm::new(&(&d / 0), dim, LN_EPS),
                    Conv2d::new(&(&d / 1), dim, next, 2, 2, 0, 1, true),
                ));
            }
        }
        let last = config.channels[3];
        let cls = p / "classifier";
        ConvNeXt {
            stem_conv,
            stem_norm,
            features,
            norm: LayerNorm::new(&(&cls / 0), last, LN_EPS),
            head: Linear::new(&(&cls / 2), last, config.num_classes, true),
            config: config.clone(),
        }
    }
}

impl Architecture for ConvNeXt {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let xs = single_frame(self.config.name, xs)?;
        // [B, 3, H, W] -> [B, 96, H/4, W/4]
        let mut xs = layer_norm_2d(&self.stem_norm, &self.stem_conv.forward(&xs)?)?;
        // -> [B, 768, H/32, W/32]
        for layer in &self.features {
            xs = match layer {
                Layer::Stage(blocks) => {
                    for block in blocks {
                        xs = block.forward(&xs)?;
                    }
                    xs
                }
                Layer::Downsample(norm, conv) => conv.forward(&layer_norm_2d(norm, &xs)?)?,
            };
        }
        // Average pool, LayerNorm2d on the 1×1 map, flatten: [B, 768]
        let pooled = xs.f_adaptive_avg_pool2d([1, 1])?.f_flatten(1, -1)?;
        let features = self.norm.forward(&pooled)?;
        Forward::linear_head(features, &self.head)
    }

    fn classifier(&self) -> Classifier {
        self.head.as_classifier()
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "convnext",
    name: "convnext_tiny",
    weight_file: "convnext_tiny-983f1562.pth",
    gflops: 4.456,
    acc1: 82.520,
    acc5: 96.146,
    classifier_key: "classifier.2.weight",
    labels: LabelSet::ImageNet1k,
    input: InputKind::Image,
    preset: || Preset::imagenet(236, 224, Interpolation::Bilinear),
    alt_weight_files: &[],
    input_note: None,
    // The unpadded 4×4 stem and three 2×2 downsamplings must leave a 1×1 map.
    min_input: [1, 32, 32],
    build: |p, n| {
        Box::new(ConvNeXt::new(
            p,
            &Config {
                num_classes: n,
                ..Config::convnext_tiny()
            },
        ))
    },
}];
