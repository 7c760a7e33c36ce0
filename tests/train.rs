//! End to end on the real MNIST: parameter counts, a real short training run and
//! its run directory, determinism, the Parquet schema, checkpoints, and the CLI.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use ganlab::log::{read_frame, MetricsLog, COLUMNS};
use ganlab::run::{Manifest, Status};
use ganlab::spec::Spec;

fn spec(name: &str, sets: &[&str]) -> Spec {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Spec::load(&common::spec_path(name), Some("quick"), &sets).unwrap()
}

fn run(s: &Spec, out: &Path) -> PathBuf {
    common::train_quiet(s, out)
}

#[test]
fn parameter_counts_match_the_articles() {
    for name in ["vanilla_mlp_keras", "mlp_pytorch"] {
        let m = ganlab::models::build(&spec(name, &[]), &Device::Cpu).unwrap();
        assert_eq!(m.generator().count(), 1_486_352, "{name} G");
        assert_eq!(m.discriminator().count(), 1_460_225, "{name} D");
    }
}

/// Mean of the values after the first `skip`.
fn mean_after(v: &[f32], skip: usize) -> f32 {
    let t = &v[skip..];
    t.iter().sum::<f32>() / t.len() as f32
}

#[test]
fn keras_quick_run_learns_and_leaves_a_complete_run_directory() {
    let out = tempfile::tempdir().unwrap();
    let s = spec("vanilla_mlp_keras", &["train.epochs=2", "train.iters_per_epoch=100"]);
    let dir = run(&s, out.path());
    assert!(dir.starts_with(out.path().join("vanilla_mlp_keras")));
    for f in [
        "config.yaml",
        "manifest.json",
        "metrics.parquet",
        "plots/losses.png",
        "plots/losses.svg",
        "plots/d_outputs.png",
        "plots/d_outputs.svg",
        "samples/epoch_0001.png",
        "samples/epoch_0002.png",
        "checkpoints/g_final.safetensors",
        "checkpoints/d_final.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    let m = Manifest::read(&dir).unwrap();
    assert_eq!(m.status, Status::Completed);
    assert_eq!(m.steps_done, 200);
    assert_eq!(m.profile.as_deref(), Some("quick"));
    let log = MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
    assert_eq!(log.rows.len(), 200);
    let dr: Vec<f32> = log.rows.iter().map(|r| r.d_real).collect();
    let df: Vec<f32> = log.rows.iter().map(|r| r.d_fake).collect();
    // At the start D knows nothing: both near 0.5. Then D separates them.
    assert!(
        (dr[0] - 0.5).abs() < 0.1 && (df[0] - 0.5).abs() < 0.1,
        "{} {}",
        dr[0],
        df[0]
    );
    let (r, f) = (mean_after(&dr, 20), mean_after(&df, 20));
    assert!(r > 0.55 && r - f > 0.1, "D(x) {r} D(G(z)) {f} did not move apart");
    assert!(log.rows.iter().all(|r| r.g_loss.is_finite() && r.d_loss.is_finite()));
    // The resolved config reloads as a spec.
    let back = Spec::load(&dir.join("config.yaml"), None, &[]).unwrap();
    assert_eq!(back, {
        let mut t = s.clone();
        t.profiles.clear();
        t
    });
}

#[test]
fn pytorch_quick_run_learns() {
    let out = tempfile::tempdir().unwrap();
    let s = spec("mlp_pytorch", &["train.epochs=1", "train.iters_per_epoch=300"]);
    let dir = run(&s, out.path());
    let log = MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
    assert_eq!(log.rows.len(), 300);
    let dr: Vec<f32> = log.rows.iter().map(|r| r.d_real).collect();
    let df: Vec<f32> = log.rows.iter().map(|r| r.d_fake).collect();
    // This setup oscillates (betas 0.9); over the run D still separates the two.
    let (r, f) = (mean_after(&dr, 20), mean_after(&df, 20));
    assert!(log.rows.iter().all(|r| r.g_loss.is_finite()));
    assert!(r > 0.55 && r - f > 0.1, "D(x) {r} D(G(z)) {f} did not move apart");
    // d_loss is the article's sum of two means: about 2 ln 2 at the start.
    assert!(
        (log.rows[0].d_loss - 2.0 * std::f32::consts::LN_2).abs() < 0.2,
        "{}",
        log.rows[0].d_loss
    );
}

#[test]
fn same_seed_same_metrics_and_schema() {
    let out = tempfile::tempdir().unwrap();
    let s = spec("vanilla_mlp_keras", &["train.epochs=2", "train.iters_per_epoch=15"]);
    let a = run(&s, out.path());
    let b = run(&s, out.path());
    assert_ne!(a, b, "two runs must never share a directory");
    let fa = read_frame(&a.join("metrics.parquet")).unwrap();
    let fb = read_frame(&b.join("metrics.parquet")).unwrap();
    let names: Vec<String> = fa.get_column_names().iter().map(|s| s.to_string()).collect();
    assert_eq!(names, COLUMNS);
    use polars::prelude::DataType;
    assert_eq!(fa.column("step").unwrap().dtype(), &DataType::UInt64);
    assert_eq!(fa.column("d_loss").unwrap().dtype(), &DataType::Float32);
    assert_eq!(fa.height(), 30);
    let det = |f: &polars::prelude::DataFrame| f.drop_many(ganlab::log::WALL_CLOCK.iter().copied());
    assert!(det(&fa).equals(&det(&fb)), "metrics differ between identical runs");
    // A different seed gives different numbers.
    let c = run(
        &spec(
            "vanilla_mlp_keras",
            &["train.epochs=2", "train.iters_per_epoch=15", "seed=7"],
        ),
        out.path(),
    );
    let fc = read_frame(&c.join("metrics.parquet")).unwrap();
    assert!(!det(&fa).equals(&det(&fc)));
    // Checkpoints hold the final weights: sampling twice with one seed is identical.
    let bin = env!("CARGO_BIN_EXE_ganlab");
    let png = out.path().join("g.png");
    let o = Command::new(bin)
        .args(["sample", a.to_str().unwrap(), "--n", "16", "-o", png.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(png.is_file());
}

#[test]
fn checkpoint_from_another_variant_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let a = run(
        &spec("vanilla_mlp_keras", &["train.epochs=1", "train.iters_per_epoch=2"]),
        out.path(),
    );
    let m = ganlab::models::build(&spec("mlp_pytorch", &[]), &Device::Cpu).unwrap();
    // Same layer names and shapes for G: loads. D of the Keras run into G: refused.
    m.generator().load(&a.join("checkpoints/g_final.safetensors")).unwrap();
    let e = format!(
        "{:#}",
        m.generator()
            .load(&a.join("checkpoints/d_final.safetensors"))
            .unwrap_err()
    );
    assert!(e.contains("another"), "{e}");
    let bad = out.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a checkpoint").unwrap();
    let e = format!("{:#}", m.generator().load(&bad).unwrap_err());
    assert!(e.contains("not a readable safetensors"), "{e}");
}

#[test]
fn cli_bad_spec_exits_non_zero_with_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(common::spec_path("vanilla_mlp_keras"))
        .unwrap()
        .replace("batch_size: 128", "batch_size: 0");
    std::fs::write(&bad, text).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args([
            "run",
            bad.to_str().unwrap(),
            "--out",
            dir.path().join("runs").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = common::assert_refused(&o, &["bad.yaml", "train.batch_size", "line"]);
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.path().join("runs").exists(), "a bad spec must not create a run");
}

#[test]
fn cli_inspect_prints_the_parameter_counts() {
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["inspect", common::spec_path("vanilla_mlp_keras").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("G parameters: 1,486,352") && s.contains("D parameters: 1,460,225"),
        "{s}"
    );
    assert!(s.contains("loss.bce: logits"), "{s}");
}

#[test]
fn every_bce_semantics_trains_with_finite_losses() {
    let out = tempfile::tempdir().unwrap();
    for sem in ["clip", "logits", "torch"] {
        let s = spec(
            "vanilla_mlp_keras",
            &["train.epochs=1", "train.iters_per_epoch=5", &format!("loss.bce={sem}")],
        );
        let dir = run(&s, out.path());
        let log = MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
        assert_eq!(log.rows.len(), 5);
        assert!(
            log.rows.iter().all(|r| r.d_loss.is_finite() && r.g_loss.is_finite()),
            "{sem}"
        );
        let back = Spec::load(&dir.join("config.yaml"), None, &[]).unwrap();
        assert_eq!(back.loss.bce().to_string(), sem);
    }
}

fn wait_for(path: &Path, secs: u64) {
    let t = std::time::Instant::now();
    while !path.exists() {
        assert!(t.elapsed().as_secs() < secs, "{} did not appear", path.display());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Start a long Keras run in a child process and return it with its run directory's parent.
fn start_long_run(out: &Path) -> (std::process::Child, PathBuf) {
    let child = common::quick_command("run", "vanilla_mlp_keras")
        .args([
            "--set",
            "train.epochs=200",
            "--set",
            "train.iters_per_epoch=5",
            "--quiet",
            "--threads",
            "2",
        ])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            common::data_dir().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let parent = out.join("vanilla_mlp_keras");
    wait_for(&parent, 30);
    let t = std::time::Instant::now();
    let dir = loop {
        if let Some(e) = std::fs::read_dir(&parent).unwrap().flatten().next() {
            break e.path();
        }
        assert!(t.elapsed().as_secs() < 30);
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    wait_for(&dir.join("metrics.parquet"), 60); // at least one epoch flushed
    (child, dir)
}

/// Ctrl-C, and SIGTERM (what Slurm sends at a job's time limit or on `scancel`).
#[test]
fn sigint_and_sigterm_save_a_checkpoint_and_mark_the_run_interrupted() {
    for signal in ["-INT", "-TERM"] {
        let out = tempfile::tempdir().unwrap();
        let (child, dir) = start_long_run(out.path());
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(!o.status.success(), "{signal}: an interrupted run must exit non-zero");
        let m = Manifest::read(&dir).unwrap();
        assert_eq!(m.status, Status::Interrupted, "{signal}: {:?}", m.error);
        assert!(dir.join("checkpoints/g_interrupted.safetensors").is_file(), "{signal}");
        let log = MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
        assert_eq!(
            log.rows.len() as u64,
            log.rows.last().unwrap().step,
            "{signal}: every step up to the stop is logged"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("interrupted at step"),
            "{signal}"
        );
    }
}

#[test]
fn sigkill_leaves_readable_metrics_and_a_running_manifest() {
    let out = tempfile::tempdir().unwrap();
    let (mut child, dir) = start_long_run(out.path());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let m = Manifest::read(&dir).unwrap();
    assert_eq!(m.status, Status::Running);
    assert!(m.is_stale(), "a killed run must show as stale");
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["list", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(" stale "),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let log = MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
    assert!(
        !log.rows.is_empty() && log.rows.len().is_multiple_of(5),
        "whole epochs only: {}",
        log.rows.len()
    );
}

#[test]
fn unwritable_output_directory_is_one_clear_error() {
    let o = common::quick_command("run", "vanilla_mlp_keras")
        .args([
            "--out",
            "/proc/ganlab-cannot-write-here",
            "--data-dir",
            common::data_dir().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    common::assert_refused(&o, &["cannot create the output directory", "--out"]);
}

#[test]
fn two_runs_started_at_once_get_their_own_directories() {
    let out = tempfile::tempdir().unwrap();
    let start = || {
        common::quick_command("run", "vanilla_mlp_keras")
            .args([
                "--set",
                "train.epochs=1",
                "--set",
                "train.iters_per_epoch=2",
                "--quiet",
                "--threads",
                "1",
            ])
            .args([
                "--out",
                out.path().to_str().unwrap(),
                "--data-dir",
                common::data_dir().to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let last = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    let (da, db) = (last(&a), last(&b));
    assert_ne!(da, db);
    for d in [da, db] {
        assert_eq!(Manifest::read(Path::new(&d)).unwrap().status, Status::Completed);
    }
}

/// A run's manifest names the commit the binary was built from, also when the run is
/// started outside any git repository (it used to ask git in the working directory).
#[test]
fn manifest_names_the_build_commit_wherever_the_run_starts() {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(head) = head else {
        println!("SKIPPED: not built from a git checkout");
        return;
    };
    let elsewhere = tempfile::tempdir().unwrap();
    let o = common::tiny_run_command()
        .current_dir(elsewhere.path())
        .args(["--out", "runs"])
        .env("GIT_CEILING_DIRECTORIES", elsewhere.path().parent().unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = elsewhere.path().join(String::from_utf8_lossy(&o.stdout).trim());
    let m = Manifest::read(&dir).unwrap();
    let commit = m.git_commit.expect("no commit in the manifest");
    assert_eq!(commit.trim_end_matches("-dirty"), head, "manifest: {commit}");
}

/// A NaN loss stops the run as `diverged` with the step and the last finite losses,
/// its metrics up to there kept; `train.on_divergence: continue` trains on. (Keras
/// SGD at lr 9.9 on the vanilla GAN overflows to NaN at step 3.)
#[test]
fn a_nan_loss_stops_the_run_as_diverged_unless_told_to_continue() {
    let explode = [
        "--set",
        "optim.d={kind: sgd_keras, lr: 9.9, momentum: 0.9, nesterov: false}",
        "--set",
        "optim.g={kind: sgd_keras, lr: 9.9, momentum: 0.9, nesterov: false}",
        "--set",
        "train.iters_per_epoch=8",
    ];
    let the_run = |out: &Path| {
        let runs: Vec<PathBuf> = std::fs::read_dir(out.join("vanilla_mlp_keras"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].clone()
    };

    let out = tempfile::tempdir().unwrap();
    let o = common::tiny_run_command()
        .args(explode)
        .args(["--out", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(
        err.contains("(diverged)") && err.contains("diverged at step 3"),
        "{err}"
    );
    assert!(err.contains("last finite: step 2 d_loss"), "{err}");
    let dir = the_run(out.path());
    let m = Manifest::read(&dir).unwrap();
    assert_eq!(m.status, Status::Diverged);
    assert!(m.error.unwrap().contains("diverged at step 3"));
    let log = MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
    let steps: Vec<u64> = log.rows.iter().map(|r| r.step).collect();
    assert_eq!(steps, [1, 2], "the finite steps are kept");
    assert!(log.rows.iter().all(|r| r.d_loss.is_finite() && r.g_loss.is_finite()));
    // Resuming would only repeat the divergence.
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["resume", dir.to_str().unwrap(), "--quiet"])
        .args(["--data-dir", common::data_dir().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("diverged") && err.contains("on_divergence=continue"),
        "{err}"
    );
    assert_eq!(Manifest::read(&dir).unwrap().status, Status::Diverged, "untouched");

    let out = tempfile::tempdir().unwrap();
    let o = common::tiny_run_command()
        .args(explode)
        .args(["--set", "train.on_divergence=continue"])
        .args(["--out", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("warning: step 3").count(), 1, "one warning: {err}");
    let dir = the_run(out.path());
    assert_eq!(Manifest::read(&dir).unwrap().status, Status::Completed);
    let log = MetricsLog::read(&dir.join("metrics.parquet")).unwrap();
    assert_eq!(log.rows.len(), 8);
    assert!(
        log.rows[2..].iter().all(|r| !r.d_loss.is_finite()),
        "NaN rows are logged"
    );
}
