//! Article 003, the Keras example `mnist_acgan.py` (with the Q&A on how G knows which
//! digit to draw): `build_generator(latent_size)` (class Embedding x latent, then a
//! CNN), `build_discriminator()` (two heads: "generation" and "auxiliary"), and the
//! loop with a per-epoch test evaluation:
//! ```text
//! for index in range(600):                             # in order, batch 100
//!     noise = uniform(-1, 1, (100, 100)); sampled_labels = randint(0, 10, 100)
//!     generated = generator.predict([noise, sampled_labels])
//!     discriminator.train_on_batch(concat(image_batch, generated),
//!                                  [[1]*100 + [0]*100, concat(label_batch, sampled_labels)])
//!     noise = uniform(-1, 1, (200, 100)); sampled_labels = randint(0, 10, 200)
//!     combined.train_on_batch([noise, sampled_labels], [ones(200), sampled_labels])
//! ```
//! Hard labels, the auxiliary loss fully weighted on fakes, losses 1:1 (this
//! version of the example). `channels_first`: NCHW as written.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::{step_flops, Batch, EpochCtx, Gan, LayerInfo, StepStats};
use crate::nn;
use crate::nn::{
    bce, dropout, leaky_relu, mean_prob, stacked_targets, tanh, Act, Conv2d, Dense, Embedding, Grad, KernelInit, Params,
};
use crate::nn::{Conv2dConfig, DenseConfig, EmbeddingConfig, EmbeddingInit, Padding, ParamBuilder, Trace};
use crate::optim::Optimizer;
use crate::rng::StepRngs;
use crate::spec::{BceSemantics, GlorotNormal, Spec};

pub const CLASSES: usize = 10;

/// `build_generator(latent_size)`.
pub struct Generator {
    /// `Embedding(num_classes, latent_size, embeddings_initializer='glorot_normal')`.
    pub embedding: Embedding,
    /// Dense(1024, activation='relu').
    pub dense1: Dense,
    /// Dense(128 * 7 * 7, activation='relu'), Reshape((128, 7, 7)).
    pub dense2: Dense,
    /// UpSampling2D(2), Conv2D(256, 5, padding='same', relu, glorot_normal).
    pub conv1: Conv2d,
    /// UpSampling2D(2), Conv2D(128, 5, padding='same', relu, glorot_normal).
    pub conv2: Conv2d,
    /// Conv2D(1, 2, padding='same', tanh, glorot_normal): an even kernel, padded 0 before, 1 after.
    pub conv3: Conv2d,
    pub params: Params,
}

impl Generator {
    /// `glorot_normal` is the article's Keras release's (`model.glorot_normal`).
    pub fn new(latent: usize, glorot_normal: GlorotNormal, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut p = Params::default();
        let mut g = ParamBuilder::new(&mut p, rng, dev).push_prefix("g");
        let dense1 = Dense::new(latent, 1024, DenseConfig::default(), g.pp("dense1"))?;
        let dense2 = Dense::new(1024, 128 * 7 * 7, DenseConfig::default(), g.pp("dense2"))?;
        // Conv2D(..., padding='same', kernel_initializer='glorot_normal')
        let same_gn = Conv2dConfig {
            padding: Padding::Same,
            init: KernelInit::GlorotNormal(glorot_normal),
            ..Default::default()
        };
        let conv1 = Conv2d::new(128, 256, 5, same_gn, g.pp("conv1"))?;
        let conv2 = Conv2d::new(256, 128, 5, same_gn, g.pp("conv2"))?;
        let conv3 = Conv2d::new(128, 1, 2, same_gn, g.pp("conv3"))?;
        // Embedding(10, latent_size, embeddings_initializer='glorot_normal')
        let table = EmbeddingConfig {
            init: EmbeddingInit::GlorotNormal(glorot_normal),
        };
        let embedding = Embedding::new(CLASSES, latent, table, g.pp("embedding"))?;
        Ok(Generator {
            embedding,
            dense1,
            dense2,
            conv1,
            conv2,
            conv3,
            params: p,
        })
    }

    /// `h = multiply([latent, Flatten()(Embedding(image_class))])`: `[n, latent]`.
    pub fn condition(&self, z: &Tensor, labels: &[u8], grad: Grad) -> Result<Tensor> {
        Ok(z.mul(&self.embedding.forward(labels, grad)?)?)
    }

    /// `([n, latent], labels) -> [n, 1, 28, 28]` in [-1, 1].
    pub fn forward(&self, z: &Tensor, labels: &[u8], grad: Grad) -> Result<Tensor> {
        let n = z.dim(0)?;
        let h = self.condition(z, labels, grad)?; // [n, 100]
        let x = self.dense1.forward(&h, grad)?.relu()?; // [n, 1024]
        let x = self.dense2.forward(&x, grad)?.relu()?.reshape((n, 128, 7, 7))?; // [n, 128, 7, 7]
                                                                                 // UpSampling2D then Conv2D, each pair as one fused op (same function, fewer FLOPs).
        let x = self.conv1.forward_upsampled2(&x, grad, Act::LeakyRelu(0.0))?; // ReLU: [n, 256, 14, 14]
        let x = self.conv2.forward_upsampled2(&x, grad, Act::LeakyRelu(0.0))?; // ReLU: [n, 128, 28, 28]
        tanh(&self.conv3.forward(&x, grad)?) // [n, 1, 28, 28]
    }

    /// `build_generator(latent_size)` layer by layer.
    pub fn trace(&self) -> Trace {
        let latent = self.dense1.fan_in;
        let embedding = format!("Embedding(10, {latent}) x latent (hadamard)");
        Trace::new("G", &[latent])
            .op("embedding", &embedding, &[latent], self.embedding.table.elem_count())
            .dense("dense1", &self.dense1, ", relu")
            .dense("dense2", &self.dense2, ", relu")
            .reshape(&[128, 7, 7], "(128,7,7)")
            .upsample_conv("conv1", &self.conv1, ", relu")
            .upsample_conv("conv2", &self.conv2, ", relu")
            .conv("conv3", &self.conv3, " (pad 0/1), tanh")
    }
}

/// `build_discriminator()`.
pub struct Discriminator {
    /// Conv2D(32, 3, padding='same', strides=2), LeakyReLU(), Dropout(0.3): 14x14.
    pub conv1: Conv2d,
    /// Conv2D(64, 3, padding='same', strides=1), LeakyReLU(), Dropout(0.3).
    pub conv2: Conv2d,
    /// Conv2D(128, 3, padding='same', strides=2), LeakyReLU(), Dropout(0.3): 7x7.
    pub conv3: Conv2d,
    /// Conv2D(256, 3, padding='same', strides=1), LeakyReLU(), Dropout(0.3), Flatten().
    pub conv4: Conv2d,
    /// Dense(1, activation='sigmoid', name='generation').
    pub generation: Dense,
    /// Dense(num_classes, activation='softmax', name='auxiliary').
    pub auxiliary: Dense,
    /// Keras `LeakyReLU()` default alpha.
    pub slope: f64,
    pub dropout: f64,
    pub params: Params,
}

impl Discriminator {
    pub fn new(slope: f64, dropout: f64, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut p = Params::default();
        let mut d = ParamBuilder::new(&mut p, rng, dev).push_prefix("d");
        let same = |stride| Conv2dConfig {
            stride,
            padding: Padding::Same,
            ..Default::default()
        };
        let conv1 = Conv2d::new(1, 32, 3, same(2), d.pp("conv1"))?;
        let conv2 = Conv2d::new(32, 64, 3, same(1), d.pp("conv2"))?;
        let conv3 = Conv2d::new(64, 128, 3, same(2), d.pp("conv3"))?;
        let conv4 = Conv2d::new(128, 256, 3, same(1), d.pp("conv4"))?;
        let generation = Dense::new(256 * 7 * 7, 1, DenseConfig::default(), d.pp("generation"))?;
        let auxiliary = Dense::new(256 * 7 * 7, CLASSES, DenseConfig::default(), d.pp("auxiliary"))?;
        Ok(Discriminator {
            conv1,
            conv2,
            conv3,
            conv4,
            generation,
            auxiliary,
            slope,
            dropout,
            params: p,
        })
    }

    /// `[n, 1, 28, 28] -> ([n, 1] generation logits, [n, 10] auxiliary logits)`.
    /// Dropout is on when a generator is given (training and `train_on_batch`),
    /// off for `evaluate`.
    pub fn forward(&self, x: &Tensor, grad: Grad, mut drop: Option<&mut ChaCha8Rng>) -> Result<(Tensor, Tensor)> {
        let mut x = x.clone();
        for conv in [&self.conv1, &self.conv2, &self.conv3, &self.conv4] {
            x = leaky_relu(&conv.forward(&x, grad)?, self.slope)?;
            if let Some(r) = drop.as_deref_mut() {
                x = dropout(&x, self.dropout, r)?;
            }
        }
        let features = x.flatten_from(1)?; // [n, 12544], channels_first order
        Ok((
            self.generation.forward(&features, grad)?,
            self.auxiliary.forward(&features, grad)?,
        ))
    }

    /// `build_discriminator()` layer by layer.
    pub fn trace(&self) -> Trace {
        Trace::new("D", &[1, 28, 28])
            .conv("conv1", &self.conv1, ", LeakyReLU, Dropout")
            .conv("conv2", &self.conv2, ", LeakyReLU, Dropout")
            .conv("conv3", &self.conv3, ", LeakyReLU, Dropout")
            .conv("conv4", &self.conv4, ", LeakyReLU, Dropout")
            .flatten()
            .head("generation", &self.generation, ", sigmoid")
            .head("auxiliary", &self.auxiliary, ", softmax")
    }
}

/// Total, generation and auxiliary losses (Keras's `train_on_batch` outputs).
#[derive(Clone, Copy, Default, Debug)]
pub struct Losses {
    pub total: f32,
    pub generation: f32,
    pub auxiliary: f32,
}

pub struct Acgan {
    pub g: Generator,
    pub d: Discriminator,
    pub d_opt: Optimizer,
    /// `combined.compile(Adam(...))`: G's weights (embedding included) only.
    pub g_opt: Optimizer,
    pub bce: BceSemantics,
    pub batch: usize,
    /// This epoch's per-batch `train_on_batch` outputs (the table's "train" rows).
    pub epoch_disc: Vec<Losses>,
    pub epoch_gen: Vec<Losses>,
    dev: Device,
}

fn labels_tensor(l: &[u8], dev: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(
        l.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        l.len(),
        dev,
    )?)
}

impl Acgan {
    pub fn new(spec: &Spec, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let g = Generator::new(spec.noise.dim, spec.model.glorot_normal(), rng, dev)?;
        let d = Discriminator::new(spec.model.leaky_slope, spec.model.dropout, rng, dev)?;
        let d_opt = Optimizer::new(&spec.optim.d, &d.params);
        let g_opt = Optimizer::new(&spec.optim.g, &g.params);
        Ok(Acgan {
            g,
            d,
            d_opt,
            g_opt,
            bce: spec.loss.bce(),
            batch: spec.train.batch_size,
            epoch_disc: vec![],
            epoch_gen: vec![],
            dev: dev.clone(),
        })
    }

    /// The two-headed loss: BCE on "generation" + sparse CCE on "auxiliary", 1:1.
    fn loss(&self, gen: &Tensor, aux: &Tensor, y: &Tensor, classes: &[u8]) -> Result<(Tensor, Losses)> {
        let l_gen = bce(gen, y, self.bce)?;
        let l_aux = crate::nn::sparse_cce(aux, &labels_tensor(classes, &self.dev)?, self.bce)?.mean_all()?;
        let total = (&l_gen + &l_aux)?;
        let l = Losses {
            total: total.to_scalar::<f32>()?,
            generation: l_gen.to_scalar::<f32>()?,
            auxiliary: l_aux.to_scalar::<f32>()?,
        };
        Ok((total, l))
    }

    /// Images `[n, 1, 28, 28]` from noise and labels, inference (`generator.predict`).
    pub fn predict(&self, z: &Tensor, labels: &[u8]) -> Result<Tensor> {
        Ok(self.g.forward(z, labels, Grad::Frozen)?.detach())
    }

    /// The Q&A's picture: for a model with a 2-d latent, the points `z * embedding(label)`
    /// that G actually receives, as `(x, y, label)`.
    pub fn latent_points(&self, z: &Tensor, labels: &[u8]) -> Result<Vec<(f32, f32, u8)>> {
        if z.dim(1)? != 2 {
            anyhow::bail!(
                "latent_points needs a model trained with noise.dim = 2 (this one has {})",
                z.dim(1)?
            );
        }
        let h = self.g.condition(z, labels, Grad::Frozen)?.to_vec2::<f32>()?;
        Ok(h.iter().zip(labels).map(|(p, &l)| (p[0], p[1], l)).collect())
    }
}

/// Mean of losses, each weighted by its count of images (the train rows weigh 1 each).
fn weighted_mean(parts: impl Iterator<Item = (Losses, usize)>) -> Losses {
    let (s, n) = parts.fold((Losses::default(), 0usize), |(a, n), (l, m)| {
        let w = m as f32;
        let sum = Losses {
            total: a.total + l.total * w,
            generation: a.generation + l.generation * w,
            auxiliary: a.auxiliary + l.auxiliary * w,
        };
        (sum, n + m)
    });
    let n = n.max(1) as f32;
    Losses {
        total: s.total / n,
        generation: s.generation / n,
        auxiliary: s.auxiliary / n,
    }
}

fn row(name: &str, l: Losses) -> (String, Vec<(&'static str, f32)>) {
    (
        name.to_string(),
        vec![
            ("loss", l.total),
            ("generation_loss", l.generation),
            ("auxiliary_loss", l.auxiliary),
        ],
    )
}

impl Gan for Acgan {
    super::gan_core!(d_opt, g_opt);
    fn train_step(&mut self, real: &Batch, rngs: &mut StepRngs) -> Result<StepStats> {
        let n = real.images.dim(0)?;
        let image_batch = real.images.reshape((n, 1, 28, 28))?;
        let noise = rngs.noise(n, &self.dev)?;
        let sampled = rngs.labels(n, CLASSES as u8);
        let generated = self.predict(&noise, &sampled)?;
        let x = Tensor::cat(&[&image_batch, &generated], 0)?; // [2n, 1, 28, 28]
        let y = stacked_targets(n, 1.0, 0.0, &self.dev)?;
        let aux_y: Vec<u8> = real.labels.iter().chain(&sampled).copied().collect();
        let (gen, aux) = self.d.forward(&x, Grad::Train, Some(&mut rngs.dropout))?;
        let (d_loss, dl) = self.loss(&gen, &aux, &y, &aux_y)?;
        let grads = nn::backward(&d_loss)?;
        self.d_opt.step(&self.d.params, &grads)?;

        // combined.train_on_batch on 2n fresh noise vectors and labels, D frozen.
        let noise = rngs.noise(2 * n, &self.dev)?;
        let sampled = rngs.labels(2 * n, CLASSES as u8);
        let fake = self.g.forward(&noise, &sampled, Grad::Train)?;
        let (g_gen, g_aux) = self.d.forward(&fake, Grad::Frozen, Some(&mut rngs.dropout))?;
        let trick = Tensor::ones((2 * n, 1), DType::F32, &self.dev)?;
        let (g_loss, gl) = self.loss(&g_gen, &g_aux, &trick, &sampled)?;
        let grads = nn::backward(&g_loss)?;
        self.g_opt.step(&self.g.params, &grads)?;

        self.epoch_disc.push(dl);
        self.epoch_gen.push(gl);
        Ok(StepStats {
            d_loss: dl.total,
            g_loss: gl.total,
            d_real: mean_prob(&gen.narrow(0, 0, n)?)?,
            d_fake: mean_prob(&gen.narrow(0, n, n)?)?,
            extra: vec![
                ("d_generation_loss", dl.generation),
                ("d_auxiliary_loss", dl.auxiliary),
                ("g_generation_loss", gl.generation),
                ("g_auxiliary_loss", gl.auxiliary),
            ],
        })
    }

    /// The epoch's train losses so far: D's then G's, three floats each.
    fn epoch_state(&self) -> Vec<f32> {
        let flat = |v: &[Losses]| {
            v.iter()
                .flat_map(|l| [l.total, l.generation, l.auxiliary])
                .collect::<Vec<_>>()
        };
        [flat(&self.epoch_disc), flat(&self.epoch_gen)].concat()
    }
    fn set_epoch_state(&mut self, v: &[f32]) -> Result<()> {
        anyhow::ensure!(
            v.len().is_multiple_of(6),
            "{} floats are not pairs of D and G losses",
            v.len()
        );
        let losses = |v: &[f32]| {
            v.chunks_exact(3)
                .map(|c| Losses {
                    total: c[0],
                    generation: c[1],
                    auxiliary: c[2],
                })
                .collect::<Vec<_>>()
        };
        let (d, g) = v.split_at(v.len() / 2);
        self.epoch_disc = losses(d);
        self.epoch_gen = losses(g);
        Ok(())
    }

    /// The article's per-epoch table: train rows are the epoch's mean `train_on_batch`
    /// outputs; test rows evaluate D on [test set, as many fakes] and the combined
    /// model on twice as many fakes, Dropout off, no training.
    fn end_epoch(&mut self, ctx: &mut EpochCtx) -> Result<Vec<super::EpochRow>> {
        let t = ctx.test_size;
        let chunk = 500;
        let mut d_parts = Vec::new();
        let mut g_parts = Vec::new();
        // discriminator.evaluate(concat(x_test, generated), [y, aux_y])
        let noise = ctx.rngs.noise(t, &self.dev)?;
        let sampled = ctx.rngs.labels(t, CLASSES as u8);
        let mut real_idx = 0;
        while real_idx < t {
            let m = chunk.min(t - real_idx);
            let imgs: Vec<f32> = (real_idx..real_idx + m)
                .flat_map(|i| {
                    ctx.test
                        .image(i)
                        .iter()
                        .map(|&p| ctx.scale.apply(p))
                        .collect::<Vec<_>>()
                })
                .collect();
            let xr = Tensor::from_vec(imgs, (m, 1, 28, 28), &self.dev)?;
            let xf = self.predict(&noise.narrow(0, real_idx, m)?, &sampled[real_idx..real_idx + m])?;
            for (x, y, labels) in [
                (xr, 1.0f32, ctx.test.labels[real_idx..real_idx + m].to_vec()),
                (xf, 0.0f32, sampled[real_idx..real_idx + m].to_vec()),
            ] {
                let (gen, aux) = self.d.forward(&x, Grad::Frozen, None)?;
                let (_, l) = self.loss(&gen, &aux, &Tensor::full(y, (m, 1), &self.dev)?, &labels)?;
                d_parts.push((l, m));
            }
            real_idx += m;
        }
        // combined.evaluate on 2 t fresh noise vectors and labels, target 1.
        let noise = ctx.rngs.noise(2 * t, &self.dev)?;
        let sampled = ctx.rngs.labels(2 * t, CLASSES as u8);
        let mut i = 0;
        while i < 2 * t {
            let m = chunk.min(2 * t - i);
            let xf = self.predict(&noise.narrow(0, i, m)?, &sampled[i..i + m])?;
            let (gen, aux) = self.d.forward(&xf, Grad::Frozen, None)?;
            let (_, l) = self.loss(
                &gen,
                &aux,
                &Tensor::ones((m, 1), DType::F32, &self.dev)?,
                &sampled[i..i + m],
            )?;
            g_parts.push((l, m));
            i += m;
        }
        let rows = vec![
            row(
                "generator (train)",
                weighted_mean(self.epoch_gen.iter().map(|l| (*l, 1))),
            ),
            row("generator (test)", weighted_mean(g_parts.into_iter())),
            row(
                "discriminator (train)",
                weighted_mean(self.epoch_disc.iter().map(|l| (*l, 1))),
            ),
            row("discriminator (test)", weighted_mean(d_parts.into_iter())),
        ];
        self.epoch_gen.clear();
        self.epoch_disc.clear();
        Ok(rows)
    }

    /// D's generation output (the probability of "real"), inference mode (no Dropout).
    fn d_prob(&self, images: &Tensor) -> Result<Tensor> {
        let n = images.dim(0)?;
        let (gen, _aux) = self.d.forward(&images.reshape((n, 1, 28, 28))?, Grad::Frozen, None)?;
        Ok(candle_nn::ops::sigmoid(&gen)?.reshape(n)?)
    }
    /// Image `k` gets class `k % 10`: a 10-wide grid has one class per column, as the
    /// article's per-epoch picture.
    fn generate(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        let labels: Vec<u8> = (0..n).map(|k| (k % CLASSES) as u8).collect();
        Ok(self.predict(z, &labels)?.reshape((n, 784))?)
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
            2 * self.batch,
        )
    }
    fn reals_per_step(&self) -> usize {
        self.batch
    }
    fn extra_metrics(&self) -> &'static [&'static str] {
        &[
            "d_generation_loss",
            "d_auxiliary_loss",
            "g_generation_loss",
            "g_auxiliary_loss",
        ]
    }
}
