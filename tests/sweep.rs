//! Sweeps: expansion into members with stable ids and directories, a local 3-seed
//! sweep that skips completed members when started again and whose report shows
//! mean +- std, and the Slurm job-array script. (`.ci/slurm_test.sh` submits a sweep
//! to a real one-node Slurm.)

mod common;

use std::process::Command;

use ganlab::sweep::{SlurmOptions, Sweep};

fn sets(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_grid_times_seeds_expands_into_stable_members() {
    let out = tempfile::tempdir().unwrap();
    let s = sets(&["sweep.seeds=[1,2]", "sweep.grid={optim.d.lr: [0.0002, 0.0001]}"]);
    let sw = Sweep::new(&common::spec_path("mlp_pytorch"), Some("quick"), &s, out.path()).unwrap();
    let ids: Vec<&str> = sw.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "optim.d.lr=0.0002_seed-1",
            "optim.d.lr=0.0002_seed-2",
            "optim.d.lr=0.0001_seed-1",
            "optim.d.lr=0.0001_seed-2"
        ]
    );
    assert_eq!(sw.members[3].spec.seed, 2);
    assert_eq!(sw.members[3].spec.optim.d.lr, 0.0001);
    assert!(sw.members[0].spec.sweep.is_empty(), "members are single runs");
    // The same inputs give the same directory; other inputs another.
    let again = Sweep::new(&common::spec_path("mlp_pytorch"), Some("quick"), &s, out.path()).unwrap();
    assert_eq!(sw.dir, again.dir);
    let other = Sweep::new(&common::spec_path("mlp_pytorch"), None, &s, out.path()).unwrap();
    assert_ne!(sw.dir, other.dir);
}

#[test]
fn bad_sweeps_are_clear_errors() {
    let out = tempfile::tempdir().unwrap();
    let spec = common::spec_path("mlp_pytorch");
    let e = Sweep::new(&spec, None, &[], out.path()).unwrap_err().to_string();
    assert!(e.contains("no `sweep:` block"), "{e}");
    let e = format!(
        "{:#}",
        Sweep::new(&spec, None, &sets(&["sweep.grid={optim.d.lrr: [0.1]}"]), out.path()).unwrap_err()
    );
    assert!(e.contains("lrr") && e.contains("lr"), "{e}");
    let e = format!(
        "{:#}",
        Sweep::new(&spec, None, &sets(&["sweep.grid={optim.d.lr: [-1.0]}"]), out.path()).unwrap_err()
    );
    assert!(e.contains("optim.d.lr=-1"), "{e}");
    // The same seed twice would be two members in one directory.
    let e = Sweep::new(&spec, None, &sets(&["sweep.seeds=[1,2,1]"]), out.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("seed-1 appears twice"), "{e}");
    let e = Sweep::new(&spec, None, &sets(&["sweep.grid={optim.d.lr: [0.1, 0.1]}"]), out.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("optim.d.lr=0.1_seed-42 appears twice"), "{e}");
}

fn sweep_cli(out: &std::path::Path) -> std::process::Output {
    common::quick_command("sweep", "mlp_pytorch")
        .args([
            "--set",
            "sweep.seeds=[1,2,3]",
            "--set",
            "train.epochs=1",
            "--set",
            "train.iters_per_epoch=10",
        ])
        .args(["--jobs", "2", "--threads", "2", "--out", out.to_str().unwrap()])
        .args(["--data-dir", common::data_dir().to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn local_sweep_runs_seeds_restarts_without_rework_and_reports_mean_and_std() {
    let out = tempfile::tempdir().unwrap();
    let o = sweep_cli(out.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    for m in ["seed-1", "seed-2", "seed-3"] {
        let man = ganlab::run::Manifest::read(&dir.join(m)).unwrap();
        assert_eq!(man.status, ganlab::run::Status::Completed);
    }
    let o = sweep_cli(out.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.matches("already completed").count() == 3,
        "{err}"
    );
    let html = out.path().join("sweep.html");
    ganlab::report::write_report(&[dir], &html).unwrap();
    let text = std::fs::read_to_string(html).unwrap();
    assert!(text.contains("Seeds of one experiment") && text.contains("1, 2, 3") && text.contains('\u{b1}'));
}

#[test]
fn slurm_script_is_a_job_array_over_the_members() {
    // A path with a space and a quote, as on a cluster's shared file system.
    let out = tempfile::Builder::new().prefix("it's a sweep ").tempdir().unwrap();
    let sw = Sweep::new(
        &common::spec_path("mlp_pytorch"),
        Some("quick"),
        &sets(&["sweep.seeds=[1,2,3]"]),
        out.path(),
    )
    .unwrap();
    let opts = SlurmOptions {
        partition: Some("gpu".into()),
        time: Some("01:00:00".into()),
        cpus: 4,
    };
    let p = sw.write_slurm(&opts, None).unwrap();
    let s = std::fs::read_to_string(p).unwrap();
    for want in [
        "#SBATCH --array=0-2",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=01:00:00",
        "--member \"$SLURM_ARRAY_TASK_ID\"",
        "--threads 4",
    ] {
        assert!(s.contains(want), "missing {want:?} in:\n{s}");
    }
    // The shell reads each path as one word: print the words `exec` would get.
    let exec = s.lines().find_map(|l| l.strip_prefix("exec ")).expect("an exec line");
    let o = Command::new("bash")
        .args(["-c", &format!("printf '%s\\n' {exec}")])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .output()
        .unwrap();
    assert!(o.status.success());
    let words: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
    let after = |flag: &str| words.iter().position(|w| w == flag).map(|i| words[i + 1].as_str());
    assert_eq!(after("--out"), out.path().to_str(), "{words:?}");
    assert_eq!(after("--member"), Some("2"));
    assert_eq!(words[1], "sweep");
}
