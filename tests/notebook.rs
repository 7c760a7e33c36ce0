//! The notebook helpers on real runs: the combined polars frame, the frame and
//! curve displays, and ACGAN's embedding view (through evcxr's display protocol,
//! which is plain stdout; the notebooks themselves run under `notebooks/build.py`).

mod common;

use ganlab::spec::Spec;

fn tiny_run(name: &str, out: &std::path::Path) -> std::path::PathBuf {
    let sets: Vec<String> = ["train.epochs=1", "train.iters_per_epoch=3", "eval.test_size=50"]
        .map(String::from)
        .to_vec();
    let s = Spec::load(&common::spec_path(name), Some("quick"), &sets).unwrap();
    common::train_quiet(&s, out)
}

#[test]
fn notebook_helpers_work_on_real_runs() {
    let out = tempfile::tempdir().unwrap();
    let a = tiny_run("mlp_pytorch", out.path());
    let b = tiny_run("acgan", out.path());
    let all = ganlab::notebook::all_metrics(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(all.height(), 6);
    assert!(all.column("run").is_ok());
    ganlab::notebook::show_frame(&all, 4).unwrap();
    ganlab::notebook::show_curves(&a).unwrap();
    ganlab::notebook::show_samples(&b).unwrap();
    ganlab::notebook::show_epoch_table(&b).unwrap();
    ganlab::notebook::show_embedding(&b).unwrap();
    assert!(
        ganlab::notebook::show_embedding(&a).is_err(),
        "no embedding in the MLP GAN"
    );
    ganlab::notebook::show_compare(&[a, b]).unwrap();
    ganlab::notebook::show_architecture(common::spec_path("dcgan").to_str().unwrap()).unwrap();
}
