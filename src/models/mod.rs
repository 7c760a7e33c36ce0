//! The GAN variants, one file per article, behind one small trait that the shared
//! trainer, benchmark, sampler and inspector drive.

use anyhow::Result;
use candle_core::{Device, Tensor};

use crate::nn::Params;
use crate::optim::OptimState;
use crate::rng::StepRngs;
use crate::spec::{Spec, Variant};

pub mod acgan;
pub mod dcgan;
pub mod mlp;
pub mod mlp_keras;
pub mod mlp_pytorch;
pub mod tanh_cnn;

/// A batch of real images, `[n, 784]` in the spec's scale, with their labels.
pub struct Batch {
    pub images: Tensor,
    pub labels: Vec<u8>,
}

/// What one training iteration reports (one metrics row).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepStats {
    pub d_loss: f32,
    pub g_loss: f32,
    /// Mean D(x) on the real images of the D step.
    pub d_real: f32,
    /// Mean D(G(z)) on the fakes of the D step (before the G step).
    pub d_fake: f32,
    /// Variant-specific metrics (e.g. D accuracy), logged as extra columns.
    pub extra: Vec<(&'static str, f32)>,
}

pub use crate::nn::{LayerInfo, NetMacs};

/// FLOPs of one iteration of the common GAN step: G generates `nf` fakes (no
/// gradient), D trains on `nd` images, then G trains on `ng` images through the frozen
/// D. Forward passes, weight gradients of the trained network and input gradients
/// (except into data or noise); 2 FLOPs per multiply-add.
pub fn step_flops(g: NetMacs, d: NetMacs, nf: usize, nd: usize, ng: usize) -> f64 {
    let (nf, nd, ng) = (nf as f64, nd as f64, ng as f64);
    let d_step = g.all * nf + (3.0 * d.all - d.first) * nd;
    let g_step = (3.0 * g.all - g.first) * ng + 2.0 * d.all * ng;
    2.0 * (d_step + g_step)
}

/// What an end-of-epoch evaluation may use.
pub struct EpochCtx<'a> {
    pub test: &'a crate::data::Split,
    pub scale: crate::spec::Scale,
    /// Test images to evaluate on (the article: all 10,000; profiles may cut it).
    pub test_size: usize,
    pub rngs: &'a mut StepRngs,
}

/// A per-epoch row a model reports: the component and its named values.
pub type EpochRow = (String, Vec<(&'static str, f32)>);

/// The four accessors every model has alike, from its `g` and `d` networks (each with
/// its `params`) and the fields holding their optimisers, named as each article names
/// them: `gan_core!(d_opt, g_opt);` inside `impl Gan for ...`.
macro_rules! gan_core {
    ($d_opt:ident, $g_opt:ident) => {
        fn generator(&self) -> &crate::nn::Params {
            &self.g.params
        }
        fn discriminator(&self) -> &crate::nn::Params {
            &self.d.params
        }
        fn optim_states(&self) -> anyhow::Result<[crate::optim::OptimState; 2]> {
            Ok([self.$d_opt.state()?, self.$g_opt.state()?])
        }
        fn set_optim_states(&mut self, s: [crate::optim::OptimState; 2]) -> anyhow::Result<()> {
            let [d, g] = s;
            self.$d_opt.set_state(d)?;
            self.$g_opt.set_state(g)
        }
    };
}
pub(crate) use gan_core;

/// A GAN as its article trains it.
pub trait Gan: Send {
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
    /// Real images one `train_step` takes (the article's real batch).
    fn reals_per_step(&self) -> usize;
    /// D's probability that each image `[n, 784]` is real, in inference mode: the
    /// keras-dcgan article's "nice" generation, and D's outputs in the notebooks.
    fn d_prob(&self, images: &Tensor) -> Result<Tensor>;
    /// End of an epoch: the article's per-epoch evaluation, as named rows for
    /// `epochs.parquet` (ACGAN's train/test table). Most articles have none.
    fn end_epoch(&mut self, ctx: &mut EpochCtx) -> Result<Vec<EpochRow>> {
        let _ = ctx;
        Ok(vec![])
    }
    /// Names of the extra metrics `train_step` reports, in order.
    fn extra_metrics(&self) -> &'static [&'static str] {
        &[]
    }
    /// The D and G optimisers' states (in that order), for checkpoints.
    fn optim_states(&self) -> Result<[OptimState; 2]>;
    /// Restore what [`Gan::optim_states`] returned.
    fn set_optim_states(&mut self, s: [OptimState; 2]) -> Result<()>;
    /// What the model has gathered so far in the current epoch for its end-of-epoch
    /// table (ACGAN's train losses, whose means the table prints), as floats a
    /// checkpoint keeps, so that a run resumed mid-epoch prints the whole epoch's
    /// means. Empty for the models without a table.
    fn epoch_state(&self) -> Vec<f32> {
        Vec::new()
    }
    /// Restore what [`Gan::epoch_state`] returned.
    fn set_epoch_state(&mut self, v: &[f32]) -> Result<()> {
        anyhow::ensure!(
            v.is_empty(),
            "this model keeps no epoch state, the checkpoint has {}",
            v.len()
        );
        Ok(())
    }
}

/// Build the spec's variant with weights drawn from the run's init generator.
pub fn build(spec: &Spec, dev: &Device) -> Result<Box<dyn Gan>> {
    let mut init = crate::rng::stream(spec.seed, crate::rng::Stream::Init);
    Ok(match spec.model.variant {
        Variant::MlpKeras => Box::new(mlp_keras::VanillaGan::new(spec, &mut init, dev)?),
        Variant::MlpPytorch => Box::new(mlp_pytorch::TorchMlpGan::new(spec, &mut init, dev)?),
        Variant::Dcgan => Box::new(dcgan::Dcgan::new(spec, &mut init, dev)?),
        Variant::TanhCnn => Box::new(tanh_cnn::TanhCnnGan::new(spec, &mut init, dev)?),
        Variant::Acgan => Box::new(acgan::Acgan::new(spec, &mut init, dev)?),
    })
}
