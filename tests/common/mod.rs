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

/// Backprop against central differences: the gradient of `sum(op(v) * probe)` with
/// respect to `v` (a tensor of `shape` holding `v0`) at the flat indices `at`, step
/// 1e-2, within 1e-2 of `1 + |finite difference|`. `name` names `v` in a failure.
pub fn assert_fd_gradient(
    op: impl Fn(&candle_core::Tensor) -> candle_core::Tensor,
    v0: &[f32],
    shape: &[usize],
    probe: &candle_core::Tensor,
    at: &[usize],
    name: &str,
) {
    use candle_core::{Device, Tensor, Var};
    let t = |v: &[f32]| Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap();
    let f = |v: &[f32]| {
        op(&t(v))
            .mul(probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let var = Var::from_tensor(&t(v0)).unwrap();
    let grads = op(var.as_tensor())
        .mul(probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = grads
        .get(&var)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for &k in at {
        let (mut p, mut m) = (v0.to_vec(), v0.to_vec());
        p[k] += 1e-2;
        m[k] -= 1e-2;
        let fd = (f(&p) - f(&m)) / 2e-2;
        assert!(
            (g[k] - fd).abs() < 1e-2 * (1.0 + fd.abs()),
            "d{name}[{k}]: {} vs {fd}",
            g[k]
        );
    }
}

/// A command refused as ganlab refuses bad input: exit status 1, and stderr holding
/// each of `want`. Returns stderr for further checks.
pub fn assert_refused(o: &std::process::Output, want: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    for w in want {
        assert!(err.contains(w), "`{w}` not in: {err}");
    }
    err
}

/// The files of the checkout's `folder` (e.g. `notebooks`) whose names pass `keep`, sorted.
pub fn committed(folder: &str, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
}

/// `ganlab SUB SPEC --profile quick` for `SPEC` = `experiments/NAME.yaml` (SUB is
/// `run`, `sweep`, ...); the caller adds the rest.
pub fn quick_command(sub: &str, name: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ganlab"));
    c.args([sub, spec_path(name).to_str().unwrap(), "--profile", "quick"]);
    c
}

/// `ganlab run` of the vanilla spec's quick profile cut to 1 epoch of 2 iterations,
/// quiet, on the real MNIST (add `--out`): the smallest complete run.
pub fn tiny_run_command() -> std::process::Command {
    let mut c = quick_command("run", "vanilla_mlp_keras");
    c.args(["--set", "train.epochs=1", "--set", "train.iters_per_epoch=2", "--quiet"])
        .args(["--data-dir", data_dir().to_str().unwrap()]);
    c
}

/// Train `spec` quietly into a new run under `out` with 2 threads; the run directory.
pub fn train_quiet(spec: &ganlab::spec::Spec, out: &std::path::Path) -> PathBuf {
    ganlab::runtime::set_threads(Some(2));
    ganlab::learner::train(spec, mnist().clone(), quiet_opts(out)).unwrap()
}

/// The run options of the tests' quiet runs: runs under `out`, 2 threads, the CPU.
pub fn quiet_opts(out: &std::path::Path) -> ganlab::train::RunOptions {
    ganlab::train::RunOptions {
        out: out.to_path_buf(),
        spec_file: "test".into(),
        threads: 2,
        device: candle_core::Device::Cpu,
        quiet: true,
    }
}
