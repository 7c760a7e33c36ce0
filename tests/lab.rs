//! The notebook API (`ganlab::notebook::Lab`): a lab trains a normal run directory in
//! pieces, shows what it trained, refuses settings once trained, and a stopped lab's
//! run continues with `Lab::open`. And every article's D answers `d_prob`.

mod common;

use candle_core::Device;
use ganlab::notebook::{show_labs, Lab};
use ganlab::run::{Manifest, Status};

#[test]
fn a_lab_trains_a_run_in_pieces_and_shows_it() {
    let out = tempfile::tempdir().unwrap();
    std::env::set_var("GANLAB_RUNS", out.path());
    std::env::set_var("GANLAB_DATA", common::data_dir());
    let spec = common::spec_path("vanilla_mlp_keras");
    let spec = spec.to_str().unwrap();
    let mut lab = Lab::new(spec)
        .unwrap()
        .profile("quick")
        .unwrap()
        .set("train.iters_per_epoch", "10")
        .unwrap()
        .set("train.epochs", "3")
        .unwrap();
    assert!(lab.dir().is_err(), "no run before training");
    assert_eq!(lab.label(), "vanilla_mlp_keras train.iters_per_epoch=10 train.epochs=3");
    lab.train_iters(15).unwrap();
    let dir = lab.dir().unwrap().to_path_buf();
    assert!(dir.starts_with(out.path().join("vanilla_mlp_keras")), "{dir:?}");
    let p = lab.trainer().unwrap().position();
    assert_eq!((p.step, p.epoch, p.iter), (15, 2, 5));
    assert_eq!(
        Manifest::read(&dir).unwrap().status,
        Status::Interrupted,
        "paused between cells"
    );
    assert!(dir.join("checkpoints/state_paused.json").is_file());
    let rows = ganlab::log::MetricsLog::read(&dir.join("metrics.parquet"))
        .unwrap()
        .rows;
    assert_eq!(rows.len(), 15, "every step logged and flushed at the pause");
    lab.show_samples(16).unwrap();
    assert!(dir.join("samples/lab_step_000015.png").is_file());
    let d = lab.d_outputs(50).unwrap();
    assert_eq!((d.real.len(), d.fake.len()), (50, 50));
    assert!(d.real.iter().chain(&d.fake).all(|p| (0.0..=1.0).contains(p)));
    assert!(format!("{d}").contains("D(x) on test images"));
    let err = match lab.set("seed", "3") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a setting after training must be refused"),
    };
    assert!(err.contains("trained already"), "{err}");

    // A second lab of another setting, shown beside the first.
    let mut other = Lab::new(spec)
        .unwrap()
        .profile("quick")
        .unwrap()
        .set("train.iters_per_epoch", "10")
        .unwrap()
        .set("optim.g.lr", "0.001")
        .unwrap();
    other.train_iters(5).unwrap();
    let mut lab = Lab::open(dir.to_str().unwrap()).unwrap();
    assert_eq!(lab.trainer().unwrap().position().step, 15, "continues where it paused");
    lab.train_iters(100).unwrap();
    assert_eq!(
        lab.trainer().unwrap().position().step,
        30,
        "the budget (3 x 10) ends it"
    );
    assert_eq!(Manifest::read(&dir).unwrap().status, Status::Completed);
    show_labs(&[&lab, &other], 16).unwrap();
}

#[test]
fn every_articles_d_gives_probabilities() {
    for name in ["vanilla_mlp_keras", "mlp_pytorch", "tanh_cnn_sgd", "dcgan", "acgan"] {
        let s = ganlab::spec::Spec::load(&common::spec_path(name), None, &[]).unwrap();
        let m = ganlab::models::build(&s, &Device::Cpu).unwrap();
        let idx: Vec<usize> = (0..7).collect();
        let b = ganlab::train::make_batch(&common::mnist().test, &idx, s.data.scale, &Device::Cpu).unwrap();
        let p = m.d_prob(&b.images).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(p.len(), 7, "{name}");
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{name}: {p:?}");
        assert!(
            p.windows(2).any(|w| w[0] != w[1]),
            "{name}: D gives every image the same score {p:?}"
        );
    }
}
