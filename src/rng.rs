//! The run's own seeded random generators, one independent ChaCha stream per use,
//! so that changing how often one is drawn from never shifts another.

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};

use crate::spec::{NoiseDist, NoiseSpec};

/// Stream numbers of the run's generators.
#[derive(Clone, Copy)]
pub enum Stream {
    Init = 0,
    Noise = 1,
    Data = 2,
    Dropout = 3,
    Samples = 4,
}

/// A generator for `stream` derived from the run's seed.
pub fn stream(seed: u64, s: Stream) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(s as u64);
    r
}

/// Draw `n` noise vectors of the spec's distribution and dimension: `[n, dim]`.
pub fn noise(spec: &NoiseSpec, n: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Tensor> {
    let len = n * spec.dim;
    let v: Vec<f32> = match spec.dist {
        NoiseDist::Normal => (0..len).map(|_| StandardNormal.sample(rng)).collect(),
        NoiseDist::Uniform => {
            let u = Uniform::new_inclusive(-1f32, 1f32)?;
            (0..len).map(|_| u.sample(rng)).collect()
        }
    };
    Ok(Tensor::from_vec(v, (n, spec.dim), dev)?)
}

/// The generators a training step draws from.
pub struct StepRngs {
    pub noise_spec: NoiseSpec,
    pub noise: ChaCha8Rng,
    pub dropout: ChaCha8Rng,
    /// When set, every noise batch drawn is also kept here, in order (the step-parity
    /// check hands them to the article's own code).
    pub recorded: Option<Vec<Tensor>>,
    /// Likewise every batch of sampled class labels (ACGAN), in order.
    pub recorded_labels: Option<Vec<Vec<u8>>>,
}

impl StepRngs {
    pub fn new(seed: u64, noise_spec: &NoiseSpec) -> StepRngs {
        StepRngs {
            noise_spec: noise_spec.clone(),
            noise: stream(seed, Stream::Noise),
            dropout: stream(seed, Stream::Dropout),
            recorded: None,
            recorded_labels: None,
        }
    }
    /// `n` class labels drawn uniformly from `0..classes` out of the noise stream.
    pub fn labels(&mut self, n: usize, classes: u8) -> Vec<u8> {
        let l: Vec<u8> = (0..n).map(|_| self.noise.random_range(0..classes)).collect();
        if let Some(r) = self.recorded_labels.as_mut() {
            r.push(l.clone());
        }
        l
    }
    /// `n` fresh noise vectors, `[n, dim]`.
    pub fn noise(&mut self, n: usize, dev: &Device) -> Result<Tensor> {
        let z = noise(&self.noise_spec, n, &mut self.noise, dev)?;
        if let Some(r) = self.recorded.as_mut() {
            r.push(z.clone());
        }
        Ok(z)
    }
}
