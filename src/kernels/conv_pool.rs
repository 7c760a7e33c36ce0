//! Keras `Conv2D` -> `Activation` -> `MaxPooling2D((2, 2))` as one op: 001's
//! discriminator, whose two convolutions are each followed by tanh and a 2x2 pool.
//!
//! Apart, the three ops write the full-size activation (D's first layer: 51 MB for a
//! batch of 256), read it back to pool, and in the backward pass write a full-size
//! gradient of zeros with one value a window, copy it and the activation for the
//! activation's gradient, and read the result. Fused, each image's activation stays in
//! a per-thread buffer: the op pools it at once and keeps which element of each
//! window was the first maximum (TensorFlow's `MaxPoolGrad` choice, one byte a
//! window). The backward pass takes the activation's gradient at the pooled size
//! (the pooled value is the activation at the chosen element) and, image by image in
//! a per-thread buffer, puts it at the chosen elements, zeros elsewhere (the same
//! values as the three ops' backward passes), then feeds it to the convolution's
//! weight, bias and input gradients. Bit for bit the three ops (test below).

use std::sync::Mutex;

use candle_core::{bail, Result, Shape, Tensor};

use super::conv::{
    adjoint_image, chunk_len, conv_fwd_image, dims4, finish_wgrad, fwd_weights, kn2row, pre_act_grad, sum_image_sums,
    wgrad_image, Act, Conv2d, Epilogue, Padding,
};
use super::dense::transpose;
use super::pool::first_max4;
use super::{grad_for, host_slice, Args3, Grads3, HostSlice, In};

/// `x [n, c, h, w]`, `w [o, c, kh, kw]`, `b [o]` -> `[n, o, oh / 2, ow / 2]`: the
/// convolution, `act`, and the maximum of each 2x2 window (a trailing odd row or
/// column is dropped, as `MaxPooling2D` does).
#[derive(Debug)]
pub struct Conv2dPool2 {
    pub conv: Conv2d,
    /// Per window, which of its four elements (row-major) was the first maximum.
    argmax: Mutex<Vec<u8>>,
}

cpu_op!(CustomOp3 for Conv2dPool2, "ganlab-conv2d-pool2", Gemm, bwd: grad);

/// Pool one image's `[o, oh, ow]` into `[o, oh/2, ow/2]`, noting each window's choice.
fn pool_image(yn: &[f32], oh: usize, ow: usize, out: &mut [f32], arg: &mut [u8]) {
    let (ph, pw) = (oh / 2, ow / 2);
    for ((plane, out), arg) in yn
        .chunks_exact(oh * ow)
        .zip(out.chunks_exact_mut(ph * pw))
        .zip(arg.chunks_exact_mut(ph * pw))
    {
        for oy in 0..ph {
            let (r0, r1) = (&plane[2 * oy * ow..][..2 * pw], &plane[(2 * oy + 1) * ow..][..2 * pw]);
            let windows = r0.chunks_exact(2).zip(r1.chunks_exact(2));
            for ((o, a), (p, q)) in out[oy * pw..][..pw]
                .iter_mut()
                .zip(&mut arg[oy * pw..][..pw])
                .zip(windows)
            {
                (*a, *o) = first_max4(p[0], p[1], q[0], q[1]);
            }
        }
    }
}

/// One image's pooled gradient `[o, oh/2, ow/2]` at its windows' chosen elements of
/// `[o, oh, ow]` (zeroed first).
fn unpool_image(gp: &[f32], arg: &[u8], oh: usize, ow: usize, gn: &mut [f32]) {
    gn.fill(0.0);
    let (ph, pw) = (oh / 2, ow / 2);
    for ((plane, gp), arg) in gn
        .chunks_exact_mut(oh * ow)
        .zip(gp.chunks_exact(ph * pw))
        .zip(arg.chunks_exact(ph * pw))
    {
        for (i, (&g, &a)) in gp.iter().zip(arg).enumerate() {
            let (oy, ox) = (i / pw, i % pw);
            plane[(2 * oy + (a as usize >> 1)) * ow + 2 * ox + (a as usize & 1)] = g;
        }
    }
}

impl Conv2dPool2 {
    fn fwd(&self, (x, l1): In, (w, l2): In, (b, l3): In) -> Result<(Vec<f32>, Shape)> {
        let (xd, wd) = (dims4(l1, "x")?, dims4(l2, "w")?);
        if xd[1] != wd[1] || l3.dims() != [wd[0]] {
            bail!("conv2d-pool2: x {xd:?}, w {wd:?}, b {:?} do not fit", l3.dims());
        }
        let g = self.conv.geom(xd, wd);
        let (n, o, oh, ow) = (xd[0], wd[0], g.out_h(), g.out_w());
        let pooled = o * (oh / 2) * (ow / 2);
        if pooled == 0 {
            bail!("conv2d-pool2: output {oh}x{ow} is smaller than one 2x2 window");
        }
        let (mut y, mut arg) = (vec![0f32; n * pooled], vec![0u8; n * pooled]);
        let epi = Epilogue {
            bias: b,
            act: self.conv.act,
        };
        let in_len = xd[1] * xd[2] * xd[3];
        let wt = fwd_weights(w, o, &g);
        crate::runtime::for_each_chunk2_init(
            &mut y,
            pooled,
            &mut arg,
            pooled,
            || (vec![0f32; o * oh * ow], Vec::new(), Vec::new()),
            |(yn, buf, yt), i, out, an| {
                conv_fwd_image(
                    &x[i * in_len..][..in_len],
                    w,
                    wt.as_deref(),
                    o,
                    &g,
                    buf,
                    yt,
                    yn,
                    Some(&epi),
                );
                pool_image(yn, oh, ow, out, an);
            },
        );
        *self.argmax.lock().expect("conv2d-pool2: argmax lock") = arg;
        Ok((y, Shape::from((n, o, oh / 2, ow / 2))))
    }

    /// Image by image, in the chunks and order of `conv_weight_grad` (so the sums are
    /// the three ops' own): the image's gradient at the convolution's output, in a
    /// per-thread buffer, feeds its weight, bias and input gradients at once.
    fn grad(&self, (x, w, b): Args3, res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let (xd, wd) = (dims4(x.layout(), "x")?, dims4(w.layout(), "w")?);
        let g = self.conv.geom(xd, wd);
        let (n, o, oh, ow) = (xd[0], wd[0], g.out_h(), g.out_w());
        let (in_len, out_len, rows) = (xd[1] * xd[2] * xd[3], o * oh * ow, g.rows());
        // The activation's gradient where it matters: at the pooled values.
        let gp = pre_act_grad(self.conv.act, res, grad)?;
        let arg = self.argmax.lock().expect("conv2d-pool2: argmax lock");
        let pooled = gp.len() / n;
        let (want_x, want_w) = (x.track_op(), w.track_op());
        let wt = if want_x {
            transpose(&host_slice(w)?, o, rows)
        } else {
            Vec::new()
        };
        let xs = if want_w {
            host_slice(x)?
        } else {
            HostSlice::Owned(Vec::new())
        };
        let per = chunk_len(n, oh * ow);
        let mut gx = vec![0f32; if want_x { n * in_len } else { 0 }];
        let mut slots: Vec<Option<&mut [f32]>> = if want_x {
            gx.chunks_mut(per * in_len).map(Some).collect()
        } else {
            (0..n.div_ceil(per)).map(|_| None).collect()
        };
        let mut parts: Vec<(Vec<f32>, Vec<f32>)> = vec![Default::default(); slots.len()];
        // Per thread: one image's gradient at the convolution and the column matrix (scratch).
        let scratch = || (vec![0f32; out_len], Vec::new());
        crate::runtime::for_each_chunk2_init(&mut slots, 1, &mut parts, 1, scratch, |(gn, buf), t, slot, part| {
            let gx_chunk = &mut slot[0];
            part[0] = {
                let (mut acc, mut sums) = (vec![0f32; if want_w { o * rows } else { 0 }], Vec::new());
                for (j, i) in (t * per..((t + 1) * per).min(n)).enumerate() {
                    unpool_image(&gp[i * pooled..][..pooled], &arg[i * pooled..][..pooled], oh, ow, gn);
                    sums.extend(gn.chunks_exact(oh * ow).map(|p| p.iter().sum::<f32>()));
                    if want_w {
                        wgrad_image(&xs[i * in_len..][..in_len], gn, o, &g, buf, &mut acc);
                    }
                    if let Some(gxc) = gx_chunk.as_deref_mut() {
                        adjoint_image(gn, &wt, o, &g, buf, &mut gxc[j * in_len..][..in_len]);
                    }
                }
                (acc, sums)
            };
        });
        drop(slots);
        let db = sum_image_sums(parts.iter().map(|(_, sums)| &sums[..]), o);
        let dw = want_w.then(|| finish_wgrad(parts.into_iter().map(|(acc, _)| acc).collect(), o, rows));
        let gx = grad_for(x, || Ok(gx))?;
        let gw = grad_for(w, || Ok(dw.unwrap_or_default()))?;
        let gb = grad_for(b, || Ok(db))?;
        super::grads::sink_params((w, b), (gx, gw, gb))
    }
}

/// `MaxPooling2D((2, 2))(act(Conv2D(x)))`: one op on the CPU (off the kn2row path of
/// few output channels), the three apart elsewhere.
pub fn conv2d_act_pool2(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: usize,
    padding: Padding,
    act: Act,
) -> Result<Tensor> {
    if crate::device::fused(x) && !kn2row(w.dim(0)?, stride) {
        let conv = Conv2d { stride, padding, act };
        return x.apply_op3(
            w,
            b,
            Conv2dPool2 {
                conv,
                argmax: Mutex::new(Vec::new()),
            },
        );
    }
    super::max_pool2d(&super::conv2d_act(x, w, b, stride, padding, act)?, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Values, and the gradients of x, w and b, equal the three ops' bit for bit: tanh
    /// saturated into ties (large weights), 'same' and 'valid', an odd output side
    /// whose last row and column no window covers, one and several input channels;
    /// with every input tracked, with data as input (D's step: no input gradient)
    /// and with frozen weights (G's step through D: the input gradient only).
    #[test]
    fn fused_equals_conv_act_pool() {
        let dev = Device::Cpu;
        for (n, c, h, o, k, padding, scale) in [
            (5, 1, 8, 6, 5, Padding::Same, 4.0f32), // 001's D conv1 in small: 'same', saturating
            (3, 3, 9, 5, 3, Padding::Valid, 0.3),   // 7x7 output: odd sides
            (4, 6, 8, 8, 5, Padding::Valid, 1.0),   // 001's D conv2 in small
        ] {
            assert!(!kn2row(o, 1), "the fused op must be the one under test");
            let val = |i: usize, m: usize| ((i * 7919) % m) as f32 / m as f32 - 0.5;
            let x = Var::from_vec((0..n * c * h * h).map(|i| val(i, 13)).collect(), (n, c, h, h), &dev).unwrap();
            let w: Vec<f32> = (0..o * c * k * k).map(|i| scale * val(i, 11)).collect();
            let w = Var::from_vec(w, (o, c, k, k), &dev).unwrap();
            // Saturating: biases near the clamp, so that many windows tie at its value.
            let shift = if scale > 1.0 { 8.5 } else { 0.0 };
            let b = Var::from_vec((0..o).map(|i| val(i, 5) + shift).collect(), o, &dev).unwrap();
            let flat = |t: Option<&Tensor>| t.map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            let run = |fused: bool, track_x: bool, track_w: bool| {
                let xi = if track_x {
                    x.as_tensor().clone()
                } else {
                    x.as_tensor().detach()
                };
                let (wi, bi) = if track_w {
                    (w.as_tensor().clone(), b.as_tensor().clone())
                } else {
                    (w.as_tensor().detach(), b.as_tensor().detach())
                };
                let y = if fused {
                    conv2d_act_pool2(&xi, &wi, &bi, 1, padding, Act::Tanh).unwrap()
                } else {
                    let a = crate::kernels::conv2d_act(&xi, &wi, &bi, 1, padding, Act::Tanh).unwrap();
                    crate::kernels::max_pool2d(&a, 2).unwrap()
                };
                let coef: Vec<f32> = (0..y.elem_count()).map(|i| val(i, 17) + 0.01).collect();
                let coef = Tensor::from_vec(coef, y.shape(), &dev).unwrap();
                let grads = y.mul(&coef).unwrap().sum_all().unwrap().backward().unwrap();
                [
                    flat(Some(&y)),
                    flat(grads.get(&x)),
                    flat(grads.get(&w)),
                    flat(grads.get(&b)),
                ]
            };
            for (track_x, track_w) in [(true, true), (false, true), (true, false)] {
                let (fused, apart) = (run(true, track_x, track_w), run(false, track_x, track_w));
                for (what, (f, a)) in ["y", "dx", "dw", "db"].iter().zip(fused.iter().zip(&apart)) {
                    let same = match (f, a) {
                        (Some(f), Some(a)) => {
                            f.len() == a.len() && f.iter().zip(a).all(|(p, q)| p.to_bits() == q.to_bits())
                        }
                        (f, a) => f.is_none() && a.is_none(),
                    };
                    assert!(
                        same,
                        "{what} differs ({n}, {c}, {h}, {o}, {k}, {padding:?}, x {track_x}, w {track_w})"
                    );
                }
                if scale > 1.0 {
                    // TensorFlow's tanh is constant past its clamp (+-7.9988), and not
                    // monotone just below it: ties, and a maximum only the activation knows.
                    let clamp = crate::kernels::fast_tanh(8.0);
                    let tied = fused[0].as_ref().unwrap().iter().filter(|&&v| v == clamp).count();
                    assert!(tied > 20, "the test wants tied, saturated maxima ({tied})");
                }
            }
        }
    }
}
