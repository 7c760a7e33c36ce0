//! `ganlab report` over real runs: one self-contained, well-formed HTML file.

mod common;

use std::process::Command;

fn run_quick(name: &str, out: &std::path::Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args([
            "run",
            common::spec_path(name).to_str().unwrap(),
            "--profile",
            "quick",
            "--quiet",
            "--threads",
            "2",
        ])
        .args(["--set", "train.epochs=1", "--set", "train.iters_per_epoch=3"])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            common::data_dir().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn report_compares_runs_in_one_self_contained_file() {
    let out = tempfile::tempdir().unwrap();
    run_quick("vanilla_mlp_keras", out.path());
    run_quick("mlp_pytorch", out.path());
    let html_path = out.path().join("reports/cmp.html");
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args([
            "report",
            out.path().to_str().unwrap(),
            "-o",
            html_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("vanilla_mlp_keras /") && html.contains("mlp_pytorch /"));
    // Two runs x (losses, D outputs, samples) inline; nothing fetched from elsewhere.
    assert!(html.matches("src=\"data:image/png;base64,").count() >= 6);
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<link"));
    assert!(html.matches("<svg").count() >= 4, "overlaid curves inline as SVG");
    // The hyperparameters that differ between the two articles are highlighted.
    assert!(html.contains("<td class=\"diff\">MlpKeras") || html.contains("class=\"diff\">mlp_keras"));
    // Well-formed: every element closes (checked with an XML reader).
    let body = html.trim_start_matches("<!DOCTYPE html>");
    let mut reader = quick_xml::Reader::from_str(body);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("malformed HTML at {}: {e}", reader.buffer_position()),
        }
    }
}

#[test]
fn report_over_a_folder_without_runs_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["report", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no ganlab runs under"));
}
