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
    /// The library that ran the GEMMs (`kernels::dense::Backend`).
    pub gemm: String,
    /// `--breakdown`: where the time of one iteration goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
    /// The CPU it ran on (a speed figure means nothing without it).
    #[serde(flatten)]
    pub cpu: CpuInfo,
}

pub use crate::cpu::CpuInfo;

/// Mean milliseconds of one iteration by part: ganlab's kernels by kind, and the rest
/// (candle's own ops, graph building and backprop bookkeeping, allocation, batches,
/// threads waiting), beside the floor the FLOPs set at the measured GEMM peak.
#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    pub mean_ms: f64,
    pub gemm_ms: f64,
    pub elementwise_ms: f64,
    pub loss_ms: f64,
    pub optimizer_ms: f64,
    pub rest_ms: f64,
    pub flop_floor_ms: f64,
    /// ganlab's kernel ops by name, pass and input shapes (which layer), mean ms per
    /// iteration, largest first.
    pub ops: Vec<(String, f64)>,
}

impl Breakdown {
    fn from(parts: [f64; 4], ops: Vec<(String, f64)>, mean_ms: f64, floor_ms: f64) -> Breakdown {
        let [gemm_ms, elementwise_ms, loss_ms, optimizer_ms] = parts;
        Breakdown {
            mean_ms,
            gemm_ms,
            elementwise_ms,
            loss_ms,
            optimizer_ms,
            rest_ms: mean_ms - parts.iter().sum::<f64>(),
            flop_floor_ms: floor_ms,
            ops,
        }
    }

    /// The table `ganlab bench --breakdown` prints.
    pub fn table(&self) -> String {
        let pct = |v: f64| 100.0 * v / self.mean_ms;
        let mut out = format!(
            "  where one iteration's {:.2} ms go (mean):
",
            self.mean_ms
        );
        let labels = crate::kernels::timing::Part::ALL.map(|p| p.label());
        let rows = [
            (labels[0], self.gemm_ms),
            (labels[1], self.elementwise_ms),
            (labels[2], self.loss_ms),
            (labels[3], self.optimizer_ms),
            ("the rest (candle ops, graph, allocation, waiting)", self.rest_ms),
        ];
        for (label, v) in rows {
            out.push_str(&format!("    {label:<50} {v:>9.2} ms {:>5.1} %\n", pct(v)));
        }
        out.push_str(&format!(
            "    {:<50} {:>9.2} ms (the FLOPs at the GEMM peak)\n",
            "floor", self.flop_floor_ms
        ));
        out.push_str("  the kernels' largest ops (op, pass, input shapes):\n");
        for (op, v) in self.ops.iter().take(12) {
            out.push_str(&format!("    {op:<66} {v:>9.2} ms {:>5.1} %\n", pct(*v)));
        }
        out
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

/// GFLOP/s of a 2048^3 f32 matrix product (median of 5): on the CPU through the
/// layers' own GEMM (`kernels::dense`, on the step pool), elsewhere through candle.
pub fn peak_gflops(dev: &Device) -> Result<f64> {
    let n = 2048;
    if dev.is_cpu() {
        let a = vec![1f32; n * n];
        let b = vec![1f32; n * n];
        let mut c = vec![0f32; n * n];
        let mut product = || {
            crate::runtime::on_pool(|| crate::kernels::gemm_rm(&mut c, false, &a, false, &b, false, (n, n, n), true))
        };
        product();
        let mut t: Vec<f64> = (0..5)
            .map(|_| {
                let s = Instant::now();
                product();
                s.elapsed().as_secs_f64()
            })
            .collect();
        return Ok(2.0 * (n as f64).powi(3) / median(&mut t) / 1e9);
    }
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

/// Time `iters` training iterations of `spec` after `warmup` untimed ones; with
/// `breakdown`, also where their time goes ([`Breakdown`]).
#[allow(clippy::too_many_arguments)] // the bench command's settings, passed through
pub fn bench_spec(
    spec: &Spec,
    data: &Mnist,
    iters: usize,
    warmup: usize,
    threads: usize,
    peak: f64,
    dev: &Device,
    breakdown: bool,
) -> Result<BenchResult> {
    let mut model = models::build(spec, dev)?;
    let mut rngs = StepRngs::new(spec.seed, &spec.noise);
    let mut sampler = Sampler::new(spec, data.train.len(), model.reals_per_step());
    sampler.start_epoch();
    let mut times = Vec::with_capacity(iters);
    let (mut parts, mut ops) = ([0f64; 4], Vec::new());
    for i in 0..warmup + iters {
        if breakdown && i == warmup {
            crate::kernels::timing::enable(true);
        }
        let s = Instant::now();
        let idx = sampler.next_indices();
        let batch = make_batch(&data.train, &idx, spec.data.scale, dev)?;
        model.train_step(&batch, &mut rngs)?;
        dev.synchronize()?;
        if i >= warmup {
            times.push(s.elapsed().as_secs_f64() * 1e3);
        }
    }
    if breakdown {
        for (p, v) in parts.iter_mut().zip(crate::kernels::timing::take()) {
            *p = v * 1e3 / iters as f64;
        }
        ops = crate::kernels::timing::take_ops()
            .into_iter()
            .map(|(k, v)| (k, v * 1e3 / iters as f64))
            .collect();
        crate::kernels::timing::enable(false);
    }
    let mean = times.iter().sum::<f64>() / iters as f64;
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
        gemm: crate::kernels::GemmBackend::get().name().to_string(),
        breakdown: breakdown.then(|| Breakdown::from(parts, ops, mean, gflop / peak * 1e3)),
        cpu: CpuInfo::read(),
    })
}
