//! Keras `MaxPooling2D((k, k))` (stride k, 'valid': a trailing row or column that
//! does not fill a window is dropped) as a candle custom op on NCHW tensors.
//!
//! The backward pass sends each window's gradient to one element, the first maximum
//! in row-major order within the window, as TensorFlow's `MaxPoolGrad` does (candle's
//! own backward splits it among tied maxima and builds it from five tensor ops).

use candle_core::{bail, Layout, Result, Shape, Tensor};

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

/// The choice [`argmax`] makes in a 2 x 2 window `[a, b; c, d]`, as selects rather
/// than branches (so that a row of windows vectorises): which of the four, and the
/// maximum.
#[inline]
pub(super) fn first_max4(a: f32, b: f32, c: f32, d: f32) -> (u8, f32) {
    let (mut i, mut m) = (0u8, a);
    (i, m) = if b > m { (1, b) } else { (i, m) };
    (i, m) = if c > m { (2, c) } else { (i, m) };
    if d > m {
        (3, d)
    } else {
        (i, m)
    }
}

/// 2 x 2 windows (every article's `MaxPooling2D`), one output row from two input rows.
fn pool2_row(r0: &[f32], r1: &[f32], out: &mut [f32]) {
    for (o, (p, q)) in out.iter_mut().zip(r0.chunks_exact(2).zip(r1.chunks_exact(2))) {
        *o = first_max4(p[0], p[1], q[0], q[1]).1;
    }
}

/// The gradient of [`pool2_row`]: each window's `g` at its first maximum, 0 elsewhere.
fn pool2_grad_row(r0: &[f32], r1: &[f32], g: &[f32], d0: &mut [f32], d1: &mut [f32]) {
    let windows = d0.chunks_exact_mut(2).zip(d1.chunks_exact_mut(2));
    for ((&g, (p, q)), (e, f)) in g.iter().zip(r0.chunks_exact(2).zip(r1.chunks_exact(2))).zip(windows) {
        let i = first_max4(p[0], p[1], q[0], q[1]).0;
        e[0] = if i == 0 { g } else { 0.0 };
        e[1] = if i == 1 { g } else { 0.0 };
        f[0] = if i == 2 { g } else { 0.0 };
        f[1] = if i == 3 { g } else { 0.0 };
    }
}

cpu_op!(CustomOp1 for MaxPool2d, "ganlab-max-pool2d", Elementwise, bwd: grad);

impl MaxPool2d {
    fn fwd(&self, (x, l): In) -> Result<(Vec<f32>, Shape)> {
        let (planes, h, w, oh, ow) = dims(l, self.k)?;
        let mut y = vec![0f32; planes * oh * ow];
        let k = self.k;
        crate::runtime::for_each_chunk(&mut y, oh * ow, |p, yp| {
            let xp = &x[p * h * w..][..h * w];
            if k == 2 {
                for (oy, out) in yp.chunks_exact_mut(ow).enumerate() {
                    let (r0, r1) = (&xp[2 * oy * w..][..2 * ow], &xp[(2 * oy + 1) * w..][..2 * ow]);
                    pool2_row(r0, r1, out);
                }
                return;
            }
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
        crate::runtime::for_each_chunk(&mut dx, h * w, |p, dp| {
            let (xp, gp) = (&x[p * h * w..][..h * w], &g[p * oh * ow..][..oh * ow]);
            if k == 2 {
                // Rows and columns past the last window (odd sides) keep their zeros.
                for oy in 0..oh {
                    let (r0, r1) = (&xp[2 * oy * w..][..2 * ow], &xp[(2 * oy + 1) * w..][..2 * ow]);
                    let (top, bottom) = dp[2 * oy * w..].split_at_mut(w);
                    let g = &gp[oy * ow..(oy + 1) * ow];
                    pool2_grad_row(r0, r1, g, &mut top[..2 * ow], &mut bottom[..2 * ow]);
                }
                return;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The 2 x 2 path equals the general one ([`argmax`]) bit for bit, forward and
    /// backward, on ties (values from a set of five, signed zeros included) and odd
    /// sides whose last row and column no window covers.
    #[test]
    fn the_2x2_path_is_the_general_one() {
        let (n, c, h, w) = (2, 3, 7, 9);
        let set = [0.0f32, -0.0, 0.5, -1.0, 0.5];
        let x: Vec<f32> = (0..n * c * h * w).map(|i| set[(i * 7 + i / 5) % 5]).collect();
        let g: Vec<f32> = (0..n * c * (h / 2) * (w / 2)).map(|i| i as f32 + 1.0).collect();
        let xt = Var::from_vec(x.clone(), (n, c, h, w), &Device::Cpu).unwrap();
        let y = xt.apply_op1(MaxPool2d { k: 2 }).unwrap();
        let gt = Tensor::from_vec(g.clone(), y.shape(), &Device::Cpu).unwrap();
        let dx = y.mul(&gt).unwrap().sum_all().unwrap().backward().unwrap();
        let (y, dx) = (
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            dx.get(&xt).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        let (oh, ow) = (h / 2, w / 2);
        let mut want_dx = vec![0f32; x.len()];
        for p in 0..n * c {
            let plane = &x[p * h * w..(p + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let a = argmax(plane, w, 2, oy, ox);
                    let o = p * oh * ow + oy * ow + ox;
                    assert_eq!(y[o].to_bits(), plane[a].to_bits(), "value at {o}");
                    want_dx[p * h * w + a] = g[o];
                }
            }
        }
        assert_eq!(dx, want_dx);
    }
}
