//! Keras `Conv2D` and `Conv2DTranspose` (with the fused `UpSampling2D` + `Conv2D`).

use anyhow::{bail, Result};
use candle_core::{Tensor, Var};

use super::*;

/// Keras `Conv2D`: weight `[out, in, kh, kw]` (candle's layout), bias `[out]`.
pub struct Conv2d {
    pub w: Var,
    pub b: Var,
    pub stride: usize,
    pub padding: Padding,
}

/// A [`Conv2d`]'s strides, padding and kernel initialiser: Keras's `Conv2D` defaults
/// (`strides=1`, `padding='valid'`, `glorot_uniform`; the bias starts at zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    pub stride: usize,
    pub padding: Padding,
    pub init: KernelInit,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: 1,
            padding: Padding::Valid,
            init: KernelInit::GlorotUniform,
        }
    }
}

impl Conv2d {
    /// `Conv2D(cout, k)` on `cin` channels, registering `<prefix>.weight` and `<prefix>.bias`.
    pub fn new(cin: usize, cout: usize, k: usize, cfg: Conv2dConfig, mut pb: ParamBuilder) -> Result<Conv2d> {
        let (n, fi, fo) = (cout * cin * k * k, cin * k * k, cout * k * k);
        let w = match cfg.init {
            KernelInit::GlorotUniform => glorot_uniform(pb.rng(), n, fi, fo),
            KernelInit::GlorotNormal(v) => glorot_normal(pb.rng(), v, n, fi, fo),
        };
        Ok(Conv2d {
            w: pb.var("weight", w, (cout, cin, k, k))?,
            b: pb.var("bias", vec![0f32; cout], cout)?,
            stride: cfg.stride,
            padding: cfg.padding,
        })
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

    /// [`Conv2d::forward_act`] then `MaxPooling2D((2, 2))`, as one op:
    /// `[n, out, h' / 2, w' / 2]` (see `kernels::conv_pool`).
    pub fn forward_act_pool2(&self, x: &Tensor, grad: Grad, act: Act) -> Result<Tensor> {
        let (w, b) = weights(&self.w, &self.b, grad);
        Ok(crate::kernels::conv2d_act_pool2(
            x,
            &w,
            &b,
            self.stride,
            self.padding,
            act,
        )?)
    }

    /// `UpSampling2D((2, 2))` then this convolution (stride 1, 'same', odd kernel),
    /// fused: `[n, in, h, w] -> [n, out, 2h, 2w]`, the same function with 9 instead of
    /// 25 taps per output pixel for 5x5 kernels (see `kernels::upconv`).
    /// The activation `act` follows in the same op.
    pub fn forward_upsampled2(&self, x: &Tensor, grad: Grad, act: Act) -> Result<Tensor> {
        if self.stride != 1 || self.padding != Padding::Same {
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
    pub padding: Padding,
}

/// A [`ConvTranspose2d`]'s strides and padding: Keras's `Conv2DTranspose` defaults
/// (`strides=1`, `padding='valid'`; the kernel `glorot_uniform`, the bias zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dConfig {
    pub stride: usize,
    pub padding: Padding,
}

impl Default for ConvTranspose2dConfig {
    fn default() -> Self {
        ConvTranspose2dConfig {
            stride: 1,
            padding: Padding::Valid,
        }
    }
}

impl ConvTranspose2d {
    /// `Conv2DTranspose(cout, k)` on `cin` channels, registering `<prefix>.weight` and `<prefix>.bias`.
    pub fn new(cin: usize, cout: usize, k: usize, cfg: ConvTranspose2dConfig, mut pb: ParamBuilder) -> Result<Self> {
        // Keras's fans of a transposed kernel: fan_in = cout * k * k, fan_out = cin * k * k.
        let w = glorot_uniform(pb.rng(), cout * cin * k * k, cout * k * k, cin * k * k);
        Ok(ConvTranspose2d {
            w: pb.var("weight", w, (cin, cout, k, k))?,
            b: pb.var("bias", vec![0f32; cout], cout)?,
            stride: cfg.stride,
            padding: cfg.padding,
        })
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

pub(super) fn weights(w: &Var, b: &Var, grad: Grad) -> (Tensor, Tensor) {
    match grad {
        Grad::Train => (w.as_tensor().clone(), b.as_tensor().clone()),
        Grad::Frozen => (w.as_tensor().detach(), b.as_tensor().detach()),
    }
}
