//! The CNN articles: parameter counts, layer shapes, and short real MNIST runs.

mod common;

use candle_core::{DType, Device, Tensor};
use ganlab::log::read_frame;
use ganlab::nn::Grad;
use ganlab::spec::Spec;
use ganlab::train::{train, RunOptions};

fn spec(name: &str, sets: &[&str]) -> Spec {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Spec::load(&common::spec_path(name), Some("quick"), &sets).unwrap()
}

fn short_run(s: &Spec) -> std::path::PathBuf {
    ganlab::cli::set_threads(Some(2));
    let out = tempfile::tempdir().unwrap().keep();
    let opts = RunOptions {
        out,
        spec_file: "test".into(),
        threads: 2,
        device: Device::Cpu,
        quiet: true,
    };
    train(s, common::mnist(), &opts).unwrap()
}

#[test]
fn dcgan_counts_shapes_and_a_real_run() {
    let s = spec("dcgan", &[]);
    let mut init = ganlab::rng::stream(1, ganlab::rng::Stream::Init);
    let m = ganlab::models::dcgan::Dcgan::new(&s, &mut init, &Device::Cpu).unwrap();
    use ganlab::models::Gan;
    assert_eq!(m.generator().count(), 1_164_289);
    assert_eq!(m.discriminator().count(), 40_705);
    let z = Tensor::randn(0f32, 1f32, (3, 100), &Device::Cpu).unwrap();
    let img = m.g.forward(&z, Grad::Frozen).unwrap();
    assert_eq!(img.dims(), &[3, 1, 28, 28]);
    let v = img.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(v.iter().all(|&p| (0.0..=1.0).contains(&p)), "sigmoid output in [0, 1]");
    let mut r = ganlab::rng::stream(1, ganlab::rng::Stream::Dropout);
    assert_eq!(m.d.forward(&img, Grad::Frozen, &mut r).unwrap().dims(), &[3, 1]);
    assert_eq!(m.reals_per_step(), 128, "half_batch reals per D batch");

    let dir = short_run(&spec("dcgan", &["train.epochs=1", "train.iters_per_epoch=3"]));
    let f = read_frame(&dir.join("metrics.parquet")).unwrap();
    assert_eq!(f.height(), 3);
    let acc = f.column("d_acc").unwrap().f32().unwrap();
    assert!(acc.into_no_null_iter().all(|a| (0.0..=1.0).contains(&a)));
    let gl = f.column("g_loss").unwrap().f32().unwrap();
    assert!(gl.into_no_null_iter().all(|v| v.is_finite()));
    assert!(dir.join("samples/epoch_0001.png").is_file());
    let _ = DType::F32;
}
