//! The fully connected generator and discriminator that both MLP articles (000 and 002)
//! build layer for layer: G is Dense 100->256->512->1024 with LeakyReLU(0.2) and a
//! tanh Dense to 784; D is Dense 784->1024->512->256 with LeakyReLU(0.2) (and, in
//! the Keras article, Dropout(0.3) after each) and a sigmoid Dense to 1.
//! D returns logits; the sigmoid lives in the loss (see `nn::bce`) and in the
//! D(x) statistics, so each framework's cross-entropy semantics can be applied.

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::{step_flops, LayerInfo, NetMacs};
use crate::nn::{leaky_relu, leaky_relu_dropout, tanh, Dense, Grad, Params};
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

    pub fn layers(&self) -> Vec<LayerInfo> {
        dense_rows("G", &self.hidden, &self.out, self.slope, "tanh", 0.0)
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

    pub fn layers(&self) -> Vec<LayerInfo> {
        dense_rows("D", &self.hidden, &self.out, self.slope, "sigmoid", self.dropout)
    }
}

fn dense_rows(
    net: &'static str,
    hidden: &[Dense],
    out: &Dense,
    slope: f64,
    out_act: &str,
    drop: f64,
) -> Vec<LayerInfo> {
    let mut rows = Vec::new();
    let mut push = |name: String, kind: String, width: usize, params: usize| {
        rows.push(LayerInfo {
            network: net,
            name,
            kind,
            output: format!("[n, {width}]"),
            params,
        })
    };
    for (i, l) in hidden.iter().enumerate() {
        push(
            format!("hidden{i}"),
            format!("Dense {}->{}", l.fan_in, l.fan_out),
            l.fan_out,
            l.param_count(),
        );
        push(format!("hidden{i}.act"), format!("LeakyReLU({slope})"), l.fan_out, 0);
        if drop > 0.0 {
            push(format!("hidden{i}.drop"), format!("Dropout({drop})"), l.fan_out, 0);
        }
    }
    push(
        "out".into(),
        format!("Dense {}->{}, {out_act}", out.fan_in, out.fan_out),
        out.fan_out,
        out.param_count(),
    );
    rows
}

/// Multiply-adds of one row through a Dense stack.
fn stack_macs(hidden: &[Dense], out: &Dense) -> NetMacs {
    let all = hidden.iter().map(|l| l.macs(1)).sum::<f64>() + out.macs(1);
    NetMacs {
        all,
        first: hidden.first().unwrap_or(out).macs(1),
    }
}

/// FLOPs of one iteration of either MLP article: `n` fakes and `n` reals for D, `n`
/// generated images for G.
pub fn iter_flops(g: &MlpGenerator, d: &MlpDiscriminator, n: usize) -> f64 {
    step_flops(
        stack_macs(&g.hidden, &g.out),
        stack_macs(&d.hidden, &d.out),
        n,
        2 * n,
        n,
    )
}

/// The layer table of both networks.
pub fn layers(g: &MlpGenerator, d: &MlpDiscriminator) -> Vec<LayerInfo> {
    let mut v = g.layers();
    v.extend(d.layers());
    v
}
