//! Optimisers in each article framework's exact update form.

use std::cell::RefCell;

use anyhow::{Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::kernels::{sgd_update, AdamForm, AdamStep, SgdStep};
use crate::nn::Params;
use crate::spec::{OptimKind, OptimSpec};

/// Adam with its moment buffers, in the Keras 2 or PyTorch form.
pub struct Adam {
    pub spec: OptimSpec,
    pub form: AdamForm,
    /// Steps taken so far (Keras's `iterations`, torch's `state['step']`).
    pub t: u64,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
    /// Off the fused CPU path (a GPU): `m` and `v` as tensors on the parameters'
    /// device, made from the host buffers at the first step there; `state()` reads them back.
    on_device: Vec<Option<(Tensor, Tensor)>>,
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
            on_device: vec![None; params.vars.len()],
        }
    }

    /// One update of every parameter in `params` from `grads`.
    pub fn step(&mut self, params: &Params, grads: &GradStore) -> Result<()> {
        self.t += 1;
        step_each(self, params, grads)
    }
}

/// Keras 2 `SGD(lr, momentum, nesterov=True)`:
/// `v = momentum * v - lr * g`; `p += momentum * v - lr * g` (without Nesterov: `p += v`).
pub struct SgdKeras {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub v: Vec<Vec<f32>>,
    /// Off the fused CPU path: the velocities on the parameters' device.
    on_device: Vec<Option<Tensor>>,
}

impl SgdKeras {
    pub fn new(spec: &OptimSpec, params: &Params) -> SgdKeras {
        SgdKeras {
            lr: spec.lr as f32,
            momentum: spec.momentum as f32,
            nesterov: spec.nesterov,
            v: params.vars.iter().map(|v| vec![0f32; v.elem_count()]).collect(),
            on_device: vec![None; params.vars.len()],
        }
    }

    /// The update on plain slices ([`sgd_update`], one pass).
    pub fn apply(&self, p: &mut [f32], g: &[f32], v: &mut [f32]) {
        sgd_update(self.lr, self.momentum, self.nesterov, p, g, v);
    }

    pub fn step(&mut self, params: &Params, grads: &GradStore) -> Result<()> {
        step_each(self, params, grads)
    }
}

/// The optimiser a spec names, over one network's parameters.
pub enum Optimizer {
    Adam(Adam),
    Sgd(SgdKeras),
}

/// An optimiser's update of one tensor: on the host buffers (the fused CPU path) or
/// from candle's tensor ops on the parameter's device (the portable path).
trait PerTensor {
    fn step_host(&mut self, i: usize, var: &Var, g: &Tensor) -> Result<()>;
    fn step_tensors(&mut self, i: usize, var: &Var, g: &Tensor) -> Result<()>;
}

impl PerTensor for Adam {
    /// The in-place host kernel ([`AdamStep`]) on parameter `i`.
    fn step_host(&mut self, i: usize, var: &Var, g: &Tensor) -> Result<()> {
        let op = AdamStep {
            form: self.form,
            lr: self.spec.lr,
            beta1: self.spec.beta1,
            beta2: self.spec.beta2,
            eps: self.spec.eps(),
            t: self.t,
            m: RefCell::new(&mut self.m[i]),
            v: RefCell::new(&mut self.v[i]),
        };
        var.as_tensor().inplace_op2(g, &op)?;
        Ok(())
    }

    /// The same update as [`AdamStep`] from candle's tensor ops, on the parameter's
    /// device (the portable path; equal up to f32 rounding order).
    fn step_tensors(&mut self, i: usize, var: &Var, g: &Tensor) -> Result<()> {
        let p = var.as_tensor();
        let (m, v) = match self.on_device[i].take() {
            Some(mv) => mv,
            None => (
                Tensor::from_slice(&self.m[i], p.shape(), p.device())?,
                Tensor::from_slice(&self.v[i], p.shape(), p.device())?,
            ),
        };
        let g = g.to_dtype(p.dtype())?;
        let (b1, b2) = (self.spec.beta1 as f32, self.spec.beta2 as f32);
        let (m, v, update) = match self.form {
            AdamForm::Keras => {
                let t = self.t as f32;
                let lr_t = self.spec.lr as f32 * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
                let m = (m.affine(b1 as f64, 0.0)? + g.affine((1.0 - b1) as f64, 0.0)?)?;
                let v = (v.affine(b2 as f64, 0.0)? + g.sqr()?.affine((1.0 - b2) as f64, 0.0)?)?;
                let u = m
                    .div(&v.sqrt()?.affine(1.0, self.spec.eps() as f32 as f64)?)?
                    .affine(lr_t as f64, 0.0)?;
                (m, v, u)
            }
            AdamForm::Torch => {
                let t = self.t as i32;
                let bc1 = 1.0 - self.spec.beta1.powi(t);
                let bc2_sqrt = (1.0 - self.spec.beta2.powi(t)).sqrt() as f32;
                let step = (self.spec.lr / bc1) as f32;
                let (w1, w2) = ((1.0 - self.spec.beta1) as f32, (1.0 - self.spec.beta2) as f32);
                let m = (&m + g.sub(&m)?.affine(w1 as f64, 0.0)?)?;
                let v = (v.affine(b2 as f64, 0.0)? + g.sqr()?.affine(w2 as f64, 0.0)?)?;
                let denom = v.sqrt()?.affine(1.0 / bc2_sqrt as f64, self.spec.eps() as f32 as f64)?;
                let u = m.div(&denom)?.affine(step as f64, 0.0)?;
                (m, v, u)
            }
        };
        var.set(&p.sub(&update)?)?;
        self.on_device[i] = Some((m, v));
        Ok(())
    }
}

impl PerTensor for SgdKeras {
    /// The in-place host kernel ([`SgdStep`]: [`SgdKeras::apply`]'s arithmetic, in
    /// chunks on the step pool) on parameter `i`.
    fn step_host(&mut self, i: usize, var: &Var, g: &Tensor) -> Result<()> {
        let op = SgdStep {
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            v: RefCell::new(&mut self.v[i]),
        };
        var.as_tensor().inplace_op2(g, &op)?;
        Ok(())
    }

    /// [`SgdKeras::apply`] from candle's tensor ops on the parameter's device (the
    /// portable path).
    fn step_tensors(&mut self, i: usize, var: &Var, g: &Tensor) -> Result<()> {
        let p = var.as_tensor();
        let v = match self.on_device[i].take() {
            Some(v) => v,
            None => Tensor::from_slice(&self.v[i], p.shape(), p.device())?,
        };
        let (lr, mu) = (self.lr as f64, self.momentum as f64);
        let lr_g = g.to_dtype(p.dtype())?.affine(lr, 0.0)?;
        let v = v.affine(mu, 0.0)?.sub(&lr_g)?;
        let step = if self.nesterov {
            v.affine(mu, 0.0)?.sub(&lr_g)?
        } else {
            v.clone()
        };
        var.set(&p.add(&step)?)?;
        self.on_device[i] = Some(v);
        Ok(())
    }
}

/// Each trainable tensor of `params` updated from its gradient in `grads`, in order.
fn step_each(opt: &mut impl PerTensor, params: &Params, grads: &GradStore) -> Result<()> {
    for (i, (name, var)) in params.names.iter().zip(&params.vars).enumerate() {
        if !params.trainable[i] {
            continue;
        }
        let g = grads.get(var).with_context(|| format!("no gradient for {name}"))?;
        if crate::device::fused(var.as_tensor()) {
            opt.step_host(i, var, g)?;
        } else {
            opt.step_tensors(i, var, g)?;
        }
    }
    Ok(())
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

/// A buffer as host floats: from the device when the portable path holds it there.
fn host(buf: &[f32], on_device: Option<&Tensor>) -> Result<Vec<f32>> {
    match on_device {
        Some(t) => Ok(t.flatten_all()?.to_vec1::<f32>()?),
        None => Ok(buf.to_vec()),
    }
}

impl Adam {
    pub fn state(&self) -> Result<OptimState> {
        let m = (0..self.m.len()).map(|i| host(&self.m[i], self.on_device[i].as_ref().map(|d| &d.0)));
        let v = (0..self.v.len()).map(|i| host(&self.v[i], self.on_device[i].as_ref().map(|d| &d.1)));
        Ok(OptimState {
            t: self.t,
            buffers: m.chain(v).collect::<Result<_>>()?,
        })
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
        self.on_device.iter_mut().for_each(|d| *d = None);
        Ok(())
    }
}

impl SgdKeras {
    pub fn state(&self) -> Result<OptimState> {
        Ok(OptimState {
            t: 0,
            buffers: (0..self.v.len())
                .map(|i| host(&self.v[i], self.on_device[i].as_ref()))
                .collect::<Result<_>>()?,
        })
    }
    pub fn set_state(&mut self, s: OptimState) -> Result<()> {
        restore(&mut self.v, s.buffers, "SGD velocity")?;
        self.on_device.iter_mut().for_each(|d| *d = None);
        Ok(())
    }
}

impl Optimizer {
    pub fn state(&self) -> Result<OptimState> {
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
