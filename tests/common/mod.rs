#![allow(dead_code)]
//! Shared test helpers: the real MNIST (through GANLAB_DATA, as CI sets it).

use std::path::PathBuf;
use std::sync::OnceLock;

use ganlab::data::Mnist;

/// The MNIST directory: `GANLAB_DATA`, else `../shared/data/mnist` beside the checkout.
/// Made absolute, since some tests start ganlab in another working directory (the
/// README's test command sets a relative `GANLAB_DATA`).
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GANLAB_DATA").filter(|v| !v.is_empty()) {
        return std::path::absolute(PathBuf::from(d)).expect("GANLAB_DATA as an absolute path");
    }
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    assert!(
        d.is_dir(),
        "set GANLAB_DATA to the MNIST directory (the four IDX files) to run these tests"
    );
    d
}

pub fn mnist() -> &'static std::sync::Arc<Mnist> {
    static M: OnceLock<std::sync::Arc<Mnist>> = OnceLock::new();
    M.get_or_init(|| std::sync::Arc::new(Mnist::load(&data_dir()).expect("loading MNIST from GANLAB_DATA")))
}

pub fn spec_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(format!("{name}.yaml"))
}

/// A seeded uniform random tensor in `[lo, hi)`.
pub fn rand_tensor(shape: &[usize], lo: f32, hi: f32, seed: u64) -> candle_core::Tensor {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.random_range(lo..hi)).collect();
    candle_core::Tensor::from_vec(v, shape, &candle_core::Device::Cpu).unwrap()
}

/// Largest absolute difference relative to the largest magnitude of `b`.
pub fn max_rel(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter().zip(&b).map(|(x, y)| (x - y).abs() / scale).fold(0.0, f32::max)
}

/// Largest absolute difference between two tensors of one shape.
pub fn max_abs(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Two graphs of the same function of `vars` (a ganlab kernel and candle's own ops):
/// their outputs, and the gradients of `sum(output * probe)` for every variable, must
/// agree within `tol` (`max_rel`). `case` names the case in a failure.
pub fn assert_same_function(
    ours: &candle_core::Tensor,
    theirs: &candle_core::Tensor,
    probe: &candle_core::Tensor,
    vars: &[(&candle_core::Var, &str)],
    tol: f32,
    case: &str,
) {
    let e = max_rel(ours, theirs);
    assert!(e < tol, "forward {case}: {e}");
    let grads = |y: &candle_core::Tensor| y.mul(probe).unwrap().sum_all().unwrap().backward().unwrap();
    let (g1, g2) = (grads(ours), grads(theirs));
    for (v, name) in vars {
        let e = max_rel(g1.get(v).unwrap(), g2.get(v).unwrap());
        assert!(e < tol, "d{name} {case}: {e}");
    }
}

/// `ganlab run` of the vanilla spec's quick profile cut to 1 epoch of 2 iterations,
/// quiet, on the real MNIST (add `--out`): the smallest complete run.
pub fn tiny_run_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ganlab"));
    c.args([
        "run",
        spec_path("vanilla_mlp_keras").to_str().unwrap(),
        "--profile",
        "quick",
    ])
    .args(["--set", "train.epochs=1", "--set", "train.iters_per_epoch=2", "--quiet"])
    .args(["--data-dir", data_dir().to_str().unwrap()]);
    c
}

/// Train `spec` quietly into a new run under `out` with 2 threads; the run directory.
pub fn train_quiet(spec: &ganlab::spec::Spec, out: &std::path::Path) -> PathBuf {
    ganlab::runtime::set_threads(Some(2));
    let opts = ganlab::train::RunOptions {
        out: out.to_path_buf(),
        spec_file: "test".into(),
        threads: 2,
        device: candle_core::Device::Cpu,
        quiet: true,
    };
    ganlab::learner::train(spec, mnist().clone(), opts).unwrap()
}
