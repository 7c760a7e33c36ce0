//! The portable path (candle's own ops, what a GPU run takes) against ganlab's fused
//! CPU kernels: for every article, two training iterations from the same weights,
//! noise and batch give the same losses and the same weight updates, within f32
//! rounding. Both optimisers are plain SGD there, so that an update is the gradient
//! (Adam turns the rounding noise of a gradient that is zero in exact arithmetic,
//! such as a bias in front of BatchNorm, into steps of the full learning rate); the
//! optimisers' own portable path (their buffers on the device) is checked apart, on
//! fixed gradients.
//! Plus the `device` key and `--device` on a machine without CUDA.

mod common;

use candle_core::Device;
use ganlab::device::{DeviceChoice, PortableOps};
use ganlab::models::{Gan, StepStats};
use ganlab::rng::StepRngs;
use ganlab::spec::Spec;

fn weights(m: &dyn Gan) -> Vec<Vec<f32>> {
    [m.generator(), m.discriminator()]
        .iter()
        .flat_map(|p| {
            p.vars
                .iter()
                .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap())
        })
        .collect()
}

/// Two iterations of `name` (batch cut to `batch`, SGD), fused or portable: the stats
/// of each and how far each weight tensor of G and D moved.
fn two_steps(name: &str, batch: usize, portable: bool) -> (Vec<StepStats>, Vec<Vec<f32>>) {
    let _guard = portable.then(PortableOps::force);
    let mut sets = vec![format!("train.batch_size={batch}")];
    for net in ["g", "d"] {
        sets.extend([
            format!("optim.{net}.kind=sgd_keras"),
            format!("optim.{net}.lr=0.01"),
            format!("optim.{net}.momentum=0"),
        ]);
    }
    let s = Spec::load(&common::spec_path(name), None, &sets).unwrap();
    let mut m = ganlab::models::build(&s, &Device::Cpu).unwrap();
    let before = weights(m.as_ref());
    let mut rngs = StepRngs::new(7, &s.noise);
    let mut stats = Vec::new();
    for k in 0..2 {
        let idx: Vec<usize> = (k * 1000..k * 1000 + m.reals_per_step()).collect();
        let b = ganlab::train::make_batch(&common::mnist().train, &idx, s.data.scale, &Device::Cpu).unwrap();
        stats.push(m.train_step(&b, &mut rngs).unwrap());
    }
    let moved = weights(m.as_ref())
        .iter()
        .zip(&before)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y).collect())
        .collect();
    (stats, moved)
}

fn fused_equals_portable(name: &str, batch: usize) {
    let (sf, wf) = two_steps(name, batch, false);
    let (sp, wp) = two_steps(name, batch, true);
    for (a, b) in sf.iter().zip(&sp) {
        for (x, y) in [
            (a.d_loss, b.d_loss),
            (a.g_loss, b.g_loss),
            (a.d_real, b.d_real),
            (a.d_fake, b.d_fake),
        ] {
            assert!(
                (x - y).abs() <= 2e-4 * (1.0 + x.abs()),
                "{name}: fused {sf:?} vs portable {sp:?}"
            );
        }
    }
    assert_eq!(wf.len(), wp.len());
    let l2 = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let largest = wf.iter().map(|a| l2(a)).fold(0.0, f64::max);
    for (i, (a, b)) in wf.iter().zip(&wp).enumerate() {
        if l2(a) < 1e-5 * largest {
            // A gradient that is zero in exact arithmetic (a bias in front of
            // BatchNorm): both updates are rounding noise.
            continue;
        }
        // Relative L2 distance of the two updates: a few elements may differ more
        // (a pre-activation that rounding moves across LeakyReLU's kink), a wrong
        // gradient moves it to order 1.
        let norm = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
        let dist = a
            .iter()
            .zip(b)
            .map(|(x, y)| ((x - y) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            dist / norm < 1e-2,
            "{name}: update of tensor {i} differs by {:.2e} (relative L2)",
            dist / norm
        );
    }
}

#[test]
fn portable_path_matches_fused_kernels_vanilla_mlp_keras() {
    fused_equals_portable("vanilla_mlp_keras", 32);
}

#[test]
fn portable_path_matches_fused_kernels_mlp_pytorch() {
    fused_equals_portable("mlp_pytorch", 32);
}

#[test]
fn portable_path_matches_fused_kernels_tanh_cnn_sgd() {
    fused_equals_portable("tanh_cnn_sgd", 16);
}

#[test]
fn portable_path_matches_fused_kernels_dcgan() {
    fused_equals_portable("dcgan", 16);
}

#[test]
fn portable_path_matches_fused_kernels_acgan() {
    fused_equals_portable("acgan", 8);
}

#[test]
fn device_key_and_flag() {
    let load = |sets: &[&str]| {
        Spec::load(
            &common::spec_path("mlp_pytorch"),
            None,
            &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(load(&[]).unwrap().device, DeviceChoice::Cpu);
    assert_eq!(load(&["device=auto"]).unwrap().device, DeviceChoice::Auto);
    let e = load(&["device=gpu"]).unwrap_err().to_string();
    assert!(e.contains("device"), "{e}");
    // auto falls back to the CPU without CUDA; cpu is the CPU.
    assert!(ganlab::device::resolve(DeviceChoice::Cpu).unwrap().is_cpu());
    if !candle_core::utils::cuda_is_available() {
        assert!(ganlab::device::resolve(DeviceChoice::Auto).unwrap().is_cpu());
        let e = ganlab::device::resolve(DeviceChoice::Cuda).unwrap_err().to_string();
        assert!(e.contains("--features cuda"), "{e}");
        // The CLI: one clear message, exit 1, no run directory left behind.
        let out = tempfile::tempdir().unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_ganlab"))
            .args([
                "run",
                common::spec_path("mlp_pytorch").to_str().unwrap(),
                "--device",
                "cuda",
            ])
            .args(["--out", out.path().to_str().unwrap(), "--data-dir"])
            .arg(common::data_dir())
            .output()
            .unwrap();
        common::assert_refused(&o, &["built without CUDA"]);
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "no run directory");
    }
}

/// Three steps of each optimiser on fixed gradients, host kernels against the portable
/// tensor path: the same weights, and the same checkpoint state read back.
#[test]
fn optimisers_portable_path_matches_host_kernels() {
    use ganlab::optim::Optimizer;
    use ganlab::spec::OptimKind;
    let base = Spec::load(&common::spec_path("mlp_pytorch"), None, &[])
        .unwrap()
        .optim
        .d;
    for (kind, nesterov) in [
        (OptimKind::AdamKeras, false),
        (OptimKind::AdamTorch, false),
        (OptimKind::SgdKeras, true),
        (OptimKind::SgdKeras, false),
    ] {
        let mut spec = base.clone();
        spec.kind = kind;
        spec.nesterov = nesterov;
        spec.momentum = 0.9;
        spec.lr = 0.01;
        let run = |portable: bool| {
            let _guard = portable.then(PortableOps::force);
            let mut params = ganlab::nn::Params::default();
            let w = candle_core::Var::from_tensor(&common::rand_tensor(&[40, 30], -1.0, 1.0, 1)).unwrap();
            params.push("w".into(), w.clone());
            let mut opt = Optimizer::new(&spec, &params);
            for k in 0..3 {
                let r = common::rand_tensor(&[40, 30], -1.0, 1.0, 10 + k);
                let grads = (w.as_tensor() * &r).unwrap().sum_all().unwrap().backward().unwrap();
                opt.step(&params, &grads).unwrap();
            }
            let state = opt.state().unwrap();
            (w.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(), state)
        };
        let ((wa, sa), (wb, sb)) = (run(false), run(true));
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6 * (1.0 + x.abs()));
        assert!(close(&wa, &wb), "{kind:?}: weights differ");
        assert_eq!(sa.t, sb.t);
        assert_eq!(sa.buffers.len(), sb.buffers.len());
        for (a, b) in sa.buffers.iter().zip(&sb.buffers) {
            assert!(close(a, b), "{kind:?}: optimiser state differs");
        }
    }
}
