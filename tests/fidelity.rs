//! The article quirks of the fidelity addendum that are not pinned elsewhere.
//! (Keras Adam: tests/ops.rs; TF 'same' padding: tests/conv.rs; BatchNorm modes,
//! Nesterov SGD, glorot_normal, ACGAN table: tests/cnn.rs.)

mod common;

use candle_core::{Device, Tensor};
use ganlab::models::{Batch, Gan};
use ganlab::rng::StepRngs;
use ganlab::spec::{GridStyle, Spec};

fn spec(name: &str) -> Spec {
    Spec::load(&common::spec_path(name), None, &[]).unwrap()
}

fn real_batch(n: usize) -> Batch {
    let idx: Vec<usize> = (0..n).collect();
    ganlab::train::make_batch(
        &common::mnist().train,
        &idx,
        ganlab::spec::Scale::Keras127,
        &Device::Cpu,
    )
    .unwrap()
}

/// How many noise vectors one train_step draws: compare the generator's next draw
/// with a reference generator that drew `k` batches of `n`.
fn draws_after_step(name: &str, n: usize, k: usize) -> bool {
    let s = spec(name);
    let mut m = ganlab::models::build(&s, &Device::Cpu).unwrap();
    let mut rngs = StepRngs::new(5, &s.noise);
    let mut reference = StepRngs::new(5, &s.noise);
    m.train_step(&real_batch(n), &mut rngs).unwrap();
    for _ in 0..k {
        reference.noise(n, &Device::Cpu).unwrap();
    }
    let a = rngs.noise(1, &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
    let b = reference.noise(1, &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
    a == b
}

#[test]
fn keras_vanilla_g_step_reuses_the_d_step_noise() {
    // GAN.train_on_batch(noise, label_real) with the same `noise`: one draw per iteration.
    assert!(draws_after_step("vanilla_mlp_keras", 128, 1));
    assert!(!draws_after_step("vanilla_mlp_keras", 128, 2));
}

#[test]
fn pytorch_g_step_draws_new_noise() {
    // generator(noise(real_data.size(0))) twice: two draws per iteration.
    assert!(draws_after_step("mlp_pytorch", 100, 2));
}

#[test]
fn keras_vanilla_dropout_stays_on_while_g_trains() {
    let s = spec("vanilla_mlp_keras");
    let mut init = ganlab::rng::stream(1, ganlab::rng::Stream::Init);
    let m = ganlab::models::mlp_keras::VanillaGan::new(&s, &mut init, &Device::Cpu).unwrap();
    let z = Tensor::randn(0f32, 1f32, (16, 100), &Device::Cpu).unwrap();
    let mut r = ganlab::rng::stream(1, ganlab::rng::Stream::Dropout);
    let a = m.gan(&z, &mut r).unwrap();
    let b = m.gan(&z, &mut r).unwrap();
    let d = common::max_abs(&a, &b);
    assert!(d > 1e-4, "the combined model's D ran without Dropout");
}

#[test]
fn grid_styles_and_sizes_follow_the_articles() {
    let k = spec("vanilla_mlp_keras");
    assert_eq!(
        (k.samples.rows, k.samples.cols, k.samples.style),
        (5, 5, GridStyle::BlackOnWhite)
    ); // cmap='Greys'
    assert_eq!(k.samples.at, vec![1]);
    assert_eq!(k.samples.every, 10);
    let d = spec("dcgan");
    assert_eq!((d.samples.rows, d.samples.cols), (4, 4)); // the generation phase's 4x4 figure
    let t = spec("tanh_cnn_sgd");
    assert_eq!((t.samples.rows, t.samples.cols, t.samples.every_iters), (12, 11, 100)); // combine_images(128)
    assert_eq!((t.checkpoint.every_iters, t.checkpoint.iter_offset), (100, 9));
    assert_eq!(t.train.iters_per_epoch.unwrap_or(60_000 / 128), 468);
    assert_eq!(t.iters_per_epoch(60_000), 468);
    let a = spec("acgan");
    assert_eq!(a.iters_per_epoch(60_000), 600);
    assert_eq!(d.iters_per_epoch(60_000), 234);
}

#[test]
fn acgan_grid_has_one_class_per_column() {
    use ganlab::models::acgan::Acgan;
    let s = spec("acgan");
    let mut init = ganlab::rng::stream(1, ganlab::rng::Stream::Init);
    let m = Acgan::new(&s, &mut init, &Device::Cpu).unwrap();
    let z = Tensor::rand(-1f32, 1f32, (20, 100), &Device::Cpu).unwrap();
    let grid = m.generate(&z).unwrap(); // row-major 10-wide: image k in column k % 10
    let labels: Vec<u8> = (0..20).map(|k| (k % 10) as u8).collect();
    let want = m.predict(&z, &labels).unwrap().reshape((20, 784)).unwrap();
    let d = common::max_abs(&grid, &want);
    assert_eq!(d, 0.0);
}

#[test]
fn bce_defaults_by_article_era() {
    use ganlab::spec::BceSemantics::*;
    let got: Vec<_> = ["vanilla_mlp_keras", "tanh_cnn_sgd", "mlp_pytorch", "acgan", "dcgan"]
        .iter()
        .map(|n| spec(n).loss.bce)
        .collect();
    assert_eq!(got, vec![Logits, Clip, Torch, Clip, Clip]);
}
