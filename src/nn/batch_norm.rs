//! Keras `BatchNormalization` in its training and inference modes.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};

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

impl BatchNorm {
    pub fn new(params: &mut Params, name: &str, f: usize, dev: &Device) -> Result<BatchNorm> {
        let ones = || Tensor::ones(f, DType::F32, dev);
        let zeros = || Tensor::zeros(f, DType::F32, dev);
        let bn = BatchNorm {
            gamma: Var::from_tensor(&ones()?)?,
            beta: Var::from_tensor(&zeros()?)?,
            moving_mean: Var::from_tensor(&zeros()?)?,
            moving_var: Var::from_tensor(&ones()?)?,
            momentum: 0.99,
            eps: 1e-3,
        };
        params.push(format!("{name}.gamma"), bn.gamma.clone());
        params.push(format!("{name}.beta"), bn.beta.clone());
        params.push_state(format!("{name}.moving_mean"), bn.moving_mean.clone());
        params.push_state(format!("{name}.moving_variance"), bn.moving_var.clone());
        Ok(bn)
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
