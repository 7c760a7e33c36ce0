//! CPU kernels where candle's composition of small ops costs time: fused LeakyReLU,
//! binary cross-entropy in three semantics, and in-place Adam updates.
//! Each has a parity test against candle's own ops or hand-computed values.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use candle_core::{
    backend::BackendStorage, bail, CpuStorage, CustomOp1, CustomOp2, InplaceOp2, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

use crate::spec::BceSemantics;

/// Elements per parallel chunk for elementwise work.
const CHUNK: usize = 1 << 14;

pub fn f32_view<'a>(s: &'a CpuStorage, l: &Layout) -> Result<Cow<'a, [f32]>> {
    let v = match s {
        CpuStorage::F32(v) => v,
        _ => bail!("ganlab kernel: expected f32, got {:?}", s.dtype()),
    };
    Ok(match l.contiguous_offsets() {
        Some((a, b)) => Cow::Borrowed(&v[a..b]),
        None => Cow::Owned(gather(v, l)),
    })
}

/// Copy a strided view into a contiguous vector.
fn gather(v: &[f32], l: &Layout) -> Vec<f32> {
    let (dims, stride) = (l.dims(), l.stride());
    let n = l.shape().elem_count();
    let mut idx = vec![0usize; dims.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let off: usize = idx.iter().zip(stride).map(|(i, s)| i * s).sum();
        out.push(v[l.start_offset() + off]);
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

fn map1(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| {
        for (o, &x) in o.iter_mut().zip(x) {
            *o = f(x);
        }
    });
    out
}

fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                *o = f(a, b);
            }
        });
    out
}

/// LeakyReLU: `x` if `x > 0`, else `slope * x` (Keras `LeakyReLU(alpha)`, torch `nn.LeakyReLU`).
pub struct LeakyRelu {
    pub slope: f32,
    /// Dropout fused in: `y = lrelu(x) * mask` (Keras's `LeakyReLU` then `Dropout`).
    pub mask: Option<Arc<Vec<f32>>>,
}

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "ganlab-leaky-relu"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_view(s, l)?;
        let a = self.slope;
        let y = match &self.mask {
            None => map1(&x, |v| if v > 0.0 { v } else { a * v }),
            Some(m) => {
                if m.len() != x.len() {
                    bail!("leaky-relu: {} values, mask of {}", x.len(), m.len());
                }
                map2(&x, m, |v, m| if v > 0.0 { v * m } else { a * v * m })
            }
        };
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = arg.apply_op2_no_bwd(grad, &LeakyReluGrad { slope: self.slope })?;
        Ok(Some(match &self.mask {
            None => g,
            Some(m) => g.apply_op1_no_bwd(&MaskMul { mask: m.clone() })?,
        }))
    }
}

struct LeakyReluGrad {
    slope: f32,
}

impl CustomOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "ganlab-leaky-relu-grad"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_view(s1, l1)?;
        let g = f32_view(s2, l2)?;
        let a = self.slope;
        Ok((
            CpuStorage::F32(map2(&x, &g, |x, g| if x > 0.0 { g } else { a * g })),
            l1.shape().clone(),
        ))
    }
}

/// tanh as TensorFlow computes it on the CPU (Eigen's `generic_fast_tanh_float`):
/// a 13/6-degree rational approximation, clamped at +-7.9988, exact below 4e-4.
/// Plain multiply-adds (no `mul_add`, which is a libm call without FMA in the
/// target), so the compiler vectorises it; libm's `tanhf` does not vectorise.
#[inline]
pub fn fast_tanh(a: f32) -> f32 {
    let x = a.clamp(-7.998_811_7, 7.998_811_7);
    let x2 = x * x;
    let mut p = x2 * -2.760_768_5e-16 + 2.000_188e-13;
    p = x2 * p + -8.604_672e-11;
    p = x2 * p + 5.122_297e-8;
    p = x2 * p + 1.485_722_4e-5;
    p = x2 * p + 6.372_619_3e-4;
    p = x2 * p + 4.893_524_6e-3;
    p *= x;
    let mut q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
    q = x2 * q + 2.268_434_6e-3;
    q = x2 * q + 4.893_525e-3;
    if a.abs() < 4e-4 {
        a
    } else {
        p / q
    }
}

/// tanh with its backward from the output: `dy * (1 - y^2)`.
pub struct Tanh;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "ganlab-tanh"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_view(s, l)?;
        Ok((CpuStorage::F32(map1(&x, fast_tanh)), l.shape().clone()))
    }
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(grad, &TanhGrad)?))
    }
}

struct TanhGrad;

impl CustomOp2 for TanhGrad {
    fn name(&self) -> &'static str {
        "ganlab-tanh-grad"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = f32_view(s1, l1)?;
        let g = f32_view(s2, l2)?;
        Ok((
            CpuStorage::F32(map2(&y, &g, |y, g| g * (1.0 - y * y))),
            l1.shape().clone(),
        ))
    }
}

/// Multiply by a fixed mask (dropout): `y = x * mask`, backward `dy * mask`. As one
/// op, backprop does not also form the (unneeded) gradient of the mask, as candle's
/// `mul` does.
pub struct MaskMul {
    pub mask: Arc<Vec<f32>>,
}

impl CustomOp1 for MaskMul {
    fn name(&self) -> &'static str {
        "ganlab-mask-mul"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_view(s, l)?;
        if x.len() != self.mask.len() {
            bail!("mask-mul: {} values, mask of {}", x.len(), self.mask.len());
        }
        Ok((CpuStorage::F32(map2(&x, &self.mask, |x, m| x * m)), l.shape().clone()))
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.apply_op1_no_bwd(&MaskMul {
            mask: self.mask.clone(),
        })?))
    }
}

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

impl CustomOp2 for Bce {
    fn name(&self) -> &'static str {
        "ganlab-bce"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_view(s1, l1)?;
        let y = f32_view(s2, l2)?;
        if x.len() != y.len() {
            bail!("bce: {} logits but {} targets", x.len(), y.len());
        }
        let sem = self.sem;
        let out = x.iter().zip(y.iter()).map(|(&x, &y)| bce_point(x, y, sem).0).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
    fn bwd(&self, x: &Tensor, y: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = x.apply_op2_no_bwd(y, &BceGrad { sem: self.sem })?;
        Ok((Some(d.mul(grad)?), None))
    }
}

struct BceGrad {
    sem: BceSemantics,
}

impl CustomOp2 for BceGrad {
    fn name(&self) -> &'static str {
        "ganlab-bce-grad"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_view(s1, l1)?;
        let y = f32_view(s2, l2)?;
        let sem = self.sem;
        let out = x.iter().zip(y.iter()).map(|(&x, &y)| bce_point(x, y, sem).1).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
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

/// Which Adam: Keras 2's or PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdamForm {
    /// `lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)`, `p -= lr_t m / (sqrt(v) + eps)`.
    Keras,
    /// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
    Torch,
}

/// One in-place Adam update of a parameter from its gradient; `m`, `v` are the
/// optimiser's moment buffers for this parameter.
pub struct AdamStep<'a> {
    pub form: AdamForm,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// 1-based step count.
    pub t: u64,
    pub m: RefCell<&'a mut [f32]>,
    pub v: RefCell<&'a mut [f32]>,
}

impl AdamStep<'_> {
    /// Apply to plain slices (the kernel itself).
    pub fn apply(&self, p: &mut [f32], g: &[f32]) {
        let mut m = self.m.borrow_mut();
        let mut v = self.v.borrow_mut();
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        match self.form {
            AdamForm::Keras => {
                // Keras 2 computes these in float32.
                let t = self.t as f32;
                let lr_t = self.lr as f32 * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
                let eps = self.eps as f32;
                p.par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
                    .for_each(|((p, g), (m, v))| {
                        for i in 0..p.len() {
                            let gi = g[i];
                            let mi = b1 * m[i] + (1.0 - b1) * gi;
                            let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
                            m[i] = mi;
                            v[i] = vi;
                            p[i] -= lr_t * mi / (vi.sqrt() + eps);
                        }
                    });
            }
            AdamForm::Torch => {
                // torch.optim.Adam (single-tensor): bias corrections in float64 on the host.
                let t = self.t as i32;
                let bc1 = 1.0 - self.beta1.powi(t);
                let bc2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
                let step = (self.lr / bc1) as f32;
                let bc2_sqrt = bc2_sqrt as f32;
                let eps = self.eps as f32;
                // torch passes 1 - beta as Python floats (float64), cast once to float32.
                let (w1, w2) = ((1.0 - self.beta1) as f32, (1.0 - self.beta2) as f32);
                p.par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
                    .for_each(|((p, g), (m, v))| {
                        for i in 0..p.len() {
                            let gi = g[i];
                            let mi = m[i] + (gi - m[i]) * w1; // exp_avg.lerp_(grad, 1 - beta1)
                            let vi = v[i] * b2 + w2 * gi * gi; // mul_(beta2).addcmul_(g, g, 1 - beta2)
                            m[i] = mi;
                            v[i] = vi;
                            let denom = vi.sqrt() / bc2_sqrt + eps;
                            p[i] -= step * (mi / denom);
                        }
                    });
            }
        }
    }
}

impl InplaceOp2 for AdamStep<'_> {
    fn name(&self) -> &'static str {
        "ganlab-adam"
    }
    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let g = f32_view(s2, l2)?;
        let (a, b) = match l1.contiguous_offsets() {
            Some(o) => o,
            None => bail!("adam: parameter is not contiguous"),
        };
        let p = match s1 {
            CpuStorage::F32(v) => &mut v[a..b],
            _ => bail!("adam: parameter must be f32"),
        };
        if p.len() != g.len() || p.len() != self.m.borrow().len() {
            bail!("adam: parameter, gradient and state sizes differ");
        }
        self.apply(p, &g);
        Ok(())
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

impl CustomOp2 for SparseCce {
    fn name(&self) -> &'static str {
        "ganlab-sparse-cce"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_view(s1, l1)?;
        let y = f32_view(s2, l2)?;
        let k = *l1.dims().last().unwrap_or(&1);
        if l1.dims().len() != 2 || y.len() * k != x.len() || y.iter().any(|&v| v < 0.0 || v as usize >= k) {
            bail!(
                "sparse cce: logits {:?} and labels {:?} do not fit",
                l1.dims(),
                l2.dims()
            );
        }
        let (loss, _) = sparse_cce_all(&x, &y, k, self.sem);
        Ok((CpuStorage::F32(loss), Shape::from(y.len())))
    }
    fn bwd(&self, x: &Tensor, y: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let k = x.dim(1)?;
        let xv = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let yv = y.to_vec1::<f32>()?;
        let (_, g) = sparse_cce_all(&xv, &yv, k, self.sem);
        let g = Tensor::from_vec(g, x.shape(), x.device())?;
        Ok((Some(g.broadcast_mul(&grad.reshape((grad.elem_count(), 1))?)?), None))
    }
}
