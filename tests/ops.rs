//! Kernels against candle's own ops and against hand-computed values.

mod common;

use common::max_rel;
use std::cell::RefCell;

use candle_core::{Device, Tensor, Var};
use ganlab::kernels::{bce_point, bce_reference, AdamForm, AdamStep};
use ganlab::nn::{bce, leaky_relu};
use ganlab::spec::BceSemantics;

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

fn rand_tensor(shape: (usize, usize), seed: u64) -> Tensor {
    common::rand_tensor(&[shape.0, shape.1], -3.0, 3.0, seed)
}

#[test]
fn leaky_relu_matches_candle_forward_and_backward() {
    for (shape, seed) in [((7, 13), 1), ((33, 1029), 2), ((1, 1), 3)] {
        let x = Var::from_tensor(&rand_tensor(shape, seed)).unwrap();
        let w = rand_tensor(shape, seed + 100);
        let ours = leaky_relu(x.as_tensor(), 0.2).unwrap();
        let theirs = candle_nn::ops::leaky_relu(x.as_tensor(), 0.2).unwrap();
        let d = common::max_abs(&ours, &theirs);
        assert!(d < 1e-6, "forward differs by {d}");
        let g1 = ours.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = theirs.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
        let (a, b) = (g1.get(&x).unwrap(), g2.get(&x).unwrap());
        let d = common::max_abs(a, b);
        assert!(d < 1e-6, "gradient differs by {d}");
    }
}

#[test]
fn fast_tanh_is_within_a_few_ulp_of_libm() {
    let mut worst = 0f32;
    for i in -200_000..=200_000 {
        let x = i as f32 * 1e-4; // [-20, 20]
        let (a, b) = (ganlab::kernels::fast_tanh(x), (x as f64).tanh() as f32);
        worst = worst.max((a - b).abs());
        assert!(a.abs() <= 1.0);
    }
    assert!(worst < 1e-6, "max abs error {worst}");
    assert_eq!(ganlab::kernels::fast_tanh(1e-5), 1e-5);
}

#[test]
fn tanh_matches_candle_forward_and_backward() {
    let x = Var::from_tensor(&rand_tensor((17, 131), 9)).unwrap();
    let w = rand_tensor((17, 131), 10);
    let ours = ganlab::nn::tanh(x.as_tensor()).unwrap();
    let theirs = x.as_tensor().tanh().unwrap();
    let d = common::max_abs(&ours, &theirs);
    assert!(d < 1e-6, "forward differs by {d}");
    let g1 = ours.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let g2 = theirs.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let d = common::max_abs(g1.get(&x).unwrap(), g2.get(&x).unwrap());
    assert!(d < 1e-5, "gradient differs by {d}");
}

#[test]
fn dropout_mask_op_matches_candle_mul() {
    use rand::SeedableRng;
    let x = Var::from_tensor(&rand_tensor((33, 257), 40)).unwrap();
    let w = rand_tensor((33, 257), 41);
    let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let ours = ganlab::nn::dropout(x.as_tensor(), 0.3, &mut r1).unwrap();
    // The same mask, applied with candle's own mul: zeros where ours is zero, 1/0.7 elsewhere.
    let kept = ours.ne(0f32).unwrap().to_dtype(candle_core::DType::F32).unwrap();
    let theirs = x.as_tensor().mul(&(kept * (1.0 / 0.7)).unwrap()).unwrap();
    assert!(max_rel(&ours, &theirs) < 1e-6);
    let g1 = ours.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let g2 = theirs.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(max_rel(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-6);
    // About 30 % dropped.
    let frac = 1.0
        - ours
            .ne(0f32)
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
    assert!((frac - 0.3).abs() < 0.02, "{frac}");
}

#[test]
fn fused_leaky_relu_dropout_equals_the_two_layers() {
    use rand::SeedableRng;
    let x = Var::from_tensor(&rand_tensor((29, 301), 50)).unwrap();
    let w = rand_tensor((29, 301), 51);
    let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let fused = ganlab::nn::leaky_relu_dropout(x.as_tensor(), 0.2, 0.3, &mut r1).unwrap();
    let split = ganlab::nn::dropout(&leaky_relu(x.as_tensor(), 0.2).unwrap(), 0.3, &mut r2).unwrap();
    assert_eq!(max_rel(&fused, &split), 0.0, "same mask, same arithmetic");
    let g1 = fused.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    let g2 = split.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(max_rel(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-6);
}

#[test]
fn leaky_relu_finite_difference() {
    let x0 = vec![-1.3f32, -0.2, 0.4, 2.0];
    let f = |v: &[f32]| v.iter().map(|&x| if x > 0.0 { x } else { 0.2 * x } * x).sum::<f32>();
    let x = Var::from_tensor(&Tensor::new(x0.as_slice(), &Device::Cpu).unwrap()).unwrap();
    let y = leaky_relu(x.as_tensor(), 0.2)
        .unwrap()
        .mul(x.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap();
    let g = y.backward().unwrap().get(&x).unwrap().to_vec1::<f32>().unwrap();
    // d/dx (lrelu(x) * x) through both paths; finite difference on the whole.
    for i in 0..4 {
        let h = 1e-3;
        let mut p = x0.clone();
        p[i] += h;
        let mut m = x0.clone();
        m[i] -= h;
        let fd = (f(&p) - f(&m)) / (2.0 * h);
        assert!(close(g[i], fd, 1e-2), "{i}: {} vs {fd}", g[i]);
    }
}

/// Logit of probability p.
fn logit(p: f64) -> f32 {
    (p / (1.0 - p)).ln() as f32
}

#[test]
fn bce_semantics_match_hand_values() {
    use BceSemantics::*;
    let ln2 = std::f32::consts::LN_2;
    // p = 0.5: every semantics gives ln 2 and gradient p - y.
    for sem in [Clip, Logits, Torch] {
        let (l, g) = bce_point(0.0, 1.0, sem);
        assert!(close(l, ln2, 1e-6) && close(g, -0.5, 1e-6), "{sem}: {l} {g}");
        let (l, g) = bce_point(0.0, 0.0, sem);
        assert!(close(l, ln2, 1e-6) && close(g, 0.5, 1e-6), "{sem}: {l} {g}");
    }
    // p = 1e-9 with label 1 (a fake D rejects, seen from G).
    let x = logit(1e-9);
    let (l, g) = bce_point(x, 1.0, Logits);
    assert!(close(l, 20.723267, 1e-5) && close(g, -1.0, 1e-6), "logits {l} {g}");
    let (l, g) = bce_point(x, 1.0, Clip);
    assert!(close(l, 16.118095, 1e-5) && g == 0.0, "clip {l} {g}"); // -ln 1e-7, no gradient
    let (l, g) = bce_point(x, 1.0, Torch);
    assert!(close(l, 20.723267, 1e-4) && close(g, -1.0, 1e-6), "torch {l} {g}");
    // p = 1e-9 with label 0: nearly no loss.
    let (l, _) = bce_point(x, 0.0, Clip);
    assert!(l > 0.9e-7 && l < 1.1e-7, "clip {l}");
    // p = 1 - 1e-9 (1.0 in float32) with label 0 (a fake D accepts).
    let x = -logit(1e-9);
    let (l, g) = bce_point(x, 0.0, Logits);
    assert!(close(l, 20.723267, 1e-5) && close(g, 1.0, 1e-6), "logits {l} {g}");
    let (l, g) = bce_point(x, 0.0, Clip);
    assert!(close(l, 15.942385, 1e-3) && g == 0.0, "clip {l} {g}"); // -ln(1 - (1 - 1e-7 in f32))
    let (l, g) = bce_point(x, 0.0, Torch);
    assert!(l == 100.0 && g == 0.0, "torch {l} {g}"); // log(0) clamped at -100; p(1-p) = 0
                                                      // ... and with label 1: no loss either way.
    let (l, g) = bce_point(x, 1.0, Torch);
    assert!(l == 0.0 && g == 0.0, "torch {l} {g}");
}

#[test]
fn bce_kernel_matches_candle_composition_away_from_saturation() {
    let x = Var::from_tensor(&rand_tensor((37, 1), 7)).unwrap();
    let y = Tensor::from_vec(
        (0..37).map(|i| (i % 2) as f32).collect::<Vec<_>>(),
        (37, 1),
        &Device::Cpu,
    )
    .unwrap();
    for sem in [BceSemantics::Clip, BceSemantics::Logits, BceSemantics::Torch] {
        let a = bce(x.as_tensor(), &y, sem).unwrap();
        let b = bce_reference(x.as_tensor(), &y, sem).unwrap().mean_all().unwrap();
        let (av, bv) = (a.to_scalar::<f32>().unwrap(), b.to_scalar::<f32>().unwrap());
        assert!(close(av, bv, 1e-5), "{sem}: {av} vs {bv}");
        let grad = |l: &Tensor| {
            l.backward()
                .unwrap()
                .get(&x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (ga, gb) = (grad(&a), grad(&b));
        for (p, q) in ga.iter().zip(&gb) {
            assert!(close(*p, *q, 1e-4), "{sem}: grad {p} vs {q}");
        }
    }
}

fn run_adam(form: AdamForm, lr: f64, b1: f64, b2: f64, eps: f64, grads: &[f32]) -> Vec<f32> {
    let mut p = vec![1.0f32];
    let (mut m, mut v) = (vec![0f32], vec![0f32]);
    for (t, &g) in grads.iter().enumerate() {
        let op = AdamStep {
            form,
            lr,
            beta1: b1,
            beta2: b2,
            eps,
            t: t as u64 + 1,
            m: RefCell::new(&mut m),
            v: RefCell::new(&mut v),
        };
        op.apply(&mut p, &[g]);
    }
    p
}

#[test]
fn keras_adam_three_steps_by_hand() {
    // lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t m / (sqrt(v) + eps), eps after the sqrt
    // of the UNcorrected v. Hand values in float64 for g = 0.5, -1.0, 2.0 from p = 1.
    let (lr, b1, b2, eps) = (0.0002, 0.5, 0.999, 1e-7);
    let gs = [0.5f64, -1.0, 2.0];
    let (mut p, mut m, mut v) = (1.0f64, 0.0f64, 0.0f64);
    for (i, g) in gs.iter().enumerate() {
        let t = (i + 1) as f64;
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let lr_t = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
        p -= lr_t * m / (v.sqrt() + eps);
    }
    // Written out: after step 1 p = 1 - 0.0002 * 1 (Adam's first step is lr * sign(g)).
    let after1 = run_adam(AdamForm::Keras, lr, b1, b2, eps, &[0.5])[0];
    assert!(close(after1, 0.9998, 1e-6), "{after1}");
    let ours = run_adam(AdamForm::Keras, lr, b1, b2, eps, &[0.5, -1.0, 2.0])[0];
    assert!(((ours as f64) - p).abs() < 1e-6, "{ours} vs {p}");
}

#[test]
fn torch_adam_differs_from_keras_where_eps_matters() {
    // Tiny gradients make eps visible: torch adds eps to sqrt(v_hat), Keras to sqrt(v).
    let (lr, b1, b2) = (0.1, 0.9, 0.999);
    let g = [1e-6f32, 1e-6, 1e-6];
    let (mut p, mut m, mut v) = (1.0f64, 0.0f64, 0.0f64);
    for (i, &gi) in g.iter().enumerate() {
        let t = (i + 1) as i32;
        let gi = gi as f64;
        m = b1 * m + (1.0 - b1) * gi;
        v = b2 * v + (1.0 - b2) * gi * gi;
        let mh = m / (1.0 - b1.powi(t));
        let vh = v / (1.0 - b2.powi(t));
        p -= lr * mh / (vh.sqrt() + 1e-8);
    }
    let torch = run_adam(AdamForm::Torch, lr, b1, b2, 1e-8, &g)[0];
    assert!(((torch as f64) - p).abs() < 1e-6, "{torch} vs {p}");
    let keras = run_adam(AdamForm::Keras, lr, b1, b2, 1e-8, &g)[0];
    assert!(
        (keras - torch).abs() > 1e-4,
        "the two forms should differ here: {keras} {torch}"
    );
}

#[test]
fn dense_op_matches_candle_matmul_forward_and_all_gradients() {
    use ganlab::kernels::dense;
    for (n, i, o, seed) in [
        (3usize, 5usize, 7usize, 11u64),
        (37, 129, 67, 12),
        (256, 784, 1024, 13),
        (1, 1, 1, 14),
    ] {
        let x = Var::from_tensor(&rand_tensor((n, i), seed)).unwrap();
        let w = Var::from_tensor(&rand_tensor((i, o), seed + 1)).unwrap();
        let b = Var::from_tensor(&rand_tensor((1, o), seed + 2).flatten_all().unwrap()).unwrap();
        let probe = rand_tensor((n, o), seed + 3);
        let ours = dense(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
        let theirs = x
            .as_tensor()
            .matmul(w.as_tensor())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap();
        let case = format!("{n}x{i}x{o}");
        common::assert_same_function(&ours, &theirs, &probe, &[(&x, "x"), (&w, "W"), (&b, "b")], 1e-4, &case);
    }
}

#[test]
fn dense_op_skips_gradients_of_frozen_weights_and_data() {
    let x = rand_tensor((4, 3), 1); // data: no gradient
    let w = Var::from_tensor(&rand_tensor((3, 2), 2)).unwrap();
    let b = Var::from_tensor(&Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
    let y = ganlab::kernels::dense(&x, &w.as_tensor().detach(), b.as_tensor()).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(&w).is_none(), "a frozen weight got a gradient");
    assert!(g.get(&x).is_none(), "the data got a gradient");
    assert_eq!(g.get(&b).unwrap().to_vec1::<f32>().unwrap(), vec![4.0, 4.0]);
}

#[test]
fn dense_op_finite_difference() {
    // f(W) = sum(probe * (x W + b)); df/dW[a][c] = sum_r x[r][a] probe[r][c].
    let x = rand_tensor((3, 4), 21);
    let probe = rand_tensor((3, 2), 22);
    let w0 = rand_tensor((4, 2), 23).flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap();
    let dense = |w: &Tensor| ganlab::kernels::dense(&x, w, &b).unwrap();
    common::assert_fd_gradient(dense, &w0, &[4, 2], &probe, &[0, 1, 2, 3, 4, 5, 6, 7], "W");
}

#[test]
fn blocked_transpose_is_a_transpose() {
    for (r, c) in [(1usize, 1usize), (33, 65), (100, 7)] {
        let src: Vec<f32> = (0..r * c).map(|v| v as f32).collect();
        let t = ganlab::kernels::transpose(&src, r, c);
        for i in 0..r {
            for j in 0..c {
                assert_eq!(t[j * r + i], src[i * c + j]);
            }
        }
    }
}

#[test]
fn cpu_info_reads_model_vendor_and_the_vector_extensions() {
    use ganlab::bench::CpuInfo;
    let intel = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 167\n\
                 model name\t: Intel(R) Xeon(R) Processor\ncache size\t: 516096 KB\n\
                 flags\t\t: fpu sse2 avx2 avx512f avx512bw amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\n";
    let c = CpuInfo::parse(intel);
    assert_eq!(c.cpu_model, "Intel(R) Xeon(R) Processor");
    // "model" is the number, not "model name"'s text.
    assert_eq!(
        (c.cpu_family_model.as_str(), c.cpu_cache.as_str()),
        ("6/167", "516096 KB")
    );
    assert_eq!(
        c.describe(),
        "Intel(R) Xeon(R) Processor (GenuineIntel; family/model 6/167, cache 516096 KB; AVX-512 yes, AMX yes)"
    );
    assert_eq!(c.cpu_vendor, "GenuineIntel");
    assert!(c.avx512 && c.amx);
    // avx512bw alone is not avx512f; amx_bf16 alone is not amx_tile.
    let amd = "vendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R45\nflags\t\t: avx2 avx512bw amx_bf16\n";
    let c = CpuInfo::parse(amd);
    assert_eq!((c.cpu_vendor.as_str(), c.avx512, c.amx), ("AuthenticAMD", false, false));
    assert_eq!(CpuInfo::parse("").cpu_model, "unknown");
    assert_eq!(CpuInfo::parse("").cpu_family_model, "unknown/unknown");
}

/// `kernels::backward` (parameter gradients stored once, not added into zeros) gives
/// candle's `backward()` gradients bit for bit: a Dense used twice in one loss (D on
/// the real and on the fake batch), a convolution, data that takes no gradient, and a
/// frozen copy of a weight.
#[test]
fn backward_with_the_sink_equals_candles_bit_for_bit() {
    use ganlab::kernels::{backward, conv2d, dense, Padding};
    let w = Var::from_tensor(&rand_tensor((129, 67), 1)).unwrap();
    let b = Var::from_tensor(&rand_tensor((1, 67), 2).flatten_all().unwrap()).unwrap();
    let w2 = Var::from_tensor(&rand_tensor((67, 5), 3)).unwrap();
    let b2 = Var::from_tensor(&rand_tensor((1, 5), 4).flatten_all().unwrap()).unwrap();
    let cw = Var::from_tensor(&common::rand_tensor(&[4, 2, 3, 3], -1.0, 1.0, 5)).unwrap();
    let cb = Var::from_tensor(&common::rand_tensor(&[4], -1.0, 1.0, 6)).unwrap();
    let (real, fake) = (
        rand_tensor((37, 129), 7),
        Var::from_tensor(&rand_tensor((37, 129), 8)).unwrap(),
    );
    let img = common::rand_tensor(&[3, 2, 8, 8], -1.0, 1.0, 9);
    let loss = || {
        let d = |x: &Tensor| {
            let h = leaky_relu(&dense(x, w.as_tensor(), b.as_tensor()).unwrap(), 0.2).unwrap();
            dense(&h, &w2.as_tensor().detach(), b2.as_tensor()).unwrap()
        };
        let c = conv2d(&img, cw.as_tensor(), cb.as_tensor(), 2, Padding::Same).unwrap();
        d(&real)
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .add(&d(fake.as_tensor()).sum_all().unwrap())
            .unwrap()
            .add(&c.sqr().unwrap().sum_all().unwrap())
            .unwrap()
    };
    let (ours, theirs) = (backward(&loss()).unwrap(), loss().backward().unwrap());
    for (v, name) in [
        (&w, "W"),
        (&b, "b"),
        (&b2, "b2"),
        (&cw, "conv W"),
        (&cb, "conv b"),
        (&fake, "fake"),
    ] {
        let (a, c) = (ours.get(v).unwrap(), theirs.get(v).unwrap());
        let (a, c) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            c.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert!(
            a.iter().zip(&c).all(|(a, c)| a.to_bits() == c.to_bits()),
            "{name}: gradients differ"
        );
    }
    assert!(
        ours.get(&w2).is_none() && theirs.get(&w2).is_none(),
        "a frozen weight got a gradient"
    );
}

#[test]
fn sgd_in_chunks_equals_one_pass_bit_for_bit() {
    // SgdStep (001's optimiser) cuts a parameter into chunks on the step pool; each
    // element's arithmetic is sgd_update's, so the bits must be one pass's, with and
    // without Nesterov, over several steps (velocity carried) and a ragged last chunk.
    use ganlab::kernels::{sgd_update, SgdStep};
    let n = 3 * (1 << 14) + 123;
    let val = |i: usize, k: u32| ((i as f32 * 0.618 + k as f32).sin()) * 0.1;
    for nesterov in [true, false] {
        let (mut p1, mut v1) = ((0..n).map(|i| val(i, 7)).collect::<Vec<_>>(), vec![0f32; n]);
        let (mut p2, mut v2) = (p1.clone(), v1.clone());
        for step in 0..3 {
            let g: Vec<f32> = (0..n).map(|i| val(i, step)).collect();
            sgd_update(0.0005, 0.9, nesterov, &mut p1, &g, &mut v1);
            SgdStep {
                lr: 0.0005,
                momentum: 0.9,
                nesterov,
                v: RefCell::new(&mut v2),
            }
            .apply(&mut p2, &g);
        }
        assert!(
            p1.iter().zip(&p2).all(|(a, b)| a.to_bits() == b.to_bits()),
            "nesterov={nesterov}: parameters differ"
        );
        assert!(
            v1.iter().zip(&v2).all(|(a, b)| a.to_bits() == b.to_bits()),
            "nesterov={nesterov}: velocities differ"
        );
        assert!(
            p1.iter().zip((0..n).map(|i| val(i, 7))).any(|(a, b)| *a != b),
            "nothing was updated"
        );
    }
}
