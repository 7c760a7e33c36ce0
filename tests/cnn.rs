//! The CNN articles: parameter counts, layer shapes, and short real MNIST runs.

mod common;

use candle_core::{DType, Device, Tensor};
use ganlab::learner::train;
use ganlab::log::read_frame;
use ganlab::nn::Grad;
use ganlab::spec::Spec;
use ganlab::train::RunOptions;

fn spec(name: &str, sets: &[&str]) -> Spec {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Spec::load(&common::spec_path(name), Some("quick"), &sets).unwrap()
}

/// The model `new` builds for the spec `name` (quick profile, `sets`) from seed 1's init stream.
fn model<M>(
    name: &str,
    sets: &[&str],
    new: impl FnOnce(&Spec, &mut rand_chacha::ChaCha8Rng, &Device) -> anyhow::Result<M>,
) -> M {
    new(
        &spec(name, sets),
        &mut ganlab::rng::stream(1, ganlab::rng::Stream::Init),
        &Device::Cpu,
    )
    .unwrap()
}

/// A short run in a temporary directory, removed when the returned guard drops.
fn short_run(s: &Spec) -> (tempfile::TempDir, std::path::PathBuf) {
    ganlab::runtime::set_threads(Some(2));
    let out = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: out.path().to_path_buf(),
        spec_file: "test".into(),
        threads: 2,
        device: Device::Cpu,
        quiet: true,
    };
    let dir = train(s, common::mnist().clone(), opts).unwrap();
    (out, dir)
}

#[test]
fn dcgan_counts_shapes_and_a_real_run() {
    let m = model("dcgan", &[], ganlab::models::dcgan::Dcgan::new);
    use ganlab::models::Gan;
    assert_eq!(m.generator().count(), 1_164_289);
    assert_eq!(m.discriminator().count(), 40_705);
    let z = Tensor::randn(0f32, 1f32, (3, 100), &Device::Cpu).unwrap();
    let img = m.g.forward(&z, Grad::Frozen).unwrap();
    assert_eq!(img.dims(), &[3, 1, 28, 28]);
    let v = img.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(v.iter().all(|&p| (0.0..=1.0).contains(&p)), "sigmoid output in [0, 1]");
    let mut r = ganlab::rng::stream(1, ganlab::rng::Stream::Dropout);
    assert_eq!(m.d.forward(&img, Grad::Frozen, Some(&mut r)).unwrap().dims(), &[3, 1]);
    assert_eq!(m.reals_per_step(), 128, "half_batch reals per D batch");

    let (_out, dir) = short_run(&spec("dcgan", &["train.epochs=1", "train.iters_per_epoch=3"]));
    let f = read_frame(&dir.join("metrics.parquet")).unwrap();
    assert_eq!(f.height(), 3);
    let acc = f.column("d_acc").unwrap().f32().unwrap();
    assert!(acc.into_no_null_iter().all(|a| (0.0..=1.0).contains(&a)));
    let gl = f.column("g_loss").unwrap().f32().unwrap();
    assert!(gl.into_no_null_iter().all(|v| v.is_finite()));
    assert!(dir.join("samples/epoch_0001.png").is_file());
    let _ = DType::F32;
}

#[test]
fn tanh_cnn_counts_and_batchnorm_quirk() {
    use ganlab::models::tanh_cnn::{Mode, TanhCnnGan};
    use ganlab::models::Gan;
    let m = model("tanh_cnn_sgd", &[], TanhCnnGan::new);
    assert_eq!(m.generator().count(), 6_751_233);
    assert_eq!(m.generator().state_count(), 12_544);
    assert_eq!(m.discriminator().count(), 3_485_441);
    let z = Tensor::rand(-1f32, 1f32, (8, 100), &Device::Cpu).unwrap();
    // g.predict (moving averages 0 and 1) and d_on_g's training mode (batch statistics)
    // give different images from the same noise: the article's quirk.
    let pred = m.g.forward(&z, Mode::Predict).unwrap();
    let moving_sum = |m: &TanhCnnGan| {
        m.g.bn
            .moving_mean
            .as_tensor()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let before = moving_sum(&m);
    let train = m.g.forward(&z, Mode::Train).unwrap();
    assert_eq!(pred.dims(), &[8, 1, 28, 28]);
    let diff = common::max_abs(&pred, &train);
    assert!(
        diff > 1e-3,
        "predict and train modes agree ({diff}): BatchNorm modes lost"
    );
    let after = moving_sum(&m);
    assert_eq!(before, 0.0);
    assert!(after != 0.0, "the training-mode pass must move the averages");
    // Predict mode does not move them.
    let _ = m.g.forward(&z, Mode::Predict).unwrap();
    assert_eq!(moving_sum(&m), after);
    let d = m.d.forward(&pred, Grad::Frozen).unwrap();
    assert_eq!(d.dims(), &[8, 1]);
}

#[test]
fn batchnorm_both_modes_by_hand() {
    use ganlab::nn::{BatchNorm, BatchNormConfig, ParamBuilder, Params};
    let dev = Device::Cpu;
    let (mut p, mut rng) = (Params::default(), ganlab::rng::stream(1, ganlab::rng::Stream::Init));
    let bn = BatchNorm::new(
        2,
        BatchNormConfig::default(),
        ParamBuilder::new(&mut p, &mut rng, &dev).pp("bn"),
    )
    .unwrap();
    assert_eq!(p.names, ["bn.gamma", "bn.beta", "bn.moving_mean", "bn.moving_variance"]);
    assert_eq!((p.count(), p.state_count()), (4, 4));
    let x = Tensor::new(&[[1f32, 10.0], [3.0, 10.0], [5.0, 13.0], [7.0, 7.0]], &dev).unwrap();
    // Column 0: mean 4, biased variance 5; column 1: mean 10, variance 4.5.
    let y = bn.forward_train(&x, Grad::Train).unwrap().to_vec2::<f32>().unwrap();
    let e0 = (5.0f32 + 1e-3).sqrt();
    assert!((y[0][0] - (-3.0 / e0)).abs() < 1e-5, "{}", y[0][0]);
    assert!((y[2][1] - (3.0 / (4.5f32 + 1e-3).sqrt())).abs() < 1e-5, "{}", y[2][1]);
    // moving = 0.99 * moving + 0.01 * batch
    let mm = bn.moving_mean.as_tensor().to_vec1::<f32>().unwrap();
    let mv = bn.moving_var.as_tensor().to_vec1::<f32>().unwrap();
    assert!((mm[0] - 0.04).abs() < 1e-6 && (mm[1] - 0.10).abs() < 1e-6, "{mm:?}");
    assert!(
        (mv[0] - (0.99 + 0.05)).abs() < 1e-6 && (mv[1] - (0.99 + 0.045)).abs() < 1e-6,
        "{mv:?}"
    );
    // Inference: (x - moving_mean) / sqrt(moving_var + eps).
    let e = bn.forward_eval(&x).unwrap().to_vec2::<f32>().unwrap();
    assert!(
        (e[0][0] - (1.0 - 0.04) / (1.04f32 + 1e-3).sqrt()).abs() < 1e-5,
        "{}",
        e[0][0]
    );
    assert_eq!(p.count(), 4);
    assert_eq!(p.state_count(), 4);
}

#[test]
fn keras_nesterov_sgd_by_hand() {
    use ganlab::optim::SgdKeras;
    // v = 0.9 v - 0.001 g; p += 0.9 v - 0.001 g, from p = 1, v = 0, g = 2 then g = -1.
    let mut o = Spec::load(&common::spec_path("tanh_cnn_sgd"), None, &[])
        .unwrap()
        .optim
        .d;
    (o.lr, o.momentum, o.nesterov) = (0.001, 0.9, true);
    let sgd = SgdKeras::new(&o, &ganlab::nn::Params::default());
    let (mut p, mut v) = (vec![1.0f32], vec![0.0f32]);
    sgd.apply(&mut p, &[2.0], &mut v);
    assert!(
        (v[0] - -0.002).abs() < 1e-7 && (p[0] - (1.0 - 0.0018 - 0.002)).abs() < 1e-7,
        "{p:?} {v:?}"
    );
    sgd.apply(&mut p, &[-1.0], &mut v);
    // v = 0.9 * -0.002 + 0.001 = -0.0008; p += 0.9 * -0.0008 + 0.001 = 0.00028
    assert!((v[0] - -0.0008).abs() < 1e-7, "{v:?}");
    assert!((p[0] - (0.9962 + 0.00028)).abs() < 1e-6, "{p:?}");
}

#[test]
fn nearest_upsampling_repeats_rows_and_columns() {
    let x = Tensor::new(&[[[[1f32, 2.0], [3.0, 4.0]]]], &Device::Cpu).unwrap();
    let y = x
        .upsample_nearest2d(4, 4)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(y, vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]);
}

#[test]
fn tanh_cnn_quick_run_and_nice_sampling() {
    let (_out, dir) = short_run(&spec("tanh_cnn_sgd", &["train.iters_per_epoch=11"]));
    let f = read_frame(&dir.join("metrics.parquet")).unwrap();
    assert_eq!(f.height(), 11);
    assert!(f
        .column("d_loss")
        .unwrap()
        .f32()
        .unwrap()
        .into_no_null_iter()
        .all(|v| v.is_finite()));
    assert!(dir.join("samples/epoch_0001_iter_0000.png").is_file());
    assert!(dir.join("samples/epoch_0001_iter_0010.png").is_file());
    assert!(
        dir.join("checkpoints/g_iter.safetensors").is_file(),
        "index % 10 == 9 checkpoint"
    );
    let png = dir.join("nice.png");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args([
            "sample",
            dir.to_str().unwrap(),
            "--nice",
            "--n",
            "9",
            "-o",
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(png.is_file());
}

/// (standard deviation of the draws, largest |draw|) of 200,000 glorot_normal draws
/// for an Embedding(10, 100) (fans 10 and 100).
fn glorot_normal_draws(variant: ganlab::spec::GlorotNormal) -> (f64, f64, f64) {
    let mut r = ganlab::rng::stream(3, ganlab::rng::Stream::Init);
    let (fi, fo) = (10usize, 100usize);
    let v = ganlab::nn::glorot_normal(&mut r, variant, 200_000, fi, fo);
    let sigma = (2.0 / (fi + fo) as f64).sqrt(); // 0.13484
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let max = v.iter().fold(0f64, |m, &x| m.max((x as f64).abs()));
    (sigma, std, max)
}

#[test]
fn glorot_normal_is_truncated_with_keras_scale() {
    // Keras >= 2.2.0 and tf.keras: sigma / 0.87962566 before truncating at 2 standard
    // deviations, so the draws' standard deviation is sigma itself.
    let (sigma, std, max) = glorot_normal_draws(ganlab::spec::GlorotNormal::TruncatedScaled);
    assert!((std - sigma).abs() / sigma < 0.01, "std {std} vs {sigma}");
    let cut = 2.0 * sigma / 0.879_625_661_034_239_8;
    assert!(max < cut && max > 0.95 * cut, "max {max} vs cut {cut}");
}

#[test]
fn glorot_normal_of_keras_2_0_is_truncated_without_the_scale() {
    // Keras 2.0-2.1 (article 003's era): K.truncated_normal(shape, 0, sigma), i.e.
    // N(0, sigma) redrawn outside +-2 sigma. The standard deviation of N(0, 1)
    // truncated at +-2 is 0.87962566, so for fans (10, 100), sigma = sqrt(2/110) =
    // 0.134840 and the draws' standard deviation is 0.118609; none beyond 0.269680.
    let (sigma, std, max) = glorot_normal_draws(ganlab::spec::GlorotNormal::Truncated);
    assert!((sigma - 0.134840).abs() < 1e-6, "{sigma}");
    assert!((std - 0.118609).abs() / 0.118609 < 0.01, "std {std} vs 0.118609");
    assert!(
        max < 0.269680 && max > 0.95 * 0.269680,
        "max {max} vs the cut at 2 sigma = 0.269680"
    );
    // About 4.55 % of N(0, 1) lies beyond 2: redrawn, not clipped, so nothing piles up at the cut.
    let (_, _, scaled_max) = glorot_normal_draws(ganlab::spec::GlorotNormal::TruncatedScaled);
    assert!(
        scaled_max > 0.269680 * 1.1,
        "the scaled variant reaches {scaled_max}, past the unscaled cut"
    );
}

#[test]
fn sparse_cce_semantics_by_hand() {
    use ganlab::kernels::sparse_cce_row;
    use ganlab::spec::BceSemantics;
    let mut g = [0f32; 3];
    // Equal logits: loss ln 3, gradient p - onehot.
    let l = sparse_cce_row(&[0.0, 0.0, 0.0], 1, BceSemantics::Logits, &mut g);
    assert!((l - 3f32.ln()).abs() < 1e-6);
    assert!((g[1] + 2.0 / 3.0).abs() < 1e-6 && (g[0] - 1.0 / 3.0).abs() < 1e-6);
    let l = sparse_cce_row(&[0.0, 0.0, 0.0], 1, BceSemantics::Clip, &mut g);
    assert!((l - 3f32.ln()).abs() < 1e-6);
    assert!((g[1] + 2.0 / 3.0).abs() < 1e-5, "{g:?}");
    // A hopeless label: p_y = e^-40 / ... < 1e-7 is clipped: loss -ln(1e-7 / S) = 16.118, no gradient into y.
    let l = sparse_cce_row(&[40.0, 0.0, 0.0], 1, BceSemantics::Clip, &mut g);
    assert!((l - 16.118095).abs() < 1e-3, "{l}");
    let l = sparse_cce_row(&[40.0, 0.0, 0.0], 1, BceSemantics::Logits, &mut g);
    assert!((l - 40.0).abs() < 1e-4, "{l}");
}

#[test]
fn acgan_counts_conditioning_and_a_real_run() {
    use ganlab::models::acgan::Acgan;
    use ganlab::models::Gan;
    let m = model("acgan", &[], Acgan::new);
    assert_eq!(m.generator().count(), 8_172_521);
    assert_eq!(m.discriminator().count(), 525_835);
    // The hadamard product: h = z * embedding[label], element by element.
    let z = Tensor::rand(-1f32, 1f32, (2, 100), &Device::Cpu).unwrap();
    let h =
        m.g.condition(&z, &[3, 7], Grad::Frozen)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
    let table = m.g.embedding.table.as_tensor().to_vec2::<f32>().unwrap();
    let zv = z.to_vec2::<f32>().unwrap();
    for j in [0, 50, 99] {
        assert!((h[0][j] - zv[0][j] * table[3][j]).abs() < 1e-7);
        assert!((h[1][j] - zv[1][j] * table[7][j]).abs() < 1e-7);
    }
    let img = m.predict(&z, &[3, 7]).unwrap();
    assert_eq!(img.dims(), &[2, 1, 28, 28]);
    let (gen, aux) = m.d.forward(&img, Grad::Frozen, None).unwrap();
    assert_eq!((gen.dims(), aux.dims()), (&[2usize, 1][..], &[2usize, 10][..]));

    let (_out, dir) = short_run(&spec(
        "acgan",
        &["train.epochs=1", "train.iters_per_epoch=1", "eval.test_size=20"],
    ));
    let f = read_frame(&dir.join("epochs.parquet")).unwrap();
    assert_eq!(f.height(), 4, "generator/discriminator x train/test");
    let comp: Vec<String> = f
        .column("component")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        comp,
        [
            "generator (train)",
            "generator (test)",
            "discriminator (train)",
            "discriminator (test)"
        ]
    );
    for c in ["loss", "generation_loss", "auxiliary_loss"] {
        assert!(f
            .column(c)
            .unwrap()
            .f32()
            .unwrap()
            .into_no_null_iter()
            .all(|v| v.is_finite()));
    }
    let metrics = read_frame(&dir.join("metrics.parquet")).unwrap();
    assert!(metrics.column("d_auxiliary_loss").is_ok());
    assert!(dir.join("samples/epoch_0001.png").is_file());
}

#[test]
fn acgan_latent_points_for_a_2d_latent() {
    use ganlab::models::acgan::Acgan;
    let m = model("acgan", &["noise.dim=2"], Acgan::new);
    let z = Tensor::rand(-1f32, 1f32, (5, 2), &Device::Cpu).unwrap();
    let pts = m.latent_points(&z, &[0, 1, 2, 3, 4]).unwrap();
    assert_eq!(pts.len(), 5);
    assert_eq!(pts[4].2, 4);
    let t = m.g.embedding.table.as_tensor().to_vec2::<f32>().unwrap();
    let zv = z.to_vec2::<f32>().unwrap();
    assert!((pts[2].0 - zv[2][0] * t[2][0]).abs() < 1e-7 && (pts[2].1 - zv[2][1] * t[2][1]).abs() < 1e-7);
}

/// Run each layer of each CNN variant on its own and check its output shape.
#[test]
fn every_cnn_layer_has_the_articles_output_shape() {
    let dev = Device::Cpu;
    let n = 2;
    let sh = |t: &Tensor| t.dims().to_vec();
    let x28 = |c: usize| Tensor::zeros((n, c, 28, 28), DType::F32, &dev).unwrap();
    let x14 = |c: usize| Tensor::zeros((n, c, 14, 14), DType::F32, &dev).unwrap();
    let x7 = |c: usize| Tensor::zeros((n, c, 7, 7), DType::F32, &dev).unwrap();
    let z = Tensor::zeros((n, 100), DType::F32, &dev).unwrap();
    let f = Grad::Frozen;
    let mut init = ganlab::rng::stream(1, ganlab::rng::Stream::Init);

    let m = ganlab::models::dcgan::Dcgan::new(&spec("dcgan", &[]), &mut init, &dev).unwrap();
    assert_eq!(sh(&m.g.dense.forward(&z, f).unwrap()), [n, 6272]);
    assert_eq!(sh(&m.g.up1.forward(&x7(128), f).unwrap()), [n, 128, 14, 14]);
    assert_eq!(sh(&m.g.up2.forward(&x14(128), f).unwrap()), [n, 128, 28, 28]);
    assert_eq!(sh(&m.g.out.forward(&x28(128), f).unwrap()), [n, 1, 28, 28]);
    assert_eq!(sh(&m.d.conv1.forward(&x28(1), f).unwrap()), [n, 64, 14, 14]);
    assert_eq!(sh(&m.d.conv2.forward(&x14(64), f).unwrap()), [n, 64, 7, 7]);
    assert_eq!(sh(&ganlab::nn::flatten_hwc(&x7(64)).unwrap()), [n, 3136]);

    let m = ganlab::models::tanh_cnn::TanhCnnGan::new(&spec("tanh_cnn_sgd", &[]), &mut init, &dev).unwrap();
    assert_eq!(sh(&m.g.dense1.forward(&z, f).unwrap()), [n, 1024]);
    assert_eq!(sh(&m.g.conv1.forward(&x14(128), f).unwrap()), [n, 64, 14, 14]);
    assert_eq!(sh(&m.g.conv2.forward(&x28(64), f).unwrap()), [n, 1, 28, 28]);
    let c1 = m.d.conv1.forward(&x28(1), f).unwrap();
    assert_eq!(sh(&c1), [n, 64, 28, 28]);
    let c2 = m.d.conv2.forward(&c1.max_pool2d(2).unwrap(), f).unwrap();
    assert_eq!(sh(&c2), [n, 128, 10, 10], "valid 5x5 on 14x14");
    assert_eq!(
        sh(&ganlab::nn::flatten_hwc(&c2.max_pool2d(2).unwrap()).unwrap()),
        [n, 3200]
    );

    let m = ganlab::models::acgan::Acgan::new(&spec("acgan", &[]), &mut init, &dev).unwrap();
    assert_eq!(sh(&m.g.conv1.forward(&x14(128), f).unwrap()), [n, 256, 14, 14]);
    assert_eq!(sh(&m.g.conv2.forward(&x28(256), f).unwrap()), [n, 128, 28, 28]);
    assert_eq!(
        sh(&m.g.conv3.forward(&x28(128), f).unwrap()),
        [n, 1, 28, 28],
        "2x2 same keeps 28x28"
    );
    assert_eq!(sh(&m.d.conv1.forward(&x28(1), f).unwrap()), [n, 32, 14, 14]);
    assert_eq!(sh(&m.d.conv2.forward(&x14(32), f).unwrap()), [n, 64, 14, 14]);
    assert_eq!(sh(&m.d.conv3.forward(&x14(64), f).unwrap()), [n, 128, 7, 7]);
    assert_eq!(sh(&m.d.conv4.forward(&x7(128), f).unwrap()), [n, 256, 7, 7]);
}
