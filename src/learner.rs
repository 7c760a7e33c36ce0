//! The standard run: a [`Trainer`] with the hooks that `ganlab run` and `resume`
//! register (metrics, ACGAN's epoch table, sample grids, checkpoints, quality scores
//! on `eval.every_epochs`, the progress bar). The command line, the notebooks and the
//! tests train through here; `train` itself knows nothing of the evaluator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use crate::data::Mnist;
use crate::eval::during::Quality;
use crate::spec::Spec;
use crate::train::{standard_hooks, Progress, RunOptions, Trainer};

/// Register the standard hooks on `t`, in their order.
pub fn register(t: &mut Trainer) -> Result<()> {
    register_recording(t)?;
    let progress = Progress::new(t);
    t.hook(Box::new(progress))
}

/// The hooks that record a run (metrics, epoch table, grids, checkpoints, quality
/// scores), without the progress bar: a notebook lab prints its own lines.
pub fn register_recording(t: &mut Trainer) -> Result<()> {
    t.hooks(standard_hooks())?;
    if let Some(q) = Quality::for_spec(t.spec(), t.data())? {
        t.hook(Box::new(q))?;
    }
    Ok(())
}

/// Train `spec` on `data` into a new run directory; returns its path. On any failure
/// the metrics so far, the plots and the manifest (status `failed`, `interrupted` or
/// `diverged`) are still written.
pub fn train(spec: &Spec, data: Arc<Mnist>, opts: RunOptions) -> Result<PathBuf> {
    let mut t = Trainer::create(spec, data, opts)?;
    register(&mut t)?;
    t.run()
}

/// As [`train`], into `dir`, which must not exist yet (a sweep member's fixed directory).
pub fn train_in_new(spec: &Spec, data: Arc<Mnist>, opts: RunOptions, dir: &Path) -> Result<PathBuf> {
    let mut t = Trainer::create_in(spec, data, opts, dir)?;
    register(&mut t)?;
    t.run()
}

/// Continue a stopped run from its latest complete checkpoint ([`Trainer::restore`]).
pub fn resume(dir: &Path, data: Arc<Mnist>, opts: RunOptions) -> Result<PathBuf> {
    let mut t = Trainer::restore(dir, data, opts)?;
    register(&mut t)?;
    t.run()
}
