//! Convolution kernels against candle's own and against hand-made inputs.

mod common;

use candle_core::{Device, Tensor, Var};
use common::{assert_fd_gradient, assert_same_function, max_rel};
use ganlab::kernels::upsample2_conv2d;
use ganlab::kernels::{conv2d, conv_transpose2d, Pad, Padding};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    common::rand_tensor(shape, -1.0, 1.0, seed)
}

#[test]
fn same_padding_follows_tensorflow() {
    // 3x3 stride 2 on 28 and 14: 0 before, 1 after. 5x5 stride 1: 2 and 2. 2x2 stride 1: 0 and 1.
    assert_eq!(Padding::Same.pad(28, 3, 2), Pad { before: 0, after: 1 });
    assert_eq!(Padding::Same.pad(14, 3, 2), Pad { before: 0, after: 1 });
    assert_eq!(Padding::Same.pad(28, 5, 1), Pad { before: 2, after: 2 });
    assert_eq!(Padding::Same.pad(28, 2, 1), Pad { before: 0, after: 1 });
    assert_eq!(Padding::Same.pad(7, 3, 2), Pad { before: 1, after: 1 });
    assert_eq!(Padding::Valid.pad(28, 5, 1), Pad { before: 0, after: 0 });
}

#[test]
fn strided_same_convolution_on_a_hand_made_input() {
    // 4x4 input 1..16, 3x3 kernel of ones, stride 2, same: output 2x2; TF pads 0 before,
    // 1 after, so output (0,0) sums rows 0-2, cols 0-2, and (1,1) rows 2-3, cols 2-3 (+ zeros).
    let x = Tensor::from_vec(
        (1..=16).map(|v| v as f32).collect::<Vec<_>>(),
        (1, 1, 4, 4),
        &Device::Cpu,
    )
    .unwrap();
    let w = Tensor::ones((1, 1, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap();
    let values = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let y = values(conv2d(&x, &w, &b, 2, Padding::Same).unwrap());
    // (0,0): 1+2+3+5+6+7+9+10+11 = 54; (0,1): 3+4+7+8+11+12 = 45; (1,0): 9+10+11+13+14+15 = 72; (1,1): 11+12+15+16 = 54
    assert_eq!(y, vec![54.0, 45.0, 72.0, 54.0]);
    // An even kernel (2x2, stride 1, same) pads only after: (3,3) sees x[3][3] alone.
    let w2 = Tensor::ones((1, 1, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    let y2 = values(conv2d(&x, &w2, &b, 1, Padding::Same).unwrap());
    assert_eq!(y2[0], 1.0 + 2.0 + 5.0 + 6.0);
    assert_eq!(y2[15], 16.0);
    assert_eq!(y2[3], 4.0 + 8.0);
}

#[allow(clippy::too_many_arguments)] // one argument per shape dimension
fn check_conv(n: usize, c: usize, h: usize, o: usize, k: usize, stride: usize, padding: Padding, seed: u64) {
    let x = Var::from_tensor(&rand(&[n, c, h, h + 1], seed)).unwrap();
    let w = Var::from_tensor(&rand(&[o, c, k, k], seed + 1)).unwrap();
    let b = Var::from_tensor(&rand(&[o], seed + 2)).unwrap();
    let ours = conv2d(x.as_tensor(), w.as_tensor(), &b.as_tensor().clone(), stride, padding).unwrap();
    let (ph, pw) = (padding.pad(h, k, stride), padding.pad(h + 1, k, stride));
    let xp = x
        .as_tensor()
        .pad_with_zeros(2, ph.before, ph.after)
        .unwrap()
        .pad_with_zeros(3, pw.before, pw.after)
        .unwrap();
    let theirs = xp.conv2d(w.as_tensor(), 0, stride, 1, 1).unwrap();
    let case = format!("n{n} c{c} h{h} o{o} k{k} s{stride} {padding:?}");
    assert_same_layer(&ours, &theirs, [&x, &w, &b], seed + 3, 1e-4, &case);
}

/// A convolution-like op (`ours`, with its bias) against candle's (`unbiased`, the
/// bias added here): the same function of x, w and b within `tol`
/// (`assert_same_function`, probe drawn from `seed`).
fn assert_same_layer(ours: &Tensor, unbiased: &Tensor, [x, w, b]: [&Var; 3], seed: u64, tol: f32, case: &str) {
    let o = b.as_tensor().dim(0).unwrap();
    let theirs = unbiased
        .broadcast_add(&b.as_tensor().reshape((1, o, 1, 1)).unwrap())
        .unwrap();
    let probe = rand(ours.dims(), seed);
    assert_same_function(ours, &theirs, &probe, &[(x, "x"), (w, "w"), (b, "b")], tol, case);
}

#[test]
fn conv2d_matches_candle_forward_and_gradients() {
    check_conv(3, 2, 9, 5, 3, 2, Padding::Same, 1);
    check_conv(2, 3, 8, 4, 5, 1, Padding::Same, 2);
    check_conv(2, 3, 11, 2, 5, 1, Padding::Valid, 3);
    check_conv(1, 1, 7, 3, 2, 1, Padding::Same, 4);
    check_conv(4, 1, 28, 8, 3, 2, Padding::Same, 5);
    // Explicit pads (the parity mutations): PyTorch's padding=1, and an even kernel
    // padded on the other side than TensorFlow's. (Stride 1: candle's own backward,
    // the reference here, needs a padded size that the stride divides exactly.)
    check_conv(2, 3, 12, 4, 3, 1, Padding::Explicit(Pad { before: 1, after: 1 }), 6);
    check_conv(2, 3, 28, 1, 2, 1, Padding::Explicit(Pad { before: 1, after: 0 }), 7);
}

#[test]
fn conv_transpose2d_matches_candle_forward_and_gradients() {
    // 4x4 stride 2 'same' (DCGAN's) on odd and even sizes: the sub-pixel path.
    for (n, cin, h, cout, seed) in [
        (2usize, 3usize, 7usize, 4usize, 10u64),
        (3, 2, 5, 1, 11),
        (2, 4, 6, 3, 12),
    ] {
        let x = Var::from_tensor(&rand(&[n, cin, h, h], seed)).unwrap();
        let w = Var::from_tensor(&rand(&[cin, cout, 4, 4], seed + 1)).unwrap();
        let b = Var::from_tensor(&rand(&[cout], seed + 2)).unwrap();
        let ours = conv_transpose2d(x.as_tensor(), w.as_tensor(), b.as_tensor(), 2, Padding::Same).unwrap();
        assert_eq!(ours.dims(), &[n, cout, 2 * h, 2 * h]);
        let theirs = x.as_tensor().conv_transpose2d(w.as_tensor(), 1, 0, 2, 1).unwrap();
        let case = format!("n{n} cin{cin} h{h} cout{cout}");
        assert_same_layer(&ours, &theirs, [&x, &w, &b], seed + 3, 1e-4, &case);
    }
}

#[test]
fn conv2d_finite_difference_on_weights() {
    let x = rand(&[2, 2, 5, 5], 30);
    let b = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
    let w0 = rand(&[3, 2, 3, 3], 31).flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let probe = rand(&[2, 3, 3, 3], 32);
    let conv = |w: &Tensor| conv2d(&x, w, &b, 2, Padding::Same).unwrap();
    assert_fd_gradient(conv, &w0, &[3, 2, 3, 3], &probe, &[0, 7, 20, 53], "w");
}

/// The fused `UpSampling2D(2)` + 'same' convolution against candle's upsampling and
/// ganlab's plain convolution (itself checked against candle's above).
fn check_upconv(n: usize, c: usize, h: usize, w_: usize, o: usize, k: usize, seed: u64) {
    let x = Var::from_tensor(&rand(&[n, c, h, w_], seed)).unwrap();
    let w = Var::from_tensor(&rand(&[o, c, k, k], seed + 1)).unwrap();
    let b = Var::from_tensor(&rand(&[o], seed + 2)).unwrap();
    let ours = upsample2_conv2d(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
    assert_eq!(ours.dims(), &[n, o, 2 * h, 2 * w_]);
    let up = x.as_tensor().upsample_nearest2d(2 * h, 2 * w_).unwrap();
    let theirs = conv2d(&up, w.as_tensor(), b.as_tensor(), 1, Padding::Same).unwrap();
    let probe = rand(ours.dims(), seed + 3);
    let case = format!("n{n} c{c} h{h} w{w_} o{o} k{k}");
    assert_same_function(&ours, &theirs, &probe, &[(&x, "x"), (&w, "w"), (&b, "b")], 1e-5, &case);
}

#[test]
fn fused_upsample_conv_matches_upsample_then_conv() {
    check_upconv(2, 3, 5, 7, 4, 5, 40); // odd sizes, 5x5 as in the articles
    check_upconv(3, 2, 4, 4, 1, 5, 41); // one output channel (the kn2row path)
    check_upconv(1, 4, 3, 6, 6, 3, 42); // 3x3
    check_upconv(2, 2, 2, 3, 3, 7, 43); // a kernel wider than the small image
}

#[test]
fn fused_upsample_conv_finite_difference() {
    let x = rand(&[1, 2, 3, 4], 50);
    let w = rand(&[2, 2, 5, 5], 51);
    let b = Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap();
    let probe = rand(&[1, 2, 6, 8], 52);
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let of_x = |x: &Tensor| upsample2_conv2d(x, &w, &b).unwrap();
    assert_fd_gradient(of_x, &flat(&x), &[1, 2, 3, 4], &probe, &[0, 5, 11, 23], "x");
    let of_w = |w: &Tensor| upsample2_conv2d(&x, w, &b).unwrap();
    assert_fd_gradient(of_w, &flat(&w), &[2, 2, 5, 5], &probe, &[0, 12, 37, 99], "w");
}

#[test]
fn valid_conv_transpose_with_uneven_classes_matches_candle() {
    // 3x3 stride 2 'valid': output classes with two taps and with one (sub-pixel path).
    let x = Var::from_tensor(&rand(&[2, 3, 5, 4], 70)).unwrap();
    let w = Var::from_tensor(&rand(&[3, 2, 3, 3], 71)).unwrap();
    let b = Var::from_tensor(&rand(&[2], 72)).unwrap();
    let ours = conv_transpose2d(x.as_tensor(), w.as_tensor(), b.as_tensor(), 2, Padding::Valid).unwrap();
    assert_eq!(ours.dims(), &[2, 2, 11, 9]);
    let theirs = x.as_tensor().conv_transpose2d(w.as_tensor(), 0, 0, 2, 1).unwrap();
    assert_same_layer(&ours, &theirs, [&x, &w, &b], 73, 1e-5, "3x3 s2 valid");
}

#[test]
fn fused_activations_equal_the_separate_ops() {
    use ganlab::kernels::upsample2_conv2d_act;
    use ganlab::kernels::{conv2d_act, conv_transpose2d_act, Act};
    let separate = |y: Tensor, act: Act| match act {
        Act::Identity => y,
        Act::LeakyRelu(a) => ganlab::nn::leaky_relu(&y, a as f64).unwrap(),
        Act::Tanh => ganlab::nn::tanh(&y).unwrap(),
    };
    for act in [Act::LeakyRelu(0.2), Act::LeakyRelu(0.0), Act::Tanh] {
        for kind in 0..3 {
            let (xs, ws): (Vec<usize>, Vec<usize>) = match kind {
                0 => (vec![2, 3, 9, 8], vec![4, 3, 3, 3]),
                1 => (vec![2, 3, 5, 5], vec![3, 4, 4, 4]),
                _ => (vec![2, 3, 4, 5], vec![4, 3, 5, 5]),
            };
            let x = Var::from_tensor(&rand(&xs, 80 + kind)).unwrap();
            let w = Var::from_tensor(&rand(&ws, 90 + kind)).unwrap();
            let o = if kind == 1 { ws[1] } else { ws[0] };
            let b = Var::from_tensor(&rand(&[o], 100 + kind)).unwrap();
            let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
            let (fused, plain) = match kind {
                0 => (
                    conv2d_act(xt, wt, bt, 2, Padding::Same, act).unwrap(),
                    separate(conv2d(xt, wt, bt, 2, Padding::Same).unwrap(), act),
                ),
                1 => (
                    conv_transpose2d_act(xt, wt, bt, 2, Padding::Same, act).unwrap(),
                    separate(conv_transpose2d(xt, wt, bt, 2, Padding::Same).unwrap(), act),
                ),
                _ => (
                    upsample2_conv2d_act(xt, wt, bt, act).unwrap(),
                    separate(upsample2_conv2d(xt, wt, bt).unwrap(), act),
                ),
            };
            assert_eq!(max_rel(&fused, &plain), 0.0, "forward {act:?} kind {kind}");
            let probe = rand(fused.dims(), 110 + kind);
            let g1 = fused.mul(&probe).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = plain.mul(&probe).unwrap().sum_all().unwrap().backward().unwrap();
            for (v, name) in [(&x, "x"), (&w, "w"), (&b, "b")] {
                let e = max_rel(g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(e < 1e-6, "d{name} {act:?} kind {kind}: {e}");
            }
        }
    }
}
