//! Keras's initialisers: glorot_uniform, glorot_normal in both eras, and the convolution kernels' choice.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::spec::GlorotNormal;

pub(super) fn uniform(rng: &mut ChaCha8Rng, n: usize, limit: f64) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-limit..limit) as f32).collect()
}

/// Keras `glorot_uniform` for a kernel with the given fans.
pub(super) fn glorot_uniform(rng: &mut ChaCha8Rng, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
    uniform(rng, n, (6.0 / (fan_in + fan_out) as f64).sqrt())
}

/// Keras `glorot_normal`: a normal of `sigma = sqrt(2 / (fan_in + fan_out))`
/// truncated at two standard deviations (`K.truncated_normal`, redrawing outside).
/// Keras 2.0-2.1 draw it as is (`Truncated`: the draws' standard deviation is
/// 0.88 sigma); from Keras 2.2.0 (and in tf.keras) sigma is first divided by
/// 0.87962566, the truncated normal's standard deviation, so that the draws keep
/// `sigma` (`TruncatedScaled`).
pub fn glorot_normal(rng: &mut ChaCha8Rng, variant: GlorotNormal, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
    use rand_distr::{Distribution, StandardNormal};
    let plain = (2.0 / (fan_in + fan_out) as f64).sqrt();
    let sigma = match variant {
        GlorotNormal::Truncated => plain,
        GlorotNormal::TruncatedScaled => plain / 0.879_625_661_034_239_8,
    };
    (0..n)
        .map(|_| loop {
            let v: f64 = StandardNormal.sample(rng);
            if v.abs() < 2.0 {
                break (v * sigma) as f32;
            }
        })
        .collect()
}

/// A convolution kernel initialiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelInit {
    GlorotUniform,
    GlorotNormal(GlorotNormal),
}
