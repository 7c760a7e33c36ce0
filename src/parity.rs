//! Step parity with the articles' own code: ganlab runs K iterations from its
//! initial weights while recording every noise batch; the article's code (Python,
//! under `parity/`) runs the same K iterations from the same weights, batches and
//! noise; the losses and every weight after each iteration are compared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};

use crate::data::Mnist;
use crate::models::{self, StepStats};
use crate::rng::StepRngs;
use crate::spec::{Spec, Variant};
use crate::train::{make_batch, Sampler};

/// One iteration's comparison.
#[derive(Debug, Clone)]
pub struct IterParity {
    pub iter: usize,
    pub d_loss: (f32, f32),
    pub g_loss: (f32, f32),
    /// Largest |ganlab - article| over all weights, and the tensor it is in.
    pub max_weight_diff: (f32, String),
    /// `||w_ganlab - w_article|| / ||w_article - w_init||` over all weights: how far
    /// the two updates differ, relative to the update itself.
    pub rel_update_diff: f32,
    /// The same ratio per tensor, `||dw_t|| / max(||u_t||, 1e-6 sqrt(n_t))`, at its
    /// largest, and the tensor: a small tensor's wrong update (e.g. a bias under a
    /// large BatchNorm statistics update) cannot hide in the global ratio. The floor
    /// keeps tensors whose update is only rounding (a bias before BatchNorm) out.
    pub max_rel_tensor: (f32, String),
    /// Weights (of all) that differ by more than 1e-6.
    pub n_differ: usize,
    /// Per tensor, by name: largest |ganlab - article|.
    pub per_tensor: Vec<(String, f32)>,
}

/// One line: "iter K: d_loss A vs B, g_loss A vs B, the update differences".
impl std::fmt::Display for IterParity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (d, g) = (&self.d_loss, &self.g_loss);
        write!(
            f,
            "iter {}: d_loss {:e} vs {:e}, g_loss {:e} vs {:e}, ",
            self.iter, d.0, d.1, g.0, g.1
        )?;
        let (t, w) = (&self.max_rel_tensor, &self.max_weight_diff);
        write!(
            f,
            "rel. update diff {:.2e} (all weights), {:.2e} (worst tensor, {}), max |dw| {:.2e} ({})",
            self.rel_update_diff, t.0, t.1, w.0, w.1
        )
    }
}

/// What `ganlab parity` says of a spec with dropout: its masks cannot match across
/// frameworks, so the two sides differ from the first iteration on, and the way to
/// compare the mathematics (`model.dropout=0` on both sides, as `tests/parity.rs` does).
pub fn dropout_note(spec: &Spec) -> Option<String> {
    (spec.model.dropout > 0.0).then(|| {
        format!(
            "note: {} has dropout {}: its masks cannot match across frameworks, so the two \
             sides differ from the first iteration on and the figures above compare nothing; \
             compare the mathematics with `--set model.dropout=0` (README, Step parity)",
            spec.name, spec.model.dropout
        )
    })
}

/// The framework an article's own code runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    /// PyTorch (article 002).
    Torch,
    /// TensorFlow's Keras 2 API, `tf_keras` (articles 000, 001, 003, 004).
    TfKeras,
}

impl Framework {
    /// The environment variable naming a Python that has this framework and safetensors.
    pub fn python_var(self) -> &'static str {
        match self {
            Framework::Torch => "GANLAB_PEER_PY",
            Framework::TfKeras => "GANLAB_TF_PY",
        }
    }
    /// What that Python needs.
    pub fn needs(self) -> &'static str {
        match self {
            Framework::Torch => "torch, safetensors and numpy",
            Framework::TfKeras => "tensorflow-cpu, tf-keras, safetensors and numpy",
        }
    }
    /// The Python named by [`Framework::python_var`], if set and not empty.
    pub fn python_from_env(self) -> Option<PathBuf> {
        std::env::var_os(self.python_var())
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }
}

/// The article driver (script under the repository root) for a variant and its framework.
pub fn driver(variant: Variant) -> (&'static str, Framework) {
    match variant {
        Variant::MlpKeras => ("parity/article_000.py", Framework::TfKeras),
        Variant::TanhCnn => ("parity/article_001.py", Framework::TfKeras),
        Variant::MlpPytorch => ("parity/article_002.py", Framework::Torch),
        Variant::Acgan => ("parity/article_003.py", Framework::TfKeras),
        Variant::Dcgan => ("parity/article_004.py", Framework::TfKeras),
    }
}

/// The file the article driver writes into the fixture directory.
pub const ARTICLE_OUT: &str = "article_out.safetensors";
/// ganlab's weights after each iteration, written beside it.
pub const GANLAB_OUT: &str = "ganlab_out.safetensors";

fn labels_tensor(l: &[u8], dev: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(
        l.iter().map(|&v| v as i64).collect::<Vec<_>>(),
        l.len(),
        dev,
    )?)
}

/// Run `k` iterations on both sides in `dir` (created) with the Python at `python`.
///
/// The fixture: `init.safetensors` (every weight, BatchNorm moving statistics
/// included, under ganlab's names) and `inputs.safetensors` (`real_K` `[n, 784]` and
/// `labels_K` (i64) per iteration, then `noise_J` and, for ACGAN, `sampled_J` (i64)
/// in the order ganlab drew them), and `fixture.json` (spec name, batch size,
/// dropout rate). The driver writes [`ARTICLE_OUT`]: `d_loss_K`,
/// `g_loss_K` and `weight_K.<name>` for every weight after each iteration.
pub fn run(spec: &Spec, data: &Mnist, k: usize, dir: &Path, python: &Path) -> Result<Vec<IterParity>> {
    run_model(spec, models::build(spec, &Device::Cpu)?, data, k, dir, python)
}

/// Weights by name, deep-copied (the optimisers update them in place).
type Weights = HashMap<String, Tensor>;

fn snapshot(m: &dyn models::Gan) -> Result<Weights> {
    let mut w = m.generator().to_map();
    w.extend(m.discriminator().to_map());
    w.into_iter().map(|(k, t)| Ok((k, t.copy()?))).collect()
}

/// As [`run`], with ganlab's side given as a model built for `spec` on the CPU (the
/// mutation checks build one with a quirk undone).
pub fn run_model(
    spec: &Spec,
    model: Box<dyn models::Gan>,
    data: &Mnist,
    k: usize,
    dir: &Path,
    python: &Path,
) -> Result<Vec<IterParity>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (init, ours) = ganlab_side(spec, model, data, k, dir)?;
    // ganlab's side beside the article's, under the same names (`weight_K.NAME` after
    // iteration K + 1), so that `--dir` keeps both for a third opinion (float64, say).
    let mut out = HashMap::new();
    for (i, (_, w)) in ours.iter().enumerate() {
        out.extend(w.iter().map(|(n, t)| (format!("weight_{i}.{n}"), t.clone())));
    }
    candle_core::safetensors::save(&out, dir.join(GANLAB_OUT))?;
    let theirs = article_side(spec, dir, python)?;
    ours.iter()
        .enumerate()
        .map(|(i, (s, w))| compare_iter(i, s, w, &init, &theirs))
        .collect()
}

/// Write the fixture (initial weights, the spec's batch and dropout, every input
/// drawn) while ganlab trains `k` iterations; the initial weights, and each
/// iteration's statistics and weights.
fn ganlab_side(
    spec: &Spec,
    mut model: Box<dyn models::Gan>,
    data: &Mnist,
    k: usize,
    dir: &Path,
) -> Result<(Weights, Vec<(StepStats, Weights)>)> {
    let dev = Device::Cpu;
    let init = snapshot(model.as_ref())?;
    candle_core::safetensors::save(&init, dir.join("init.safetensors"))?;
    // What the article's code needs from the spec: the batch it loops over and the
    // dropout rate (parity runs set 0 on both sides; masks cannot match).
    let cfg = serde_json::json!({
        "spec": spec.name,
        "batch_size": spec.train.batch_size,
        "dropout": spec.model.dropout,
    });
    std::fs::write(dir.join("fixture.json"), serde_json::to_string_pretty(&cfg)?)
        .with_context(|| format!("cannot write {}", dir.join("fixture.json").display()))?;

    let mut rngs = StepRngs::new(spec.seed, &spec.noise);
    rngs.recorded = Some(Vec::new());
    rngs.recorded_labels = Some(Vec::new());
    let mut sampler = Sampler::new(spec, data.train.len(), model.reals_per_step());
    sampler.start_epoch();
    let mut inputs = HashMap::new();
    let mut ours = Vec::new();
    for i in 0..k {
        let batch = make_batch(&data.train, &sampler.next_indices(), spec.data.scale, &dev)?;
        inputs.insert(format!("real_{i}"), batch.images.clone());
        inputs.insert(format!("labels_{i}"), labels_tensor(&batch.labels, &dev)?);
        let s = model.train_step(&batch, &mut rngs)?;
        ours.push((s, snapshot(model.as_ref())?));
    }
    for (j, z) in rngs.recorded.take().unwrap_or_default().into_iter().enumerate() {
        inputs.insert(format!("noise_{j}"), z);
    }
    for (j, l) in rngs.recorded_labels.take().unwrap_or_default().into_iter().enumerate() {
        inputs.insert(format!("sampled_{j}"), labels_tensor(&l, &dev)?);
    }
    candle_core::safetensors::save(&inputs, dir.join("inputs.safetensors"))?;
    Ok((init, ours))
}

/// The article's outputs already computed in this process, by a digest of everything
/// its driver reads (see [`article_side`]).
type Memo = HashMap<[u8; 32], std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>>;
static ARTICLE_MEMO: std::sync::LazyLock<std::sync::Mutex<Memo>> = std::sync::LazyLock::new(Default::default);

/// SHA-256 of what the driver reads: the Python's path, the driver and every Python
/// file beside it, and the fixture (`fixture.json`, `init.safetensors`,
/// `inputs.safetensors`).
fn fixture_digest(dir: &Path, python: &Path, script: &Path) -> Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in [python, script] {
        h.update(p.as_os_str().as_encoded_bytes());
        h.update([0]);
    }
    // The driver and the modules beside it that it imports (it is one of them).
    let mut files: Vec<PathBuf> = std::fs::read_dir(script.parent().unwrap_or(Path::new(".")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .collect();
    files.sort();
    files.extend(["fixture.json", "init.safetensors", "inputs.safetensors"].map(|f| dir.join(f)));
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().into())
}

/// Run the article's driver on the fixture in `dir`; what it wrote ([`ARTICLE_OUT`]).
///
/// A fixture equal byte for byte to one the driver already ran on in this process
/// gets that run's output (copied into `dir`) instead of a second run: the mutation
/// checks undo a quirk on ganlab's side only, so most of them hand the article's code
/// the very inputs its parity check did, and the test binary runs the article's code
/// once per distinct fixture. Two identical fixtures at once wait for one run.
fn article_side(spec: &Spec, dir: &Path, python: &Path) -> Result<Weights> {
    let (script, _) = driver(spec.model.variant);
    let script = crate::run::project_file(script)?;
    let key = fixture_digest(dir, python, &script)?;
    let slot = ARTICLE_MEMO.lock().unwrap().entry(key).or_default().clone();
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    let out_file = dir.join(ARTICLE_OUT);
    match slot.as_ref() {
        Some(bytes) => {
            eprintln!(
                "{}: the article's output on this very fixture, from an earlier run of its code",
                spec.name
            );
            std::fs::write(&out_file, bytes).with_context(|| format!("cannot write {}", out_file.display()))?
        }
        None => {
            run_driver(spec, dir, python, &script)?;
            *slot = Some(std::fs::read(&out_file)?);
        }
    }
    candle_core::safetensors::load(&out_file, &Device::Cpu)
        .with_context(|| format!("cannot read the article's output {}", out_file.display()))
}

/// One run of the article's driver `script` on the fixture in `dir`.
fn run_driver(spec: &Spec, dir: &Path, python: &Path, script: &Path) -> Result<()> {
    let (_, framework) = driver(spec.model.variant);
    let out = Command::new(python).arg(script).arg(dir).output().with_context(|| {
        format!(
            "cannot run {} (set {} to a Python with {})",
            python.display(),
            framework.python_var(),
            framework.needs()
        )
    })?;
    if !out.status.success() {
        bail!(
            "{} failed (with {}; it needs {}):\n{}",
            script.display(),
            python.display(),
            framework.needs(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Iteration `i` of both sides, compared tensor by tensor.
fn compare_iter(i: usize, s: &StepStats, w: &Weights, init: &Weights, theirs: &Weights) -> Result<IterParity> {
    let scalar = |key: &str| -> Result<f32> {
        Ok(theirs
            .get(key)
            .with_context(|| format!("article output lacks {key}"))?
            .flatten_all()?
            .to_vec1::<f32>()?[0])
    };
    let mut worst = (0f32, String::new());
    let (mut diff2, mut upd2, mut n_differ) = (0f64, 0f64, 0usize);
    let mut per_tensor = Vec::new();
    let mut worst_rel = (0f32, String::new());
    for (name, t) in w {
        let other: &Tensor = theirs
            .get(&format!("weight_{i}.{name}"))
            .with_context(|| format!("article output lacks {name}"))?;
        let d = TensorDiff::of(t, other, &init[name])?;
        diff2 += d.diff2;
        upd2 += d.upd2;
        n_differ += d.n_differ;
        per_tensor.push((name.clone(), d.max));
        if d.rel >= worst_rel.0 {
            worst_rel = (d.rel, name.clone());
        }
        if d.max >= worst.0 {
            worst = (d.max, name.clone());
        }
    }
    per_tensor.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(IterParity {
        iter: i + 1,
        d_loss: (s.d_loss, scalar(&format!("d_loss_{i}"))?),
        g_loss: (s.g_loss, scalar(&format!("g_loss_{i}"))?),
        max_weight_diff: worst,
        rel_update_diff: (diff2.sqrt() / upd2.sqrt().max(1e-30)) as f32,
        max_rel_tensor: worst_rel,
        n_differ,
        per_tensor,
    })
}

/// One tensor of two sides after the same iterations from the same `init`.
struct TensorDiff {
    /// The largest element difference.
    max: f32,
    /// Sum of squares of the differences, and of the second side's update.
    diff2: f64,
    upd2: f64,
    /// Elements more than 1e-6 apart.
    n_differ: usize,
    /// `||a - b|| / ||b - init||`, with a floor for updates that are only rounding.
    rel: f32,
}

impl TensorDiff {
    fn of(a: &Tensor, b: &Tensor, init: &Tensor) -> Result<TensorDiff> {
        let d = (a - b)?.flatten_all()?.to_vec1::<f32>()?;
        let u = (b - init)?.flatten_all()?.to_vec1::<f32>()?;
        let diff2 = d.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        let upd2 = u.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        Ok(TensorDiff {
            max: d.iter().fold(0f32, |a, v| a.max(v.abs())),
            diff2,
            upd2,
            n_differ: d.iter().filter(|v| v.abs() > 1e-6).count(),
            rel: (diff2.sqrt() / upd2.sqrt().max(1e-6 * (d.len() as f64).sqrt())) as f32,
        })
    }
}

/// Two outputs in a parity directory (`weight_K.NAME` after iteration K + 1, as
/// [`GANLAB_OUT`] and [`ARTICLE_OUT`] hold), compared as the parity rows compare the
/// engines: per iteration, the worst tensor's `||a - b|| / ||b - init||` and its name.
/// A third implementation written in that form (a float64 one, say) can so tell
/// which of two disagreeing sides is off.
pub fn compare_outputs(dir: &Path, a: &str, b: &str, iters: usize) -> Result<Vec<(f32, String)>> {
    let load = |f: &str| {
        candle_core::safetensors::load(dir.join(f), &Device::Cpu)
            .with_context(|| format!("cannot read {}", dir.join(f).display()))
    };
    let (init, a, b) = (load("init.safetensors")?, load(a)?, load(b)?);
    (0..iters)
        .map(|i| {
            let mut worst = (0f32, String::new());
            for (name, t0) in &init {
                let key = format!("weight_{i}.{name}");
                let (Some(x), Some(y)) = (a.get(&key), b.get(&key)) else {
                    bail!("{key} is missing from one of the outputs in {}", dir.display());
                };
                let d = TensorDiff::of(x, y, t0)?;
                if d.rel >= worst.0 {
                    worst = (d.rel, name.clone());
                }
            }
            Ok(worst)
        })
        .collect()
}

/// The `summary:` line of a parity run: the largest relative loss difference, the
/// largest all-weights update difference and the worst single tensor, over the
/// iterations (what the README's table quotes).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub iterations: usize,
    pub loss: f32,
    pub all_weights: f32,
    pub worst: (f32, String),
}

impl Summary {
    pub fn of(rows: &[IterParity]) -> Summary {
        let rel = |a: f32, b: f32| (a - b).abs() / b.abs().max(1e-6);
        let loss = rows
            .iter()
            .map(|r| rel(r.d_loss.0, r.d_loss.1).max(rel(r.g_loss.0, r.g_loss.1)))
            .fold(0f32, f32::max);
        let all_weights = rows.iter().map(|r| r.rel_update_diff).fold(0f32, f32::max);
        let mut worst = (0f32, String::new());
        for r in rows {
            if r.max_rel_tensor.0 > worst.0 {
                worst = r.max_rel_tensor.clone();
            }
        }
        Summary {
            iterations: rows.len(),
            loss,
            all_weights,
            worst,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "summary: {} iterations, losses within {:.1e} (relative), weight updates within {:.1e} \
             (all weights) and {:.1e} (worst tensor, {})",
            self.iterations, self.loss, self.all_weights, self.worst.0, self.worst.1
        )
    }
}
