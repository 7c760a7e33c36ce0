//! Keras's (h, w, c) order for `Reshape` and `Flatten` over NCHW tensors.

use anyhow::Result;
use candle_core::Tensor;

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
