//! TorchScript classifiers (`torch.jit.trace` / `torch.jit.script`, saved by
//! `torch.jit.save`), run through libtorch's script-module API so that any network a user
//! can export is scored, not only torchvision's architectures.
//!
//! The module's forward takes the preset's normalized clips `[B, 3, T, H, W]` and returns
//! logits `[B, N]`, or a tuple `(logits, features)` with the classifier's input `[B, D]`.
//! The classifier is the last 2-D parameter with N rows, as the paper's code finds it (N
//! from the label file when one is given), or the parameter the user names. Its features
//! make the closed forms apply; without them the engine takes GradTrust and GradNorm from
//! real gradients of that parameter. MC-Dropout needs to switch only the head's dropout,
//! which a script module does not expose: it is reported missing.
use std::path::{Path, PathBuf};

use tch::{CModule, Device, IValue, Kind, Tensor};

use super::{Classifier, InputKind, Network, Outputs};
use crate::error::Remedy;
use crate::preset::Preset;
use crate::{Error, Result};

pub struct Scripted {
    path: PathBuf,
    module: CModule,
    parameters: Vec<(String, Tensor)>,
    /// Index in `parameters` of the classifier weight, and of its bias if it has one.
    weight: usize,
    bias: Option<usize>,
    gives_features: bool,
}

impl Scripted {
    /// Loads the archive onto `device` and probes its forward once with a zero clip of the
    /// preset's size, so a module that does not take the preset's clips, or returns
    /// something other than logits or `(logits, features)`, is refused here rather than on
    /// every row.
    pub fn load(
        path: &Path,
        device: Device,
        classifier: Option<&str>,
        num_classes: Option<usize>,
        preset: &Preset,
        input: InputKind,
    ) -> Result<Scripted> {
        let bad = |reason: String| Error::Weights {
            path: path.to_path_buf(),
            reason,
        };
        std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !crate::weights::is_torchscript(path) {
            return Err(bad(
                "not a TorchScript archive (torch.jit.save): a state dict or training \
                 checkpoint runs as the torchvision model of its architecture"
                    .into(),
            )
            .with_remedy(Remedy::Architecture));
        }
        let mut module = CModule::load_on_device(path, device).map_err(|e| {
            bad(format!(
                "TorchScript archive does not load: {}",
                first_line(&e)
            ))
        })?;
        module
            .f_set_eval()
            .map_err(|e| bad(format!("cannot switch to eval mode: {}", first_line(&e))))?;
        let parameters = module
            .named_parameters()
            .map_err(|e| bad(format!("cannot list parameters: {}", first_line(&e))))?;
        for (_, t) in &parameters {
            // Purview and the gradient path differentiate with respect to them.
            let _ = t.set_requires_grad(true);
        }
        // Any 2-D parameter could be the classifier: the user can name the right one.
        let weight = find_classifier(&parameters, classifier, num_classes).map_err(|reason| {
            if parameters.iter().any(|(_, p)| p.dim() == 2) {
                bad(reason).with_remedy(Remedy::Classifier)
            } else {
                bad(reason)
            }
        })?;
        let (name, w) = &parameters[weight];
        let rows = w.size()[0];
        let bias = name
            .strip_suffix("weight")
            .map(|stem| format!("{stem}bias"))
            .and_then(|b| parameters.iter().position(|(n, _)| *n == b))
            .filter(|&i| parameters[i].1.size() == [rows]);
        let mut net = Scripted {
            path: path.to_path_buf(),
            module,
            parameters,
            weight,
            bias,
            gives_features: false,
        };
        let frames = match input {
            InputKind::Video => preset.clip_len as i64,
            InputKind::Image => 1,
        };
        let (h, w) = (preset.crop.0 as i64, preset.crop.1 as i64);
        let probe = Tensor::f_zeros([1, 3, frames, h, w], (Kind::Float, device))?;
        let out = tch::no_grad(|| net.run(&probe))?;
        net.gives_features = out.features.is_some();
        Ok(net)
    }

    pub fn num_classes(&self) -> usize {
        self.parameters[self.weight].1.size()[0] as usize
    }

    pub fn classifier_name(&self) -> &str {
        &self.parameters[self.weight].0
    }

    /// What every report of this model says about it.
    pub fn notes(&self) -> Vec<String> {
        let (name, w) = &self.parameters[self.weight];
        vec![format!(
            "TorchScript module {}: classifier parameter {name} {:?}; the forward returns {}",
            self.path.display(),
            w.size(),
            if self.gives_features {
                "(logits, features): closed-form GradTrust and GradNorm"
            } else {
                "logits only: GradTrust and GradNorm from real gradients"
            }
        )]
    }

    fn run(&self, xs: &Tensor) -> Result<Outputs> {
        let bad = |reason: String| Error::Weights {
            path: self.path.clone(),
            reason,
        };
        let out = self
            .module
            .forward_is(&[IValue::Tensor(xs.shallow_clone())])
            .map_err(|e| bad(format!("forward failed: {}", first_line(&e))))?;
        let (logits, features) = match out {
            IValue::Tensor(z) => (z, None),
            IValue::Tuple(mut items) | IValue::GenericList(mut items) if items.len() == 2 => {
                match (items.remove(0), items.remove(0)) {
                    (IValue::Tensor(z), IValue::Tensor(h)) => (z, Some(h)),
                    _ => {
                        return Err(bad(
                            "forward returned a pair that is not (logits, features) tensors".into(),
                        ))
                    }
                }
            }
            other => {
                return Err(bad(format!(
                    "forward returned {}, not logits or (logits, features)",
                    ivalue_kind(&other)
                )))
            }
        };
        let (rows, n) = (xs.size()[0], self.num_classes() as i64);
        if logits.size() != [rows, n] {
            return Err(bad(format!(
                "forward returned logits of shape {:?} for {rows} clip(s), but the classifier {} \
                 has {n} rows (name the right classifier parameter)",
                logits.size(),
                self.classifier_name()
            ))
            .with_remedy(Remedy::Classifier));
        }
        let d = self.parameters[self.weight].1.size()[1];
        if let Some(h) = &features {
            if h.size() != [rows, d] {
                return Err(bad(format!(
                    "forward returned features of shape {:?}; the classifier {} takes [{rows}, {d}]",
                    h.size(),
                    self.classifier_name()
                )));
            }
        }
        Ok(Outputs {
            logits,
            head_input: None,
            features,
        })
    }
}

impl Network for Scripted {
    fn forward(&self, xs: &Tensor) -> Result<Outputs> {
        self.run(xs)
    }

    fn classifier(&self) -> Classifier {
        Classifier {
            weight: self.parameters[self.weight].1.shallow_clone(),
            bias: self.bias.map(|i| self.parameters[i].1.shallow_clone()),
        }
    }

    fn head_dropout(&self) -> Option<f64> {
        None
    }

    fn head(
        &self,
        _head_input: &Tensor,
        _masks: Option<&mut super::dropout::DropoutMasks>,
    ) -> Result<Tensor> {
        Err(Error::Invalid(format!(
            "{}: a TorchScript module's head cannot be run on its own",
            self.path.display()
        )))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.parameters
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    fn gives_features(&self) -> bool {
        self.gives_features
    }
}

/// The named 2-D parameter, or the last 2-D parameter (with `num_classes` rows when known).
fn find_classifier(
    parameters: &[(String, Tensor)],
    name: Option<&str>,
    num_classes: Option<usize>,
) -> std::result::Result<usize, String> {
    let two_d: Vec<usize> = (0..parameters.len())
        .filter(|&i| parameters[i].1.dim() == 2)
        .collect();
    let listing = || {
        two_d
            .iter()
            .map(|&i| format!("{} {:?}", parameters[i].0, parameters[i].1.size()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = name {
        return match parameters.iter().position(|(n, _)| n == name) {
            Some(i) if parameters[i].1.dim() == 2 => Ok(i),
            Some(i) => Err(format!(
                "classifier parameter {name}: has shape {:?}, not [N, D]; 2-D parameters: {}",
                parameters[i].1.size(),
                listing()
            )),
            None => Err(format!(
                "classifier parameter {name}: no such parameter; 2-D parameters: {}",
                listing()
            )),
        };
    }
    let found = two_d
        .iter()
        .rev()
        .copied()
        .find(|&i| num_classes.is_none_or(|n| parameters[i].1.size()[0] == n as i64));
    found.ok_or_else(|| match num_classes {
        Some(n) => format!(
            "no 2-D parameter with {n} rows (the label file's class count) to take as the \
             classifier; 2-D parameters: {}; name one",
            listing()
        ),
        None => "the module has no 2-D parameter to take as the classifier".into(),
    })
}

fn ivalue_kind(v: &IValue) -> &'static str {
    match v {
        IValue::None => "None",
        IValue::Tuple(_) => "a tuple",
        IValue::GenericList(_) | IValue::TensorList(_) => "a list",
        IValue::GenericDict(_) => "a dict",
        IValue::Double(_) | IValue::Int(_) | IValue::Bool(_) => "a number",
        IValue::String(_) => "a string",
        _ => "an unsupported value",
    }
}

/// libtorch's messages carry a C++ stack trace after the first line: users need the first.
fn first_line(e: &tch::TchError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}
