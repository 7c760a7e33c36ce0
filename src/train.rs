//! The training loop shared by every variant: batches, schedule, metrics,
//! sample grids, checkpoints, plots and the run manifest.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::{Loaded, TrainState};
use crate::data::{Mnist, Split, PIXELS};
use crate::log::{MetricsLog, Row};
use crate::models::{self, Batch, Gan};
use crate::rng::{self, StepRngs, Stream};
use crate::run::{self, Manifest, Status};
use crate::spec::{OnDivergence, Sampling, Scale, Spec};

/// Draws the indices of real batches as the article does.
pub struct Sampler {
    sampling: Sampling,
    batch: usize,
    drop_last: bool,
    n: usize,
    rng: ChaCha8Rng,
    perm: Vec<usize>,
    pos: usize,
}

impl Sampler {
    /// `batch`: real images per iteration (the variant's `reals_per_step`).
    pub fn new(spec: &Spec, n: usize, batch: usize) -> Sampler {
        Sampler {
            sampling: spec.train.sampling,
            batch,
            drop_last: spec.train.drop_last,
            n,
            rng: rng::stream(spec.seed, Stream::Data),
            perm: (0..n).collect(),
            pos: n,
        }
    }

    /// Start an epoch: a `shuffle` sampler reshuffles (`DataLoader(shuffle=True)`).
    pub fn start_epoch(&mut self) {
        match self.sampling {
            Sampling::Shuffle => {
                self.perm = (0..self.n).collect();
                self.perm.shuffle(&mut self.rng);
                self.pos = 0;
            }
            Sampling::Sequential => self.pos = 0,
            Sampling::WithReplacement => {}
        }
    }

    /// The state a checkpoint needs: generator position and place in the order, and
    /// the order itself.
    pub fn state(&self) -> (crate::checkpoint::SamplerState, &[usize]) {
        let s = crate::checkpoint::SamplerState {
            rng: crate::checkpoint::RngPos::of(&self.rng),
            pos: self.pos,
        };
        (s, &self.perm)
    }

    /// Restore what [`Sampler::state`] returned.
    pub fn restore(&mut self, s: &crate::checkpoint::SamplerState, order: Vec<usize>) -> Result<()> {
        if order.len() != self.n || s.pos > self.n {
            anyhow::bail!(
                "the checkpoint's data order has {} images, this data set {}",
                order.len(),
                self.n
            );
        }
        s.rng.apply(&mut self.rng, "data")?;
        self.perm = order;
        self.pos = s.pos;
        Ok(())
    }

    /// Indices of the next batch.
    pub fn next_indices(&mut self) -> Vec<usize> {
        match self.sampling {
            // X_train[np.random.randint(0, X_train.shape[0], batch_size)]
            Sampling::WithReplacement => (0..self.batch).map(|_| self.rng.random_range(0..self.n)).collect(),
            Sampling::Shuffle | Sampling::Sequential => {
                let left = self.n - self.pos;
                if left == 0 || (self.drop_last && left < self.batch) {
                    self.start_epoch();
                }
                let end = (self.pos + self.batch).min(self.n);
                let idx = self.perm[self.pos..end].to_vec();
                self.pos = end;
                idx
            }
        }
    }
}

/// Gather images `idx` of `split` into a `[n, 784]` tensor in the spec's scale.
pub fn make_batch(split: &Split, idx: &[usize], scale: Scale, dev: &Device) -> Result<Batch> {
    let mut v = Vec::with_capacity(idx.len() * PIXELS);
    for &i in idx {
        v.extend(split.image(i).iter().map(|&p| scale.apply(p)));
    }
    let labels = idx.iter().map(|&i| split.labels[i]).collect();
    Ok(Batch {
        images: Tensor::from_vec(v, (idx.len(), PIXELS), dev)?,
        labels,
    })
}

/// Where and how a run is carried out (everything that is not the spec).
pub struct RunOptions {
    pub out: PathBuf,
    pub spec_file: String,
    pub threads: usize,
    pub device: Device,
    /// Print nothing but errors and the run directory.
    pub quiet: bool,
}

/// Generate the fixed sample grid of a run at `epoch`.
fn save_grid(model: &dyn Gan, spec: &Spec, z: &Tensor, dir: &Path, tag: &str) -> Result<()> {
    let imgs = model.generate(z)?.flatten_all()?.to_vec1::<f32>()?;
    let p = dir.join("samples").join(format!("{tag}.png"));
    crate::plot::sample_grid(
        &imgs,
        spec.samples.rows,
        spec.samples.cols,
        spec.data.scale,
        spec.samples.style,
        &p,
    )
}

/// Where the loop stands, for checkpoints.
#[derive(Clone)]
struct Position {
    step: u64,
    epoch: usize,
    iter: usize,
    epoch_done: bool,
    seconds: f64,
}

/// Save weights and the full training state under `tag` (see [`crate::checkpoint`]).
#[allow(clippy::too_many_arguments)] // issue 21: the Trainer's hooks will hold these
fn save_checkpoint(
    model: &dyn Gan,
    spec: &Spec,
    opts: &RunOptions,
    rngs: &StepRngs,
    sampler: &Sampler,
    at: Position,
    dir: &Path,
    tag: &str,
) -> Result<()> {
    let (noise_rng, dropout_rng) = crate::checkpoint::rng_positions(rngs);
    let (sampler_state, order) = sampler.state();
    let [d, g] = model.optim_states()?;
    let state = TrainState {
        format: crate::checkpoint::FORMAT,
        spec_hash: spec.hash(),
        variant: spec.model.variant.to_string(),
        tag: tag.to_string(),
        step: at.step,
        epoch: at.epoch,
        iter: at.iter,
        epoch_done: at.epoch_done,
        seconds: at.seconds,
        threads: opts.threads,
        noise_rng,
        dropout_rng,
        sampler: sampler_state,
        optim_t: [d.t, g.t],
    };
    crate::checkpoint::save(model, &state, order, dir)
}

/// Train `spec` on `data` into a new run directory; returns its path.
/// On any failure the metrics so far, the plots and the manifest (status `failed`)
/// are still written.
pub fn train(spec: &Spec, data: &Mnist, opts: &RunOptions) -> Result<PathBuf> {
    let dir = run::create_run_dir(&opts.out, spec)?;
    train_into(spec, data, opts, &dir)
}

/// As [`train`], into `dir`, which must not exist yet (a sweep member's fixed directory).
pub fn train_in_new(spec: &Spec, data: &Mnist, opts: &RunOptions, dir: &Path) -> Result<PathBuf> {
    run::create_named_run_dir(dir)?;
    train_into(spec, data, opts, dir)
}

fn train_into(spec: &Spec, data: &Mnist, opts: &RunOptions, dir: &Path) -> Result<PathBuf> {
    let dir = dir.to_path_buf();
    std::fs::write(dir.join("config.yaml"), spec.to_yaml())
        .with_context(|| format!("cannot write {}", dir.join("config.yaml").display()))?;
    let manifest = Manifest::start(
        spec,
        &opts.spec_file,
        opts.threads,
        crate::device::name(&opts.device),
        &data.dir,
        None,
    );
    run_in(spec, data, opts, &dir, manifest, MetricsLog::default(), None)
}

/// The spec of an existing run, from its `config.yaml`.
pub fn run_spec(dir: &Path) -> Result<Spec> {
    let p = dir.join("config.yaml");
    if !p.is_file() {
        anyhow::bail!("{} is not a ganlab run directory (no config.yaml)", dir.display());
    }
    Ok(Spec::load(&p, None, &[])?)
}

/// Continue an interrupted, failed or killed run in its own directory from its latest
/// complete checkpoint. Metrics logged after that checkpoint are dropped and
/// recomputed, so the finished run's metrics equal an uninterrupted run's (wall-clock
/// columns aside) when it uses the same thread count.
pub fn resume(dir: &Path, data: &Mnist, opts: &RunOptions) -> Result<PathBuf> {
    let mut manifest = Manifest::read(dir)?;
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
        _ => {}
    }
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
    let metrics = dir.join("metrics.parquet");
    let extras = models::build(&spec, &opts.device)?.extra_metrics();
    let mut log = if metrics.is_file() {
        MetricsLog::read_with(&metrics, extras)?
    } else {
        MetricsLog::default()
    };
    log.rows.retain(|r| r.step <= state.step);
    manifest.status = Status::Running;
    manifest.ended = None;
    manifest.error = None;
    manifest.pid = Some(std::process::id());
    manifest
        .resumed
        .push(format!("{} from {} (step {})", run::now(), state.tag, state.step));
    run_in(&spec, data, opts, dir, manifest, log, Some(state))
}

fn run_in(
    spec: &Spec,
    data: &Mnist,
    opts: &RunOptions,
    dir: &Path,
    mut manifest: Manifest,
    mut log: MetricsLog,
    from: Option<TrainState>,
) -> Result<PathBuf> {
    manifest.write(dir)?;
    let result = crate::runtime::on_pool(|| train_loop(spec, data, opts, dir, &mut log, &mut manifest, from));
    let metrics = dir.join("metrics.parquet");
    let flushed = log.flush(&metrics);
    let plotted = crate::plot::training_curves(&log.rows, &dir.join("plots"), &spec.name);
    manifest.ended = Some(run::now());
    match &result {
        Ok(()) => manifest.status = Status::Completed,
        Err(e) => {
            manifest.status = match e.downcast_ref::<run::Stopped>() {
                Some(run::Stopped::Interrupted { .. }) => Status::Interrupted,
                Some(run::Stopped::Diverged { .. }) => Status::Diverged,
                None => Status::Failed,
            };
            manifest.error = Some(format!("{e:#}"));
        }
    }
    manifest.write(dir)?;
    result.with_context(|| {
        format!(
            "run {} stopped ({}); its metrics so far are in it",
            dir.display(),
            manifest.status
        )
    })?;
    flushed?;
    plotted?;
    Ok(dir.to_path_buf())
}

#[allow(clippy::too_many_arguments)]
fn train_loop(
    spec: &Spec,
    data: &Mnist,
    opts: &RunOptions,
    dir: &Path,
    log: &mut MetricsLog,
    manifest: &mut Manifest,
    from: Option<TrainState>,
) -> Result<()> {
    let dev = &opts.device;
    let mut model = models::build(spec, dev)?;
    let mut rngs = StepRngs::new(spec.seed, &spec.noise);
    let mut sampler = Sampler::new(spec, data.train.len(), model.reals_per_step());
    let grid_z = rng::noise(
        &spec.noise,
        spec.samples.rows * spec.samples.cols,
        &mut rng::stream(spec.seed, Stream::Samples),
        dev,
    )?;
    let ipe = spec.iters_per_epoch(data.train.len());
    let metrics = dir.join("metrics.parquet");
    let epochs_path = dir.join("epochs.parquet");
    let mut table = crate::log::EpochTable::default();
    // Where to start: epoch `first`, its first `skip` iterations already done.
    let (mut step, first, mut skip, base_seconds) = match from {
        None => (0u64, 1usize, 0usize, 0.0),
        Some(state) => {
            let Loaded { state, optim, order } = crate::checkpoint::load(model.as_mut(), state, dir)?;
            model.set_optim_states(optim)?;
            state.noise_rng.apply(&mut rngs.noise, "noise")?;
            state.dropout_rng.apply(&mut rngs.dropout, "dropout")?;
            sampler.restore(&state.sampler, order)?;
            if epochs_path.is_file() {
                table = crate::log::EpochTable::read(&epochs_path)?;
            }
            let last_done = if state.epoch_done { state.epoch } else { state.epoch - 1 };
            table.rows.retain(|r| r.0 as usize <= last_done);
            if state.epoch_done {
                (state.step, state.epoch + 1, 0, state.seconds)
            } else {
                (state.step, state.epoch, state.iter, state.seconds)
            }
        }
    };
    let total = (ipe * spec.train.epochs) as u64;
    let pb = if opts.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_position(step);
    let mut quality = crate::eval::during::Quality::for_spec(spec, data)?;
    let start = Instant::now();
    let seconds = || base_seconds + start.elapsed().as_secs_f64();
    let mut warned_divergence = false;
    for epoch in first..=spec.train.epochs {
        pb.set_prefix(format!("{} epoch {epoch}/{}", spec.name, spec.train.epochs));
        if skip == 0 {
            sampler.start_epoch();
        }
        let mut last = Default::default();
        for it in std::mem::take(&mut skip)..ipe {
            if spec.samples.every_iters > 0 && it % spec.samples.every_iters == 0 {
                save_grid(
                    model.as_ref(),
                    spec,
                    &grid_z,
                    dir,
                    &format!("epoch_{epoch:04}_iter_{it:04}"),
                )?;
            }
            let t0 = Instant::now();
            let idx = sampler.next_indices();
            let batch = make_batch(&data.train, &idx, spec.data.scale, dev)?;
            let s = model.train_step(&batch, &mut rngs)?;
            step += 1;
            last = s.clone();
            let finite = [s.d_loss, s.g_loss].iter().all(|v| v.is_finite());
            if !finite && spec.train.on_divergence == OnDivergence::Continue && !warned_divergence {
                pb.suspend(|| {
                    eprintln!(
                        "warning: step {step} (epoch {epoch}): d_loss {}, g_loss {}; training on (train.on_divergence: continue)",
                        s.d_loss, s.g_loss
                    )
                });
                warned_divergence = true;
            } else if !finite && spec.train.on_divergence == OnDivergence::Stop {
                let last_finite = log
                    .rows
                    .last()
                    .map(|r| format!("step {} d_loss {} g_loss {}", r.step, r.d_loss, r.g_loss))
                    .unwrap_or_else(|| "none".into());
                return Err(run::Stopped::Diverged {
                    step,
                    epoch,
                    d_loss: s.d_loss,
                    g_loss: s.g_loss,
                    last_finite,
                }
                .into());
            }
            if step % spec.log.every as u64 == 0 {
                log.push(Row {
                    step,
                    epoch: epoch as u32,
                    iter: it as u32 + 1,
                    d_loss: s.d_loss,
                    g_loss: s.g_loss,
                    d_real: s.d_real,
                    d_fake: s.d_fake,
                    seconds: seconds(),
                    images_per_s: idx.len() as f64 / t0.elapsed().as_secs_f64(),
                    extra: s.extra.clone(),
                });
            }
            let at = |tag_epoch_done: bool| Position {
                step,
                epoch,
                iter: it + 1,
                epoch_done: tag_epoch_done,
                seconds: seconds(),
            };
            if run::STOP.load(std::sync::atomic::Ordering::SeqCst) {
                save_checkpoint(
                    model.as_ref(),
                    spec,
                    opts,
                    &rngs,
                    &sampler,
                    at(false),
                    dir,
                    "interrupted",
                )?;
                return Err(run::Stopped::Interrupted { step, epoch }.into());
            }
            let ck = &spec.checkpoint;
            if ck.every_iters > 0 && it % ck.every_iters == ck.iter_offset {
                save_checkpoint(model.as_ref(), spec, opts, &rngs, &sampler, at(false), dir, "iter")?;
            }
            pb.inc(1);
            if it % 8 == 0 {
                pb.set_message(format!(
                    "d {:.3} g {:.3} D(x) {:.2} D(G(z)) {:.2}",
                    s.d_loss, s.g_loss, s.d_real, s.d_fake
                ));
            }
        }
        log.flush(&metrics)?;
        let mut ctx = models::EpochCtx {
            test: &data.test,
            scale: spec.data.scale,
            test_size: spec.eval.test_size.min(data.test.len()),
            rngs: &mut rngs,
        };
        let rows = model.end_epoch(&mut ctx)?;
        if !rows.is_empty() {
            for (component, values) in rows {
                if !opts.quiet {
                    let vals: Vec<String> = values.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
                    let line = format!("epoch {epoch} {component:<22} {}", vals.join("  "));
                    if pb.is_hidden() {
                        eprintln!("{line}");
                    } else {
                        pb.println(line);
                    }
                }
                let values = values.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                table.rows.push((epoch as u32, component, values));
            }
            table.flush(&epochs_path)?;
        }
        manifest.epochs_done = epoch;
        manifest.steps_done = step;
        manifest.write(dir)?;
        if spec.grid_at(epoch) {
            save_grid(model.as_ref(), spec, &grid_z, dir, &format!("epoch_{epoch:04}"))?;
        }
        let at = Position {
            step,
            epoch,
            iter: ipe,
            epoch_done: true,
            seconds: seconds(),
        };
        if spec.checkpoint.every > 0 && epoch % spec.checkpoint.every == 0 {
            let tag = format!("epoch_{epoch:04}");
            save_checkpoint(model.as_ref(), spec, opts, &rngs, &sampler, at.clone(), dir, &tag)?;
        }
        if epoch == spec.train.epochs {
            save_checkpoint(model.as_ref(), spec, opts, &rngs, &sampler, at, dir, "final")?;
        }
        if let Some(q) = quality.as_mut() {
            q.after_epoch(model.as_ref(), spec, epoch, dir, &pb, opts.quiet)?;
        }
        if pb.is_hidden() && !opts.quiet {
            eprintln!(
                "{} epoch {epoch}/{}: d_loss {:.4} g_loss {:.4} D(x) {:.3} D(G(z)) {:.3} ({:.1} s)",
                spec.name,
                spec.train.epochs,
                last.d_loss,
                last.g_loss,
                last.d_real,
                last.d_fake,
                seconds()
            );
        }
    }
    pb.finish_and_clear();
    Ok(())
}
