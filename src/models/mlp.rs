//! The fully connected generator and discriminator that both MLP articles (000 and 002)
//! build layer for layer: G is Dense 100->256->512->1024 with LeakyReLU(0.2) and a
//! tanh Dense to 784; D is Dense 784->1024->512->256 with LeakyReLU(0.2) (and, in
//! the Keras article, Dropout(0.3) after each) and a sigmoid Dense to 1.
//! D returns logits; the sigmoid lives in the loss (see `nn::bce`) and in the
//! D(x) statistics, so each framework's cross-entropy semantics can be applied.

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::{step_flops, LayerInfo};
use crate::nn::{leaky_relu, leaky_relu_dropout, tanh, Dense, DenseConfig, Grad, ParamBuilder, Params, Trace};
use crate::spec::{Init, ModelSpec};

pub const IMAGE: usize = 784;

/// What both MLP articles' `impl Gan` share, their networks being the same: D's
/// probability in inference mode (no Dropout), generation, the layer table, the
/// FLOPs of an iteration and the real batch. `mlp_gan!();` inside `impl Gan for ...`
/// of a struct with `g: MlpGenerator`, `d: MlpDiscriminator` and `batch`.
macro_rules! mlp_gan {
    () => {
        fn d_prob(&self, images: &candle_core::Tensor) -> anyhow::Result<candle_core::Tensor> {
            let n = images.dim(0)?;
            let logits = self.d.forward(images, crate::nn::Grad::Frozen, None)?;
            Ok(candle_nn::ops::sigmoid(&logits)?.reshape(n)?)
        }
        fn generate(&self, z: &candle_core::Tensor) -> anyhow::Result<candle_core::Tensor> {
            self.g.forward(z, crate::nn::Grad::Frozen)
        }
        fn layers(&self) -> Vec<crate::nn::LayerInfo> {
            crate::models::mlp::layers(&self.g, &self.d)
        }
        fn flops_per_iter(&self) -> f64 {
            crate::models::mlp::iter_flops(&self.g, &self.d, self.batch)
        }
        fn reals_per_step(&self) -> usize {
            self.batch
        }
    };
}
pub(crate) use mlp_gan;

/// `build_generator()` / `class generate`: hidden Dense + LeakyReLU layers, then Dense(784, tanh).
pub struct MlpGenerator {
    pub hidden: Vec<Dense>,
    pub out: Dense,
    pub slope: f64,
    pub params: Params,
}

impl MlpGenerator {
    pub fn new(m: &ModelSpec, noise_dim: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut params = Params::default();
        let pb = ParamBuilder::new(&mut params, rng, dev).push_prefix("g");
        let (hidden, out) = dense_stack(pb, noise_dim, &m.g_hidden, IMAGE, m.init())?;
        Ok(MlpGenerator {
            hidden,
            out,
            slope: m.leaky_slope,
            params,
        })
    }

    /// `[n, noise_dim] -> [n, 784]` in [-1, 1].
    pub fn forward(&self, z: &Tensor, grad: Grad) -> Result<Tensor> {
        let mut x = z.clone();
        for l in &self.hidden {
            x = leaky_relu(&l.forward(&x, grad)?, self.slope)?; // [n, width]
        }
        tanh(&self.out.forward(&x, grad)?) // [n, 784]
    }

    /// `build_generator()` / `class generate`, layer by layer.
    pub fn trace(&self) -> Trace {
        let input = self.hidden.first().unwrap_or(&self.out).fan_in;
        stack_trace("G", input, &self.hidden, &self.out, self.slope, "tanh", 0.0)
    }
}

/// `build_discriminator()` / `class discrimination`: hidden Dense + LeakyReLU
/// (+ Dropout where the article has it), then Dense(1) whose sigmoid is in the loss.
pub struct MlpDiscriminator {
    pub hidden: Vec<Dense>,
    pub out: Dense,
    pub slope: f64,
    pub dropout: f64,
    pub params: Params,
}

impl MlpDiscriminator {
    pub fn new(m: &ModelSpec, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Self> {
        let mut params = Params::default();
        let pb = ParamBuilder::new(&mut params, rng, dev).push_prefix("d");
        let (hidden, out) = dense_stack(pb, IMAGE, &m.d_hidden, 1, m.init())?;
        Ok(MlpDiscriminator {
            hidden,
            out,
            slope: m.leaky_slope,
            dropout: m.dropout,
            params,
        })
    }

    /// `[n, 784] -> [n, 1]` logits. Dropout is active (training mode) whenever a
    /// dropout generator is given.
    pub fn forward(&self, x: &Tensor, grad: Grad, drop: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let mut x = x.clone();
        let mut drop = drop;
        for l in &self.hidden {
            let h = l.forward(&x, grad)?; // [n, width]
            x = match drop.as_deref_mut() {
                // LeakyReLU(0.2), Dropout(0.3), fused
                Some(r) => leaky_relu_dropout(&h, self.slope, self.dropout, r)?,
                None => leaky_relu(&h, self.slope)?,
            };
        }
        self.out.forward(&x, grad) // [n, 1]
    }

    /// `build_discriminator()` / `class discrimination`, layer by layer.
    pub fn trace(&self) -> Trace {
        stack_trace("D", IMAGE, &self.hidden, &self.out, self.slope, "sigmoid", self.dropout)
    }
}

/// Dense layers `hidden0`, `hidden1`, ... of the given widths from `input`, then
/// `out` with `output` units, in the article's order (the init stream's order).
fn dense_stack(
    mut pb: ParamBuilder,
    input: usize,
    widths: &[usize],
    output: usize,
    init: Init,
) -> Result<(Vec<Dense>, Dense)> {
    let cfg = DenseConfig { init };
    let mut hidden = Vec::new();
    let mut fan_in = input;
    for (i, &w) in widths.iter().enumerate() {
        hidden.push(Dense::new(fan_in, w, cfg, pb.pp(format!("hidden{i}")))?);
        fan_in = w;
    }
    Ok((hidden, Dense::new(fan_in, output, cfg, pb.pp("out"))?))
}

/// A Dense stack from its input: each hidden layer with its LeakyReLU (and Dropout,
/// if any) as rows of their own, then the output layer.
fn stack_trace(
    net: &'static str,
    input: usize,
    hidden: &[Dense],
    out: &Dense,
    slope: f64,
    out_act: &str,
    drop: f64,
) -> Trace {
    let mut t = Trace::new(net, &[input]);
    for (i, l) in hidden.iter().enumerate() {
        t = t
            .dense(&format!("hidden{i}"), l, "")
            .act(&format!("hidden{i}.act"), &format!("LeakyReLU({slope})"));
        if drop > 0.0 {
            t = t.act(&format!("hidden{i}.drop"), &format!("Dropout({drop})"));
        }
    }
    t.dense("out", out, &format!(", {out_act}"))
}

/// FLOPs of one iteration of either MLP article: `n` fakes and `n` reals for D, `n`
/// generated images for G.
pub fn iter_flops(g: &MlpGenerator, d: &MlpDiscriminator, n: usize) -> f64 {
    step_flops(g.trace().macs(), d.trace().macs(), n, 2 * n, n)
}

/// The layer table of both networks.
pub fn layers(g: &MlpGenerator, d: &MlpDiscriminator) -> Vec<LayerInfo> {
    [g.trace().rows(), d.trace().rows()].concat()
}
