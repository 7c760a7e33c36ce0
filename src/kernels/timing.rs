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
    BY_OP.lock().unwrap_or_else(|e| e.into_inner()).clear();
    ON.store(on, Ordering::Relaxed);
}

/// The seconds spent in each part since the last [`enable`] or [`take`], then zero.
pub fn take() -> [f64; 4] {
    Part::ALL.map(|p| NANOS[p as usize].swap(0, Ordering::Relaxed) as f64 / 1e9)
}

/// A kernel call being timed (dropped at its end): `None` when timing is off; the
/// start instant for the outermost call, `None` inside for a nested one.
/// The second field names the op for [`take_ops`] (outermost calls only).
pub(crate) struct Timed(Option<(Part, Option<Instant>)>, Option<String>);

/// The outermost calls' time per op, pass and input shapes (`"ganlab-conv2d bwd [256,
/// 64, 14, 14] [128, 64, 5, 5]"`), in seconds: which layer the time goes to.
static BY_OP: std::sync::Mutex<Vec<(String, f64)>> = std::sync::Mutex::new(Vec::new());

/// The seconds per op since the last [`enable`] or [`take_ops`], largest first, then
/// zero.
pub fn take_ops() -> Vec<(String, f64)> {
    let mut v = std::mem::take(&mut *BY_OP.lock().unwrap_or_else(|e| e.into_inner()));
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

impl Timed {
    /// [`Timed::start`], also counted under the op's name from `key` (built only
    /// while timing is on, for the outermost call).
    pub(crate) fn start_named(part: Part, key: impl FnOnce() -> String) -> Timed {
        let mut t = Timed::start(part);
        if matches!(t.0, Some((_, Some(_)))) {
            t.1 = Some(key());
        }
        t
    }
    pub(crate) fn start(part: Part) -> Timed {
        if !ON.load(Ordering::Relaxed) {
            return Timed(None, None);
        }
        let outer = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get() == 1
        });
        Timed(Some((part, outer.then(Instant::now))), None)
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        let Some((part, start)) = self.0 else { return };
        DEPTH.with(|d| d.set(d.get() - 1));
        if let Some(t0) = start {
            let e = t0.elapsed();
            NANOS[part as usize].fetch_add(e.as_nanos() as u64, Ordering::Relaxed);
            if let Some(k) = self.1.take() {
                let mut v = BY_OP.lock().unwrap_or_else(|e| e.into_inner());
                match v.iter_mut().find(|x| x.0 == k) {
                    Some(x) => x.1 += e.as_secs_f64(),
                    None => v.push((k, e.as_secs_f64())),
                }
            }
        }
    }
}
