//! LeakyReLU, tanh and inverted dropout: fused kernels on the CPU, candle's ops elsewhere.

use anyhow::Result;
use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::kernels;

/// LeakyReLU(alpha): fused kernel on CPU, candle's composition elsewhere.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if crate::device::fused(x) {
        Ok(x.apply_op1(kernels::LeakyRelu {
            slope: slope as f32,
            mask: None,
        })?)
    } else {
        Ok(crate::kernels::leaky_relu_portable(x, slope)?)
    }
}

/// tanh: fused kernel on CPU, candle's op elsewhere.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if crate::device::fused(x) {
        Ok(x.apply_op1(kernels::Tanh)?)
    } else {
        Ok(x.tanh()?)
    }
}

/// An inverted-dropout mask (Keras and PyTorch): 0 with probability `rate`, else
/// `1 / (1 - rate)`, drawn from the run's dropout generator.
pub(super) fn dropout_mask(n: usize, rate: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let scale = (1.0 / (1.0 - rate)) as f32;
    // Keep where a uniform draw in [0, 1) is >= rate, compared as 32-bit integers.
    let threshold = (rate * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    let mut bits = vec![0u32; n];
    rng.fill(&mut bits[..]);
    bits.iter().map(|&b| if b >= threshold { scale } else { 0.0 }).collect()
}

/// `LeakyReLU(slope)` then `Dropout(rate)` (training mode), as one fused kernel on
/// the CPU; the same mask as [`leaky_relu`] followed by [`dropout`] would draw.
pub fn leaky_relu_dropout(x: &Tensor, slope: f64, rate: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if rate <= 0.0 || !crate::device::fused(x) {
        return dropout(&leaky_relu(x, slope)?, rate, rng);
    }
    let mask = std::sync::Arc::new(dropout_mask(x.elem_count(), rate, rng));
    Ok(x.apply_op1(kernels::LeakyRelu {
        slope: slope as f32,
        mask: Some(mask),
    })?)
}

/// Inverted dropout (Keras and PyTorch): zero with probability `rate`, scale the rest
/// by `1 / (1 - rate)`. The mask comes from the run's dropout generator.
pub fn dropout(x: &Tensor, rate: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if rate <= 0.0 {
        return Ok(x.clone());
    }
    let mask = dropout_mask(x.elem_count(), rate, rng);
    if crate::device::fused(x) {
        return Ok(x.apply_op1(kernels::MaskMul {
            mask: std::sync::Arc::new(mask),
        })?);
    }
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    Ok(x.mul(&mask)?)
}
