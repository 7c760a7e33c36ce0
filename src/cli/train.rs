//! `ganlab run`, `resume`, `reference` and `sweep`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use super::{prepare, DataArgs, RunOutArgs, SpecArgs};
use crate::data::Mnist;
use crate::run::Manifest;

/// Train a spec into a new run directory (printed as the last line)
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub run: RunOutArgs,
    /// Train into exactly this new directory instead of OUT/<spec>/<id> (sweeps)
    #[arg(long, hide = true)]
    pub run_dir: Option<PathBuf>,
}

impl RunArgs {
    pub fn run(self) -> Result<()> {
        let RunArgs {
            spec,
            data,
            run,
            run_dir,
        } = self;
        let (s, mnist, threads) = prepare(&spec, &data, &run)?;
        let opts = crate::train::RunOptions {
            out: run.out,
            spec_file: spec.spec.display().to_string(),
            threads,
            device: crate::device::resolve(s.device)?,
            quiet: run.quiet,
        };
        crate::run::install_stop_handler();
        let dir = match run_dir {
            Some(d) => {
                let mut s = s;
                s.sweep = Default::default();
                crate::learner::train_in_new(&s, std::sync::Arc::new(mnist), opts, &d)?
            }
            None => crate::learner::train(&s, std::sync::Arc::new(mnist), opts)?,
        };
        println!("{}", dir.display());
        Ok(())
    }
}

/// Train the article's own code (Keras or PyTorch) for a spec's budget into a new
/// run directory that every other command reads (printed as the last line)
#[derive(Args)]
pub struct ReferenceArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// The seed (numpy, TensorFlow or torch are seeded with it; default: the spec's)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Python with the article's framework (default: GANLAB_TF_PY for the Keras
    /// articles, GANLAB_PEER_PY for the PyTorch one, else python3)
    #[arg(long)]
    pub python: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunOutArgs,
}

impl ReferenceArgs {
    pub fn run(self) -> Result<()> {
        let ReferenceArgs {
            mut spec,
            data,
            seed,
            python,
            run,
        } = self;
        if let Some(seed) = seed {
            spec.sets.push(format!("seed={seed}"));
        }
        let (s, mnist, threads) = prepare(&spec, &data, &run)?;
        let opts = crate::reference::Options {
            out: run.out,
            spec_file: spec.spec.display().to_string(),
            python,
            threads,
            quiet: run.quiet,
        };
        // The interrupt reaches the article's code as well (one process group).
        crate::run::install_stop_handler_saying(
            "interrupt: the article's code stops too; importing the steps it logged, then marking the run interrupted",
        );
        let dir = crate::reference::reference(&s, &mnist, &opts)?;
        println!("{}", dir.display());
        Ok(())
    }
}

/// Run a spec's `sweep:` (seeds and/or a grid), skipping completed members
#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Output directory; members go to OUT/<spec>/sweep-<hash>/<member>
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Members run at once
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Threads in all (each member gets threads / jobs); default all cores
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run only member I (0-based; what a Slurm array task does)
    #[arg(long, value_name = "I")]
    pub member: Option<usize>,
    /// Write a Slurm job-array script instead of running
    #[arg(long)]
    pub slurm: bool,
    /// Slurm partition
    #[arg(long, requires = "slurm")]
    pub partition: Option<String>,
    /// Slurm time limit, e.g. 02:00:00
    #[arg(long, requires = "slurm")]
    pub time: Option<String>,
    /// CPUs per Slurm task (also the member's threads)
    #[arg(long, default_value_t = 2, requires = "slurm")]
    pub cpus: usize,
    /// List the members and exit
    #[arg(long)]
    pub list: bool,
}

impl SweepArgs {
    pub fn run(self) -> Result<()> {
        let SweepArgs {
            spec,
            data,
            out,
            jobs,
            threads,
            member,
            slurm,
            partition,
            time,
            cpus,
            list,
        } = self;
        let sw = crate::sweep::Sweep::new(&spec.spec, spec.profile.as_deref(), &spec.all_sets(), &out)?;
        if list {
            for (i, m) in sw.members.iter().enumerate() {
                println!("{i:>3}  {}  {}", m.id, sw.dir.join(&m.id).display());
            }
            return Ok(());
        }
        if slurm {
            let opts = crate::sweep::SlurmOptions { partition, time, cpus };
            let script = sw.write_slurm(&opts, data.data_dir.as_deref())?;
            println!("{}", script.display());
            eprintln!(
                "submit: sbatch {}\nthen:   ganlab report {} -o reports/{}-sweep.html",
                script.display(),
                sw.dir.display(),
                sw.base.name
            );
            return Ok(());
        }
        let total = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if let Some(i) = member {
            if i >= sw.members.len() {
                bail!("--member {i}: this sweep has members 0 to {}", sw.members.len() - 1);
            }
            let args = match sw.plan(i, total, data.data_dir.as_deref())? {
                crate::sweep::Plan::Run(args) => args,
                crate::sweep::Plan::Skip(status) => {
                    eprintln!("{}: already {status}, skipped", sw.members[i].id);
                    return Ok(());
                }
            };
            std::fs::create_dir_all(&sw.dir)?;
            let exe = std::env::current_exe()?;
            let st = std::process::Command::new(exe).args(&args).status()?;
            if !st.success() {
                bail!("sweep member {} failed ({st})", sw.members[i].id);
            }
            return Ok(());
        }
        let per = (total / jobs.max(1)).max(1);
        eprintln!(
            "{}: {} members in {}, {} at a time, {per} threads each",
            sw.base.name,
            sw.members.len(),
            sw.dir.display(),
            jobs.max(1)
        );
        let failed = sw.run_local(jobs, per, data.data_dir.as_deref())?;
        println!("{}", sw.dir.display());
        if !failed.is_empty() {
            bail!("{} sweep member(s) failed: {}", failed.len(), failed.join(", "));
        }
        Ok(())
    }
}

/// Continue an interrupted, failed or killed run exactly, in its own directory
#[derive(Args)]
pub struct ResumeArgs {
    /// The run directory (runs/<spec>/<id>)
    pub run: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Compute threads (default: the run's own, which keeps the metrics bit-identical)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where to compute (default: the run's spec's `device`)
    #[arg(long, value_enum)]
    pub device: Option<crate::device::DeviceChoice>,
    /// Print only errors and the run directory
    #[arg(long)]
    pub quiet: bool,
}

impl ResumeArgs {
    pub fn run(self) -> Result<()> {
        let ResumeArgs {
            run,
            data,
            threads,
            device,
            quiet,
        } = self;
        let manifest = Manifest::read(&run)?;
        if manifest.engine.is_some() {
            bail!(
                "{} is a run of the article's own code (ganlab reference), which keeps no checkpoints to resume \
                 from; start it again with `ganlab reference` (reports/reproduction/make.sh does so by itself)",
                run.display()
            );
        }
        let s = crate::train::run_spec(&run)?;
        let threads = crate::runtime::set_threads(threads.or(Some(manifest.threads)));
        let mnist = Mnist::open(data.data_dir.as_deref(), s.data.dir.as_deref(), data.offline)?;
        let opts = crate::train::RunOptions {
            out: run.parent().map(Path::to_path_buf).unwrap_or_default(),
            spec_file: manifest.spec_file.clone(),
            threads,
            device: crate::device::resolve(device.unwrap_or(s.device))?,
            quiet,
        };
        crate::run::install_stop_handler();
        let dir = crate::learner::resume(&run, std::sync::Arc::new(mnist), opts)?;
        println!("{}", dir.display());
        Ok(())
    }
}
