//! Cross-entropies in each framework's semantics, targets and the D(x) statistic.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};

use crate::kernels;
use crate::spec::BceSemantics;

/// Mean binary cross-entropy of `sigmoid(logits)` against `targets` (same shape),
/// in the article framework's semantics (see [`BceSemantics`]).
pub fn bce(logits: &Tensor, targets: &Tensor, sem: BceSemantics) -> Result<Tensor> {
    let per = if crate::device::fused(logits) {
        logits.apply_op2(targets, kernels::Bce { sem })?
    } else {
        bce_portable(logits, targets, sem)?
    };
    Ok(per.mean_all()?)
}

/// `value` (a detached tensor) with the gradient `grad` with respect to `x`: the
/// portable path's way to give a loss the gradient its framework defines where
/// differentiating candle's composition would not (through a clamp, or `0 * inf` at a
/// saturated sigmoid).
pub(super) fn with_grad(value: &Tensor, x: &Tensor, grad: &Tensor) -> Result<Tensor> {
    Ok(value.add(&x.sub(&x.detach())?.mul(grad)?)?)
}

/// [`bce`]'s per-element loss from candle's ops: the value as the framework computes
/// it, the gradient as [`kernels::bce_point`] defines it.
pub(super) fn bce_portable(x: &Tensor, y: &Tensor, sem: BceSemantics) -> Result<Tensor> {
    let value = kernels::bce_reference(&x.detach(), y, sem)?;
    let p = candle_nn::ops::sigmoid(&x.detach())?;
    let s = p.mul(&p.affine(-1.0, 1.0)?)?;
    let g = match sem {
        BceSemantics::Logits => p.sub(y)?,
        // (p - y) / max(p (1 - p), 1e-12) * p (1 - p)
        BceSemantics::Torch => p.sub(y)?.div(&s.maximum(1e-12)?)?.mul(&s)?,
        BceSemantics::Clip => {
            let eps = kernels::KERAS_EPS as f64;
            let pc = p.clamp(eps, 1.0 - eps)?;
            let sc = pc.mul(&pc.affine(-1.0, 1.0)?)?;
            let inside = p.ge(eps)?.mul(&p.le(1.0 - eps)?)?.to_dtype(p.dtype())?;
            // sigmoid(logit(pc)) = pc
            pc.sub(y)?.div(&sc)?.mul(&s)?.mul(&inside)?
        }
    };
    with_grad(&value, x, &g)
}

/// Per-row sparse categorical cross-entropy of `logits` `[n, k]` against labels `[n]`
/// (as f32), in the framework's semantics (see [`kernels::SparseCce`]): the fused kernel
/// on the CPU, candle's ops elsewhere.
pub fn sparse_cce(logits: &Tensor, labels: &Tensor, sem: BceSemantics) -> Result<Tensor> {
    if crate::device::fused(logits) {
        return Ok(logits.apply_op2(labels, kernels::SparseCce { sem })?);
    }
    let (x, idx) = (logits.detach(), labels.to_dtype(DType::U32)?.unsqueeze(1)?);
    let value = match sem {
        BceSemantics::Logits | BceSemantics::Torch => {
            candle_nn::ops::log_softmax(&x, 1)?.gather(&idx, 1)?.squeeze(1)?.neg()?
        }
        BceSemantics::Clip => {
            // Keras 2.0: softmax probabilities clipped to [1e-7, 1 - 1e-7], renormalised.
            let eps = kernels::KERAS_EPS as f64;
            let pc = candle_nn::ops::softmax(&x, 1)?.clamp(eps, 1.0 - eps)?;
            let s = pc.sum_keepdim(1)?;
            pc.gather(&idx, 1)?.div(&s)?.log()?.squeeze(1)?.neg()?
        }
    };
    // The gradient as kernels::sparse_cce_row defines it (small: [n, classes], on the host).
    let k = x.dim(1)?;
    let xv = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
    let yv = labels.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let (_, g) = kernels::sparse_cce_all(&xv, &yv, k, sem);
    let g = Tensor::from_vec(g, x.shape(), x.device())?;
    Ok(value.add(&logits.sub(&x)?.mul(&g)?.sum(1)?)?)
}

/// Targets of `n` rows all equal to `v`, shaped `[n, 1]`.
pub fn full_targets(n: usize, v: f32, dev: &Device) -> Result<Tensor> {
    Ok(Tensor::full(v, (n, 1), dev)?)
}

/// Labels for a stacked D batch: `n` rows of `first`, then `n` rows of `second`, `[2n, 1]`
/// (e.g. `[1]*B + [0]*B` for [reals, fakes]).
pub fn stacked_targets(n: usize, first: f32, second: f32, dev: &Device) -> Result<Tensor> {
    Ok(Tensor::cat(
        &[Tensor::full(first, (n, 1), dev)?, Tensor::full(second, (n, 1), dev)?],
        0,
    )?)
}

/// Mean of sigmoid(logits) (the D(x) or D(G(z)) statistic).
pub fn mean_prob(logits: &Tensor) -> Result<f32> {
    Ok(candle_nn::ops::sigmoid(&logits.detach())?
        .mean_all()?
        .to_scalar::<f32>()?)
}
