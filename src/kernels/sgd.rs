//! The in-place update of Keras 2's `SGD(lr, momentum, nesterov)` of one parameter,
//! in chunks on the step pool (001's optimiser over 10 million parameters).

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp2, Layout, Result};

use super::CHUNK;

/// Keras 2's update on plain slices, element by element:
/// `v = momentum * v - lr * g`; `p += momentum * v - lr * g` (without Nesterov: `p += v`).
pub fn sgd_update(lr: f32, momentum: f32, nesterov: bool, p: &mut [f32], g: &[f32], v: &mut [f32]) {
    for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
        *v = momentum * *v - lr * g;
        *p += if nesterov { momentum * *v - lr * g } else { *v };
    }
}

/// One in-place SGD update of a parameter from its gradient; `v` is the optimiser's
/// velocity for this parameter. Each element's arithmetic is [`sgd_update`]'s, so the
/// chunks give the same bits as one pass.
pub struct SgdStep<'a> {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub v: RefCell<&'a mut [f32]>,
}

impl SgdStep<'_> {
    /// Apply to plain slices, the chunks in parallel.
    pub fn apply(&self, p: &mut [f32], g: &[f32]) {
        let mut v = self.v.borrow_mut();
        let (lr, mu, nesterov) = (self.lr, self.momentum, self.nesterov);
        crate::runtime::for_each_chunk2(p, CHUNK, &mut v, CHUNK, |c, p, v| {
            sgd_update(lr, mu, nesterov, p, &g[c * CHUNK..], v)
        });
    }
}

impl InplaceOp2 for SgdStep<'_> {
    fn name(&self) -> &'static str {
        "ganlab-sgd"
    }
    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let n = self.v.borrow().len();
        super::optimizer_step("sgd", (s1, l1), (s2, l2), n, |p, g| self.apply(p, g))
    }
}
