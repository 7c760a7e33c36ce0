//! Run directories: `OUT/<spec name>/<run id>/` with `config.yaml`, `manifest.json`,
//! `metrics.parquet`, `samples/`, `plots/` and `checkpoints/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::spec::Spec;

/// TensorFlow's switch between its oneDNN kernels (the default on x86) and Eigen's.
pub const ONEDNN: &str = "TF_ENABLE_ONEDNN_OPTS";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Completed,
    Failed,
    Interrupted,
    /// A loss became NaN or infinite.
    Diverged,
}

impl std::fmt::Display for Status {
    /// The manifest's spelling: `running`, `completed`, ...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::Diverged => "diverged",
        })
    }
}

/// Set by SIGINT/SIGTERM; the trainer finishes the current iteration, saves and stops.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Install the SIGINT/SIGTERM handler once (a second signal exits at once).
pub fn install_stop_handler() {
    install_stop_handler_saying("interrupt: finishing this iteration, then saving a checkpoint and the metrics");
}

/// As [`install_stop_handler`], printing `what` at the first interrupt.
pub fn install_stop_handler_saying(what: &'static str) {
    use std::sync::atomic::Ordering;
    let _ = ctrlc::set_handler(move || {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("second interrupt: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("{what}");
    });
}

/// Why a training loop ended early on purpose.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error("interrupted at step {step} (epoch {epoch}); checkpoint `interrupted` and the metrics are saved")]
    Interrupted { step: u64, epoch: usize },
    #[error("diverged at step {step} (epoch {epoch}): d_loss {d_loss}, g_loss {g_loss}; last finite: {last_finite}")]
    Diverged {
        step: u64,
        epoch: usize,
        d_loss: f32,
        g_loss: f32,
        last_finite: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub ganlab_version: String,
    pub git_commit: Option<String>,
    pub spec: String,
    pub spec_file: String,
    pub spec_hash: String,
    pub profile: Option<String>,
    pub variant: String,
    pub seed: u64,
    pub threads: usize,
    pub device: String,
    pub data_dir: String,
    pub started: String,
    pub ended: Option<String>,
    pub status: Status,
    pub epochs_done: usize,
    pub steps_done: u64,
    pub error: Option<String>,
    /// The training process, to tell a live `running` run from a killed one.
    #[serde(default)]
    pub pid: Option<u32>,
    /// When and from which checkpoint the run was resumed, in order.
    #[serde(default)]
    pub resumed: Vec<String>,
    /// Which code trained the run: absent for ganlab's own runs, `reference` for the
    /// article's own code (`ganlab reference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// The CPU it ran on (`/proc/cpuinfo`); absent in manifests written before it was
    /// recorded. Speed and, through the kernels chosen, the last bits differ by CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<crate::cpu::CpuInfo>,
}

impl Manifest {
    /// `running` with no live process behind it: the run was killed.
    pub fn is_stale(&self) -> bool {
        self.status == Status::Running
            && self
                .pid
                .is_some_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists())
    }
}

impl Manifest {
    /// The manifest of a run of `spec` starting now in this process: `running`, with
    /// this build's version and commit. `engine` is `None` for ganlab's own runs.
    pub fn start(
        spec: &Spec,
        spec_file: &str,
        threads: usize,
        device: String,
        data_dir: &Path,
        engine: Option<Engine>,
    ) -> Manifest {
        Manifest {
            ganlab_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: git_commit(),
            spec: spec.name.clone(),
            spec_file: spec_file.to_string(),
            spec_hash: spec.hash(),
            profile: spec.profile.clone(),
            variant: spec.model.variant.to_string(),
            seed: spec.seed,
            threads,
            device,
            data_dir: data_dir.display().to_string(),
            started: now(),
            ended: None,
            status: Status::Running,
            epochs_done: 0,
            steps_done: 0,
            error: None,
            pid: Some(std::process::id()),
            resumed: Vec::new(),
            engine,
            cpu: Some(crate::cpu::CpuInfo::read()),
        }
    }

    pub fn read(run: &Path) -> Result<Manifest> {
        let p = run.join("manifest.json");
        let t = std::fs::read_to_string(&p)
            .with_context(|| format!("{} is not a ganlab run (no manifest.json)", run.display()))?;
        serde_json::from_str(&t).with_context(|| format!("{} is not a valid manifest", p.display()))
    }

    /// Write atomically.
    pub fn write(&self, run: &Path) -> Result<()> {
        let p = run.join("manifest.json");
        crate::atomic::write_bytes(&p, serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(())
    }
}

/// The git commit this ganlab was built from (`-dirty` when tracked files differed
/// from it), recorded by `build.rs`; `None` when built outside a git checkout.
pub fn git_commit() -> Option<String> {
    Some(env!("GANLAB_GIT_COMMIT"))
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// A file of the ganlab checkout the binary needs at run time (`parity/reference.py`,
/// the step-parity drivers, the articles' code): under `GANLAB_HOME` when that is set,
/// else in the tree the binary was built from, else in the current directory (a
/// binary copied elsewhere, run from a checkout). The error names every place looked.
pub fn project_file(rel: &str) -> Result<PathBuf> {
    let home = std::env::var_os("GANLAB_HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().unwrap_or_default();
    find_project_file(rel, home.as_deref(), Path::new(env!("CARGO_MANIFEST_DIR")), &cwd)
}

fn find_project_file(rel: &str, home: Option<&Path>, built: &Path, cwd: &Path) -> Result<PathBuf> {
    let places: Vec<(&Path, &str)> = match home {
        Some(h) => vec![(h, "GANLAB_HOME")],
        None => vec![(built, "where this binary was built"), (cwd, "the current directory")],
    };
    for (dir, _) in &places {
        let f = dir.join(rel);
        if f.is_file() {
            return Ok(f);
        }
    }
    let looked: Vec<String> = places
        .iter()
        .map(|(d, why)| format!("{} ({why})", d.join(rel).display()))
        .collect();
    bail!(
        "cannot find ganlab's {rel}: looked at {}; run from a ganlab checkout, or set GANLAB_HOME to one",
        looked.join(" and ")
    )
}

pub fn now() -> String {
    chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// Create the run directory `dir` (and its parents); refuses an existing one.
pub fn create_named_run_dir(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} already exists: a run directory is never reused", dir.display())
        }
        Err(e) => bail!("cannot create the run directory {}: {e}", dir.display()),
    }
    for sub in ["samples", "checkpoints", "plots"] {
        std::fs::create_dir(dir.join(sub))?;
    }
    Ok(())
}

/// Create a fresh run directory. Never reuses an existing one: the leaf is created
/// with `create_dir`, which fails if it exists, and a suffix is tried instead.
pub fn create_run_dir(out: &Path, spec: &Spec) -> Result<PathBuf> {
    let parent = out.join(&spec.name);
    std::fs::create_dir_all(&parent).with_context(|| {
        format!(
            "cannot create the output directory {} (choose another with --out)",
            parent.display()
        )
    })?;
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    for k in 0..1000 {
        let id = if k == 0 {
            format!("{stamp}-s{}", spec.seed)
        } else {
            format!("{stamp}-s{}-{k}", spec.seed)
        };
        let dir = parent.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                for sub in ["samples", "checkpoints", "plots"] {
                    std::fs::create_dir(dir.join(sub))?;
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => bail!(
                "cannot create a run directory in {}: {e} (choose another with --out)",
                parent.display()
            ),
        }
    }
    bail!("could not find a free run directory name in {}", parent.display())
}

/// Which code trained a run; absent from ganlab's own runs' manifests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Engine {
    /// `reference`: the article's own code.
    pub kind: String,
    /// The article, e.g. `003 Keras mnist_acgan.py`.
    pub article: String,
    /// Framework and version, e.g. `tensorflow 2.21.0 (tf_keras 2.21.0)`.
    pub framework: String,
    /// The driver and the file holding the article's code.
    pub driver: String,
    /// How each random generator was seeded.
    pub seeding: BTreeMap<String, String>,
    /// The Python that ran it.
    pub python: String,
    /// The environment variables that change the framework's numerics, as this run had
    /// them (`TF_ENABLE_ONEDNN_OPTS` for TensorFlow: its oneDNN kernels sum in another
    /// order than its Eigen ones). Absent in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

impl Engine {
    /// TensorFlow ran with `TF_ENABLE_ONEDNN_OPTS=0` (its Eigen kernels, as `ganlab
    /// parity` runs it) rather than its default oneDNN ones.
    pub fn onednn_off(&self) -> bool {
        self.environment
            .get(ONEDNN)
            .is_some_and(|v| v.trim() == "0" || v.trim().eq_ignore_ascii_case("false"))
    }

    /// A short label for tables and legends: `ganlab` or `article (tensorflow 2.21.0 ...)`.
    pub fn label(engine: Option<&Engine>) -> String {
        match engine {
            None => "ganlab".to_string(),
            Some(e) if e.onednn_off() => format!("article's code ({}, oneDNN off)", e.framework),
            Some(e) => format!("article's code ({})", e.framework),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(environment: &[(&str, &str)]) -> Engine {
        Engine {
            kind: "reference".into(),
            article: "001 keras-dcgan notebook".into(),
            framework: "tensorflow 2.21.0".into(),
            driver: "parity/reference.py".into(),
            seeding: BTreeMap::new(),
            python: "python3".into(),
            environment: environment
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_label_says_when_onednn_was_off() {
        assert_eq!(Engine::label(None), "ganlab");
        let on = engine(&[(ONEDNN, "unset (TensorFlow's default: oneDNN on)")]);
        assert_eq!(Engine::label(Some(&on)), "article's code (tensorflow 2.21.0)");
        assert_eq!(
            Engine::label(Some(&engine(&[(ONEDNN, "1")]))),
            "article's code (tensorflow 2.21.0)"
        );
        for off in ["0", "false", " FALSE "] {
            let e = engine(&[(ONEDNN, off)]);
            assert!(e.onednn_off(), "{off:?}");
            assert_eq!(
                Engine::label(Some(&e)),
                "article's code (tensorflow 2.21.0, oneDNN off)"
            );
        }
        assert!(!engine(&[]).onednn_off());
    }

    #[test]
    fn project_files_are_found_beside_the_build_then_here_and_missing_ones_named() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir(b.path().join("parity")).unwrap();
        std::fs::write(b.path().join("parity/x.py"), "").unwrap();
        // The build tree moved away: the current directory's checkout serves.
        let f = find_project_file("parity/x.py", None, a.path(), b.path()).unwrap();
        assert_eq!(f, b.path().join("parity/x.py"));
        // GANLAB_HOME, when set, is the only place looked.
        let e = find_project_file("parity/x.py", Some(a.path()), a.path(), b.path()).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("GANLAB_HOME") && msg.contains(&a.path().display().to_string()),
            "{msg}"
        );
        let e = find_project_file("parity/y.py", None, a.path(), b.path()).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("where this binary was built") && msg.contains("the current directory"),
            "{msg}"
        );
    }

    #[test]
    fn manifests_from_before_the_cpu_and_environment_still_read() {
        let dir = tempfile::tempdir().unwrap();
        // A committed reference run's manifest, written before either field existed.
        let old = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/reports/reproduction/onednn_off/tanh_cnn_sgd/20261204-163929-s1/manifest.json"
        ))
        .unwrap();
        assert!(!old.contains("\"cpu\":") && !old.contains("environment"));
        std::fs::write(dir.path().join("manifest.json"), &old).unwrap();
        let m = Manifest::read(dir.path()).unwrap();
        assert_eq!(m.cpu, None);
        assert!(m.engine.unwrap().environment.is_empty());
    }
}
