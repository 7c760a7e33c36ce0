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
    assert!(dir.starts_with(out.path().join("labs/vanilla_mlp_keras")), "{dir:?}");
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

/// 003's answer in numbers: the Bayes-optimal decoder of the class from
/// `h = z * e_c` against hand values, and the 2-d pictures refuse other sizes.
#[test]
fn the_class_is_decodable_from_the_hadamard_product_as_computed_by_hand() {
    use ganlab::notebook::latent::{decodability, question_svg};
    // 1-d, two classes, e = 1 and 0.5: class 0 is told apart only when |h| > 0.5
    // (half of its draws), class 1 always (its density 1 beats 1/2): 0.75.
    let two = vec![vec![1.0f32], vec![0.5]];
    let d = decodability(&two, 20_000, 1);
    assert!((d - 0.75).abs() < 0.01, "{d}");
    // Ten equal embeddings: nothing to tell apart.
    assert_eq!(decodability(&vec![vec![0.3f32, -0.2]; 10], 100, 1), 0.0);
    // Ten random embeddings: 100-d decodes (almost) always, 2-d far less often.
    let mut r = ganlab::rng::stream(7, ganlab::rng::Stream::Init);
    let mut table = |dim: usize| -> Vec<Vec<f32>> {
        use rand::Rng;
        (0..10)
            .map(|_| (0..dim).map(|_| r.random_range(-0.2f32..0.2)).collect())
            .collect()
    };
    let (t100, t2) = (table(100), table(2));
    assert!(decodability(&t100, 500, 1) > 0.99);
    assert!(decodability(&t2, 2_000, 1) < 0.8);
    let svg = question_svg(&t2, 50, 1).unwrap();
    assert_eq!(svg.matches("<rect").count(), 3, "three panels");
    assert_eq!(
        svg.matches("<circle").count(),
        2 * 10 * 50,
        "expected and reality, 50 per class"
    );
    assert!(question_svg(&t100, 50, 1)
        .unwrap_err()
        .to_string()
        .contains("2-d latent"));
}
