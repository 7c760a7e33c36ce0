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
use crate::nn::{leaky_relu, leaky_relu_dropout, tanh, Dense, Grad, Params, Trace};
use crate::spec::ModelSpec;

pub const IMAGE: usize = 784;

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
        let mut hidden = Vec::new();
        let mut fan_in = noise_dim;
        for (i, &w) in m.g_hidden.iter().enumerate() {
            hidden.push(Dense::new(
                &mut params,
                &format!("g.hidden{i}"),
                fan_in,
                w,
                m.init(),
                rng,
                dev,
            )?);
            fan_in = w;
        }
        let out = Dense::new(&mut params, "g.out", fan_in, IMAGE, m.init(), rng, dev)?;
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
        let mut hidden = Vec::new();
        let mut fan_in = IMAGE;
        for (i, &w) in m.d_hidden.iter().enumerate() {
            hidden.push(Dense::new(
                &mut params,
                &format!("d.hidden{i}"),
                fan_in,
                w,
                m.init(),
                rng,
                dev,
            )?);
            fan_in = w;
        }
        let out = Dense::new(&mut params, "d.out", fan_in, 1, m.init(), rng, dev)?;
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
