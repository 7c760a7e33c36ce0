//! Article 000, "Keras vanilla GAN on MNIST" (LiMeng, 2021): `build_generator()`,
//! `build_discriminator()` with Dropout(0.3), `build_GAN()` with D frozen, and
//! `train_GAN(epochs=400, batch_size=128)`.
//!
//! One iteration of its loop, kept as written:
//! ```text
//! noise = np.random.normal(0, 1, (batch_size, 100))
//! fake_images = generator.predict(noise)
//! real_images = X_train[np.random.randint(0, X_train.shape[0], batch_size)]
//! X = concatenate([fake_images, real_images]); y = [0]*128 + [1]*128
//! discriminator.train_on_batch(X, y)          # one batch of 256
//! GAN.train_on_batch(noise, label_real)       # the SAME noise; D frozen, Dropout active
//! ```
//! The real batch (drawn with replacement) comes from the trainer's sampler; an
//! "epoch" of the article is `range(batch_size)` = 128 iterations (spec).

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::mlp::{self, MlpDiscriminator, MlpGenerator};
use super::{Batch, Gan, StepStats};
use crate::nn;
use crate::nn::{bce, mean_prob, stacked_targets, Grad};
use crate::optim::Optimizer;
use crate::rng::StepRngs;
use crate::spec::{BceSemantics, Quirk, Spec};

pub struct VanillaGan {
    pub g: MlpGenerator,
    pub d: MlpDiscriminator,
    /// `discriminator.compile(optimizer=Adam(0.0002, 0.5))`.
    pub d_opt: Optimizer,
    /// `GAN.compile(optimizer=Adam(0.0002, 0.5))`: updates G's weights only.
    pub g_opt: Optimizer,
    pub bce: BceSemantics,
    pub batch: usize,
    /// `undo: [reused_g_noise]`: draw fresh noise for the G step.
    fresh_g_noise: bool,
    dev: Device,
}

impl VanillaGan {
    pub fn new(spec: &Spec, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let g = MlpGenerator::new(&spec.model, spec.noise.dim, rng, dev)?;
        let d = MlpDiscriminator::new(&spec.model, rng, dev)?;
        let d_opt = Optimizer::new(&spec.optim.d, &d.params);
        let g_opt = Optimizer::new(&spec.optim.g, &g.params);
        Ok(VanillaGan {
            g,
            d,
            d_opt,
            g_opt,
            bce: spec.loss.bce(),
            batch: spec.train.batch_size,
            fresh_g_noise: spec.undoes(Quirk::ReusedGNoise),
            dev: dev.clone(),
        })
    }
}

impl VanillaGan {
    /// The combined model `GAN = D(G(noise))` as `GAN.train_on_batch` runs it: G
    /// trainable, D frozen, D's Dropout active. Returns logits `[n, 1]`.
    pub fn gan(&self, noise: &Tensor, dropout_rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let fake = self.g.forward(noise, Grad::Train)?; // [n, 784]
        self.d.forward(&fake, Grad::Frozen, Some(dropout_rng)) // [n, 1]
    }
}

impl Gan for VanillaGan {
    super::gan_core!(d_opt, g_opt);
    fn train_step(&mut self, real: &Batch, rngs: &mut StepRngs) -> Result<StepStats> {
        let n = real.images.dim(0)?;
        let noise = rngs.noise(n, &self.dev)?; // [n, 100]
                                               // generator.predict(noise). G has no Dropout or BatchNorm, and only D steps
                                               // before GAN.train_on_batch(noise, ...) runs G again on the SAME noise: that
                                               // forward pass is this one, to the bit. So it is made once, with G's gradient
                                               // kept for the G step; D's step sees it detached. (`undo: [reused_g_noise]`:
                                               // the G step draws fresh noise and makes its own.)
        let grad = if self.fresh_g_noise { Grad::Frozen } else { Grad::Train };
        let g_out = self.g.forward(&noise, grad)?; // [n, 784]
        let fake = g_out.detach();

        // discriminator.train_on_batch([fake, real], [0, 1]): one batch of 2n, Dropout on.
        let x = Tensor::cat(&[&fake, &real.images], 0)?; // [2n, 784]
        let y = stacked_targets(n, 0.0, 1.0, &self.dev)?;
        let logits = self.d.forward(&x, Grad::Train, Some(&mut rngs.dropout))?; // [2n, 1]
        let d_loss = bce(&logits, &y, self.bce)?;
        let grads = nn::backward(&d_loss)?;
        self.d_opt.step(&self.d.params, &grads)?;
        let d_fake = mean_prob(&logits.narrow(0, 0, n)?)?;
        let d_real = mean_prob(&logits.narrow(0, n, n)?)?;

        // GAN.train_on_batch(noise, ones): same noise, D frozen but still in training mode.
        let logits = if self.fresh_g_noise {
            self.gan(&rngs.noise(n, &self.dev)?, &mut rngs.dropout)?
        } else {
            self.d.forward(&g_out, Grad::Frozen, Some(&mut rngs.dropout))? // D(G(noise)), G's pass above
        }; // [n, 1]
        let ones = Tensor::ones((n, 1), candle_core::DType::F32, &self.dev)?;
        let g_loss = bce(&logits, &ones, self.bce)?;
        let grads = nn::backward(&g_loss)?;
        self.g_opt.step(&self.g.params, &grads)?;

        Ok(StepStats {
            d_loss: d_loss.to_scalar::<f32>()?,
            g_loss: g_loss.to_scalar::<f32>()?,
            d_real,
            d_fake,
            extra: vec![],
        })
    }

    mlp::mlp_gan!();
}
