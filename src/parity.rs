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
use crate::models;
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
    /// Weights (of all) that differ by more than 1e-6.
    pub n_differ: usize,
}

/// The article driver for a variant, when one exists.
pub fn driver(variant: Variant) -> Option<&'static str> {
    match variant {
        Variant::MlpPytorch => Some("parity/article_002.py"),
        _ => None,
    }
}

/// Run `k` iterations on both sides in `dir` (created) with the Python at `python`.
pub fn run(spec: &Spec, data: &Mnist, k: usize, dir: &Path, python: &Path) -> Result<Vec<IterParity>> {
    let script = driver(spec.model.variant)
        .with_context(|| format!("no step-parity driver for variant {} yet", spec.model.variant))?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dev = Device::Cpu;
    let mut model = models::build(spec, &dev)?;
    // Deep copies: the optimisers update the weights in place.
    let snapshot = |m: &dyn models::Gan| -> Result<HashMap<String, Tensor>> {
        let mut w = m.generator().to_map();
        w.extend(m.discriminator().to_map());
        w.into_iter().map(|(k, t)| Ok((k, t.copy()?))).collect()
    };
    let init = snapshot(model.as_ref())?;
    candle_core::safetensors::save(&init, dir.join("init.safetensors"))?;

    let mut rngs = StepRngs::new(spec.seed, &spec.noise);
    rngs.recorded = Some(Vec::new());
    let mut sampler = Sampler::new(spec, data.train.len(), model.reals_per_step());
    sampler.start_epoch();
    let mut inputs = HashMap::new();
    let mut ours = Vec::new();
    for i in 0..k {
        let batch = make_batch(&data.train, &sampler.next_indices(), spec.data.scale, &dev)?;
        inputs.insert(format!("real_{i}"), batch.images.clone());
        let s = model.train_step(&batch, &mut rngs)?;
        ours.push((s, snapshot(model.as_ref())?));
    }
    for (j, z) in rngs.recorded.take().unwrap_or_default().into_iter().enumerate() {
        inputs.insert(format!("noise_{j}"), z);
    }
    candle_core::safetensors::save(&inputs, dir.join("inputs.safetensors"))?;

    let out = Command::new(python).arg(&script).arg(dir).output().with_context(|| {
        format!(
            "cannot run {} (set GANLAB_PEER_PY to a Python with torch and safetensors)",
            python.display()
        )
    })?;
    if !out.status.success() {
        bail!("{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    }
    let theirs = candle_core::safetensors::load(dir.join("torch_out.safetensors"), &dev)?;
    let scalar = |key: &str| -> Result<f32> {
        Ok(theirs
            .get(key)
            .with_context(|| format!("article output lacks {key}"))?
            .flatten_all()?
            .to_vec1::<f32>()?[0])
    };
    let mut rows = Vec::new();
    for (i, (s, w)) in ours.iter().enumerate() {
        let mut worst = (0f32, String::new());
        let (mut diff2, mut upd2, mut n_differ) = (0f64, 0f64, 0usize);
        for (name, t) in w {
            let other: &Tensor = theirs
                .get(&format!("weight_{i}.{name}"))
                .with_context(|| format!("article output lacks {name}"))?;
            let d = (t - other)?.flatten_all()?.to_vec1::<f32>()?;
            let u = (other - &init[name])?.flatten_all()?.to_vec1::<f32>()?;
            let m = d.iter().fold(0f32, |a, v| a.max(v.abs()));
            diff2 += d.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
            upd2 += u.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
            n_differ += d.iter().filter(|v| v.abs() > 1e-6).count();
            if m >= worst.0 {
                worst = (m, name.clone());
            }
        }
        rows.push(IterParity {
            iter: i + 1,
            d_loss: (s.d_loss, scalar(&format!("d_loss_{i}"))?),
            g_loss: (s.g_loss, scalar(&format!("g_loss_{i}"))?),
            max_weight_diff: worst,
            rel_update_diff: (diff2.sqrt() / upd2.sqrt().max(1e-30)) as f32,
            n_differ,
        });
    }
    Ok(rows)
}
