//! Keras `MaxPooling2D(pool_size=(2, 2))` on NCHW tensors, with TensorFlow's
//! gradient: each window's gradient goes to its first maximum (rows, then columns),
//! never shared among ties. Ties are common in the keras-dcgan discriminator (tanh
//! of a convolution over MNIST's constant border), and candle's own `max_pool2d`
//! backward spreads the gradient over tied elements, which the step-parity check
//! against the article's code caught (issue 11).

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::ops::f32_view;

/// 2x2 max-pooling, stride 2, 'valid' (odd trailing rows and columns dropped).
pub struct MaxPool2x2;

fn dims(l: &Layout) -> Result<(usize, usize, usize, usize)> {
    match *l.dims() {
        [n, c, h, w] => Ok((n, c, h, w)),
        ref d => bail!("max-pool 2x2: expected an NCHW tensor, got {d:?}"),
    }
}

/// Index (within the plane) of the first maximum of window `(i, j)`.
#[inline]
fn argmax(plane: &[f32], w: usize, i: usize, j: usize) -> usize {
    let mut best = 2 * i * w + 2 * j;
    for (di, dj) in [(0, 1), (1, 0), (1, 1)] {
        let k = (2 * i + di) * w + 2 * j + dj;
        if plane[k] > plane[best] {
            best = k;
        }
    }
    best
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "ganlab-max-pool-2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims(l)?;
        let (ho, wo) = (h / 2, w / 2);
        let x = f32_view(s, l)?;
        let mut out = vec![0f32; n * c * ho * wo];
        if ho * wo > 0 {
            out.par_chunks_mut(ho * wo).enumerate().for_each(|(p, o)| {
                let plane = &x[p * h * w..(p + 1) * h * w];
                for i in 0..ho {
                    for j in 0..wo {
                        o[i * wo + j] = plane[argmax(plane, w, i, j)];
                    }
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, ho, wo))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, c, h, w) = arg.dims4()?;
        let (ho, wo) = (h / 2, w / 2);
        let x = arg.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut dx = vec![0f32; n * c * h * w];
        if ho * wo > 0 {
            dx.par_chunks_mut(h * w).enumerate().for_each(|(p, d)| {
                let plane = &x[p * h * w..(p + 1) * h * w];
                let gp = &g[p * ho * wo..(p + 1) * ho * wo];
                for i in 0..ho {
                    for j in 0..wo {
                        d[argmax(plane, w, i, j)] += gp[i * wo + j];
                    }
                }
            });
        }
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// `MaxPooling2D((2, 2))` of `[n, c, h, w]`: `[n, c, h / 2, w / 2]`. CPU f32 uses the
/// kernel above; other devices and dtypes fall back to candle's op.
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.apply_op1(MaxPool2x2)
    } else {
        x.max_pool2d(2)
    }
}
