//! `ganlab inspect` and `bench`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::Device;
use clap::Args;

use super::{group, load_spec, DataArgs, SpecArgs};
use crate::data::Mnist;
use crate::spec::Spec;

/// Print each network's layers, parameter counts and training semantics
#[derive(Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
}

impl InspectArgs {
    pub fn run(self) -> Result<()> {
        let InspectArgs { spec } = self;
        inspect(&load_spec(&spec)?)?;
        Ok(())
    }
}

/// Median time of one training iteration per spec
#[derive(Args)]
pub struct BenchArgs {
    /// Specs to measure
    #[arg(required = true)]
    pub specs: Vec<PathBuf>,
    /// Timed iterations per spec
    #[arg(long, default_value_t = 30)]
    pub iters: usize,
    /// Untimed warm-up iterations
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where to compute (default: each spec's `device`)
    #[arg(long, value_enum)]
    pub device: Option<crate::device::DeviceChoice>,
    /// One JSON object per spec per line
    #[arg(long)]
    pub json: bool,
    /// Also split one iteration into GEMM/convolution, element-wise, loss, optimiser
    /// and the rest, beside the floor its FLOPs set at the GEMM peak
    #[arg(long)]
    pub breakdown: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

impl BenchArgs {
    pub fn run(self) -> Result<()> {
        let BenchArgs {
            specs,
            iters,
            warmup,
            threads,
            device,
            json,
            breakdown,
            data,
        } = self;
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
            println!("CPU: {}", crate::bench::CpuInfo::read().describe());
            println!("GEMM peak (2048^3 f32, {threads} threads): {peak:.0} GFLOP/s");
            println!(
                "{:<22} {:>6} {:>11} {:>9} {:>9} {:>10} {:>8} {:>8}",
                "spec", "batch", "median ms", "min ms", "max ms", "GFLOP/it", "GFLOP/s", "% peak"
            );
        }
        for s in &loaded {
            let r = crate::runtime::on_pool(|| {
                crate::bench::bench_spec(s, &mnist, iters, warmup, threads, peak, &dev, breakdown)
            })?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{:<22} {:>6} {:>11.2} {:>9.2} {:>9.2} {:>10.2} {:>8.0} {:>7.1}%",
                    r.spec, r.batch_size, r.median_ms, r.min_ms, r.max_ms, r.gflop_per_iter, r.gflops, r.pct_of_peak
                );
                if let Some(b) = &r.breakdown {
                    print!("{}", b.table());
                }
            }
        }
        Ok(())
    }
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
    print_era(s);
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

/// The spec's era, the keys that depart from it, the model keys its article reads and
/// the quirks it undoes.
fn print_era(s: &Spec) {
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
    println!("the article reads: {}", s.model.variant.model_keys_text());
    for q in &s.undo {
        println!("  undone: the article's quirk {q} (undo:)");
    }
}
