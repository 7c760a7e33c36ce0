//! The GAN variants, one file per article, behind one small trait that the shared
//! trainer, benchmark, sampler and inspector drive.

use anyhow::Result;
use candle_core::{Device, Tensor};

use crate::nn::Params;
use crate::rng::StepRngs;
use crate::spec::{Spec, Variant};

pub mod mlp;
pub mod mlp_keras;
pub mod mlp_pytorch;

/// A batch of real images, `[n, 784]` in the spec's scale, with their labels.
pub struct Batch {
    pub images: Tensor,
    pub labels: Vec<u8>,
}

/// What one training iteration reports (one metrics row).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    pub d_loss: f32,
    pub g_loss: f32,
    /// Mean D(x) on the real images of the D step.
    pub d_real: f32,
    /// Mean D(G(z)) on the fakes of the D step (before the G step).
    pub d_fake: f32,
}

/// One row of `ganlab inspect`.
pub struct LayerInfo {
    pub network: &'static str,
    pub name: String,
    pub kind: String,
    pub output: String,
    pub params: usize,
}

/// A GAN as its article trains it.
pub trait Gan {
    /// One training iteration (the article's D step and G step, batched as it batches them).
    fn train_step(&mut self, real: &Batch, rngs: &mut StepRngs) -> Result<StepStats>;
    /// Generate images from noise `[n, dim]`: `[n, 784]` in the data's scale.
    fn generate(&self, z: &Tensor) -> Result<Tensor>;
    fn generator(&self) -> &Params;
    fn discriminator(&self) -> &Params;
    /// Layer table for `ganlab inspect`.
    fn layers(&self) -> Vec<LayerInfo>;
    /// Floating-point operations of one `train_step` at the spec's batch size.
    fn flops_per_iter(&self) -> f64;
}

/// Build the spec's variant with weights drawn from the run's init generator.
pub fn build(spec: &Spec, dev: &Device) -> Result<Box<dyn Gan>> {
    let mut init = crate::rng::stream(spec.seed, crate::rng::Stream::Init);
    Ok(match spec.model.variant {
        Variant::MlpKeras => Box::new(mlp_keras::VanillaGan::new(spec, &mut init, dev)?),
        Variant::MlpPytorch => Box::new(mlp_pytorch::TorchMlpGan::new(spec, &mut init, dev)?),
    })
}
