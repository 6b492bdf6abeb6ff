//! Vision Transformer B/16: "An Image is Worth 16x16 Words: Transformers for Image
//! Recognition at Scale" (Dosovitskiy et al., ICLR 2021). Follows torchvision 0.28
//! `torchvision/models/vision_transformer.py` (`VisionTransformer`, `Encoder`, `EncoderBlock`,
//! `MLPBlock`) with `nn.MultiheadAttention`'s packed `in_proj_weight`/`in_proj_bias`; state_dict
//! keys are torchvision's (`encoder.layers.encoder_layer_{i}`, `mlp.0`/`mlp.3`, `heads.head`).
//!
//! The position embedding is learned for a 14×14 grid plus the class token, so the input must
//! be exactly 224×224 (torchvision asserts the same).
//!
//! NOTE: inference only. The dropouts (torchvision's default p = 0.0) are left out; the head is
//! a plain linear layer on the class token, so there is no head dropout.
use tch::nn::Path;
use tch::Tensor;

use super::layers::{gelu, require_image_size, single_frame, Conv2d, LayerNorm, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::Result;

/// torchvision: `partial(nn.LayerNorm, eps=1e-6)`.
const LN_EPS: f64 = 1e-6;

#[derive(Clone, Debug)]
pub struct Config {
    pub name: &'static str,
    pub image_size: i64,
    pub patch_size: i64,
    pub num_layers: usize,
    pub num_heads: i64,
    pub hidden_dim: i64,
    pub mlp_dim: i64,
    pub num_classes: i64,
}

impl Config {
    pub fn vit_b_16() -> Self {
        Config {
            name: "vit_b_16",
            image_size: 224,
            patch_size: 16,
            num_layers: 12,
            num_heads: 12,
            hidden_dim: 768,
            mlp_dim: 3072,
            num_classes: 1000,
        }
    }

    /// Tokens per image: the patch grid plus the class token.
    fn seq_length(&self) -> i64 {
        (self.image_size / self.patch_size).pow(2) + 1
    }
}

/// `nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)` as self-attention.
struct SelfAttention {
    /// `[3D, D]`: q, k, v projections stacked.
    in_proj_weight: Tensor,
    in_proj_bias: Tensor,
    out_proj: Linear,
    num_heads: i64,
}

impl SelfAttention {
    fn new(p: &Path, dim: i64, num_heads: i64) -> Self {
        let zeros = tch::nn::Init::Const(0.0);
        SelfAttention {
            in_proj_weight: p.var("in_proj_weight", &[3 * dim, dim], zeros),
            in_proj_bias: p.var("in_proj_bias", &[3 * dim], zeros),
            out_proj: Linear::new(&(p / "out_proj"), dim, dim, true),
            num_heads,
        }
    }

    /// `[B, L, D]` -> `[B, L, D]`
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, l, d) = xs.size3()?;
        let head_dim = d / self.num_heads;
        // [B, L, 3D] -> [3, B, heads, L, D/heads]
        let qkv = xs
            .f_linear(&self.in_proj_weight, Some(&self.in_proj_bias))?
            .f_reshape([b, l, 3, self.num_heads, head_dim])?
            .f_permute([2, 0, 3, 1, 4])?;
        let q = qkv.f_select(0, 0)?;
        let k = qkv.f_select(0, 1)?;
        let v = qkv.f_select(0, 2)?;
        let attn = q
            .f_matmul(&k.f_transpose(-2, -1)?)?
            .f_mul_scalar((head_dim as f64).powf(-0.5))?
            .f_softmax(-1, None)?;
        let out = attn.f_matmul(&v)?.f_transpose(1, 2)?.f_reshape([b, l, d])?;
        self.out_proj.forward(&out)
    }
}

/// `EncoderBlock`: pre-norm self-attention and MLP, each residual.
struct EncoderBlock {
    ln_1: LayerNorm,
    self_attention: SelfAttention,
    ln_2: LayerNorm,
    /// `mlp.0`: D → mlp_dim, then GELU (`mlp.1`) and dropout (`mlp.2`).
    fc1: Linear,
    /// `mlp.3`: mlp_dim → D, then dropout (`mlp.4`).
    fc2: Linear,
}

impl EncoderBlock {
    fn new(p: &Path, config: &Config) -> Self {
        let d = config.hidden_dim;
        EncoderBlock {
            ln_1: LayerNorm::new(&(p / "ln_1"), d, LN_EPS),
            self_attention: SelfAttention::new(&(p / "self_attention"), d, config.num_heads),
            ln_2: LayerNorm::new(&(p / "ln_2"), d, LN_EPS),
            fc1: Linear::new(&(p / "mlp" / 0), d, config.mlp_dim, true),
            fc2: Linear::new(&(p / "mlp" / 3), config.mlp_dim, d, true),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = xs.f_add(&self.self_attention.forward(&self.ln_1.forward(xs)?)?)?;
        let mlp = self
            .fc2
            .forward(&gelu(&self.fc1.forward(&self.ln_2.forward(&xs)?)?)?)?;
        Ok(xs.f_add(&mlp)?)
    }
}

pub struct VisionTransformer {
    class_token: Tensor,
    conv_proj: Conv2d,
    pos_embedding: Tensor,
    layers: Vec<EncoderBlock>,
    ln: LayerNorm,
    head: Linear,
    config: Config,
}

impl VisionTransformer {
    pub fn new(p: &Path, config: &Config) -> Self {
        let zeros = tch::nn::Init::Const(0.0);
        let d = config.hidden_dim;
        // named_parameters(): the model's own class_token first, then conv_proj, then the
        // encoder (its own pos_embedding before its layers), then heads.
        let class_token = p.var("class_token", &[1, 1, d], zeros);
        let conv_proj = Conv2d::new(
            &(p / "conv_proj"),
            3,
            d,
            config.patch_size,
            config.patch_size,
            0,
            1,
            true,
        );
        let enc = p / "encoder";
        let pos_embedding = enc.var("pos_embedding", &[1, config.seq_length(), d], zeros);
        let layers = (0..config.num_layers)
            .map(|i| EncoderBlock::new(&(&enc / "layers" / format!("encoder_layer_{i}")), config))
            .collect();
        let ln = LayerNorm::new(&(&enc / "ln"), d, LN_EPS);
        let head = Linear::new(&(p / "heads" / "head"), d, config.num_classes, true);
        VisionTransformer {
            class_token,
            conv_proj,
            pos_embedding,
            layers,
            ln,
            head,
            config: config.clone(),
        }
    }
}

impl Architecture for VisionTransformer {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        require_image_size(self.config.name, xs, self.config.image_size)?;
        let xs = single_frame(self.config.name, xs)?;
        let b = xs.size()[0];
        let d = self.config.hidden_dim;
        // [B, 3, 224, 224] -> [B, D, 14, 14] -> [B, 196, D]
        let patches = self
            .conv_proj
            .forward(&xs)?
            .f_reshape([b, d, -1])?
            .f_permute([0, 2, 1])?;
        // Class token first: [B, 197, D]
        let token = self.class_token.f_expand([b, -1, -1], false)?;
        let mut xs = Tensor::f_cat(&[token, patches], 1)?.f_add(&self.pos_embedding)?;
        for layer in &self.layers {
            xs = layer.forward(&xs)?;
        }
        // The class token after the final norm: [B, D]
        let features = self.ln.forward(&xs)?.f_select(1, 0)?;
        Forward::linear_head(features, &self.head)
    }

    fn classifier(&self) -> Classifier {
        self.head.as_classifier()
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "vit",
    name: "vit_b_16",
    weight_file: "vit_b_16-c867db91.pth",
    gflops: 17.564,
    acc1: 81.072,
    acc5: 95.318,
    classifier_key: "heads.head.weight",
    labels: LabelSet::ImageNet1k,
    input: InputKind::Image,
    preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
    alt_weight_files: &[],
    // The position embedding is learned for exactly a 14×14 patch grid.
    input_note: Some("exactly 224×224"),
    min_input: [1, 224, 224],
    build: |p, n| {
        Box::new(VisionTransformer::new(
            p,
            &Config {
                num_classes: n,
                ..Config::vit_b_16()
            },
        ))
    },
}];
