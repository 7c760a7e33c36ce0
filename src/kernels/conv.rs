//! 2-d convolution and transposed convolution (NCHW) as candle custom ops, through
//! im2col / col2im and `gemm`, with explicit padding on each side so that Keras's
//! `padding='same'` (TensorFlow's rule: the extra pixel goes after) is exact.
//!
//! candle's CPU conv-transpose and convolution backward passes are naive loops;
//! these ops compute forward, input gradient and weight gradient with one GEMM per
//! image each, images in parallel.

use candle_core::{bail, Layout, Result, Shape, Tensor};

use super::{grad_for, host_slice, Args3, Grads3, HostSlice, In};

/// Padding of one spatial axis: before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pad {
    pub before: usize,
    pub after: usize,
}

/// Keras/TensorFlow padding rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding.
    Valid,
    /// Output size `ceil(in / stride)`; total pad `max((out - 1) * stride + k - in, 0)`,
    /// `total / 2` before and the rest after.
    Same,
    /// The same pad on both spatial axes, as given (burn's `PaddingConfig2d::Explicit`):
    /// the parity tests' mutations pad where TensorFlow does not.
    Explicit(Pad),
}

impl Padding {
    /// The pad of one axis of size `input` for kernel `k` and `stride`.
    pub fn pad(self, input: usize, k: usize, stride: usize) -> Pad {
        match self {
            Padding::Valid => Pad { before: 0, after: 0 },
            Padding::Explicit(p) => p,
            Padding::Same => {
                let out = input.div_ceil(stride);
                let total = ((out - 1) * stride + k).saturating_sub(input);
                Pad {
                    before: total / 2,
                    after: total - total / 2,
                }
            }
        }
    }
}

/// The activation a convolution op applies to its output (after the bias), so that
/// the pre-activation tensor is never materialised: one pass and one backprop node
/// fewer per layer. Same arithmetic as the separate ops (`super::elementwise`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Identity,
    /// `x` if `x > 0` else `slope * x` (`slope = 0`: ReLU).
    LeakyRelu(f32),
    Tanh,
}

impl Act {
    /// The activation in place, on one thread (inside a per-image parallel loop).
    pub(crate) fn apply(self, y: &mut [f32]) {
        match self {
            Act::Identity => {}
            Act::LeakyRelu(a) => y.iter_mut().for_each(|v| *v = super::elementwise::leaky(*v, a)),
            Act::Tanh => y.iter_mut().for_each(|v| *v = super::fast_tanh(*v)),
        }
    }

    /// The gradient at the pre-activation from the op's output `y` and the gradient
    /// `g` at it (`y > 0` iff the pre-activation is, for every slope >= 0), into a new
    /// buffer in one parallel pass (`g` is borrowed: no copy of it first).
    fn grad(self, y: &[f32], g: &[f32]) -> Vec<f32> {
        let mut out = crate::runtime::zeros(g.len());
        crate::runtime::for_each_chunk(&mut out, 1 << 14, move |i, out| {
            self.grad_into(&y[i << 14..], &g[i << 14..], out)
        });
        out
    }

    /// [`Act::grad`] of the first `out.len()` elements on one thread (one image, inside
    /// a per-image loop).
    fn grad_into(self, y: &[f32], g: &[f32], out: &mut [f32]) {
        match self {
            Act::Identity => out.copy_from_slice(&g[..out.len()]),
            Act::LeakyRelu(a) => out
                .iter_mut()
                .zip(g.iter().zip(y))
                .for_each(|(o, (&g, &y))| *o = super::elementwise::leaky_grad(y, g, a)),
            Act::Tanh => out
                .iter_mut()
                .zip(g.iter().zip(y))
                .for_each(|(o, (&g, &y))| *o = g * (1.0 - y * y)),
        }
    }

    /// The same activation through candle's ops (devices without these kernels).
    pub fn candle(self, x: Tensor) -> Result<Tensor> {
        match self {
            Act::Identity => Ok(x),
            Act::LeakyRelu(a) => leaky_relu_portable(&x, a as f64),
            Act::Tanh => x.tanh(),
        }
    }
}

/// LeakyReLU from candle's ops with TensorFlow's gradient: 1 where `x > 0`, `slope`
/// elsewhere, 0 included. (candle-nn's `leaky_relu`, `max(x, 0) + slope min(x, 0)`,
/// has gradient `1 + slope` at exactly 0, which MNIST's flat background hits.)
pub(crate) fn leaky_relu_portable(x: &Tensor, slope: f64) -> Result<Tensor> {
    let s = x.gt(0.0)?.to_dtype(x.dtype())?.affine(1.0 - slope, slope)?.detach();
    x.mul(&s)
}

/// `gy` at the op's pre-activation: the incoming gradient through `act`.
pub(crate) fn pre_act_grad<'a>(act: Act, res: &Tensor, grad: &'a Tensor) -> Result<HostSlice<'a>> {
    let g = host_slice(grad)?;
    if act == Act::Identity {
        return Ok(g);
    }
    Ok(HostSlice::Owned(act.grad(&host_slice(res)?, &g)))
}

/// What a convolution op does to each image's output as soon as its GEMM has written
/// it, while it is still in cache: add the bias of each channel, then apply the
/// activation (the same arithmetic as two passes over the whole batch afterwards).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epilogue<'a> {
    pub bias: &'a [f32],
    pub act: Act,
}

impl Epilogue<'_> {
    /// On one image's `[channels, pixels]` output.
    pub(crate) fn apply(&self, yn: &mut [f32]) {
        let plane = yn.len() / self.bias.len();
        for (co, chunk) in yn.chunks_mut(plane).enumerate() {
            self.apply_channel(co, chunk);
        }
    }
    /// On values of output channel `co` only.
    pub(crate) fn apply_channel(&self, co: usize, values: &mut [f32]) {
        let b = self.bias[co];
        values.iter_mut().for_each(|y| *y += b);
        self.act.apply(values);
    }
}

/// Apply `epi`, if any, to one image's output.
fn finish(epi: Option<&Epilogue>, yn: &mut [f32]) {
    if let Some(e) = epi {
        e.apply(yn)
    }
}

/// The geometry of a convolution of a `[c, h, w]` image with `kh x kw` kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub ph: Pad,
    pub pw: Pad,
}

impl Geom {
    pub fn out_h(&self) -> usize {
        (self.h + self.ph.before + self.ph.after - self.kh) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + self.pw.before + self.pw.after - self.kw) / self.stride + 1
    }
    pub(super) fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
    pub(super) fn cols(&self) -> usize {
        self.out_h() * self.out_w()
    }
}

/// For kernel offset `k` along an axis: the output positions `lo..hi` whose input
/// position `o * stride + k - pad` falls inside `[0, size)`.
#[inline]
fn valid_range(out: usize, size: usize, stride: usize, k: usize, pad: usize) -> (usize, usize) {
    // o * stride + k >= pad  and  o * stride + k - pad < size
    let lo = if k >= pad { 0 } else { (pad - k).div_ceil(stride) };
    let hi = if size + pad > k {
        ((size + pad - k - 1) / stride + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// `[c, h, w]` -> `[c*kh*kw, oh*ow]`.
fn im2col(x: &[f32], g: &Geom, out: &mut [f32]) {
    if g.stride == 2 {
        im2col_stride2(x, g, out)
    } else {
        im2col_any(x, g, out)
    }
}

/// [`im2col`] of a stride-2 convolution (dcgan's and ACGAN's layers, every transposed
/// convolution's backward pass): each input row split once into its even and odd
/// columns, so that every row of the column matrix is a contiguous copy from one of
/// the halves instead of a gather of every second value. The same values.
fn im2col_stride2(x: &[f32], g: &Geom, out: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let half = g.w.div_ceil(2); // the even half's width; the odd half has w / 2
    let mut split = vec![0f32; 2 * g.h * half]; // [parity][row][half]
    for c in 0..g.c {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        let (even, odd) = split.split_at_mut(g.h * half);
        for (y, row) in plane.chunks_exact(g.w).enumerate() {
            let (e, o) = (&mut even[y * half..][..half], &mut odd[y * half..][..half]);
            for (j, pair) in row.chunks(2).enumerate() {
                e[j] = pair[0];
                if let Some(&v) = pair.get(1) {
                    o[j] = v;
                }
            }
        }
        for ki in 0..g.kh {
            let (y_lo, y_hi) = valid_range(oh, g.h, 2, ki, g.ph.before);
            for kj in 0..g.kw {
                let (x_lo, x_hi) = valid_range(ow, g.w, 2, kj, g.pw.before);
                let row = &mut out[((c * g.kh + ki) * g.kw + kj) * oh * ow..][..oh * ow];
                // Input column 2 * ox + t = 2 * (ox + t div 2) + t mod 2.
                let t = kj as isize - g.pw.before as isize;
                let src_half = &split[t.rem_euclid(2) as usize * g.h * half..][..g.h * half];
                let shift = t.div_euclid(2);
                for oy in 0..oh {
                    let dst = &mut row[oy * ow..(oy + 1) * ow];
                    if oy < y_lo || oy >= y_hi || x_hi <= x_lo {
                        dst.fill(0.0);
                        continue;
                    }
                    let y = oy * 2 + ki - g.ph.before;
                    let from = (y * half) as isize + x_lo as isize + shift;
                    dst[..x_lo].fill(0.0);
                    dst[x_hi..].fill(0.0);
                    dst[x_lo..x_hi].copy_from_slice(&src_half[from as usize..][..x_hi - x_lo]);
                }
            }
        }
    }
}

/// [`im2col`] for any stride.
fn im2col_any(x: &[f32], g: &Geom, out: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for c in 0..g.c {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            let (y_lo, y_hi) = valid_range(oh, g.h, g.stride, ki, g.ph.before);
            for kj in 0..g.kw {
                let (x_lo, x_hi) = valid_range(ow, g.w, g.stride, kj, g.pw.before);
                let row = &mut out[((c * g.kh + ki) * g.kw + kj) * oh * ow..][..oh * ow];
                for oy in 0..oh {
                    let dst = &mut row[oy * ow..(oy + 1) * ow];
                    if oy < y_lo || oy >= y_hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let y = oy * g.stride + ki - g.ph.before;
                    let src = &plane[y * g.w..(y + 1) * g.w];
                    dst[..x_lo].fill(0.0);
                    dst[x_hi..].fill(0.0);
                    if x_hi <= x_lo {
                        continue;
                    }
                    let x0 = x_lo * g.stride + kj - g.pw.before;
                    if g.stride == 1 {
                        dst[x_lo..x_hi].copy_from_slice(&src[x0..x0 + (x_hi - x_lo)]);
                    } else {
                        for (i, d) in dst[x_lo..x_hi].iter_mut().enumerate() {
                            *d = src[x0 + i * g.stride];
                        }
                    }
                }
            }
        }
    }
}

/// Adjoint of [`im2col`]: accumulate `[c*kh*kw, oh*ow]` into `[c, h, w]` (zeroed first).
fn col2im(cols: &[f32], g: &Geom, x: &mut [f32]) {
    x.fill(0.0);
    let (oh, ow) = (g.out_h(), g.out_w());
    for c in 0..g.c {
        let plane = &mut x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            let (y_lo, y_hi) = valid_range(oh, g.h, g.stride, ki, g.ph.before);
            for kj in 0..g.kw {
                let (x_lo, x_hi) = valid_range(ow, g.w, g.stride, kj, g.pw.before);
                let row = &cols[((c * g.kh + ki) * g.kw + kj) * oh * ow..][..oh * ow];
                if x_hi <= x_lo {
                    continue;
                }
                let x0 = x_lo * g.stride + kj - g.pw.before;
                for oy in y_lo..y_hi {
                    let y = oy * g.stride + ki - g.ph.before;
                    let dst = &mut plane[y * g.w..(y + 1) * g.w];
                    let src = &row[oy * ow + x_lo..oy * ow + x_hi];
                    if g.stride == 1 {
                        for (d, &v) in dst[x0..x0 + src.len()].iter_mut().zip(src) {
                            *d += v;
                        }
                    } else {
                        for (i, &v) in src.iter().enumerate() {
                            dst[x0 + i * g.stride] += v;
                        }
                    }
                }
            }
        }
    }
}

/// Single-threaded GEMM (images run in parallel), see [`super::dense::gemm_rm`].
#[allow(clippy::too_many_arguments)]
fn gemm1(dst: &mut [f32], acc: bool, lhs: &[f32], lhs_t: bool, rhs: &[f32], rhs_t: bool, m: usize, n: usize, k: usize) {
    super::dense::gemm_rm(dst, acc, lhs, lhs_t, rhs, rhs_t, (m, n, k), false)
}

/// `src [r, c]` -> `dst [c, r]`, in 16 x 16 tiles (one thread).
fn transpose_into(src: &[f32], r: usize, c: usize, dst: &mut [f32]) {
    const B: usize = 16;
    for r0 in (0..r).step_by(B) {
        for c0 in (0..c).step_by(B) {
            for i in r0..(r0 + B).min(r) {
                for j in c0..(c0 + B).min(c) {
                    dst[j * r + i] = src[i * c + j];
                }
            }
        }
    }
}

/// Sum per-chunk partial results in a fixed order (deterministic for a thread count):
/// each element is `((0 + p_0) + p_1) + ...`, the segments of the result in parallel.
fn reduce_chunks(parts: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    const SEG: usize = 1 << 14;
    let mut acc = vec![0f32; len];
    crate::runtime::for_each_chunk(&mut acc, SEG, |i, seg| {
        for p in &parts {
            for (a, v) in seg.iter_mut().zip(&p[i * SEG..]) {
                *a += v;
            }
        }
    });
    acc
}

/// Images per piece of a backward pass's image loop: `n` images whose convolution has
/// `cols` output pixels each. Each piece sums its images' weight gradients into its own
/// buffer, reduced in piece order after. One piece per thread fixes each thread's share,
/// and where other work takes part of a core the step waits for the slowed thread; 4 or
/// 2 pieces per thread let the loop's threads take pieces in turn (a slowed thread
/// takes fewer), as long as a piece keeps at least [`PIECE_PIXELS`] output pixels, so
/// that its buffer and the reduction stay small beside its products.
pub(super) fn chunk_len(n: usize, cols: usize) -> usize {
    piece_len(n, cols, candle_core::utils::get_num_threads().max(1))
}

/// [`chunk_len`] for `threads` threads.
fn piece_len(n: usize, cols: usize, threads: usize) -> usize {
    [4, 2, 1]
        .into_iter()
        .map(|k| n.div_ceil(k * threads).max(1))
        .find(|per| per * cols >= PIECE_PIXELS)
        .unwrap_or_else(|| n.div_ceil(threads).max(1))
}

/// The fewest output pixels in a piece of a backward pass's image loop ([`chunk_len`]).
/// Measured (Intel Xeon 6/167, 2 threads, `benches/ab.sh` ABBA over 4 rounds against
/// one piece a thread): 4 pieces a thread throughout ran tanh_cnn_sgd and dcgan 0.92
/// and 0.96 of the time beside a busy core (`yes`), but idle ACGAN 1.02-1.04 (its 7 x 7
/// layers: 637 pixels a piece) and tanh_cnn_sgd up to 1.05 (each piece allocating its
/// own scratch). With this floor, per-thread scratch and the pieces' sums reduced in
/// parallel: beside a busy core tanh_cnn_sgd 0.937, dcgan 0.971, ACGAN 0.994; idle
/// 0.984, 1.015, 1.004 (`benches/results/piecesrule3-ab-*-2026-12-05-intel.jsonl`).
const PIECE_PIXELS: usize = 2048;

pub(crate) fn dims4(l: &Layout, what: &str) -> Result<[usize; 4]> {
    match l.dims() {
        &[a, b, c, d] => Ok([a, b, c, d]),
        d => bail!("conv: {what} must be 4-d, got {d:?}"),
    }
}

/// Few output channels and stride 1 (the 1-channel output convolutions of the
/// generators): instead of an im2col matrix `c*kh*kw` rows tall for one output row,
/// multiply per kernel tap (`Z = W_tap X`, one GEMM over all channels) and add the
/// shifted tap planes ("kn2row").
fn direct(o: usize, g: &Geom) -> bool {
    kn2row(o, g.stride)
}

/// [`direct`]'s rule from the output channels and the stride.
pub(super) fn kn2row(o: usize, stride: usize) -> bool {
    o <= 4 && stride == 1
}

/// `w [o, c, taps]` -> `[o*taps, c]` (`tap_major = true`) or `[c, o*taps]`.
fn regroup(w: &[f32], o: usize, c: usize, taps: usize, tap_major: bool) -> Vec<f32> {
    let mut out = vec![0f32; w.len()];
    for oc in 0..o {
        for ci in 0..c {
            for t in 0..taps {
                let v = w[(oc * c + ci) * taps + t];
                if tap_major {
                    out[(oc * taps + t) * c + ci] = v;
                } else {
                    out[ci * o * taps + oc * taps + t] = v;
                }
            }
        }
    }
    out
}

/// For every output channel and tap: `f(plane_index, out_row, in_row, x_lo, x_hi, x0)`
/// over the valid rows, `plane_index = oc * taps + tap`.
fn for_tap_rows(o: usize, g: &Geom, mut f: impl FnMut(usize, usize, usize, usize, usize, usize)) {
    let (oh, ow) = (g.out_h(), g.out_w());
    for oc in 0..o {
        for ki in 0..g.kh {
            let (y_lo, y_hi) = valid_range(oh, g.h, 1, ki, g.ph.before);
            for kj in 0..g.kw {
                let (x_lo, x_hi) = valid_range(ow, g.w, 1, kj, g.pw.before);
                if x_hi <= x_lo {
                    continue;
                }
                let x0 = x_lo + kj - g.pw.before;
                let t = oc * g.kh * g.kw + ki * g.kw + kj;
                for oy in y_lo..y_hi {
                    f(t, oy, oy + ki - g.ph.before, x_lo, x_hi, x0);
                }
            }
        }
    }
}

fn direct_fwd(xn: &[f32], wt: &[f32], o: usize, g: &Geom, yn: &mut [f32], z: &mut Vec<f32>) {
    let (taps, hw, ow) = (g.kh * g.kw, g.h * g.w, g.out_w());
    z.resize(o * taps * hw, 0.0);
    gemm1(z, false, wt, false, xn, false, o * taps, hw, g.c); // [o*taps, h*w]
    yn.fill(0.0);
    let plane = g.out_h() * ow;
    for_tap_rows(o, g, |t, oy, yy, x_lo, x_hi, x0| {
        let oc = t / taps;
        let src = &z[t * hw + yy * g.w + x0..][..x_hi - x_lo];
        for (d, &v) in yn[oc * plane + oy * ow + x_lo..oc * plane + oy * ow + x_hi]
            .iter_mut()
            .zip(src)
        {
            *d += v;
        }
    });
}

/// The shifted copies of `yn` per tap: `[o*taps, h*w]`.
fn tap_planes(yn: &[f32], o: usize, g: &Geom, s: &mut Vec<f32>) {
    let (taps, hw, ow) = (g.kh * g.kw, g.h * g.w, g.out_w());
    s.clear();
    s.resize(o * taps * hw, 0.0);
    let plane = g.out_h() * ow;
    for_tap_rows(o, g, |t, oy, yy, x_lo, x_hi, x0| {
        let oc = t / taps;
        s[t * hw + yy * g.w + x0..][..x_hi - x_lo]
            .copy_from_slice(&yn[oc * plane + oy * ow + x_lo..oc * plane + oy * ow + x_hi]);
    });
}

fn direct_adjoint(yn: &[f32], wc: &[f32], o: usize, g: &Geom, xn: &mut [f32], s: &mut Vec<f32>) {
    tap_planes(yn, o, g, s);
    gemm1(xn, false, wc, false, s, false, g.c, g.h * g.w, o * g.kh * g.kw); // [c, h*w]
}

fn direct_weight_grad(xn: &[f32], yn: &[f32], o: usize, g: &Geom, acc: &mut [f32], s: &mut Vec<f32>) {
    tap_planes(yn, o, g, s);
    // acc [c, o*taps] += x [c, hw] @ S^T [hw, o*taps] (c, a multiple of 16, as the GEMM's rows)
    gemm1(acc, true, xn, false, s, true, g.c, o * g.kh * g.kw, g.h * g.w);
}

// Which way round the convolution GEMMs run, measured per layer shape of the five
// articles (min of 9 calls each, interleaved with the other orientation, AMD EPYC):
// - forward `y_n = W cols(x_n)`, or `y_n^T = cols(x_n)^T W^T` and a transpose: the
//   latter takes 0.86-0.93 of the time on dcgan's 128 -> 128 4x4 phases (2,048 x 128),
//   0.97-1.03 on tanh_cnn's and ACGAN's layers and 2.3-2.7 times as long on the
//   1-channel input layers (9-25 x 32-64): `tall_fwd`;
// - weight gradient `sum_n y_n cols(x_n)^T`, or its transpose `sum_n cols(x_n) y_n^T`
//   with the tall `cols(x_n)` on the left: 0.78-0.94 from 288 rows up, 1.3-1.5 times as
//   long for the 1-channel input layers: `tall_wgrad`;
// - input gradient `col2im(W^T y_n)` with `W^T` stored rather than read transposed:
//   0.80-0.93 on the large layers (ACGAN's 4x128 phases 0.80), the rest within noise.

/// Forward as `cols(x_n)^T W^T`: a long reduction into few output channels.
fn tall_fwd(rows: usize, o: usize) -> bool {
    rows >= 1024 && rows >= 8 * o
}

/// Weight gradient summed as its transpose.
fn tall_wgrad(rows: usize) -> bool {
    rows >= 128
}

/// The shared kernels: `y = W cols(x)` (a convolution) and its adjoint
/// `x = col2im(W^T y)` (a transposed convolution), both over `n` images.
/// `w` is `[o, c*kh*kw]`; `g` is the geometry of the convolution on `x`.
pub(crate) fn conv_fwd(x: &[f32], w: &[f32], n: usize, o: usize, g: &Geom, epi: Option<&Epilogue>) -> Vec<f32> {
    let cols = g.cols();
    let in_len = g.c * g.h * g.w;
    let mut y = crate::runtime::zeros(n * o * cols);
    if direct(o, g) {
        let wt = regroup(w, o, g.c, g.kh * g.kw, true);
        crate::runtime::for_each_chunk_init(&mut y, o * cols, Vec::new, |z, i, yn| {
            direct_fwd(&x[i * in_len..][..in_len], &wt, o, g, yn, z);
            finish(epi, yn);
        });
        return y;
    }
    let wt = fwd_weights(w, o, g);
    crate::runtime::for_each_chunk_init(
        &mut y,
        o * cols,
        || (Vec::new(), Vec::new()),
        |(buf, yt), i, yn| conv_fwd_image(&x[i * in_len..][..in_len], w, wt.as_deref(), o, g, buf, yt, yn, epi),
    );
    y
}

/// `W^T` where the forward runs as `cols(x_n)^T W^T` ([`tall_fwd`]).
pub(super) fn fwd_weights(w: &[f32], o: usize, g: &Geom) -> Option<Vec<f32>> {
    tall_fwd(g.rows(), o).then(|| super::dense::transpose(w, o, g.rows()))
}

/// One image of [`conv_fwd`] off the kn2row path: `yn = W cols(x_n)`, then `epi`
/// (`wt` from [`fwd_weights`]; `buf` and `yt` are scratch).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_fwd_image(
    xn: &[f32],
    w: &[f32],
    wt: Option<&[f32]>,
    o: usize,
    g: &Geom,
    buf: &mut Vec<f32>,
    yt: &mut Vec<f32>,
    yn: &mut [f32],
    epi: Option<&Epilogue>,
) {
    buf.resize(g.rows() * g.cols(), 0.0);
    im2col(xn, g, buf);
    fwd_gemm(buf, w, wt, yt, yn, o, g.cols());
    finish(epi, yn);
}

/// One image's `y_n = W cols(x_n)` from its `cols(x_n)` in `buf` (through `W^T`, `wt`,
/// where [`tall_fwd`]; `yt` is scratch).
fn fwd_gemm(buf: &[f32], w: &[f32], wt: Option<&[f32]>, yt: &mut Vec<f32>, yn: &mut [f32], o: usize, cols: usize) {
    let rows = buf.len() / cols;
    match wt {
        None => gemm1(yn, false, w, false, buf, false, o, cols, rows),
        Some(wt) => {
            yt.resize(cols * o, 0.0);
            gemm1(yt, false, buf, true, wt, false, cols, o, rows); // [cols, o]
            transpose_into(yt, cols, o, yn);
        }
    }
}

/// `acc += y_n cols(x_n)^T` from `cols(x_n)` in `buf`: `acc` is `[rows, o]` where
/// [`tall_wgrad`], else `[o, rows]` ([`finish_wgrad`] puts it right).
fn wgrad_gemm(buf: &[f32], yn: &[f32], acc: &mut [f32], o: usize, cols: usize) {
    let rows = buf.len() / cols;
    if tall_wgrad(rows) {
        gemm1(acc, true, buf, false, yn, true, rows, o, cols);
    } else {
        gemm1(acc, true, yn, false, buf, true, o, rows, cols);
    }
}

/// The per-chunk sums of [`wgrad_gemm`] -> `dW [o, rows]`.
pub(super) fn finish_wgrad(parts: Vec<Vec<f32>>, o: usize, rows: usize) -> Vec<f32> {
    let dw = reduce_chunks(parts, o * rows);
    if tall_wgrad(rows) {
        super::dense::transpose(&dw, rows, o)
    } else {
        dw
    }
}

/// [`conv_fwd`]`(x, w)` and [`conv_weight_grad`]`(x, y)` at once, with one im2col of
/// each `x_n` for both: a transposed convolution's backward pass, whose input and
/// weight gradients both read `cols(dy_n)` (dcgan's 4x4 phases). The same sums in the
/// same order as the two calls.
///
/// With `pre = Some((act, res))`, `x` is the gradient at the op's output and each image
/// is first taken through the activation's gradient ([`Act::grad`] on `res`) in a
/// per-thread buffer, while it is in cache, instead of in a pass over the whole batch
/// before. The third result is each channel's sum of the (pre-activation) `x`, in
/// [`channel_sum`]'s order (the bias gradient).
pub(crate) fn conv_fwd_and_weight_grad(
    x: &[f32],
    pre: Option<(Act, &[f32])>,
    w: &[f32],
    y: &[f32],
    n: usize,
    o: usize,
    g: &Geom,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (rows, cols) = (g.rows(), g.cols());
    let (in_len, plane) = (g.c * g.h * g.w, g.h * g.w);
    if direct(o, g) {
        let owned = pre.map(|(act, res)| act.grad(res, x));
        let x = owned.as_deref().unwrap_or(x);
        let sums = channel_sum(x, n, g.c, plane);
        return (conv_fwd(x, w, n, o, g, None), conv_weight_grad(x, y, n, o, g), sums);
    }
    let per = chunk_len(n, cols);
    let wt = fwd_weights(w, o, g);
    let mut out = crate::runtime::zeros(n * o * cols);
    let mut parts: Vec<(Vec<f32>, Vec<f32>)> = vec![Default::default(); n.div_ceil(per)];
    // Per thread: the column matrix, the transposed product and the image's gradient
    // through the activation (scratch); per piece: its weight gradient and channel sums.
    let scratch = || (vec![0f32; rows * cols], Vec::new(), Vec::new());
    crate::runtime::for_each_chunk2_init(
        &mut out,
        per * o * cols,
        &mut parts,
        1,
        scratch,
        |(buf, yt, xn_buf), t, out, part| {
            let (mut acc, mut sums) = (vec![0f32; o * rows], Vec::new());
            for (j, i) in (t * per..((t + 1) * per).min(n)).enumerate() {
                let mut xn = &x[i * in_len..(i + 1) * in_len];
                if let Some((act, res)) = pre {
                    xn_buf.resize(in_len, 0.0);
                    act.grad_into(&res[i * in_len..], xn, xn_buf);
                    xn = xn_buf;
                }
                sums.extend(xn.chunks_exact(plane).map(|p| p.iter().sum::<f32>()));
                im2col(xn, g, buf);
                let yn = &mut out[j * o * cols..(j + 1) * o * cols];
                fwd_gemm(buf, w, wt.as_deref(), yt, yn, o, cols);
                wgrad_gemm(buf, &y[i * o * cols..(i + 1) * o * cols], &mut acc, o, cols);
            }
            part[0] = (acc, sums);
        },
    );
    let db = sum_image_sums(parts.iter().map(|(_, sums)| &sums[..]), g.c);
    (
        out,
        finish_wgrad(parts.into_iter().map(|(acc, _)| acc).collect(), o, rows),
        db,
    )
}

pub(crate) fn conv_adjoint(y: &[f32], w: &[f32], n: usize, o: usize, g: &Geom, epi: Option<&Epilogue>) -> Vec<f32> {
    let (rows, cols) = (g.rows(), g.cols());
    let in_len = g.c * g.h * g.w;
    let mut x = crate::runtime::zeros(n * in_len);
    if direct(o, g) {
        let wc = regroup(w, o, g.c, g.kh * g.kw, false);
        crate::runtime::for_each_chunk_init(&mut x, in_len, Vec::new, |s, i, xn| {
            direct_adjoint(&y[i * o * cols..][..o * cols], &wc, o, g, xn, s);
            finish(epi, xn);
        });
        return x;
    }
    // W^T stored rather than read transposed (see tall_fwd).
    let wt = super::dense::transpose(w, o, rows);
    crate::runtime::for_each_chunk_init(&mut x, in_len, Vec::new, |buf, i, xn| {
        adjoint_image(&y[i * o * cols..][..o * cols], &wt, o, g, buf, xn);
        finish(epi, xn);
    });
    x
}

/// One image of [`conv_adjoint`] off the kn2row path: `x_n = col2im(W^T y_n)` (`wt`
/// is `W^T [c*kh*kw, o]`; `buf` is scratch).
pub(super) fn adjoint_image(yn: &[f32], wt: &[f32], o: usize, g: &Geom, buf: &mut Vec<f32>, xn: &mut [f32]) {
    let (rows, cols) = (g.rows(), g.cols());
    buf.resize(rows * cols, 0.0);
    gemm1(buf, false, wt, false, yn, false, rows, cols, o);
    col2im(buf, g, xn);
}

/// One image of [`conv_weight_grad`] off the kn2row path: `acc += y_n cols(x_n)^T`
/// (`buf` is scratch; [`finish_wgrad`] turns the per-chunk sums into `dW`).
pub(super) fn wgrad_image(xn: &[f32], yn: &[f32], o: usize, g: &Geom, buf: &mut Vec<f32>, acc: &mut [f32]) {
    buf.resize(g.rows() * g.cols(), 0.0);
    im2col(xn, g, buf);
    wgrad_gemm(buf, yn, acc, o, g.cols());
}

/// `dW[o, rows] = sum_n y_n[o, cols] @ cols(x_n)^T` (summed as its transpose where
/// [`tall_wgrad`]).
pub(crate) fn conv_weight_grad(x: &[f32], y: &[f32], n: usize, o: usize, g: &Geom) -> Vec<f32> {
    let per = chunk_len(n, g.cols());
    let mut parts: Vec<Vec<f32>> = vec![Vec::new(); n.div_ceil(per)];
    // Per thread: the column matrix (or kn2row's tap planes), scratch; per piece its sum.
    crate::runtime::for_each_chunk_init(&mut parts, 1, Vec::new, |buf, t, part| {
        part[0] = wgrad_piece(x, y, t * per..((t + 1) * per).min(n), o, g, buf);
    });
    if direct(o, g) {
        // [c, o*taps] -> [o, c, taps], once, after the pieces' sum (a permutation: the
        // same values as permuting each piece first).
        let (acc, taps) = (reduce_chunks(parts, o * g.rows()), g.kh * g.kw);
        let mut w = vec![0f32; acc.len()];
        for oc in 0..o {
            for t in 0..taps {
                for ci in 0..g.c {
                    w[(oc * g.c + ci) * taps + t] = acc[ci * o * taps + oc * taps + t];
                }
            }
        }
        w
    } else {
        finish_wgrad(parts, o, g.rows())
    }
}

/// One piece of [`conv_weight_grad`]: the weight gradient summed over `images` (`buf`
/// is scratch), in the layout of its path (kn2row's `[c, o*taps]`, or `wgrad_gemm`'s).
fn wgrad_piece(
    x: &[f32],
    y: &[f32],
    images: std::ops::Range<usize>,
    o: usize,
    g: &Geom,
    buf: &mut Vec<f32>,
) -> Vec<f32> {
    let (rows, cols) = (g.rows(), g.cols());
    let in_len = g.c * g.h * g.w;
    let mut acc = vec![0f32; o * rows];
    for i in images {
        let (xn, yn) = (&x[i * in_len..(i + 1) * in_len], &y[i * o * cols..(i + 1) * o * cols]);
        if direct(o, g) {
            direct_weight_grad(xn, yn, o, g, &mut acc, buf);
        } else {
            wgrad_image(xn, yn, o, g, buf, &mut acc);
        }
    }
    acc
}

/// The bias gradient from per-image channel sums (`[images, c]` per chunk, chunks in
/// image order), added image by image: [`channel_sum`]'s order, bit for bit.
pub(super) fn sum_image_sums<'a>(chunks: impl Iterator<Item = &'a [f32]>, c: usize) -> Vec<f32> {
    let mut db = vec![0f32; c];
    for sums in chunks {
        for image in sums.chunks_exact(c) {
            db.iter_mut().zip(image).for_each(|(d, v)| *d += v);
        }
    }
    db
}

/// Per-channel sum over images and pixels of `[n, o, p]`.
pub(crate) fn channel_sum(y: &[f32], n: usize, o: usize, p: usize) -> Vec<f32> {
    // Channels in parallel (a pass over the whole gradient, which one thread made alone
    // while the other waited); each channel's sum in the same order as before.
    let mut s = vec![0f32; o];
    let per = o.div_ceil(8).max(1);
    crate::runtime::for_each_chunk(&mut s, per, |k, piece| {
        for (j, sc) in piece.iter_mut().enumerate() {
            let c = k * per + j;
            for i in 0..n {
                *sc += y[(i * o + c) * p..(i * o + c + 1) * p].iter().sum::<f32>();
            }
        }
    });
    s
}

/// Keras `Conv2D`: `x [n, c, h, w]`, `w [o, c, kh, kw]`, `b [o]`, then `act`.
#[derive(Clone, Copy, Debug)]
pub struct Conv2d {
    pub stride: usize,
    pub padding: Padding,
    pub act: Act,
}

impl Conv2d {
    pub(super) fn geom(&self, x: [usize; 4], w: [usize; 4]) -> Geom {
        Geom {
            c: x[1],
            h: x[2],
            w: x[3],
            kh: w[2],
            kw: w[3],
            stride: self.stride,
            ph: self.padding.pad(x[2], w[2], self.stride),
            pw: self.padding.pad(x[3], w[3], self.stride),
        }
    }
}

cpu_op!(CustomOp3 for Conv2d, "ganlab-conv2d", Gemm, bwd: grad);

impl Conv2d {
    fn fwd(&self, (x, l1): In, (w, l2): In, (b, l3): In) -> Result<(Vec<f32>, Shape)> {
        let (xd, wd) = (dims4(l1, "x")?, dims4(l2, "w")?);
        if xd[1] != wd[1] || l3.dims() != [wd[0]] {
            bail!("conv2d: x {xd:?}, w {wd:?}, b {:?} do not fit", l3.dims());
        }
        let g = self.geom(xd, wd);
        let y = conv_fwd(x, w, xd[0], wd[0], &g, Some(&Epilogue { bias: b, act: self.act }));
        Ok((y, Shape::from((xd[0], wd[0], g.out_h(), g.out_w()))))
    }
    fn grad(&self, (x, w, b): Args3, res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let (xd, wd) = (dims4(x.layout(), "x")?, dims4(w.layout(), "w")?);
        let g = self.geom(xd, wd);
        let (n, o) = (xd[0], wd[0]);
        let gy = pre_act_grad(self.act, res, grad)?;
        let gx = grad_for(x, || Ok(conv_adjoint(&gy, &host_slice(w)?, n, o, &g, None)))?;
        let gw = grad_for(w, || Ok(conv_weight_grad(&host_slice(x)?, &gy, n, o, &g)))?;
        let gb = grad_for(b, || Ok(channel_sum(&gy, n, o, g.cols())))?;
        super::grads::sink_params((w, b), (gx, gw, gb))
    }
}

/// Keras `Conv2DTranspose`: `x [n, c_in, h, w]`, `w [c_in, c_out, kh, kw]`, `b [c_out]`;
/// output `h * stride` with `padding='same'` (the adjoint of a strided 'same'
/// convolution of the output).
#[derive(Clone, Copy, Debug)]
pub struct ConvTranspose2d {
    pub stride: usize,
    pub padding: Padding,
    pub act: Act,
}

impl ConvTranspose2d {
    /// The geometry of the convolution whose adjoint this is (on the output image).
    fn geom(&self, x: [usize; 4], w: [usize; 4]) -> Result<Geom> {
        let (oh, ow) = match self.padding {
            Padding::Same => (x[2] * self.stride, x[3] * self.stride),
            Padding::Valid => ((x[2] - 1) * self.stride + w[2], (x[3] - 1) * self.stride + w[3]),
            Padding::Explicit(p) => (
                ((x[2] - 1) * self.stride + w[2]).saturating_sub(p.before + p.after),
                ((x[3] - 1) * self.stride + w[3]).saturating_sub(p.before + p.after),
            ),
        };
        let g = Geom {
            c: w[1],
            h: oh,
            w: ow,
            kh: w[2],
            kw: w[3],
            stride: self.stride,
            ph: self.padding.pad(oh, w[2], self.stride),
            pw: self.padding.pad(ow, w[3], self.stride),
        };
        if g.out_h() != x[2] || g.out_w() != x[3] {
            bail!("conv-transpose: input {x:?} does not fit kernel {w:?}");
        }
        Ok(g)
    }
}

cpu_op!(CustomOp3 for ConvTranspose2d, "ganlab-conv-transpose2d", Gemm, bwd: grad);

impl ConvTranspose2d {
    fn fwd(&self, (x, l1): In, (w, l2): In, (b, l3): In) -> Result<(Vec<f32>, Shape)> {
        let (xd, wd) = (dims4(l1, "x")?, dims4(l2, "w")?);
        if xd[1] != wd[0] || l3.dims() != [wd[1]] {
            bail!("conv-transpose2d: x {xd:?}, w {wd:?}, b {:?} do not fit", l3.dims());
        }
        let g = self.geom(xd, wd)?;
        // w as [c_in, c_out*kh*kw] is the "o x rows" matrix of the underlying convolution;
        // the 4x4 stride-2 'same' layers (dcgan) without it, phase by phase.
        let epi = Epilogue { bias: b, act: self.act };
        let y = if super::subpixel::fits(&g) {
            super::subpixel::forward(x, w, xd[0], xd[1], &g, Some(&epi))
        } else {
            conv_adjoint(x, w, xd[0], xd[1], &g, Some(&epi))
        };
        Ok((y, Shape::from((xd[0], wd[1], g.h, g.w))))
    }
    fn grad(&self, (x, w, b): Args3, res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let (xd, wd) = (dims4(x.layout(), "x")?, dims4(w.layout(), "w")?);
        let g = self.geom(xd, wd)?;
        let (n, cin, cout) = (xd[0], xd[1], wd[1]);
        // dx = the convolution of dy; dW[c_in, rows] = sum_n x_n[c_in, pixels] @ cols(dy_n)^T;
        // dy through the activation's gradient image by image, inside the loop.
        if x.track_op() && w.track_op() {
            let (dy, pre) = (host_slice(grad)?, host_slice(res)?);
            let pre = (self.act != Act::Identity).then_some((self.act, &pre[..]));
            let (gx, gw, gb) = conv_fwd_and_weight_grad(&dy, pre, &host_slice(w)?, &host_slice(x)?, n, cin, &g);
            let (gx, gw, gb) = (
                grad_for(x, || Ok(gx))?,
                grad_for(w, || Ok(gw))?,
                grad_for(b, || Ok(gb))?,
            );
            return super::grads::sink_params((w, b), (gx, gw, gb));
        }
        let gy = pre_act_grad(self.act, res, grad)?;
        let gx = grad_for(x, || Ok(conv_fwd(&gy, &host_slice(w)?, n, cin, &g, None)))?;
        let gw = grad_for(w, || Ok(conv_weight_grad(&gy, &host_slice(x)?, n, cin, &g)))?;
        let gb = grad_for(b, || Ok(channel_sum(&gy, n, cout, g.h * g.w)))?;
        super::grads::sink_params((w, b), (gx, gw, gb))
    }
}

/// Convolution through [`Conv2d`] (CPU) or candle's `conv2d` on an explicitly padded input.
pub fn conv2d(x: &Tensor, w: &Tensor, b: &Tensor, stride: usize, padding: Padding) -> Result<Tensor> {
    conv2d_act(x, w, b, stride, padding, Act::Identity)
}

/// [`conv2d`] followed by `act`, fused on the CPU.
pub fn conv2d_act(x: &Tensor, w: &Tensor, b: &Tensor, stride: usize, padding: Padding, act: Act) -> Result<Tensor> {
    if crate::device::fused(x) {
        return x.apply_op3(w, b, Conv2d { stride, padding, act });
    }
    let (h, wd) = (x.dim(2)?, x.dim(3)?);
    let (ph, pw) = (padding.pad(h, w.dim(2)?, stride), padding.pad(wd, w.dim(3)?, stride));
    let xp = x
        .pad_with_zeros(2, ph.before, ph.after)?
        .pad_with_zeros(3, pw.before, pw.after)?;
    act.candle(
        xp.conv2d(w, 0, stride, 1, 1)?
            .broadcast_add(&b.reshape((1, (), 1, 1))?)?,
    )
}

/// Transposed convolution through [`ConvTranspose2d`] (CPU) or candle's (symmetric pads only).
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, b: &Tensor, stride: usize, padding: Padding) -> Result<Tensor> {
    conv_transpose2d_act(x, w, b, stride, padding, Act::Identity)
}

/// [`conv_transpose2d`] followed by `act`, fused on the CPU.
pub fn conv_transpose2d_act(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: usize,
    padding: Padding,
    act: Act,
) -> Result<Tensor> {
    if crate::device::fused(x) {
        return x.apply_op3(w, b, ConvTranspose2d { stride, padding, act });
    }
    let k = w.dim(2)?;
    let p = match padding {
        Padding::Valid => Pad { before: 0, after: 0 },
        Padding::Explicit(p) => p,
        Padding::Same => padding.pad(x.dim(2)? * stride, k, stride),
    };
    if p.before != p.after {
        bail!("conv-transpose with asymmetric padding is implemented for the CPU only");
    }
    act.candle(
        x.conv_transpose2d(w, p.before, 0, stride, 1)?
            .broadcast_add(&b.reshape((1, (), 1, 1))?)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces per thread: 4, 2 or 1, whichever is the most that keeps `PIECE_PIXELS`
    /// output pixels in a piece; never fewer pieces than threads.
    #[test]
    fn backward_pieces_follow_the_rule() {
        // dcgan's 14 -> 28 and 7 -> 14 backward, ACGAN's 14 x 14 and 7 x 7 convolutions.
        assert_eq!(piece_len(256, 196, 2), 32);
        assert_eq!(piece_len(256, 49, 2), 64);
        assert_eq!(piece_len(100, 196, 2), 13);
        assert_eq!(piece_len(100, 49, 2), 50);
        assert_eq!(piece_len(1, 1, 2), 1);
        assert_eq!(piece_len(7, 1, 4), 2);
    }

    /// The parallel reduction adds the parts in their order, element by element, as a
    /// serial loop does: the same bits where the order matters.
    #[test]
    fn reduce_chunks_keeps_the_parts_order() {
        crate::runtime::set_threads(Some(2));
        let len = 3 * (1 << 14) + 5;
        let parts: Vec<Vec<f32>> = (0..5)
            .map(|p| {
                (0..len)
                    .map(|i| {
                        if (i + p) % 3 == 0 {
                            1e8
                        } else {
                            1.0 + (i % 7) as f32 * 0.1
                        }
                    })
                    .collect()
            })
            .collect();
        let mut want = vec![0f32; len];
        for p in &parts {
            for (a, v) in want.iter_mut().zip(p) {
                *a += v;
            }
        }
        let got = reduce_chunks(parts, len);
        assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// The stride-2 column matrix is the generic one, value for value: odd and even
    /// sizes, 'same' pads before and after, 'valid', 3x3, 4x4 and 5x5 kernels.
    #[test]
    fn stride2_im2col_equals_the_generic_one() {
        let pad = |b, a| Pad { before: b, after: a };
        for (c, h, w, k, ph, pw) in [
            (3, 28, 28, 4, pad(1, 1), pad(1, 1)),
            (2, 14, 14, 3, pad(0, 1), pad(0, 1)),
            (2, 7, 9, 3, pad(1, 1), pad(0, 0)),
            (1, 5, 6, 5, pad(2, 2), pad(1, 2)),
            (2, 1, 1, 3, pad(1, 1), pad(1, 1)),
        ] {
            let g = Geom {
                c,
                h,
                w,
                kh: k,
                kw: k,
                stride: 2,
                ph,
                pw,
            };
            let x: Vec<f32> = (0..c * h * w).map(|i| i as f32 + 1.0).collect();
            let (mut a, mut b) = (vec![f32::NAN; g.rows() * g.cols()], vec![f32::NAN; g.rows() * g.cols()]);
            im2col_stride2(&x, &g, &mut a);
            im2col_any(&x, &g, &mut b);
            assert_eq!(a, b, "{g:?}");
            assert!(a.iter().any(|&v| v > 0.0));
        }
    }

    /// The fused backward of a transposed convolution is the two separate calls, bit
    /// for bit: plain and transposed GEMM orientations, strided, and the kn2row path.
    #[test]
    fn fused_fwd_and_weight_grad_equal_the_two_calls() {
        let pad = |b, a| Pad { before: b, after: a };
        let geo = |c, h, k, stride, p: Pad| Geom {
            c,
            h,
            w: h,
            kh: k,
            kw: k,
            stride,
            ph: p,
            pw: p,
        };
        for (n, g, o) in [
            (5, geo(64, 8, 4, 2, pad(1, 1)), 16), // 1,024 rows into 16 channels: tall forward
            (3, geo(3, 9, 3, 2, pad(0, 1)), 8),   // 27 rows: plain forms
            (4, geo(8, 6, 3, 1, pad(1, 1)), 2),   // 2 output channels, stride 1: kn2row
        ] {
            let val = |i: usize, m: usize| ((i * 7919) % m) as f32 / m as f32 - 0.5;
            let x: Vec<f32> = (0..n * g.c * g.h * g.w).map(|i| val(i, 97)).collect();
            let w: Vec<f32> = (0..o * g.rows()).map(|i| val(i, 89)).collect();
            let y: Vec<f32> = (0..n * o * g.cols()).map(|i| val(i, 83)).collect();
            let (fwd, dw, sums) = conv_fwd_and_weight_grad(&x, None, &w, &y, n, o, &g);
            assert_eq!(fwd, conv_fwd(&x, &w, n, o, &g, None), "forward, {g:?}");
            assert_eq!(dw, conv_weight_grad(&x, &y, n, o, &g), "weight gradient, {g:?}");
            assert_eq!(sums, channel_sum(&x, n, g.c, g.h * g.w), "channel sums, {g:?}");
            // Through an activation's gradient, image by image: the same as a pass first.
            let res: Vec<f32> = (0..x.len()).map(|i| val(i, 71)).collect();
            for act in [Act::LeakyRelu(0.2), Act::Tanh] {
                let gy = act.grad(&res, &x);
                let (fwd, dw, sums) = conv_fwd_and_weight_grad(&x, Some((act, &res)), &w, &y, n, o, &g);
                assert_eq!(fwd, conv_fwd(&gy, &w, n, o, &g, None), "forward through {act:?}, {g:?}");
                assert_eq!(
                    dw,
                    conv_weight_grad(&gy, &y, n, o, &g),
                    "weight gradient through {act:?}"
                );
                assert_eq!(
                    sums,
                    channel_sum(&gy, n, g.c, g.h * g.w),
                    "channel sums through {act:?}"
                );
            }
            assert!(fwd.iter().any(|&v| v != 0.0) && dw.iter().any(|&v| v != 0.0));
        }
    }
}
