//! `ganlab reference`: the article's own code trained into a ganlab run directory
//! (issue 18). The end-to-end tests need a Python with the article's framework
//! (GANLAB_PEER_PY: torch; GANLAB_TF_PY: tensorflow-cpu and tf-keras; `.ci/run` makes
//! one) and say SKIPPED on stderr without it; the bad-input test always runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn ganlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ganlab"))
}

/// `ganlab ARGS --data-dir MNIST`, which must succeed; its stdout.
fn ok<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> String {
    let o = ganlab()
        .args(args)
        .arg("--data-dir")
        .arg(common::data_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The run directory a command printed as its last line.
fn last_line(stdout: &str) -> PathBuf {
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

fn python(var: &str) -> Option<PathBuf> {
    let p = std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
    if p.is_none() {
        eprintln!("SKIPPED: a reference run needs {var} (a Python with the article's framework)");
    }
    p
}

/// A reference run of `spec` cut to 2 epochs of `iters` iterations, scored after each
/// epoch on 300 samples; returns the run directory.
fn reference_run(spec: &str, py: &Path, out: &Path, iters: usize) -> PathBuf {
    let (spec, py, o) = (
        common::spec_path(spec),
        py.display().to_string(),
        out.display().to_string(),
    );
    let iters = format!("train.iters_per_epoch={iters}");
    let dir = last_line(&ok([
        "reference",
        spec.to_str().unwrap(),
        "--profile",
        "quick",
        "--seed",
        "7",
        "--threads",
        "2",
        "--quiet",
        "--set",
        "train.epochs=2",
        "--set",
        &iters,
        "--set",
        "eval.every_epochs=1",
        "--set",
        "eval.samples=300",
        "--python",
        &py,
        "--out",
        &o,
    ]));
    assert!(dir.starts_with(out), "{dir:?}");
    dir
}

/// What every reference run directory holds, and what `ganlab eval --images` says of
/// its final samples: the same scores as its own `final` row.
fn check_run(dir: &Path, iters: u64, framework: &str) {
    let m = ganlab::run::Manifest::read(dir).unwrap();
    assert_eq!(m.status.to_string(), "completed");
    assert_eq!(m.seed, 7);
    let e = m.engine.as_ref().expect("a reference run names its engine");
    assert_eq!(e.kind, "reference");
    assert!(e.framework.starts_with(framework), "{e:?}");
    assert!(e.seeding.values().any(|s| s.contains("(7)")), "{e:?}");
    // The CPU and, for TensorFlow, its oneDNN switch as the run had it.
    let cpu = m.cpu.as_ref().expect("the manifest names its CPU");
    assert_eq!(cpu, &ganlab::bench::CpuInfo::read());
    let onednn = e.environment.get(ganlab::run::ONEDNN);
    if framework == "tensorflow" {
        match std::env::var(ganlab::run::ONEDNN) {
            Ok(v) => assert_eq!(onednn, Some(&v), "{e:?}"),
            Err(_) => assert!(onednn.is_some_and(|v| v.starts_with("unset")), "{e:?}"),
        }
    } else {
        assert_eq!(onednn, None, "{e:?}");
    }
    assert_eq!(m.steps_done, 2 * iters);
    let log = ganlab::log::MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
    assert_eq!(log.rows.len() as u64, 2 * iters);
    assert!(log.rows.iter().all(|r| r.d_loss.is_finite() && r.g_loss.is_finite()));
    assert!(log
        .rows
        .iter()
        .all(|r| (0.0..=1.0).contains(&r.d_real) && (0.0..=1.0).contains(&r.d_fake)));
    assert!(dir.join("samples/epoch_0002.png").is_file());
    let q = ganlab::eval::score::read_quality_rows(dir).unwrap();
    let tags: Vec<&str> = q.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(tags, ["epoch_0001", "epoch_0002", "final"]);
    assert_eq!(q[0].cells[0], "300");
    assert_eq!(q[2].cells[0], "10000");
    // The exported final samples rescore to the same figures.
    let idx = dir.join("samples/final.idx.gz");
    let size = std::fs::metadata(&idx).unwrap().len();
    assert!(size < 8_000_000, "final.idx.gz is {size} bytes");
    let idx_arg = idx.display().to_string();
    let stdout = ok(["eval", "--json", "--images", idx_arg.as_str()]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let row = ganlab::eval::score::checkpoint_values(dir, "final", &["fid", "inception_score"])
        .unwrap()
        .unwrap();
    assert_eq!(json["n"], 10_000, "{json}");
    assert!(
        (json["fid"].as_f64().unwrap() - row[0]).abs() < 1e-9,
        "{json} vs {row:?}"
    );
    assert!(
        (json["inception_score"].as_f64().unwrap() - row[1]).abs() < 1e-9,
        "{json} vs {row:?}"
    );
    // `ganlab eval RUN` says how to rescore instead of failing obscurely.
    let o = ganlab()
        .arg("eval")
        .arg(dir)
        .arg("--data-dir")
        .arg(common::data_dir())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("ganlab eval --images"));
}

/// A checked reference run of `spec` (see [`reference_run`], [`check_run`]) with the
/// Python in `var`, in a temporary folder; None (SKIPPED) without that Python.
fn checked_reference_run(spec: &str, var: &str, iters: usize, framework: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let py = python(var)?;
    let out = tempfile::tempdir().unwrap();
    let dir = reference_run(spec, &py, out.path(), iters);
    check_run(&dir, iters as u64, framework);
    Some((out, dir))
}

#[test]
fn pytorch_article_reference_run() {
    let Some((_out, dir)) = checked_reference_run("mlp_pytorch", "GANLAB_PEER_PY", 20, "pytorch") else {
        return;
    };
    // No checkpoints: resume refuses it with the way to start it again.
    let o = ganlab().arg("resume").arg(&dir).output().unwrap();
    common::assert_refused(&o, &["keeps no checkpoints", "ganlab reference"]);
}

#[test]
fn keras_article_reference_run_and_the_report_beside_ganlab() {
    let Some((out, dir)) = checked_reference_run("dcgan", "GANLAB_TF_PY", 3, "tensorflow") else {
        return;
    };
    let m = ganlab::log::MetricsLog::read_with(&dir.join("metrics.parquet"), &["d_acc"]).unwrap();
    assert!(
        m.rows.iter().all(|r| r.extra.iter().any(|e| e.0 == "d_acc")),
        "004's D accuracy"
    );
    // A ganlab run of the same spec, scored the same way, and the report of both.
    let spec = common::spec_path("dcgan").display().to_string();
    let o = out.path().display().to_string();
    let ours = last_line(&ok([
        "run",
        &spec,
        "--profile",
        "quick",
        "--set",
        "train.epochs=2",
        "--set",
        "train.iters_per_epoch=3",
        "--set",
        "eval.every_epochs=1",
        "--set",
        "eval.samples=300",
        "--quiet",
        "--threads",
        "2",
        "--out",
        &o,
    ]));
    ok(["eval", ours.to_str().unwrap()]);
    let html = out.path().join("report.html");
    let o = ganlab()
        .arg("report")
        .arg(out.path())
        .arg("-o")
        .arg(&html)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("Beside the article's own code"));
    assert!(html.contains("(article's code)"), "the reference run is labelled");
    assert!(html.contains("FID (lower is better)") && html.contains("no verdict (fewer than 2 seeds a side)"));
    assert!(html.contains("Era <code>tf.keras-2</code>"));
}

#[test]
fn a_python_without_the_framework_is_refused_before_any_directory_is_made() {
    let out = tempfile::tempdir().unwrap();
    let o = ganlab()
        .arg("reference")
        .arg(common::spec_path("acgan"))
        .args(["--profile", "quick", "--python", "/nonexistent/python3"])
        .arg("--data-dir")
        .arg(common::data_dir())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let err = common::assert_refused(
        &o,
        &["/nonexistent/python3 cannot run the article's code", "GANLAB_TF_PY"],
    );
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "nothing written");
}
