//! Improved precision and recall (Kynkaanniemi et al. 2019) in the evaluator's
//! feature space: each set's manifold is the union of balls around its samples
//! reaching their k-th nearest neighbour in the same set (k = 3); precision is the
//! share of generated samples inside the real manifold, recall the share of real
//! samples inside the generated one.
//!
//! Distances are f64, from `|a|^2 + |b|^2 - 2 a.b` with the products done by
//! `gemm` (see `gram`) in row blocks (memory stays at a block times the set size).

use anyhow::{bail, Result};
use rayon::prelude::*;

/// The neighbour rank that sets each sample's radius.
pub const K: usize = 3;
/// Rows per block of the distance matrix.
const BLOCK: usize = 1024;

/// Precision and recall of `fake` against `real` (`n * d` features each).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrecisionRecall {
    pub precision: f64,
    pub recall: f64,
}

struct Set {
    x: Vec<f64>,
    norms: Vec<f64>,
    n: usize,
}

impl Set {
    fn new(f: &[f32], d: usize) -> Set {
        let x: Vec<f64> = f.iter().map(|&v| v as f64).collect();
        let norms = x.chunks(d).map(|r| r.iter().map(|v| v * v).sum()).collect();
        Set {
            x,
            norms,
            n: f.len() / d,
        }
    }
}

/// Squared distances of rows `a0..a1` of `a` to every row of `b`, row-major.
fn sq_dists(a: &Set, a0: usize, a1: usize, b: &Set, d: usize) -> Vec<f64> {
    let mut dot = super::gram::dots(&a.x[a0 * d..a1 * d], &b.x, d, true);
    dot.par_chunks_mut(b.n).enumerate().for_each(|(i, row)| {
        let na = a.norms[a0 + i];
        for (v, nb) in row.iter_mut().zip(&b.norms) {
            *v = (na + nb - 2.0 * *v).max(0.0);
        }
    });
    dot
}

/// Squared radius of each sample: the distance to its k-th nearest neighbour in
/// its own set (itself, at distance 0, is not counted).
fn radii(s: &Set, d: usize, k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(s.n);
    for a0 in (0..s.n).step_by(BLOCK) {
        let a1 = (a0 + BLOCK).min(s.n);
        let dist = sq_dists(s, a0, a1, s, d);
        let r: Vec<f64> = dist
            .par_chunks(s.n)
            .enumerate()
            .map(|(i, row)| {
                let mut row = row.to_vec();
                row[a0 + i] = 0.0;
                let (_, kth, _) = row.select_nth_unstable_by(k, f64::total_cmp);
                *kth
            })
            .collect();
        out.extend(r);
    }
    out
}

/// Share of the rows of `q` inside the manifold of `s` (balls of squared radii `r`).
fn inside(q: &Set, s: &Set, r: &[f64], d: usize) -> f64 {
    let mut hits = 0usize;
    for a0 in (0..q.n).step_by(BLOCK) {
        let a1 = (a0 + BLOCK).min(q.n);
        let dist = sq_dists(q, a0, a1, s, d);
        hits += dist
            .par_chunks(s.n)
            .filter(|row| row.iter().zip(r).any(|(dd, rr)| dd <= rr))
            .count();
    }
    hits as f64 / q.n as f64
}

/// Precision and recall with `k`-NN manifolds; each set needs more than `k` samples.
pub fn precision_recall(real: &[f32], fake: &[f32], d: usize, k: usize) -> Result<PrecisionRecall> {
    let (r, f) = (Set::new(real, d), Set::new(fake, d));
    if r.n <= k || f.n <= k {
        bail!(
            "precision/recall with k = {k} needs more than {k} samples in each set (got {} and {})",
            r.n,
            f.n
        );
    }
    let (rr, rf) = (radii(&r, d, k), radii(&f, d, k));
    Ok(PrecisionRecall {
        precision: inside(&f, &r, &rr, d),
        recall: inside(&r, &f, &rf, d),
    })
}
