//! Checkpoints that continue a run exactly: the weights (`g_<tag>`, `d_<tag>`), and
//! `state_<tag>.safetensors` + `state_<tag>.json` with the optimiser buffers, the
//! position of every random generator, the data sampler's order and position, and
//! where the loop stood (epoch, iteration, step, elapsed seconds).
//!
//! Every file is written to a temporary name and renamed; the JSON file is written
//! last, so a checkpoint without it is incomplete and never used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::models::Gan;
use crate::optim::OptimState;
use crate::rng::StepRngs;

/// Bumped when the layout changes; older states are refused with a clear message.
pub const FORMAT: u32 = 1;

/// A random generator's position (ChaCha word position; seed and stream come from
/// the spec). Stored as a decimal string: JSON numbers cannot hold a u128.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RngPos(pub String);

impl RngPos {
    pub fn of(r: &rand_chacha::ChaCha8Rng) -> RngPos {
        RngPos(r.get_word_pos().to_string())
    }
    pub fn apply(&self, r: &mut rand_chacha::ChaCha8Rng, what: &str) -> Result<()> {
        let p: u128 = self
            .0
            .parse()
            .with_context(|| format!("bad {what} generator position {:?}", self.0))?;
        r.set_word_pos(p);
        Ok(())
    }
}

/// The data sampler's state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SamplerState {
    pub rng: RngPos,
    /// Position in the epoch's order (the order itself is in the safetensors file).
    pub pos: usize,
}

/// Where the loop stood and everything that is not a tensor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    pub format: u32,
    pub spec_hash: String,
    pub variant: String,
    pub tag: String,
    /// Iterations done in all.
    pub step: u64,
    /// The epoch the last iteration belonged to (1-based).
    pub epoch: usize,
    /// Iterations of `epoch` done.
    pub iter: usize,
    /// Whether `epoch`'s end-of-epoch work (metrics flush, evaluation, grid) is done.
    pub epoch_done: bool,
    /// Training seconds so far (the `seconds` column continues from here).
    pub seconds: f64,
    pub threads: usize,
    pub noise_rng: RngPos,
    pub dropout_rng: RngPos,
    pub sampler: SamplerState,
    /// Optimiser step counts, D then G.
    pub optim_t: [u64; 2],
}

use crate::atomic::write_atomic;

fn state_paths(dir: &Path, tag: &str) -> (PathBuf, PathBuf) {
    let c = dir.join("checkpoints");
    (
        c.join(format!("state_{tag}.json")),
        c.join(format!("state_{tag}.safetensors")),
    )
}

/// Save the weights and the full training state under `tag`.
pub fn save(model: &dyn Gan, state: &TrainState, perm: &[usize], dir: &Path) -> Result<()> {
    let c = dir.join("checkpoints");
    let (json, st) = state_paths(dir, &state.tag);
    // A tag saved again (`iter`, `interrupted`): drop its JSON first, so that a crash
    // while the new files are written leaves no complete-looking mixed checkpoint.
    if json.exists() {
        std::fs::remove_file(&json).with_context(|| format!("cannot replace {}", json.display()))?;
    }
    let (g, d) = net_paths(&c, &state.tag);
    model.generator().save(&g)?;
    model.discriminator().save(&d)?;
    let dev = Device::Cpu;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (net, s) in ["d", "g"].iter().zip(model.optim_states()?) {
        for (i, b) in s.buffers.into_iter().enumerate() {
            let n = b.len();
            tensors.insert(format!("optim.{net}.{i}"), Tensor::from_vec(b, n, &dev)?);
        }
    }
    let epoch_state = model.epoch_state();
    if !epoch_state.is_empty() {
        let n = epoch_state.len();
        tensors.insert("model.epoch_state".into(), Tensor::from_vec(epoch_state, n, &dev)?);
    }
    let perm: Vec<u32> = perm.iter().map(|&i| i as u32).collect();
    let n = perm.len();
    tensors.insert("sampler.order".into(), Tensor::from_vec(perm, n, &dev)?);
    write_atomic(&st, |p| Ok(candle_core::safetensors::save(&tensors, p)?))?;
    write_atomic(&json, |p| Ok(std::fs::write(p, serde_json::to_string_pretty(state)?)?))
}

/// A loaded checkpoint.
pub struct Loaded {
    pub state: TrainState,
    pub optim: [OptimState; 2],
    pub order: Vec<usize>,
}

/// The complete checkpoint of `dir` with the most iterations, if any.
pub fn latest(dir: &Path) -> Result<Option<TrainState>> {
    let c = dir.join("checkpoints");
    let Ok(entries) = std::fs::read_dir(&c) else {
        return Ok(None);
    };
    let mut best: Option<TrainState> = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !(name.starts_with("state_") && name.ends_with(".json")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).with_context(|| format!("cannot read {}", e.path().display()))?;
        let s: TrainState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a ganlab training state (corrupt?)", e.path().display()))?;
        if best.as_ref().is_none_or(|b| s.step > b.step) {
            best = Some(s);
        }
    }
    Ok(best)
}

/// Load the weights into `model` and read the rest of checkpoint `state`.
pub fn load(model: &mut dyn Gan, state: TrainState, dir: &Path) -> Result<Loaded> {
    if state.format != FORMAT {
        bail!(
            "checkpoint {} has state format {}, this ganlab reads {FORMAT}",
            state.tag,
            state.format
        );
    }
    let c = dir.join("checkpoints");
    let (g, d) = net_paths(&c, &state.tag);
    model.generator().load(&g)?;
    model.discriminator().load(&d)?;
    let (_, st) = state_paths(dir, &state.tag);
    let map = candle_core::safetensors::load(&st, &Device::Cpu).with_context(|| {
        format!(
            "{} is not a readable safetensors file (corrupt or truncated)",
            st.display()
        )
    })?;
    let current = model.optim_states()?;
    let mut optim: [OptimState; 2] = Default::default();
    for (k, net) in ["d", "g"].iter().enumerate() {
        let mut buffers = Vec::new();
        for i in 0..current[k].buffers.len() {
            let t = map
                .get(&format!("optim.{net}.{i}"))
                .with_context(|| format!("{} lacks optimiser buffer {net}.{i}", st.display()))?;
            buffers.push(t.to_vec1::<f32>()?);
        }
        optim[k] = OptimState {
            t: state.optim_t[k],
            buffers,
        };
    }
    // Checkpoints from before the epoch state was kept have none (an empty one).
    let epoch_state = match map.get("model.epoch_state") {
        Some(t) => t.to_vec1::<f32>()?,
        None => Vec::new(),
    };
    model
        .set_epoch_state(&epoch_state)
        .with_context(|| format!("{}: epoch state", st.display()))?;
    let order = map
        .get("sampler.order")
        .with_context(|| format!("{} lacks the sampler order", st.display()))?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|i| i as usize)
        .collect();
    Ok(Loaded { state, optim, order })
}

/// The generator positions of a step's generators.
pub fn rng_positions(rngs: &StepRngs) -> (RngPos, RngPos) {
    (RngPos::of(&rngs.noise), RngPos::of(&rngs.dropout))
}

/// G's and D's weight files of the checkpoint `tag` in the folder `c`.
fn net_paths(c: &Path, tag: &str) -> (PathBuf, PathBuf) {
    (
        c.join(format!("g_{tag}.safetensors")),
        c.join(format!("d_{tag}.safetensors")),
    )
}
