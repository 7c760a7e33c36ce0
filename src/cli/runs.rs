//! `ganlab sample`, `list` and `report`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use candle_core::Device;
use clap::Args;

use crate::run::Manifest;
use crate::spec::Spec;

/// Generate a grid of samples from a run's final generator
#[derive(Args)]
pub struct SampleArgs {
    /// Run directory
    pub run: PathBuf,
    /// Number of images (laid out in a near-square grid)
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Noise seed
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output PNG
    #[arg(short, long, default_value = "grid.png")]
    pub output: PathBuf,
    /// The keras-dcgan article's "nice" generation: draw 20 x n candidates and keep
    /// the n that D scores highest
    #[arg(long)]
    pub nice: bool,
    /// Checkpoint to load: `final`, `iter` (the article's index % 100 == 9 save) or
    /// `epoch_NNNN`; default `iter` with --nice where the run has it, else `final`
    #[arg(long)]
    pub checkpoint: Option<String>,
}

impl SampleArgs {
    pub fn run(self) -> Result<()> {
        let SampleArgs {
            run,
            n,
            seed,
            output,
            nice,
            checkpoint,
        } = self;
        sample(&run, n, seed, &output, nice, checkpoint)?;
        Ok(())
    }
}

/// List runs with their status (a `running` run whose process is gone is `stale`)
#[derive(Args)]
pub struct ListArgs {
    /// Output directory or run folders
    #[arg(default_value = "runs")]
    pub dirs: Vec<PathBuf>,
}

impl ListArgs {
    pub fn run(self) -> Result<()> {
        let ListArgs { dirs } = self;
        let runs = crate::report::find_runs(&dirs)?;
        println!(
            "{:<20} {:<36} {:<12} {:>8} {:<26} dir",
            "spec", "run", "status", "steps", "started"
        );
        for r in runs {
            let m = Manifest::read(&r)?;
            let status = if m.is_stale() {
                "stale".to_string()
            } else {
                m.status.to_string()
            };
            let mut id = r
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let mut steps = m.steps_done;
            if m.engine.is_some() {
                id.push_str(" (article)");
                if m.status == crate::run::Status::Running {
                    // The article's code logs its steps as it goes; ganlab imports them at the end.
                    steps = crate::reference::steps_so_far(&r);
                }
            }
            println!(
                "{:<20} {:<36} {:<12} {:>8} {:<26} {}",
                m.spec,
                id,
                status,
                steps,
                m.started,
                r.display()
            );
        }
        Ok(())
    }
}

/// One self-contained HTML report comparing runs side by side
#[derive(Args)]
pub struct ReportArgs {
    /// Run directories, or folders holding runs (e.g. runs/ or runs/dcgan)
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Output HTML file
    #[arg(short, long, default_value = "reports/report.html")]
    pub output: PathBuf,
}

impl ReportArgs {
    pub fn run(self) -> Result<()> {
        let ReportArgs { runs, output } = self;
        let n = crate::report::write_report(&runs, &output)?;
        eprintln!("{n} run(s) in the report");
        println!("{}", output.display());
        Ok(())
    }
}

fn sample(run: &Path, n: usize, seed: u64, output: &Path, nice: bool, checkpoint: Option<String>) -> Result<()> {
    if n == 0 {
        bail!("--n must be at least 1");
    }
    let _ = Manifest::read(run)?;
    let cfg = run.join("config.yaml");
    let spec = Spec::load(&cfg, None, &[])?;
    let dev = Device::Cpu;
    let model = crate::models::build(&spec, &dev)?;
    let ckdir = run.join("checkpoints");
    let tag = checkpoint.unwrap_or_else(|| {
        if nice && ckdir.join("g_iter.safetensors").is_file() {
            "iter".into()
        } else {
            "final".into()
        }
    });
    let g_path = ckdir.join(format!("g_{tag}.safetensors"));
    if !g_path.is_file() {
        bail!(
            "{} has no generator checkpoint `{tag}` ({}); did the run finish?",
            run.display(),
            g_path.display()
        );
    }
    model.generator().load(&g_path)?;
    let mut r = crate::rng::stream(seed, crate::rng::Stream::Samples);
    let imgs = if nice {
        // generate(nice=True): 20 x n candidates, D's scores, the n best in order.
        model
            .discriminator()
            .load(&ckdir.join(format!("d_{tag}.safetensors")))?;
        let z = crate::rng::noise(&spec.noise, 20 * n, &mut r, &dev)?;
        let cand = model.generate(&z)?;
        let scores = model.d_prob(&cand)?.to_vec1::<f32>()?;
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let keep: Vec<u32> = order[..n].iter().map(|&i| i as u32).collect();
        cand.index_select(&candle_core::Tensor::new(keep.as_slice(), &dev)?, 0)?
    } else {
        model.generate(&crate::rng::noise(&spec.noise, n, &mut r, &dev)?)?
    };
    let imgs = imgs.flatten_all()?.to_vec1::<f32>()?;
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    crate::plot::sample_grid(&imgs, rows, cols, spec.data.scale, spec.samples.style, output)?;
    println!("{}", output.display());
    Ok(())
}
