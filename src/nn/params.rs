//! Named parameters (one network's weights and state) and whether a pass trains them.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Shape, Tensor, Var};
use rand_chacha::ChaCha8Rng;

/// An ordered set of named tensors (one network's weights): trainable ones, and
/// state such as BatchNorm's moving statistics (saved, never given to an optimiser).
#[derive(Default)]
pub struct Params {
    pub names: Vec<String>,
    pub vars: Vec<Var>,
    pub trainable: Vec<bool>,
}

impl Params {
    pub fn push(&mut self, name: String, var: Var) {
        self.names.push(name);
        self.vars.push(var);
        self.trainable.push(true);
    }
    /// Register non-trainable state (saved in checkpoints, not counted as trainable).
    pub fn push_state(&mut self, name: String, var: Var) {
        self.names.push(name);
        self.vars.push(var);
        self.trainable.push(false);
    }
    /// Trainable parameters (what the articles' summaries call trainable params).
    pub fn count(&self) -> usize {
        self.vars
            .iter()
            .zip(&self.trainable)
            .filter(|(_, &t)| t)
            .map(|(v, _)| v.elem_count())
            .sum()
    }
    /// Non-trainable state elements.
    pub fn state_count(&self) -> usize {
        self.vars
            .iter()
            .zip(&self.trainable)
            .filter(|(_, &t)| !t)
            .map(|(v, _)| v.elem_count())
            .sum()
    }
    pub fn to_map(&self) -> HashMap<String, Tensor> {
        self.names
            .iter()
            .cloned()
            .zip(self.vars.iter().map(|v| v.as_tensor().clone()))
            .collect()
    }
    /// Save as safetensors, atomically (write a temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::atomic::write_atomic(path, |tmp| Ok(candle_core::safetensors::save(&self.to_map(), tmp)?))
    }
    /// Load weights saved by [`Params::save`]; names, shapes and dtypes must match.
    pub fn load(&self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// [`Params::load`] from the bytes of a safetensors file (`origin` names it in
    /// errors). Every tensor is checked before any weight changes, so a refused file
    /// leaves the model as it was.
    pub fn load_bytes(&self, bytes: &[u8], origin: &str) -> Result<()> {
        let map = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .with_context(|| format!("{origin} is not a readable safetensors checkpoint (corrupt or truncated)"))?;
        let mut checked = Vec::with_capacity(self.vars.len());
        for (name, var) in self.names.iter().zip(&self.vars) {
            let t = map.get(name).with_context(|| {
                format!("{origin} has no tensor `{name}`: it was saved by another variant or layout")
            })?;
            if t.dims() != var.dims() || t.dtype() != var.dtype() {
                bail!(
                    "{origin}: tensor `{name}` is {:?} {:?}, this model needs {:?} {:?} (checkpoint from another spec?)",
                    t.dtype(),
                    t.dims(),
                    var.dtype(),
                    var.dims()
                );
            }
            checked.push((var, t));
        }
        if map.len() != self.names.len() {
            bail!(
                "{origin} holds {} tensors, this model has {}: saved by another variant",
                map.len(),
                self.names.len()
            );
        }
        for (var, t) in checked {
            var.set(&t.to_device(var.device())?)?;
        }
        Ok(())
    }
}

/// Whether a layer's weights take gradients in this pass. A frozen pass reads the
/// weights as constants, so backprop skips their weight gradients (Keras's
/// `trainable = False` on D inside the combined model).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Grad {
    Train,
    Frozen,
}

/// Where a network's layers make their weights, in the style of candle's
/// `VarBuilder`: the network's [`Params`], the seeded init stream (each layer draws
/// its initial weights from it, in construction order, so a run is reproducible)
/// and the device, under a name prefix. `pp("conv1")` is the builder of the prefix
/// `<prefix>.conv1`; a layer registers its tensors there (`d.conv1.weight`, ...).
pub struct ParamBuilder<'a> {
    params: &'a mut Params,
    rng: &'a mut ChaCha8Rng,
    dev: &'a Device,
    prefix: String,
}

impl<'a> ParamBuilder<'a> {
    pub fn new(params: &'a mut Params, rng: &'a mut ChaCha8Rng, dev: &'a Device) -> Self {
        ParamBuilder {
            params,
            rng,
            dev,
            prefix: String::new(),
        }
    }

    /// The builder of the sub-prefix `name` (candle's `VarBuilder::pp`).
    pub fn pp(&mut self, name: impl AsRef<str>) -> ParamBuilder<'_> {
        let prefix = self.path(name.as_ref());
        ParamBuilder {
            params: &mut *self.params,
            rng: &mut *self.rng,
            dev: self.dev,
            prefix,
        }
    }

    /// This builder under the sub-prefix `name` (candle's `VarBuilder::push_prefix`).
    pub fn push_prefix(self, name: impl AsRef<str>) -> ParamBuilder<'a> {
        let prefix = self.path(name.as_ref());
        ParamBuilder { prefix, ..self }
    }

    fn path(&self, name: &str) -> String {
        match self.prefix.as_str() {
            "" => name.to_string(),
            p => format!("{p}.{name}"),
        }
    }

    /// The init stream, for a layer's initial weights.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        self.rng
    }

    /// A trainable tensor `<prefix>.<name>` of `shape` holding `values`.
    pub fn var(&mut self, name: &str, values: Vec<f32>, shape: impl Into<Shape>) -> Result<Var> {
        self.register(name, values, shape.into(), true)
    }

    /// Non-trainable state `<prefix>.<name>` (saved, never given to an optimiser).
    pub fn state(&mut self, name: &str, values: Vec<f32>, shape: impl Into<Shape>) -> Result<Var> {
        self.register(name, values, shape.into(), false)
    }

    fn register(&mut self, name: &str, values: Vec<f32>, shape: Shape, trainable: bool) -> Result<Var> {
        let v = Var::from_tensor(&Tensor::from_vec(values, shape, self.dev)?)?;
        let path = self.path(name);
        if trainable {
            self.params.push(path, v.clone());
        } else {
            self.params.push_state(path, v.clone());
        }
        Ok(v)
    }
}
