//! Keras `Dense` (PyTorch `nn.Linear`'s initialisation too), one fused op on the CPU.

use anyhow::Result;
use candle_core::{Tensor, Var};

use super::*;
use crate::spec::Init;

/// A fully connected layer, weight stored as `[in, out]` (Keras's kernel layout).
pub struct Dense {
    pub w: Var,
    pub b: Var,
    pub fan_in: usize,
    pub fan_out: usize,
}

/// How a [`Dense`] layer starts: Keras's `Dense` by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseConfig {
    /// `glorot_uniform` kernel and zero bias (Keras), or `nn.Linear`'s (PyTorch).
    pub init: Init,
}

impl Default for DenseConfig {
    fn default() -> Self {
        DenseConfig {
            init: Init::GlorotUniform,
        }
    }
}

impl Dense {
    /// `Dense(fan_out)` on `fan_in` inputs, registering `<prefix>.weight` and `<prefix>.bias`.
    pub fn new(fan_in: usize, fan_out: usize, cfg: DenseConfig, mut pb: ParamBuilder) -> Result<Dense> {
        let rng = pb.rng();
        let (w, b) = match cfg.init {
            Init::GlorotUniform => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
                (uniform(rng, fan_in * fan_out, limit), vec![0f32; fan_out])
            }
            Init::TorchDefault => {
                // kaiming_uniform(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in)
                // = 1 / sqrt(fan_in); the bias uses the same bound.
                let bound = 1.0 / (fan_in as f64).sqrt();
                (uniform(rng, fan_in * fan_out, bound), uniform(rng, fan_out, bound))
            }
        };
        let w = pb.var("weight", w, (fan_in, fan_out))?;
        let b = pb.var("bias", b, fan_out)?;
        Ok(Dense { w, b, fan_in, fan_out })
    }

    /// `x @ W + b`: `[n, in] -> [n, out]`.
    pub fn forward(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        let (w, b) = weights(&self.w, &self.b, grad);
        Ok(crate::kernels::dense(x, &w, &b)?)
    }

    pub fn param_count(&self) -> usize {
        self.fan_in * self.fan_out + self.fan_out
    }

    /// Multiply-adds of one forward pass over `n` rows.
    pub fn macs(&self, n: usize) -> f64 {
        (n * self.fan_in * self.fan_out) as f64
    }
}
