//! The training loop shared by every variant: batches, schedule, metrics,
//! sample grids, checkpoints, plots and the run manifest.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::{Mnist, Split, PIXELS};
use crate::log::{MetricsLog, Row};
use crate::models::{self, Batch, Gan};
use crate::rng::{self, StepRngs, Stream};
use crate::run::{self, Manifest, Status};
use crate::spec::{Sampling, Scale, Spec};

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

/// Run `f` on a thread of the global rayon pool, so that the training thread is one
/// of the compute threads instead of a third thread competing for two cores.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
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

fn save_checkpoint(model: &dyn Gan, dir: &Path, tag: &str) -> Result<()> {
    let c = dir.join("checkpoints");
    model.generator().save(&c.join(format!("g_{tag}.safetensors")))?;
    model.discriminator().save(&c.join(format!("d_{tag}.safetensors")))
}

/// Train `spec` on `data` into a new run directory; returns its path.
/// On any failure the metrics so far, the plots and the manifest (status `failed`)
/// are still written.
pub fn train(spec: &Spec, data: &Mnist, opts: &RunOptions) -> Result<PathBuf> {
    let dir = run::create_run_dir(&opts.out, spec)?;
    std::fs::write(dir.join("config.yaml"), spec.to_yaml())
        .with_context(|| format!("cannot write {}", dir.join("config.yaml").display()))?;
    let mut manifest = Manifest {
        ganlab_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: run::git_commit(),
        spec: spec.name.clone(),
        spec_file: opts.spec_file.clone(),
        spec_hash: spec.hash(),
        profile: spec.profile.clone(),
        variant: spec.model.variant.to_string(),
        seed: spec.seed,
        threads: opts.threads,
        device: format!("{:?}", opts.device),
        data_dir: data.dir.display().to_string(),
        started: run::now(),
        ended: None,
        status: Status::Running,
        epochs_done: 0,
        steps_done: 0,
        error: None,
        pid: Some(std::process::id()),
    };
    manifest.write(&dir)?;
    let mut log = MetricsLog::default();
    let result = on_pool(|| train_loop(spec, data, opts, &dir, &mut log, &mut manifest));
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
    manifest.write(&dir)?;
    result.with_context(|| {
        format!(
            "run {} stopped ({:?}); its metrics so far are in it",
            dir.display(),
            manifest.status
        )
    })?;
    flushed?;
    plotted?;
    Ok(dir)
}

fn train_loop(
    spec: &Spec,
    data: &Mnist,
    opts: &RunOptions,
    dir: &Path,
    log: &mut MetricsLog,
    manifest: &mut Manifest,
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
    let metrics = dir.join("metrics.parquet");
    let mut table = crate::log::EpochTable::default();
    let mut quality = crate::eval::during::Quality::for_spec(spec, data)?;
    let start = Instant::now();
    let mut step = 0u64;
    for epoch in 1..=spec.train.epochs {
        pb.set_prefix(format!("{} epoch {epoch}/{}", spec.name, spec.train.epochs));
        sampler.start_epoch();
        let mut last = Default::default();
        for it in 0..ipe {
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
            if ![s.d_loss, s.g_loss].iter().all(|v| v.is_finite()) {
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
                    seconds: start.elapsed().as_secs_f64(),
                    images_per_s: idx.len() as f64 / t0.elapsed().as_secs_f64(),
                    extra: s.extra.clone(),
                });
            }
            if run::STOP.load(std::sync::atomic::Ordering::SeqCst) {
                save_checkpoint(model.as_ref(), dir, "interrupted")?;
                return Err(run::Stopped::Interrupted { step, epoch }.into());
            }
            let ck = &spec.checkpoint;
            if ck.every_iters > 0 && it % ck.every_iters == ck.iter_offset {
                save_checkpoint(model.as_ref(), dir, "iter")?;
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
                table.rows.push((epoch as u32, component, values));
            }
            table.flush(&dir.join("epochs.parquet"))?;
        }
        manifest.epochs_done = epoch;
        manifest.steps_done = step;
        manifest.write(dir)?;
        if spec.grid_at(epoch) {
            save_grid(model.as_ref(), spec, &grid_z, dir, &format!("epoch_{epoch:04}"))?;
        }
        if spec.checkpoint.every > 0 && epoch % spec.checkpoint.every == 0 {
            save_checkpoint(model.as_ref(), dir, &format!("epoch_{epoch:04}"))?;
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
                start.elapsed().as_secs_f64()
            );
        }
    }
    pb.finish_and_clear();
    save_checkpoint(model.as_ref(), dir, "final")?;
    Ok(())
}
