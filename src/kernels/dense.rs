//! The fully connected layer as one candle custom op with its own backward pass.
//!
//! candle's `matmul` + `broadcast_add` backward computes every operand's gradient
//! (also the data's and a frozen layer's weights'), multiplies by the transposed
//! weight through a strided GEMM that runs at half speed here, and sums the bias
//! gradient with a slow strided reduction. This op calls `gemm` directly: the
//! bias is the GEMM's initial destination, `dx = dy W^T` reads `W` transposed
//! through gemm's strides, and only the operands that track gradients get one (the
//! weight's and bias's through `grads`' sink while `nn::backward` runs).

use candle_core::{bail, Layout, Result, Shape, Tensor};

use super::{Args3, Grads3, In};

/// Which library multiplies: `gemm` where the CPU has AVX-512 (its x86-v4 kernels),
/// `matrixmultiply` elsewhere, whose AVX2 kernels took 0.81-0.97 of gemm's time on the
/// layers' shapes and 2048^3, one thread, interleaved (AMD EPYC Zen 3). Both sum each
/// element over k in order within fixed blocks, so a block of columns gets the whole
/// product's bits from either. `GANLAB_GEMM=gemm` or `=matrixmultiply` chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Gemm,
    MatrixMultiply,
}

impl Backend {
    /// The process's choice, made once.
    pub fn get() -> Backend {
        static CHOICE: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
        *CHOICE.get_or_init(|| match std::env::var("GANLAB_GEMM").as_deref() {
            Ok("gemm") => Backend::Gemm,
            Ok("matrixmultiply") => Backend::MatrixMultiply,
            _ if avx512() => Backend::Gemm,
            _ => Backend::MatrixMultiply,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gemm => "gemm",
            Backend::MatrixMultiply => "matrixmultiply",
        }
    }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One single-threaded `dst (+)= lhs @ rhs` with the given strides (row stride, column
/// stride) through `backend`; `T` is f32 or f64.
///
/// # Safety
/// The pointers address `m x k`, `k x n` and `m x n` matrices with these strides;
/// `dst` is written only there and aliases neither input.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: Copy + 'static + From<f32>>(
    backend: Backend,
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    (dst_rs, dst_cs): (isize, isize),
    accumulate: bool,
    lhs: *const T,
    (lhs_rs, lhs_cs): (isize, isize),
    rhs: *const T,
    (rhs_rs, rhs_cs): (isize, isize),
) {
    use std::any::TypeId;
    if backend == Backend::MatrixMultiply {
        let beta = if accumulate { 1.0 } else { 0.0 };
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            let (d, a, b) = (dst as *mut f32, lhs as *const f32, rhs as *const f32);
            return matrixmultiply::sgemm(
                m, k, n, 1.0, a, lhs_rs, lhs_cs, b, rhs_rs, rhs_cs, beta, d, dst_rs, dst_cs,
            );
        }
        if TypeId::of::<T>() == TypeId::of::<f64>() {
            let (d, a, b) = (dst as *mut f64, lhs as *const f64, rhs as *const f64);
            return matrixmultiply::dgemm(
                m,
                k,
                n,
                1.0,
                a,
                lhs_rs,
                lhs_cs,
                b,
                rhs_rs,
                rhs_cs,
                beta as f64,
                d,
                dst_rs,
                dst_cs,
            );
        }
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs,
        dst_rs,
        accumulate,
        lhs,
        lhs_cs,
        lhs_rs,
        rhs,
        rhs_cs,
        rhs_rs,
        T::from(1.0),
        T::from(1.0),
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// Row-major `dst[m, n] (+)= lhs[m, k] @ rhs[k, n]` through [`Backend::get`]; either operand
/// may be read transposed (`lhs_t`: stored `[k, m]`; `rhs_t`: stored `[n, k]`).
/// `parallel` splits the columns into one block per thread of the step pool
/// (`runtime`), each one single-threaded `gemm`; the convolutions run one GEMM per
/// image on each thread instead. `T` is f32 (the layers) or f64 (the evaluator's
/// statistics).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_rm<T: Copy + Send + Sync + 'static + From<f32>>(
    dst: &mut [T],
    accumulate: bool,
    lhs: &[T],
    lhs_t: bool,
    rhs: &[T],
    rhs_t: bool,
    mnk: (usize, usize, usize),
    parallel: bool,
) {
    gemm_rm_on(Backend::get(), dst, accumulate, lhs, lhs_t, rhs, rhs_t, mnk, parallel)
}

/// [`gemm_rm`] through a given backend.
#[allow(clippy::too_many_arguments)]
fn gemm_rm_on<T: Copy + Send + Sync + 'static + From<f32>>(
    backend: Backend,
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
    // Blocks of whole 64-column groups (the micro-kernels' widths divide 64), the last
    // taking the rest: every block starts where the one GEMM's kernels would, and none
    // is narrow enough for gemm's small-matrix paths, so the sums are the one GEMM's.
    let threads = if parallel { crate::runtime::loop_threads() } else { 1 };
    let blocks = threads.min(n / 64).max(1);
    let width = if blocks == 1 { n } else { n / blocks / 64 * 64 };
    let (dst_at, lhs_at, rhs_at) = (dst.as_mut_ptr() as usize, lhs.as_ptr() as usize, rhs.as_ptr() as usize);
    let (lhs_cs, lhs_rs) = if lhs_t { (m as isize, 1) } else { (1, k as isize) };
    let (rhs_cs, rhs_rs) = if rhs_t { (k as isize, 1) } else { (1, n as isize) };
    let block = |b: usize| {
        let c0 = b * width;
        let cols = if b + 1 == blocks { n - c0 } else { width };
        // Block b's first column of rhs: c0 columns in, whichever way rhs is stored.
        let rhs0 = c0 as isize * rhs_cs;
        // SAFETY: the slices hold exactly the m*n, m*k and k*n elements addressed by
        // these strides (checked above); block b writes only columns c0..c0+cols of
        // dst, which no other block touches, and dst does not alias the inputs (&mut);
        // all three outlive the loop, which returns when every block is done.
        unsafe {
            gemm_raw(
                backend,
                (m, cols, k),
                (dst_at as *mut T).add(c0),
                (n as isize, 1),
                accumulate,
                lhs_at as *const T,
                (lhs_rs, lhs_cs),
                (rhs_at as *const T).offset(rhs0),
                (rhs_rs, rhs_cs),
            )
        }
    };
    if blocks == 1 {
        block(0);
    } else {
        crate::runtime::for_each_index(blocks, block);
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
    crate::runtime::for_each_chunk(&mut dst, B * r, |band, out| {
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
        super::grads::sink_params((w, b), (gx, gw, gb))
    }
}

/// `dx = dy W^T`: `[n, out] x [in, out]^T -> [n, in]`.
///
/// `gemm` reads `W` transposed through its strides (it packs the right operand
/// either way): the same bits as multiplying by a transposed copy, and faster than
/// making the copy (on a Zen 3 EPYC, 2 threads, interleaved: 1.5 against 2.7 ms for
/// `[100, 784] x [1024, 784]^T`, 1.9 against 2.9 ms for `[100, 1024] x [784, 1024]^T`).
struct DenseGradX;

cpu_op!(CustomOp2 for DenseGradX, "ganlab-dense-grad-x", Gemm);

impl DenseGradX {
    fn fwd(&self, (g, l1): In, (w, l2): In) -> Result<(Vec<f32>, Shape)> {
        let (n, out) = dims2(l1, "dy")?;
        let (fin, _) = dims2(l2, "W")?;
        let mut dx = vec![0f32; n * fin];
        gemm_rm(&mut dx, false, g, false, w, true, (n, fin, out), true);
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

#[cfg(test)]
mod tests {
    use super::{gemm_rm_on, Backend};

    pub(super) fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / 16777216.0 - 0.5)
            .collect()
    }

    /// The column blocks on the step pool give the single-threaded GEMM's values bit
    /// for bit (each element's sum runs over k in the same order), for widths that are
    /// and are not multiples of the 64-column blocks, each operand read either way,
    /// and accumulating into the destination; both backends, each also against the
    /// exact product.
    #[test]
    fn column_blocks_equal_one_gemm() {
        crate::runtime::set_threads(Some(2));
        for &(m, n, k) in &[
            (7, 1, 5),
            (100, 784, 1024),
            (256, 1024, 784),
            (33, 130, 17),
            (5, 64, 3),
            (64, 129, 200),
        ] {
            for (lhs_t, rhs_t) in [(false, false), (true, false), (false, true), (true, true)] {
                let (lhs, rhs, init) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
                // The product in f64 from the operands as stored.
                let at = |i: usize, p: usize| if lhs_t { lhs[p * m + i] } else { lhs[i * k + p] } as f64;
                let bt = |p: usize, j: usize| if rhs_t { rhs[j * k + p] } else { rhs[p * n + j] } as f64;
                for acc in [false, true] {
                    let exact: Vec<f64> = (0..m * n)
                        .map(|e| {
                            let (i, j) = (e / n, e % n);
                            let base = if acc { init[e] as f64 } else { 0.0 };
                            base + (0..k).map(|p| at(i, p) * bt(p, j)).sum::<f64>()
                        })
                        .collect();
                    for backend in [Backend::Gemm, Backend::MatrixMultiply] {
                        let (mut one, mut blocks) = (init.clone(), init.clone());
                        gemm_rm_on(backend, &mut one, acc, &lhs, lhs_t, &rhs, rhs_t, (m, n, k), false);
                        gemm_rm_on(backend, &mut blocks, acc, &lhs, lhs_t, &rhs, rhs_t, (m, n, k), true);
                        let case = format!("{backend:?} {m}x{n}x{k} lhs_t {lhs_t} rhs_t {rhs_t} acc {acc}");
                        assert!(
                            one.iter().zip(&blocks).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{case}: the blocks differ"
                        );
                        let err = one
                            .iter()
                            .zip(&exact)
                            .map(|(a, e)| (*a as f64 - e).abs())
                            .fold(0.0, f64::max);
                        assert!(err < 1e-4 * (k as f64).sqrt(), "{case}: off the exact product by {err}");
                    }
                }
            }
        }
    }
}

/// The measurement behind [`DenseGradX`]'s strided read (a benchmark, so ignored by
/// default; it also checks that both ways give the same bits):
/// `cargo test --release --lib grad_x_transpose_or_strided -- --ignored --nocapture`.
#[cfg(test)]
mod grad_x_timing {
    use super::tests::values;
    use super::{gemm_rm, transpose};
    use std::time::Instant;

    #[test]
    #[ignore]
    fn grad_x_transpose_or_strided() {
        crate::runtime::set_threads(Some(2));
        for &(m, n, k) in &[
            (100, 1024, 784),
            (100, 784, 1024),
            (100, 512, 1024),
            (100, 256, 512),
            (256, 784, 1024),
            (256, 1024, 512),
            (128, 1024, 784),
        ] {
            let (g, w) = (values(m * k, 1), values(n * k, 2));
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            let mut same = true;
            let run_a = || {
                let t = Instant::now();
                let mut a = vec![0f32; m * n];
                let wt = transpose(&w, n, k);
                gemm_rm(&mut a, false, &g, false, &wt, false, (m, n, k), true);
                (t.elapsed().as_secs_f64(), a)
            };
            let run_b = || {
                let t = Instant::now();
                let mut b = vec![0f32; m * n];
                gemm_rm(&mut b, false, &g, false, &w, true, (m, n, k), true);
                (t.elapsed().as_secs_f64(), b)
            };
            for rep in 0..600 {
                let ((ea, a), (eb, b)) = if rep % 2 == 0 {
                    let a = run_a();
                    (a, run_b())
                } else {
                    let b = run_b();
                    (run_a(), b)
                };
                ta.push(ea);
                tb.push(eb);
                same &= a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
            }
            ta.sort_by(f64::total_cmp);
            tb.sort_by(f64::total_cmp);
            let t = Instant::now();
            for _ in 0..200 {
                std::hint::black_box(transpose(&w, n, k));
            }
            let tt = t.elapsed().as_secs_f64() / 200.0;
            assert!(same, "{m}x{n}x{k}: the strided read changes the bits");
            println!(
                "{m}x{n}x{k}: transpose+gemm {:.3} ms, strided gemm {:.3} ms, transpose alone {:.3} ms (medians of 600, interleaved)",
                ta[ta.len() / 2] * 1e3,
                tb[tb.len() / 2] * 1e3,
                tt * 1e3
            );
        }
    }
}
