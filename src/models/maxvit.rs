//! MaxViT-T: "MaxViT: Multi-Axis Vision Transformer" (Tu et al., ECCV 2022). Follows
//! torchvision 0.28 `torchvision/models/maxvit.py` (`MaxVit`, `MaxVitBlock`, `MaxVitLayer`,
//! `MBConv`, `PartitionAttentionLayer`, `RelativePositionalMultiHeadAttention`,
//! `WindowPartition`/`WindowDepartition`) and `torchvision/ops/misc.py`
//! (`Conv2dNormActivation`, `SqueezeExcitation`); state_dict keys are torchvision's, and each
//! attention's int64 `relative_position_index` buffer (`[49, 49]`) is a state_dict entry.
//!
//! The block and grid partitions are fixed at construction for a 224×224 input (torchvision
//! builds them from `input_size`), so the input must be exactly 224×224.
//!
//! The classifier is `Sequential(AdaptiveAvgPool2d, Flatten, LayerNorm, Linear(512, 512), Tanh,
//! Linear(512, 1000, bias=False))`: the features are the input of the last Linear (after the
//! tanh), and that Linear has no bias. There is no dropout in the head.
//!
//! NOTE: inference only. Stochastic depth (identity in eval mode) and the dropouts (p = 0.0)
//! are left out.
use tch::nn::Path;
use tch::Tensor;

use super::layers::{
    gelu, require_image_size, single_frame, Activation, BatchNorm, Conv2d, LayerNorm, Linear,
    SqueezeExcitation,
};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::Result;

/// torchvision: `partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)`.
const BN_EPS: f64 = 1e-3;
/// `nn.LayerNorm` default.
const LN_EPS: f64 = 1e-5;

#[derive(Clone, Debug)]
pub struct Config {
    pub name: &'static str,
    pub image_size: i64,
    pub stem_channels: i64,
    pub partition_size: i64,
    pub block_channels: [i64; 4],
    pub block_layers: [usize; 4],
    pub head_dim: i64,
    pub expansion_ratio: i64,
    /// `squeeze_ratio` 0.25 as a divisor.
    pub squeeze_divisor: i64,
    pub mlp_ratio: i64,
    pub num_classes: i64,
}

impl Config {
    pub fn maxvit_t() -> Self {
        Config {
            name: "maxvit_t",
            image_size: 224,
            stem_channels: 64,
            partition_size: 7,
            block_channels: [64, 128, 256, 512],
            block_layers: [2, 2, 5, 2],
            head_dim: 32,
            expansion_ratio: 4,
            squeeze_divisor: 4,
            mlp_ratio: 4,
            num_classes: 1000,
        }
    }
}

/// torchvision's `_get_conv_output_shape` for a 3×3, stride-2, padding-1 conv.
fn halved(size: i64) -> i64 {
    (size - 1) / 2 + 1
}

/// `_get_relative_position_index(size, size)`: `[size², size²]`, tokens in row-major order.
fn relative_position_index(size: i64) -> Vec<i64> {
    let coords: Vec<(i64, i64)> = (0..size)
        .flat_map(|h| (0..size).map(move |w| (h, w)))
        .collect();
    let mut index = Vec::with_capacity(coords.len() * coords.len());
    for a in &coords {
        for b in &coords {
            index.push((a.0 - b.0 + size - 1) * (2 * size - 1) + (a.1 - b.1 + size - 1));
        }
    }
    index
}

/// `Conv2dNormActivation` with BatchNorm and GELU (no conv bias).
struct ConvBnGelu {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBnGelu {
    fn new(p: &Path, cin: i64, cout: i64, kernel: i64, stride: i64, groups: i64) -> Self {
        ConvBnGelu {
            conv: Conv2d::new(
                &(p / 0),
                cin,
                cout,
                kernel,
                stride,
                (kernel - 1) / 2,
                groups,
                false,
            ),
            bn: BatchNorm::new(&(p / 1), cout, BN_EPS),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        gelu(&self.bn.forward(&self.conv.forward(xs)?)?)
    }
}

/// `MBConv`: `proj(x) + layers(x)`, where `proj` is an average pool and a 1×1 conv on the
/// first layer of a block (stride 2) and the identity elsewhere.
struct MbConv {
    /// `proj.1` (after `proj.0`, AvgPool2d(3, 2, 1)).
    proj: Option<Conv2d>,
    pre_norm: BatchNorm,
    conv_a: ConvBnGelu,
    conv_b: ConvBnGelu,
    squeeze_excitation: SqueezeExcitation,
    conv_c: Conv2d,
}

impl MbConv {
    fn new(p: &Path, cin: i64, cout: i64, stride: i64, config: &Config) -> Self {
        // NOTE: torchvision also projects (without the pool) when stride is 1 and the widths
        // differ; MaxViT-T never has that case (every block's first layer has stride 2).
        let proj = (stride != 1 || cin != cout).then(|| {
            let index = if stride == 2 { 1 } else { 0 };
            Conv2d::new(&(p / "proj" / index), cin, cout, 1, 1, 0, 1, true)
        });
        let mid = cout * config.expansion_ratio;
        let sqz = cout / config.squeeze_divisor;
        let l = p / "layers";
        MbConv {
            proj,
            pre_norm: BatchNorm::new(&(&l / "pre_norm"), cin, BN_EPS),
            conv_a: ConvBnGelu::new(&(&l / "conv_a"), cin, mid, 1, 1, 1),
            conv_b: ConvBnGelu::new(&(&l / "conv_b"), mid, mid, 3, stride, mid),
            squeeze_excitation: SqueezeExcitation::new(
                &(&l / "squeeze_excitation"),
                mid,
                sqz,
                Activation::Silu,
                Activation::Sigmoid,
            ),
            conv_c: Conv2d::new(&(&l / "conv_c"), mid, cout, 1, 1, 0, 1, true),
        }
    }

    /// `[B, Cin, H, W]` -> `[B, Cout, H/stride, W/stride]`
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let res = match &self.proj {
            // AvgPool2d(kernel 3, stride 2, padding 1): count_include_pad=True, floor mode.
            Some(conv) => {
                conv.forward(&xs.f_avg_pool2d([3, 3], [2, 2], [1, 1], false, true, None)?)?
            }
            None => xs.shallow_clone(),
        };
        let x = self.pre_norm.forward(xs)?;
        let x = self.conv_b.forward(&self.conv_a.forward(&x)?)?;
        // Squeeze-and-excitation: SiLU between the 1×1 convs, sigmoid scale.
        let x = self.squeeze_excitation.forward(&x)?;
        let x = self.conv_c.forward(&x)?;
        Ok(res.f_add(&x)?)
    }
}

/// `RelativePositionalMultiHeadAttention` on `[B, G, P, D]` groups of tokens.
struct RelPosAttention {
    /// `[(2s−1)², heads]`, a parameter.
    relative_position_bias_table: Tensor,
    to_qkv: Linear,
    merge: Linear,
    /// `[P, P]` int64 buffer.
    relative_position_index: Tensor,
    num_heads: i64,
    head_dim: i64,
    /// torchvision scales by `feat_dim ** -0.5` (not the head width).
    scale: f64,
}

impl RelPosAttention {
    fn new(p: &Path, dim: i64, head_dim: i64, size: i64) -> Self {
        let num_heads = dim / head_dim;
        // The module's own parameter comes first in named_parameters().
        let relative_position_bias_table = p.var(
            "relative_position_bias_table",
            &[(2 * size - 1) * (2 * size - 1), num_heads],
            tch::nn::Init::Const(0.0),
        );
        let to_qkv = Linear::new(&(p / "to_qkv"), dim, 3 * dim, true);
        let merge = Linear::new(&(p / "merge"), dim, dim, true);
        let tokens = size * size;
        let index = Tensor::from_slice(&relative_position_index(size))
            .view([tokens, tokens])
            .to_device(p.device());
        let relative_position_index = p.add("relative_position_index", index, false);
        RelPosAttention {
            relative_position_bias_table,
            to_qkv,
            merge,
            relative_position_index,
            num_heads,
            head_dim,
            scale: (dim as f64).powf(-0.5),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let size = xs.size();
        let [b, g, p, d] = [size[0], size[1], size[2], size[3]];
        let (h, dh) = (self.num_heads, self.head_dim);
        let qkv = self.to_qkv.forward(xs)?.f_chunk(3, -1)?;
        // Each [B, G, heads, P, DH]
        let heads = |t: &Tensor| -> Result<Tensor> {
            Ok(t.f_reshape([b, g, p, h, dh])?.f_permute([0, 1, 3, 2, 4])?)
        };
        let q = heads(&qkv[0])?;
        let k = heads(&qkv[1])?.f_mul_scalar(self.scale)?;
        let v = heads(&qkv[2])?;
        // [1, heads, P, P]
        let bias = self
            .relative_position_bias_table
            .f_index_select(0, &self.relative_position_index.f_view([-1])?)?
            .f_view([p, p, -1])?
            .f_permute([2, 0, 1])?
            .f_unsqueeze(0)?;
        let attn = q
            .f_matmul(&k.f_transpose(-2, -1)?)?
            .f_add(&bias)?
            .f_softmax(-1, None)?;
        let out = attn
            .f_matmul(&v)?
            .f_permute([0, 1, 3, 2, 4])?
            .f_reshape([b, g, p, d])?;
        self.merge.forward(&out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Partition {
    /// Attention within each of the `(H/7)·(W/7)` 7×7 windows.
    Window,
    /// Attention within each of the 7×7 dilated grids.
    Grid,
}

/// `PartitionAttentionLayer`: partition, pre-norm attention and MLP (each residual),
/// departition.
struct PartitionAttention {
    norm: LayerNorm,
    attn: RelPosAttention,
    mlp_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    kind: Partition,
    /// The `p` of the partition op: the window side (Window) or the number of partitions
    /// along a side (Grid).
    p: i64,
}

impl PartitionAttention {
    fn new(p: &Path, dim: i64, grid: i64, kind: Partition, config: &Config) -> Self {
        let size = config.partition_size;
        let n_partitions = grid / size;
        let attn_layer = p / "attn_layer";
        let mlp = p / "mlp_layer";
        PartitionAttention {
            norm: LayerNorm::new(&(&attn_layer / 0), dim, LN_EPS),
            attn: RelPosAttention::new(&(&attn_layer / 1), dim, config.head_dim, size),
            mlp_norm: LayerNorm::new(&(&mlp / 0), dim, LN_EPS),
            fc1: Linear::new(&(&mlp / 1), dim, dim * config.mlp_ratio, true),
            fc2: Linear::new(&(&mlp / 3), dim * config.mlp_ratio, dim, true),
            kind,
            p: match kind {
                Partition::Window => size,
                Partition::Grid => n_partitions,
            },
        }
    }

    /// `[B, C, H, W]` -> `[B, C, H, W]`
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let size = xs.size();
        let [b, c, h, w] = [size[0], size[1], size[2], size[3]];
        let p = self.p;
        let (gh, gw) = (h / p, w / p);
        // WindowPartition: [B, (H/p)(W/p), p², C]
        let mut x = xs
            .f_reshape(&[b, c, gh, p, gw, p][..])?
            .f_permute(&[0, 2, 4, 3, 5, 1][..])?
            .f_reshape([b, gh * gw, p * p, c])?;
        if self.kind == Partition::Grid {
            x = x.f_swapaxes(-2, -3)?;
        }
        let x = x.f_add(&self.attn.forward(&self.norm.forward(&x)?)?)?;
        let mlp = self
            .fc2
            .forward(&gelu(&self.fc1.forward(&self.mlp_norm.forward(&x)?)?)?)?;
        let mut x = x.f_add(&mlp)?;
        if self.kind == Partition::Grid {
            x = x.f_swapaxes(-2, -3)?;
        }
        // WindowDepartition: [B, C, H, W]
        Ok(x.f_reshape(&[b, gh, gw, p, p, c][..])?
            .f_permute(&[0, 5, 1, 3, 2, 4][..])?
            .f_reshape([b, c, gh * p, gw * p])?)
    }
}

/// `MaxVitLayer`: MBConv, window attention, grid attention.
struct MaxVitLayer {
    mbconv: MbConv,
    window_attention: PartitionAttention,
    grid_attention: PartitionAttention,
}

impl MaxVitLayer {
    fn new(p: &Path, cin: i64, cout: i64, stride: i64, grid: i64, config: &Config) -> Self {
        let l = p / "layers";
        MaxVitLayer {
            mbconv: MbConv::new(&(&l / "MBconv"), cin, cout, stride, config),
            window_attention: PartitionAttention::new(
                &(&l / "window_attention"),
                cout,
                grid,
                Partition::Window,
                config,
            ),
            grid_attention: PartitionAttention::new(
                &(&l / "grid_attention"),
                cout,
                grid,
                Partition::Grid,
                config,
            ),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.mbconv.forward(xs)?;
        let xs = self.window_attention.forward(&xs)?;
        self.grid_attention.forward(&xs)
    }
}

pub struct MaxVit {
    stem_conv: ConvBnGelu,
    stem_conv2: Conv2d,
    blocks: Vec<Vec<MaxVitLayer>>,
    norm: LayerNorm,
    pre_logits: Linear,
    head: Linear,
    config: Config,
}

impl MaxVit {
    pub fn new(p: &Path, config: &Config) -> Self {
        let stem = p / "stem";
        let stem_conv = ConvBnGelu::new(&(&stem / 0), 3, config.stem_channels, 3, 2, 1);
        let c = config.stem_channels;
        let stem_conv2 = Conv2d::new(&(&stem / 1 / 0), c, c, 3, 1, 1, 1, true);
        let mut grid = halved(config.image_size);
        let mut cin = config.stem_channels;
        let mut blocks = Vec::with_capacity(4);
        for (i, (&cout, &n)) in config
            .block_channels
            .iter()
            .zip(&config.block_layers)
            .enumerate()
        {
            grid = halved(grid);
            let layers = (0..n)
                .map(|j| {
                    let (layer_in, stride) = if j == 0 { (cin, 2) } else { (cout, 1) };
                    let lp = p / "blocks" / i as i64 / "layers" / j as i64;
                    MaxVitLayer::new(&lp, layer_in, cout, stride, grid, config)
                })
                .collect();
            blocks.push(layers);
            cin = cout;
        }
        let cls = p / "classifier";
        let d = cin;
        MaxVit {
            stem_conv,
            stem_conv2,
            blocks,
            norm: LayerNorm::new(&(&cls / 2), d, LN_EPS),
            pre_logits: Linear::new(&(&cls / 3), d, d, true),
            head: Linear::new(&(&cls / 5), d, config.num_classes, false),
            config: config.clone(),
        }
    }
}

impl Architecture for MaxVit {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        require_image_size(self.config.name, xs, self.config.image_size)?;
        let xs = single_frame(self.config.name, xs)?;
        // [B, 3, 224, 224] -> [B, 64, 112, 112]
        let mut xs = self.stem_conv2.forward(&self.stem_conv.forward(&xs)?)?;
        // -> [B, 512, 7, 7] (56, 28, 14, 7 per block)
        for block in &self.blocks {
            for layer in block {
                xs = layer.forward(&xs)?;
            }
        }
        // Pool, flatten, LayerNorm, Linear, Tanh: the final Linear's input [B, 512]
        let pooled = xs.f_adaptive_avg_pool2d([1, 1])?.f_flatten(1, -1)?;
        let features = self
            .pre_logits
            .forward(&self.norm.forward(&pooled)?)?
            .f_tanh()?;
        Forward::linear_head(features, &self.head)
    }

    fn classifier(&self) -> Classifier {
        // Built without a bias: torchvision's classifier.5 has none.
        self.head.as_classifier()
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "maxvit",
    name: "maxvit_t",
    weight_file: "maxvit_t-bc5ab103.pth",
    gflops: 5.558,
    acc1: 83.700,
    acc5: 96.722,
    classifier_key: "classifier.5.weight",
    labels: LabelSet::ImageNet1k,
    input: InputKind::Image,
    preset: || Preset::imagenet(224, 224, Interpolation::Bicubic),
    alt_weight_files: &[],
    // Block and grid partitions are built for a 224×224 input.
    input_note: Some("exactly 224×224"),
    min_input: [1, 224, 224],
    build: |p, n| {
        Box::new(MaxVit::new(
            p,
            &Config {
                num_classes: n,
                ..Config::maxvit_t()
            },
        ))
    },
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_sizes_match_torchvision() {
        let mut g = halved(224);
        assert_eq!(g, 112);
        let sizes: Vec<i64> = (0..4)
            .map(|_| {
                g = halved(g);
                g
            })
            .collect();
        assert_eq!(sizes, [56, 28, 14, 7]);
    }

    #[test]
    fn relative_index_spans_table() {
        let index = relative_position_index(7);
        assert_eq!(index.len(), 49 * 49);
        assert_eq!(index[0], 6 * 13 + 6);
        assert_eq!(index.iter().max(), Some(&168));
        assert_eq!(index.iter().min(), Some(&0));
    }
}
