//! Optimisers in each article framework's exact update form.

use std::cell::RefCell;

use anyhow::{Context, Result};
use candle_core::backprop::GradStore;
use candle_core::Tensor;

use crate::nn::Params;
use crate::ops::{AdamForm, AdamStep};
use crate::spec::{OptimKind, OptimSpec};

/// Adam with its moment buffers, in the Keras 2 or PyTorch form.
pub struct Adam {
    pub spec: OptimSpec,
    pub form: AdamForm,
    /// Steps taken so far (Keras's `iterations`, torch's `state['step']`).
    pub t: u64,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl Adam {
    pub fn new(spec: &OptimSpec, params: &Params) -> Adam {
        let form = match spec.kind {
            OptimKind::AdamKeras => AdamForm::Keras,
            OptimKind::AdamTorch => AdamForm::Torch,
        };
        let zeros = || params.vars.iter().map(|v| vec![0f32; v.elem_count()]).collect();
        Adam {
            spec: spec.clone(),
            form,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// One update of every parameter in `params` from `grads`.
    pub fn step(&mut self, params: &Params, grads: &GradStore) -> Result<()> {
        self.t += 1;
        for (i, (name, var)) in params.names.iter().zip(&params.vars).enumerate() {
            let g = grads.get(var).with_context(|| format!("no gradient for {name}"))?;
            let op = AdamStep {
                form: self.form,
                lr: self.spec.lr,
                beta1: self.spec.beta1,
                beta2: self.spec.beta2,
                eps: self.spec.eps,
                t: self.t,
                m: RefCell::new(&mut self.m[i]),
                v: RefCell::new(&mut self.v[i]),
            };
            if var.device().is_cpu() {
                var.as_tensor().inplace_op2(g, &op)?;
            } else {
                // Other devices: run the kernel on host copies (correct, not fast).
                let mut p = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                let gh = g.flatten_all()?.to_vec1::<f32>()?;
                op.apply(&mut p, &gh);
                var.set(&Tensor::from_vec(p, var.shape(), var.device())?)?;
            }
        }
        Ok(())
    }
}
