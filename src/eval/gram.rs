//! Products of feature matrices in f64 through the `gemm` crate (as candle's own
//! matrix products), so that every metric's big product runs through one tested,
//! deterministic kernel.

/// `a b^T` of row-major `a` (`m x d`) and `b` (`n x d`): the `m x n` dot products,
/// row-major. `parallel` splits the work over the compute threads.
pub fn dots(a: &[f64], b: &[f64], d: usize, parallel: bool) -> Vec<f64> {
    let (m, n) = (a.len() / d, b.len() / d);
    assert!(a.len() == m * d && b.len() == n * d, "gram: operand sizes");
    let mut out = vec![0f64; m * n];
    if m > 0 && n > 0 {
        // b (n x d, row-major) read transposed: the d x n matrix b^T.
        crate::kernels::gemm_rm(&mut out, false, a, false, b, true, (m, n, d), parallel);
    }
    out
}

/// `x^T x` of a row-major `n x d` matrix: the `d x d` matrix, row-major.
pub fn gram_t(x: &[f64], d: usize) -> Vec<f64> {
    let n = x.len() / d;
    assert!(x.len() == n * d, "gram: operand sizes");
    let mut out = vec![0f64; d * d];
    if n > 0 {
        // x read transposed (d x n) times x (n x d).
        crate::kernels::gemm_rm(&mut out, false, x, true, x, false, (d, d, n), true);
    }
    out
}
