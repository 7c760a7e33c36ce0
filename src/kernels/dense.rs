//! The fully connected layer as one candle custom op with its own backward pass.
//!
//! candle's `matmul` + `broadcast_add` backward computes every operand's gradient
//! (also the data's and a frozen layer's weights'), multiplies by the transposed
//! weight through a strided GEMM that runs at half speed here, and sums the bias
//! gradient with a slow strided reduction. This op calls `gemm` directly: the
//! bias is the GEMM's initial destination, `dx = dy W^T` multiplies by a
//! contiguous transposed copy, and only the operands that track gradients get one.

use candle_core::{bail, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Args3, Grads3, In};

fn parallelism() -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// Row-major `dst[m, n] (+)= lhs[m, k] @ rhs[k, n]` through `gemm`; either operand
/// may be read transposed (`lhs_t`: stored `[k, m]`; `rhs_t`: stored `[n, k]`).
/// `parallel` uses the compute threads; the convolutions run one GEMM per image on
/// each thread instead. `T` is f32 (the layers) or f64 (the evaluator's statistics).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_rm<T: Copy + 'static + From<f32>>(
    dst: &mut [T],
    accumulate: bool,
    lhs: &[T],
    lhs_t: bool,
    rhs: &[T],
    rhs_t: bool,
    (m, n, k): (usize, usize, usize),
    parallel: bool,
) {
    assert!(
        dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n,
        "gemm: operand sizes"
    );
    let (lhs_cs, lhs_rs) = if lhs_t { (m as isize, 1) } else { (1, k as isize) };
    let (rhs_cs, rhs_rs) = if rhs_t { (k as isize, 1) } else { (1, n as isize) };
    let par = if parallel {
        parallelism()
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the slices hold exactly the m*n, m*k and k*n elements addressed by
    // these strides (checked above), and dst does not alias the inputs (&mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            T::from(1.0),
            T::from(1.0),
            false,
            false,
            false,
            par,
        )
    }
}

#[allow(clippy::too_many_arguments)] // gemm's own argument list, named
fn matmul(dst: &mut [f32], accumulate: bool, lhs: &[f32], lhs_t: bool, rhs: &[f32], m: usize, n: usize, k: usize) {
    gemm_rm(dst, accumulate, lhs, lhs_t, rhs, false, (m, n, k), true)
}

/// Blocked, parallel transpose of a row-major `[r, c]` matrix into `[c, r]`.
/// Works in 16x16 tiles so that every destination cache line is written whole
/// (a float-at-a-time scatter thrashes L1 when rows are 4 KiB apart).
pub fn transpose(src: &[f32], r: usize, c: usize) -> Vec<f32> {
    const B: usize = 16;
    let mut dst = vec![0f32; r * c];
    // Each task owns a band of B destination rows (= B source columns).
    dst.par_chunks_mut(B * r).enumerate().for_each(|(band, out)| {
        let c0 = band * B;
        let cw = (c - c0).min(B);
        let mut tile = [[0f32; B]; B]; // tile[col][row]
        for r0 in (0..r).step_by(B) {
            let rh = (r - r0).min(B);
            for i in 0..rh {
                let row = &src[(r0 + i) * c + c0..(r0 + i) * c + c0 + cw];
                for (j, &v) in row.iter().enumerate() {
                    tile[j][i] = v;
                }
            }
            for (j, t) in tile.iter().enumerate().take(cw) {
                out[j * r + r0..j * r + r0 + rh].copy_from_slice(&t[..rh]);
            }
        }
    });
    dst
}

fn dims2(l: &Layout, what: &str) -> Result<(usize, usize)> {
    match l.dims() {
        &[a, b] => Ok((a, b)),
        d => bail!("dense: {what} must be 2-d, got {d:?}"),
    }
}

/// `y = x W + b` for `x: [n, in]`, `W: [in, out]` (Keras's kernel layout), `b: [out]`.
pub struct DenseOp;

cpu_op!(CustomOp3 for DenseOp, "ganlab-dense", Gemm, bwd: grad);

impl DenseOp {
    fn fwd(&self, (x, l1): In, (w, l2): In, (b, l3): In) -> Result<(Vec<f32>, Shape)> {
        let (n, fin) = dims2(l1, "x")?;
        let (win, out) = dims2(l2, "W")?;
        if win != fin || l3.dims() != [out] {
            bail!(
                "dense: x {:?}, W {:?}, b {:?} do not fit",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let mut y = Vec::with_capacity(n * out);
        for _ in 0..n {
            y.extend_from_slice(b);
        }
        matmul(&mut y, true, x, false, w, n, out, fin);
        Ok((y, Shape::from((n, out))))
    }
    fn grad(&self, (x, w, b): Args3, _res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let grad = grad.contiguous()?;
        // Only the operands that track gradients get one (not the data, nor a frozen D's weights).
        let gx = x
            .track_op()
            .then(|| grad.apply_op2_no_bwd(w, &DenseGradX))
            .transpose()?;
        let gw = w
            .track_op()
            .then(|| x.apply_op2_no_bwd(&grad, &DenseGradW))
            .transpose()?;
        let gb = b.track_op().then(|| grad.apply_op1_no_bwd(&ColumnSum)).transpose()?;
        Ok((gx, gw, gb))
    }
}

/// `dx = dy W^T`: `[n, out] x [in, out]^T -> [n, in]`.
struct DenseGradX;

cpu_op!(CustomOp2 for DenseGradX, "ganlab-dense-grad-x", Gemm);

impl DenseGradX {
    fn fwd(&self, (g, l1): In, (w, l2): In) -> Result<(Vec<f32>, Shape)> {
        let (n, out) = dims2(l1, "dy")?;
        let (fin, _) = dims2(l2, "W")?;
        let wt = transpose(w, fin, out); // [out, in]
        let mut dx = vec![0f32; n * fin];
        matmul(&mut dx, false, g, false, &wt, n, fin, out);
        Ok((dx, Shape::from((n, fin))))
    }
}

/// `dW = x^T dy`: `[n, in]^T x [n, out] -> [in, out]`.
struct DenseGradW;

cpu_op!(CustomOp2 for DenseGradW, "ganlab-dense-grad-w", Gemm);

impl DenseGradW {
    fn fwd(&self, (x, l1): In, (g, l2): In) -> Result<(Vec<f32>, Shape)> {
        let (n, fin) = dims2(l1, "x")?;
        let (_, out) = dims2(l2, "dy")?;
        let mut dw = vec![0f32; fin * out];
        matmul(&mut dw, false, x, true, g, fin, out, n);
        Ok((dw, Shape::from((fin, out))))
    }
}

/// Sum over rows: `[n, out] -> [out]` (the bias gradient), rows added in order.
struct ColumnSum;

cpu_op!(CustomOp1 for ColumnSum, "ganlab-column-sum", Gemm);

impl ColumnSum {
    fn fwd(&self, (g, l): In) -> Result<(Vec<f32>, Shape)> {
        let (_, out) = dims2(l, "dy")?;
        let mut acc = vec![0f32; out];
        for row in g.chunks_exact(out) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v;
            }
        }
        Ok((acc, Shape::from(out)))
    }
}

/// `x W + b` through [`DenseOp`] on the CPU, through candle's ops elsewhere.
pub fn dense(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if crate::device::fused(x) {
        x.apply_op3(w, b, DenseOp)
    } else {
        x.matmul(w)?.broadcast_add(b)
    }
}
