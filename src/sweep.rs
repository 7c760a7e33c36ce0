//! Sweeps: a spec's `sweep:` block (seeds and/or a grid of keys) expanded into
//! member runs with stable directories, run locally a few at a time or as a Slurm
//! job array. A member already completed is skipped and one that was stopped is
//! resumed, so a sweep can simply be started again.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::run::{Manifest, Status};
use crate::spec::{Spec, SweepSpec};

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Stable id, from the member's values: `seed-1`, `optim.d.lr=0.0001_seed-2`.
    pub id: String,
    /// The `--set` overrides that make this member (grid values, then the seed).
    pub sets: Vec<String>,
    pub spec: Spec,
}

/// What [`Sweep::plan`] decides for a member.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// The `ganlab` arguments that run or resume it.
    Run(Vec<String>),
    /// Nothing to do: it is in this state.
    Skip(Status),
}

/// What a sweep is built from: the spec file with its profile and overrides.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub spec_file: PathBuf,
    pub profile: Option<String>,
    pub sets: Vec<String>,
    pub base: Spec,
    pub members: Vec<Member>,
    /// `OUT/<name>/sweep-<hash>/`: the hash is the base spec's, so the same inputs
    /// always map to the same directory.
    pub dir: PathBuf,
}

fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn yaml_scalar(v: &serde_yaml::Value) -> String {
    serde_yaml::to_string(v).unwrap_or_default().trim().to_string()
}

impl Sweep {
    /// Expand the sweep of `spec_file` (after `profile` and `sets`) under `out`.
    pub fn new(spec_file: &Path, profile: Option<&str>, sets: &[String], out: &Path) -> Result<Sweep> {
        let base = Spec::load(spec_file, profile, sets)?;
        let SweepSpec { seeds, grid } = base.sweep.clone();
        if seeds.is_empty() && grid.is_empty() {
            bail!(
                "{} has no `sweep:` block (add e.g. `sweep: {{ seeds: [1, 2, 3] }}`, or --set 'sweep.seeds=[1,2,3]')",
                spec_file.display()
            );
        }
        let seeds = if seeds.is_empty() { vec![base.seed] } else { seeds };
        // Every combination of the grid's values, keys in sorted order.
        let mut combos: Vec<Vec<(String, String)>> = vec![vec![]];
        for (key, values) in &grid {
            if values.is_empty() {
                bail!("{}: sweep.grid.{key} lists no values", spec_file.display());
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((key.clone(), yaml_scalar(v)));
                        c
                    })
                })
                .collect();
        }
        let mut members = Vec::new();
        for combo in &combos {
            for &seed in &seeds {
                let mut member_sets: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
                member_sets.push(format!("seed={seed}"));
                let mut id: Vec<String> = combo.iter().map(|(k, v)| id_part(&format!("{k}={v}"))).collect();
                id.push(format!("seed-{seed}"));
                let all: Vec<String> = sets.iter().cloned().chain(member_sets.iter().cloned()).collect();
                let mut spec =
                    Spec::load(spec_file, profile, &all).with_context(|| format!("sweep member {}", id.join("_")))?;
                spec.sweep = SweepSpec::default();
                members.push(Member {
                    id: id.join("_"),
                    sets: member_sets,
                    spec,
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(m) = members.iter().find(|m| !seen.insert(m.id.as_str())) {
            bail!(
                "{}: sweep member {} appears twice (a value is listed twice in sweep.seeds or a sweep.grid key); list each once",
                spec_file.display(),
                m.id
            );
        }
        let mut key = base.clone();
        key.sweep = SweepSpec::default();
        let dir = out.join(&base.name).join(format!("sweep-{}", key.hash()));
        Ok(Sweep {
            spec_file: spec_file.to_path_buf(),
            profile: profile.map(str::to_string),
            sets: sets.to_vec(),
            base,
            members,
            dir,
        })
    }

    /// The `ganlab` arguments that run member `i` into its directory.
    fn run_args(&self, i: usize, threads: usize, data_dir: Option<&Path>) -> Vec<String> {
        let m = &self.members[i];
        let mut a = vec!["run".to_string(), self.spec_file.display().to_string()];
        if let Some(p) = &self.profile {
            a.extend(["--profile".into(), p.clone()]);
        }
        for s in self.sets.iter().chain(&m.sets) {
            a.extend(["--set".into(), s.clone()]);
        }
        a.extend([
            "--run-dir".into(),
            self.dir.join(&m.id).display().to_string(),
            "--threads".into(),
            threads.to_string(),
            "--quiet".into(),
        ]);
        if let Some(d) = data_dir {
            a.extend(["--data-dir".into(), d.display().to_string()]);
        }
        a
    }

    /// What to do with member `i`: run (or resume) it, or skip it when it completed,
    /// diverged or is running elsewhere.
    pub fn plan(&self, i: usize, threads: usize, data_dir: Option<&Path>) -> Result<Plan> {
        let dir = self.dir.join(&self.members[i].id);
        if !dir.join("manifest.json").is_file() {
            if dir.exists() {
                // Created but never started (no manifest): start it afresh.
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
            }
            return Ok(Plan::Run(self.run_args(i, threads, data_dir)));
        }
        let m = Manifest::read(&dir)?;
        Ok(match m.status {
            // A diverged member would diverge again at the same step.
            Status::Completed | Status::Diverged => Plan::Skip(m.status),
            Status::Running if !m.is_stale() => Plan::Skip(m.status),
            _ if crate::checkpoint::latest(&dir)?.is_some() => {
                let mut a = vec![
                    "resume".into(),
                    dir.display().to_string(),
                    "--threads".into(),
                    threads.to_string(),
                    "--quiet".into(),
                ];
                if let Some(d) = data_dir {
                    a.extend(["--data-dir".into(), d.display().to_string()]);
                }
                Plan::Run(a)
            }
            // Stopped before its first checkpoint: start it again.
            _ => {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
                Plan::Run(self.run_args(i, threads, data_dir))
            }
        })
    }

    /// Run every member not yet completed, `jobs` at a time, `threads` each, as child
    /// processes of this executable. Returns the members that did not complete.
    pub fn run_local(&self, jobs: usize, threads: usize, data_dir: Option<&Path>) -> Result<Vec<String>> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        let exe = std::env::current_exe().context("cannot find the ganlab executable")?;
        let mut queue: Vec<(usize, Vec<String>)> = Vec::new();
        for i in 0..self.members.len() {
            match self.plan(i, threads, data_dir)? {
                Plan::Run(args) => queue.push((i, args)),
                Plan::Skip(status) => eprintln!("{}: already {status}, skipped", self.members[i].id),
            }
        }
        queue.reverse();
        let mut running: Vec<(usize, std::process::Child)> = Vec::new();
        let mut failed = Vec::new();
        while !queue.is_empty() || !running.is_empty() {
            while running.len() < jobs.max(1) {
                let Some((i, args)) = queue.pop() else { break };
                eprintln!("{}: {}", self.members[i].id, args[0]);
                let child = Command::new(&exe)
                    .args(&args)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .with_context(|| format!("cannot start {}", exe.display()))?;
                running.push((i, child));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut k = 0;
            while k < running.len() {
                if let Some(status) = running[k].1.try_wait()? {
                    let (i, _) = running.remove(k);
                    let id = &self.members[i].id;
                    if status.success() {
                        eprintln!("{id}: completed");
                    } else {
                        eprintln!("{id}: FAILED ({status}); see {}", self.dir.join(id).display());
                        failed.push(id.clone());
                    }
                } else {
                    k += 1;
                }
            }
        }
        Ok(failed)
    }

    /// A Slurm job-array script whose task `i` runs member `i` (`ganlab sweep
    /// --member i`), written to `<sweep dir>/sweep.sbatch`.
    pub fn write_slurm(&self, opts: &SlurmOptions, data_dir: Option<&Path>) -> Result<PathBuf> {
        std::fs::create_dir_all(self.dir.join("slurm"))
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let exe = std::env::current_exe().context("cannot find the ganlab executable")?;
        let cwd = std::env::current_dir()?;
        let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
        let path_arg = |p: &Path| sh_quote(&p.display().to_string());
        let mut cmd = vec![path_arg(&exe), "sweep".into(), path_arg(&abs(&self.spec_file))];
        if let Some(p) = &self.profile {
            cmd.extend(["--profile".into(), sh_quote(p)]);
        }
        for s in &self.sets {
            cmd.extend(["--set".into(), sh_quote(s)]);
        }
        let out = self
            .dir
            .parent()
            .and_then(Path::parent)
            .map(abs)
            .unwrap_or_else(|| cwd.clone());
        cmd.extend(["--out".into(), path_arg(&out)]);
        cmd.extend(["--threads".into(), opts.cpus.to_string()]);
        if let Some(d) = data_dir {
            cmd.extend(["--data-dir".into(), path_arg(&abs(d))]);
        }
        cmd.extend(["--member".into(), "\"$SLURM_ARRAY_TASK_ID\"".into()]);
        let mut s = String::new();
        writeln!(s, "#!/bin/bash")?;
        writeln!(
            s,
            "# ganlab sweep of {} ({} members)",
            self.base.name,
            self.members.len()
        )?;
        writeln!(s, "#SBATCH --job-name=ganlab-{}", self.base.name)?;
        writeln!(s, "#SBATCH --array=0-{}", self.members.len() - 1)?;
        writeln!(s, "#SBATCH --cpus-per-task={}", opts.cpus)?;
        if let Some(p) = &opts.partition {
            writeln!(s, "#SBATCH --partition={p}")?;
        }
        if let Some(t) = &opts.time {
            writeln!(s, "#SBATCH --time={t}")?;
        }
        writeln!(s, "#SBATCH --output={}/slurm/%A_%a.out", abs(&self.dir).display())?;
        writeln!(s, "cd {}", path_arg(&cwd))?;
        writeln!(s, "exec {}", cmd.join(" "))?;
        let path = self.dir.join("sweep.sbatch");
        std::fs::write(&path, s).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

/// `s` as one word for a POSIX shell: in single quotes, each `'` written `'\''`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `sbatch` settings of `ganlab sweep --slurm`.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_parts_are_file_name_safe() {
        assert_eq!(id_part("optim.d.lr=0.0001"), "optim.d.lr=0.0001");
        assert_eq!(id_part("model.g_hidden=[1, 2]"), "model.g_hidden=_1__2_");
    }
}
