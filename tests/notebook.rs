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

/// The notebooks are committed with the outputs of a real execution: every code cell
/// but `:dep` has one, and a cell's charts are one SVG. (One commit once stripped a
/// notebook's outputs by accident; CI re-executes the notebooks, so only this test
/// sees what is committed.)
#[test]
fn committed_notebooks_carry_their_outputs() {
    let mut books = 0;
    for path in common::committed("notebooks", |name| name.ends_with(".ipynb")) {
        books += 1;
        let nb: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for cell in nb["cells"].as_array().unwrap() {
            let source = text(&cell["source"]);
            if cell["cell_type"] != "code" || source.starts_with(":dep") {
                continue;
            }
            let outputs = cell["outputs"].as_array().unwrap();
            assert!(!outputs.is_empty(), "{}: no output for `{source}`", path.display());
            for (call, charts) in [("show_curves", 2), ("show_compare", 4)] {
                if source.contains(call) {
                    let svg: String = outputs.iter().map(|o| text(&o["data"]["image/svg+xml"])).collect();
                    assert_eq!(svg.matches("<svg").count(), charts + 1, "{}: {call}", path.display());
                }
            }
        }
    }
    assert_eq!(books, 6, "one notebook per article and compare.ipynb");
}

/// compare.ipynb's last cell: ganlab beside the article's own code, over the committed
/// reproduction record (the notebook reads it from `../reports/reproduction/runs`).
#[test]
fn the_engines_view_of_the_committed_record() {
    let record = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/reproduction/runs");
    let views = ganlab::report::engines::views_of(&[record]).unwrap();
    let v = views
        .iter()
        .find(|v| v.spec == "vanilla_mlp_keras")
        .expect("000 in the record");
    assert!(
        v.rows.iter().any(|r| r.metric.starts_with("FID")),
        "a verdict row for FID"
    );
    assert_eq!(v.grids.len(), 2, "both engines' final grids");
    let html = ganlab::report::engines::html(&views).unwrap();
    assert!(html.contains("Beside the article's own code") && html.contains("<svg"));
}

/// Issue 20: every committed notebook trains something in a cell (a lab's progress
/// lines are in its output), and acgan.ipynb carries the Q&A's pictures and answer.
#[test]
fn every_notebook_trains_in_a_cell_and_acgan_answers_its_question() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks");
    for name in [
        "vanilla_mlp_keras",
        "tanh_cnn_sgd",
        "mlp_pytorch",
        "acgan",
        "dcgan",
        "compare",
    ] {
        let path = dir.join(format!("{name}.ipynb"));
        let nb: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let outputs: Vec<String> = nb["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["cell_type"] == "code" && text(&c["source"]).contains("train_iters("))
            .map(|c| {
                c["outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| text(&o["text"]))
                    .collect::<String>()
            })
            .collect();
        assert!(
            outputs
                .iter()
                .any(|o| o.contains("training into") && o.contains("d_loss")),
            "{name}.ipynb: no cell trains and prints its progress"
        );
        if name == "acgan" {
            let all = std::fs::read_to_string(&path).unwrap();
            for needle in [
                "What the asker expected",
                "Reality: z * embedding(label)",
                "class decodable",
                "class accuracy",
            ] {
                assert!(all.contains(needle), "acgan.ipynb has no output with {needle:?}");
            }
        }
    }
}

/// A notebook field that is a string or a list of lines, as one string.
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect::<String>(),
        other => other.as_str().unwrap_or_default().to_string(),
    }
}
