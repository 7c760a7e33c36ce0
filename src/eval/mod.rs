//! Sample quality: a pinned MNIST classifier (the evaluator) and the metrics built
//! on its features and class probabilities.
//!
//! | module | job |
//! | --- | --- |
//! | `lenet` | the evaluator CNN and its deterministic training |
//! | `pinned` | the committed weights (compiled in) and their SHA-256 |
//! | `metrics` | FID, KID, classifier Inception Score, class coverage and accuracy |
//! | `gram` | the f64 matrix products of the metrics, through `gemm` |
//! | `prd` | precision and recall of k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019) |
//! | `reference` | the reference rows (real train images, uniform noise), for the report |
//! | `idx` | IDX image and label files of any length (external samples) |
//! | `score` | scoring a run's generator or an IDX file: all metrics, printouts, `eval.parquet` |
//! (The `eval` and `evaluator` commands are in `crate::cli::eval`.)
//! | `during` | `eval.every_epochs`: scoring samples while a run trains |
//!
//! Every number is computed with the pinned weights unless the user explicitly
//! allows others, and every printout carries the SHA-256 of the weights used.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::data::PIXELS;
use crate::nn::Grad;

pub mod during;
pub mod gram;
pub mod idx;
pub mod lenet;
pub mod metrics;
pub mod pinned;
pub mod prd;
pub mod reference;
pub mod score;

pub use lenet::{CLASSES, FEATURES};

/// Which layer the distance metrics use, for printouts and docs.
pub const FEATURE_LAYER: &str = "fc1 (128-d, after ReLU)";

/// Images per forward pass when embedding.
const CHUNK: usize = 500;

/// A progress bar on stderr in the project's style (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The evaluator's outputs for a set of images.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// `n * FEATURES` features, row-major.
    pub features: Vec<f32>,
    /// `n * CLASSES` softmax probabilities (computed in f64).
    pub probs: Vec<f64>,
}

impl Embedding {
    pub fn len(&self) -> usize {
        self.probs.len() / CLASSES
    }
    pub fn is_empty(&self) -> bool {
        self.probs.is_empty()
    }
    /// The most probable class of each image.
    pub fn predictions(&self) -> Vec<u8> {
        self.probs
            .chunks(CLASSES)
            .map(|p| {
                let mut best = 0;
                for (k, &v) in p.iter().enumerate() {
                    if v > p[best] {
                        best = k;
                    }
                }
                best as u8
            })
            .collect()
    }
}

/// The evaluator: the classifier with loaded weights and their checksum.
pub struct Evaluator {
    net: lenet::LeNet,
    /// SHA-256 of the weights file.
    pub sha256: String,
    /// Whether these are the pinned weights.
    pub pinned: bool,
    dev: Device,
}

impl Evaluator {
    /// The pinned weights compiled into ganlab.
    pub fn pinned() -> Result<Evaluator> {
        Self::from_bytes(
            pinned::WEIGHTS,
            "the bundled evaluator (assets/evaluator.safetensors)",
            false,
        )
    }

    /// `--evaluator FILE` if given, else the pinned weights. Weights other than the
    /// pinned ones are refused unless `allow_unpinned`.
    pub fn open(path: Option<&Path>, allow_unpinned: bool) -> Result<Evaluator> {
        match path {
            None => Self::pinned(),
            Some(p) => {
                let bytes =
                    std::fs::read(p).with_context(|| format!("cannot read evaluator weights {}", p.display()))?;
                Self::from_bytes(&bytes, &p.display().to_string(), allow_unpinned)
            }
        }
    }

    /// Load safetensors `bytes` (named `origin` in errors), checking their SHA-256
    /// against the pinned one.
    pub fn from_bytes(bytes: &[u8], origin: &str, allow_unpinned: bool) -> Result<Evaluator> {
        let sha = sha256_hex(bytes);
        let pinned = sha == pinned::SHA256;
        if !pinned && !allow_unpinned {
            bail!(
                "{origin} has SHA-256 {sha}, but the pinned evaluator is {}: metrics from other weights are not \
                 comparable with anyone else's. Score with the pinned weights (leave out --evaluator; rebuild ganlab \
                 if assets/evaluator.safetensors was changed: `git checkout assets/evaluator.safetensors`), or pass \
                 --unpinned-evaluator to use these weights anyway (every printout then shows their checksum)",
                pinned::SHA256
            );
        }
        let dev = Device::Cpu;
        let net = lenet::LeNet::new(0, &dev)?;
        // Every tensor is checked (names, shapes, dtypes, count) before any is set.
        net.params
            .load_bytes(bytes, origin)
            .with_context(|| format!("{origin} does not hold evaluator weights (see `ganlab evaluator train`)"))?;
        Ok(Evaluator {
            net,
            sha256: sha,
            pinned,
            dev,
        })
    }

    /// Short tag for printouts: the checksum and whether it is the pinned one.
    pub fn tag(&self) -> String {
        format!(
            "{} ({})",
            self.sha256,
            if self.pinned {
                "pinned"
            } else {
                "NOT the pinned evaluator"
            }
        )
    }

    /// Features and class probabilities of `n` images given as `n * 784` grey levels.
    pub fn embed(&self, images: &[u8], show_progress: bool) -> Result<Embedding> {
        if !images.len().is_multiple_of(PIXELS) {
            bail!("{} bytes are not a whole number of 28x28 images", images.len());
        }
        let n = images.len() / PIXELS;
        let pb = if show_progress {
            progress(n as u64, "evaluator")
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut features = Vec::with_capacity(n * FEATURES);
        let mut probs = Vec::with_capacity(n * CLASSES);
        for chunk in images.chunks(CHUNK * PIXELS) {
            let m = chunk.len() / PIXELS;
            let x: Vec<f32> = chunk.iter().map(|&p| p as f32 / 255.0).collect();
            let x = Tensor::from_vec(x, (m, PIXELS), &self.dev)?;
            let out = self.net.forward(&x, Grad::Frozen, None)?;
            features.extend(out.features.flatten_all()?.to_vec1::<f32>()?);
            for row in out.logits.to_vec2::<f32>()? {
                let mx = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
                let e: Vec<f64> = row.iter().map(|&v| (v as f64 - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                probs.extend(e.iter().map(|v| v / z));
            }
            pb.inc(m as u64);
        }
        pb.finish_and_clear();
        Ok(Embedding { features, probs })
    }

    /// Fraction of `images` whose predicted class is `labels`.
    pub fn accuracy(&self, images: &[u8], labels: &[u8], show_progress: bool) -> Result<f64> {
        let e = self.embed(images, show_progress)?;
        Ok(metrics::class_accuracy(&e.predictions(), labels))
    }
}
