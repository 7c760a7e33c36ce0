//! The forward pass of Keras `Conv2DTranspose(o, (4, 4), strides=(2, 2),
//! padding='same')` (article 004's two upsampling layers) by Winograd's F(2 x 2, 2 x 2),
//! without column matrices.
//!
//! Output pixel `(2p + a, 2q + b)` of a stride-2 4 x 4 transposed convolution sees, per
//! axis, two of the four taps: for `a = 0` taps 3 and 1 at input rows `p - 1` and `p`,
//! for `a = 1` taps 2 and 0 at rows `p` and `p + 1`. Each of the four output phases
//! `(a, b)` is thus a 2 x 2 stride-1 correlation of the *input* (no `W^T x` column
//! matrix, 16 times the input, and no col2im scatter of it).
//!
//! Each phase's 2 x 2 correlation is computed by Winograd's minimal filtering F(2, 2)
//! along both axes (Lavin and Gray 2015, "Fast Algorithms for Convolutional Neural
//! Networks"): a 2 x 2 block of outputs from a 3 x 3 input window takes 9 products
//! per channel pair instead of 16, as 9 GEMMs `V_xi U_xi^T` (tiles x channels times
//! channels x channels). The transforms are sums and differences only (`B^T`, `G`, `A^T`
//! below): no fractions, so no rounding beyond that of the reordered sums; test
//! `equals_the_column_form` bounds the difference against [`super::conv`]'s column form
//! and the parity tests against the article's framework.
//!
//! Measured (Intel Xeon with AVX-512, 2 threads, dcgan's step, `ganlab bench
//! experiments/dcgan.yaml --breakdown`, the two forms alternated in one session): the
//! 14 -> 28 layer's forward over 256 images 82-86 ms against 98-104 ms for the previous
//! tap-by-tap GEMMs (16 per phase set, on shifted views of a padded plane); 7 -> 14 24-26
//! against 28-31 ms. The backward pass stays on the column form ([`super::conv`]),
//! whose input and weight gradients share one im2col of `dy`.

use super::conv::{Epilogue, Geom, Pad};

/// Whether `g` (the convolution on the transposed convolution's *output*, as
/// [`super::conv`] states it) is a 4 x 4 stride-2 'same' one over an even image.
pub(crate) fn fits(g: &Geom) -> bool {
    let one = Pad { before: 1, after: 1 };
    g.stride == 2
        && (g.kh, g.kw) == (4, 4)
        && g.ph == one
        && g.pw == one
        && g.h.is_multiple_of(2)
        && g.w.is_multiple_of(2)
}

/// A strided operand: values from `off`, `(row stride, column stride)`.
type View<'a> = (&'a [f32], usize, (usize, usize));

/// `dst [m, n] = lhs [m, k] @ rhs [k, n]` with `dst` column-major (`dst[j * m + i]`),
/// one thread.
fn gemm_cm(dst: &mut [f32], lhs: View, rhs: View, (m, n, k): (usize, usize, usize)) {
    let last = |(v, off, (rs, cs)): View, r: usize, c: usize| {
        assert!(
            off + (r - 1) * rs + (c - 1) * cs < v.len(),
            "subpixel gemm: view out of bounds"
        );
    };
    assert!(m > 0 && n > 0 && k > 0 && dst.len() == m * n);
    last(lhs, m, k);
    last(rhs, k, n);
    // SAFETY: every element the strides address lies inside its slice (checked above),
    // and dst does not alias the inputs (&mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            m as isize,
            1,
            false,
            lhs.0.as_ptr().add(lhs.1),
            lhs.2 .1 as isize,
            lhs.2 .0 as isize,
            rhs.0.as_ptr().add(rhs.1),
            rhs.2 .1 as isize,
            rhs.2 .0 as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Images whose tiles share one GEMM (its `m`: the tiles of `GROUP` images).
const GROUP: usize = 4;

/// F(2, 2) along one axis, correlation form: the input window `(d0, d1, d2)` to
/// `(d0 - d1, d1, d2 - d1)`.
#[inline(always)]
fn bt(d: [f32; 3]) -> [f32; 3] {
    [d[0] - d[1], d[1], d[2] - d[1]]
}

/// The taps `(g0, g1)` to `(g0, g0 + g1, g1)`.
#[inline(always)]
fn gt(g: [f32; 2]) -> [f32; 3] {
    [g[0], g[0] + g[1], g[1]]
}

/// The products `(m0, m1, m2)` to the two outputs `(m0 + m1, m1 + m2)`.
#[inline(always)]
fn at(m: [f32; 3]) -> [f32; 2] {
    [m[0] + m[1], m[1] + m[2]]
}

/// The phase's kernel index along one axis for its window's taps 0 and 1: phase 0 reads
/// rows `p - 1, p` with taps 3, 1; phase 1 rows `p, p + 1` with taps 2, 0.
fn tap(a: usize, i: usize) -> usize {
    3 - a - 2 * i
}

/// `U[phase][xi][c_out][c_in]`: each phase's 2 x 2 taps, transformed (`G g G^T`).
fn transform_weights(w: &[f32], c_in: usize, c_out: usize) -> Vec<f32> {
    let mut u = vec![0f32; 4 * 9 * c_out * c_in];
    for (ph, (a, b)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
        for ci in 0..c_in {
            for co in 0..c_out {
                let k = &w[(ci * c_out + co) * 16..][..16];
                let g = |i: usize, j: usize| k[tap(a, i) * 4 + tap(b, j)];
                let rows = [gt([g(0, 0), g(0, 1)]), gt([g(1, 0), g(1, 1)])];
                for xj in 0..3 {
                    let col = gt([rows[0][xj], rows[1][xj]]);
                    for xi in 0..3 {
                        u[((ph * 9 + xi * 3 + xj) * c_out + co) * c_in + ci] = col[xi];
                    }
                }
            }
        }
    }
    u
}

/// `o[xi * 3 + xj] = (B^T d B)[xi][xj]` of nine channel vectors `d[r * 3 + s]` (the 3 x 3
/// window), channel by channel.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn input_transform(d: [&[f32]; 9], o: [&mut [f32]; 9]) {
    let c = o[0].len();
    let [o0, o1, o2, o3, o4, o5, o6, o7, o8] = o;
    let (o0, o1, o2, o3, o4, o5, o6, o7, o8) = (
        &mut o0[..c],
        &mut o1[..c],
        &mut o2[..c],
        &mut o3[..c],
        &mut o4[..c],
        &mut o5[..c],
        &mut o6[..c],
        &mut o7[..c],
        &mut o8[..c],
    );
    let d: [&[f32]; 9] = d.map(|v| &v[..c]);
    for k in 0..c {
        let r0 = bt([d[0][k], d[1][k], d[2][k]]);
        let r1 = bt([d[3][k], d[4][k], d[5][k]]);
        let r2 = bt([d[6][k], d[7][k], d[8][k]]);
        let e0 = bt([r0[0], r1[0], r2[0]]);
        let e1 = bt([r0[1], r1[1], r2[1]]);
        let e2 = bt([r0[2], r1[2], r2[2]]);
        (o0[k], o3[k], o6[k]) = (e0[0], e0[1], e0[2]);
        (o1[k], o4[k], o7[k]) = (e1[0], e1[1], e1[2]);
        (o2[k], o5[k], o8[k]) = (e2[0], e2[1], e2[2]);
    }
}

/// `y[oi * 2 + oj] = (A^T M A)[oi][oj]` over tiles, `m[xi * 3 + xj]` the products.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn output_transform(m: [&[f32]; 9], y: [&mut [f32]; 4]) {
    let n = y[0].len();
    let [y0, y1, y2, y3] = y;
    let (y0, y1, y2, y3) = (&mut y0[..n], &mut y1[..n], &mut y2[..n], &mut y3[..n]);
    let m: [&[f32]; 9] = m.map(|v| &v[..n]);
    for j in 0..n {
        let r0 = at([m[0][j], m[1][j], m[2][j]]);
        let r1 = at([m[3][j], m[4][j], m[5][j]]);
        let r2 = at([m[6][j], m[7][j], m[8][j]]);
        let c0 = at([r0[0], r1[0], r2[0]]);
        let c1 = at([r0[1], r1[1], r2[1]]);
        (y0[j], y1[j], y2[j], y3[j]) = (c0[0], c1[0], c0[1], c1[1]);
    }
}

/// The tiling of one layer's input: `h x w` pixels of `c` channels in `th x tw` tiles of
/// 2 x 2 outputs per phase, read from a padded copy `hp x wp`, channels last (input
/// pixel `(r, q)` at `(r + 1, q + 1)`, zeros around).
#[derive(Clone, Copy)]
struct Tiles {
    c: usize,
    h: usize,
    w: usize,
    th: usize,
    tw: usize,
    hp: usize,
    wp: usize,
}

impl Tiles {
    fn new(c: usize, h: usize, w: usize) -> Tiles {
        let (th, tw) = (h.div_ceil(2), w.div_ceil(2));
        Tiles {
            c,
            h,
            w,
            th,
            tw,
            hp: 2 * th + 2,
            wp: 2 * tw + 2,
        }
    }
    /// Tiles per image and phase.
    fn per_image(self) -> usize {
        self.th * self.tw
    }
    /// One image's padded copy.
    fn padded_len(self) -> usize {
        self.hp * self.wp * self.c
    }
    /// `xn [c, h, w]` -> `out`, padded, channels last.
    fn pad(self, xn: &[f32], out: &mut [f32]) {
        let Tiles { c, h, w, wp, .. } = self;
        out.fill(0.0);
        for r in 0..h {
            for q in 0..w {
                let px = &mut out[((r + 1) * wp + q + 1) * c..][..c];
                for (k, o) in px.iter_mut().enumerate() {
                    *o = xn[(k * h + r) * w + q];
                }
            }
        }
    }
    /// `V[xi][img * t + tile][c] = B^T d B` of every tile's 3 x 3 window in phase `(a, b)`,
    /// over the padded images in `xp`; `nt` tiles in all.
    fn transform_input(self, xp: &[f32], (a, b): (usize, usize), nt: usize, v: &mut [f32]) {
        let Tiles { c, th, tw, wp, .. } = self;
        for (i, xi) in xp
            .chunks_exact(self.padded_len())
            .take(nt / self.per_image())
            .enumerate()
        {
            for ty in 0..th {
                for tx in 0..tw {
                    let px = |r: usize, s: usize| &xi[((2 * ty + a + r) * wp + 2 * tx + b + s) * c..][..c];
                    let d: [&[f32]; 9] = std::array::from_fn(|k| px(k / 3, k % 3));
                    let col = i * self.per_image() + ty * tw + tx;
                    let mut outs = v.chunks_exact_mut(nt * c).map(|p| &mut p[col * c..][..c]);
                    input_transform(d, std::array::from_fn(|_| outs.next().expect("9 planes")));
                }
            }
        }
    }
    /// Channel `co`'s outputs of phase `(a, b)`, `ys[oi * 2 + oj]` over the `nt` tiles, into
    /// `y[co, 2p + a, 2q + b]` of each image of `yg` (`[imgs, c_out, 2h, 2w]`).
    fn scatter(self, ys: [&[f32]; 4], (a, b): (usize, usize), co: usize, yg: &mut [f32], out_img: usize) {
        let Tiles { h, w, th, tw, .. } = self;
        let ow = 2 * w;
        for (i, yi) in yg.chunks_exact_mut(out_img).enumerate() {
            let yn = &mut yi[co * 4 * h * w..][..4 * h * w];
            for ty in 0..th {
                for oi in 0..2 {
                    let p = 2 * ty + oi;
                    if p >= h {
                        continue;
                    }
                    // Output row 2p + a: tile tx's two values at columns 4 tx + b and 4 tx + 2 + b.
                    let dst = &mut yn[(2 * p + a) * ow..][..ow];
                    let j = i * self.per_image() + ty * tw;
                    let (s0, s1) = (&ys[oi * 2][j..][..tw], &ys[oi * 2 + 1][j..][..tw]);
                    for ((quad, &v0), &v1) in dst.chunks_exact_mut(4).zip(s0).zip(s1) {
                        quad[b] = v0;
                        quad[2 + b] = v1;
                    }
                    // An odd width: the last tile's first column only.
                    if w % 2 == 1 {
                        dst[4 * (tw - 1) + b] = s0[tw - 1];
                    }
                }
            }
        }
    }
}

/// The forward pass: `x [n, c_in, h, w]`, `w [c_in, c_out, 4, 4]` -> `[n, c_out, 2h, 2w]`,
/// then `epi`'s bias and activation, if any. `g` is the convolution on the output
/// ([`fits`]). Images go `GROUP` at a time through each thread: pad (channels last),
/// then per phase the input transform, 9 GEMMs, the output transform and its scatter.
pub(crate) fn forward(x: &[f32], w: &[f32], n: usize, c_in: usize, g: &Geom, epi: Option<&Epilogue>) -> Vec<f32> {
    let (c_out, c) = (g.c, c_in);
    let tl = Tiles::new(c_in, g.h / 2, g.w / 2);
    let t = tl.per_image();
    let u = transform_weights(w, c_in, c_out);
    let (out_img, in_len) = (c_out * g.h * g.w, c_in * tl.h * tl.w);
    let mut y = crate::runtime::zeros(n * out_img);
    crate::runtime::for_each_chunk_init(
        &mut y,
        GROUP * out_img,
        || {
            (
                vec![0f32; GROUP * tl.padded_len()],
                vec![0f32; 9 * GROUP * t * c],
                vec![0f32; 9 * c_out * GROUP * t],
                vec![0f32; 4 * GROUP * t],
            )
        },
        |(xp, v, m, ys), gi, yg| {
            let imgs = yg.len() / out_img;
            let nt = imgs * t;
            for (i, xi) in xp.chunks_exact_mut(tl.padded_len()).take(imgs).enumerate() {
                tl.pad(&x[(gi * GROUP + i) * in_len..][..in_len], xi);
            }
            for (ph, (a, b)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
                tl.transform_input(xp, (a, b), nt, v);
                // M[xi]^T [tiles, c_out] = V[xi] [tiles, c] @ U[xi]^T: the tiles along the
                // microkernel's vectors, so that M's tiles are contiguous per channel.
                for xi in 0..9 {
                    let lhs = (&v[xi * nt * c..][..nt * c], 0, (c, 1));
                    let rhs = (&u[(ph * 9 + xi) * c_out * c..][..c_out * c], 0, (1, c));
                    gemm_cm(&mut m[xi * c_out * nt..][..c_out * nt], lhs, rhs, (nt, c_out, c));
                }
                // y[co, 2p + a, 2q + b] from A^T M A of its tile, with the epilogue.
                for co in 0..c_out {
                    let mk: [&[f32]; 9] = std::array::from_fn(|k| &m[(k * c_out + co) * nt..][..nt]);
                    let mut yk = ys.chunks_exact_mut(GROUP * t).map(|p| &mut p[..nt]);
                    let mut yk: [&mut [f32]; 4] = std::array::from_fn(|_| yk.next().expect("4 outputs"));
                    output_transform(mk, yk.each_mut().map(|p| &mut **p));
                    if let Some(e) = epi {
                        for p in yk.iter_mut() {
                            e.apply_channel(co, p);
                        }
                    }
                    tl.scatter(yk.each_ref().map(|p| &**p), (a, b), co, yg, out_img);
                }
            }
        },
    );
    y
}

#[cfg(test)]
mod tests {
    use super::super::conv::{conv_adjoint, Act};
    use super::*;

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            scale > 0.0 && worst <= 1e-5 * scale,
            "{what}: off by {worst} at scale {scale}"
        );
    }

    /// The forward pass, without and with its epilogue, equals the column form ([`conv_adjoint`]) on dcgan's two layer
    /// shapes (7 -> 14, 14 -> 28) with other channel counts, and a 1-pixel image, to
    /// rounding.
    #[test]
    fn equals_the_column_form() {
        let one = Pad { before: 1, after: 1 };
        // 6 images: a full group of 4 and a part of one; 7 x 7: an odd width (half tiles).
        for (n, c_in, c_out, h) in [(3, 5, 7, 7), (2, 6, 3, 14), (1, 1, 1, 1), (6, 4, 5, 6)] {
            let g = Geom {
                c: c_out,
                h: 2 * h,
                w: 2 * h,
                kh: 4,
                kw: 4,
                stride: 2,
                ph: one,
                pw: one,
            };
            assert!(fits(&g));
            let val = |i: usize, m: usize| ((i * 7919) % m) as f32 / m as f32 - 0.5;
            let x: Vec<f32> = (0..n * c_in * h * h).map(|i| val(i, 97)).collect();
            let w: Vec<f32> = (0..c_in * c_out * 16).map(|i| val(i, 89)).collect();
            close(
                &forward(&x, &w, n, c_in, &g, None),
                &conv_adjoint(&x, &w, n, c_in, &g, None),
                "forward",
            );
            let bias: Vec<f32> = (0..c_out).map(|i| val(i, 13)).collect();
            let epi = Epilogue {
                bias: &bias,
                act: Act::LeakyRelu(0.2),
            };
            let fused = forward(&x, &w, n, c_in, &g, Some(&epi));
            close(
                &fused,
                &conv_adjoint(&x, &w, n, c_in, &g, Some(&epi)),
                "with bias and LeakyReLU",
            );
            assert!(fused.iter().any(|&v| v < 0.0) && fused != forward(&x, &w, n, c_in, &g, None));
        }
        let valid = Geom {
            ph: Pad { before: 0, after: 0 },
            ..Geom {
                c: 1,
                h: 4,
                w: 4,
                kh: 4,
                kw: 4,
                stride: 2,
                ph: one,
                pw: one,
            }
        };
        assert!(!fits(&valid));
    }
}
