//! Article 002, "GAN详解与PyTorch MINIST手写数字生成实战" (2021): `class generate`,
//! `class discrimination` (no dropout), `nn.BCELoss`, and its loop:
//! ```text
//! for input_real_batch, _ in train_data:                 # shuffled DataLoader
//!     fake = generator(noise(n)).detach()
//!     d_loss = BCE(D(real), 1) + BCE(D(fake), 0)          # two backward()s, one step
//!     fake = generator(noise(n))                          # NEW noise
//!     g_loss = BCE(D(fake), 1)
//! ```
//! The text leaves `batch_sz`, `num_epoch`, the optimisers and `noise()` unstated;
//! the spec takes them from the tutorial it follows (see its description).

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::mlp::{self, MlpDiscriminator, MlpGenerator};
use super::{Batch, Gan, StepStats};
use crate::nn;
use crate::nn::{bce, full_targets, mean_prob, Grad};
use crate::optim::Optimizer;
use crate::rng::StepRngs;
use crate::spec::{BceSemantics, Quirk, Spec};

pub struct TorchMlpGan {
    pub g: MlpGenerator,
    pub d: MlpDiscriminator,
    pub d_optimizer: Optimizer,
    pub g_optimizer: Optimizer,
    pub loss_fn: BceSemantics,
    pub batch: usize,
    /// `undo: [summed_d_loss]`: step on the mean of the real and fake losses.
    mean_d_loss: bool,
    dev: Device,
}

impl TorchMlpGan {
    pub fn new(spec: &Spec, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let g = MlpGenerator::new(&spec.model, spec.noise.dim, rng, dev)?;
        let d = MlpDiscriminator::new(&spec.model, rng, dev)?;
        let d_optimizer = Optimizer::new(&spec.optim.d, &d.params);
        let g_optimizer = Optimizer::new(&spec.optim.g, &g.params);
        Ok(TorchMlpGan {
            g,
            d,
            d_optimizer,
            g_optimizer,
            loss_fn: spec.loss.bce(),
            batch: spec.train.batch_size,
            mean_d_loss: spec.undoes(Quirk::SummedDLoss),
            dev: dev.clone(),
        })
    }
}

impl Gan for TorchMlpGan {
    super::gan_core!(d_optimizer, g_optimizer);
    fn train_step(&mut self, real: &Batch, rngs: &mut StepRngs) -> Result<StepStats> {
        // The last batch of an epoch may be smaller.
        let n = real.images.dim(0)?;
        // generated_fake_data = generator(noise(real_data.size(0))).detach()
        let fake = self.g.forward(&rngs.noise(n, &self.dev)?, Grad::Frozen)?.detach(); // [n, 784]

        // train_discriminator: loss_real.backward(); loss_fake.backward(); optimizer.step()
        // D has no Dropout or BatchNorm, so D(real) and D(fake) are each row's own
        // function of the same weights: one pass over both batches gives both outputs,
        // and one backward the sum of the two gradients the article accumulates (the
        // same sum, added in another order: parity checks it).
        let both = Tensor::cat(&[&real.images, &fake], 0)?; // [2n, 784]
        let out = self.d.forward(&both, Grad::Train, None)?; // [2n, 1]
        let (real_out, fake_out) = (out.narrow(0, 0, n)?, out.narrow(0, n, n)?); // [n, 1] each
        let loss_real = bce(&real_out, &full_targets(n, 1.0, &self.dev)?, self.loss_fn)?;
        let loss_fake = bce(&fake_out, &full_targets(n, 0.0, &self.dev)?, self.loss_fn)?;
        let mut d_loss = (&loss_real + &loss_fake)?; // the article logs the sum of the two means
        if self.mean_d_loss {
            d_loss = (d_loss * 0.5)?;
        }
        let grads = nn::backward(&d_loss)?; // = the two accumulated backward()s
        self.d_optimizer.step(&self.d.params, &grads)?;

        // train_generator on a NEW fake batch; only G's optimizer steps.
        let fake = self.g.forward(&rngs.noise(n, &self.dev)?, Grad::Train)?; // [n, 784]
        let out = self.d.forward(&fake, Grad::Frozen, None)?; // [n, 1]
        let g_loss = bce(&out, &full_targets(n, 1.0, &self.dev)?, self.loss_fn)?;
        let grads = nn::backward(&g_loss)?;
        self.g_optimizer.step(&self.g.params, &grads)?;

        Ok(StepStats {
            d_loss: d_loss.to_scalar::<f32>()?,
            g_loss: g_loss.to_scalar::<f32>()?,
            d_real: mean_prob(&real_out)?,
            d_fake: mean_prob(&fake_out)?,
            extra: vec![],
        })
    }

    mlp::mlp_gan!();
}
