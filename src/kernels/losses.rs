//! Cross-entropies in the three semantics (`clip`, `logits`, `torch`): binary from
//! logits, and sparse categorical from softmax logits.

use candle_core::{bail, Result, Shape, Tensor};

use super::{host, In};
use crate::spec::BceSemantics;

/// Keras's `K.epsilon()`, the clip of probabilities in the `clip` semantics.
pub(crate) const KERAS_EPS: f32 = 1e-7;

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Stable sigmoid cross-entropy from a logit (TF's `sigmoid_cross_entropy_with_logits`).
#[inline]
fn sce(z: f32, y: f32) -> f32 {
    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
}

/// Per-element loss and d(loss)/d(logit) for one semantics.
#[inline]
pub fn bce_point(x: f32, y: f32, sem: BceSemantics) -> (f32, f32) {
    match sem {
        BceSemantics::Logits => (sce(x, y), sigmoid(x) - y),
        BceSemantics::Clip => {
            // Keras 2.0 TF backend: clip p, back to a logit, sigmoid cross-entropy.
            let p = sigmoid(x);
            let pc = p.clamp(KERAS_EPS, 1.0 - KERAS_EPS);
            let z = (pc / (1.0 - pc)).ln();
            // Written out (not `contains`) so that a NaN p counts as inside and its
            // gradient stays NaN, as the divergence handling expects.
            #[allow(clippy::manual_range_contains)]
            let inside = !(p < KERAS_EPS || p > 1.0 - KERAS_EPS);
            let g = if inside {
                (sigmoid(z) - y) / (pc * (1.0 - pc)) * (p * (1.0 - p))
            } else {
                0.0
            };
            (sce(z, y), g)
        }
        BceSemantics::Torch => {
            // nn.BCELoss on p = sigmoid(x): log terms clamped at -100; its backward is
            // (p - y) / max(p (1 - p), 1e-12), times the sigmoid's p (1 - p).
            let p = sigmoid(x);
            let l = -(y * p.ln().max(-100.0) + (1.0 - y) * (1.0 - p).ln().max(-100.0));
            let s = p * (1.0 - p);
            (l, (p - y) / s.max(1e-12) * s)
        }
    }
}

/// Per-element binary cross-entropy of `sigmoid(logits)` against targets.
pub struct Bce {
    pub sem: BceSemantics,
}

cpu_op!(CustomOp2 for Bce, "ganlab-bce", Loss, bwd: grad);

impl Bce {
    fn fwd(&self, (x, l): In, (y, _): In) -> Result<(Vec<f32>, Shape)> {
        if x.len() != y.len() {
            bail!("bce: {} logits but {} targets", x.len(), y.len());
        }
        let sem = self.sem;
        Ok((
            x.iter().zip(y).map(|(&x, &y)| bce_point(x, y, sem).0).collect(),
            l.shape().clone(),
        ))
    }
    fn grad(&self, x: &Tensor, y: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = x.apply_op2_no_bwd(y, &BceGrad { sem: self.sem })?;
        Ok((Some(d.mul(grad)?), None))
    }
}

struct BceGrad {
    sem: BceSemantics,
}

cpu_op!(CustomOp2 for BceGrad, "ganlab-bce-grad", Loss);

impl BceGrad {
    fn fwd(&self, (x, l): In, (y, _): In) -> Result<(Vec<f32>, Shape)> {
        let sem = self.sem;
        Ok((
            x.iter().zip(y).map(|(&x, &y)| bce_point(x, y, sem).1).collect(),
            l.shape().clone(),
        ))
    }
}

/// The same losses from candle's own ops (for non-CPU devices and parity tests).
/// `torch` here differentiates through the clamp, so its gradient matches
/// PyTorch's only where p is not exactly 0 or 1.
pub fn bce_reference(x: &Tensor, y: &Tensor, sem: BceSemantics) -> Result<Tensor> {
    let sce =
        |z: &Tensor| -> Result<Tensor> { z.relu()? - z.mul(y)? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()? };
    match sem {
        BceSemantics::Logits => sce(x),
        BceSemantics::Clip => {
            let eps = KERAS_EPS as f64;
            let p = candle_nn::ops::sigmoid(x)?.clamp(eps, 1.0 - eps)?;
            let z = (p.log()? - p.affine(-1.0, 1.0)?.log()?)?;
            sce(&z)
        }
        BceSemantics::Torch => {
            let p = candle_nn::ops::sigmoid(x)?;
            let lp = p.log()?.maximum(-100f64)?;
            let l1p = p.affine(-1.0, 1.0)?.log()?.maximum(-100f64)?;
            (y.mul(&lp)? + y.affine(-1.0, 1.0)?.mul(&l1p)?)?.neg()
        }
    }
}

/// Sparse categorical cross-entropy of `softmax(logits)` (`[n, k]`) against integer
/// labels (`[n]`, as f32), per row, in the framework's semantics: `clip` is
/// standalone Keras 2.0 (softmax probabilities clipped to [1e-7, 1 - 1e-7] and
/// renormalised; no gradient through a clipped entry), `logits`/`torch` the exact
/// log-softmax.
pub struct SparseCce {
    pub sem: BceSemantics,
}

/// Loss and d(loss)/d(logits) of one row.
pub fn sparse_cce_row(x: &[f32], y: usize, sem: BceSemantics, grad: &mut [f32]) -> f32 {
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = x.iter().map(|&v| (v - m).exp()).collect();
    let z: f32 = e.iter().sum();
    let p: Vec<f32> = e.iter().map(|v| v / z).collect();
    match sem {
        BceSemantics::Clip => {
            let pc: Vec<f32> = p.iter().map(|v| v.clamp(KERAS_EPS, 1.0 - KERAS_EPS)).collect();
            let s: f32 = pc.iter().sum();
            // l = -log(pc_y / S); dl/dpc_j = -[j = y] / pc_y + 1 / S, zero where clipped.
            let gp: Vec<f32> = (0..p.len())
                .map(|j| {
                    let inside = !(p[j] < KERAS_EPS || p[j] > 1.0 - KERAS_EPS);
                    if inside {
                        (if j == y { -1.0 / pc[y] } else { 0.0 }) + 1.0 / s
                    } else {
                        0.0
                    }
                })
                .collect();
            let dot: f32 = p.iter().zip(&gp).map(|(a, b)| a * b).sum();
            for i in 0..p.len() {
                grad[i] = p[i] * (gp[i] - dot);
            }
            -(pc[y] / s).ln()
        }
        BceSemantics::Logits | BceSemantics::Torch => {
            for i in 0..p.len() {
                grad[i] = p[i] - if i == y { 1.0 } else { 0.0 };
            }
            m + z.ln() - x[y]
        }
    }
}

pub(crate) fn sparse_cce_all(x: &[f32], y: &[f32], k: usize, sem: BceSemantics) -> (Vec<f32>, Vec<f32>) {
    let mut loss = Vec::with_capacity(y.len());
    let mut grad = vec![0f32; x.len()];
    for (r, &label) in y.iter().enumerate() {
        loss.push(sparse_cce_row(
            &x[r * k..(r + 1) * k],
            label as usize,
            sem,
            &mut grad[r * k..(r + 1) * k],
        ));
    }
    (loss, grad)
}

cpu_op!(CustomOp2 for SparseCce, "ganlab-sparse-cce", Loss, bwd: grad);

impl SparseCce {
    fn fwd(&self, (x, l1): In, (y, l2): In) -> Result<(Vec<f32>, Shape)> {
        let k = *l1.dims().last().unwrap_or(&1);
        if l1.dims().len() != 2 || y.len() * k != x.len() || y.iter().any(|&v| v < 0.0 || v as usize >= k) {
            bail!(
                "sparse cce: logits {:?} and labels {:?} do not fit",
                l1.dims(),
                l2.dims()
            );
        }
        let (loss, _) = sparse_cce_all(x, y, k, self.sem);
        Ok((loss, Shape::from(y.len())))
    }
    fn grad(&self, x: &Tensor, y: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let k = x.dim(1)?;
        let (_, g) = sparse_cce_all(&host(x)?, &y.to_vec1::<f32>()?, k, self.sem);
        let g = Tensor::from_vec(g, x.shape(), x.device())?;
        Ok((Some(g.broadcast_mul(&grad.reshape((grad.elem_count(), 1))?)?), None))
    }
}
