//! Weight files: the only module that reads them. torchvision's `.pth` files (PyTorch's zip
//! format and the legacy pre-1.6 pickle stream, an `OrderedDict` state dict, BatchNorm
//! `num_batches_tracked` present or not) are read with `pytorch-reader`; `.safetensors`
//! files with libtorch's reader. Loading is strict and reports every problem at once.
pub mod download;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::models::ModelSpec;
use crate::{Error, Result};

/// A weight file's tensors by state_dict key (on the CPU).
pub type StateDict = BTreeMap<String, Tensor>;

fn kind_of(dtype: pytorch_reader::DType) -> Option<Kind> {
    use pytorch_reader::DType as D;
    Some(match dtype {
        D::F64 => Kind::Double,
        D::F32 => Kind::Float,
        D::F16 => Kind::Half,
        D::BF16 => Kind::BFloat16,
        D::I64 => Kind::Int64,
        D::I32 => Kind::Int,
        D::I16 => Kind::Int16,
        D::I8 => Kind::Int8,
        D::U8 => Kind::Uint8,
        D::Bool => Kind::Bool,
        D::U64 | D::U32 | D::U16 => return None,
    })
}

/// Reads every tensor of a weight file.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    let bad = |reason: String| Error::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() == 0 {
        return Err(bad("empty file (0 bytes)".into()));
    }
    if path.extension().is_some_and(|e| e == "safetensors") {
        let tensors = Tensor::read_safetensors(path)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        return Ok(tensors.into_iter().collect());
    }
    let reader = pytorch_reader::PytorchReader::new(path)
        .map_err(|e| bad(format!("not a readable PyTorch weight file: {e}")))?;
    let mut out = StateDict::new();
    for (name, t) in reader.into_tensors() {
        let kind = kind_of(t.dtype())
            .ok_or_else(|| bad(format!("{name}: unsupported dtype {:?}", t.dtype())))?;
        let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
        let bytes = t.read().map_err(|e| {
            bad(format!(
                "{name}: cannot read its data ({e}); truncated file?"
            ))
        })?;
        let tensor = Tensor::f_from_data_size(&bytes, &shape, kind)?;
        out.insert(name, tensor);
    }
    if out.is_empty() {
        return Err(bad("holds no tensors".into()));
    }
    Ok(out)
}

/// Copies a weight file into a model's parameters and buffers. Missing keys, unexpected keys
/// and shape mismatches are collected into one error naming the file and the model.
/// `num_batches_tracked` is accepted when present (torchvision keeps it, inference never
/// reads it) and not required (old files lack it).
pub fn load_into(vs: &VarStore, path: &Path, model: &str) -> Result<()> {
    let file = read_state_dict(path)?;
    let vars = vs.variables();
    let mut problems = Vec::new();
    let mut missing: Vec<&String> = vars.keys().filter(|k| !file.contains_key(*k)).collect();
    missing.sort();
    for key in missing {
        problems.push(format!("missing key {key}"));
    }
    for (key, tensor) in &file {
        match vars.get(key) {
            None if is_bn_counter(key, &vars) => {}
            None => problems.push(format!("unexpected key {key}")),
            Some(var) if var.size() != tensor.size() => problems.push(format!(
                "shape mismatch for {key}: model {:?}, file {:?}",
                var.size(),
                tensor.size()
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(Error::WeightsMismatch {
            path: path.to_path_buf(),
            model: model.to_string(),
            problems: problems.join("\n"),
        });
    }
    tch::no_grad(|| -> Result<()> {
        for (key, mut var) in vars {
            let src = &file[&key];
            // A float file into a float model converts precision; integer buffers stay as
            // they are (their kind must already agree).
            let src = if src.kind() == var.kind() {
                src.shallow_clone()
            } else {
                src.f_to_kind(var.kind())?
            };
            var.f_copy_(&src)?;
        }
        Ok(())
    })
}

fn is_bn_counter(key: &str, vars: &HashMap<String, Tensor>) -> bool {
    key.strip_suffix(".num_batches_tracked")
        .is_some_and(|module| vars.contains_key(&format!("{module}.running_mean")))
}

/// Where a model's weights come from, in order: `--weights`, `models_dir/<torchvision file
/// name>`, then a download from `base_url` into `models_dir` with the checksum checked.
#[derive(Clone, Debug)]
pub struct WeightsSource {
    pub explicit: Option<PathBuf>,
    /// One of the model's torchvision files other than its default (e.g. swin3d_b's
    /// ImageNet-22k pre-trained weights).
    pub file: Option<String>,
    pub models_dir: PathBuf,
    pub base_url: String,
}

impl WeightsSource {
    /// The torchvision file name to look for and download.
    pub fn file_name(&self, spec: &ModelSpec) -> Result<&'static str> {
        let known = std::iter::once(spec.weight_file).chain(spec.alt_weight_files.iter().copied());
        match &self.file {
            None => Ok(spec.weight_file),
            Some(f) => known.clone().find(|k| k == f).ok_or_else(|| {
                Error::Invalid(format!(
                    "--weights-file {f}: not a weight file of {}; known: {}",
                    spec.name,
                    known.collect::<Vec<_>>().join(", ")
                ))
            }),
        }
    }

    pub fn resolve(&self, spec: &ModelSpec) -> Result<PathBuf> {
        if let Some(path) = &self.explicit {
            if !path.exists() {
                return Err(Error::io(
                    path,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "weight file not found"),
                ));
            }
            return Ok(path.clone());
        }
        let local = self.models_dir.join(self.file_name(spec)?);
        if local.is_file() {
            return Ok(local);
        }
        self.fetch(spec)
    }

    /// Downloads the model's weight file into `models_dir` (does nothing if it is there).
    pub fn fetch(&self, spec: &ModelSpec) -> Result<PathBuf> {
        let file = self.file_name(spec)?;
        let local = self.models_dir.join(file);
        if local.is_file() {
            return Ok(local);
        }
        let url = format!("{}{}", self.base_url, file);
        download::fetch(&url, &self.models_dir, file).map_err(|e| match e {
            Error::Download { reason, .. } => Error::WeightsUnavailable {
                model: spec.name.to_string(),
                file: file.to_string(),
                dir: self.models_dir.clone(),
                url: url.clone(),
                reason,
            },
            other => other,
        })
    }
}
