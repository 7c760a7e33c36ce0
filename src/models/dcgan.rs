//! Article 004, "DCGAN with Conv2DTranspose" (after Brownlee's Keras tutorial):
//! `define_generator`, `define_discriminator` (Dropout(0.4), Adam(0.0002, 0.5),
//! metric accuracy), `define_gan` with D frozen, and `train(n_epochs=5, n_batch=256)`:
//! ```text
//! X_real = dataset[randint(0, 60000, 128)]           # with replacement, label 1
//! X_fake = g_model.predict(randn(128, 100))           # label 0
//! d_model.train_on_batch(vstack(X_real, X_fake), y)   # one batch of 256, Dropout on
//! gan_model.train_on_batch(randn(256, 100), ones)     # fresh noise, D frozen
//! ```
//! Data in [0, 1] (`x / 255`), G ends in a sigmoid. Tensors are NCHW; the Keras
//! `Reshape((7, 7, 128))` and `Flatten()` keep Keras's (h, w, c) element order.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::{step_flops, Batch, Gan, LayerInfo, StepStats};
use crate::nn;
use crate::nn::{
    bce, dropout, flatten_hwc, leaky_relu, mean_prob, reshape_hwc_to_nchw, stacked_targets, Act, Conv2d,
    ConvTranspose2d, Dense, Grad, Params,
};
use crate::nn::{Conv2dConfig, ConvTranspose2dConfig, DenseConfig, Padding, ParamBuilder, Trace};
use crate::optim::Optimizer;
use crate::rng::StepRngs;
use crate::spec::{BceSemantics, Spec};

/// `define_generator(latent_dim)`.
pub struct Generator {
    /// Dense(128 * 7 * 7), LeakyReLU(0.2), Reshape((7, 7, 128)).
    pub dense: Dense,
    /// Conv2DTranspose(128, (4,4), strides=(2,2), padding='same'), LeakyReLU(0.2): 14x14.
    pub up1: ConvTranspose2d,
    /// The same again: 28x28.
    pub up2: ConvTranspose2d,
    /// Conv2D(1, (7,7), activation='sigmoid', padding='same').
    pub out: Conv2d,
    pub slope: f64,
    pub params: Params,
}

impl Generator {
    pub fn new(latent: usize, slope: f64, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut p = Params::default();
        let mut g = ParamBuilder::new(&mut p, rng, dev).push_prefix("g");
        let dense = Dense::new(latent, 128 * 7 * 7, DenseConfig::default(), g.pp("dense"))?;
        // Conv2DTranspose(128, (4,4), strides=(2,2), padding='same')
        let up = ConvTranspose2dConfig {
            stride: 2,
            padding: Padding::Same,
        };
        let up1 = ConvTranspose2d::new(128, 128, 4, up, g.pp("up1"))?;
        let up2 = ConvTranspose2d::new(128, 128, 4, up, g.pp("up2"))?;
        let same = Conv2dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let out = Conv2d::new(128, 1, 7, same, g.pp("out"))?;
        Ok(Generator {
            dense,
            up1,
            up2,
            out,
            slope,
            params: p,
        })
    }

    /// `[n, 100] -> [n, 1, 28, 28]` in [0, 1].
    pub fn forward(&self, z: &Tensor, grad: Grad) -> Result<Tensor> {
        let x = leaky_relu(&self.dense.forward(z, grad)?, self.slope)?; // [n, 6272]
        let x = reshape_hwc_to_nchw(&x, 7, 7, 128)?; // [n, 128, 7, 7]
        let act = Act::LeakyRelu(self.slope as f32); // Conv2DTranspose then LeakyReLU, as one op
        let x = self.up1.forward_act(&x, grad, act)?; // [n, 128, 14, 14]
        let x = self.up2.forward_act(&x, grad, act)?; // [n, 128, 28, 28]
        Ok(candle_nn::ops::sigmoid(&self.out.forward(&x, grad)?)?) // [n, 1, 28, 28]
    }

    /// `define_generator(latent_dim)` layer by layer.
    pub fn trace(&self) -> Trace {
        Trace::new("G", &[self.dense.fan_in])
            .dense("dense", &self.dense, &format!(", LeakyReLU({})", self.slope))
            .op("reshape", "Reshape((7, 7, 128))", &[128, 7, 7], 0)
            .conv_transpose("up1", &self.up1, ", LeakyReLU")
            .conv_transpose("up2", &self.up2, ", LeakyReLU")
            .conv("out", &self.out, ", sigmoid")
    }
}

/// `define_discriminator(in_shape=(28,28,1))`.
pub struct Discriminator {
    /// Conv2D(64, (3,3), strides=(2,2), padding='same'), LeakyReLU(0.2), Dropout(0.4): 14x14.
    pub conv1: Conv2d,
    /// The same again: 7x7.
    pub conv2: Conv2d,
    /// Flatten(), Dense(1, activation='sigmoid') (sigmoid in the loss).
    pub out: Dense,
    pub slope: f64,
    pub dropout: f64,
    pub params: Params,
}

impl Discriminator {
    pub fn new(slope: f64, dropout: f64, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut p = Params::default();
        let mut d = ParamBuilder::new(&mut p, rng, dev).push_prefix("d");
        // Conv2D(64, (3,3), strides=(2,2), padding='same')
        let strided = Conv2dConfig {
            stride: 2,
            padding: Padding::Same,
            ..Default::default()
        };
        let conv1 = Conv2d::new(1, 64, 3, strided, d.pp("conv1"))?;
        let conv2 = Conv2d::new(64, 64, 3, strided, d.pp("conv2"))?;
        let out = Dense::new(7 * 7 * 64, 1, DenseConfig::default(), d.pp("out"))?;
        Ok(Discriminator {
            conv1,
            conv2,
            out,
            slope,
            dropout,
            params: p,
        })
    }

    /// `[n, 1, 28, 28] -> [n, 1]` logits. Dropout is on when a generator is given (every
    /// `train_on_batch` of the article), off for inference (`predict`).
    pub fn forward(&self, x: &Tensor, grad: Grad, mut drop: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let act = Act::LeakyRelu(self.slope as f32); // Conv2D then LeakyReLU, as one op
        let mut x = self.conv1.forward_act(x, grad, act)?; // [n, 64, 14, 14]
        if let Some(r) = drop.as_deref_mut() {
            x = dropout(&x, self.dropout, r)?;
        }
        let mut x = self.conv2.forward_act(&x, grad, act)?; // [n, 64, 7, 7]
        if let Some(r) = drop {
            x = dropout(&x, self.dropout, r)?;
        }
        self.out.forward(&flatten_hwc(&x)?, grad) // [n, 1]
    }

    /// `define_discriminator(in_shape=(28,28,1))` layer by layer.
    pub fn trace(&self) -> Trace {
        Trace::new("D", &[1, 28, 28])
            .conv("conv1", &self.conv1, ", LeakyReLU, Dropout")
            .conv("conv2", &self.conv2, ", LeakyReLU, Dropout")
            .flatten()
            .dense("out", &self.out, ", sigmoid")
    }
}

pub struct Dcgan {
    pub g: Generator,
    pub d: Discriminator,
    /// `d_model.compile(optimizer=Adam(lr=0.0002, beta_1=0.5))`.
    pub d_opt: Optimizer,
    /// `gan_model.compile(optimizer=Adam(lr=0.0002, beta_1=0.5))`: G's weights only.
    pub g_opt: Optimizer,
    pub bce: BceSemantics,
    /// `n_batch`; the D batch is `half_batch` reals and `half_batch` fakes.
    pub n_batch: usize,
    dev: Device,
}

impl Dcgan {
    pub fn new(spec: &Spec, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let g = Generator::new(spec.noise.dim, spec.model.leaky_slope, rng, dev)?;
        let d = Discriminator::new(spec.model.leaky_slope, spec.model.dropout, rng, dev)?;
        let d_opt = Optimizer::new(&spec.optim.d, &d.params);
        let g_opt = Optimizer::new(&spec.optim.g, &g.params);
        Ok(Dcgan {
            g,
            d,
            d_opt,
            g_opt,
            bce: spec.loss.bce(),
            n_batch: spec.train.batch_size,
            dev: dev.clone(),
        })
    }
}

impl Gan for Dcgan {
    super::gan_core!(d_opt, g_opt);
    fn train_step(&mut self, real: &Batch, rngs: &mut StepRngs) -> Result<StepStats> {
        let half = real.images.dim(0)?;
        let x_real = real.images.reshape((half, 1, 28, 28))?;
        // generate_fake_samples: g_model.predict(randn(half_batch, 100)).
        let x_fake = self.g.forward(&rngs.noise(half, &self.dev)?, Grad::Frozen)?.detach();
        // d_model.train_on_batch(vstack((X_real, X_fake)), vstack((ones, zeros)))
        let x = Tensor::cat(&[&x_real, &x_fake], 0)?; // [2h, 1, 28, 28]
        let y = stacked_targets(half, 1.0, 0.0, &self.dev)?;
        let logits = self.d.forward(&x, Grad::Train, Some(&mut rngs.dropout))?; // [2h, 1]
        let d_loss = bce(&logits, &y, self.bce)?;
        // Keras's binary accuracy on this batch, before the update, Dropout on.
        let d_acc = logits
            .ge(0f32)?
            .to_dtype(DType::F32)?
            .eq(&y)?
            .to_dtype(DType::F32)?
            .mean_all()?
            .to_scalar::<f32>()?;
        let grads = nn::backward(&d_loss)?;
        self.d_opt.step(&self.d.params, &grads)?;

        // gan_model.train_on_batch(randn(n_batch, 100), ones): fresh noise, D frozen.
        let z = rngs.noise(self.n_batch, &self.dev)?;
        let out = self
            .d
            .forward(&self.g.forward(&z, Grad::Train)?, Grad::Frozen, Some(&mut rngs.dropout))?;
        let g_loss = bce(&out, &Tensor::ones((self.n_batch, 1), DType::F32, &self.dev)?, self.bce)?;
        let grads = nn::backward(&g_loss)?;
        self.g_opt.step(&self.g.params, &grads)?;

        Ok(StepStats {
            d_loss: d_loss.to_scalar::<f32>()?,
            g_loss: g_loss.to_scalar::<f32>()?,
            d_real: mean_prob(&logits.narrow(0, 0, half)?)?,
            d_fake: mean_prob(&logits.narrow(0, half, half)?)?,
            extra: vec![("d_acc", d_acc)],
        })
    }

    fn generate(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        Ok(self.g.forward(z, Grad::Frozen)?.reshape((n, 784))?)
    }
    /// D's probability that each image is real, inference mode (no Dropout).
    fn d_prob(&self, images: &Tensor) -> Result<Tensor> {
        let n = images.dim(0)?;
        let logits = self.d.forward(&images.reshape((n, 1, 28, 28))?, Grad::Frozen, None)?;
        Ok(candle_nn::ops::sigmoid(&logits)?.reshape(n)?)
    }
    fn layers(&self) -> Vec<LayerInfo> {
        [self.g.trace().rows(), self.d.trace().rows()].concat()
    }
    fn flops_per_iter(&self) -> f64 {
        let h = self.n_batch / 2;
        step_flops(self.g.trace().macs(), self.d.trace().macs(), h, 2 * h, self.n_batch)
    }
    fn reals_per_step(&self) -> usize {
        self.n_batch / 2
    }
    fn extra_metrics(&self) -> &'static [&'static str] {
        &["d_acc"]
    }
}
