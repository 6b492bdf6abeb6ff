//! The few layers the ports need, built on raw libtorch ops rather than `tch::nn`:
//! parameters are created weight-then-bias (torchvision's `named_parameters()` order, which
//! Purview depends on; `tch::nn` creates bias first), every op is the fallible `f_` form so a
//! bad input is an error instead of a panic, and BatchNorm always uses running statistics.
use tch::nn::{Init, Path};
use tch::Tensor;

use crate::Result;

fn zeros_var(p: &Path, name: &str, dims: &[i64]) -> Tensor {
    // Values are overwritten by the weight file; zeros keep an unloaded model deterministic.
    p.var(name, dims, Init::Const(0.0))
}

#[derive(Debug)]
pub struct Conv3d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    stride: [i64; 3],
    padding: [i64; 3],
    groups: i64,
}

impl Conv3d {
    pub fn new(
        p: &Path,
        in_channels: i64,
        out_channels: i64,
        kernel: [i64; 3],
        stride: [i64; 3],
        padding: [i64; 3],
        bias: bool,
    ) -> Self {
        let weight = zeros_var(
            p,
            "weight",
            &[out_channels, in_channels, kernel[0], kernel[1], kernel[2]],
        );
        let bias = bias.then(|| zeros_var(p, "bias", &[out_channels]));
        Conv3d {
            weight,
            bias,
            stride,
            padding,
            groups: 1,
        }
    }

    pub fn with_groups(mut self, groups: i64) -> Self {
        self.groups = groups;
        self
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(xs.f_conv3d(
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            [1, 1, 1],
            self.groups,
        )?)
    }
}

/// BatchNorm in inference form (running mean and variance). torchvision's ResNets use
/// eps 1e-5; S3D uses 1e-3.
#[derive(Debug)]
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    eps: f64,
}

impl BatchNorm {
    pub fn new(p: &Path, channels: i64, eps: f64) -> Self {
        let weight = zeros_var(p, "weight", &[channels]);
        let bias = zeros_var(p, "bias", &[channels]);
        let running_mean = p.zeros_no_train("running_mean", &[channels]);
        let running_var = p.ones_no_train("running_var", &[channels]);
        BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            eps,
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(Tensor::f_batch_norm(
            xs,
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            false,
            0.0,
            self.eps,
            true,
        )?)
    }
}

#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn new(p: &Path, in_features: i64, out_features: i64, bias: bool) -> Self {
        let weight = zeros_var(p, "weight", &[out_features, in_features]);
        let bias = bias.then(|| zeros_var(p, "bias", &[out_features]));
        Linear { weight, bias }
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(xs.f_linear(&self.weight, self.bias.as_ref())?)
    }

    /// This layer as the model's classifier (shares the parameters).
    pub fn as_classifier(&self) -> super::Classifier {
        super::Classifier {
            weight: self.weight.shallow_clone(),
            bias: self.bias.as_ref().map(Tensor::shallow_clone),
        }
    }
}

/// LayerNorm over the last dimension (MViT uses eps 1e-6, Swin3D 1e-5).
#[derive(Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    dim: i64,
    eps: f64,
}

impl LayerNorm {
    pub fn new(p: &Path, dim: i64, eps: f64) -> Self {
        let weight = zeros_var(p, "weight", &[dim]);
        let bias = zeros_var(p, "bias", &[dim]);
        LayerNorm {
            weight,
            bias,
            dim,
            eps,
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(xs.f_layer_norm(
            [self.dim],
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            true,
        )?)
    }
}

/// Exact (erf) GELU, as torch.nn.GELU() by default.
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    Ok(xs.f_gelu("none")?)
}

/// 2-D convolution for the image models (`nn.Conv2d` without dilation): weight
/// `[out, in/groups, kH, kW]`, then the optional bias.
#[derive(Debug)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    stride: [i64; 2],
    padding: [i64; 2],
    groups: i64,
}

impl Conv2d {
    /// A square `kernel` with the same `stride` and `padding` on both axes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &Path,
        in_channels: i64,
        out_channels: i64,
        kernel: i64,
        stride: i64,
        padding: i64,
        groups: i64,
        bias: bool,
    ) -> Self {
        let weight = zeros_var(
            p,
            "weight",
            &[out_channels, in_channels / groups, kernel, kernel],
        );
        let bias = bias.then(|| zeros_var(p, "bias", &[out_channels]));
        Conv2d {
            weight,
            bias,
            stride: [stride; 2],
            padding: [padding; 2],
            groups,
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(xs.f_conv2d(
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            [1, 1],
            self.groups,
        )?)
    }
}

/// An image model's input: the single frame of a `[B, 3, 1, H, W]` clip as `[B, 3, H, W]`.
/// `Model` has already checked the shape; this guards direct `Architecture` callers.
pub fn single_frame(model: &str, xs: &Tensor) -> Result<Tensor> {
    let size = xs.size();
    if size.len() != 5 || size[1] != 3 || size[2] != 1 {
        return Err(crate::Error::InputShape {
            model: model.to_string(),
            expected: "[B, 3, 1, H, W] (single-frame clips)".to_string(),
            got: size,
        });
    }
    Ok(xs.f_select(2, 0)?)
}

/// Rejects a `[B, 3, 1, H, W]` clip whose H and W are not exactly `size` (models whose
/// position embeddings or partitions are fixed at construction: ViT, MaxViT).
pub fn require_image_size(model: &str, xs: &Tensor, size: i64) -> Result<()> {
    let got = xs.size();
    if got.len() == 5 && got[3] == size && got[4] == size {
        Ok(())
    } else {
        Err(crate::Error::InputShape {
            model: model.to_string(),
            expected: format!("[B, 3, 1, {size}, {size}] (exactly {size}×{size})"),
            got,
        })
    }
}

/// Activation of a [`Conv2dNormActivation`] or a squeeze-excitation gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Hardswish,
    Hardsigmoid,
    Silu,
    Sigmoid,
}

impl Activation {
    pub fn apply(self, xs: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::None => xs.shallow_clone(),
            Activation::Relu => xs.f_relu()?,
            Activation::Hardswish => xs.f_hardswish()?,
            Activation::Hardsigmoid => xs.f_hardsigmoid()?,
            Activation::Silu => xs.f_silu()?,
            Activation::Sigmoid => xs.f_sigmoid()?,
        })
    }
}

/// torchvision's `ops.Conv2dNormActivation`: `Sequential(Conv2d (no bias), BatchNorm2d,
/// activation)`, keys `.0` and `.1`; padding `(kernel − 1) / 2`.
#[derive(Debug)]
pub struct Conv2dNormActivation {
    conv: Conv2d,
    bn: BatchNorm,
    activation: Activation,
}

impl Conv2dNormActivation {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &Path,
        in_channels: i64,
        out_channels: i64,
        kernel: i64,
        stride: i64,
        groups: i64,
        bn_eps: f64,
        activation: Activation,
    ) -> Self {
        let padding = (kernel - 1) / 2;
        Conv2dNormActivation {
            conv: Conv2d::new(
                &(p / 0),
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                groups,
                false,
            ),
            bn: BatchNorm::new(&(p / 1), out_channels, bn_eps),
            activation,
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.activation
            .apply(&self.bn.forward(&self.conv.forward(xs)?)?)
    }
}

/// torchvision's `ops.SqueezeExcitation`: `x · scale(fc2(act(fc1(mean_hw(x)))))`, `fc1`/`fc2`
/// 1×1 convs with bias.
#[derive(Debug)]
pub struct SqueezeExcitation {
    fc1: Conv2d,
    fc2: Conv2d,
    activation: Activation,
    scale_activation: Activation,
}

impl SqueezeExcitation {
    pub fn new(
        p: &Path,
        channels: i64,
        squeeze_channels: i64,
        activation: Activation,
        scale_activation: Activation,
    ) -> Self {
        SqueezeExcitation {
            fc1: Conv2d::new(&(p / "fc1"), channels, squeeze_channels, 1, 1, 0, 1, true),
            fc2: Conv2d::new(&(p / "fc2"), squeeze_channels, channels, 1, 1, 0, 1, true),
            activation,
            scale_activation,
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let scale = xs.f_adaptive_avg_pool2d([1, 1])?;
        let scale = self.activation.apply(&self.fc1.forward(&scale)?)?;
        let scale = self.scale_activation.apply(&self.fc2.forward(&scale)?)?;
        Ok(xs.f_mul(&scale)?)
    }
}

/// torchvision's `_make_divisible(v, divisor)` (MobileNet, EfficientNet channel counts).
pub fn make_divisible(v: f64, divisor: i64) -> i64 {
    let new_v = divisor.max((v + divisor as f64 / 2.0) as i64 / divisor * divisor);
    if (new_v as f64) < 0.9 * v {
        new_v + divisor
    } else {
        new_v
    }
}
