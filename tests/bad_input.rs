//! The bad-input catalogue through the real command line: each case exits non-zero
//! with one `error:` line naming the problem (and the file), never a panic, and
//! leaves the earlier run it touched unchanged. (Spec and IDX cases with their exact
//! messages are in tests/spec.rs and tests/data.rs; resume cases in tests/resume.rs.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn ganlab(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab")).args(args).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).to_string())
}

/// Exits non-zero with one error line containing every `want`, and no panic.
fn refused(args: &[&str], want: &[&str]) {
    let (ok, err) = ganlab(args);
    assert!(!ok, "{args:?} succeeded: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?}: `{w}` not in: {err}");
    }
}

/// A small completed run, shared by the cases (copied before anything may touch it).
/// A static is never dropped, so a `TempDir` here would outlive every test run on
/// the disk: the run lives in one fixed folder under cargo's target tmp instead,
/// replaced each time.
fn fixture() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_input_fixture");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let o = common::tiny_run_command()
            .args(["--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string())
    })
}

fn copy_run(to: &Path) -> PathBuf {
    let dst = to.join("run");
    let st = Command::new("cp")
        .args(["-r"])
        .arg(fixture())
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    dst
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for e in walk(dir) {
        v.push((e.display().to_string(), std::fs::read(&e).unwrap()));
    }
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn corrupt_and_foreign_checkpoints_are_refused_and_the_run_is_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let run = copy_run(tmp.path());
    let g = run.join("checkpoints/g_final.safetensors");
    std::fs::write(&g, b"not a safetensors file").unwrap();
    let before = snapshot(&run);
    let grid = tmp.path().join("grid.png");
    let (r, gp) = (run.to_str().unwrap(), grid.to_str().unwrap());
    refused(
        &["sample", r, "-o", gp],
        &["g_final.safetensors", "corrupt or truncated"],
    );
    refused(&["sample", r, "--checkpoint", "epoch_0099", "-o", gp], &["epoch_0099"]);
    assert_eq!(snapshot(&run), before, "a refused command leaves the run as it was");
    // A generator checkpoint of another variant (DCGAN's; the two MLP articles share one G).
    let foreign = tempfile::tempdir().unwrap();
    let o = common::quick_command("run", "dcgan")
        .args(["--set", "train.epochs=1", "--set", "train.iters_per_epoch=1", "--quiet"])
        .args(["--out", foreign.path().to_str().unwrap()])
        .args(["--data-dir", common::data_dir().to_str().unwrap()])
        .output()
        .unwrap();
    let other = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string());
    std::fs::copy(other.join("checkpoints/g_final.safetensors"), &g).unwrap();
    let before_foreign = snapshot(&run);
    refused(&["sample", r, "-o", gp], &["g_final.safetensors", "another"]);
    assert!(!grid.exists(), "no picture from a refused checkpoint");
    assert_eq!(snapshot(&run), before_foreign);
}

#[test]
fn report_over_a_directory_without_runs_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r.html");
    refused(
        &["report", tmp.path().to_str().unwrap(), "-o", out.to_str().unwrap()],
        &[tmp.path().to_str().unwrap()],
    );
    assert!(!out.exists());
}

#[test]
fn a_missing_idx_file_names_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ] {
        std::fs::copy(common::data_dir().join(f), tmp.path().join(f)).unwrap();
    }
    refused(
        &["data", "check", "--data-dir", tmp.path().to_str().unwrap()],
        &["t10k-labels-idx1-ubyte", "ganlab data fetch"],
    );
}

#[test]
fn bad_flags_and_overrides_on_the_command_line() {
    let spec = common::spec_path("mlp_pytorch");
    let s = spec.to_str().unwrap();
    refused(&["inspect", s, "--set", "train.batch_size=0"], &["batch_size"]);
    refused(&["inspect", s, "--set", "optim.d.lr=-1"], &["optim.d.lr"]);
    refused(&["inspect", s, "--set", "train.epochs=-3"], &["epochs"]);
    refused(
        &["inspect", s, "--set", "train.batch_size=70000"],
        &["larger than the dataset"],
    );
    refused(&["inspect", s, "--set", "trian.epochs=3"], &["trian", "train"]);
    refused(&["inspect", s, "--profile", "quik"], &["quik", "quick"]);
    refused(&["inspect", "experiments/nope.yaml"], &["nope.yaml"]);
    refused(&["bench", s, "--iters", "0"], &["--iters"]);
    let tmp = tempfile::tempdir().unwrap();
    refused(&["resume", tmp.path().to_str().unwrap()], &["not a ganlab run"]);
}
