//! The CPU kernels behind the layers (`nn`), as candle custom ops, with their
//! portable fallbacks (candle's own ops, for other devices and parity tests). Models
//! never call them: they see layers only. Each kernel has a parity test against
//! candle's own ops or hand-computed values (`tests/ops.rs`, `tests/conv.rs`,
//! `tests/pool.rs`).
//!
//! - `elementwise`: fused LeakyReLU, TensorFlow's tanh, the dropout mask product;
//! - `losses`: binary and sparse categorical cross-entropy in the three semantics;
//! - `adam`: the in-place Adam update (Keras's and PyTorch's forms);
//! - `dense`: a Dense layer as one op over `gemm`;
//! - `conv`: Conv2D / Conv2DTranspose (im2col + gemm), TensorFlow's padding;
//! - `upconv`: `UpSampling2D(2)` + 'same' `Conv2D` fused;
//! - `pool`: `MaxPooling2D` with TensorFlow's backward.
//!
//! Below, the strided views the kernels share, then the facade: what `nn`, `optim`
//! and the kernel tests use.

use std::borrow::Cow;

use candle_core::{backend::BackendStorage, bail, CpuStorage, Layout, Result};
use rayon::prelude::*;

mod adam;
mod conv;
mod dense;
mod elementwise;
mod losses;
mod pool;
pub mod timing;
mod upconv;

pub use adam::{AdamForm, AdamStep};
pub(crate) use conv::leaky_relu_portable;
pub use conv::{conv2d, conv2d_act, conv_transpose2d, conv_transpose2d_act, Act, Pad, Padding};
pub use dense::{dense, transpose};
pub use elementwise::{fast_tanh, LeakyRelu, MaskMul, Tanh};
pub use losses::{bce_point, bce_reference, sparse_cce_row, Bce, SparseCce};
pub(crate) use losses::{sparse_cce_all, KERAS_EPS};
pub use pool::max_pool2d;
pub use upconv::{upsample2_conv2d, upsample2_conv2d_act};

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
    out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = f(x);
        }
    });
    out
}

pub(crate) fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                *o = f(a, b);
            }
        });
    out
}
