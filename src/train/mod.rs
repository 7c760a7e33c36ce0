//! The training loop shared by every variant, as a [`Trainer`] that the command line
//! and the notebooks drive: `restore`, `step`, `end_epoch`, `checkpoint(tag)` and the
//! run directory. Everything a run leaves behind besides its weights (metrics, sample
//! grids, checkpoints on the spec's schedule, ACGAN's epoch table, the progress bar,
//! and, registered from above, the quality scores) is a [`Hook`]; `ganlab run` and
//! `resume` register theirs in [`crate::learner`].
//!
//! ```text
//! for epoch in 1..=epochs {            // the article's loop, as every model runs it
//!     for it in 0..iters_per_epoch {   //   hooks: before_step (grids every N iters)
//!         model.train_step(batch)      //   hooks: after_step (metrics row, checkpoint, progress)
//!     }
//!     model.end_epoch()                //   hooks: after_epoch (metrics, epoch table,
//! }                                    //   grid, checkpoint, quality, summary line)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::checkpoint::{Loaded, TrainState};
use crate::data::Mnist;
use crate::models::{self, EpochRow, Gan, StepStats};
use crate::rng::StepRngs;
use crate::run::{self, Manifest, Status};
use crate::spec::{OnDivergence, Spec};

mod hooks;
mod sampler;

pub use hooks::{standard_hooks, Checkpoints, EpochTableHook, Grids, Hook, Metrics, Progress, StepDone};
pub use sampler::{make_batch, Sampler};

/// Where and how a run is carried out (everything that is not the spec).
pub struct RunOptions {
    pub out: PathBuf,
    pub spec_file: String,
    pub threads: usize,
    pub device: candle_core::Device,
    /// Print nothing but errors and the run directory.
    pub quiet: bool,
}

/// Where the loop stands: `iter` iterations of epoch `epoch` done; `epoch_done` once
/// the epoch's end has run too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub step: u64,
    pub epoch: usize,
    pub iter: usize,
    pub epoch_done: bool,
    pub seconds: f64,
}

/// One run being trained: the model, its random streams and data order, its
/// position, its run directory and manifest, and its hooks.
pub struct Trainer {
    spec: Spec,
    data: Arc<Mnist>,
    opts: RunOptions,
    dir: PathBuf,
    model: Box<dyn Gan>,
    rngs: StepRngs,
    sampler: Sampler,
    iters_per_epoch: usize,
    /// The epoch in progress (1-based) and the iterations of it done.
    epoch: usize,
    iter: usize,
    /// True while the hooks of an epoch's end run.
    ending: bool,
    step: u64,
    base_seconds: f64,
    started: Instant,
    manifest: Manifest,
    hooks: Vec<Box<dyn Hook>>,
    /// The model's per-epoch rows (ACGAN's table) of the epoch that just ended.
    epoch_rows: Vec<EpochRow>,
    last: StepStats,
    last_finite: Option<(u64, f32, f32)>,
    warned_divergence: bool,
    /// Prints lines above the progress bar, if one is shown.
    bar: indicatif::ProgressBar,
}

impl Trainer {
    /// A new run of `spec` in a new directory under `opts.out` (`config.yaml` and the
    /// manifest written). No hooks yet: add them with [`Trainer::hook`].
    pub fn create(spec: &Spec, data: Arc<Mnist>, opts: RunOptions) -> Result<Trainer> {
        let dir = run::create_run_dir(&opts.out, spec)?;
        Trainer::create_at(spec, data, opts, dir)
    }

    /// As [`Trainer::create`], in `dir`, which must not exist yet (a sweep member's fixed directory).
    pub fn create_in(spec: &Spec, data: Arc<Mnist>, opts: RunOptions, dir: &Path) -> Result<Trainer> {
        run::create_named_run_dir(dir)?;
        Trainer::create_at(spec, data, opts, dir.to_path_buf())
    }

    fn create_at(spec: &Spec, data: Arc<Mnist>, opts: RunOptions, dir: PathBuf) -> Result<Trainer> {
        let config = dir.join("config.yaml");
        std::fs::write(&config, spec.to_yaml()).with_context(|| format!("cannot write {}", config.display()))?;
        let manifest = Manifest::start(
            spec,
            &opts.spec_file,
            opts.threads,
            crate::device::name(&opts.device),
            &data.dir,
            None,
        );
        manifest.write(&dir)?;
        Trainer::build(spec.clone(), data, opts, dir, manifest)
    }

    fn build(spec: Spec, data: Arc<Mnist>, opts: RunOptions, dir: PathBuf, manifest: Manifest) -> Result<Trainer> {
        let model = models::build(&spec, &opts.device)?;
        let rngs = StepRngs::new(spec.seed, &spec.noise);
        let sampler = Sampler::new(&spec, data.train.len(), model.reals_per_step());
        let iters_per_epoch = spec.iters_per_epoch(data.train.len());
        let bar = if opts.quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new((iters_per_epoch * spec.train.epochs) as u64)
        };
        Ok(Trainer {
            spec,
            data,
            opts,
            dir,
            model,
            rngs,
            sampler,
            iters_per_epoch,
            epoch: 1,
            iter: 0,
            ending: false,
            step: 0,
            base_seconds: 0.0,
            started: Instant::now(),
            manifest,
            hooks: Vec::new(),
            epoch_rows: Vec::new(),
            last: StepStats::default(),
            last_finite: None,
            warned_divergence: false,
            bar,
        })
    }

    /// Continue an interrupted, failed or killed run in its own directory from its
    /// latest complete checkpoint. Hooks added afterwards drop what they logged after
    /// that checkpoint, so the finished run's metrics equal an uninterrupted run's
    /// (wall-clock columns aside) when it uses the same thread count.
    pub fn restore(dir: &Path, data: Arc<Mnist>, opts: RunOptions) -> Result<Trainer> {
        let mut manifest = Manifest::read(dir)?;
        refuse_to_resume(dir, &manifest)?;
        let spec = run_spec(dir)?;
        if spec.hash() != manifest.spec_hash {
            anyhow::bail!(
                "{}: config.yaml does not match the spec the run was started with (edited?)",
                dir.display()
            );
        }
        let state = crate::checkpoint::latest(dir)?.with_context(|| {
            format!(
                "run {} has no complete checkpoint to resume from (checkpoints/state_*.json); start it again",
                dir.display()
            )
        })?;
        if state.threads != opts.threads {
            eprintln!(
                "note: the run used {} threads, resuming with {}: the metrics will not be bit-identical",
                state.threads, opts.threads
            );
        }
        manifest.status = Status::Running;
        manifest.ended = None;
        manifest.error = None;
        manifest.pid = Some(std::process::id());
        manifest
            .resumed
            .push(format!("{} from {} (step {})", run::now(), state.tag, state.step));
        let mut t = Trainer::build(spec, data, opts, dir.to_path_buf(), manifest)?;
        t.load(state)?;
        t.manifest.write(dir)?;
        Ok(t)
    }

    /// Load checkpoint `state` into the model, the random streams and the sampler,
    /// and move to its position.
    fn load(&mut self, state: TrainState) -> Result<()> {
        let Loaded { state, optim, order } = crate::checkpoint::load(self.model.as_mut(), state, &self.dir)?;
        self.model.set_optim_states(optim)?;
        state.noise_rng.apply(&mut self.rngs.noise, "noise")?;
        state.dropout_rng.apply(&mut self.rngs.dropout, "dropout")?;
        self.sampler.restore(&state.sampler, order)?;
        self.step = state.step;
        self.base_seconds = state.seconds;
        (self.epoch, self.iter) = if state.epoch_done {
            (state.epoch + 1, 0)
        } else {
            (state.epoch, state.iter)
        };
        self.bar.set_position(self.step);
        Ok(())
    }

    /// Register a hook (it sees the run from where the trainer stands: a restored
    /// run's hook drops what was logged after the checkpoint).
    pub fn hook(&mut self, mut h: Box<dyn Hook>) -> Result<()> {
        h.attach(self)?;
        self.hooks.push(h);
        Ok(())
    }

    /// Register several hooks, in order.
    pub fn hooks(&mut self, hs: Vec<Box<dyn Hook>>) -> Result<()> {
        hs.into_iter().try_for_each(|h| self.hook(h))
    }

    /// Call `f` on every hook with the trainer (the hooks are taken out meanwhile).
    fn each_hook(&mut self, mut f: impl FnMut(&mut dyn Hook, &Trainer) -> Result<()>) -> Result<()> {
        let mut hooks = std::mem::take(&mut self.hooks);
        let r = hooks.iter_mut().try_for_each(|h| f(h.as_mut(), self));
        self.hooks = hooks;
        r
    }

    /// One article iteration (D step and G step) on the next real batch. Starts the
    /// epoch when it is the epoch's first; fails when the epoch is full (call
    /// [`Trainer::end_epoch`]) or the budget is done.
    pub fn step(&mut self) -> Result<StepStats> {
        if self.done() {
            anyhow::bail!(
                "{}: the budget of {} epochs is done (raise train.epochs for a longer run)",
                self.spec.name,
                self.spec.train.epochs
            );
        }
        if self.iter == self.iters_per_epoch {
            anyhow::bail!(
                "epoch {} is complete: end it (end_epoch) before the next step",
                self.epoch
            );
        }
        if self.iter == 0 {
            self.sampler.start_epoch();
        }
        self.each_hook(|h, t| h.before_step(t))?;
        let t0 = Instant::now();
        let idx = self.sampler.next_indices();
        let batch = make_batch(&self.data.train, &idx, self.spec.data.scale, &self.opts.device)?;
        let s = self.model.train_step(&batch, &mut self.rngs)?;
        self.step += 1;
        self.iter += 1;
        self.check_divergence(&s)?;
        let done = StepDone {
            stats: s.clone(),
            images: idx.len(),
            seconds: t0.elapsed().as_secs_f64(),
        };
        self.each_hook(|h, t| h.after_step(t, &done))?;
        self.last = s.clone();
        Ok(s)
    }

    /// A NaN or infinite loss: stop (the default) or warn once and train on.
    fn check_divergence(&mut self, s: &StepStats) -> Result<()> {
        if s.d_loss.is_finite() && s.g_loss.is_finite() {
            self.last_finite = Some((self.step, s.d_loss, s.g_loss));
            return Ok(());
        }
        match self.spec.train.on_divergence {
            OnDivergence::Continue if !self.warned_divergence => {
                self.bar.suspend(|| {
                    eprintln!(
                        "warning: step {} (epoch {}): d_loss {}, g_loss {}; training on (train.on_divergence: continue)",
                        self.step, self.epoch, s.d_loss, s.g_loss
                    )
                });
                self.warned_divergence = true;
                Ok(())
            }
            OnDivergence::Continue => Ok(()),
            OnDivergence::Stop => Err(run::Stopped::Diverged {
                step: self.step,
                epoch: self.epoch,
                d_loss: s.d_loss,
                g_loss: s.g_loss,
                last_finite: self
                    .last_finite
                    .map(|(step, d, g)| format!("step {step} d_loss {d} g_loss {g}"))
                    .unwrap_or_else(|| "none".into()),
            }
            .into()),
        }
    }

    /// End the full epoch: the model's per-epoch evaluation (ACGAN's table), the
    /// manifest, then every hook's `after_epoch`; the next step starts the next epoch.
    pub fn end_epoch(&mut self) -> Result<()> {
        if self.iter != self.iters_per_epoch {
            anyhow::bail!(
                "epoch {} has {} of its {} iterations done: it cannot end yet",
                self.epoch,
                self.iter,
                self.iters_per_epoch
            );
        }
        let mut ctx = models::EpochCtx {
            test: &self.data.test,
            scale: self.spec.data.scale,
            test_size: self.spec.eval.test_size.min(self.data.test.len()),
            rngs: &mut self.rngs,
        };
        self.epoch_rows = self.model.end_epoch(&mut ctx)?;
        self.manifest.epochs_done = self.epoch;
        self.manifest.steps_done = self.step;
        self.manifest.write(&self.dir)?;
        self.ending = true;
        let r = self.each_hook(|h, t| h.after_epoch(t));
        self.ending = false;
        r?;
        self.epoch += 1;
        self.iter = 0;
        Ok(())
    }

    /// Save the weights and the full training state under `tag` (see [`crate::checkpoint`]).
    pub fn checkpoint(&self, tag: &str) -> Result<()> {
        let at = self.position();
        let (noise_rng, dropout_rng) = crate::checkpoint::rng_positions(&self.rngs);
        let (sampler_state, order) = self.sampler.state();
        let [d, g] = self.model.optim_states()?;
        let state = TrainState {
            format: crate::checkpoint::FORMAT,
            spec_hash: self.spec.hash(),
            variant: self.spec.model.variant.to_string(),
            tag: tag.to_string(),
            step: at.step,
            epoch: at.epoch,
            iter: at.iter,
            epoch_done: at.epoch_done,
            seconds: at.seconds,
            threads: self.opts.threads,
            noise_rng,
            dropout_rng,
            sampler: sampler_state,
            optim_t: [d.t, g.t],
        };
        crate::checkpoint::save(self.model.as_ref(), &state, order, &self.dir)
    }

    /// Train until the budget is done, stopping at Ctrl-C/SIGTERM with a checkpoint.
    fn run_to_end(&mut self) -> Result<()> {
        while !self.done() {
            if self.iter == self.iters_per_epoch {
                self.end_epoch()?;
                continue;
            }
            self.step()?;
            if run::STOP.load(std::sync::atomic::Ordering::SeqCst) {
                self.checkpoint("interrupted")?;
                return Err(run::Stopped::Interrupted {
                    step: self.step,
                    epoch: self.epoch,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Train `n` more iterations (fewer where the budget ends), ending epochs as they
    /// fill, on the compute pool.
    pub fn train_iters(&mut self, n: usize) -> Result<usize> {
        crate::runtime::on_pool(|| {
            let mut done = 0;
            while done < n && !self.done() {
                if self.iter == self.iters_per_epoch {
                    self.end_epoch()?;
                    continue;
                }
                self.step()?;
                done += 1;
            }
            if self.iter == self.iters_per_epoch {
                self.end_epoch()?;
            }
            Ok(done)
        })
    }

    /// Run to the end of the budget, then flush every hook and write the manifest's
    /// final status (`completed`, `interrupted`, `diverged` or `failed`); the
    /// metrics so far are kept whatever happens. Returns the run directory.
    pub fn run(mut self) -> Result<PathBuf> {
        self.manifest.write(&self.dir)?;
        let result = crate::runtime::on_pool(|| self.run_to_end());
        let flushed = self.flush();
        self.manifest.ended = Some(run::now());
        match &result {
            Ok(()) => self.manifest.status = Status::Completed,
            Err(e) => {
                self.manifest.status = match e.downcast_ref::<run::Stopped>() {
                    Some(run::Stopped::Interrupted { .. }) => Status::Interrupted,
                    Some(run::Stopped::Diverged { .. }) => Status::Diverged,
                    None => Status::Failed,
                };
                self.manifest.error = Some(format!("{e:#}"));
            }
        }
        self.manifest.write(&self.dir)?;
        result.with_context(|| {
            format!(
                "run {} stopped ({}); its metrics so far are in it",
                self.dir.display(),
                self.manifest.status
            )
        })?;
        flushed?;
        Ok(self.dir)
    }

    /// Write what the hooks hold (metrics, curves) without ending the run.
    pub fn flush(&mut self) -> Result<()> {
        let mut first_err = None;
        let _ = self.each_hook(|h, t| {
            if let Err(e) = h.flush(t) {
                first_err.get_or_insert(e);
            }
            Ok(())
        });
        first_err.map_or(Ok(()), Err)
    }

    /// Pause a run that is not at its end (a notebook between cells): flush the hooks,
    /// save a checkpoint tagged `paused` and mark the run `interrupted`, so that
    /// `ganlab resume` (or [`Trainer::restore`]) continues it; a finished run is
    /// marked `completed`.
    pub fn pause(&mut self) -> Result<()> {
        self.flush()?;
        if self.done() {
            self.manifest.status = Status::Completed;
            self.manifest.ended = Some(run::now());
        } else {
            self.checkpoint("paused")?;
            self.manifest.status = Status::Interrupted;
        }
        self.manifest.write(&self.dir)
    }

    /// True once every epoch of the budget has ended.
    pub fn done(&self) -> bool {
        self.epoch > self.spec.train.epochs
    }

    pub fn position(&self) -> Position {
        Position {
            step: self.step,
            epoch: self.epoch,
            iter: self.iter,
            epoch_done: self.ending,
            seconds: self.seconds(),
        }
    }

    /// Training seconds of the run, earlier sessions included.
    pub fn seconds(&self) -> f64 {
        self.base_seconds + self.started.elapsed().as_secs_f64()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    pub fn model(&self) -> &dyn Gan {
        self.model.as_ref()
    }
    pub fn data(&self) -> &Mnist {
        &self.data
    }
    pub fn options(&self) -> &RunOptions {
        &self.opts
    }
    pub fn iters_per_epoch(&self) -> usize {
        self.iters_per_epoch
    }
    /// The statistics of the latest step.
    pub fn last(&self) -> &StepStats {
        &self.last
    }
    /// The model's per-epoch rows of the epoch whose end is running.
    pub fn epoch_rows(&self) -> &[EpochRow] {
        &self.epoch_rows
    }
    pub fn progress_bar(&self) -> &indicatif::ProgressBar {
        &self.bar
    }

    /// Print a line (above the progress bar when one is shown); nothing when quiet.
    pub fn say(&self, line: &str) {
        if self.opts.quiet {
            return;
        }
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

fn refuse_to_resume(dir: &Path, manifest: &Manifest) -> Result<()> {
    match manifest.status {
        Status::Completed => anyhow::bail!(
            "run {} completed all its epochs: nothing to resume (start a new run to train longer)",
            dir.display()
        ),
        Status::Diverged => anyhow::bail!(
            "run {} diverged ({}): resuming would repeat it; start a new run with other settings, or with --set train.on_divergence=continue",
            dir.display(),
            manifest.error.as_deref().unwrap_or("a NaN or infinite loss")
        ),
        Status::Running if !manifest.is_stale() => anyhow::bail!(
            "run {} is still running (pid {}); stop it first",
            dir.display(),
            manifest.pid.map_or("?".into(), |p| p.to_string())
        ),
        _ => Ok(()),
    }
}

/// The spec of an existing run, from its `config.yaml`.
pub fn run_spec(dir: &Path) -> Result<Spec> {
    let p = dir.join("config.yaml");
    if !p.is_file() {
        anyhow::bail!("{} is not a ganlab run directory (no config.yaml)", dir.display());
    }
    Ok(Spec::load(&p, None, &[])?)
}
