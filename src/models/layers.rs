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
