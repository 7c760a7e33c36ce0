//! The in-place Adam update of one parameter, in Keras's and PyTorch's forms.

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp2, Layout, Result};

use super::CHUNK;

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
                crate::runtime::for_each_chunk3(p, &mut m, &mut v, CHUNK, |c, p, m, v| {
                    let g = &g[c * CHUNK..];
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
                crate::runtime::for_each_chunk3(p, &mut m, &mut v, CHUNK, |c, p, m, v| {
                    let g = &g[c * CHUNK..];
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
        let n = self.m.borrow().len();
        super::optimizer_step("adam", (s1, l1), (s2, l2), n, |p, g| self.apply(p, g))
    }
}
