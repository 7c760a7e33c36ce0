//! The CPU kernels behind the layers (`nn`), as candle custom ops, with their
//! portable fallbacks (candle's own ops, for other devices and parity tests). Models
//! never call them: they see layers only. Each kernel has a parity test against
//! candle's own ops or hand-computed values (`tests/ops.rs`, `tests/conv.rs`,
//! `tests/pool.rs`).
//!
//! - `elementwise`: fused LeakyReLU, TensorFlow's tanh, the dropout mask product;
//! - `losses`: binary and sparse categorical cross-entropy in the three semantics;
//! - `adam`: the in-place Adam update (Keras's and PyTorch's forms);
//! - `grads`: the backward pass, the layers' parameter gradients stored once;
//! - `dense`: a Dense layer as one op over `gemm`;
//! - `conv`: Conv2D / Conv2DTranspose (im2col + gemm), TensorFlow's padding;
//! - `conv_pool`: Conv2D + activation + 2x2 MaxPooling2D as one op (001's D);
//! - `subpixel`: the 4x4 stride-2 Conv2DTranspose forward, phase by phase (Winograd
//!   F(2x2, 2x2)), no im2col;
//! - `upconv`: `UpSampling2D(2)` + 'same' `Conv2D` fused;
//! - `pool`: `MaxPooling2D` with TensorFlow's backward.
//!
//! Below, the strided views the kernels share, then the facade: what `nn`, `optim`
//! and the kernel tests use.

use std::borrow::Cow;

use candle_core::{backend::BackendStorage, bail, CpuStorage, Layout, Result, Tensor};

/// A candle custom op around a kernel on f32 slices, so that each op states only its
/// kernel. The macro writes the op's `name`, starts the timer of its part
/// (`timing::Part`), hands each input to the type's `fn fwd` as an [`In`] (values,
/// strided views gathered, any dtype but f32 refused; and the layout) and wraps the
/// returned `(values, shape)`. With `bwd: METHOD`, the op's backward is that method
/// (with `CustomOpN::bwd`'s arguments), timed the same way.
macro_rules! cpu_op {
    (CustomOp1 for $ty:ty, $name:literal, $part:ident $(, bwd: $bwd:ident)?) => {
        impl candle_core::CustomOp1 for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn cpu_fwd(
                &self,
                s: &candle_core::CpuStorage,
                l: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                let _t = $crate::kernels::timing::Timed::start_named($crate::kernels::timing::Part::$part, || format!("{} fwd {:?}", $name, l.dims()));
                let (y, shape) = self.fwd((&$crate::kernels::f32_view(s, l)?, l))?;
                Ok((candle_core::CpuStorage::F32(y), shape))
            }
            $(
                fn bwd(
                    &self,
                    arg: &candle_core::Tensor,
                    res: &candle_core::Tensor,
                    grad: &candle_core::Tensor,
                ) -> candle_core::Result<Option<candle_core::Tensor>> {
                    let _t = $crate::kernels::timing::Timed::start_named($crate::kernels::timing::Part::$part, || format!("{} bwd {:?}", $name, arg.dims()));
                    self.$bwd(arg, res, grad)
                }
            )?
        }
    };
    (CustomOp2 for $ty:ty, $name:literal, $part:ident $(, bwd: $bwd:ident)?) => {
        impl candle_core::CustomOp2 for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn cpu_fwd(
                &self,
                s1: &candle_core::CpuStorage,
                l1: &candle_core::Layout,
                s2: &candle_core::CpuStorage,
                l2: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                let _t = $crate::kernels::timing::Timed::start_named($crate::kernels::timing::Part::$part, || format!("{} fwd {:?} {:?}", $name, l1.dims(), l2.dims()));
                let (a, b) = ($crate::kernels::f32_view(s1, l1)?, $crate::kernels::f32_view(s2, l2)?);
                let (y, shape) = self.fwd((&a, l1), (&b, l2))?;
                Ok((candle_core::CpuStorage::F32(y), shape))
            }
            $(
                fn bwd(
                    &self,
                    a: &candle_core::Tensor,
                    b: &candle_core::Tensor,
                    res: &candle_core::Tensor,
                    grad: &candle_core::Tensor,
                ) -> candle_core::Result<(Option<candle_core::Tensor>, Option<candle_core::Tensor>)> {
                    let _t = $crate::kernels::timing::Timed::start_named($crate::kernels::timing::Part::$part, || format!("{} bwd {:?} {:?}", $name, a.dims(), b.dims()));
                    self.$bwd(a, b, res, grad)
                }
            )?
        }
    };
    (CustomOp3 for $ty:ty, $name:literal, $part:ident $(, bwd: $bwd:ident)?) => {
        impl candle_core::CustomOp3 for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn cpu_fwd(
                &self,
                s1: &candle_core::CpuStorage,
                l1: &candle_core::Layout,
                s2: &candle_core::CpuStorage,
                l2: &candle_core::Layout,
                s3: &candle_core::CpuStorage,
                l3: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                let _t = $crate::kernels::timing::Timed::start_named($crate::kernels::timing::Part::$part, || format!("{} fwd {:?} {:?}", $name, l1.dims(), l2.dims()));
                let (a, b) = ($crate::kernels::f32_view(s1, l1)?, $crate::kernels::f32_view(s2, l2)?);
                let c = $crate::kernels::f32_view(s3, l3)?;
                let (y, shape) = self.fwd((&a, l1), (&b, l2), (&c, l3))?;
                Ok((candle_core::CpuStorage::F32(y), shape))
            }
            $(
                fn bwd(
                    &self,
                    a: &candle_core::Tensor,
                    b: &candle_core::Tensor,
                    c: &candle_core::Tensor,
                    res: &candle_core::Tensor,
                    grad: &candle_core::Tensor,
                ) -> candle_core::Result<$crate::kernels::Grads3> {
                    let _t = $crate::kernels::timing::Timed::start_named($crate::kernels::timing::Part::$part, || format!("{} bwd {:?} {:?}", $name, a.dims(), b.dims()));
                    self.$bwd((a, b, c), res, grad)
                }
            )?
        }
    };
}

mod adam;
mod conv;
mod conv_pool;
mod dense;
pub use dense::Backend as GemmBackend;
mod elementwise;
mod grads;
mod losses;
mod pool;
mod sgd;
mod subpixel;
pub mod timing;
mod upconv;

pub use adam::{AdamForm, AdamStep};
pub(crate) use conv::leaky_relu_portable;
pub use conv::{conv2d, conv2d_act, conv_transpose2d, conv_transpose2d_act, Act, Pad, Padding};
pub use conv_pool::conv2d_act_pool2;
pub(crate) use dense::gemm_rm;
pub use dense::{dense, transpose};
pub use elementwise::{fast_tanh, LeakyRelu, MaskMul, Tanh};
pub use grads::backward;
pub use losses::{bce_point, bce_reference, sparse_cce_row, Bce, SparseCce};
pub(crate) use losses::{sparse_cce_all, KERAS_EPS};
pub use pool::max_pool2d;
pub use sgd::{sgd_update, SgdStep};
pub use upconv::{upsample2_conv2d, upsample2_conv2d_act};

/// One input of a [`cpu_op!`] kernel: its values in order, and its layout (dims).
pub(crate) type In<'a> = (&'a [f32], &'a Layout);

/// The three inputs of a three-input op's backward, and their gradients.
pub(crate) type Args3<'a> = (&'a Tensor, &'a Tensor, &'a Tensor);
pub(crate) type Grads3 = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// A tensor's values on the host, in order.
pub(crate) fn host(t: &Tensor) -> Result<Vec<f32>> {
    t.contiguous()?.flatten_all()?.to_vec1::<f32>()
}

/// A tensor's values on the host, in order, as a slice: borrowed from its CPU storage
/// where they lie contiguous (what a backward pass gets: whole gradients, outputs,
/// inputs and weights), else copied ([`host`]). The copy it saves ran on one thread
/// while the other waited (2.7 % of dcgan's samples in `perf`, Intel Xeon, 2026-12-04).
pub(crate) enum HostSlice<'a> {
    Borrowed(candle_core::StorageRef<'a>, usize, usize),
    Owned(Vec<f32>),
}

impl std::ops::Deref for HostSlice<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            HostSlice::Borrowed(s, a, b) => match &**s {
                candle_core::Storage::Cpu(CpuStorage::F32(v)) => &v[*a..*b],
                _ => unreachable!("HostSlice::Borrowed is made from f32 CPU storage only"),
            },
            HostSlice::Owned(v) => v,
        }
    }
}

/// `t`'s values as a [`HostSlice`]: no copy where `t` is contiguous f32 on the CPU.
pub(crate) fn host_slice(t: &Tensor) -> Result<HostSlice<'_>> {
    let (storage, layout) = t.storage_and_layout();
    if let (candle_core::Storage::Cpu(CpuStorage::F32(_)), Some((a, b))) = (&*storage, layout.contiguous_offsets()) {
        return Ok(HostSlice::Borrowed(storage, a, b));
    }
    drop(storage);
    Ok(HostSlice::Owned(host(t)?))
}

/// The gradient for `of` (shaped like it) that `f` computes, only where backprop
/// wants one (`of` tracks its op): frozen weights and data get none.
pub(crate) fn grad_for(of: &Tensor, f: impl FnOnce() -> Result<Vec<f32>>) -> Result<Option<Tensor>> {
    if !of.track_op() {
        return Ok(None);
    }
    Ok(Some(Tensor::from_vec(f()?, of.shape(), of.device())?))
}

/// Elements per parallel chunk for elementwise work.
pub(crate) const CHUNK: usize = 1 << 14;

pub fn f32_view<'a>(s: &'a CpuStorage, l: &Layout) -> Result<Cow<'a, [f32]>> {
    let v = match s {
        CpuStorage::F32(v) => v,
        _ => bail!("ganlab kernel: expected f32, got {:?}", s.dtype()),
    };
    Ok(match l.contiguous_offsets() {
        Some((a, b)) => Cow::Borrowed(&v[a..b]),
        None => Cow::Owned(gather(v, l)),
    })
}

/// The shell of an in-place optimiser op ([`AdamStep`], [`SgdStep`]): timed as the
/// optimiser, the parameter's f32 values (contiguous) and its gradient's, checked to
/// be as long as each other and as the optimiser's per-element state (`state_len`),
/// then `update(parameter, gradient)`.
pub(crate) fn optimizer_step(
    name: &str,
    (s1, l1): (&mut CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    state_len: usize,
    update: impl FnOnce(&mut [f32], &[f32]),
) -> Result<()> {
    let _t = timing::Timed::start(timing::Part::Optimizer);
    let g = f32_view(s2, l2)?;
    let Some((a, b)) = l1.contiguous_offsets() else {
        bail!("{name}: parameter is not contiguous")
    };
    let p = match s1 {
        CpuStorage::F32(v) => &mut v[a..b],
        _ => bail!("{name}: parameter must be f32"),
    };
    if p.len() != g.len() || p.len() != state_len {
        bail!("{name}: parameter, gradient and state sizes differ");
    }
    update(p, &g);
    Ok(())
}

/// Copy a strided view into a contiguous vector.
pub(crate) fn gather(v: &[f32], l: &Layout) -> Vec<f32> {
    let (dims, stride) = (l.dims(), l.stride());
    let n = l.shape().elem_count();
    let mut idx = vec![0usize; dims.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let off: usize = idx.iter().zip(stride).map(|(i, s)| i * s).sum();
        out.push(v[l.start_offset() + off]);
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

pub(crate) fn map1(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    crate::runtime::for_each_chunk(&mut out, CHUNK, |i, o| {
        for (o, &x) in o.iter_mut().zip(&x[i * CHUNK..]) {
            *o = f(x);
        }
    });
    out
}

pub(crate) fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    crate::runtime::for_each_chunk(&mut out, CHUNK, |i, o| {
        for ((o, &a), &b) in o.iter_mut().zip(&a[i * CHUNK..]).zip(&b[i * CHUNK..]) {
            *o = f(a, b);
        }
    });
    out
}
