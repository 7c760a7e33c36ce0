//! Exact resume: a run stopped by SIGINT (mid-epoch) or SIGKILL (back to its last
//! epoch checkpoint, or to its last `iter` checkpoint mid-epoch) and continued with
//! `ganlab resume` ends with the same metrics as an uninterrupted run, wall-clock
//! columns aside. And the resume refusals.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ganlab::log::{MetricsLog, Row};
use ganlab::run::{Manifest, Status};
use ganlab::spec::Spec;

const SETS: &[&str] = &["train.epochs=40", "train.iters_per_epoch=5", "checkpoint.every=1"];
/// Long epochs with an `iter` checkpoint every 5 iterations and none at epoch ends: a
/// run killed mid-epoch resumes from one taken after the last flush at an epoch end.
const ITER_SETS: &[&str] = &[
    "train.epochs=4",
    "train.iters_per_epoch=50",
    "checkpoint.every=0",
    "checkpoint.every_iters=5",
];

fn ganlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(args)
        .args(["--data-dir", common::data_dir().to_str().unwrap()])
        .output()
        .unwrap()
}

/// Start the run in a child process; return it and its run directory once the first
/// epoch's metrics are flushed.
#[allow(clippy::zombie_processes)] // the caller signals and waits for the child
fn start(out: &Path, sets: &[&str]) -> (std::process::Child, PathBuf) {
    let spec = common::spec_path("vanilla_mlp_keras");
    let mut args: Vec<String> = vec![
        "run".into(),
        spec.display().to_string(),
        "--profile".into(),
        "quick".into(),
    ];
    for s in sets {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args.extend(["--quiet", "--threads", "2", "--out"].map(String::from));
    args.push(out.display().to_string());
    args.extend(["--data-dir".into(), common::data_dir().display().to_string()]);
    let child = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let parent = out.join("vanilla_mlp_keras");
    let t = std::time::Instant::now();
    loop {
        let dir = std::fs::read_dir(&parent)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path());
        if let Some(dir) = dir.filter(|d| d.join("metrics.parquet").exists()) {
            return (child, dir);
        }
        assert!(t.elapsed().as_secs() < 120, "the run never flushed its metrics");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The uninterrupted run's metrics, computed once for all tests.
fn uninterrupted() -> &'static [Row] {
    static ROWS: std::sync::OnceLock<Vec<Row>> = std::sync::OnceLock::new();
    ROWS.get_or_init(|| uninterrupted_run(SETS))
}

fn uninterrupted_run(sets: &[&str]) -> Vec<Row> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let s = Spec::load(&common::spec_path("vanilla_mlp_keras"), Some("quick"), &sets).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = common::train_quiet(&s, out.path());
    MetricsLog::read(&dir.join("metrics.parquet")).unwrap().rows
}

/// The deterministic columns of every row.
fn same_metrics(a: &[Row], b: &[Row]) {
    assert_eq!(a.len(), b.len(), "row counts");
    for (x, y) in a.iter().zip(b) {
        let key = |r: &Row| (r.step, r.epoch, r.iter, r.d_loss, r.g_loss, r.d_real, r.d_fake);
        assert_eq!(key(x), key(y), "step {}", x.step);
    }
}

fn resume_and_compare(dir: &Path, stopped_at: Status, expected: &[Row]) {
    let m = Manifest::read(dir).unwrap();
    assert_eq!(m.status, stopped_at);
    let before = MetricsLog::read(&dir.join("metrics.parquet")).unwrap().rows.len();
    assert!(before < expected.len(), "the run finished before it was stopped");
    let o = ganlab(&["resume", dir.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Manifest::read(dir).unwrap();
    assert_eq!(m.status, Status::Completed);
    assert_eq!(m.resumed.len(), 1, "{:?}", m.resumed);
    let rows = MetricsLog::read(&dir.join("metrics.parquet")).unwrap().rows;
    same_metrics(&rows, expected);
}

#[test]
fn sigint_mid_epoch_then_resume_equals_an_uninterrupted_run() {
    let out = tempfile::tempdir().unwrap();
    let (child, dir) = start(out.path(), SETS);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait_with_output().unwrap();
    assert!(dir.join("checkpoints/state_interrupted.json").is_file());
    resume_and_compare(&dir, Status::Interrupted, uninterrupted());
}

#[test]
fn sigkill_then_resume_from_the_last_epoch_equals_an_uninterrupted_run() {
    let out = tempfile::tempdir().unwrap();
    let (mut child, dir) = start(out.path(), SETS);
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    resume_and_compare(&dir, Status::Running, uninterrupted());
}

/// Killed a little into epoch 2, the run resumes from an `iter` checkpoint after
/// epoch 1's last flush; the rows between the two must not be lost (they were, before
/// the metrics were written out with each `iter` checkpoint: the record's dcgan seed 1
/// lost step 235 so).
#[test]
fn sigkill_after_a_mid_epoch_checkpoint_then_resume_keeps_every_row() {
    let out = tempfile::tempdir().unwrap();
    let (mut child, dir) = start(out.path(), ITER_SETS);
    let t = std::time::Instant::now();
    while ganlab::checkpoint::latest(&dir)
        .ok()
        .flatten()
        .is_none_or(|s| s.step <= 50)
    {
        assert!(t.elapsed().as_secs() < 120, "no checkpoint in epoch 2");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    resume_and_compare(&dir, Status::Running, &uninterrupted_run(ITER_SETS));
}

#[test]
fn resume_refuses_completed_and_unknown_runs() {
    let out = tempfile::tempdir().unwrap();
    let sets: Vec<String> = ["train.epochs=1", "train.iters_per_epoch=2"].map(String::from).to_vec();
    let s = Spec::load(&common::spec_path("vanilla_mlp_keras"), Some("quick"), &sets).unwrap();
    let dir = common::train_quiet(&s, out.path());
    let o = ganlab(&["resume", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nothing to resume") && err.lines().count() == 1, "{err}");
    let o = ganlab(&["resume", out.path().to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a ganlab run"), "{err}");
}

/// The library's stepwise path (what the notebooks drive): a `Trainer` trained in
/// uneven pieces, paused (checkpoint `paused`, status `interrupted`), dropped,
/// restored and trained to the end ends with an uninterrupted run's metrics.
#[test]
fn a_trainer_paused_and_restored_in_pieces_equals_an_uninterrupted_run() {
    use ganlab::train::Trainer;
    let sets: Vec<String> = SETS.iter().map(|s| s.to_string()).collect();
    let s = Spec::load(&common::spec_path("vanilla_mlp_keras"), Some("quick"), &sets).unwrap();
    let out = tempfile::tempdir().unwrap();
    ganlab::runtime::set_threads(Some(2));
    let opts = || common::quiet_opts(out.path());
    let mut t = Trainer::create(&s, common::mnist().clone(), opts()).unwrap();
    ganlab::learner::register(&mut t).unwrap();
    assert_eq!(t.train_iters(37).unwrap(), 37);
    let p = t.position();
    assert_eq!(
        (p.step, p.epoch, p.iter),
        (37, 8, 2),
        "7 epochs of 5 ended, 2 iterations into the 8th"
    );
    assert!(t.end_epoch().is_err(), "an epoch cannot end before its last iteration");
    t.pause().unwrap();
    let dir = t.dir().to_path_buf();
    drop(t);
    assert_eq!(Manifest::read(&dir).unwrap().status, Status::Interrupted);
    let mut t = Trainer::restore(&dir, common::mnist().clone(), opts()).unwrap();
    ganlab::learner::register(&mut t).unwrap();
    assert_eq!(t.position().step, 37);
    assert_eq!(t.train_iters(63).unwrap(), 63, "to the end of epoch 20");
    assert_eq!(t.position().epoch, 21, "epoch 20 ended with its last iteration");
    assert_eq!(t.train_iters(1000).unwrap(), 100, "the budget ends the training");
    assert!(t.done() && t.step().is_err());
    t.pause().unwrap();
    assert_eq!(Manifest::read(&dir).unwrap().status, Status::Completed);
    let rows = MetricsLog::read(&dir.join("metrics.parquet")).unwrap().rows;
    same_metrics(&rows, uninterrupted());
}

/// ACGAN's per-epoch table prints the means of the epoch's train losses: a trainer
/// paused after the epoch's first iteration and restored prints the same table as an
/// uninterrupted run (the losses gathered before the pause travel in the checkpoint;
/// before they did, the restored run averaged only the iterations after it).
#[test]
fn acgan_paused_mid_epoch_and_restored_prints_the_whole_epochs_table() {
    use ganlab::log::EpochTable;
    use ganlab::train::Trainer;
    let sets = ["train.epochs=1", "train.iters_per_epoch=3"].map(String::from).to_vec();
    let s = Spec::load(&common::spec_path("acgan"), Some("quick"), &sets).unwrap();
    let out = tempfile::tempdir().unwrap();
    let whole = common::train_quiet(&s, &out.path().join("whole"));
    let expected = EpochTable::read(&whole.join("epochs.parquet")).unwrap().rows;
    assert!(!expected.is_empty());
    let opts = || common::quiet_opts(&out.path().join("paused"));
    let mut t = Trainer::create(&s, common::mnist().clone(), opts()).unwrap();
    ganlab::learner::register(&mut t).unwrap();
    assert_eq!(t.train_iters(1).unwrap(), 1);
    t.pause().unwrap();
    let dir = t.dir().to_path_buf();
    drop(t);
    let mut t = Trainer::restore(&dir, common::mnist().clone(), opts()).unwrap();
    ganlab::learner::register(&mut t).unwrap();
    assert_eq!(t.train_iters(100).unwrap(), 2);
    t.pause().unwrap();
    let rows = EpochTable::read(&dir.join("epochs.parquet")).unwrap().rows;
    assert_eq!(rows, expected);
}
