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
fn each_article_names_its_era_and_its_defaults_follow_from_it() {
    use ganlab::spec::BceSemantics::{Clip, Logits, Torch};
    use ganlab::spec::Framework::{self, *};
    use ganlab::spec::GlorotNormal::{Truncated, TruncatedScaled};
    use ganlab::spec::Init::{GlorotUniform, TorchDefault};
    // (spec, era, bce, Adam eps (None: SGD), dense init, glorot_normal); the evidence
    // for each era is in the README (Fidelity) and in each spec's description.
    #[allow(clippy::type_complexity)]
    let want: [(&str, Framework, _, Option<f64>, _, _); 5] = [
        (
            "vanilla_mlp_keras",
            TfKeras2,
            Logits,
            Some(1e-7),
            GlorotUniform,
            TruncatedScaled,
        ),
        ("tanh_cnn_sgd", Keras20, Clip, None, GlorotUniform, Truncated),
        ("mlp_pytorch", Pytorch, Torch, Some(1e-8), TorchDefault, TruncatedScaled),
        ("acgan", Keras20, Clip, Some(1e-8), GlorotUniform, Truncated),
        ("dcgan", TfKeras2, Logits, Some(1e-7), GlorotUniform, TruncatedScaled),
    ];
    for (name, era, bce, eps, init, gn) in want {
        let s = spec(name);
        assert_eq!(s.framework, Some(era), "{name}");
        assert_eq!(
            (s.loss.bce(), s.model.init(), s.model.glorot_normal()),
            (bce, init, gn),
            "{name}"
        );
        if let Some(eps) = eps {
            assert_eq!((s.optim.g.eps(), s.optim.d.eps()), (eps, eps), "{name}");
        }
        // Each follows from the era, none is set by hand in the spec file.
        assert!(s.era_overrides().is_empty(), "{name}: {:?}", s.era_overrides());
        let text = std::fs::read_to_string(common::spec_path(name)).unwrap();
        let file: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        for path in [
            "loss.bce",
            "model.init",
            "model.glorot_normal",
            "optim.g.eps",
            "optim.d.eps",
        ] {
            let v = path.split('.').try_fold(&file, |v, k| v.get(k));
            assert!(v.is_none(), "{name} sets `{path}` itself; its era should decide it");
        }
    }
}

#[test]
fn an_era_key_can_still_be_overridden_and_the_override_is_named() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Spec::load(&common::spec_path("acgan"), None, &sets).unwrap()
    };
    let s = load(&["optim.d.eps=1e-7"]);
    assert_eq!((s.optim.d.eps(), s.optim.g.eps()), (1e-7, 1e-8));
    assert_eq!(
        s.era_overrides(),
        vec![("optim.d.eps".to_string(), "1e-7".to_string(), "1e-8".to_string())]
    );
    // Another era moves every default at once.
    let s = load(&["framework=keras-2.2"]);
    assert_eq!(s.optim.g.eps(), 1e-7);
    assert_eq!(s.model.glorot_normal(), ganlab::spec::GlorotNormal::TruncatedScaled);
    assert_eq!(s.loss.bce(), ganlab::spec::BceSemantics::Clip);
    // The resolved config.yaml states every value, so a run reads back what it ran.
    let again = Spec::from_str_with(&s.to_yaml(), "config.yaml", None, &[]).unwrap();
    assert_eq!(
        (again.hash(), &again.model, &again.optim, &again.loss),
        (s.hash(), &s.model, &s.optim, &s.loss)
    );
    assert!(s.to_yaml().contains("eps: 1e-7"), "{}", s.to_yaml());
}
