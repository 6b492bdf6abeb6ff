//! MViT v1 (mvit_v1_b): "Multiscale Vision Transformers" (Fan et al., ICCV 2021), and MViT v2
//! (mvit_v2_s): "MViTv2: Improved Multiscale Vision Transformers for Classification and
//! Detection" (Li et al., CVPR 2022). Follows torchvision 0.28
//! `torchvision/models/video/mvit.py` (`MViT`, `MultiscaleBlock`, `MultiscaleAttention`,
//! `Pool`, `PositionalEncoding`, `_add_rel_pos`, `_add_shortcut`, `mvit_v1_b`, `mvit_v2_s`);
//! state_dict keys are torchvision's, `Sequential` indices included (`attn.project.0`,
//! `pool_q.norm_act.0`, `mlp.0`/`mlp.3`, `head.1`).
//!
//! Both variants take exactly 16×224×224 clips: v1's absolute positional embeddings and both
//! variants' token grid (torchvision reshapes the tokens to the fixed `temporal_size` ×
//! `spatial_size` grid) are sized for it. [`MViT`]'s forward checks this before any op.
use tch::nn::Path;
use tch::Tensor;

use super::dropout::{dropout, DropoutMasks};
use super::layers::{gelu, Conv3d, LayerNorm, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Preset;
use crate::{Error, Result};

/// `partial(nn.LayerNorm, eps=1e-6)`, every norm of the network.
const LN_EPS: f64 = 1e-6;
/// The patchifying convolution `conv_proj`.
const PATCH_KERNEL: [i64; 3] = [3, 7, 7];
const PATCH_STRIDE: [i64; 3] = [2, 4, 4];
const PATCH_PADDING: [i64; 3] = [1, 3, 3];

/// torchvision's `MSBlockConfig`: one block. `None` for `kernel_q`/`stride_q` is
/// torchvision's `[]` (mvit_v1_b: queries not pooled).
#[derive(Clone, Debug)]
pub struct BlockConfig {
    pub num_heads: i64,
    pub input_channels: i64,
    pub output_channels: i64,
    pub kernel_q: Option<[i64; 3]>,
    pub kernel_kv: [i64; 3],
    pub stride_q: Option<[i64; 3]>,
    pub stride_kv: [i64; 3],
}

/// A variant: [`Config::mvit_v1_b`] or [`Config::mvit_v2_s`]. The block list is private so a
/// config always has at least one block (torchvision raises on an empty one); the other
/// fields may be changed.
#[derive(Clone, Debug)]
pub struct Config {
    /// Registry name, used in input-shape errors.
    pub name: &'static str,
    blocks: Vec<BlockConfig>,
    /// The fixed input (T, H, W).
    pub temporal_size: i64,
    pub spatial_size: (i64, i64),
    /// MViTv2's pooling residual connection (pooled queries added to the attention output).
    pub residual_pool: bool,
    /// Whether that residual also covers the class token.
    pub residual_with_cls_embed: bool,
    /// MViTv2's decomposed relative position tables; otherwise v1's absolute embeddings.
    pub rel_pos_embed: bool,
    /// MViTv2: attention maps to the output width, and the skip is projected from `norm1`'s
    /// output; v1 projects after the MLP's norm instead.
    pub proj_after_attn: bool,
    /// `head = Sequential(Dropout(dropout), Linear)`.
    pub dropout: f64,
    pub num_classes: i64,
}

const K3: [i64; 3] = [3, 3, 3];
const S1: [i64; 3] = [1, 1, 1];
const S2: [i64; 3] = [1, 2, 2];
const S4: [i64; 3] = [1, 4, 4];
const S8: [i64; 3] = [1, 8, 8];
/// Both variants: heads and key/value strides per block.
const NUM_HEADS: [i64; 16] = [1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8];
const STRIDE_KV: [[i64; 3]; 16] = [
    S8, S4, S4, S2, S2, S2, S2, S2, S2, S2, S2, S2, S2, S2, S1, S1,
];
/// The blocks that halve H and W (torchvision's `stride_q = [1, 2, 2]`).
const POOLED_Q: [usize; 3] = [1, 3, 14];

impl Config {
    pub fn mvit_v1_b() -> Self {
        let input: [i64; 16] = [
            96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768,
        ];
        let output: [i64; 16] = [
            192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768, 768,
        ];
        let blocks = (0..16)
            .map(|i| {
                let pooled = POOLED_Q.contains(&i);
                BlockConfig {
                    num_heads: NUM_HEADS[i],
                    input_channels: input[i],
                    output_channels: output[i],
                    kernel_q: pooled.then_some(K3),
                    kernel_kv: K3,
                    stride_q: pooled.then_some(S2),
                    stride_kv: STRIDE_KV[i],
                }
            })
            .collect();
        Config {
            name: "mvit_v1_b",
            blocks,
            temporal_size: 16,
            spatial_size: (224, 224),
            residual_pool: false,
            residual_with_cls_embed: false,
            rel_pos_embed: false,
            proj_after_attn: false,
            dropout: 0.5,
            num_classes: 400,
        }
    }

    pub fn mvit_v2_s() -> Self {
        let input: [i64; 16] = [
            96, 96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768,
        ];
        let output: [i64; 16] = [
            96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768,
        ];
        let blocks = (0..16)
            .map(|i| BlockConfig {
                num_heads: NUM_HEADS[i],
                input_channels: input[i],
                output_channels: output[i],
                kernel_q: Some(K3),
                kernel_kv: K3,
                stride_q: Some(if POOLED_Q.contains(&i) { S2 } else { S1 }),
                stride_kv: STRIDE_KV[i],
            })
            .collect();
        Config {
            name: "mvit_v2_s",
            blocks,
            residual_pool: true,
            residual_with_cls_embed: false,
            rel_pos_embed: true,
            proj_after_attn: true,
            ..Self::mvit_v1_b()
        }
    }

    pub fn blocks(&self) -> &[BlockConfig] {
        &self.blocks
    }
}

/// torchvision's `_prod`, with `[]` (None) as 1.
fn prod(xs: Option<[i64; 3]>) -> i64 {
    xs.map_or(1, |xs| xs.iter().product())
}

/// `[k // 2 for k in kernel]`.
fn half(kernel: [i64; 3]) -> [i64; 3] {
    kernel.map(|k| k / 2)
}

enum PoolOp {
    /// Depthwise `Conv3d(head_dim, head_dim, kernel, stride, padding=kernel//2,
    /// groups=head_dim, bias=False)` (attention's q/k/v pooling).
    Conv(Conv3d),
    /// `MaxPool3d(kernel, stride, padding)` (the block's skip pooling).
    Max {
        kernel: [i64; 3],
        stride: [i64; 3],
        padding: [i64; 3],
    },
}

/// torchvision's `Pool`: pools the patch tokens on their (T, H, W) grid, keeps the class
/// token, then LayerNorms (`norm_act.0`) all tokens.
struct Pool {
    op: PoolOp,
    norm: Option<LayerNorm>,
}

impl Pool {
    fn conv(p: &Path, head_dim: i64, kernel: [i64; 3], stride: [i64; 3]) -> Self {
        // Depthwise: the weight is [out, in / groups = 1, kT, kH, kW], so `Conv3d::new` gets 1
        // input channel and `with_groups` makes the op depthwise.
        let op = PoolOp::Conv(
            Conv3d::new(
                &(p / "pool"),
                1,
                head_dim,
                kernel,
                stride,
                half(kernel),
                false,
            )
            .with_groups(head_dim),
        );
        let norm = Some(LayerNorm::new(&(p / "norm_act" / 0), head_dim, LN_EPS));
        Pool { op, norm }
    }

    fn max(stride: [i64; 3]) -> Self {
        let kernel = stride.map(|s| if s > 1 { s + 1 } else { s });
        Pool {
            op: PoolOp::Max {
                kernel,
                stride,
                padding: half(kernel),
            },
            norm: None,
        }
    }

    /// `xs`: `[B, heads, 1 + T·H·W, C]` → `[B, heads, 1 + T'·H'·W', C]` and (T', H', W').
    fn forward(&self, xs: &Tensor, thw: [i64; 3]) -> Result<(Tensor, [i64; 3])> {
        let (b, heads, n, c) = xs.size4()?;
        let class_token = xs.f_narrow(2, 0, 1)?;
        // [B, heads, THW, C] -> [B·heads, C, T, H, W]
        let grid = xs.f_narrow(2, 1, n - 1)?.f_transpose(2, 3)?.f_reshape([
            b * heads,
            c,
            thw[0],
            thw[1],
            thw[2],
        ])?;
        let pooled = match &self.op {
            PoolOp::Conv(conv) => conv.forward(&grid)?,
            PoolOp::Max {
                kernel,
                stride,
                padding,
            } => grid.f_max_pool3d(kernel, stride, padding, [1, 1, 1], false)?,
        };
        let (_, _, t, h, w) = pooled.size5()?;
        let pooled = pooled.f_reshape([b, heads, c, -1])?.f_transpose(2, 3)?;
        let mut out = Tensor::f_cat(&[&class_token, &pooled], 2)?;
        if let Some(norm) = &self.norm {
            out = norm.forward(&out)?;
        }
        Ok((out, [t, h, w]))
    }
}

/// Rows of a relative-position table for each (query, key) pair along one axis: torchvision's
/// `dist` in `_add_rel_pos`, computed in float32 as it is there and truncated by `.long()`.
fn rel_pos_index(q: i64, k: i64) -> Vec<i64> {
    let q_ratio = (k as f64 / q as f64).max(1.0) as f32;
    let k_ratio = (q as f64 / k as f64).max(1.0) as f32;
    let offset = (1.0 - k as f64) as f32;
    let mut index = Vec::with_capacity((q * k) as usize);
    for i in 0..q {
        for j in 0..k {
            index.push((i as f32 * q_ratio - (j as f32 + offset) * k_ratio) as i64);
        }
    }
    index
}

/// `rel_pos[dist]`: `[q, k, head_dim]`.
fn rel_pos_lookup(table: &Tensor, q: i64, k: i64, axis: &str) -> Result<Tensor> {
    let rows = table.size2()?.0;
    let needed = 2 * q.max(k) - 1;
    if rows != needed {
        // NOTE: torchvision linearly interpolates the table here; at the fixed 16×224×224
        // input every table has exactly the rows it needs, so this cannot happen.
        return Err(Error::Invalid(format!(
            "MViT: relative position table {axis} has {rows} rows, the token grid needs {needed}"
        )));
    }
    let index = Tensor::from_slice(&rel_pos_index(q, k)).to_device(table.device());
    Ok(table.f_index_select(0, &index)?.f_reshape([q, k, -1])?)
}

/// torchvision's `MultiscaleAttention`.
struct MultiscaleAttention {
    /// `rel_pos_h`, `rel_pos_w`, `rel_pos_t` (v2).
    rel_pos: Option<[Tensor; 3]>,
    qkv: Linear,
    project: Linear,
    pool_q: Option<Pool>,
    pool_k: Option<Pool>,
    pool_v: Option<Pool>,
    num_heads: i64,
    head_dim: i64,
    output_dim: i64,
    scaler: f64,
    residual_pool: bool,
    residual_with_cls_embed: bool,
}

impl MultiscaleAttention {
    fn new(
        p: &Path,
        input_size: [i64; 3],
        embed_dim: i64,
        output_dim: i64,
        cnf: &BlockConfig,
        config: &Config,
    ) -> Self {
        let head_dim = output_dim / cnf.num_heads;
        // The module's own parameters come before its children's in named_parameters().
        let rel_pos = if config.rel_pos_embed {
            let size = input_size[1].max(input_size[2]);
            let q_size = cnf.stride_q.map_or(size, |s| size / s[1]);
            let kv_size = size / cnf.stride_kv[1];
            let spatial_dim = 2 * q_size.max(kv_size) - 1;
            let temporal_dim = 2 * input_size[0] - 1;
            Some([
                zeros_var(p, "rel_pos_h", &[spatial_dim, head_dim]),
                zeros_var(p, "rel_pos_w", &[spatial_dim, head_dim]),
                zeros_var(p, "rel_pos_t", &[temporal_dim, head_dim]),
            ])
        } else {
            None
        };
        let qkv = Linear::new(&(p / "qkv"), embed_dim, 3 * output_dim, true);
        // `project = Sequential(Linear)` (its Dropout is only added for attention dropout > 0).
        let project = Linear::new(&(p / "project" / 0), output_dim, output_dim, true);
        // torchvision pools the queries when the product of kernel_q or of stride_q exceeds 1
        // (an empty kernel_q with a non-empty stride_q is not a valid torchvision config).
        let pool_q = match (cnf.kernel_q, cnf.stride_q) {
            (Some(kernel), stride) if prod(Some(kernel)) > 1 || prod(stride) > 1 => Some(
                Pool::conv(&(p / "pool_q"), head_dim, kernel, stride.unwrap_or(S1)),
            ),
            _ => None,
        };
        let (pool_k, pool_v) = if prod(Some(cnf.kernel_kv)) > 1 || prod(Some(cnf.stride_kv)) > 1 {
            (
                Some(Pool::conv(
                    &(p / "pool_k"),
                    head_dim,
                    cnf.kernel_kv,
                    cnf.stride_kv,
                )),
                Some(Pool::conv(
                    &(p / "pool_v"),
                    head_dim,
                    cnf.kernel_kv,
                    cnf.stride_kv,
                )),
            )
        } else {
            (None, None)
        };
        MultiscaleAttention {
            rel_pos,
            qkv,
            project,
            pool_q,
            pool_k,
            pool_v,
            num_heads: cnf.num_heads,
            head_dim,
            output_dim,
            scaler: 1.0 / (head_dim as f64).sqrt(),
            residual_pool: config.residual_pool,
            residual_with_cls_embed: config.residual_with_cls_embed,
        }
    }

    /// `xs`: `[B, 1 + T·H·W, embed_dim]` → `[B, 1 + T'·H'·W', output_dim]`, (T', H', W') of the
    /// pooled queries.
    fn forward(&self, xs: &Tensor, thw: [i64; 3]) -> Result<(Tensor, [i64; 3])> {
        let (b, n, _) = xs.size3()?;
        // [B, N, 3·out] -> [B, N, 3, heads, hd] -> [B, heads, 3, N, hd]
        let qkv = self
            .qkv
            .forward(xs)?
            .f_reshape([b, n, 3, self.num_heads, self.head_dim])?
            .f_transpose(1, 3)?;
        let (q, k, v) = (
            qkv.f_select(2, 0)?,
            qkv.f_select(2, 1)?,
            qkv.f_select(2, 2)?,
        );
        let (k, k_thw) = match &self.pool_k {
            Some(pool) => pool.forward(&k, thw)?,
            None => (k, thw),
        };
        let v = match &self.pool_v {
            Some(pool) => pool.forward(&v, thw)?.0,
            None => v,
        };
        let (q, q_thw) = match &self.pool_q {
            Some(pool) => pool.forward(&q, thw)?,
            None => (q, thw),
        };

        // [B, heads, Nq, Nk]
        let mut attn = q
            .f_mul_scalar(self.scaler)?
            .f_matmul(&k.f_transpose(2, 3)?)?;
        if let Some(tables) = &self.rel_pos {
            attn = add_rel_pos(&attn, &q, q_thw, k_thw, tables)?;
        }
        let attn = attn.f_softmax(-1, None)?;

        // [B, heads, Nq, hd]
        let mut out = attn.f_matmul(&v)?;
        if self.residual_pool {
            out = if self.residual_with_cls_embed {
                out.f_add(&q)?
            } else {
                // `x[:, :, 1:, :] += q[:, :, 1:, :]`
                let nq = out.size()[2];
                let patches = out
                    .f_narrow(2, 1, nq - 1)?
                    .f_add(&q.f_narrow(2, 1, nq - 1)?)?;
                Tensor::f_cat(&[&out.f_narrow(2, 0, 1)?, &patches], 2)?
            };
        }
        let out = out.f_transpose(1, 2)?.f_reshape([b, -1, self.output_dim])?;
        Ok((self.project.forward(&out)?, q_thw))
    }
}

/// torchvision's `_add_rel_pos`: decomposed relative positions (h, w, t), added to the
/// patch-to-patch attention logits (the class token's row and column get nothing).
fn add_rel_pos(
    attn: &Tensor,
    q: &Tensor,
    q_thw: [i64; 3],
    k_thw: [i64; 3],
    [table_h, table_w, table_t]: &[Tensor; 3],
) -> Result<Tensor> {
    let [q_t, q_h, q_w] = q_thw;
    let [k_t, k_h, k_w] = k_thw;
    let rh = rel_pos_lookup(table_h, q_h, k_h, "rel_pos_h")?;
    let rw = rel_pos_lookup(table_w, q_w, k_w, "rel_pos_w")?;
    let rt = rel_pos_lookup(table_t, q_t, k_t, "rel_pos_t")?;

    let (b, heads, nq, dim) = q.size4()?;
    let r_q = q
        .f_narrow(2, 1, nq - 1)?
        .f_reshape([b, heads, q_t, q_h, q_w, dim])?;
    // [B, heads, q_t, q_h, q_w, k_h] and [..., k_w]
    let rel_h = Tensor::f_einsum("bythwc,hkc->bythwk", &[&r_q, &rh], None::<&[i64]>)?;
    let rel_w = Tensor::f_einsum("bythwc,wkc->bythwk", &[&r_q, &rw], None::<&[i64]>)?;
    // [q_t, B·heads·q_h·q_w, dim] @ [q_t, dim, k_t] -> [B·heads·q_h·q_w, q_t, k_t]
    let rel_t = r_q
        .f_permute([2, 0, 1, 3, 4, 5])?
        .f_reshape([q_t, b * heads * q_h * q_w, dim])?
        .f_matmul(&rt.f_transpose(1, 2)?)?
        .f_transpose(0, 1)?
        // -> [B, heads, q_t, q_h, q_w, k_t]
        .f_reshape([b, heads, q_h, q_w, q_t, k_t])?
        .f_permute([0, 1, 4, 2, 3, 5])?;
    // [B, heads, q_t, q_h, q_w, k_t, k_h, k_w] -> [B, heads, Nq − 1, Nk − 1]
    let rel_pos = rel_h
        .f_unsqueeze(5)?
        .f_unsqueeze(7)?
        .f_add(&rel_w.f_unsqueeze(5)?.f_unsqueeze(5)?)?
        .f_add(&rel_t.f_unsqueeze(6)?.f_unsqueeze(7)?)?
        .f_reshape([b, heads, q_t * q_h * q_w, k_t * k_h * k_w])?;
    // `attn[:, :, 1:, 1:] += rel_pos`, out of place: zero row and column for the class token.
    Ok(attn.f_add(&rel_pos.f_constant_pad_nd([1, 0, 1, 0])?)?)
}

/// torchvision's `MultiscaleBlock` (stochastic depth and dropout are identities in inference).
struct MultiscaleBlock {
    pool_skip: Option<Pool>,
    norm1: LayerNorm,
    norm2: LayerNorm,
    attn: MultiscaleAttention,
    /// `mlp = MLP(attn_dim, [4·attn_dim, out])`: Linear `.0`, GELU, Dropout, Linear `.3`.
    mlp_fc1: Linear,
    mlp_fc2: Linear,
    project: Option<Linear>,
    proj_after_attn: bool,
}

impl MultiscaleBlock {
    fn new(p: &Path, input_size: [i64; 3], cnf: &BlockConfig, config: &Config) -> Self {
        let pool_skip = cnf.stride_q.filter(|&s| prod(Some(s)) > 1).map(Pool::max);
        let attn_dim = if config.proj_after_attn {
            cnf.output_channels
        } else {
            cnf.input_channels
        };
        let norm1 = LayerNorm::new(&(p / "norm1"), cnf.input_channels, LN_EPS);
        let norm2 = LayerNorm::new(&(p / "norm2"), attn_dim, LN_EPS);
        let attn = MultiscaleAttention::new(
            &(p / "attn"),
            input_size,
            cnf.input_channels,
            attn_dim,
            cnf,
            config,
        );
        let mlp_fc1 = Linear::new(&(p / "mlp" / 0), attn_dim, 4 * attn_dim, true);
        let mlp_fc2 = Linear::new(&(p / "mlp" / 3), 4 * attn_dim, cnf.output_channels, true);
        let project = (cnf.input_channels != cnf.output_channels).then(|| {
            Linear::new(
                &(p / "project"),
                cnf.input_channels,
                cnf.output_channels,
                true,
            )
        });
        MultiscaleBlock {
            pool_skip,
            norm1,
            norm2,
            attn,
            mlp_fc1,
            mlp_fc2,
            project,
            proj_after_attn: config.proj_after_attn,
        }
    }

    /// `[B, 1 + T·H·W, in]` → `[B, 1 + T'·H'·W', out]`.
    fn forward(&self, xs: &Tensor, thw: [i64; 3]) -> Result<(Tensor, [i64; 3])> {
        let x_norm1 = self.norm1.forward(xs)?;
        let (x_attn, thw_new) = self.attn.forward(&x_norm1, thw)?;
        let xs = match (&self.project, self.proj_after_attn) {
            (Some(project), true) => project.forward(&x_norm1)?,
            _ => xs.shallow_clone(),
        };
        let x_skip = match &self.pool_skip {
            // Pool works on [B, heads, N, C]: the tokens as one "head".
            Some(pool) => pool.forward(&xs.f_unsqueeze(1)?, thw)?.0.f_squeeze_dim(1)?,
            None => xs,
        };
        let xs = x_skip.f_add(&x_attn)?;
        let x_norm2 = self.norm2.forward(&xs)?;
        let x_proj = match (&self.project, self.proj_after_attn) {
            (Some(project), false) => project.forward(&x_norm2)?,
            _ => xs,
        };
        let mlp = self
            .mlp_fc2
            .forward(&gelu(&self.mlp_fc1.forward(&x_norm2)?)?)?;
        Ok((x_proj.f_add(&mlp)?, thw_new))
    }
}

fn zeros_var(p: &Path, name: &str, dims: &[i64]) -> Tensor {
    // Values are overwritten by the weight file; zeros keep an unloaded model deterministic.
    p.var(name, dims, tch::nn::Init::Const(0.0))
}

/// torchvision's `PositionalEncoding`: the class token, plus (v1) absolute embeddings, the
/// sum of a spatial and a temporal one, and the class token's own.
struct PositionalEncoding {
    class_token: Tensor,
    /// `spatial_pos` `[H·W, D]`, `temporal_pos` `[T, D]`, `class_pos` `[D]` (v1).
    absolute: Option<[Tensor; 3]>,
}

impl PositionalEncoding {
    fn new(p: &Path, embed: i64, grid: [i64; 3], rel_pos_embed: bool) -> Self {
        let class_token = zeros_var(p, "class_token", &[embed]);
        let absolute = (!rel_pos_embed).then(|| {
            [
                zeros_var(p, "spatial_pos", &[grid[1] * grid[2], embed]),
                zeros_var(p, "temporal_pos", &[grid[0], embed]),
                zeros_var(p, "class_pos", &[embed]),
            ]
        });
        PositionalEncoding {
            class_token,
            absolute,
        }
    }

    /// `[B, T·H·W, D]` → `[B, 1 + T·H·W, D]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, _, d) = xs.size3()?;
        let class_token = self.class_token.f_expand([b, d], false)?.f_unsqueeze(1)?;
        let xs = Tensor::f_cat(&[&class_token, xs], 1)?;
        let Some([spatial, temporal, class]) = &self.absolute else {
            return Ok(xs);
        };
        // Row t·HW + s is temporal_pos[t] + spatial_pos[s] (torchvision's repeat_interleave
        // then add_).
        let patches = temporal
            .f_unsqueeze(1)?
            .f_add(&spatial.f_unsqueeze(0)?)?
            .f_reshape([-1, d])?;
        let pos = Tensor::f_cat(&[&class.f_unsqueeze(0)?, &patches], 0)?.f_unsqueeze(0)?;
        Ok(xs.f_add(&pos)?)
    }
}

pub struct MViT {
    name: &'static str,
    input_thw: [i64; 3],
    /// Token grid after `conv_proj`.
    grid: [i64; 3],
    conv_proj: Conv3d,
    pos_encoding: PositionalEncoding,
    blocks: Vec<MultiscaleBlock>,
    norm: LayerNorm,
    /// `head.1` (`head.0` is the dropout).
    head: Linear,
    dropout: f64,
}

impl MViT {
    pub fn new(p: &Path, config: &Config) -> Self {
        // Config's constructors are the only way to make one, and both have 16 blocks.
        let first = &config.blocks[0];
        let last = &config.blocks[config.blocks.len() - 1];
        let conv_proj = Conv3d::new(
            &(p / "conv_proj"),
            3,
            first.input_channels,
            PATCH_KERNEL,
            PATCH_STRIDE,
            PATCH_PADDING,
            true,
        );
        let input_thw = [
            config.temporal_size,
            config.spatial_size.0,
            config.spatial_size.1,
        ];
        // `[size // stride for size, stride in zip(input, conv_proj.stride)]`
        let grid = [0, 1, 2].map(|i| input_thw[i] / PATCH_STRIDE[i]);
        let pos_encoding = PositionalEncoding::new(
            &(p / "pos_encoding"),
            first.input_channels,
            grid,
            config.rel_pos_embed,
        );
        let mut input_size = grid;
        let mut blocks = Vec::with_capacity(config.blocks.len());
        for (i, cnf) in config.blocks.iter().enumerate() {
            blocks.push(MultiscaleBlock::new(
                &(p / "blocks" / i),
                input_size,
                cnf,
                config,
            ));
            if let Some(stride) = cnf.stride_q {
                input_size = [0, 1, 2].map(|d| input_size[d] / stride[d]);
            }
        }
        let norm = LayerNorm::new(&(p / "norm"), last.output_channels, LN_EPS);
        let head = Linear::new(
            &(p / "head" / 1),
            last.output_channels,
            config.num_classes,
            true,
        );
        MViT {
            name: config.name,
            input_thw,
            grid,
            conv_proj,
            pos_encoding,
            blocks,
            norm,
            head,
            dropout: config.dropout,
        }
    }

    /// The only input the network takes: `[B, 3, T, H, W]` with B ≥ 1 and (T, H, W) the
    /// configured size. Checked before any op so a wrong clip is an error, not a libtorch
    /// panic deep inside a reshape.
    fn check_input(&self, xs: &Tensor) -> Result<()> {
        let size = xs.size();
        let [t, h, w] = self.input_thw;
        if size.len() == 5 && size[0] >= 1 && size[1..] == [3, t, h, w] {
            Ok(())
        } else {
            Err(Error::InputShape {
                model: self.name.to_string(),
                expected: format!(
                    "[B, 3, {t}, {h}, {w}] with B ≥ 1 (MViT takes exactly {t} frames of {h}×{w})"
                ),
                got: size,
            })
        }
    }
}

impl Architecture for MViT {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        self.check_input(xs)?;
        // [B, 3, 16, 224, 224] -> [B, 96, 8, 56, 56] -> [B, 8·56·56, 96]
        let xs = self
            .conv_proj
            .forward(xs)?
            .f_flatten(2, -1)?
            .f_transpose(1, 2)?;
        // [B, 1 + 25088, 96]
        let mut xs = self.pos_encoding.forward(&xs)?;
        // v1: [B, 1 + 8·7·7, 768] after blocks 1, 3, 14 halve H and W (same for v2)
        let mut thw = self.grid;
        for block in &self.blocks {
            (xs, thw) = block.forward(&xs, thw)?;
        }
        let xs = self.norm.forward(&xs)?;
        // The class token: [B, 768]
        let features = xs.f_select(1, 0)?;
        Forward::linear_head(features, &self.head)
    }

    fn classifier(&self) -> Classifier {
        self.head.as_classifier()
    }

    fn head_dropout(&self) -> Option<f64> {
        (self.dropout > 0.0).then_some(self.dropout)
    }

    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        self.head
            .forward(&dropout(head_input, self.dropout, masks)?)
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[
    ModelSpec {
        family: "mvit",
        name: "mvit_v1_b",
        weight_file: "mvit_v1_b-dbeb1030.pth",
        gflops: 70.6,
        acc1: 78.477,
        acc5: 93.582,
        classifier_key: "head.1.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::mvit,
        // Exactly this size: MViT's forward rejects any other (T, H, W).
        alt_weight_files: &[],
        input_note: Some("exactly 16×224×224"),
        min_input: [16, 224, 224],
        build: |p, n| {
            Box::new(MViT::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::mvit_v1_b()
                },
            ))
        },
    },
    ModelSpec {
        family: "mvit",
        name: "mvit_v2_s",
        weight_file: "mvit_v2_s-ae3be167.pth",
        gflops: 64.2,
        acc1: 80.757,
        acc5: 94.665,
        classifier_key: "head.1.weight",
        labels: LabelSet::Kinetics400,
        input: InputKind::Video,
        preset: Preset::mvit,
        alt_weight_files: &[],
        input_note: Some("exactly 16×224×224"),
        min_input: [16, 224, 224],
        build: |p, n| {
            Box::new(MViT::new(
                p,
                &Config {
                    num_classes: n,
                    ..Config::mvit_v2_s()
                },
            ))
        },
    },
];
