//! Weight files: the only module that reads them. torchvision's `.pth` files (PyTorch's zip
//! format and the legacy pre-1.6 pickle stream, an `OrderedDict` state dict, BatchNorm
//! `num_batches_tracked` present or not) are read with `pytorch-reader`; `.safetensors`
//! files with libtorch's reader. Loading is strict and reports every problem at once; a file
//! under a torchvision name is checked against the SHA-256 prefix in that name
//! ([`checksum`]), and weights holding NaN or ±inf, or integers where float parameters
//! belong, are refused.
pub mod checksum;
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

/// Top-level keys under which training scripts keep the state dict beside other entries
/// (`epoch`, `optimizer`, `args`…), in the order they are preferred when several hold one.
pub const CONTAINER_KEYS: [&str; 6] = [
    "state_dict",
    "model",
    "model_state",
    "model_state_dict",
    "net",
    "module",
];

/// An opened weight file: every tensor's key as the file nests it (dicts joined with `.`,
/// so `{'state_dict': {'module.fc.weight': …}}` is `state_dict.module.fc.weight`), data read
/// only for the keys a model takes.
pub struct Checkpoint {
    path: PathBuf,
    tensors: Tensors,
}

enum Tensors {
    Pth(HashMap<String, pytorch_reader::Tensor>),
    Safetensors(HashMap<String, Tensor>),
}

impl Checkpoint {
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let bad = |reason: String| Error::Weights {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() == 0 {
            return Err(bad("empty file (0 bytes)".into()));
        }
        // Before parsing: a damaged torchvision file is reported as damaged (with the way to
        // get it again), not as whatever its broken bytes happen to parse into.
        checksum::verify(path)?;
        if is_torchscript(path) {
            return Err(bad(
                "is a TorchScript archive (torch.jit.save), not a state dict: run it as a \
                 TorchScript model, with the preset of the built-in model or family it borrows \
                 (e.g. r3d_18, swin3d, imagenet)"
                    .into(),
            )
            .with_remedy(crate::error::Remedy::TorchScript));
        }
        let tensors = if path.extension().is_some_and(|e| e == "safetensors") {
            let tensors = Tensor::read_safetensors(path)
                .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
            Tensors::Safetensors(tensors.into_iter().collect())
        } else {
            let reader = pytorch_reader::PytorchReader::new(path)
                .map_err(|e| bad(format!("not a readable PyTorch weight file: {e}")))?;
            Tensors::Pth(reader.into_tensors())
        };
        let checkpoint = Checkpoint {
            path: path.to_path_buf(),
            tensors,
        };
        if checkpoint.keys().is_empty() {
            return Err(bad("holds no tensors".into()));
        }
        Ok(checkpoint)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor key, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = match &self.tensors {
            Tensors::Pth(m) => m.keys().map(String::as_str).collect(),
            Tensors::Safetensors(m) => m.keys().map(String::as_str).collect(),
        };
        keys.sort_unstable();
        keys
    }

    fn shape(&self, key: &str) -> Option<Vec<i64>> {
        match &self.tensors {
            Tensors::Pth(m) => m
                .get(key)
                .map(|t| t.shape().iter().map(|&d| d as i64).collect()),
            Tensors::Safetensors(m) => m.get(key).map(Tensor::size),
        }
    }

    fn read(&self, key: &str) -> Result<Tensor> {
        let bad = |reason: String| Error::Weights {
            path: self.path.clone(),
            reason,
        };
        match &self.tensors {
            Tensors::Safetensors(m) => Ok(m[key].shallow_clone()),
            Tensors::Pth(m) => {
                let t = &m[key];
                let kind = kind_of(t.dtype())
                    .ok_or_else(|| bad(format!("{key}: unsupported dtype {:?}", t.dtype())))?;
                let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
                let bytes = t.read().map_err(|e| {
                    bad(format!(
                        "{key}: cannot read its data ({e}); truncated file?"
                    ))
                })?;
                Ok(Tensor::f_from_data_size(&bytes, &shape, kind)?)
            }
        }
    }

    /// Where the model's state dict sits in the file: the key prefix (`""`, `module.`,
    /// `state_dict.model.`, …) under which `classifier_key` is found. With `explicit`
    /// (`--weights-key`), only under that key. Several candidates: the bare file first, then
    /// the training scripts' usual container keys ([`CONTAINER_KEYS`]), then DDP's
    /// `module.`/Lightning's `model.`; two unknown prefixes are ambiguous and need
    /// `explicit`.
    pub fn locate(&self, classifier_key: &str, explicit: Option<&str>) -> Result<String> {
        let keys = self.keys();
        let scope = explicit.map(|k| format!("{}.", k.trim_end_matches('.')));
        if let Some(scope) = &scope {
            if !keys.iter().any(|k| k.starts_with(scope.as_str())) {
                return Err(Error::Weights {
                    path: self.path.clone(),
                    reason: format!(
                        "weights key {}: no tensors under that key; {}",
                        explicit.unwrap_or_default(),
                        self.describe()
                    ),
                });
            }
        }
        let mut candidates: Vec<&str> = keys
            .iter()
            .filter_map(|k| k.strip_suffix(classifier_key))
            .filter(|p| p.is_empty() || p.ends_with('.'))
            .filter(|p| scope.as_deref().is_none_or(|s| p.starts_with(s)))
            .collect();
        let rank = |prefix: &str| -> usize {
            if prefix.is_empty() {
                return 0;
            }
            let first = prefix.split('.').next().unwrap_or_default();
            CONTAINER_KEYS
                .iter()
                .position(|c| *c == first)
                .map_or(CONTAINER_KEYS.len() + 2, |i| i + 1)
        };
        candidates.sort_by_key(|p| (rank(p), p.len()));
        match candidates.as_slice() {
            [] => Err(Error::Weights {
                path: self.path.clone(),
                reason: format!(
                    "no state dict with the classifier key {classifier_key} found{}; {}",
                    scope
                        .as_deref()
                        .map(|s| format!(" under {s}"))
                        .unwrap_or_default(),
                    self.describe()
                ),
            }),
            // A longer candidate that extends the first (`module.` and
            // `module.layer4.0.fc.`, a key that merely ends like the classifier's) is no rival.
            [first, rest @ ..]
                if !rest
                    .iter()
                    .any(|c| rank(c) == rank(first) && !c.starts_with(first)) =>
            {
                Ok(first.to_string())
            }
            many => Err(Error::Weights {
                path: self.path.clone(),
                reason: format!(
                    "several state dicts hold {classifier_key} (under {}); say which one",
                    many.iter()
                        .map(|p| format!("{:?}", p.trim_end_matches('.')))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            .with_remedy(crate::error::Remedy::WeightsKey)),
        }
    }

    /// The shape of `key` under `prefix`.
    pub fn shape_at(&self, prefix: &str, key: &str) -> Option<Vec<i64>> {
        self.shape(&format!("{prefix}{key}"))
    }

    /// The tensors under `prefix`, the prefix removed.
    pub fn state_dict(&self, prefix: &str) -> Result<StateDict> {
        let mut out = StateDict::new();
        for key in self.keys() {
            if let Some(short) = key.strip_prefix(prefix) {
                out.insert(short.to_string(), self.read(key)?);
            }
        }
        Ok(out)
    }

    /// What the file holds, for errors: key count, top-level keys, the keys' common prefix.
    fn describe(&self) -> String {
        let keys = self.keys();
        let mut top: Vec<&str> = keys
            .iter()
            .map(|k| k.split('.').next().unwrap_or(k))
            .collect();
        top.dedup();
        let shown = top.iter().take(12).copied().collect::<Vec<_>>().join(", ");
        let more = if top.len() > 12 {
            format!(" and {} more", top.len() - 12)
        } else {
            String::new()
        };
        let common = keys.iter().skip(1).fold(keys[0], |acc, k| {
            let n = acc
                .char_indices()
                .zip(k.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map_or(0, |((i, a), _)| i + a.len_utf8());
            &acc[..n]
        });
        format!(
            "the file holds {} tensors, top-level keys [{shown}{more}], common key prefix {:?}",
            keys.len(),
            common
        )
    }
}

/// A TorchScript archive (`torch.jit.save`): a zip holding `<name>/code/…` and
/// `<name>/constants.pkl`, unlike `torch.save`'s `<name>/data.pkl` alone.
pub fn is_torchscript(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(archive) = zip::ZipArchive::new(std::io::BufReader::new(file)) else {
        return false;
    };
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    names.iter().any(|n| n.contains("/code/"))
        && names.iter().any(|n| n.ends_with("/constants.pkl"))
}

/// Reads the state dict of a weight file that holds one at its top level.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    Checkpoint::open(path)?.state_dict("")
}

/// Copies a weight file into a model's parameters and buffers. Missing keys, unexpected keys,
/// shape mismatches and integer tensors where float parameters belong (or the reverse) are
/// collected into one error naming the file and the model; then any NaN or ±inf in what
/// would be loaded is an error listing the tensors that hold them.
/// `num_batches_tracked` is accepted when present (torchvision keeps it, inference never
/// reads it) and not required (old files lack it).
pub fn load_into(vs: &VarStore, file: &StateDict, path: &Path, model: &str) -> Result<()> {
    let vars = vs.variables();
    let mut problems = Vec::new();
    let mut missing: Vec<&String> = vars.keys().filter(|k| !file.contains_key(*k)).collect();
    missing.sort();
    for key in missing {
        problems.push(format!("missing key {key}"));
    }
    for (key, tensor) in file {
        match vars.get(key) {
            None if is_bn_counter(key, &vars) => {}
            None => problems.push(format!("unexpected key {key}")),
            Some(var) if var.size() != tensor.size() => problems.push(format!(
                "shape mismatch for {key}: model {:?}, file {:?}",
                var.size(),
                tensor.size()
            )),
            // Casting would load integers (or truncated floats) as if they were the trained
            // values; a float file into a float model only converts precision.
            Some(var) if is_float(var.kind()) != is_float(tensor.kind()) => problems.push(format!(
                "dtype mismatch for {key}: model {:?}, file {:?} ({})",
                var.kind(),
                tensor.kind(),
                if is_float(var.kind()) {
                    "a non-float tensor where a float parameter belongs"
                } else {
                    "a float tensor where an integer buffer belongs"
                }
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
    let mut keys: Vec<&String> = vars.keys().collect();
    keys.sort();
    check_finite(keys.into_iter().map(|k| (k.as_str(), &file[k])), path)?;
    tch::no_grad(|| -> Result<()> {
        for (key, mut var) in vars {
            let src = &file[&key];
            // Same category (checked above): float precision converts, integer widths too.
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

/// Real floating-point kinds (what parameters are).
fn is_float(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Half
            | Kind::Float
            | Kind::Double
            | Kind::BFloat16
            | Kind::Float8e5m2
            | Kind::Float8e4m3fn
            | Kind::Float8e5m2fnuz
            | Kind::Float8e4m3fnuz
    )
}

/// Refuses weights holding NaN or ±inf: a forward through them gives logits that are
/// arbitrary yet still look like a prediction (a NaN bias reorders the top-5). Every float
/// tensor of `tensors` is checked; the error lists each offending key with its counts.
pub fn check_finite<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
    path: &Path,
) -> Result<()> {
    let mut bad = Vec::new();
    for (key, t) in tensors {
        if !is_float(t.kind()) {
            continue;
        }
        let count =
            |mask: Tensor| -> Result<i64> { Ok(mask.f_sum(Kind::Int64)?.f_int64_value(&[])?) };
        let non_finite = count(t.f_isfinite()?.f_logical_not()?)?;
        if non_finite == 0 {
            continue;
        }
        let nan = count(t.f_isnan()?)?;
        bad.push(format!(
            "{key} ({nan} NaN, {} infinite, of {} values)",
            non_finite - nan,
            t.numel()
        ));
    }
    if bad.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 10;
    let more = bad.len().saturating_sub(SHOWN);
    bad.truncate(SHOWN);
    Err(Error::Weights {
        path: path.to_path_buf(),
        reason: format!(
            "non-finite values in {}{}: the file is damaged or its training diverged; \
             predictions through these weights would be arbitrary",
            bad.join(", "),
            if more > 0 {
                format!(" and {more} more tensors")
            } else {
                String::new()
            }
        ),
    })
}

fn is_bn_counter(key: &str, vars: &HashMap<String, Tensor>) -> bool {
    key.strip_suffix(".num_batches_tracked")
        .is_some_and(|module| vars.contains_key(&format!("{module}.running_mean")))
}

/// A model's weights: a file, or seeded untrained parameters. Untrained weights let the whole
/// pipeline run where no weight file can be had (a machine without network); every output of
/// such a model says its predictions mean nothing ([`Weights::note`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Weights {
    File(PathBuf),
    /// The architecture's parameters drawn from libtorch's generator seeded with `seed`
    /// (see `models::init`): the same seed gives the same model on every device.
    Untrained {
        seed: u64,
    },
}

impl Weights {
    /// How untrained weights are written: `untrained:SEED`.
    pub const UNTRAINED: &'static str = "untrained:";

    /// The file, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Weights::File(p) => Some(p),
            Weights::Untrained { .. } => None,
        }
    }

    /// What reports and provenance call the weights: the file's name, or `untrained:SEED`.
    pub fn name(&self) -> String {
        match self {
            Weights::File(p) => crate::file_name(p),
            Weights::Untrained { seed } => format!("{}{seed}", Self::UNTRAINED),
        }
    }

    /// The note every report of an untrained model carries.
    pub fn note(&self) -> Option<String> {
        match self {
            Weights::File(_) => None,
            Weights::Untrained { seed } => Some(format!(
                "untrained weights (seed {seed}): predictions are meaningless; the run only \
                 shows the pipeline working"
            )),
        }
    }
}

impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Weights::File(p) => write!(f, "{}", p.display()),
            Weights::Untrained { .. } => f.write_str(&self.name()),
        }
    }
}

impl From<PathBuf> for Weights {
    fn from(path: PathBuf) -> Weights {
        Weights::File(path)
    }
}

/// `untrained:SEED` (SEED a non-negative integer), else a file path. A file whose name
/// really starts with `untrained:` is reached as `./untrained:…`.
impl std::str::FromStr for Weights {
    type Err = Error;

    fn from_str(s: &str) -> Result<Weights> {
        match s.strip_prefix(Self::UNTRAINED) {
            Some(seed) => seed
                .parse::<u64>()
                .map(|seed| Weights::Untrained { seed })
                .map_err(|_| {
                    Error::Invalid(format!(
                        "{s}: the seed of untrained weights is a whole number from 0 to {} \
                         (untrained:0)",
                        u64::MAX
                    ))
                }),
            None if s.is_empty() => Err(Error::Invalid("empty path".into())),
            None => Ok(Weights::File(PathBuf::from(s))),
        }
    }
}

/// Where a model's weights come from, in order: `--weights`, `models_dir/<torchvision file
/// name>`, then a download from `base_url` into `models_dir` with the checksum checked.
#[derive(Clone, Debug)]
pub struct WeightsSource {
    pub explicit: Option<Weights>,
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
                    "weight file name {f}: not a weight file of {}; known: {}",
                    spec.name,
                    known.collect::<Vec<_>>().join(", ")
                ))
            }),
        }
    }

    pub fn resolve(&self, spec: &ModelSpec) -> Result<Weights> {
        match &self.explicit {
            Some(Weights::File(path)) if !path.exists() => {
                return Err(Error::io(
                    path,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "weight file not found"),
                ));
            }
            Some(weights) => return Ok(weights.clone()),
            None => {}
        }
        let local = self.models_dir.join(self.file_name(spec)?);
        if local.is_file() {
            return Ok(Weights::File(local));
        }
        self.fetch(spec).map(Weights::File)
    }

    /// Downloads the model's weight file into `models_dir`. A file already there is checked
    /// against the SHA-256 prefix of its name instead (an error if it does not match, so
    /// `fetch` never reports a damaged file as present).
    pub fn fetch(&self, spec: &ModelSpec) -> Result<PathBuf> {
        let file = self.file_name(spec)?;
        let local = self.models_dir.join(file);
        if local.is_file() {
            checksum::verify(&local)?;
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
