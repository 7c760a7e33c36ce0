//! `Lab`: a run trained from notebook cells. Change a setting in one cell, train a few
//! hundred iterations, look, train on; put two labs side by side. Every lab trains
//! a normal run directory (under `$GANLAB_RUNS/labs/`, default `runs/labs/`, apart
//! from the runs the notebooks show) that `ganlab report`, `ganlab eval` and `ganlab
//! resume` read.
//!
//! ```text
//! let mut lab = Lab::new("../experiments/tanh_cnn_sgd.yaml")?.profile("quick")?.set("optim.g.lr", "0.0005")?;
//! lab.train_iters(200)?;
//! lab.show_samples(16)?;
//! lab.show_curves()?;
//! println!("{}", lab.d_outputs(100)?);
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};

use crate::data::Mnist;
use crate::spec::Spec;
use crate::train::{RunOptions, Trainer};

/// MNIST, read once per notebook session.
fn mnist(spec: &Spec) -> Result<Arc<Mnist>> {
    static DATA: OnceLock<Arc<Mnist>> = OnceLock::new();
    if let Some(d) = DATA.get() {
        return Ok(d.clone());
    }
    let d = Arc::new(Mnist::open(None, spec.data.dir.as_deref(), false)?);
    Ok(DATA.get_or_init(|| d).clone())
}

/// Where lab runs go: `$GANLAB_RUNS/labs`, default `runs/labs`.
fn runs_dir() -> PathBuf {
    std::env::var_os("GANLAB_RUNS")
        .map_or_else(|| PathBuf::from("runs"), PathBuf::from)
        .join("labs")
}

/// A spec with a profile and overrides, and, once it has trained, its run.
pub struct Lab {
    spec_file: String,
    profile: Option<String>,
    sets: Vec<String>,
    spec: Spec,
    trainer: Option<Trainer>,
}

impl Lab {
    /// A lab of the spec as the article set it up (no profile, no overrides yet).
    pub fn new(spec_file: &str) -> Result<Lab> {
        let spec = Spec::load(Path::new(spec_file), None, &[])?;
        Ok(Lab {
            spec_file: spec_file.to_string(),
            profile: None,
            sets: Vec::new(),
            spec,
            trainer: None,
        })
    }

    /// Continue a stopped run (a paused lab's, or any interrupted one) where it stopped.
    pub fn open(run_dir: &str) -> Result<Lab> {
        let dir = Path::new(run_dir);
        let spec = crate::train::run_spec(dir)?;
        let m = crate::run::Manifest::read(dir)?;
        let opts = options(&spec, &m.spec_file);
        let mut t = Trainer::restore(dir, mnist(&spec)?, opts)?;
        crate::learner::register_recording(&mut t)?;
        Ok(Lab {
            spec_file: m.spec_file,
            profile: None,
            sets: Vec::new(),
            spec,
            trainer: Some(t),
        })
    }

    fn untrained(&self, what: &str) -> Result<()> {
        if self.trainer.is_some() {
            bail!("this lab has trained already: {what} would not apply to its run; make a new Lab");
        }
        Ok(())
    }

    /// Use one of the spec's profiles (they change the budget only).
    pub fn profile(mut self, name: &str) -> Result<Lab> {
        self.untrained("a profile")?;
        self.spec = Spec::load(Path::new(&self.spec_file), Some(name), &self.sets)?;
        self.profile = Some(name.to_string());
        Ok(self)
    }

    /// Override one key, as `--set key=value` does (`value` in YAML).
    pub fn set(mut self, key: &str, value: &str) -> Result<Lab> {
        self.untrained("a setting")?;
        self.sets.push(format!("{key}={value}"));
        self.spec = Spec::load(Path::new(&self.spec_file), self.profile.as_deref(), &self.sets)?;
        Ok(self)
    }

    /// The spec's name and the overrides, e.g. `tanh_cnn_sgd optim.g.lr=0.0005`.
    pub fn label(&self) -> String {
        std::iter::once(self.spec.name.clone())
            .chain(self.sets.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The run directory, once the lab has trained.
    pub fn dir(&self) -> Result<&Path> {
        Ok(self.trainer()?.dir())
    }

    /// The trainer (model, position, run directory), once the lab has trained.
    pub fn trainer(&self) -> Result<&Trainer> {
        self.trainer
            .as_ref()
            .context("this lab has not trained yet (train_iters or train_epochs first)")
    }

    fn start(&mut self) -> Result<&mut Trainer> {
        if self.trainer.is_none() {
            let opts = options(&self.spec, &self.spec_file);
            let mut t = Trainer::create(&self.spec, mnist(&self.spec)?, opts)?;
            crate::learner::register_recording(&mut t)?;
            println!("{}: training into {}", self.label(), super::shown(t.dir()).display());
            self.trainer = Some(t);
        }
        Ok(self.trainer.as_mut().expect("started above"))
    }

    /// Train `n` more iterations (fewer where the budget ends), printing progress
    /// about five times; the run is then paused (`ganlab resume` can continue it) or,
    /// at the end of its budget, completed.
    pub fn train_iters(&mut self, n: usize) -> Result<()> {
        let label = self.label();
        let t = self.start()?;
        let chunk = (n / 5).max(1);
        let mut left = n;
        while left > 0 && !t.done() {
            let done = t.train_iters(chunk.min(left))?;
            left -= done;
            let (at, s) = (t.position(), t.last());
            println!(
                "{label}: step {} (epoch {}, {}/{} iterations) d_loss {:.4} g_loss {:.4} D(x) {:.3} D(G(z)) {:.3} ({:.1} s)",
                at.step,
                at.epoch.min(t.spec().train.epochs),
                if at.iter == 0 { t.iters_per_epoch() } else { at.iter },
                t.iters_per_epoch(),
                s.d_loss,
                s.g_loss,
                s.d_real,
                s.d_fake,
                at.seconds
            );
        }
        if t.done() && left > 0 {
            println!(
                "{label}: the budget of {} epochs is done ({} iterations left untrained); set train.epochs higher for more",
                t.spec().train.epochs,
                left
            );
        }
        t.pause()
    }

    /// Train `n` more epochs' worth of iterations.
    pub fn train_epochs(&mut self, n: usize) -> Result<()> {
        let ipe = self.spec.iters_per_epoch(mnist(&self.spec)?.train.len());
        self.train_iters(n * ipe)
    }

    /// `n` images from G, `[n, 784]` in the data's scale, from the seed's samples
    /// stream (the same noise every call, as the run's grids).
    pub fn generate(&self, n: usize) -> Result<Tensor> {
        let t = self.trainer()?;
        let z = crate::rng::noise(
            &self.spec.noise,
            n,
            &mut crate::rng::stream(self.spec.seed, crate::rng::Stream::Samples),
            &Device::Cpu,
        )?;
        t.model().generate(&z)
    }

    /// A grid of `n` samples (ACGAN: class `k % 10` for image `k`), saved in the run as
    /// `samples/lab_step_NNNNNN.png` and shown.
    pub fn show_samples(&self, n: usize) -> Result<()> {
        super::show_png(&self.grid(n)?)
    }

    /// [`Lab::show_samples`]'s grid, written; its path.
    pub fn grid(&self, n: usize) -> Result<PathBuf> {
        let t = self.trainer()?;
        let cols = if self.spec.model.variant == crate::spec::Variant::Acgan {
            10
        } else {
            (n as f64).sqrt().ceil() as usize
        };
        let rows = n.div_ceil(cols);
        let images = self.generate(rows * cols)?.flatten_all()?.to_vec1::<f32>()?;
        let path = t
            .dir()
            .join("samples")
            .join(format!("lab_step_{:06}.png", t.position().step));
        crate::plot::sample_grid(
            &images,
            rows,
            cols,
            self.spec.data.scale,
            self.spec.samples.style,
            &path,
        )?;
        Ok(path)
    }

    /// The run's loss and D-output curves.
    pub fn show_curves(&self) -> Result<()> {
        super::show_curves(self.dir()?)
    }

    /// D's probability of "real", in inference mode, on the first `n` MNIST test
    /// images (in the spec's scale) and on `n` of G's samples.
    pub fn d_outputs(&self, n: usize) -> Result<DOutputs> {
        let t = self.trainer()?;
        let test = &t.data().test;
        let idx: Vec<usize> = (0..n.min(test.len())).collect();
        let real = crate::train::make_batch(test, &idx, self.spec.data.scale, &Device::Cpu)?;
        Ok(DOutputs {
            real: t.model().d_prob(&real.images)?.to_vec1()?,
            fake: t.model().d_prob(&self.generate(n)?)?.to_vec1()?,
        })
    }
}

impl Lab {
    /// The pinned evaluator's scores of `n` samples (FID, IS, precision, recall;
    /// ACGAN: the class accuracy of its conditional samples), as `ganlab eval` gives.
    pub fn score(&self, n: usize) -> Result<crate::eval::score::Scores> {
        use crate::eval::score;
        let t = self.trainer()?;
        let ev = crate::eval::Evaluator::pinned()?;
        let reference = ev.embed(&t.data().test.images, false)?;
        let mut r = crate::rng::stream(self.spec.seed, crate::rng::Stream::Samples);
        let drawn = score::draw(t.model(), &self.spec, n, &mut r, &indicatif::ProgressBar::hidden())?;
        let source = format!("{} at step {}", self.label(), t.position().step);
        let s = score::score(
            &ev,
            &reference,
            &drawn.images,
            drawn.labels.as_deref(),
            &source,
            self.spec.seed,
            false,
        )?;
        let acc = s
            .class_accuracy
            .map_or(String::new(), |a| format!(", class accuracy {:.1} %", 100.0 * a));
        println!(
            "{source}: FID {:.2}, IS {:.2}, precision {:.3}, recall {:.3}, {} classes{acc} ({n} samples)",
            s.fid, s.inception_score, s.precision, s.recall, s.classes_covered
        );
        Ok(s)
    }
}

/// The run's options; sets the compute threads (the spec's, else all cores).
fn options(spec: &Spec, spec_file: &str) -> RunOptions {
    RunOptions {
        out: runs_dir(),
        spec_file: spec_file.to_string(),
        threads: crate::runtime::set_threads(spec.threads),
        device: Device::Cpu,
        quiet: false,
    }
}

/// D's outputs on real and generated images; prints as a short summary.
pub struct DOutputs {
    pub real: Vec<f32>,
    pub fake: Vec<f32>,
}

impl std::fmt::Display for DOutputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, v) in [("D(x) on test images", &self.real), ("D(G(z)) on samples", &self.fake)] {
            let mut s = v.clone();
            s.sort_by(f32::total_cmp);
            let q = |p: f64| {
                s.get(((s.len() - 1) as f64 * p).round() as usize)
                    .copied()
                    .unwrap_or(f32::NAN)
            };
            let mean = s.iter().sum::<f32>() / s.len().max(1) as f32;
            writeln!(
                f,
                "{name:<20} n {:>4}  mean {mean:.3}  min {:.3}  quartiles {:.3} {:.3} {:.3}  max {:.3}  > 0.5: {:.0} %",
                s.len(),
                q(0.0),
                q(0.25),
                q(0.5),
                q(0.75),
                q(1.0),
                100.0 * s.iter().filter(|&&p| p > 0.5).count() as f64 / s.len().max(1) as f64
            )?;
        }
        Ok(())
    }
}

/// Labs side by side: their curves overlaid (labelled by [`Lab::label`]) and a grid
/// of `n` samples of each.
pub fn show_labs(labs: &[&Lab], n: usize) -> Result<()> {
    let logs = labs
        .iter()
        .map(|l| {
            Ok((
                l.label(),
                crate::log::MetricsLog::read(&l.dir()?.join("metrics.parquet"))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let svgs = crate::report::CURVES
        .into_iter()
        .map(|(label, pick)| crate::report::overlay_svg(&logs, pick, label))
        .collect::<Result<Vec<_>>>()?;
    super::display("image/svg+xml", &super::stack_svgs(&svgs)?);
    let mut html = String::from("<div style=\"display:flex;gap:16px;flex-wrap:wrap\">");
    for l in labs {
        let g = l.grid(n)?;
        let png = std::fs::read(&g).with_context(|| format!("cannot read {}", g.display()))?;
        html.push_str(&format!(
            "<figure style=\"margin:0\"><img src=\"data:image/png;base64,{}\"/><figcaption>{} (step {})</figcaption></figure>",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, png),
            super::esc(&l.label()),
            l.trainer()?.position().step
        ));
    }
    html.push_str("</div>");
    super::show_html(&html);
    Ok(())
}
