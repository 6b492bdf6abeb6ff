//! Video Swin Transformer T/S/B: "Video Swin Transformer" (Liu et al., CVPR 2022). Follows
//! torchvision 0.28 `torchvision/models/video/swin_transformer.py` (`SwinTransformer3d`,
//! `PatchEmbed3d`, `ShiftedWindowAttention3d`, `shifted_window_attention_3d`,
//! `_compute_attention_mask_3d`) with the pieces it shares from
//! `torchvision/models/swin_transformer.py` (`SwinTransformerBlock`, `PatchMerging`) and
//! `torchvision/ops/misc.py` (`MLP`); state_dict keys are torchvision's, `Sequential` indices
//! included, and each attention's int64 `relative_position_index` buffer is a state_dict entry.
//!
//! Any input size runs: the patch embedding pads T, H, W up to multiples of the patch, each
//! attention pads the token grid up to multiples of its window, patch merging pads H and W to
//! even, and wherever the token grid is no larger than the window along a dimension, that
//! dimension's window shrinks to the grid and its shift drops to 0 (per block, as torchvision).
//!
//! NOTE: inference only. torchvision's dropouts (all p = 0.0) and stochastic depth (identity
//! in eval mode) are left out; the head is a plain linear layer, so there is no head dropout.
use tch::nn::Path;
use tch::{Kind, Tensor};

use super::layers::{gelu, Conv3d, LayerNorm, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Preset;
use crate::{Error, Result};

/// torchvision: `partial(nn.LayerNorm, eps=1e-5)`.
const LN_EPS: f64 = 1e-5;
/// Added to attention logits between tokens that the cyclic shift brought from different
/// regions (torchvision's `float(-100.0)`).
const MASK_VALUE: f64 = -100.0;

#[derive(Clone, Debug)]
pub struct Config {
    /// (T, H, W) of one patch token.
    pub patch_size: [i64; 3],
    pub embed_dim: i64,
    pub depths: [usize; 4],
    pub num_heads: [i64; 4],
    /// (T, H, W) attention window, before the per-stage clamp to the token grid.
    pub window_size: [i64; 3],
    pub mlp_ratio: i64,
    pub num_classes: i64,
}

impl Config {
    pub fn swin3d_t() -> Self {
        Config {
            patch_size: [2, 4, 4],
            embed_dim: 96,
            depths: [2, 2, 6, 2],
            num_heads: [3, 6, 12, 24],
            window_size: [8, 7, 7],
            mlp_ratio: 4,
            num_classes: 400,
        }
    }

    pub fn swin3d_s() -> Self {
        Config {
            depths: [2, 2, 18, 2],
            ..Self::swin3d_t()
        }
    }

    pub fn swin3d_b() -> Self {
        Config {
            embed_dim: 128,
            depths: [2, 2, 18, 2],
            num_heads: [4, 8, 16, 32],
            ..Self::swin3d_t()
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
        .map_err(|_| Error::Invalid(format!("swin3d: expected a {N}-D tensor, got {size:?}")))
}

/// torchvision's `_compute_pad_size_3d`: how much to add to reach a multiple of `unit`.
fn pad_to_multiple(size: [i64; 3], unit: [i64; 3]) -> [i64; 3] {
    [0, 1, 2].map(|i| (unit[i] - size[i] % unit[i]) % unit[i])
}

/// torchvision's `_get_window_and_shift_size`: along a dimension where the token grid is no
/// larger than the window, the window becomes the grid and there is no shift.
fn window_and_shift(size: [i64; 3], window: [i64; 3], shift: [i64; 3]) -> ([i64; 3], [i64; 3]) {
    let mut window = window;
    let mut shift = shift;
    for i in 0..3 {
        if size[i] <= window[i] {
            window[i] = size[i];
            shift[i] = 0;
        }
    }
    (window, shift)
}

/// `relative_position_index` for a full window: `[V, V]` with `V = Wt·Wh·Ww`, tokens in
/// (t, h, w) row-major order, the offset along each axis shifted to start at 0.
fn relative_position_index(window: [i64; 3]) -> Vec<i64> {
    let [wt, wh, ww] = window;
    let coords: Vec<[i64; 3]> = (0..wt)
        .flat_map(|t| (0..wh).flat_map(move |h| (0..ww).map(move |w| [t, h, w])))
        .collect();
    let mut index = Vec::with_capacity(coords.len() * coords.len());
    for a in &coords {
        for b in &coords {
            let dt = a[0] - b[0] + wt - 1;
            let dh = a[1] - b[1] + wh - 1;
            let dw = a[2] - b[2] + ww - 1;
            index.push(dt * (2 * wh - 1) * (2 * ww - 1) + dh * (2 * ww - 1) + dw);
        }
    }
    index
}

/// A Python slice `[start:end]` on a dimension of length `len`, as an index range.
fn py_slice(len: i64, start: i64, end: Option<i64>) -> std::ops::Range<i64> {
    let resolve = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
    resolve(start)..end.map_or(len, resolve)
}

/// torchvision's `_compute_attention_mask_3d`: `[nW, V, V]`, 0 between tokens of the same
/// shifted region and −100 between tokens of different ones. The regions are labelled by
/// assigning 27 Python slices in order, as torchvision does; with a zero shift along a
/// dimension its slices `[-w:0]` and `[0:]` make the last label of that dimension cover it.
fn attention_mask(
    padded: [i64; 3],
    window: [i64; 3],
    shift: [i64; 3],
    kind: Kind,
    device: tch::Device,
) -> Result<Tensor> {
    let [tp, hp, wp] = padded;
    let slices: Vec<[std::ops::Range<i64>; 3]> = {
        let per_dim = [0, 1, 2].map(|i| {
            [
                py_slice(padded[i], 0, Some(-window[i])),
                py_slice(padded[i], -window[i], Some(-shift[i])),
                py_slice(padded[i], -shift[i], None),
            ]
        });
        let mut all = Vec::with_capacity(27);
        for d in &per_dim[0] {
            for h in &per_dim[1] {
                for w in &per_dim[2] {
                    all.push([d.clone(), h.clone(), w.clone()]);
                }
            }
        }
        all
    };
    let mut labels = vec![0f32; (tp * hp * wp) as usize];
    for (count, [d, h, w]) in slices.into_iter().enumerate() {
        for t in d {
            for y in h.clone() {
                for x in w.clone() {
                    labels[((t * hp + y) * wp + x) as usize] = count as f32;
                }
            }
        }
    }
    let [wt, wh, ww] = window;
    let num_windows = (tp / wt) * (hp / wh) * (wp / ww);
    let labels = Tensor::f_from_slice(&labels)?
        .f_view([tp / wt, wt, hp / wh, wh, wp / ww, ww])?
        .f_permute([0, 2, 4, 1, 3, 5])?
        .f_reshape([num_windows, wt * wh * ww])?;
    let diff = labels.f_unsqueeze(1)?.f_sub(&labels.f_unsqueeze(2)?)?;
    let mask = diff
        .f_zeros_like()?
        .f_masked_fill(&diff.f_ne(0.0)?, MASK_VALUE)?;
    Ok(mask.f_to_device(device)?.f_to_kind(kind)?)
}

/// `ShiftedWindowAttention3d`.
struct WindowAttention {
    /// `[(2Wt−1)(2Wh−1)(2Ww−1), heads]`, a parameter.
    relative_position_bias_table: Tensor,
    /// `[V, V]` int64 buffer for the full window.
    relative_position_index: Tensor,
    qkv: Linear,
    proj: Linear,
    window_size: [i64; 3],
    shift_size: [i64; 3],
    num_heads: i64,
}

impl WindowAttention {
    fn new(p: &Path, dim: i64, window: [i64; 3], shift: [i64; 3], num_heads: i64) -> Self {
        // The module's own parameter comes first in named_parameters(), before qkv and proj.
        let [wt, wh, ww] = window;
        let table_rows = (2 * wt - 1) * (2 * wh - 1) * (2 * ww - 1);
        let relative_position_bias_table = p.var(
            "relative_position_bias_table",
            &[table_rows, num_heads],
            tch::nn::Init::Const(0.0),
        );
        let qkv = Linear::new(&(p / "qkv"), dim, dim * 3, true);
        let proj = Linear::new(&(p / "proj"), dim, dim, true);
        let volume = wt * wh * ww;
        let index = Tensor::from_slice(&relative_position_index(window))
            .view([volume, volume])
            .to_device(p.device());
        let relative_position_index = p.add("relative_position_index", index, false);
        WindowAttention {
            relative_position_bias_table,
            relative_position_index,
            qkv,
            proj,
            window_size: window,
            shift_size: shift,
            num_heads,
        }
    }

    /// `_get_relative_position_bias`: `[1, heads, V, V]` for a (possibly clamped) window.
    /// NOTE: as torchvision, a clamped window takes the top-left `V×V` corner of the full
    /// window's index rather than recomputing it for the smaller window.
    fn relative_position_bias(&self, window: [i64; 3]) -> Result<Tensor> {
        let volume = window.iter().product::<i64>();
        let index = self
            .relative_position_index
            .f_narrow(0, 0, volume)?
            .f_narrow(1, 0, volume)?
            .f_flatten(0, -1)?;
        Ok(self
            .relative_position_bias_table
            .f_index_select(0, &index)?
            .f_view([volume, volume, -1])?
            .f_permute([2, 0, 1])?
            .f_contiguous()?
            .f_unsqueeze(0)?)
    }

    /// `shifted_window_attention_3d` on `[B, T, H, W, C]` tokens.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let [b, t, h, w, c] = dims::<5>(xs)?;
        let (window, shift) = window_and_shift([t, h, w], self.window_size, self.shift_size);
        let bias = self.relative_position_bias(window)?;
        let shifted = shift.iter().sum::<i64>() > 0;

        // Pad the grid to multiples of the window: [B, Tp, Hp, Wp, C]
        let [pt, ph, pw] = pad_to_multiple([t, h, w], window);
        let mut x = xs.f_constant_pad_nd([0, 0, 0, pw, 0, ph, 0, pt])?;
        let [tp, hp, wp] = [t + pt, h + ph, w + pw];
        if shifted {
            x = x.f_roll([-shift[0], -shift[1], -shift[2]], [1, 2, 3])?;
        }

        // Partition windows: [B·nW, V, C]
        let [wt, wh, ww] = window;
        let num_windows = (tp / wt) * (hp / wh) * (wp / ww);
        let volume = wt * wh * ww;
        let x = x
            .f_view(&[b, tp / wt, wt, hp / wh, wh, wp / ww, ww, c][..])?
            .f_permute([0, 1, 3, 5, 2, 4, 6, 7])?
            .f_reshape([b * num_windows, volume, c])?;

        // Multi-head attention: q, k, v [B·nW, heads, V, C/heads]
        let head_dim = c / self.num_heads;
        let qkv = self
            .qkv
            .forward(&x)?
            .f_reshape([b * num_windows, volume, 3, self.num_heads, head_dim])?
            .f_permute([2, 0, 3, 1, 4])?;
        let q = qkv.f_select(0, 0)?;
        let k = qkv.f_select(0, 1)?;
        let v = qkv.f_select(0, 2)?;
        let q = q.f_mul_scalar((head_dim as f64).powf(-0.5))?;
        // [B·nW, heads, V, V]
        let mut attn = q.f_matmul(&k.f_transpose(-2, -1)?)?.f_add(&bias)?;
        if shifted {
            let mask = attention_mask([tp, hp, wp], window, shift, attn.kind(), attn.device())?;
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

        // Reverse windows: [B, Tp, Hp, Wp, C]
        let mut x = x
            .f_view(&[b, tp / wt, hp / wh, wp / ww, wt, wh, ww, c][..])?
            .f_permute([0, 1, 4, 2, 5, 3, 6, 7])?
            .f_reshape([b, tp, hp, wp, c])?;
        if shifted {
            x = x.f_roll([shift[0], shift[1], shift[2]], [1, 2, 3])?;
        }
        // Unpad: [B, T, H, W, C]
        Ok(x.f_narrow(1, 0, t)?
            .f_narrow(2, 0, h)?
            .f_narrow(3, 0, w)?
            .f_contiguous()?)
    }
}

/// `SwinTransformerBlock` with `ShiftedWindowAttention3d`: pre-norm attention and MLP, each
/// residual.
struct Block {
    norm1: LayerNorm,
    attn: WindowAttention,
    norm2: LayerNorm,
    /// `mlp.0`: dim → 4·dim, then GELU (`mlp.1`) and dropout (`mlp.2`).
    fc1: Linear,
    /// `mlp.3`: 4·dim → dim, then dropout (`mlp.4`).
    fc2: Linear,
}

impl Block {
    fn new(p: &Path, dim: i64, heads: i64, config: &Config, shift: [i64; 3]) -> Self {
        let hidden = dim * config.mlp_ratio;
        Block {
            norm1: LayerNorm::new(&(p / "norm1"), dim, LN_EPS),
            attn: WindowAttention::new(&(p / "attn"), dim, config.window_size, shift, heads),
            norm2: LayerNorm::new(&(p / "norm2"), dim, LN_EPS),
            fc1: Linear::new(&(p / "mlp" / 0), dim, hidden, true),
            fc2: Linear::new(&(p / "mlp" / 3), hidden, dim, true),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = xs.f_add(&self.attn.forward(&self.norm1.forward(xs)?)?)?;
        let mlp = self
            .fc2
            .forward(&gelu(&self.fc1.forward(&self.norm2.forward(&xs)?)?)?)?;
        Ok(xs.f_add(&mlp)?)
    }
}

/// `PatchMerging` (Swin v1): 2×2 neighbours in H and W concatenated (T untouched), LayerNorm
/// over 4·C, then a linear reduction to 2·C. Parameters: `reduction` before `norm`.
struct PatchMerging {
    reduction: Linear,
    norm: LayerNorm,
}

impl PatchMerging {
    fn new(p: &Path, dim: i64) -> Self {
        PatchMerging {
            reduction: Linear::new(&(p / "reduction"), 4 * dim, 2 * dim, false),
            norm: LayerNorm::new(&(p / "norm"), 4 * dim, LN_EPS),
        }
    }

    /// `[B, T, H, W, C]` -> `[B, T, ⌈H/2⌉, ⌈W/2⌉, 2C]`
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let [_, _, h, w, _] = dims::<5>(xs)?;
        let x = xs.f_constant_pad_nd([0, 0, 0, w % 2, 0, h % 2])?;
        let pick = |h0: i64, w0: i64| -> Result<Tensor> {
            Ok(x.f_slice(2, h0, None, 2)?.f_slice(3, w0, None, 2)?)
        };
        let x = Tensor::f_cat(&[pick(0, 0)?, pick(1, 0)?, pick(0, 1)?, pick(1, 1)?], -1)?;
        self.reduction.forward(&self.norm.forward(&x)?)
    }
}

/// `PatchEmbed3d`: pad to multiples of the patch, non-overlapping conv, channels last, norm.
struct PatchEmbed {
    proj: Conv3d,
    norm: LayerNorm,
    patch_size: [i64; 3],
}

impl PatchEmbed {
    fn new(p: &Path, patch_size: [i64; 3], embed_dim: i64) -> Self {
        PatchEmbed {
            proj: Conv3d::new(
                &(p / "proj"),
                3,
                embed_dim,
                patch_size,
                patch_size,
                [0, 0, 0],
                true,
            ),
            norm: LayerNorm::new(&(p / "norm"), embed_dim, LN_EPS),
            patch_size,
        }
    }

    /// `[B, 3, T, H, W]` -> `[B, ⌈T/2⌉, ⌈H/4⌉, ⌈W/4⌉, C]`
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let [_, _, t, h, w] = dims::<5>(xs)?;
        let [pt, ph, pw] = pad_to_multiple([t, h, w], self.patch_size);
        let xs = xs.f_constant_pad_nd([0, pw, 0, ph, 0, pt])?;
        let xs = self.proj.forward(&xs)?.f_permute([0, 2, 3, 4, 1])?;
        self.norm.forward(&xs)
    }
}

/// One entry of torchvision's `features` Sequential: a stage of blocks (even indices) or the
/// patch merging after it (odd indices).
enum Layer {
    Stage(Vec<Block>),
    Merge(PatchMerging),
}

pub struct SwinTransformer3d {
    patch_embed: PatchEmbed,
    features: Vec<Layer>,
    norm: LayerNorm,
    head: Linear,
}

impl SwinTransformer3d {
    pub fn new(p: &Path, config: &Config) -> Self {
        let patch_embed =
            PatchEmbed::new(&(p / "patch_embed"), config.patch_size, config.embed_dim);
        let f = p / "features";
        let half_window = config.window_size.map(|w| w / 2);
        let mut features = Vec::with_capacity(7);
        for (stage, &depth) in config.depths.iter().enumerate() {
            let dim = config.embed_dim << stage;
            let index = features.len() as i64;
            let blocks = (0..depth)
                .map(|i| {
                    let shift = if i % 2 == 0 { [0; 3] } else { half_window };
                    Block::new(
                        &(&f / index / i as i64),
                        dim,
                        config.num_heads[stage],
                        config,
                        shift,
                    )
                })
                .collect();
            features.push(Layer::Stage(blocks));
            if stage + 1 < config.depths.len() {
                let index = features.len() as i64;
                features.push(Layer::Merge(PatchMerging::new(&(&f / index), dim)));
            }
        }
        let num_features = config.num_features();
        let norm = LayerNorm::new(&(p / "norm"), num_features, LN_EPS);
        let head = Linear::new(&(p / "head"), num_features, config.num_classes, true);
        SwinTransformer3d {
            patch_embed,
            features,
            norm,
            head,
        }
    }
}

impl Architecture for SwinTransformer3d {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        if xs.dim() != 5 {
            return Err(Error::InputShape {
                model: "swin3d".to_string(),
                expected: "[B, 3, T, H, W]".to_string(),
                got: xs.size(),
            });
        }
        // [B, 3, T, H, W] -> [B, T/2, H/4, W/4, C] (rounded up)
        let mut xs = self.patch_embed.forward(xs)?;
        // -> [B, T/2, H/32, W/32, 8C] (H and W halved, rounded up, by each merge)
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
        // norm, then AdaptiveAvgPool3d(1) on channels-first + flatten: [B, 8C]
        let features = self
            .norm
            .forward(&xs)?
            .f_permute([0, 4, 1, 2, 3])?
            .f_adaptive_avg_pool3d([1, 1, 1])?
            .f_flatten(1, -1)?;
        Forward::linear_head(features, &self.head)
    }

    fn classifier(&self) -> Classifier {
        self.head.as_classifier()
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[
    ModelSpec {
        family: "swin3d",
        name: "swin3d_t",
        weight_file: "swin3d_t-7615ae03.pth",
        gflops: 43.9,
        acc1: 77.715,
        acc5: 93.519,
        classifier_key: "head.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::swin3d,
        alt_weight_files: &[],
        input_note: Some("any size; pads to the patch and window"),
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(SwinTransformer3d::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::swin3d_t()
                },
            ))
        },
    },
    ModelSpec {
        family: "swin3d",
        name: "swin3d_s",
        weight_file: "swin3d_s-da41c237.pth",
        gflops: 82.8,
        acc1: 79.521,
        acc5: 94.158,
        classifier_key: "head.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::swin3d,
        alt_weight_files: &[],
        input_note: Some("any size; pads to the patch and window"),
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(SwinTransformer3d::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::swin3d_s()
                },
            ))
        },
    },
    ModelSpec {
        family: "swin3d",
        name: "swin3d_b",
        weight_file: "swin3d_b_1k-24f7c7c6.pth",
        gflops: 140.7,
        acc1: 79.427,
        acc5: 94.386,
        classifier_key: "head.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::swin3d,
        alt_weight_files: &["swin3d_b_22k-7c6ae6fa.pth"],
        input_note: Some("any size; pads to the patch and window"),
        min_input: [1, 1, 1],
        build: |p, n| {
            Box::new(SwinTransformer3d::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::swin3d_b()
                },
            ))
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_clamps_to_grid_and_drops_shift() {
        let (window, shift) = window_and_shift([3, 25, 7], [8, 7, 7], [4, 3, 3]);
        assert_eq!(window, [3, 7, 7]);
        assert_eq!(shift, [0, 3, 0]);
    }

    #[test]
    fn pad_reaches_multiple() {
        assert_eq!(pad_to_multiple([5, 100, 96], [2, 4, 4]), [1, 0, 0]);
        assert_eq!(pad_to_multiple([3, 25, 13], [3, 7, 7]), [0, 3, 1]);
    }

    #[test]
    fn python_slices() {
        assert_eq!(py_slice(14, 0, Some(-7)), 0..7);
        assert_eq!(py_slice(14, -7, Some(-3)), 7..11);
        assert_eq!(py_slice(14, -3, None), 11..14);
        // Zero shift: [-w:-0] is empty and [-0:] is everything.
        assert_eq!(py_slice(4, -4, Some(0)).count(), 0);
        assert_eq!(py_slice(4, 0, None), 0..4);
    }

    #[test]
    fn relative_index_spans_table() {
        let index = relative_position_index([2, 2, 2]);
        assert_eq!(index.len(), 64);
        // Token 0 against itself: offsets (1, 1, 1) in a 3×3×3 table.
        assert_eq!(index[0], 9 + 3 + 1);
        assert_eq!(index.iter().max(), Some(&26));
        assert_eq!(index.iter().min(), Some(&0));
    }

    #[test]
    fn mask_separates_shifted_regions() {
        let mask = attention_mask(
            [1, 4, 4],
            [1, 2, 2],
            [0, 1, 1],
            Kind::Float,
            tch::Device::Cpu,
        )
        .unwrap();
        assert_eq!(mask.size(), [4, 4, 4]);
        // The first window holds one region only; the last holds four.
        assert_eq!(mask.get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
        let last = mask.get(3);
        assert_eq!(last.double_value(&[0, 0]), 0.0);
        assert_eq!(last.double_value(&[0, 3]), MASK_VALUE);
    }
}
