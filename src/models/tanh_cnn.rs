//! Article 001, the keras-dcgan notebook: `generator_model()`, `discriminator_model()`
//! (tanh everywhere, BatchNormalization in G, MaxPooling in D), both trained with
//! `SGD(lr=0.001, momentum=0.9, nesterov=True)`, and its `train(BATCH_SIZE)`:
//! ```text
//! for index in range(int(60000 / BATCH_SIZE)):          # in order, no shuffle
//!     noise = np.random.uniform(-1, 1, (BATCH_SIZE, 100))
//!     image_batch = X_train[index*BATCH_SIZE:(index+1)*BATCH_SIZE]
//!     generated_images = g.predict(noise)                # BatchNorm in INFERENCE mode
//!     d.train_on_batch(concat(image_batch, generated), [1]*B + [0]*B)
//!     noise = np.random.uniform(-1, 1, (BATCH_SIZE, 100))
//!     d_on_g.train_on_batch(noise, [1]*B)                # BatchNorm in TRAINING mode
//! ```
//! The moving averages of G's BatchNorm start at 0 and 1 and move only in the G step,
//! so the fakes D learns from come from a differently normalised G than the one
//! being trained: the article's most consequential quirk, kept.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::{step_flops, Batch, Gan, LayerInfo, StepStats};
use crate::nn;
use crate::nn::{
    bce, flatten_hwc, mean_prob, reshape_hwc_to_nchw, stacked_targets, tanh, Act, BatchNorm, Conv2d, Dense, Grad,
    Params,
};
use crate::nn::{BatchNormConfig, Conv2dConfig, DenseConfig, Padding, ParamBuilder, Trace};
use crate::optim::Optimizer;
use crate::rng::StepRngs;
use crate::spec::{BceSemantics, Quirk, Spec};

/// Which Keras call runs G.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `g.predict`: BatchNorm with its moving averages, no gradient.
    Predict,
    /// `d_on_g.train_on_batch`: BatchNorm with batch statistics; the averages move.
    Train,
}

/// `generator_model()`.
pub struct Generator {
    /// Dense(input_dim=100, output_dim=1024), Activation('tanh').
    pub dense1: Dense,
    /// Dense(128*7*7), BatchNormalization(), Activation('tanh'), Reshape((7, 7, 128)).
    pub dense2: Dense,
    pub bn: BatchNorm,
    /// UpSampling2D((2, 2)), Conv2D(64, (5, 5), padding='same'), Activation('tanh').
    pub conv1: Conv2d,
    /// UpSampling2D((2, 2)), Conv2D(1, (5, 5), padding='same'), Activation('tanh').
    pub conv2: Conv2d,
    pub params: Params,
}

impl Generator {
    pub fn new(latent: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut p = Params::default();
        let mut g = ParamBuilder::new(&mut p, rng, dev).push_prefix("g");
        let dense1 = Dense::new(latent, 1024, DenseConfig::default(), g.pp("dense1"))?;
        let dense2 = Dense::new(1024, 128 * 7 * 7, DenseConfig::default(), g.pp("dense2"))?;
        let bn = BatchNorm::new(128 * 7 * 7, BatchNormConfig::default(), g.pp("bn"))?;
        let same = Conv2dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let conv1 = Conv2d::new(128, 64, 5, same, g.pp("conv1"))?;
        let conv2 = Conv2d::new(64, 1, 5, same, g.pp("conv2"))?;
        Ok(Generator {
            dense1,
            dense2,
            bn,
            conv1,
            conv2,
            params: p,
        })
    }

    /// `[n, 100] -> [n, 1, 28, 28]` in [-1, 1].
    pub fn forward(&self, z: &Tensor, mode: Mode) -> Result<Tensor> {
        let grad = match mode {
            Mode::Predict => Grad::Frozen,
            Mode::Train => Grad::Train,
        };
        let x = tanh(&self.dense1.forward(z, grad)?)?; // [n, 1024]
        let x = self.dense2.forward(&x, grad)?; // [n, 6272]
        let x = match mode {
            Mode::Predict => self.bn.forward_eval(&x)?,
            Mode::Train => self.bn.forward_train(&x, grad)?,
        };
        let x = reshape_hwc_to_nchw(&tanh(&x)?, 7, 7, 128)?; // [n, 128, 7, 7]
                                                             // UpSampling2D then Conv2D, each pair as one fused op (same function, fewer FLOPs).
        let x = self.conv1.forward_upsampled2(&x, grad, Act::Tanh)?; // [n, 64, 14, 14]
        self.conv2.forward_upsampled2(&x, grad, Act::Tanh) // [n, 1, 28, 28]
    }

    /// `generator_model()` layer by layer.
    pub fn trace(&self) -> Trace {
        let bn = "BatchNormalization (+12,544 moving stats), tanh";
        Trace::new("G", &[self.dense1.fan_in])
            .dense("dense1", &self.dense1, ", tanh")
            .dense("dense2", &self.dense2, "")
            .op("bn", bn, &[self.dense2.fan_out], self.bn.param_count())
            .op("reshape", "Reshape((7, 7, 128)), UpSampling2D(2)", &[128, 14, 14], 0)
            .conv("conv1", &self.conv1, ", tanh")
            .up2()
            .conv("conv2", &self.conv2, ", tanh")
    }
}

/// `discriminator_model()`.
pub struct Discriminator {
    /// Conv2D(64, (5, 5), padding='same'), Activation('tanh'), MaxPooling2D((2, 2)).
    pub conv1: Conv2d,
    /// Conv2D(128, (5, 5)) (valid), Activation('tanh'), MaxPooling2D((2, 2)), Flatten().
    pub conv2: Conv2d,
    /// Dense(1024), Activation('tanh').
    pub dense: Dense,
    /// Dense(1), Activation('sigmoid') (the sigmoid is in the loss).
    pub out: Dense,
    pub params: Params,
}

impl Discriminator {
    pub fn new(rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut p = Params::default();
        let mut d = ParamBuilder::new(&mut p, rng, dev).push_prefix("d");
        let same = Conv2dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let conv1 = Conv2d::new(1, 64, 5, same, d.pp("conv1"))?;
        let conv2 = Conv2d::new(64, 128, 5, Conv2dConfig::default(), d.pp("conv2"))?; // 'valid'
        let dense = Dense::new(5 * 5 * 128, 1024, DenseConfig::default(), d.pp("dense"))?;
        let out = Dense::new(1024, 1, DenseConfig::default(), d.pp("out"))?;
        Ok(Discriminator {
            conv1,
            conv2,
            dense,
            out,
            params: p,
        })
    }

    /// `[n, 1, 28, 28] -> [n, 1]` logits.
    pub fn forward(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        // Conv2D, Activation('tanh') and MaxPooling2D((2, 2)), each trio as one op.
        let x = self.conv1.forward_act_pool2(x, grad, Act::Tanh)?; // [n, 64, 14, 14]
        let x = self.conv2.forward_act_pool2(&x, grad, Act::Tanh)?; // [n, 128, 5, 5]
        let x = tanh(&self.dense.forward(&flatten_hwc(&x)?, grad)?)?; // [n, 1024]
        self.out.forward(&x, grad) // [n, 1]
    }

    /// `discriminator_model()` layer by layer.
    pub fn trace(&self) -> Trace {
        Trace::new("D", &[1, 28, 28])
            .conv("conv1", &self.conv1, ", tanh")
            .pool2()
            .conv("conv2", &self.conv2, ", tanh")
            .pool2()
            .flatten()
            .dense("dense", &self.dense, ", tanh")
            .dense("out", &self.out, ", sigmoid")
    }
}

pub struct TanhCnnGan {
    pub g: Generator,
    pub d: Discriminator,
    /// `d_optim = SGD(lr=0.001, momentum=0.9, nesterov=True)`.
    pub d_optim: Optimizer,
    /// `g_optim`, compiled into `d_on_g` (D frozen there at compile time).
    pub g_optim: Optimizer,
    pub bce: BceSemantics,
    pub batch: usize,
    /// How G runs for the D step's fakes: `Predict` (the article's `g.predict`);
    /// `Train` with `undo: [inference_bn_fakes]`.
    fakes_mode: Mode,
    dev: Device,
}

impl TanhCnnGan {
    pub fn new(spec: &Spec, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let g = Generator::new(spec.noise.dim, rng, dev)?;
        let d = Discriminator::new(rng, dev)?;
        let d_optim = Optimizer::new(&spec.optim.d, &d.params);
        let g_optim = Optimizer::new(&spec.optim.g, &g.params);
        Ok(TanhCnnGan {
            g,
            d,
            d_optim,
            g_optim,
            bce: spec.loss.bce(),
            batch: spec.train.batch_size,
            fakes_mode: if spec.undoes(Quirk::InferenceBnFakes) {
                Mode::Train
            } else {
                Mode::Predict
            },
            dev: dev.clone(),
        })
    }
}

impl Gan for TanhCnnGan {
    super::gan_core!(d_optim, g_optim);
    fn train_step(&mut self, real: &Batch, rngs: &mut StepRngs) -> Result<StepStats> {
        let n = real.images.dim(0)?;
        let image_batch = real.images.reshape((n, 1, 28, 28))?;
        // generated_images = g.predict(noise): BatchNorm in inference mode.
        let generated = self.g.forward(&rngs.noise(n, &self.dev)?, self.fakes_mode)?.detach();
        let x = Tensor::cat(&[&image_batch, &generated], 0)?; // [2n, 1, 28, 28]
        let y = stacked_targets(n, 1.0, 0.0, &self.dev)?;
        let logits = self.d.forward(&x, Grad::Train)?; // [2n, 1]
        let d_loss = bce(&logits, &y, self.bce)?;
        let grads = nn::backward(&d_loss)?;
        self.d_optim.step(&self.d.params, &grads)?;

        // d_on_g.train_on_batch(new noise, [1]*B): G in training mode, D frozen.
        let fake = self.g.forward(&rngs.noise(n, &self.dev)?, Mode::Train)?;
        let out = self.d.forward(&fake, Grad::Frozen)?;
        let g_loss = bce(&out, &Tensor::ones((n, 1), DType::F32, &self.dev)?, self.bce)?;
        let grads = nn::backward(&g_loss)?;
        self.g_optim.step(&self.g.params, &grads)?;

        Ok(StepStats {
            d_loss: d_loss.to_scalar::<f32>()?,
            g_loss: g_loss.to_scalar::<f32>()?,
            d_real: mean_prob(&logits.narrow(0, 0, n)?)?,
            d_fake: mean_prob(&logits.narrow(0, n, n)?)?,
            extra: vec![],
        })
    }

    /// `g.predict(noise)` (inference-mode BatchNorm), flattened to `[n, 784]`.
    fn generate(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        Ok(self.g.forward(z, Mode::Predict)?.reshape((n, 784))?)
    }
    fn d_prob(&self, images: &Tensor) -> Result<Tensor> {
        let n = images.dim(0)?;
        let logits = self.d.forward(&images.reshape((n, 1, 28, 28))?, Grad::Frozen)?;
        Ok(candle_nn::ops::sigmoid(&logits)?.reshape(n)?)
    }
    fn layers(&self) -> Vec<LayerInfo> {
        [self.g.trace().rows(), self.d.trace().rows()].concat()
    }
    fn flops_per_iter(&self) -> f64 {
        step_flops(
            self.g.trace().macs(),
            self.d.trace().macs(),
            self.batch,
            2 * self.batch,
            self.batch,
        )
    }
    fn reals_per_step(&self) -> usize {
        self.batch
    }
}
