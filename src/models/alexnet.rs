//! AlexNet: "One weird trick for parallelizing convolutional neural networks" (Krizhevsky,
//! 2014), the variant torchvision ships. Follows torchvision 0.28
//! `torchvision/models/alexnet.py`; state_dict keys are torchvision's `Sequential` indices.
//! Runs on single-frame clips `[B, 3, 1, H, W]` with H, W ≥ 63.
use tch::nn::Path;
use tch::Tensor;

use super::dropout::{dropout, DropoutMasks};
use super::layers::{single_frame, Conv2d, Linear};
use super::{Architecture, Classifier, Forward};
use super::{InputKind, ModelSpec};
use crate::labels::LabelSet;
use crate::preset::Interpolation;
use crate::preset::Preset;
use crate::Result;

const DROPOUT: f64 = 0.5;

pub struct AlexNet {
    /// `features.{0,3,6,8,10}`.
    convs: Vec<Conv2d>,
    /// `classifier.1`, `classifier.4`, `classifier.6`.
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl AlexNet {
    pub fn new(p: &Path, num_classes: i64) -> Self {
        let f = p / "features";
        let convs = vec![
            Conv2d::new(&(&f / 0), 3, 64, 11, 4, 2, 1, true),
            Conv2d::new(&(&f / 3), 64, 192, 5, 1, 2, 1, true),
            Conv2d::new(&(&f / 6), 192, 384, 3, 1, 1, 1, true),
            Conv2d::new(&(&f / 8), 384, 256, 3, 1, 1, 1, true),
            Conv2d::new(&(&f / 10), 256, 256, 3, 1, 1, 1, true),
        ];
        let c = p / "classifier";
        AlexNet {
            convs,
            fc1: Linear::new(&(&c / 1), 256 * 6 * 6, 4096, true),
            fc2: Linear::new(&(&c / 4), 4096, 4096, true),
            fc3: Linear::new(&(&c / 6), 4096, num_classes, true),
        }
    }

    /// `classifier[0..6]` up to the last Linear's input: dropout, fc, ReLU, dropout, fc, ReLU.
    /// Both dropouts draw from `masks`, the first layer's before the second's.
    fn penultimate(
        &self,
        head_input: &Tensor,
        mut masks: Option<&mut DropoutMasks>,
    ) -> Result<Tensor> {
        let xs = dropout(head_input, DROPOUT, masks.as_deref_mut())?;
        let xs = self.fc1.forward(&xs)?.f_relu()?;
        let xs = dropout(&xs, DROPOUT, masks)?;
        Ok(self.fc2.forward(&xs)?.f_relu()?)
    }
}

fn max_pool(xs: &Tensor) -> Result<Tensor> {
    Ok(xs.f_max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false)?)
}

impl Architecture for AlexNet {
    fn forward(&self, xs: &Tensor) -> Result<Forward> {
        let xs = single_frame("alexnet", xs)?; // [B, 3, H, W]
        let xs = max_pool(&self.convs[0].forward(&xs)?.f_relu()?)?;
        let xs = max_pool(&self.convs[1].forward(&xs)?.f_relu()?)?;
        let xs = self.convs[2].forward(&xs)?.f_relu()?;
        let xs = self.convs[3].forward(&xs)?.f_relu()?;
        let xs = max_pool(&self.convs[4].forward(&xs)?.f_relu()?)?;
        // [B, 256, h, w] → AdaptiveAvgPool2d((6, 6)), flatten → [B, 9216]
        let head_input = xs.f_adaptive_avg_pool2d([6, 6])?.f_flatten(1, -1)?;
        let features = self.penultimate(&head_input, None)?; // [B, 4096]
        let logits = self.fc3.forward(&features)?;
        Ok(Forward {
            logits,
            features,
            head_input,
        })
    }

    fn classifier(&self) -> Classifier {
        self.fc3.as_classifier()
    }

    fn head_dropout(&self) -> Option<f64> {
        Some(DROPOUT)
    }

    fn head(&self, head_input: &Tensor, masks: Option<&mut DropoutMasks>) -> Result<Tensor> {
        self.fc3.forward(&self.penultimate(head_input, masks)?)
    }
}

/// The registry entries of this family (torchvision's published checkpoints).
pub static SPECS: &[ModelSpec] = &[ModelSpec {
    family: "alexnet",
    name: "alexnet",
    weight_file: "alexnet-owt-7be5be79.pth",
    gflops: 0.714,
    acc1: 56.522,
    acc5: 79.066,
    classifier_key: "classifier.6.weight",
    labels: LabelSet::ImageNet1k,
    input: InputKind::Image,
    preset: || Preset::imagenet(256, 224, Interpolation::Bilinear),
    alt_weight_files: &[],
    input_note: None,
    min_input: [1, 63, 63],
    build: |p, n| Box::new(AlexNet::new(p, n)),
}];
