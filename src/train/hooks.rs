//! What a run records while it trains, as hooks on the [`Trainer`]: the metrics log,
//! ACGAN's per-epoch table, the sample grids, the checkpoints on the spec's schedule
//! and the progress bar. Quality scoring is a hook too, registered from `eval`.

use std::path::PathBuf;

use anyhow::Result;
use candle_core::Tensor;

use super::Trainer;
use crate::log::{EpochTable, MetricsLog, Row};
use crate::models::StepStats;
use crate::rng::{self, Stream};

/// One finished iteration, as the hooks see it.
pub struct StepDone {
    pub stats: StepStats,
    /// Real images it took.
    pub images: usize,
    /// Wall seconds it took (batch included).
    pub seconds: f64,
}

/// Something that runs beside the loop. The trainer's position during each call:
/// `before_step`, the iterations done so far; `after_step`, the step just done
/// counted; `after_epoch`, the epoch's last iteration with `epoch_done` set.
pub trait Hook: Send {
    /// Registered on a trainer (a restored one stands at its checkpoint).
    fn attach(&mut self, t: &Trainer) -> Result<()> {
        let _ = t;
        Ok(())
    }
    fn before_step(&mut self, t: &Trainer) -> Result<()> {
        let _ = t;
        Ok(())
    }
    fn after_step(&mut self, t: &Trainer, s: &StepDone) -> Result<()> {
        let _ = (t, s);
        Ok(())
    }
    fn after_epoch(&mut self, t: &Trainer) -> Result<()> {
        let _ = t;
        Ok(())
    }
    /// Write out what is held in memory (at the end of a run, also a failed one).
    fn flush(&mut self, t: &Trainer) -> Result<()> {
        let _ = t;
        Ok(())
    }
}

/// The hooks of a `ganlab run`, in their order, except quality scoring (which `eval`
/// provides): metrics, epoch table, grids, checkpoints. The progress bar goes last
/// ([`Progress`]), after any hook that prints.
pub fn standard_hooks() -> Vec<Box<dyn Hook>> {
    vec![
        Box::new(Metrics::default()),
        Box::new(EpochTableHook::default()),
        Box::new(Grids::default()),
        Box::new(Checkpoints),
    ]
}

/// `metrics.parquet`: one row every `log.every` steps, rewritten after each epoch and
/// before each `iter` checkpoint; the loss and D-output curves under `plots/` when
/// flushed.
#[derive(Default)]
pub struct Metrics {
    pub log: MetricsLog,
    path: PathBuf,
}

impl Hook for Metrics {
    fn attach(&mut self, t: &Trainer) -> Result<()> {
        self.path = t.dir().join("metrics.parquet");
        if self.path.is_file() {
            self.log = MetricsLog::read_with(&self.path, t.model().extra_metrics())?;
            let step = t.position().step;
            self.log.rows.retain(|r| r.step <= step);
        }
        Ok(())
    }
    fn after_step(&mut self, t: &Trainer, s: &StepDone) -> Result<()> {
        let at = t.position();
        if at.step.is_multiple_of(t.spec().log.every as u64) {
            self.log.push(Row {
                step: at.step,
                epoch: at.epoch as u32,
                iter: at.iter as u32,
                d_loss: s.stats.d_loss,
                g_loss: s.stats.g_loss,
                d_real: s.stats.d_real,
                d_fake: s.stats.d_fake,
                seconds: at.seconds,
                images_per_s: s.images as f64 / s.seconds,
                extra: s.stats.extra.clone(),
            });
        }
        // A checkpoint taken mid-epoch is what a killed run resumes from, and resuming
        // keeps the rows up to its step: they must be on disk before it is (this hook
        // runs before `Checkpoints`).
        if Checkpoints::iter_due(t) {
            self.log.flush(&self.path)?;
        }
        Ok(())
    }
    fn after_epoch(&mut self, _t: &Trainer) -> Result<()> {
        self.log.flush(&self.path)
    }
    fn flush(&mut self, t: &Trainer) -> Result<()> {
        let flushed = self.log.flush(&self.path);
        crate::plot::training_curves(&self.log.rows, &t.dir().join("plots"), &t.spec().name)?;
        flushed
    }
}

/// `epochs.parquet`: the model's per-epoch rows (ACGAN's train/test table), printed
/// as they come.
#[derive(Default)]
pub struct EpochTableHook {
    table: EpochTable,
    path: PathBuf,
}

impl Hook for EpochTableHook {
    fn attach(&mut self, t: &Trainer) -> Result<()> {
        self.path = t.dir().join("epochs.parquet");
        if self.path.is_file() {
            self.table = EpochTable::read(&self.path)?;
            let last_done = t.position().epoch - 1;
            self.table.rows.retain(|r| r.0 as usize <= last_done);
        }
        Ok(())
    }
    fn after_epoch(&mut self, t: &Trainer) -> Result<()> {
        let epoch = t.position().epoch;
        if t.epoch_rows().is_empty() {
            return Ok(());
        }
        for (component, values) in t.epoch_rows() {
            let vals: Vec<String> = values.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            t.say(&format!("epoch {epoch} {component:<22} {}", vals.join("  ")));
            let values = values.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            self.table.rows.push((epoch as u32, component.clone(), values));
        }
        self.table.flush(&self.path)
    }
}

/// The fixed sample grid (the seed's samples stream): every `samples.every_iters`
/// iterations and on the spec's epochs (`samples.every`, the last epoch).
#[derive(Default)]
pub struct Grids {
    z: Option<Tensor>,
}

impl Grids {
    fn save(&self, t: &Trainer, tag: &str) -> Result<()> {
        let Some(z) = &self.z else { return Ok(()) };
        let spec = t.spec();
        let imgs = t.model().generate(z)?.flatten_all()?.to_vec1::<f32>()?;
        crate::plot::sample_grid(
            &imgs,
            spec.samples.rows,
            spec.samples.cols,
            spec.data.scale,
            spec.samples.style,
            &t.dir().join("samples").join(format!("{tag}.png")),
        )
    }
}

impl Hook for Grids {
    fn attach(&mut self, t: &Trainer) -> Result<()> {
        let spec = t.spec();
        self.z = Some(rng::noise(
            &spec.noise,
            spec.samples.rows * spec.samples.cols,
            &mut rng::stream(spec.seed, Stream::Samples),
            &t.options().device,
        )?);
        Ok(())
    }
    fn before_step(&mut self, t: &Trainer) -> Result<()> {
        let (every, at) = (t.spec().samples.every_iters, t.position());
        if every > 0 && at.iter.is_multiple_of(every) {
            self.save(t, &format!("epoch_{:04}_iter_{:04}", at.epoch, at.iter))?;
        }
        Ok(())
    }
    fn after_epoch(&mut self, t: &Trainer) -> Result<()> {
        let epoch = t.position().epoch;
        if t.spec().grid_at(epoch) {
            self.save(t, &format!("epoch_{epoch:04}"))?;
        }
        Ok(())
    }
}

/// Checkpoints on the spec's schedule: `iter` every `checkpoint.every_iters`
/// iterations (at `iter_offset`), `epoch_NNNN` every `checkpoint.every` epochs, and
/// `final` after the last.
pub struct Checkpoints;

impl Checkpoints {
    /// Whether the step just done is one after which the `iter` checkpoint is saved.
    pub fn iter_due(t: &Trainer) -> bool {
        let ck = &t.spec().checkpoint;
        let it = t.position().iter - 1;
        ck.every_iters > 0 && it % ck.every_iters == ck.iter_offset
    }
}

impl Hook for Checkpoints {
    fn after_step(&mut self, t: &Trainer, _s: &StepDone) -> Result<()> {
        if Checkpoints::iter_due(t) {
            t.checkpoint("iter")?;
        }
        Ok(())
    }
    fn after_epoch(&mut self, t: &Trainer) -> Result<()> {
        let (spec, epoch) = (t.spec(), t.position().epoch);
        if spec.checkpoint.every > 0 && epoch.is_multiple_of(spec.checkpoint.every) {
            t.checkpoint(&format!("epoch_{epoch:04}"))?;
        }
        if epoch == spec.train.epochs {
            t.checkpoint("final")?;
        }
        Ok(())
    }
}

/// The progress bar on stderr (hidden with `--quiet` or off a terminal), and a
/// summary line per epoch when the bar is hidden.
pub struct Progress {
    bar: indicatif::ProgressBar,
    epoch: usize,
}

impl Progress {
    pub fn new(t: &Trainer) -> Progress {
        Progress {
            bar: t.progress_bar().clone(),
            epoch: 0,
        }
    }
}

impl Hook for Progress {
    fn attach(&mut self, t: &Trainer) -> Result<()> {
        self.bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        self.bar.set_position(t.position().step);
        Ok(())
    }
    fn before_step(&mut self, t: &Trainer) -> Result<()> {
        let (spec, at) = (t.spec(), t.position());
        if at.epoch != self.epoch {
            self.epoch = at.epoch;
            self.bar
                .set_prefix(format!("{} epoch {}/{}", spec.name, at.epoch, spec.train.epochs));
        }
        Ok(())
    }
    fn after_step(&mut self, t: &Trainer, s: &StepDone) -> Result<()> {
        self.bar.inc(1);
        if (t.position().iter - 1).is_multiple_of(8) {
            let s = &s.stats;
            self.bar.set_message(format!(
                "d {:.3} g {:.3} D(x) {:.2} D(G(z)) {:.2}",
                s.d_loss, s.g_loss, s.d_real, s.d_fake
            ));
        }
        Ok(())
    }
    fn after_epoch(&mut self, t: &Trainer) -> Result<()> {
        if self.bar.is_hidden() && !t.options().quiet {
            let (spec, last, at) = (t.spec(), t.last(), t.position());
            eprintln!(
                "{} epoch {}/{}: d_loss {:.4} g_loss {:.4} D(x) {:.3} D(G(z)) {:.3} ({:.1} s)",
                spec.name, at.epoch, spec.train.epochs, last.d_loss, last.g_loss, last.d_real, last.d_fake, at.seconds
            );
        }
        Ok(())
    }
    fn flush(&mut self, _t: &Trainer) -> Result<()> {
        self.bar.finish_and_clear();
        Ok(())
    }
}
