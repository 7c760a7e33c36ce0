//! `ganlab report` over real runs: one self-contained, well-formed HTML file.

mod common;

use std::process::Command;

/// A quick run of `name`, 1 epoch of 3 iterations unless `sets` says otherwise.
fn run_quick(name: &str, out: &std::path::Path, sets: &[&str]) {
    let o = common::quick_command("run", name)
        .args(["--quiet", "--threads", "2"])
        .args(["--set", "train.epochs=1", "--set", "train.iters_per_epoch=3"])
        .args(sets.iter().flat_map(|s| ["--set", s]))
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

/// Nothing fetched from elsewhere, and every inline PNG decodes.
fn assert_self_contained(html: &str) {
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<link"));
    use base64::Engine;
    for uri in html.split("src=\"data:image/png;base64,").skip(1) {
        let b64 = &uri[..uri.find('"').unwrap()];
        let png = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert!(img.width() > 0 && img.height() > 0);
    }
}

/// The reports committed under `reports/` (made from full-budget runs) are whole:
/// self-contained, every image decodes, and they name the runs' provenance.
#[test]
fn committed_reports_are_self_contained() {
    let mut n = 0;
    // The committed ones (.gitignore keeps the rest of reports/*.html out of git).
    for p in common::committed("reports", |name| {
        name.starts_with("full_budget_") && name.ends_with(".html")
    }) {
        let html = std::fs::read_to_string(&p).unwrap();
        assert_self_contained(&html);
        assert!(
            html.contains("git commit") && html.contains("spec hash"),
            "{}: no provenance",
            p.display()
        );
        assert!(
            !html.contains("/work/") && !html.contains("/tmp/"),
            "{}: a machine's path",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 1, "no committed report in reports/");
}

#[test]
fn report_compares_runs_in_one_self_contained_file() {
    let out = tempfile::tempdir().unwrap();
    run_quick("vanilla_mlp_keras", out.path(), &[]);
    // Scored by the pinned evaluator after each of its 2 epochs: sample quality over epochs.
    let scored = ["train.epochs=2", "eval.every_epochs=1", "eval.samples=200"];
    run_quick("mlp_pytorch", out.path(), &scored);
    // ACGAN's per-epoch train / test table, drawn over its 2 epochs.
    run_quick(
        "acgan",
        out.path(),
        &["train.epochs=2", "train.iters_per_epoch=1", "eval.test_size=50"],
    );
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
    assert!(html.contains("vanilla_mlp_keras /") && html.contains("mlp_pytorch /") && html.contains("acgan /"));
    // Three runs x (losses, D outputs, samples) inline; nothing fetched from elsewhere.
    assert!(html.matches("src=\"data:image/png;base64,").count() >= 9);
    assert_self_contained(&html);
    assert!(html.matches("<svg").count() >= 4, "overlaid curves inline as SVG");
    // Metric-over-epoch curves: FID and IS of the scored run, ACGAN's epoch losses.
    assert!(html.contains("Sample quality over training"));
    assert!(html.contains("FID (lower is better) over training") && html.contains("Inception score over training"));
    assert!(html.contains("<figcaption>Per-epoch train / test losses</figcaption>"));
    assert!(html.contains("generator (test)"), "the ACGAN per-epoch table");
    // The hyperparameters that differ between the two articles are highlighted.
    assert!(html.contains("<td class=\"diff\">MlpKeras") || html.contains("class=\"diff\">mlp_keras"));
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
        // Every <img> decoded in the browser: a copy of the report with a script that,
        // once the page has loaded, writes how many images have naturalWidth > 0.
        let probe = out.path().join("probe.html");
        let script = "<script>window.addEventListener('load', () => { const i = [...document.images]; \
            document.body.insertAdjacentHTML('beforeend', '<pre id=\"probe\">decoded ' + \
            i.filter(x => x.complete && x.naturalWidth > 0).length + ' of ' + i.length + '</pre>'); });</script>";
        std::fs::write(&probe, html.replace("</body>", &format!("{script}</body>"))).unwrap();
        let o = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--virtual-time-budget=10000", "--dump-dom"])
            .arg(format!("file://{}", probe.display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&o.stdout);
        let n = html.matches("<img ").count();
        assert!(
            dom.contains(&format!("decoded {n} of {n}</pre>")),
            "not every image decoded in chromium: {}",
            dom.lines()
                .find(|l| l.contains("id=\"probe\""))
                .unwrap_or("no probe result")
        );
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
    common::assert_refused(&o, &["no ganlab runs under"]);
}
