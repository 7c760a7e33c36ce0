//! Layers shared by the variants: named parameter sets, Dense, activations, dropout,
//! and binary cross-entropy in each framework's semantics.
//!
//! All initial values and random masks come from the run's seeded generators
//! (candle's CPU generator cannot be seeded), so runs are reproducible.

mod trace;
pub use trace::{LayerInfo, NetMacs, Trace};

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::kernels;
pub use crate::kernels::{max_pool2d, Act, Pad, Padding};
use crate::spec::{BceSemantics, GlorotNormal, Init};

/// An ordered set of named tensors (one network's weights): trainable ones, and
/// state such as BatchNorm's moving statistics (saved, never given to an optimiser).
#[derive(Default)]
pub struct Params {
    pub names: Vec<String>,
    pub vars: Vec<Var>,
    pub trainable: Vec<bool>,
}

impl Params {
    pub fn push(&mut self, name: String, var: Var) {
        self.names.push(name);
        self.vars.push(var);
        self.trainable.push(true);
    }
    /// Register non-trainable state (saved in checkpoints, not counted as trainable).
    pub fn push_state(&mut self, name: String, var: Var) {
        self.names.push(name);
        self.vars.push(var);
        self.trainable.push(false);
    }
    /// Trainable parameters (what the articles' summaries call trainable params).
    pub fn count(&self) -> usize {
        self.vars
            .iter()
            .zip(&self.trainable)
            .filter(|(_, &t)| t)
            .map(|(v, _)| v.elem_count())
            .sum()
    }
    /// Non-trainable state elements.
    pub fn state_count(&self) -> usize {
        self.vars
            .iter()
            .zip(&self.trainable)
            .filter(|(_, &t)| !t)
            .map(|(v, _)| v.elem_count())
            .sum()
    }
    pub fn to_map(&self) -> HashMap<String, Tensor> {
        self.names
            .iter()
            .cloned()
            .zip(self.vars.iter().map(|v| v.as_tensor().clone()))
            .collect()
    }
    /// Save as safetensors, atomically (write a temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::atomic::write_atomic(path, |tmp| Ok(candle_core::safetensors::save(&self.to_map(), tmp)?))
    }
    /// Load weights saved by [`Params::save`]; names, shapes and dtypes must match.
    pub fn load(&self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// [`Params::load`] from the bytes of a safetensors file (`origin` names it in
    /// errors). Every tensor is checked before any weight changes, so a refused file
    /// leaves the model as it was.
    pub fn load_bytes(&self, bytes: &[u8], origin: &str) -> Result<()> {
        let map = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .with_context(|| format!("{origin} is not a readable safetensors checkpoint (corrupt or truncated)"))?;
        let mut checked = Vec::with_capacity(self.vars.len());
        for (name, var) in self.names.iter().zip(&self.vars) {
            let t = map.get(name).with_context(|| {
                format!("{origin} has no tensor `{name}`: it was saved by another variant or layout")
            })?;
            if t.dims() != var.dims() || t.dtype() != var.dtype() {
                bail!(
                    "{origin}: tensor `{name}` is {:?} {:?}, this model needs {:?} {:?} (checkpoint from another spec?)",
                    t.dtype(),
                    t.dims(),
                    var.dtype(),
                    var.dims()
                );
            }
            checked.push((var, t));
        }
        if map.len() != self.names.len() {
            bail!(
                "{origin} holds {} tensors, this model has {}: saved by another variant",
                map.len(),
                self.names.len()
            );
        }
        for (var, t) in checked {
            var.set(&t.to_device(var.device())?)?;
        }
        Ok(())
    }
}

/// Whether a layer's weights take gradients in this pass. A frozen pass reads the
/// weights as constants, so backprop skips their weight gradients (Keras's
/// `trainable = False` on D inside the combined model).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Grad {
    Train,
    Frozen,
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, limit: f64) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-limit..limit) as f32).collect()
}

/// A fully connected layer, weight stored as `[in, out]` (Keras's kernel layout).
pub struct Dense {
    pub w: Var,
    pub b: Var,
    pub fan_in: usize,
    pub fan_out: usize,
}

impl Dense {
    /// Build with the framework's default initialiser, registering `name.weight`, `name.bias`.
    pub fn new(
        params: &mut Params,
        name: &str,
        fan_in: usize,
        fan_out: usize,
        init: Init,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<Dense> {
        let (w, b) = match init {
            Init::GlorotUniform => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
                (uniform(rng, fan_in * fan_out, limit), vec![0f32; fan_out])
            }
            Init::TorchDefault => {
                // kaiming_uniform(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in)
                // = 1 / sqrt(fan_in); the bias uses the same bound.
                let bound = 1.0 / (fan_in as f64).sqrt();
                (uniform(rng, fan_in * fan_out, bound), uniform(rng, fan_out, bound))
            }
        };
        let w = Var::from_tensor(&Tensor::from_vec(w, (fan_in, fan_out), dev)?)?;
        let b = Var::from_tensor(&Tensor::from_vec(b, fan_out, dev)?)?;
        params.push(format!("{name}.weight"), w.clone());
        params.push(format!("{name}.bias"), b.clone());
        Ok(Dense { w, b, fan_in, fan_out })
    }

    /// `x @ W + b`: `[n, in] -> [n, out]`.
    pub fn forward(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        let (w, b) = weights(&self.w, &self.b, grad);
        Ok(crate::kernels::dense(x, &w, &b)?)
    }

    pub fn param_count(&self) -> usize {
        self.fan_in * self.fan_out + self.fan_out
    }

    /// Multiply-adds of one forward pass over `n` rows.
    pub fn macs(&self, n: usize) -> f64 {
        (n * self.fan_in * self.fan_out) as f64
    }
}

/// LeakyReLU(alpha): fused kernel on CPU, candle's composition elsewhere.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if crate::device::fused(x) {
        Ok(x.apply_op1(kernels::LeakyRelu {
            slope: slope as f32,
            mask: None,
        })?)
    } else {
        Ok(crate::kernels::leaky_relu_portable(x, slope)?)
    }
}

/// tanh: fused kernel on CPU, candle's op elsewhere.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if crate::device::fused(x) {
        Ok(x.apply_op1(kernels::Tanh)?)
    } else {
        Ok(x.tanh()?)
    }
}

/// An inverted-dropout mask (Keras and PyTorch): 0 with probability `rate`, else
/// `1 / (1 - rate)`, drawn from the run's dropout generator.
fn dropout_mask(n: usize, rate: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let scale = (1.0 / (1.0 - rate)) as f32;
    // Keep where a uniform draw in [0, 1) is >= rate, compared as 32-bit integers.
    let threshold = (rate * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    let mut bits = vec![0u32; n];
    rng.fill(&mut bits[..]);
    bits.iter().map(|&b| if b >= threshold { scale } else { 0.0 }).collect()
}

/// `LeakyReLU(slope)` then `Dropout(rate)` (training mode), as one fused kernel on
/// the CPU; the same mask as [`leaky_relu`] followed by [`dropout`] would draw.
pub fn leaky_relu_dropout(x: &Tensor, slope: f64, rate: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if rate <= 0.0 || !crate::device::fused(x) {
        return dropout(&leaky_relu(x, slope)?, rate, rng);
    }
    let mask = std::sync::Arc::new(dropout_mask(x.elem_count(), rate, rng));
    Ok(x.apply_op1(kernels::LeakyRelu {
        slope: slope as f32,
        mask: Some(mask),
    })?)
}

/// Inverted dropout (Keras and PyTorch): zero with probability `rate`, scale the rest
/// by `1 / (1 - rate)`. The mask comes from the run's dropout generator.
pub fn dropout(x: &Tensor, rate: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if rate <= 0.0 {
        return Ok(x.clone());
    }
    let mask = dropout_mask(x.elem_count(), rate, rng);
    if crate::device::fused(x) {
        return Ok(x.apply_op1(kernels::MaskMul {
            mask: std::sync::Arc::new(mask),
        })?);
    }
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    Ok(x.mul(&mask)?)
}

/// Mean binary cross-entropy of `sigmoid(logits)` against `targets` (same shape),
/// in the article framework's semantics (see [`BceSemantics`]).
pub fn bce(logits: &Tensor, targets: &Tensor, sem: BceSemantics) -> Result<Tensor> {
    let per = if crate::device::fused(logits) {
        logits.apply_op2(targets, kernels::Bce { sem })?
    } else {
        bce_portable(logits, targets, sem)?
    };
    Ok(per.mean_all()?)
}

/// `value` (a detached tensor) with the gradient `grad` with respect to `x`: the
/// portable path's way to give a loss the gradient its framework defines where
/// differentiating candle's composition would not (through a clamp, or `0 * inf` at a
/// saturated sigmoid).
fn with_grad(value: &Tensor, x: &Tensor, grad: &Tensor) -> Result<Tensor> {
    Ok(value.add(&x.sub(&x.detach())?.mul(grad)?)?)
}

/// [`bce`]'s per-element loss from candle's ops: the value as the framework computes
/// it, the gradient as [`kernels::bce_point`] defines it.
fn bce_portable(x: &Tensor, y: &Tensor, sem: BceSemantics) -> Result<Tensor> {
    let value = kernels::bce_reference(&x.detach(), y, sem)?;
    let p = candle_nn::ops::sigmoid(&x.detach())?;
    let s = p.mul(&p.affine(-1.0, 1.0)?)?;
    let g = match sem {
        BceSemantics::Logits => p.sub(y)?,
        // (p - y) / max(p (1 - p), 1e-12) * p (1 - p)
        BceSemantics::Torch => p.sub(y)?.div(&s.maximum(1e-12)?)?.mul(&s)?,
        BceSemantics::Clip => {
            let eps = kernels::KERAS_EPS as f64;
            let pc = p.clamp(eps, 1.0 - eps)?;
            let sc = pc.mul(&pc.affine(-1.0, 1.0)?)?;
            let inside = p.ge(eps)?.mul(&p.le(1.0 - eps)?)?.to_dtype(p.dtype())?;
            // sigmoid(logit(pc)) = pc
            pc.sub(y)?.div(&sc)?.mul(&s)?.mul(&inside)?
        }
    };
    with_grad(&value, x, &g)
}

/// Per-row sparse categorical cross-entropy of `logits` `[n, k]` against labels `[n]`
/// (as f32), in the framework's semantics (see [`kernels::SparseCce`]): the fused kernel
/// on the CPU, candle's ops elsewhere.
pub fn sparse_cce(logits: &Tensor, labels: &Tensor, sem: BceSemantics) -> Result<Tensor> {
    if crate::device::fused(logits) {
        return Ok(logits.apply_op2(labels, kernels::SparseCce { sem })?);
    }
    let (x, idx) = (logits.detach(), labels.to_dtype(DType::U32)?.unsqueeze(1)?);
    let value = match sem {
        BceSemantics::Logits | BceSemantics::Torch => {
            candle_nn::ops::log_softmax(&x, 1)?.gather(&idx, 1)?.squeeze(1)?.neg()?
        }
        BceSemantics::Clip => {
            // Keras 2.0: softmax probabilities clipped to [1e-7, 1 - 1e-7], renormalised.
            let eps = kernels::KERAS_EPS as f64;
            let pc = candle_nn::ops::softmax(&x, 1)?.clamp(eps, 1.0 - eps)?;
            let s = pc.sum_keepdim(1)?;
            pc.gather(&idx, 1)?.div(&s)?.log()?.squeeze(1)?.neg()?
        }
    };
    // The gradient as kernels::sparse_cce_row defines it (small: [n, classes], on the host).
    let k = x.dim(1)?;
    let xv = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
    let yv = labels.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let (_, g) = kernels::sparse_cce_all(&xv, &yv, k, sem);
    let g = Tensor::from_vec(g, x.shape(), x.device())?;
    Ok(value.add(&logits.sub(&x)?.mul(&g)?.sum(1)?)?)
}

/// Targets of `n` rows all equal to `v`, shaped `[n, 1]`.
pub fn full_targets(n: usize, v: f32, dev: &Device) -> Result<Tensor> {
    Ok(Tensor::full(v, (n, 1), dev)?)
}

/// Labels for a stacked D batch: `n` rows of `first`, then `n` rows of `second`, `[2n, 1]`
/// (e.g. `[1]*B + [0]*B` for [reals, fakes]).
pub fn stacked_targets(n: usize, first: f32, second: f32, dev: &Device) -> Result<Tensor> {
    Ok(Tensor::cat(
        &[Tensor::full(first, (n, 1), dev)?, Tensor::full(second, (n, 1), dev)?],
        0,
    )?)
}

/// Mean of sigmoid(logits) (the D(x) or D(G(z)) statistic).
pub fn mean_prob(logits: &Tensor) -> Result<f32> {
    Ok(candle_nn::ops::sigmoid(&logits.detach())?
        .mean_all()?
        .to_scalar::<f32>()?)
}

/// Keras `glorot_uniform` for a kernel with the given fans.
fn glorot_uniform(rng: &mut ChaCha8Rng, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
    uniform(rng, n, (6.0 / (fan_in + fan_out) as f64).sqrt())
}

/// Keras `glorot_normal`: a normal of `sigma = sqrt(2 / (fan_in + fan_out))`
/// truncated at two standard deviations (`K.truncated_normal`, redrawing outside).
/// Keras 2.0-2.1 draw it as is (`Truncated`: the draws' standard deviation is
/// 0.88 sigma); from Keras 2.2.0 (and in tf.keras) sigma is first divided by
/// 0.87962566, the truncated normal's standard deviation, so that the draws keep
/// `sigma` (`TruncatedScaled`).
pub fn glorot_normal(rng: &mut ChaCha8Rng, variant: GlorotNormal, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
    use rand_distr::{Distribution, StandardNormal};
    let plain = (2.0 / (fan_in + fan_out) as f64).sqrt();
    let sigma = match variant {
        GlorotNormal::Truncated => plain,
        GlorotNormal::TruncatedScaled => plain / 0.879_625_661_034_239_8,
    };
    (0..n)
        .map(|_| loop {
            let v: f64 = StandardNormal.sample(rng);
            if v.abs() < 2.0 {
                break (v * sigma) as f32;
            }
        })
        .collect()
}

/// A convolution kernel initialiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelInit {
    GlorotUniform,
    GlorotNormal(GlorotNormal),
}

/// Keras `Embedding(classes, dim)`: a `[classes, dim]` table, rows looked up by label.
pub struct Embedding {
    pub table: Var,
}

impl Embedding {
    /// `embeddings_initializer='glorot_normal'` (fan_in = classes, fan_out = dim).
    pub fn new(
        params: &mut Params,
        name: &str,
        classes: usize,
        dim: usize,
        init: GlorotNormal,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<Self> {
        let t = Var::from_tensor(&Tensor::from_vec(
            glorot_normal(rng, init, classes * dim, classes, dim),
            (classes, dim),
            dev,
        )?)?;
        params.push(format!("{name}.embeddings"), t.clone());
        Ok(Embedding { table: t })
    }
    /// `[n]` labels -> `[n, dim]` rows.
    pub fn forward(&self, labels: &[u8], grad: Grad) -> Result<Tensor> {
        let idx: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let idx = Tensor::new(idx.as_slice(), self.table.device())?;
        let t = match grad {
            Grad::Train => self.table.as_tensor().clone(),
            Grad::Frozen => self.table.as_tensor().detach(),
        };
        Ok(t.index_select(&idx, 0)?)
    }
}

/// Keras `Conv2D`: weight `[out, in, kh, kw]` (candle's layout), bias `[out]`.
pub struct Conv2d {
    pub w: Var,
    pub b: Var,
    pub stride: usize,
    pub padding: crate::kernels::Padding,
}

impl Conv2d {
    /// glorot_uniform kernel (fans `in*kh*kw`, `out*kh*kw`), zero bias.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        params: &mut Params,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: crate::kernels::Padding,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<Conv2d> {
        Self::with_init(
            params,
            name,
            cin,
            cout,
            k,
            stride,
            padding,
            KernelInit::GlorotUniform,
            rng,
            dev,
        )
    }

    /// As [`Conv2d::new`] with another kernel initialiser.
    #[allow(clippy::too_many_arguments)]
    pub fn with_init(
        params: &mut Params,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: crate::kernels::Padding,
        init: KernelInit,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<Conv2d> {
        let (n, fi, fo) = (cout * cin * k * k, cin * k * k, cout * k * k);
        let w = match init {
            KernelInit::GlorotUniform => glorot_uniform(rng, n, fi, fo),
            KernelInit::GlorotNormal(v) => glorot_normal(rng, v, n, fi, fo),
        };
        let w = Var::from_tensor(&Tensor::from_vec(w, (cout, cin, k, k), dev)?)?;
        let b = Var::from_tensor(&Tensor::zeros(cout, DType::F32, dev)?)?;
        params.push(format!("{name}.weight"), w.clone());
        params.push(format!("{name}.bias"), b.clone());
        Ok(Conv2d { w, b, stride, padding })
    }

    /// `[n, in, h, w] -> [n, out, h', w']`.
    pub fn forward(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        self.forward_act(x, grad, Act::Identity)
    }

    /// [`Conv2d::forward`] then the activation `act`, as one op.
    pub fn forward_act(&self, x: &Tensor, grad: Grad, act: Act) -> Result<Tensor> {
        let (w, b) = weights(&self.w, &self.b, grad);
        Ok(crate::kernels::conv2d_act(x, &w, &b, self.stride, self.padding, act)?)
    }

    /// `UpSampling2D((2, 2))` then this convolution (stride 1, 'same', odd kernel),
    /// fused: `[n, in, h, w] -> [n, out, 2h, 2w]`, the same function with 9 instead of
    /// 25 taps per output pixel for 5x5 kernels (see `kernels::upconv`).
    /// The activation `act` follows in the same op.
    pub fn forward_upsampled2(&self, x: &Tensor, grad: Grad, act: Act) -> Result<Tensor> {
        if self.stride != 1 || self.padding != crate::kernels::Padding::Same {
            bail!("the fused upsample-convolution needs stride 1 and 'same' padding");
        }
        let (w, b) = weights(&self.w, &self.b, grad);
        Ok(crate::kernels::upsample2_conv2d_act(x, &w, &b, act)?)
    }

    pub fn param_count(&self) -> usize {
        self.w.elem_count() + self.b.elem_count()
    }
}

/// Keras `Conv2DTranspose`: weight `[in, out, kh, kw]` (candle's layout), bias `[out]`.
pub struct ConvTranspose2d {
    pub w: Var,
    pub b: Var,
    pub stride: usize,
    pub padding: crate::kernels::Padding,
}

impl ConvTranspose2d {
    /// glorot_uniform kernel, zero bias.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        params: &mut Params,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: crate::kernels::Padding,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<ConvTranspose2d> {
        let w = glorot_uniform(rng, cout * cin * k * k, cout * k * k, cin * k * k);
        let w = Var::from_tensor(&Tensor::from_vec(w, (cin, cout, k, k), dev)?)?;
        let b = Var::from_tensor(&Tensor::zeros(cout, DType::F32, dev)?)?;
        params.push(format!("{name}.weight"), w.clone());
        params.push(format!("{name}.bias"), b.clone());
        Ok(ConvTranspose2d { w, b, stride, padding })
    }

    pub fn forward(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        self.forward_act(x, grad, Act::Identity)
    }

    /// [`ConvTranspose2d::forward`] then the activation `act`, as one op.
    pub fn forward_act(&self, x: &Tensor, grad: Grad, act: Act) -> Result<Tensor> {
        let (w, b) = weights(&self.w, &self.b, grad);
        Ok(crate::kernels::conv_transpose2d_act(
            x,
            &w,
            &b,
            self.stride,
            self.padding,
            act,
        )?)
    }

    pub fn param_count(&self) -> usize {
        self.w.elem_count() + self.b.elem_count()
    }
}

fn weights(w: &Var, b: &Var, grad: Grad) -> (Tensor, Tensor) {
    match grad {
        Grad::Train => (w.as_tensor().clone(), b.as_tensor().clone()),
        Grad::Frozen => (w.as_tensor().detach(), b.as_tensor().detach()),
    }
}

/// Keras `Reshape((h, w, c))` of a flat `[n, h*w*c]` tensor, returned as NCHW.
pub fn reshape_hwc_to_nchw(x: &Tensor, h: usize, w: usize, c: usize) -> Result<Tensor> {
    let n = x.dim(0)?;
    Ok(x.reshape((n, h, w, c))?.permute((0, 3, 1, 2))?.contiguous()?)
}

/// Keras `Flatten()` of an NCHW tensor in Keras's (h, w, c) order: `[n, h*w*c]`.
pub fn flatten_hwc(x: &Tensor) -> Result<Tensor> {
    let n = x.dim(0)?;
    Ok(x.permute((0, 2, 3, 1))?.contiguous()?.reshape((n, ()))?)
}

/// Keras `BatchNormalization()` over the last axis of `[n, f]`: momentum 0.99,
/// epsilon 1e-3, gamma 1 and beta 0 to start, moving mean 0 and variance 1.
/// Training mode normalises with the batch's mean and (biased) variance and moves
/// the averages; inference mode uses the moving averages.
pub struct BatchNorm {
    pub gamma: Var,
    pub beta: Var,
    pub moving_mean: Var,
    pub moving_var: Var,
    pub momentum: f64,
    pub eps: f64,
}

impl BatchNorm {
    pub fn new(params: &mut Params, name: &str, f: usize, dev: &Device) -> Result<BatchNorm> {
        let ones = || Tensor::ones(f, DType::F32, dev);
        let zeros = || Tensor::zeros(f, DType::F32, dev);
        let bn = BatchNorm {
            gamma: Var::from_tensor(&ones()?)?,
            beta: Var::from_tensor(&zeros()?)?,
            moving_mean: Var::from_tensor(&zeros()?)?,
            moving_var: Var::from_tensor(&ones()?)?,
            momentum: 0.99,
            eps: 1e-3,
        };
        params.push(format!("{name}.gamma"), bn.gamma.clone());
        params.push(format!("{name}.beta"), bn.beta.clone());
        params.push_state(format!("{name}.moving_mean"), bn.moving_mean.clone());
        params.push_state(format!("{name}.moving_variance"), bn.moving_var.clone());
        Ok(bn)
    }

    /// Training mode: batch statistics, and the moving averages move.
    pub fn forward_train(&self, x: &Tensor, grad: Grad) -> Result<Tensor> {
        let mean = x.mean_keepdim(0)?; // [1, f]
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(0)?; // biased, as tf.nn.moments
        let m = self.momentum;
        let new_mean = ((self.moving_mean.as_tensor() * m)? + (mean.detach().squeeze(0)? * (1.0 - m))?)?;
        let new_var = ((self.moving_var.as_tensor() * m)? + (var.detach().squeeze(0)? * (1.0 - m))?)?;
        self.moving_mean.set(&new_mean)?;
        self.moving_var.set(&new_var)?;
        let (g, b) = weights(&self.gamma, &self.beta, grad);
        let xhat = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(xhat.broadcast_mul(&g)?.broadcast_add(&b)?)
    }

    /// Inference mode (Keras `predict`): the moving averages.
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        let inv = (self.moving_var.as_tensor() + self.eps)?.sqrt()?.recip()?;
        let scale = (inv * self.gamma.as_tensor().detach())?;
        let shift = (self.beta.as_tensor().detach() - (self.moving_mean.as_tensor() * &scale)?)?;
        Ok(x.broadcast_mul(&scale)?.broadcast_add(&shift)?)
    }

    pub fn param_count(&self) -> usize {
        2 * self.gamma.elem_count()
    }
}
