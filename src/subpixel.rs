//! Transposed convolution as `stride x stride` ordinary convolutions ("sub-pixel"
//! form), the fast path of [`crate::conv::ConvTranspose2d`].
//!
//! Output pixel `p = s*m + r` of a stride-`s` transposed convolution receives input
//! pixel `a` through tap `t` exactly when `s*a + t - pad = p`, i.e. only the taps
//! `t = r + pad (mod s)` reach output class `r`, from input pixels `m + (r + pad - t) / s`.
//! Each class `(ry, rx)` is therefore a stride-1 convolution of the *input* image with
//! the `k/s x k/s` sub-kernel of its taps, and the results interleave into the output.
//! Same multiply-adds as im2col + col2im, but each class is one GEMM with `c_in*(k/s)^2`
//! deep rows on the small image (no `c_out*k*k`-row column buffer, no scatter-add).
//! Used for the forward pass; the gradients keep the strided-convolution form, which
//! measured faster than summing the classes' adjoints.

use crate::conv::{conv_fwd, Geom, Pad};

/// One axis of one output class.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AxisClass {
    /// Output positions `r, r + s, ...`: `count` of them.
    r: usize,
    count: usize,
    /// Kernel taps in window order (ascending input offset), i.e. descending `t`.
    taps: Vec<usize>,
    pad: Pad,
}

/// The classes of one axis: output size `out`, input size `input`, kernel `k`,
/// stride `s`, padding before `pb` (of the convolution whose adjoint this is).
/// `None` when some class has no tap or would need a negative pad (then the
/// im2col path is used).
fn axis_classes(out: usize, input: usize, k: usize, s: usize, pb: usize) -> Option<Vec<AxisClass>> {
    (0..s.min(out))
        .map(|r| {
            let count = (out - r).div_ceil(s);
            let t0 = (r + pb) % s;
            let mut taps: Vec<usize> = (t0..k).step_by(s).collect();
            taps.reverse();
            let t_max = *taps.first()?;
            // offset of tap t: (r + pb - t) / s (exact); the window starts at the largest t.
            let d_min = (r as i64 + pb as i64 - t_max as i64) / s as i64;
            let before = -d_min;
            let after = count as i64 - 1 + taps.len() as i64 - input as i64 - before;
            (before >= 0 && after >= 0).then(|| AxisClass {
                r,
                count,
                taps,
                pad: Pad {
                    before: before as usize,
                    after: after as usize,
                },
            })
        })
        .collect()
}

/// A transposed convolution split into its output classes.
pub(crate) struct Plan {
    rows: Vec<AxisClass>,
    cols: Vec<AxisClass>,
    stride: usize,
    /// Input `[c_in, h, w]`, output `[c_out, oh, ow]`.
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    k: (usize, usize),
}

impl Plan {
    /// `g` is the geometry of the convolution (on the output image, `c = c_out`) whose
    /// adjoint the transposed convolution is; `c_in` its output channels.
    pub(crate) fn new(g: &Geom, c_in: usize) -> Option<Plan> {
        let (h, w) = (g.out_h(), g.out_w());
        Some(Plan {
            rows: axis_classes(g.h, h, g.kh, g.stride, g.ph.before)?,
            cols: axis_classes(g.w, w, g.kw, g.stride, g.pw.before)?,
            stride: g.stride,
            c_in,
            c_out: g.c,
            h,
            w,
            oh: g.h,
            ow: g.w,
            k: (g.kh, g.kw),
        })
    }

    fn classes(&self) -> impl Iterator<Item = (&AxisClass, &AxisClass)> {
        self.rows
            .iter()
            .flat_map(move |ry| self.cols.iter().map(move |rx| (ry, rx)))
    }

    /// The class's stride-1 convolution on the input image (`c = c_in`, `o = c_out`).
    fn geom(&self, ry: &AxisClass, rx: &AxisClass) -> Geom {
        Geom {
            c: self.c_in,
            h: self.h,
            w: self.w,
            kh: ry.taps.len(),
            kw: rx.taps.len(),
            stride: 1,
            ph: ry.pad,
            pw: rx.pad,
        }
    }

    /// `w [c_in, c_out, kh, kw]` -> the class's kernel `[c_out, c_in, kh', kw']`.
    fn sub_kernel(&self, w: &[f32], ry: &AxisClass, rx: &AxisClass) -> Vec<f32> {
        let (kh, kw) = self.k;
        let (a, b) = (ry.taps.len(), rx.taps.len());
        let mut out = vec![0f32; self.c_out * self.c_in * a * b];
        for co in 0..self.c_out {
            for ci in 0..self.c_in {
                let src = &w[(ci * self.c_out + co) * kh * kw..][..kh * kw];
                let dst = &mut out[(co * self.c_in + ci) * a * b..][..a * b];
                for (jy, &ty) in ry.taps.iter().enumerate() {
                    for (jx, &tx) in rx.taps.iter().enumerate() {
                        dst[jy * b + jx] = src[ty * kw + tx];
                    }
                }
            }
        }
        out
    }

    /// Visit the output pixels of a class: `f(class_index, output_index)` over
    /// `[n, c_out, count_y, count_x]` and `[n, c_out, oh, ow]`.
    fn for_pixels(&self, n: usize, ry: &AxisClass, rx: &AxisClass, mut f: impl FnMut(usize, usize)) {
        let (cy, cx, s) = (ry.count, rx.count, self.stride);
        for plane in 0..n * self.c_out {
            for my in 0..cy {
                let src = (plane * cy + my) * cx;
                let dst = (plane * self.oh + s * my + ry.r) * self.ow + rx.r;
                for mx in 0..cx {
                    f(src + mx, dst + s * mx);
                }
            }
        }
    }

    /// Forward: `x [n, c_in, h, w]` -> `[n, c_out, oh, ow]` (no bias).
    pub(crate) fn forward(&self, x: &[f32], w: &[f32], n: usize) -> Vec<f32> {
        let mut y = vec![0f32; n * self.c_out * self.oh * self.ow];
        for (ry, rx) in self.classes() {
            let yc = conv_fwd(x, &self.sub_kernel(w, ry, rx), n, self.c_out, &self.geom(ry, rx));
            self.for_pixels(n, ry, rx, |i, j| y[j] = yc[i]);
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_the_dcgan_upsampling() {
        // k = 4, stride 2, 'same' on 14 -> 28: TF pads the strided convolution 1 before.
        let c = axis_classes(28, 14, 4, 2, 1).unwrap();
        assert_eq!(c[0].taps, vec![3, 1]); // big[2m] = w1 x[m] + w3 x[m-1]
        assert_eq!(c[0].pad, Pad { before: 1, after: 0 });
        assert_eq!(c[1].taps, vec![2, 0]); // big[2m+1] = w2 x[m] + w0 x[m+1]
        assert_eq!(c[1].pad, Pad { before: 0, after: 1 });
        assert_eq!((c[0].count, c[1].count), (14, 14));
    }
}
