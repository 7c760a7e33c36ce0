//! Where a run computes: the spec's `device` (`cpu`, `cuda` or `auto`; `--device`
//! overrides it) and which kernels run there.
//!
//! On the CPU ganlab runs its own fused kernels (dense, conv + activation, fused
//! upsample + conv, max-pool, BCE, tanh, LeakyReLU + dropout). Elsewhere every one
//! of them falls back to a composition of candle's own ops with the same forward
//! and gradients (the *portable* path). Tests force the portable path on the CPU
//! ([`PortableOps`]) to check it against the fused kernels, so the code a GPU run
//! takes is tested on machines without one.

use std::cell::Cell;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// The spec's `device` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The CPU (the default; always available).
    #[default]
    Cpu,
    /// CUDA GPU 0; an error where ganlab was built without the `cuda` feature or no GPU answers.
    Cuda,
    /// CUDA GPU 0 when this build has CUDA and a GPU answers, else the CPU.
    Auto,
}

impl DeviceChoice {
    pub fn is_cpu(&self) -> bool {
        *self == DeviceChoice::Cpu
    }
}

/// The candle device for a choice.
pub fn resolve(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => {
            if !candle_core::utils::cuda_is_available() {
                bail!(
                    "device cuda: this ganlab was built without CUDA; rebuild with \
                     `cargo build --release --features cuda` (needs the CUDA toolkit), or use \
                     --device cpu (or auto)"
                );
            }
            Device::new_cuda(0).context(
                "device cuda: CUDA GPU 0 did not answer (is a GPU and its driver present?); use --device cpu or auto",
            )
        }
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
    }
}

/// A short name for manifests and reports: `cpu`, `cuda:0`, `metal`.
pub fn name(d: &Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal".into(),
    }
}

thread_local! {
    static PORTABLE: Cell<bool> = const { Cell::new(false) };
}

/// Whether ganlab's fused CPU kernels take `x` (an f32 tensor on the CPU, unless this
/// thread forces the portable path).
pub fn fused(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && !PORTABLE.with(|p| p.get())
}

/// While alive, this thread takes the portable path (candle's own ops) on the CPU too.
pub struct PortableOps {
    before: bool,
}

impl PortableOps {
    pub fn force() -> PortableOps {
        PortableOps {
            before: PORTABLE.with(|p| p.replace(true)),
        }
    }
}

impl Drop for PortableOps {
    fn drop(&mut self) {
        PORTABLE.with(|p| p.set(self.before));
    }
}
