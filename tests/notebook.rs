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

/// A cell's charts go out as one SVG (evcxr keeps one output per MIME type and cell:
/// the curves cell used to show only the D outputs, and the comparison only D(G(z))).
#[test]
fn charts_of_one_cell_are_stacked_into_one_svg() {
    let chart = |w: u32, h: u32, text: &str| {
        format!("<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\"><text>{text}</text></svg>")
    };
    let one = ganlab::notebook::stack_svgs(&[chart(900, 380, "G loss"), chart(960, 540, "D(x)")]).unwrap();
    assert!(
        one.starts_with("<svg width=\"960\" height=\"920\" viewBox=\"0 0 960 920\""),
        "{one}"
    );
    assert!(one.contains("<svg x=\"0\" y=\"0\" width=\"900\""), "{one}");
    assert!(one.contains("<svg x=\"0\" y=\"380\" width=\"960\""), "{one}");
    assert!(one.contains("G loss") && one.contains("D(x)"));
    assert_eq!(one.matches("<svg").count(), 3);
    assert_eq!(one.matches("</svg>").count(), 3);
    assert!(ganlab::notebook::stack_svgs(&["<p>no chart</p>".to_string()]).is_err());
    assert!(ganlab::notebook::stack_svgs(&["<svg height=\"3\"></svg>".to_string()]).is_err());
}
