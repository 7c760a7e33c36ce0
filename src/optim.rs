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
            OptimKind::AdamTorch => AdamForm::Torch,
            _ => AdamForm::Keras,
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
            if !params.trainable[i] {
                continue;
            }
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

/// Keras 2 `SGD(lr, momentum, nesterov=True)`:
/// `v = momentum * v - lr * g`; `p += momentum * v - lr * g` (without Nesterov: `p += v`).
pub struct SgdKeras {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub v: Vec<Vec<f32>>,
}

impl SgdKeras {
    pub fn new(spec: &OptimSpec, params: &Params) -> SgdKeras {
        SgdKeras {
            lr: spec.lr as f32,
            momentum: spec.momentum as f32,
            nesterov: spec.nesterov,
            v: params.vars.iter().map(|v| vec![0f32; v.elem_count()]).collect(),
        }
    }

    /// The update on plain slices.
    pub fn apply(&self, p: &mut [f32], g: &[f32], v: &mut [f32]) {
        let (lr, mu) = (self.lr, self.momentum);
        for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
            *v = mu * *v - lr * g;
            *p += if self.nesterov { mu * *v - lr * g } else { *v };
        }
    }

    pub fn step(&mut self, params: &Params, grads: &GradStore) -> Result<()> {
        for (i, (name, var)) in params.names.iter().zip(&params.vars).enumerate() {
            if !params.trainable[i] {
                continue;
            }
            let g = grads.get(var).with_context(|| format!("no gradient for {name}"))?;
            let mut p = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let gh = g.flatten_all()?.to_vec1::<f32>()?;
            let mut v = std::mem::take(&mut self.v[i]);
            self.apply(&mut p, &gh, &mut v);
            self.v[i] = v;
            var.set(&Tensor::from_vec(p, var.shape(), var.device())?)?;
        }
        Ok(())
    }
}

/// The optimiser a spec names, over one network's parameters.
pub enum Optimizer {
    Adam(Adam),
    Sgd(SgdKeras),
}

impl Optimizer {
    pub fn new(spec: &OptimSpec, params: &Params) -> Optimizer {
        match spec.kind {
            OptimKind::AdamKeras | OptimKind::AdamTorch => Optimizer::Adam(Adam::new(spec, params)),
            OptimKind::SgdKeras => Optimizer::Sgd(SgdKeras::new(spec, params)),
        }
    }
    pub fn step(&mut self, params: &Params, grads: &GradStore) -> Result<()> {
        match self {
            Optimizer::Adam(a) => a.step(params, grads),
            Optimizer::Sgd(s) => s.step(params, grads),
        }
    }
}

/// An optimiser's state for checkpoints: its step count and buffers (Adam: every
/// parameter's `m`, then every `v`; SGD: every velocity), in parameter order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimState {
    pub t: u64,
    pub buffers: Vec<Vec<f32>>,
}

fn restore(dst: &mut [Vec<f32>], src: Vec<Vec<f32>>, what: &str) -> Result<()> {
    if dst.len() != src.len() || dst.iter().zip(&src).any(|(a, b)| a.len() != b.len()) {
        anyhow::bail!("{what} state does not fit this model's parameters (checkpoint from another spec?)");
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s;
    }
    Ok(())
}

impl Adam {
    pub fn state(&self) -> OptimState {
        OptimState {
            t: self.t,
            buffers: self.m.iter().chain(&self.v).cloned().collect(),
        }
    }
    pub fn set_state(&mut self, s: OptimState) -> Result<()> {
        let n = self.m.len();
        if s.buffers.len() != 2 * n {
            anyhow::bail!("Adam state has {} buffers, this model needs {}", s.buffers.len(), 2 * n);
        }
        let mut b = s.buffers;
        let v = b.split_off(n);
        restore(&mut self.m, b, "Adam m")?;
        restore(&mut self.v, v, "Adam v")?;
        self.t = s.t;
        Ok(())
    }
}

impl SgdKeras {
    pub fn state(&self) -> OptimState {
        OptimState {
            t: 0,
            buffers: self.v.clone(),
        }
    }
    pub fn set_state(&mut self, s: OptimState) -> Result<()> {
        restore(&mut self.v, s.buffers, "SGD velocity")
    }
}

impl Optimizer {
    pub fn state(&self) -> OptimState {
        match self {
            Optimizer::Adam(a) => a.state(),
            Optimizer::Sgd(s) => s.state(),
        }
    }
    pub fn set_state(&mut self, s: OptimState) -> Result<()> {
        match self {
            Optimizer::Adam(a) => a.set_state(s),
            Optimizer::Sgd(o) => o.set_state(s),
        }
    }
}
