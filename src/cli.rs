//! The `ganlab` command line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::{Args, Parser, Subcommand};

use crate::data::Mnist;
use crate::run::Manifest;
use crate::spec::Spec;

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
    /// Continue an interrupted, failed or killed run exactly, in its own directory
    Resume {
        /// The run directory (runs/<spec>/<id>)
        run: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Compute threads (default: the run's own, which keeps the metrics bit-identical)
        #[arg(long)]
        threads: Option<usize>,
        /// Where to compute (default: the run's spec's `device`)
        #[arg(long, value_enum)]
        device: Option<crate::device::DeviceChoice>,
        /// Print only errors and the run directory
        #[arg(long)]
        quiet: bool,
    },
    /// Train a spec into a new run directory (printed as the last line)
    Run {
        #[command(flatten)]
        spec: SpecArgs,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        run: RunOutArgs,
        /// Train into exactly this new directory instead of OUT/<spec>/<id> (sweeps)
        #[arg(long, hide = true)]
        run_dir: Option<PathBuf>,
    },
    /// Train the article's own code (Keras or PyTorch) for a spec's budget into a new
    /// run directory that every other command reads (printed as the last line)
    Reference {
        #[command(flatten)]
        spec: SpecArgs,
        #[command(flatten)]
        data: DataArgs,
        /// The seed (numpy, TensorFlow or torch are seeded with it; default: the spec's)
        #[arg(long)]
        seed: Option<u64>,
        /// Python with the article's framework (default: GANLAB_TF_PY for the Keras
        /// articles, GANLAB_PEER_PY for the PyTorch one, else python3)
        #[arg(long)]
        python: Option<PathBuf>,
        #[command(flatten)]
        run: RunOutArgs,
    },
    /// Run a spec's `sweep:` (seeds and/or a grid), skipping completed members
    Sweep {
        #[command(flatten)]
        spec: SpecArgs,
        #[command(flatten)]
        data: DataArgs,
        /// Output directory; members go to OUT/<spec>/sweep-<hash>/<member>
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Members run at once
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Threads in all (each member gets threads / jobs); default all cores
        #[arg(long)]
        threads: Option<usize>,
        /// Run only member I (0-based; what a Slurm array task does)
        #[arg(long, value_name = "I")]
        member: Option<usize>,
        /// Write a Slurm job-array script instead of running
        #[arg(long)]
        slurm: bool,
        /// Slurm partition
        #[arg(long, requires = "slurm")]
        partition: Option<String>,
        /// Slurm time limit, e.g. 02:00:00
        #[arg(long, requires = "slurm")]
        time: Option<String>,
        /// CPUs per Slurm task (also the member's threads)
        #[arg(long, default_value_t = 2, requires = "slurm")]
        cpus: usize,
        /// List the members and exit
        #[arg(long)]
        list: bool,
    },
    /// Generate a grid of samples from a run's final generator
    Sample {
        /// Run directory
        run: PathBuf,
        /// Number of images (laid out in a near-square grid)
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// Noise seed
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output PNG
        #[arg(short, long, default_value = "grid.png")]
        output: PathBuf,
        /// The keras-dcgan article's "nice" generation: draw 20 x n candidates and keep
        /// the n that D scores highest
        #[arg(long)]
        nice: bool,
        /// Checkpoint to load: `final`, `iter` (the article's index % 100 == 9 save) or
        /// `epoch_NNNN`; default `iter` with --nice where the run has it, else `final`
        #[arg(long)]
        checkpoint: Option<String>,
    },
    /// Print each network's layers, parameter counts and training semantics
    Inspect {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Median time of one training iteration per spec
    Bench {
        /// Specs to measure
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Timed iterations per spec
        #[arg(long, default_value_t = 30)]
        iters: usize,
        /// Untimed warm-up iterations
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        #[arg(long)]
        threads: Option<usize>,
        /// Where to compute (default: each spec's `device`)
        #[arg(long, value_enum)]
        device: Option<crate::device::DeviceChoice>,
        /// One JSON object per spec per line
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Step parity with the article's own code (needs a Python with torch for 002, tf_keras for the others)
    Parity {
        #[command(flatten)]
        spec: SpecArgs,
        /// Iterations to compare
        #[arg(long, default_value_t = 3)]
        iters: usize,
        /// Python interpreter (default: GANLAB_PEER_PY for the PyTorch article, GANLAB_TF_PY for the Keras ones, else python3)
        #[arg(long)]
        python: Option<PathBuf>,
        /// Where the fixture and outputs go, kept afterwards (default: a temporary directory, removed at the end)
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List runs with their status (a `running` run whose process is gone is `stale`)
    List {
        /// Output directory or run folders
        #[arg(default_value = "runs")]
        dirs: Vec<PathBuf>,
    },
    /// One self-contained HTML report comparing runs side by side
    Report {
        /// Run directories, or folders holding runs (e.g. runs/ or runs/dcgan)
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output HTML file
        #[arg(short, long, default_value = "reports/report.html")]
        output: PathBuf,
    },
    /// Score samples with the pinned MNIST evaluator: FID, KID, IS, precision/recall, class coverage
    Eval(crate::eval::cli::EvalArgs),
    /// The pinned MNIST evaluator network: train it, check its test accuracy, reference rows
    Evaluator {
        #[command(subcommand)]
        cmd: crate::eval::cli::EvaluatorCmd,
    },
    /// MNIST data: fetch or verify
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
}

#[derive(Subcommand)]
pub enum DataCmd {
    /// Download the four MNIST files from a public mirror and verify them
    Fetch {
        /// Target directory (default: GANLAB_DATA, else data/mnist)
        dir: Option<PathBuf>,
    },
    /// Verify the MNIST files (magic, counts, SHA-256)
    Check {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
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
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            spec,
            data,
            run,
            run_dir,
        } => {
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
                    crate::train::train_in_new(&s, &mnist, &opts, &d)?
                }
                None => crate::train::train(&s, &mnist, &opts)?,
            };
            println!("{}", dir.display());
        }
        Cmd::Reference {
            mut spec,
            data,
            seed,
            python,
            run,
        } => {
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
            let dir = crate::reference::reference(&s, &mnist, &opts)?;
            println!("{}", dir.display());
        }
        Cmd::Sweep {
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
        } => {
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
        }
        Cmd::Resume {
            run,
            data,
            threads,
            device,
            quiet,
        } => {
            let manifest = Manifest::read(&run)?;
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
            let dir = crate::train::resume(&run, &mnist, &opts)?;
            println!("{}", dir.display());
        }
        Cmd::Sample {
            run,
            n,
            seed,
            output,
            nice,
            checkpoint,
        } => sample(&run, n, seed, &output, nice, checkpoint)?,
        Cmd::Inspect { spec } => inspect(&load_spec(&spec)?)?,
        Cmd::Bench {
            specs,
            iters,
            warmup,
            threads,
            device,
            json,
            data,
        } => {
            if iters == 0 {
                bail!("--iters must be at least 1");
            }
            let loaded = specs
                .iter()
                .map(|p| Ok(Spec::load(p, None, &[])?))
                .collect::<Result<Vec<_>>>()?;
            let threads = crate::runtime::set_threads(threads);
            let mnist = Mnist::open(data.data_dir.as_deref(), loaded[0].data.dir.as_deref(), data.offline)?;
            let dev = crate::device::resolve(device.unwrap_or(loaded[0].device))?;
            let peak = crate::bench::peak_gflops(&dev)?;
            if !json {
                println!("GEMM peak (2048^3 f32, {threads} threads): {peak:.0} GFLOP/s");
                println!(
                    "{:<22} {:>6} {:>11} {:>9} {:>9} {:>10} {:>8} {:>8}",
                    "spec", "batch", "median ms", "min ms", "max ms", "GFLOP/it", "GFLOP/s", "% peak"
                );
            }
            for s in &loaded {
                let r = crate::runtime::on_pool(|| {
                    crate::bench::bench_spec(s, &mnist, iters, warmup, threads, peak, &dev)
                })?;
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{:<22} {:>6} {:>11.2} {:>9.2} {:>9.2} {:>10.2} {:>8.0} {:>7.1}%",
                        r.spec,
                        r.batch_size,
                        r.median_ms,
                        r.min_ms,
                        r.max_ms,
                        r.gflop_per_iter,
                        r.gflops,
                        r.pct_of_peak
                    );
                }
            }
        }
        Cmd::Parity {
            spec,
            iters,
            python,
            dir,
            data,
        } => {
            let s = load_spec(&spec)?;
            crate::runtime::set_threads(Some(2));
            let mnist = Mnist::open(data.data_dir.as_deref(), s.data.dir.as_deref(), data.offline)?;
            let (_, framework) = crate::parity::driver(s.model.variant);
            let python = python
                .or_else(|| framework.python_from_env())
                .unwrap_or_else(|| PathBuf::from("python3"));
            // The fixtures run to hundreds of MB (the keras-dcgan weights and their Adam
            // moments): without --dir they go to a temporary directory removed on exit.
            let (tmp, dir) = match dir {
                Some(d) => (None, d),
                None => {
                    let t = tempfile::Builder::new()
                        .prefix(&format!("ganlab-parity-{}-", s.name))
                        .tempdir()
                        .context("cannot create a temporary directory for the parity fixture (or pass --dir)")?;
                    let p = t.path().to_path_buf();
                    (Some(t), p)
                }
            };
            let rows = crate::parity::run(&s, &mnist, iters, &dir, &python)?;
            match &tmp {
                Some(_) => println!(
                    "{}: ganlab vs the article's own code (fixture removed on exit; --dir DIR keeps it)",
                    s.name
                ),
                None => println!("{}: ganlab vs the article's own code ({})", s.name, dir.display()),
            }
            println!(
                "{:>4} {:>11} {:>11} {:>11} {:>11} {:>10} {:>10}  {:<24} {:>10} {:>9}  tensor",
                "iter",
                "d_loss",
                "article",
                "g_loss",
                "article",
                "rel. upd.",
                "worst",
                "(tensor)",
                "max |dw|",
                "> 1e-6"
            );
            for r in &rows {
                println!(
                    "{:>4} {:>11.7} {:>11.7} {:>11.7} {:>11.7} {:>10.2e} {:>10.2e}  {:<24} {:>10.2e} {:>9}  {}",
                    r.iter,
                    r.d_loss.0,
                    r.d_loss.1,
                    r.g_loss.0,
                    r.g_loss.1,
                    r.rel_update_diff,
                    r.max_rel_tensor.0,
                    r.max_rel_tensor.1,
                    r.max_weight_diff.0,
                    r.n_differ,
                    r.max_weight_diff.1
                );
            }
            // One line for the README's table.
            let rel = |a: f32, b: f32| (a - b).abs() / b.abs().max(1e-6);
            let loss = rows
                .iter()
                .map(|r| rel(r.d_loss.0, r.d_loss.1).max(rel(r.g_loss.0, r.g_loss.1)))
                .fold(0f32, f32::max);
            let all = rows.iter().map(|r| r.rel_update_diff).fold(0f32, f32::max);
            let worst = rows.iter().map(|r| &r.max_rel_tensor).fold((0f32, ""), |a, t| {
                if t.0 > a.0 {
                    (t.0, t.1.as_str())
                } else {
                    a
                }
            });
            println!(
                "summary: {} iterations, losses within {loss:.1e} (relative), weight updates within {all:.1e} \
                 (all weights) and {:.1e} (worst tensor, {})",
                rows.len(),
                worst.0,
                worst.1
            );
            // The largest |ganlab - article| per tensor, after each iteration.
            print!("{:<28}", "max |dw| per tensor");
            for r in &rows {
                print!(" {:>10}", format!("iter {}", r.iter));
            }
            println!();
            for (t, (name, _)) in rows
                .first()
                .map(|r| r.per_tensor.as_slice())
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                print!("{name:<28}");
                for r in &rows {
                    print!(" {:>10.2e}", r.per_tensor.get(t).map_or(f32::NAN, |p| p.1));
                }
                println!();
            }
        }
        Cmd::List { dirs } => {
            let runs = crate::report::find_runs(&dirs)?;
            println!(
                "{:<20} {:<26} {:<12} {:>8} {:<26} dir",
                "spec", "run", "status", "steps", "started"
            );
            for r in runs {
                let m = Manifest::read(&r)?;
                let status = if m.is_stale() {
                    "stale".to_string()
                } else {
                    m.status.to_string()
                };
                let id = r
                    .file_name()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                println!(
                    "{:<20} {:<26} {:<12} {:>8} {:<26} {}",
                    m.spec,
                    id,
                    status,
                    m.steps_done,
                    m.started,
                    r.display()
                );
            }
        }
        Cmd::Report { runs, output } => {
            let n = crate::report::write_report(&runs, &output)?;
            eprintln!("{n} run(s) in the report");
            println!("{}", output.display());
        }
        Cmd::Eval(a) => crate::eval::cli::eval(a)?,
        Cmd::Evaluator { cmd } => crate::eval::cli::evaluator(cmd)?,
        Cmd::Data { cmd } => match cmd {
            DataCmd::Fetch { dir } => {
                let dir = dir.unwrap_or_else(|| crate::data::resolve_dir(None, None).0);
                crate::data::fetch(&dir)?;
                println!("{}", dir.display());
            }
            DataCmd::Check { data_dir } => {
                let (dir, how) = crate::data::resolve_dir(data_dir.as_deref(), None);
                let m = Mnist::load(&dir).with_context(|| format!("MNIST in {} (chosen by {how})", dir.display()))?;
                println!(
                    "{}: {} train and {} test images, all four files verified (SHA-256)",
                    dir.display(),
                    m.train.len(),
                    m.test.len()
                );
            }
        },
    }
    Ok(())
}

fn inspect(s: &Spec) -> Result<()> {
    let model = crate::models::build(s, &Device::Cpu)?;
    println!("{} ({}): {}", s.name, s.model.variant, s.source.title);
    println!(
        "{:<4} {:<10} {:<46} {:<18} {:>10}",
        "net", "layer", "kind", "output", "params"
    );
    for l in model.layers() {
        println!(
            "{:<4} {:<10} {:<46} {:<18} {:>10}",
            l.network, l.name, l.kind, l.output, l.params
        );
    }
    let state = model.generator().state_count();
    if state > 0 {
        println!(
            "G parameters: {} (+{} non-trainable)",
            group(model.generator().count()),
            group(state)
        );
    } else {
        println!("G parameters: {}", group(model.generator().count()));
    }
    println!("D parameters: {}", group(model.discriminator().count()));
    match s.framework {
        Some(f) => {
            let d = f.defaults();
            println!(
                "framework: {f} (its defaults: loss.bce {}, Adam eps {:e}, init {}, glorot_normal {})",
                d.bce, d.adam_eps, d.init, d.glorot_normal
            );
        }
        None => println!("framework: not named (every era-dependent key set by hand)"),
    }
    for (k, v, dv) in s.era_overrides() {
        println!("  overridden: {k} = {v} (the framework's default is {dv})");
    }
    println!("loss.bce: {}", s.loss.bce());
    println!("model.init: {}", s.model.init());
    if s.model.variant == crate::spec::Variant::Acgan {
        println!("model.glorot_normal: {}", s.model.glorot_normal());
    }
    for (n, o) in [("G", &s.optim.g), ("D", &s.optim.d)] {
        if o.kind == crate::spec::OptimKind::SgdKeras {
            println!(
                "optim.{}: {:?} lr={} momentum={} nesterov={}",
                n.to_lowercase(),
                o.kind,
                o.lr,
                o.momentum,
                o.nesterov
            );
            continue;
        }
        println!(
            "optim.{}: {:?} lr={} beta1={} beta2={} eps={:e}",
            n.to_lowercase(),
            o.kind,
            o.lr,
            o.beta1,
            o.beta2,
            o.eps()
        );
    }
    println!(
        "noise: {:?} {}-d; batch {}; sampling {:?}",
        s.noise.dist, s.noise.dim, s.train.batch_size, s.train.sampling
    );
    Ok(())
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
