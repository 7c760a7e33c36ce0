//! Keras `MaxPooling2D((k, k))` (stride k, 'valid': a trailing row or column that
//! does not fill a window is dropped) as a candle custom op on NCHW tensors.
//!
//! The backward pass sends each window's gradient to one element, the first maximum
//! in row-major order within the window, as TensorFlow's `MaxPoolGrad` does (candle's
//! own backward splits it among tied maxima and builds it from five tensor ops).

use candle_core::{bail, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::In;

/// `[n, c, h, w] -> [n, c, h / k, w / k]`, the maximum of each `k x k` window.
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    pub k: usize,
}

fn dims(l: &Layout, k: usize) -> Result<(usize, usize, usize, usize, usize)> {
    match l.dims() {
        &[n, c, h, w] if k > 0 && h >= k && w >= k => Ok((n * c, h, w, h / k, w / k)),
        d => bail!("max-pool {k}x{k}: input {d:?} must be [n, c, h, w] with h, w >= {k}"),
    }
}

/// Offset within the `h x w` plane of the first maximum of window `(oy, ox)`.
#[inline]
fn argmax(plane: &[f32], w: usize, k: usize, oy: usize, ox: usize) -> usize {
    let mut best = (oy * k) * w + ox * k;
    let mut m = plane[best];
    for i in 0..k {
        let row = (oy * k + i) * w + ox * k;
        for (j, &v) in plane[row..row + k].iter().enumerate() {
            // Strictly greater: the first maximum in row-major order wins.
            if v > m {
                m = v;
                best = row + j;
            }
        }
    }
    best
}

cpu_op!(CustomOp1 for MaxPool2d, "ganlab-max-pool2d", Elementwise, bwd: grad);

impl MaxPool2d {
    fn fwd(&self, (x, l): In) -> Result<(Vec<f32>, Shape)> {
        let (planes, h, w, oh, ow) = dims(l, self.k)?;
        let mut y = vec![0f32; planes * oh * ow];
        let k = self.k;
        y.par_chunks_mut(oh * ow).zip(x.par_chunks(h * w)).for_each(|(yp, xp)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    yp[oy * ow + ox] = xp[argmax(xp, w, k, oy, ox)];
                }
            }
        });
        let d = l.dims();
        Ok((y, Shape::from((d[0], d[1], oh, ow))))
    }
    fn grad(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(grad, &MaxPoolGrad { k: self.k })?))
    }
}

/// `(x, dy) -> dx`: each window's `dy` at its first maximum, zeros elsewhere.
struct MaxPoolGrad {
    k: usize,
}

cpu_op!(CustomOp2 for MaxPoolGrad, "ganlab-max-pool2d-grad", Elementwise);

impl MaxPoolGrad {
    fn fwd(&self, (x, l1): In, (g, l2): In) -> Result<(Vec<f32>, Shape)> {
        let (planes, h, w, oh, ow) = dims(l1, self.k)?;
        if l2.shape().elem_count() != planes * oh * ow {
            bail!("max-pool grad: dy {:?} does not fit x {:?}", l2.dims(), l1.dims());
        }
        let mut dx = vec![0f32; planes * h * w];
        let k = self.k;
        dx.par_chunks_mut(h * w)
            .zip(x.par_chunks(h * w).zip(g.par_chunks(oh * ow)))
            .for_each(|(dp, (xp, gp))| {
                for oy in 0..oh {
                    for ox in 0..ow {
                        dp[argmax(xp, w, k, oy, ox)] = gp[oy * ow + ox];
                    }
                }
            });
        Ok((dx, l1.shape().clone()))
    }
}

/// Max-pooling through [`MaxPool2d`] on the CPU; elsewhere the portable path: each
/// window's `k * k` elements side by side, a one-hot mask of the first maximum
/// (TensorFlow's choice; ties are common on MNIST's flat background), and the masked
/// sum, so the gradient goes to that element alone. candle's own `max_pool2d` is not
/// used: its backward scales the gradient by the share of tied maxima in the window,
/// 1 / (k * k) when the maximum is unique.
pub fn max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    if crate::device::fused(x) {
        return x.apply_op1(MaxPool2d { k });
    }
    let (n, c, h, w) = x.dims4()?;
    if k == 0 || h < k || w < k {
        bail!(
            "max-pool {k}x{k}: input {:?} must be [n, c, h, w] with h, w >= {k}",
            x.dims()
        );
    }
    let (oh, ow) = (h / k, w / k);
    let win = x
        .narrow(2, 0, oh * k)?
        .narrow(3, 0, ow * k)?
        .reshape((n, c, oh, k, ow, k))?
        .permute((0, 1, 2, 4, 3, 5))?
        .reshape((n, c, oh, ow, k * k))?;
    let ties = win.broadcast_eq(&win.max_keepdim(4)?)?.to_dtype(x.dtype())?;
    // The first of the tied maxima: where the running count of ties reaches 1.
    let first = ties.mul(&ties.cumsum(4)?.eq(1.0)?.to_dtype(x.dtype())?)?.detach();
    win.mul(&first)?.sum(4)
}
