//! Swin Transformer B (v1) and Swin Transformer V2 T: "Swin Transformer: Hierarchical Vision
//! Transformer using Shifted Windows" (Liu et al., ICCV 2021) and "Swin Transformer V2: Scaling
//! Up Capacity and Resolution" (Liu et al., CVPR 2022). Follows torchvision 0.28
//! `torchvision/models/swin_transformer.py` (`SwinTransformer`, `SwinTransformerBlock(V2)`,
//! `ShiftedWindowAttention(V2)`, `shifted_window_attention`, `PatchMerging(V2)`) and
//! `torchvision/ops/misc.py` (`MLP`); state_dict keys are torchvision's, `Sequential` indices
//! included. Each attention's int64 `relative_position_index` buffer (flattened, `[W⁴]`) and
//! V2's float `relative_coords_table` buffer are state_dict entries.
//!
//! Any input of at least 4×4 runs: each attention pads the token grid up to multiples of its
//! window and patch merging pads H and W to even. As torchvision (2-D), the window never
//! shrinks; the shift is dropped along a dimension whose padded grid fits in one window.
//!
//! V2 differs in: cosine attention scaled by `exp(min(logit_scale, ln 100))`, a relative
//! position bias `16·sigmoid(cpb_mlp(relative_coords_table))`, the key third of the qkv bias
//! zeroed at every forward, post-norm residuals, and patch merging that normalizes after the
//! reduction.
//!
//! NOTE: inference only. The dropouts (p = 0.0) and stochastic depth (identity in eval mode)
//! are left out; the head is a plain linear layer, so there is no head dropout.
use tch::nn::Path;
use tch::{Kind, Tensor};

use super::layers::{gelu, single_frame, Conv2d, LayerNorm, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::{Error, Result};

/// torchvision: `partial(nn.LayerNorm, eps=1e-5)`.
const LN_EPS: f64 = 1e-5;
/// Added to attention logits between tokens that the cyclic shift brought from different
/// regions (torchvision's `float(-100.0)`).
const MASK_VALUE: f64 = -100.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub name: &'static str,
    pub version: Version,
    pub patch_size: i64,
    pub embed_dim: i64,
    pub depths: [usize; 4],
    pub num_heads: [i64; 4],
    /// Square attention window, in tokens.
    pub window_size: i64,
    pub mlp_ratio: i64,
    pub num_classes: i64,
}

impl Config {
    pub fn swin_b() -> Self {
        Config {
            name: "swin_b",
            version: Version::V1,
            patch_size: 4,
            embed_dim: 128,
            depths: [2, 2, 18, 2],
            num_heads: [4, 8, 16, 32],
            window_size: 7,
            mlp_ratio: 4,
            num_classes: 1000,
        }
    }

    pub fn swin_v2_t() -> Self {
        Config {
            name: "swin_v2_t",
            version: Version::V2,
            patch_size: 4,
            embed_dim: 96,
            depths: [2, 2, 6, 2],
            num_heads: [3, 6, 12, 24],
            window_size: 8,
            mlp_ratio: 4,
            num_classes: 1000,
        }
    }

    /// Width of the last stage (the classifier's input).
    pub fn num_features(&self) -> i64 {
        self.embed_dim * 8
    }
}

/// The sizes of a tensor known to have rank `N` (by construction inside the network).
fn dims<const N: usize>(xs: &Tensor) -> Result<[i64; N]> {
    let size = xs.size();
    size.as_slice()
        .try_into()
        .map_err(|_| Error::Invalid(format!("swin: expected a {N}-D tensor, got {size:?}")))
}

/// `define_relative_position_index`: `[W⁴]` (flattened `[V, V]`, `V = W²`), tokens in
/// row-major order.
fn relative_position_index(window: i64) -> Vec<i64> {
    let coords: Vec<(i64, i64)> = (0..window)
        .flat_map(|h| (0..window).map(move |w| (h, w)))
        .collect();
    let mut index = Vec::with_capacity(coords.len() * coords.len());
    for a in &coords {
        for b in &coords {
            index.push((a.0 - b.0 + window - 1) * (2 * window - 1) + (a.1 - b.1 + window - 1));
        }
    }
    index
}

/// V2's `relative_coords_table`: `[1, 2W−1, 2W−1, 2]`, each offset scaled to ±8 and
/// log-spaced: `sign(x)·log2(|x| + 1)/3`, computed in float32 as torchvision.
fn relative_coords_table(window: i64, device: tch::Device) -> Result<Tensor> {
    let opts = (Kind::Float, device);
    let r = Tensor::f_arange_start(-(window - 1), window, opts)?
        .f_div_scalar((window - 1) as f64)?
        .f_mul_scalar(8.0)?;
    let n = 2 * window - 1;
    let h = r.f_view([n, 1])?.f_expand([n, n], false)?;
    let w = r.f_view([1, n])?.f_expand([n, n], false)?;
    let table = Tensor::f_stack(&[h, w], -1)?.f_unsqueeze(0)?;
    Ok(table
        .f_sign()?
        .f_mul(&table.f_abs()?.f_add_scalar(1.0)?.f_log2()?)?
        .f_div_scalar(3.0)?)
}

/// A Python slice `[start:end]` on a dimension of length `len`, as an index range.
fn py_slice(len: i64, start: i64, end: Option<i64>) -> std::ops::Range<i64> {
    let resolve = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    resolve(start)..end.map_or(len, resolve)
}

/// The mask of `shifted_window_attention`: `[nW, V, V]`, 0 between tokens of the same shifted
/// region and −100 between tokens of different ones, the regions labelled by assigning nine
/// Python slices in order as torchvision does.
fn attention_mask(
    padded: [i64; 2],
    window: i64,
    shift: [i64; 2],
    kind: Kind,
    device: tch::Device,
) -> Result<Tensor> {
    let [hp, wp] = padded;
    let per_dim = [0, 1].map(|i| {
        [
            py_slice(padded[i], 0, Some(-window)),
            py_slice(padded[i], -window, Some(-shift[i])),
            py_slice(padded[i], -shift[i], None),
        ]
    });
    let mut labels = vec![0f32; (hp * wp) as usize];
    let mut count = 0f32;
    for hs in &per_dim[0] {
        for ws in &per_dim[1] {
            for y in hs.clone() {
                for x in ws.clone() {
                    labels[(y * wp + x) as usize] = count;
                }
            }
            count += 1.0;
        }
    }
    let num_windows = (hp / window) * (wp / window);
    let labels = Tensor::f_from_slice(&labels)?
        .f_view([hp / window, window, wp / window, window])?
        .f_permute([0, 2, 1, 3])?
        .f_reshape([num_windows, window * window])?;
    let diff = labels.f_unsqueeze(1)?.f_sub(&labels.f_unsqueeze(2)?)?;
    let mask = diff
        .f_zeros_like()?
        .f_masked_fill(&diff.f_ne(0.0)?, MASK_VALUE)?;
    Ok(mask.f_to_device(device)?.f_to_kind(kind)?)
}

/// Where the relative position bias comes from.
enum PositionBias {
    /// V1: a learned `[(2W−1)², heads]` table.
    Table(Tensor),
    /// V2: `cpb_mlp` (Linear(2, 512) → ReLU → Linear(512, heads, no bias)) on the log-spaced
    /// coordinates, and the cosine attention's per-head `logit_scale` `[heads, 1, 1]`.
    Continuous {
        logit_scale: Tensor,
        cpb_fc1: Linear,
        cpb_fc2: Linear,
        relative_coords_table: Tensor,
    },
}

/// `ShiftedWindowAttention` / `ShiftedWindowAttentionV2`.
struct WindowAttention {
    bias_source: PositionBias,
    qkv: Linear,
    proj: Linear,
    /// `[W⁴]` int64 buffer.
    relative_position_index: Tensor,
    window: i64,
    shift: i64,
    num_heads: i64,
}

impl WindowAttention {
    fn new(p: &Path, dim: i64, window: i64, shift: i64, num_heads: i64, version: Version) -> Self {
        let zeros = tch::nn::Init::Const(0.0);
        // named_parameters(): the module's own parameter (V1's table, V2's logit_scale) first,
        // then qkv, proj, and V2's cpb_mlp.
        enum Own {
            Table(Tensor),
            LogitScale(Tensor),
        }
        let own = match version {
            Version::V1 => Own::Table(p.var(
                "relative_position_bias_table",
                &[(2 * window - 1) * (2 * window - 1), num_heads],
                zeros,
            )),
            Version::V2 => Own::LogitScale(p.var("logit_scale", &[num_heads, 1, 1], zeros)),
        };
        let qkv = Linear::new(&(p / "qkv"), dim, 3 * dim, true);
        let proj = Linear::new(&(p / "proj"), dim, dim, true);
        let bias_source = match own {
            Own::Table(table) => PositionBias::Table(table),
            Own::LogitScale(logit_scale) => {
                let cpb_fc1 = Linear::new(&(p / "cpb_mlp" / 0), 2, 512, true);
                let cpb_fc2 = Linear::new(&(p / "cpb_mlp" / 2), 512, num_heads, false);
                // A persistent buffer, overwritten by the weight file; computed here so that
                // an unloaded model holds torchvision's values too.
                let n = 2 * window - 1;
                let table = relative_coords_table(window, p.device())
                    .unwrap_or_else(|_| Tensor::zeros([1, n, n, 2], (Kind::Float, p.device())));
                PositionBias::Continuous {
                    logit_scale,
                    cpb_fc1,
                    cpb_fc2,
                    relative_coords_table: p.add("relative_coords_table", table, false),
                }
            }
        };
        let index = Tensor::from_slice(&relative_position_index(window)).to_device(p.device());
        let relative_position_index = p.add("relative_position_index", index, false);
        WindowAttention {
            bias_source,
            qkv,
            proj,
            relative_position_index,
            window,
            shift,
            num_heads,
        }
    }

    /// `[1, heads, V, V]`.
    fn relative_position_bias(&self) -> Result<Tensor> {
        let v = self.window * self.window;
        let table = match &self.bias_source {
            PositionBias::Table(table) => table.shallow_clone(),
            PositionBias::Continuous {
                cpb_fc1,
                cpb_fc2,
                relative_coords_table,
                ..
            } => cpb_fc2
                .forward(&cpb_fc1.forward(relative_coords_table)?.f_relu()?)?
                .f_view([-1, self.num_heads])?,
        };
        let bias = table
            .f_index_select(0, &self.relative_position_index)?
            .f_view([v, v, -1])?
            .f_permute([2, 0, 1])?
            .f_contiguous()?
            .f_unsqueeze(0)?;
        match self.bias_source {
            PositionBias::Table(_) => Ok(bias),
            PositionBias::Continuous { .. } => Ok(bias.f_sigmoid()?.f_mul_scalar(16.0)?),
        }
    }

    /// `shifted_window_attention` on `[B, H, W, C]` tokens.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let [b, h, w, c] = dims::<4>(xs)?;
        let win = self.window;
        // Pad to multiples of the window: [B, Hp, Wp, C]
        let (pad_b, pad_r) = ((win - h % win) % win, (win - w % win) % win);
        let mut x = xs.f_constant_pad_nd([0, 0, 0, pad_r, 0, pad_b])?;
        let (hp, wp) = (h + pad_b, w + pad_r);
        // No shift along a dimension that one window covers.
        let shift = [hp, wp].map(|s| if win >= s { 0 } else { self.shift });
        let shifted = shift.iter().sum::<i64>() > 0;
        if shifted {
            x = x.f_roll([-shift[0], -shift[1]], [1, 2])?;
        }

        // Partition windows: [B·nW, V, C]
        let num_windows = (hp / win) * (wp / win);
        let volume = win * win;
        let x = x
            .f_view(&[b, hp / win, win, wp / win, win, c][..])?
            .f_permute(&[0, 1, 3, 2, 4, 5][..])?
            .f_reshape([b * num_windows, volume, c])?;

        // q, k, v [B·nW, heads, V, C/heads]
        let head_dim = c / self.num_heads;
        let qkv_bias = match (&self.bias_source, &self.qkv.bias) {
            // V2 zeroes the key third of the qkv bias at every forward.
            (PositionBias::Continuous { .. }, Some(bias)) => {
                let keep = Tensor::f_ones([3 * c], (bias.kind(), bias.device()))?.f_index_fill_(
                    0,
                    &Tensor::f_arange_start(c, 2 * c, (Kind::Int64, bias.device()))?,
                    0.0,
                )?;
                Some(bias.f_mul(&keep)?)
            }
            (_, bias) => bias.as_ref().map(Tensor::shallow_clone),
        };
        let qkv = x
            .f_linear(&self.qkv.weight, qkv_bias.as_ref())?
            .f_reshape([b * num_windows, volume, 3, self.num_heads, head_dim])?
            .f_permute([2, 0, 3, 1, 4])?;
        let q = qkv.f_select(0, 0)?;
        let k = qkv.f_select(0, 1)?;
        let v = qkv.f_select(0, 2)?;
        let attn = match &self.bias_source {
            PositionBias::Table(_) => q
                .f_mul_scalar((head_dim as f64).powf(-0.5))?
                .f_matmul(&k.f_transpose(-2, -1)?)?,
            PositionBias::Continuous { logit_scale, .. } => {
                // Cosine attention: F.normalize (eps 1e-12) on q and k.
                let normalize = |t: &Tensor| -> Result<Tensor> {
                    let norm = t
                        .f_norm_scalaropt_dim(2, [-1i64].as_slice(), true)?
                        .f_clamp_min(1e-12)?;
                    Ok(t.f_div(&norm)?)
                };
                let scale = logit_scale.f_clamp_max(100f64.ln())?.f_exp()?;
                normalize(&q)?
                    .f_matmul(&normalize(&k)?.f_transpose(-2, -1)?)?
                    .f_mul(&scale)?
            }
        };
        // [B·nW, heads, V, V]
        let mut attn = attn.f_add(&self.relative_position_bias()?)?;
        if shifted {
            let mask = attention_mask([hp, wp], win, shift, attn.kind(), attn.device())?;
            attn = attn
                .f_view([b, num_windows, self.num_heads, volume, volume])?
                .f_add(&mask.f_unsqueeze(1)?.f_unsqueeze(0)?)?
                .f_view([-1, self.num_heads, volume, volume])?;
        }
        let attn = attn.f_softmax(-1, None)?;
        let x = attn
            .f_matmul(&v)?
            .f_transpose(1, 2)?
            .f_reshape([b * num_windows, volume, c])?;
        let x = self.proj.forward(&x)?;

        // Reverse windows: [B, Hp, Wp, C]
        let mut x = x
            .f_view(&[b, hp / win, wp / win, win, win, c][..])?
            .f_permute(&[0, 1, 3, 2, 4, 5][..])?
            .f_reshape([b, hp, wp, c])?;
        if shifted {
            x = x.f_roll([shift[0], shift[1]], [1, 2])?;
        }
        // Unpad: [B, H, W, C]
        Ok(x.f_narrow(1, 0, h)?.f_narrow(2, 0, w)?.f_contiguous()?)
    }
}

/// `SwinTransformerBlock` (pre-norm) / `SwinTransformerBlockV2` (norm after attention and
/// MLP), each residual.
struct Block {
    norm1: LayerNorm,
    attn: WindowAttention,
    norm2: LayerNorm,
    /// `mlp.0`: dim → 4·dim, then GELU (`mlp.1`) and dropout (`mlp.2`).
    fc1: Linear,
    /// `mlp.3`: 4·dim → dim, then dropout (`mlp.4`).
    fc2: Linear,
    version: Version,
}

impl Block {
    fn new(p: &Path, dim: i64, heads: i64, shift: i64, config: &Config) -> Self {
        let hidden = dim * config.mlp_ratio;
        Block {
            norm1: LayerNorm::new(&(p / "norm1"), dim, LN_EPS),
            attn: WindowAttention::new(
                &(p / "attn"),
                dim,
                config.window_size,
                shift,
                heads,
                config.version,
            ),
            norm2: LayerNorm::new(&(p / "norm2"), dim, LN_EPS),
            fc1: Linear::new(&(p / "mlp" / 0), dim, hidden, true),
            fc2: Linear::new(&(p / "mlp" / 3), hidden, dim, true),
            version: config.version,
        }
    }

    fn mlp(&self, xs: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&gelu(&self.fc1.forward(xs)?)?)
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self.version {
            Version::V1 => {
                let xs = xs.f_add(&self.attn.forward(&self.norm1.forward(xs)?)?)?;
                Ok(xs.f_add(&self.mlp(&self.norm2.forward(&xs)?)?)?)
            }
            Version::V2 => {
                let xs = xs.f_add(&self.norm1.forward(&self.attn.forward(xs)?)?)?;
                Ok(xs.f_add(&self.norm2.forward(&self.mlp(&xs)?)?)?)
            }
        }
    }
}

/// `PatchMerging` / `PatchMergingV2`: 2×2 neighbours concatenated (H and W padded to even),
/// then V1: LayerNorm(4C) → reduction to 2C; V2: reduction → LayerNorm(2C). Parameters:
/// `reduction` (no bias) before `norm`.
struct PatchMerging {
    reduction: Linear,
    norm: LayerNorm,
    version: Version,
}

impl PatchMerging {
    fn new(p: &Path, dim: i64, version: Version) -> Self {
        let norm_dim = match version {
            Version::V1 => 4 * dim,
            Version::V2 => 2 * dim,
        };
        PatchMerging {
            reduction: Linear::new(&(p / "reduction"), 4 * dim, 2 * dim, false),
            norm: LayerNorm::new(&(p / "norm"), norm_dim, LN_EPS),
            version,
        }
    }

    /// `[B, H, W, C]` -> `[B, ⌈H/2⌉, ⌈W/2⌉, 2C]`
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let [_, h, w, _] = dims::<4>(xs)?;
        let x = xs.f_constant_pad_nd([0, 0, 0, w % 2, 0, h % 2])?;
        let pick = |h0: i64, w0: i64| -> Result<Tensor> {
            Ok(x.f_slice(1, h0, None, 2)?.f_slice(2, w0, None, 2)?)
        };
        let x = Tensor::f_cat(&[pick(0, 0)?, pick(1, 0)?, pick(0, 1)?, pick(1, 1)?], -1)?;
        match self.version {
            Version::V1 => self.reduction.forward(&self.norm.forward(&x)?),
            Version::V2 => self.norm.forward(&self.reduction.forward(&x)?),
        }
    }
}

/// One entry of torchvision's `features` Sequential after the patch embedding: a stage of
/// blocks (odd indices) or the patch merging after it (even indices).
enum Layer {
    Stage(Vec<Block>),
    Merge(PatchMerging),
}

pub struct SwinTransformer {
    /// `features.0.0`: non-overlapping patch conv.
    patch_conv: Conv2d,
    /// `features.0.2`, after the permute to channels last.
    patch_norm: LayerNorm,
    features: Vec<Layer>,
    norm: LayerNorm,
    head: Linear,
    config: Config,
}

impl SwinTransformer {
    pub fn new(p: &Path, config: &Config) -> Self {
        let f = p / "features";
        let patch_conv = Conv2d::new(
            &(&f / 0 / 0),
            3,
            config.embed_dim,
            config.patch_size,
            config.patch_size,
            0,
            1,
            true,
        );
        let patch_norm = LayerNorm::new(&(&f / 0 / 2), config.embed_dim, LN_EPS);
        let mut features = Vec::with_capacity(7);
        for (stage, &depth) in config.depths.iter().enumerate() {
            let dim = config.embed_dim << stage;
            let index = features.len() as i64 + 1;
            let blocks = (0..depth)
                .map(|i| {
                    let shift = if i % 2 == 0 {
                        0
                    } else {
                        config.window_size / 2
                    };
                    Block::new(
                        &(&f / index / i as i64),
                        dim,
                        config.num_heads[stage],
                        shift,
                        config,
                    )
                })
                .collect();
            features.push(Layer::Stage(blocks));
            if stage + 1 < config.depths.len() {
                let index = features.len() as i64 + 1;
                features.push(Layer::Merge(PatchMerging::new(
                    &(&f / index),
                    dim,
                    config.version,
                )));
            }
        }
        let num_features = config.num_features();
        SwinTransformer {
            patch_conv,
            patch_norm,
            features,
            norm: LayerNorm::new(&(p / "norm"), num_features, LN_EPS),
            head: Linear::new(&(p / "head"), num_features, config.num_classes, true),
            config: config.clone(),
        }
    }
}

impl Architecture for SwinTransformer {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let xs = single_frame(self.config.name, xs)?;
        // [B, 3, H, W] -> [B, H/4, W/4, C]
        let mut xs = self
            .patch_norm
            .forward(&self.patch_conv.forward(&xs)?.f_permute([0, 2, 3, 1])?)?;
        // -> [B, H/32, W/32, 8C] (halved, rounded up, by each merge)
        for layer in &self.features {
            xs = match layer {
                Layer::Stage(blocks) => {
                    for block in blocks {
                        xs = block.forward(&xs)?;
                    }
                    xs
                }
                Layer::Merge(merge) => merge.forward(&xs)?,
            };
        }
        // norm, then average over positions: [B, 8C]
        let features = self
            .norm
            .forward(&xs)?
            .f_mean_dim([1i64, 2].as_slice(), false, None)?;
        Forward::linear_head(features, &self.head)
    }

    fn classifier(&self) -> Classifier {
        self.head.as_classifier()
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[
    ModelSpec {
        family: "swin",
        name: "swin_v2_t",
        weight_file: "swin_v2_t-b137f0e2.pth",
        gflops: 5.94,
        acc1: 82.072,
        acc5: 96.132,
        classifier_key: "head.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(260, 256, Interpolation::Bicubic),
        alt_weight_files: &[],
        input_note: Some("any size ≥ 4×4; pads to the window"),
        min_input: [1, 4, 4],
        build: |p, n| {
            Box::new(SwinTransformer::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::swin_v2_t()
                },
            ))
        },
    },
    ModelSpec {
        family: "swin",
        name: "swin_b",
        weight_file: "swin_b-68c6b09e.pth",
        gflops: 15.431,
        acc1: 83.582,
        acc5: 96.640,
        classifier_key: "head.weight",
        labels: LabelSet::ImageNet1k,
        input: InputKind::Image,
        preset: || Preset::imagenet(238, 224, Interpolation::Bicubic),
        alt_weight_files: &[],
        input_note: Some("any size ≥ 4×4; pads to the window"),
        min_input: [1, 4, 4],
        build: |p, n| {
            Box::new(SwinTransformer::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::swin_b()
                },
            ))
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_index_spans_table() {
        let index = relative_position_index(7);
        assert_eq!(index.len(), 49 * 49);
        assert_eq!(index[0], 6 * 13 + 6);
        assert_eq!(index.iter().max(), Some(&168));
    }

    #[test]
    fn coords_table_is_log_spaced() {
        let t = relative_coords_table(8, tch::Device::Cpu).unwrap();
        assert_eq!(t.size(), [1, 15, 15, 2]);
        // Offset −7 of 7 → −8 → −log2(9)/3; offset 0 → 0.
        let corner = t.double_value(&[0, 0, 0, 0]);
        assert!((corner + 9f64.log2() / 3.0).abs() < 1e-6, "{corner}");
        assert_eq!(t.double_value(&[0, 7, 7, 1]), 0.0);
    }

    #[test]
    fn mask_separates_shifted_regions() {
        let mask = attention_mask([4, 4], 2, [1, 1], Kind::Float, tch::Device::Cpu).unwrap();
        assert_eq!(mask.size(), [4, 4, 4]);
        assert_eq!(mask.get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert_eq!(mask.get(3).double_value(&[0, 3]), MASK_VALUE);
    }
}
