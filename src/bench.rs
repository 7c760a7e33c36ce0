//! `ganlab bench`: the median time of one training iteration (D step + G step, as
//! the article batches them), the analytic FLOPs, and the share of this machine's
//! GEMM peak measured on the spot.

use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use crate::data::Mnist;
use crate::models;
use crate::rng::StepRngs;
use crate::spec::Spec;
use crate::train::{make_batch, Sampler};

#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub spec: String,
    pub batch_size: usize,
    pub iters: usize,
    pub threads: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub gflop_per_iter: f64,
    pub gflops: f64,
    pub peak_gflops: f64,
    pub pct_of_peak: f64,
    pub peak_rss_mb: f64,
    /// The CPU it ran on (a speed figure means nothing without it).
    #[serde(flatten)]
    pub cpu: CpuInfo,
}

/// What `/proc/cpuinfo` says of this machine's CPU: model, vendor, and whether the
/// AVX-512 (`avx512f`) and AMX (`amx_tile`) instruction sets are there.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CpuInfo {
    pub cpu_model: String,
    pub cpu_vendor: String,
    pub avx512: bool,
    pub amx: bool,
}

impl CpuInfo {
    /// Read from `/proc/cpuinfo` (`unknown` fields where it is not there).
    pub fn read() -> CpuInfo {
        CpuInfo::parse(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
    }

    /// From the text of `/proc/cpuinfo` (the first processor's entries).
    pub fn parse(text: &str) -> CpuInfo {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim() == name).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| "unknown".into())
        };
        let flags = field("flags");
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        CpuInfo {
            cpu_model: field("model name"),
            cpu_vendor: field("vendor_id"),
            avx512: has("avx512f"),
            amx: has("amx_tile"),
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// GFLOP/s of a 2048^3 f32 matrix product through candle (median of 5).
pub fn peak_gflops(dev: &Device) -> Result<f64> {
    let n = 2048;
    let a = Tensor::ones((n, n), DType::F32, dev)?;
    let b = Tensor::ones((n, n), DType::F32, dev)?;
    let _ = a.matmul(&b)?;
    let mut t: Vec<f64> = (0..5)
        .map(|_| -> Result<f64> {
            let s = Instant::now();
            let c = a.matmul(&b)?;
            dev.synchronize()?;
            drop(c);
            Ok(s.elapsed().as_secs_f64())
        })
        .collect::<Result<_>>()?;
    Ok(2.0 * (n as f64).powi(3) / median(&mut t) / 1e9)
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Time `iters` training iterations of `spec` after `warmup` untimed ones.
pub fn bench_spec(
    spec: &Spec,
    data: &Mnist,
    iters: usize,
    warmup: usize,
    threads: usize,
    peak: f64,
    dev: &Device,
) -> Result<BenchResult> {
    let mut model = models::build(spec, dev)?;
    let mut rngs = StepRngs::new(spec.seed, &spec.noise);
    let mut sampler = Sampler::new(spec, data.train.len(), model.reals_per_step());
    sampler.start_epoch();
    let mut times = Vec::with_capacity(iters);
    for i in 0..warmup + iters {
        let s = Instant::now();
        let idx = sampler.next_indices();
        let batch = make_batch(&data.train, &idx, spec.data.scale, dev)?;
        model.train_step(&batch, &mut rngs)?;
        dev.synchronize()?;
        if i >= warmup {
            times.push(s.elapsed().as_secs_f64() * 1e3);
        }
    }
    let min = times.iter().copied().fold(f64::MAX, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    let med = median(&mut times);
    let gflop = model.flops_per_iter() / 1e9;
    let gflops = gflop / (med / 1e3);
    Ok(BenchResult {
        spec: spec.name.clone(),
        batch_size: spec.train.batch_size,
        iters,
        threads,
        median_ms: med,
        min_ms: min,
        max_ms: max,
        gflop_per_iter: gflop,
        gflops,
        peak_gflops: peak,
        pct_of_peak: 100.0 * gflops / peak,
        peak_rss_mb: peak_rss_mb(),
        cpu: CpuInfo::read(),
    })
}
