//! Where a step's time goes (`ganlab bench --breakdown`): while timing is on, each
//! kernel call adds its wall time to its part (the outermost call only, so a
//! backward that runs another kernel is counted once). Off, the default, a call
//! costs one relaxed atomic load.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The parts of a step that ganlab's kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Dense layers and convolutions (GEMM-based), forward and backward.
    Gemm = 0,
    /// Activations, dropout masks, pooling.
    Elementwise = 1,
    /// Cross-entropies and their gradients.
    Loss = 2,
    /// Adam's and SGD's in-place updates.
    Optimizer = 3,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Gemm, Part::Elementwise, Part::Loss, Part::Optimizer];

    pub fn label(self) -> &'static str {
        match self {
            Part::Gemm => "GEMM / convolution",
            Part::Elementwise => "element-wise",
            Part::Loss => "loss",
            Part::Optimizer => "optimiser",
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Turn timing on or off, and zero the totals.
pub fn enable(on: bool) {
    for n in &NANOS {
        n.store(0, Ordering::Relaxed);
    }
    ON.store(on, Ordering::Relaxed);
}

/// The seconds spent in each part since the last [`enable`] or [`take`], then zero.
pub fn take() -> [f64; 4] {
    Part::ALL.map(|p| NANOS[p as usize].swap(0, Ordering::Relaxed) as f64 / 1e9)
}

/// A kernel call being timed (dropped at its end): `None` when timing is off; the
/// start instant for the outermost call, `None` inside for a nested one.
pub(crate) struct Timed(Option<(Part, Option<Instant>)>);

impl Timed {
    pub(crate) fn start(part: Part) -> Timed {
        if !ON.load(Ordering::Relaxed) {
            return Timed(None);
        }
        let outer = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get() == 1
        });
        Timed(Some((part, outer.then(Instant::now))))
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        let Some((part, start)) = self.0 else { return };
        DEPTH.with(|d| d.set(d.get() - 1));
        if let Some(t0) = start {
            NANOS[part as usize].fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }
}
