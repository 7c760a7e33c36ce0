//! Keras `Conv2D` and `Conv2DTranspose` (with the fused `UpSampling2D` + `Conv2D`).

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::*;

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

pub(super) fn weights(w: &Var, b: &Var, grad: Grad) -> (Tensor, Tensor) {
    match grad {
        Grad::Train => (w.as_tensor().clone(), b.as_tensor().clone()),
        Grad::Frozen => (w.as_tensor().detach(), b.as_tensor().detach()),
    }
}
