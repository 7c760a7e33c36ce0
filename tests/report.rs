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
    // Every inline image decodes.
    use base64::Engine;
    for uri in html.split("src=\"data:image/png;base64,").skip(1) {
        let b64 = &uri[..uri.find('"').unwrap()];
        let png = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert!(img.width() > 0 && img.height() > 0);
    }
    // In a real browser when one is installed (CI installs Debian's chromium).
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if chromium.exists() {
        let shot = out.path().join("shot.png");
        let profile = out.path().join("chromium-profile");
        let o = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
            ])
            .args([
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--window-size=1280,2000", &format!("--screenshot={}", shot.display())])
            .arg(format!("file://{}", html_path.display()))
            .output()
            .unwrap();
        assert!(
            shot.is_file(),
            "chromium took no screenshot: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let img = image::open(&shot).unwrap().to_luma8();
        let distinct: std::collections::HashSet<u8> = img.pixels().map(|p| p.0[0]).collect();
        assert!(distinct.len() > 20, "the screenshot is blank");
    } else {
        eprintln!("SKIPPED: the browser check needs /usr/bin/chromium (apt-get install chromium)");
    }
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
