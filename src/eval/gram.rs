//! Products of feature matrices in f64 through the `gemm` crate (as candle's own
//! matrix products), so that every metric's big product runs through one tested,
//! deterministic kernel.

/// `a b^T` of row-major `a` (`m x d`) and `b` (`n x d`): the `m x n` dot products,
/// row-major. `parallel` splits the work over rayon's threads.
pub fn dots(a: &[f64], b: &[f64], d: usize, parallel: bool) -> Vec<f64> {
    let (m, n) = (a.len() / d, b.len() / d);
    assert!(a.len() == m * d && b.len() == n * d, "gram: operand sizes");
    let mut out = vec![0f64; m * n];
    if m == 0 || n == 0 {
        return out;
    }
    let par = if parallel {
        gemm::Parallelism::Rayon(rayon::current_num_threads().max(1))
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: out is m x n (row stride n), a is m x d row-major (column stride 1,
    // row stride d), and b (n x d row-major) is read as the d x n matrix b^T
    // (column stride d, row stride 1): every address is inside its slice.
    unsafe {
        gemm::gemm(
            m,
            n,
            d,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            d as isize,
            b.as_ptr(),
            d as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    out
}

/// `x^T x` of a row-major `n x d` matrix: the `d x d` matrix, row-major.
pub fn gram_t(x: &[f64], d: usize) -> Vec<f64> {
    let n = x.len() / d;
    assert!(x.len() == n * d, "gram: operand sizes");
    let mut out = vec![0f64; d * d];
    if n == 0 {
        return out;
    }
    // SAFETY: out is d x d; x read as x^T (d x n: column stride d, row stride 1)
    // and as x (n x d: column stride 1, row stride d), all within x.
    unsafe {
        gemm::gemm(
            d,
            d,
            n,
            out.as_mut_ptr(),
            1,
            d as isize,
            false,
            x.as_ptr(),
            d as isize,
            1,
            x.as_ptr(),
            1,
            d as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(rayon::current_num_threads().max(1)),
        );
    }
    out
}
