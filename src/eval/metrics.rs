//! The sample-quality statistics, on the evaluator's features and probabilities:
//! FID, KID, the classifier Inception Score, class coverage and class accuracy.
//! All arithmetic is in f64.

use anyhow::{bail, Result};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::CLASSES;

/// A Gaussian fit of a feature set: mean and (unbiased) covariance.
#[derive(Clone, Debug)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
}

impl Gaussian {
    /// Fit `n` rows of `d` features (`n >= 2`).
    pub fn fit(features: &[f32], d: usize) -> Result<Gaussian> {
        let n = features.len() / d;
        if n < 2 || !features.len().is_multiple_of(d) {
            bail!(
                "a Gaussian fit needs at least 2 rows of {d} features (got {} values)",
                features.len()
            );
        }
        let mut mean = vec![0f64; d];
        for row in features.chunks(d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centered: Vec<f64> = features
            .chunks(d)
            .flat_map(|row| row.iter().zip(&mean).map(|(&v, m)| v as f64 - m))
            .collect();
        let cov = super::gram::gram_t(&centered, d);
        Ok(Gaussian {
            mean: DVector::from_vec(mean),
            cov: DMatrix::from_row_slice(d, d, &cov) / (n as f64 - 1.0),
        })
    }
}

/// `a b` of square matrices by plain loops (the matrices here are 128 x 128).
fn mul(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let n = a.nrows();
    DMatrix::from_fn(n, b.ncols(), |i, j| (0..n).map(|k| a[(i, k)] * b[(k, j)]).sum())
}

/// The eigenvalues and eigenvectors of the symmetric part of `m`.
///
/// nalgebra's solver can return NaN eigenvalues and eigenvectors for a matrix whose
/// entries span hundreds of orders of magnitude (`S1^(1/2) S2 S1^(1/2)` for a
/// generator collapsed to nearly one image: 1e-6 down to 1e-198), so it runs on `m`
/// scaled to a largest entry of 1, with the entries under f64's epsilon of that set
/// to 0: they are below the rounding of the products that made them, and zeroing them
/// moves no eigenvalue by more than `n * epsilon` of the largest entry, the solver's
/// own accuracy. The eigenvalues are scaled back. A NaN left after that is an error.
fn symmetric_eigen(m: &DMatrix<f64>) -> Result<(DVector<f64>, DMatrix<f64>)> {
    let n = m.nrows();
    let sym = (m + m.transpose()) * 0.5;
    let scale = sym.amax();
    if !scale.is_finite() {
        bail!("a covariance matrix has a non-finite entry ({scale})");
    }
    if scale == 0.0 {
        return Ok((DVector::zeros(n), DMatrix::identity(n, n)));
    }
    let mut unit = sym / scale;
    unit.iter_mut()
        .filter(|v| v.abs() < f64::EPSILON)
        .for_each(|v| *v = 0.0);
    let e = SymmetricEigen::new(unit);
    if e.eigenvalues
        .iter()
        .chain(e.eigenvectors.iter())
        .any(|v| !v.is_finite())
    {
        bail!("the symmetric eigendecomposition of a {n} x {n} covariance product did not converge");
    }
    Ok((e.eigenvalues * scale, e.eigenvectors))
}

/// The square root of a symmetric positive semi-definite matrix through its
/// symmetric eigendecomposition `V diag(l) V^T -> V diag(sqrt(max(l, 0))) V^T`
/// (negative eigenvalues from rounding are clamped to 0).
pub fn sqrtm_psd(m: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let (l, v) = symmetric_eigen(m)?;
    let s = l.map(|l| l.max(0.0).sqrt());
    let n = v.nrows();
    Ok(DMatrix::from_fn(n, n, |i, j| {
        (0..n).map(|k| v[(i, k)] * s[k] * v[(j, k)]).sum()
    }))
}

/// `tr sqrt(A^(1/2) B A^(1/2))` for symmetric PSD `A`, `B` (equal to `tr sqrt(A B)`),
/// from the eigenvalues of the symmetric matrix `A^(1/2) B A^(1/2)`.
pub fn trace_sqrt_product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Result<f64> {
    let ra = sqrtm_psd(a)?;
    let (l, _) = symmetric_eigen(&mul(&mul(&ra, b), &ra))?;
    Ok(l.iter().map(|&l| l.max(0.0).sqrt()).sum())
}

/// Frechet distance between two Gaussians:
/// `|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1^(1/2) S2 S1^(1/2))`, clamped at 0
/// against rounding (a NaN is an error: clamping it would read as a perfect score).
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    let d = &a.mean - &b.mean;
    // The two orders are equal in exact arithmetic; the second is the fallback for a
    // product the eigensolver cannot take.
    let cross = trace_sqrt_product(&a.cov, &b.cov).or_else(|_| trace_sqrt_product(&b.cov, &a.cov))?;
    let v = d.norm_squared() + a.cov.trace() + b.cov.trace() - 2.0 * cross;
    if !v.is_finite() {
        bail!("the Frechet distance came out as {v}: the features hold a non-finite value");
    }
    Ok(v.max(0.0))
}

/// FID of two feature sets of width `d`.
pub fn fid(x: &[f32], y: &[f32], d: usize) -> Result<f64> {
    frechet_distance(&Gaussian::fit(x, d)?, &Gaussian::fit(y, d)?)
}

/// KID: mean and standard deviation of the unbiased MMD^2 over subsets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kid {
    pub mean: f64,
    pub std: f64,
    pub subsets: usize,
    pub subset_size: usize,
}

/// Sum of the cubic polynomial kernel `k(x, y) = (x . y / d + 1)^3` (Binkowski et al.
/// 2018) over all pairs of rows, and over the diagonal when `x` and `y` are one set.
fn kernel_sum(x: &[f64], y: &[f64], d: usize, same: bool) -> (f64, f64) {
    let m = x.len() / d;
    let k = super::gram::dots(x, y, d, false);
    let f = |v: f64| (v / d as f64 + 1.0).powi(3);
    let total = k.iter().map(|&v| f(v)).sum();
    let diag = if same {
        (0..m).map(|i| f(k[i * m + i])).sum()
    } else {
        0.0
    };
    (total, diag)
}

/// Unbiased MMD^2 of two equally sized samples (`m x d` row-major, f64) under the
/// cubic kernel.
pub fn mmd2_unbiased(x: &[f64], y: &[f64], d: usize) -> f64 {
    let m = (x.len() / d) as f64;
    let (sxx, dxx) = kernel_sum(x, x, d, true);
    let (syy, dyy) = kernel_sum(y, y, d, true);
    let (sxy, _) = kernel_sum(x, y, d, false);
    ((sxx - dxx) + (syy - dyy)) / (m * (m - 1.0)) - 2.0 * sxy / (m * m)
}

/// KID over `subsets` random subsets of `subset_size` rows of each set (clipped to
/// the smaller set), drawn from `rng`; standard deviation over subsets (ddof 0).
pub fn kid(x: &[f32], y: &[f32], d: usize, subsets: usize, subset_size: usize, rng: &mut ChaCha8Rng) -> Result<Kid> {
    let (nx, ny) = (x.len() / d, y.len() / d);
    let m = subset_size.min(nx).min(ny);
    if m < 2 || subsets == 0 {
        bail!("KID needs at least 2 samples in each set and one subset (got {nx} and {ny})");
    }
    let draws: Vec<(Vec<usize>, Vec<usize>)> = (0..subsets)
        .map(|_| (sample(rng, nx, m).into_vec(), sample(rng, ny, m).into_vec()))
        .collect();
    let rows = |f: &[f32], ix: &[usize]| -> Vec<f64> {
        ix.iter()
            .flat_map(|&i| f[i * d..(i + 1) * d].iter().map(|&v| v as f64))
            .collect()
    };
    let vals: Vec<f64> = draws
        .par_iter()
        .map(|(ix, iy)| mmd2_unbiased(&rows(x, ix), &rows(y, iy), d))
        .collect();
    let (mean, std) = mean_std(&vals);
    Ok(Kid {
        mean,
        std,
        subsets,
        subset_size: m,
    })
}

/// Mean and population standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Classifier Inception Score: `exp(E_x KL(p(y|x) || p(y)))` on each of `splits`
/// consecutive splits; mean and standard deviation over splits. Its maximum is
/// the number of classes (10).
pub fn inception_score(probs: &[f64], splits: usize) -> Result<(f64, f64)> {
    let n = probs.len() / CLASSES;
    let splits = splits.min(n);
    if splits == 0 {
        bail!("the Inception Score needs at least one image");
    }
    let scores: Vec<f64> = (0..splits)
        .map(|s| {
            let (a, b) = (s * n / splits, (s + 1) * n / splits);
            let part = &probs[a * CLASSES..b * CLASSES];
            let m = (b - a) as f64;
            let mut py = [0f64; CLASSES];
            for row in part.chunks(CLASSES) {
                for k in 0..CLASSES {
                    py[k] += row[k] / m;
                }
            }
            let kl: f64 = part
                .chunks(CLASSES)
                .map(|row| {
                    (0..CLASSES)
                        .filter(|&k| row[k] > 0.0)
                        .map(|k| row[k] * (row[k].ln() - py[k].ln()))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / m;
            kl.exp()
        })
        .collect();
    Ok(mean_std(&scores))
}

/// A class is counted as covered when it holds at least this share of the samples
/// (a tenth of the uniform share), so that a few stray images do not hide a collapse.
pub const COVER_MIN_SHARE: f64 = 0.01;

/// The predicted-class histogram and what it says about mode collapse.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    pub counts: [usize; CLASSES],
    /// Classes holding at least [`COVER_MIN_SHARE`] of the samples.
    pub covered: usize,
    /// `KL(histogram || uniform)` in nats: 0 for a uniform histogram, ln 10 = 2.303
    /// when every sample is one class.
    pub kl_uniform: f64,
}

/// Coverage of predicted classes (digits 0-9; other values are refused).
pub fn coverage(pred: &[u8]) -> Result<Coverage> {
    let mut counts = [0usize; CLASSES];
    for &p in pred {
        if p as usize >= CLASSES {
            bail!("class {p} is not a digit");
        }
        counts[p as usize] += 1;
    }
    let n = pred.len() as f64;
    if pred.is_empty() {
        bail!("class coverage of no images");
    }
    let covered = counts.iter().filter(|&&c| c as f64 >= COVER_MIN_SHARE * n).count();
    let kl_uniform = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            p * (p * CLASSES as f64).ln()
        })
        .sum();
    Ok(Coverage {
        counts,
        covered,
        kl_uniform,
    })
}

/// Fraction of `pred` equal to `labels` (same length).
pub fn class_accuracy(pred: &[u8], labels: &[u8]) -> f64 {
    let n = pred.len().min(labels.len());
    if n == 0 {
        return f64::NAN;
    }
    pred.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / n as f64
}
