//! Keras `BatchNormalization` in its training and inference modes.

use anyhow::Result;
use candle_core::{Tensor, Var};

use super::*;

/// Keras `BatchNormalization()` over the last axis of `[n, f]`: momentum 0.99,
/// epsilon 1e-3, gamma 1 and beta 0 to start, moving mean 0 and variance 1.
/// Training mode normalises with the batch's mean and (biased) variance and moves
/// the averages; inference mode uses the moving averages.
pub struct BatchNorm {
    pub gamma: Var,
    pub beta: Var,
    pub moving_mean: Var,
    pub moving_var: Var,
    pub momentum: f64,
    pub eps: f64,
}

/// A [`BatchNorm`]'s constants: Keras's `BatchNormalization` defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    pub momentum: f64,
    pub eps: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            momentum: 0.99,
            eps: 1e-3,
        }
    }
}

impl BatchNorm {
    /// `BatchNormalization()` over `f` features, registering `<prefix>.gamma` and
    /// `.beta` (trained) and `.moving_mean` and `.moving_variance` (state).
    pub fn new(f: usize, cfg: BatchNormConfig, mut pb: ParamBuilder) -> Result<BatchNorm> {
        Ok(BatchNorm {
            gamma: pb.var("gamma", vec![1f32; f], f)?,
            beta: pb.var("beta", vec![0f32; f], f)?,
            moving_mean: pb.state("moving_mean", vec![0f32; f], f)?,
            moving_var: pb.state("moving_variance", vec![1f32; f], f)?,
            momentum: cfg.momentum,
            eps: cfg.eps,
        })
    }

    /// Training mode: batch statistics, and the moving averages move.
    pub fn forward_train(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        let mean = x.mean_keepdim(0)?; // [1, f]
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(0)?; // biased, as tf.nn.moments
        let m = self.momentum;
        let new_mean = ((self.moving_mean.as_tensor() * m)? + (mean.detach().squeeze(0)? * (1.0 - m))?)?;
        let new_var = ((self.moving_var.as_tensor() * m)? + (var.detach().squeeze(0)? * (1.0 - m))?)?;
        self.moving_mean.set(&new_mean)?;
        self.moving_var.set(&new_var)?;
        let (g, b) = weights(&self.gamma, &self.beta, grad);
        let xhat = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(xhat.broadcast_mul(&g)?.broadcast_add(&b)?)
    }

    /// Inference mode (Keras `predict`): the moving averages.
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        let inv = (self.moving_var.as_tensor() + self.eps)?.sqrt()?.recip()?;
        let scale = (inv * self.gamma.as_tensor().detach())?;
        let shift = (self.beta.as_tensor().detach() - (self.moving_mean.as_tensor() * &scale)?)?;
        Ok(x.broadcast_mul(&scale)?.broadcast_add(&shift)?)
    }

    pub fn param_count(&self) -> usize {
        2 * self.gamma.elem_count()
    }
}
