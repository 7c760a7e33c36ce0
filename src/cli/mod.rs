//! The `ganlab` command line: the arguments every command shares and the dispatch;
//! one file per group of commands (`train`: run, resume, reference, sweep;
//! `inspect`: inspect, bench; `parity`; `runs`: sample, list, report; `data`;
//! `eval`: eval and evaluator).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::data::Mnist;
use crate::spec::Spec;

mod data;
pub mod eval;
mod inspect;
mod parity;
mod runs;
mod train;

#[derive(Parser)]
#[command(
    name = "ganlab",
    version,
    about = "Reproduce classic GAN articles on MNIST side by side, and measure them"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Args, Clone)]
pub struct SpecArgs {
    /// Experiment spec (YAML), e.g. experiments/vanilla_mlp_keras.yaml
    pub spec: PathBuf,
    /// Apply a named profile of the spec (e.g. quick)
    #[arg(long)]
    pub profile: Option<String>,
    /// Override a key, e.g. --set train.epochs=3 (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Where to compute (overrides the spec's `device`; cuda needs a build with
    /// `--features cuda`)
    #[arg(long, value_enum)]
    pub device: Option<crate::device::DeviceChoice>,
}

impl SpecArgs {
    /// The `--set` overrides, with `--device` as `device=...` last.
    pub fn all_sets(&self) -> Vec<String> {
        let mut v = self.sets.clone();
        if let Some(d) = self.device {
            if let Some(name) = clap::ValueEnum::to_possible_value(&d) {
                v.push(format!("device={}", name.get_name()));
            }
        }
        v
    }
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// MNIST directory (overrides GANLAB_DATA and the spec's data.dir)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Never download MNIST
    #[arg(long)]
    pub offline: bool,
}

/// Where a new run goes and how it runs (`run`, `reference`).
#[derive(Args, Clone)]
pub struct RunOutArgs {
    /// Output directory for runs
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Compute threads (default: the spec's `threads`, else all cores)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print only errors and the run directory
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Train a spec into a new run directory (printed as the last line)
    Run(train::RunArgs),
    /// Continue an interrupted, failed or killed run exactly, in its own directory
    Resume(train::ResumeArgs),
    /// Train the article's own code (Keras or PyTorch) for a spec's budget into a new
    /// run directory that every other command reads (printed as the last line)
    Reference(train::ReferenceArgs),
    /// Run a spec's `sweep:` (seeds and/or a grid), skipping completed members
    Sweep(train::SweepArgs),
    /// Generate a grid of samples from a run's final generator
    Sample(runs::SampleArgs),
    /// Print each network's layers, parameter counts and training semantics
    Inspect(inspect::InspectArgs),
    /// Median time of one training iteration per spec
    Bench(inspect::BenchArgs),
    /// Step parity with the article's own code (needs a Python with torch for 002, tf_keras for the others)
    Parity(parity::ParityArgs),
    /// List runs with their status (a `running` run whose process is gone is `stale`)
    List(runs::ListArgs),
    /// One self-contained HTML report comparing runs side by side
    Report(runs::ReportArgs),
    /// Score samples with the pinned MNIST evaluator: FID, KID, IS, precision/recall, class coverage
    Eval(eval::EvalArgs),
    /// The pinned MNIST evaluator network: train it, check its test accuracy, reference rows
    Evaluator {
        #[command(subcommand)]
        cmd: eval::EvaluatorCmd,
    },
    /// MNIST data: fetch or verify
    Data(data::DataCommand),
}

fn load_spec(a: &SpecArgs) -> Result<Spec> {
    Ok(Spec::load(&a.spec, a.profile.as_deref(), &a.all_sets())?)
}

/// A new run's spec, its MNIST and the compute threads (set for the process).
fn prepare(spec: &SpecArgs, data: &DataArgs, run: &RunOutArgs) -> Result<(Spec, Mnist, usize)> {
    let s = load_spec(spec)?;
    let threads = crate::runtime::set_threads(run.threads.or(s.threads));
    let mnist = Mnist::open(data.data_dir.as_deref(), s.data.dir.as_deref(), data.offline)?;
    Ok((s, mnist, threads))
}

pub fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Run(a) => a.run(),
        Cmd::Resume(a) => a.run(),
        Cmd::Reference(a) => a.run(),
        Cmd::Sweep(a) => a.run(),
        Cmd::Sample(a) => a.run(),
        Cmd::Inspect(a) => a.run(),
        Cmd::Bench(a) => a.run(),
        Cmd::Parity(a) => a.run(),
        Cmd::List(a) => a.run(),
        Cmd::Report(a) => a.run(),
        Cmd::Eval(a) => eval::eval(a),
        Cmd::Evaluator { cmd } => eval::evaluator(cmd),
        Cmd::Data(a) => a.run(),
    }
}

/// `1486352` -> `1,486,352`.
pub fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
