//! `ganlab reference`: train the article's own code (Keras on tf_keras, or PyTorch)
//! for a resolved spec's budget and make a ganlab run directory of it, so that every
//! other command (`list`, `eval`, `report`, the notebooks) reads it beside ganlab's
//! runs of the same spec.
//!
//! The training is `parity/reference.py` (the same article code as the step-parity
//! drivers), seeded with the framework's own generators. ganlab then turns what it
//! wrote into the run's files: `metrics.parquet` (the article's per-step losses,
//! `d_real`, `d_fake` and extras), the sample grids (drawn by ganlab from the
//! reference generator's images, in the spec's style), `eval.parquet` (the pinned
//! evaluator on `eval.samples` images after every `eval.every_epochs` epoch, and on
//! the final 10,000 as checkpoint `final`), ACGAN's `epochs.parquet`, and
//! `samples/final.idx.gz`, the final samples that `ganlab eval --images` rescores.
//! The manifest's `engine` says which code ran, so no report takes a reference run
//! for one of ganlab's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::data::{Mnist, MNIST_TRAIN, PIXELS};
use crate::eval::{score, Evaluator};
use crate::log::{EpochTable, MetricsLog, Row};
use crate::parity::Framework;
use crate::run::{Engine, Manifest, Status};
use crate::spec::{Spec, Variant};

/// Images of the final generator written to `samples/final.idx.gz` and scored.
pub const FINAL_SAMPLES: usize = 10_000;

/// The article number and code file of a variant.
pub fn article(variant: Variant) -> (&'static str, &'static str, &'static str) {
    match variant {
        Variant::MlpKeras => ("000", "Keras vanilla MLP GAN", "parity/keras_articles.py"),
        Variant::TanhCnn => ("001", "keras-dcgan notebook", "parity/keras_articles.py"),
        Variant::MlpPytorch => ("002", "PyTorch MLP GAN", "parity/torch_article.py"),
        Variant::Acgan => ("003", "Keras mnist_acgan.py", "parity/keras_articles.py"),
        Variant::Dcgan => ("004", "Keras DCGAN with Conv2DTranspose", "parity/keras_articles.py"),
    }
}

pub struct Options {
    pub out: PathBuf,
    pub spec_file: String,
    pub python: Option<PathBuf>,
    pub threads: usize,
    pub quiet: bool,
}

/// Steps a running reference run has logged so far (its driver's `steps.csv`).
pub fn steps_so_far(run: &Path) -> u64 {
    std::fs::read_to_string(run.join("reference/steps.csv")).map_or(0, |t| t.lines().count().saturating_sub(1) as u64)
}

/// The Python to use: `--python`, else the framework's variable, else `python3`;
/// refused up front (before any directory is made) when it lacks the framework.
pub fn python_for(variant: Variant, given: Option<PathBuf>) -> Result<PathBuf> {
    let (_, framework) = crate::parity::driver(variant);
    let py = given
        .or_else(|| framework.python_from_env())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let probe = match framework {
        Framework::Torch => "import torch, numpy",
        Framework::TfKeras => "import tensorflow, tf_keras, numpy",
    };
    let ok = Command::new(&py)
        .args(["-c", probe])
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        bail!(
            "{} cannot run the article's code: it needs {}; give one that has them with --python PY or {} \
             (e.g. python3 -m venv /tmp/peers && /tmp/peers/bin/pip install {})",
            py.display(),
            framework.needs(),
            framework.python_var(),
            match framework {
                Framework::Torch => "torch numpy safetensors",
                Framework::TfKeras => "tensorflow-cpu tf-keras numpy safetensors",
            }
        );
    }
    Ok(py)
}

/// The epochs (1-based) that get a sample grid and a quality score.
fn schedule(spec: &Spec) -> (Vec<usize>, Vec<usize>) {
    let e = spec.train.epochs;
    let grid = (1..=e).filter(|&k| spec.grid_at(k)).collect();
    let every = spec.eval.every_epochs;
    let eval = if every == 0 {
        Vec::new()
    } else {
        (1..=e).filter(|k| k % every == 0).collect()
    };
    (grid, eval)
}

/// The variables of this process's environment (which the driver inherits) that change
/// `framework`'s numerics, for the manifest: TensorFlow's oneDNN switch, also when unset.
pub fn numerics_environment(framework: Framework) -> BTreeMap<String, String> {
    match framework {
        Framework::TfKeras => {
            let v =
                std::env::var(crate::run::ONEDNN).unwrap_or_else(|_| "unset (TensorFlow's default: oneDNN on)".into());
            BTreeMap::from([(crate::run::ONEDNN.to_string(), v)])
        }
        Framework::Torch => BTreeMap::new(),
    }
}

/// Train the article's own code for `spec`'s budget into a new run directory.
pub fn reference(spec: &Spec, data: &Mnist, opts: &Options) -> Result<PathBuf> {
    let python = python_for(spec.model.variant, opts.python.clone())?;
    let script = crate::run::project_file("parity/reference.py")?;
    let dir = crate::run::create_run_dir(&opts.out, spec)?;
    let (num, title, code) = article(spec.model.variant);
    std::fs::write(dir.join("config.yaml"), spec.to_yaml())?;
    let engine = Engine {
        kind: "reference".into(),
        article: format!("{num} {title}"),
        framework: "(starting)".into(),
        driver: format!("parity/reference.py + {code}"),
        seeding: BTreeMap::new(),
        python: python.display().to_string(),
        environment: numerics_environment(crate::parity::driver(spec.model.variant).1),
    };
    let mut manifest = Manifest::start(
        spec,
        &opts.spec_file,
        opts.threads,
        "cpu".into(),
        &data.dir,
        Some(engine),
    );
    manifest.write(&dir)?;
    match train_and_import(spec, data, opts, &python, &script, &dir, &mut manifest) {
        Ok(()) => {
            manifest.status = Status::Completed;
            manifest.ended = Some(crate::run::now());
            manifest.write(&dir)?;
            Ok(dir)
        }
        Err(e) => {
            // Ctrl-C or SIGTERM reach the article's code too (one process group); the
            // run then stops as interrupted, with the steps it logged imported.
            let stopped = crate::run::STOP.load(std::sync::atomic::Ordering::SeqCst);
            manifest.status = if stopped { Status::Interrupted } else { Status::Failed };
            manifest.ended = Some(crate::run::now());
            manifest.error = Some(format!("{e:#}"));
            manifest.write(&dir)?;
            let what = if stopped { "interrupted" } else { "failed" };
            Err(e.context(format!("reference run {} {what}", dir.display())))
        }
    }
}

fn train_and_import(
    spec: &Spec,
    data: &Mnist,
    opts: &Options,
    python: &Path,
    script: &Path,
    dir: &Path,
    manifest: &mut Manifest,
) -> Result<()> {
    let work = dir.join("reference");
    std::fs::create_dir_all(&work)?;
    let (grid_epochs, eval_epochs) = schedule(spec);
    let iters = spec.iters_per_epoch(MNIST_TRAIN);
    let (num, _, _) = article(spec.model.variant);
    let cfg = serde_json::json!({
        "article": num,
        "spec": spec.name,
        "seed": spec.seed,
        "epochs": spec.train.epochs,
        "iters_per_epoch": iters,
        "batch_size": spec.train.batch_size,
        "latent": spec.noise.dim,
        "dropout": spec.model.dropout,
        "data_dir": data.dir,
        "threads": opts.threads,
        "grid_epochs": grid_epochs,
        "grid_n": spec.samples.rows * spec.samples.cols,
        "eval_epochs": eval_epochs,
        "eval_n": spec.eval.samples,
        "final_n": FINAL_SAMPLES,
        "test_size": spec.eval.test_size,
    });
    std::fs::write(work.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
    if !opts.quiet {
        eprintln!(
            "reference run of {} ({} epochs of {iters} iterations) with {}: the article's own code",
            spec.name,
            spec.train.epochs,
            python.display()
        );
    }
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(work.join("config.json"))
        .arg(&work)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .env("PYTHONUNBUFFERED", "1");
    if opts.quiet {
        cmd.stdout(std::process::Stdio::null());
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", python.display()))?;
    // Whatever the driver wrote is imported, also after a failure (the steps so far).
    let imported = crate::runtime::on_pool(|| import(spec, data, dir, &work, manifest, opts.quiet));
    if !status.success() {
        bail!(
            "the article's code stopped with {status} (its output above; its files in {})",
            work.display()
        );
    }
    imported
}

/// Turn the driver's files in `work` into the run's files in `dir`.
fn import(spec: &Spec, data: &Mnist, dir: &Path, work: &Path, manifest: &mut Manifest, quiet: bool) -> Result<()> {
    let steps = work.join("steps.csv");
    if steps.is_file() {
        let log = read_steps(&steps, spec.train.batch_size)?;
        log.flush(&dir.join("metrics.parquet"))?;
        crate::plot::training_curves(&log.rows, &dir.join("plots"), &spec.name)?;
        manifest.steps_done = log.rows.last().map_or(0, |r| r.step);
        manifest.epochs_done = log.rows.last().map_or(0, |r| r.epoch as usize);
    }
    if let (Ok(info), Some(e)) = (
        std::fs::read_to_string(work.join("info.json")),
        manifest.engine.as_mut(),
    ) {
        read_info(&info, e)?;
    }
    let epochs_csv = work.join("epochs.csv");
    if epochs_csv.is_file() {
        read_epochs(&epochs_csv)?.flush(&dir.join("epochs.parquet"))?;
    }
    let mut scorer = Scorer {
        spec,
        data,
        dir,
        quality: None,
    };
    for e in 1..=spec.train.epochs {
        let grid = work.join(format!("samples/grid_{e:04}.idx"));
        if grid.is_file() {
            let images = crate::eval::idx::read_images(&grid)?;
            let x: Vec<f32> = images.iter().map(|&v| spec.data.scale.apply(v)).collect();
            let (rows, cols) = (spec.samples.rows, spec.samples.cols);
            let png = dir.join(format!("samples/epoch_{e:04}.png"));
            crate::plot::sample_grid(&x, rows, cols, spec.data.scale, spec.samples.style, &png)?;
            std::fs::remove_file(&grid)?;
        }
        let eval = work.join(format!("samples/eval_{e:04}.idx"));
        if eval.is_file() {
            let s = scorer.score(&crate::eval::idx::read_images(&eval)?, &format!("epoch_{e:04}"))?;
            if !quiet {
                let sha = &s.evaluator_sha256;
                eprintln!(
                    "epoch {e} quality (evaluator {sha}): FID {:.2} IS {:.2}",
                    s.fid, s.inception_score
                );
            }
            std::fs::remove_file(&eval)?;
        }
    }
    let fin = work.join("final.idx");
    if fin.is_file() {
        let images = crate::eval::idx::read_images(&fin)?;
        let s = scorer.score(&images, "final")?;
        if !quiet {
            eprintln!("{}", s.table());
        }
        crate::eval::idx::write_images(&dir.join("samples/final.idx.gz"), &images)?;
        if let Some(l) = scorer.labels(images.len() / PIXELS) {
            crate::eval::idx::write_labels(&dir.join("samples/final_labels.idx.gz"), &l)?;
        }
        std::fs::remove_file(&fin)?;
    }
    Ok(())
}

/// The driver's `info.json` (framework, versions, seeding) into the manifest's engine.
fn read_info(info: &str, e: &mut Engine) -> Result<()> {
    let info: serde_json::Value = serde_json::from_str(info)?;
    e.framework = info["framework"].as_str().unwrap_or("?").to_string();
    if let Some(m) = info["seeding"].as_object() {
        e.seeding = m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
    }
    Ok(())
}

/// Scores sample files with the pinned evaluator (loaded at the first) into the run's
/// `eval.parquet`.
struct Scorer<'a> {
    spec: &'a Spec,
    data: &'a Mnist,
    dir: &'a Path,
    quality: Option<(Evaluator, crate::eval::Embedding)>,
}

impl Scorer<'_> {
    /// ACGAN draws digit k % 10 for image k.
    fn labels(&self, n: usize) -> Option<Vec<u8>> {
        (self.spec.model.variant == Variant::Acgan).then(|| (0..n).map(|k| (k % 10) as u8).collect())
    }

    fn score(&mut self, images: &[u8], tag: &str) -> Result<score::Scores> {
        if self.quality.is_none() {
            let ev = Evaluator::pinned()?;
            let reference = ev.embed(&self.data.test.images, false)?;
            self.quality = Some((ev, reference));
        }
        let labels = self.labels(images.len() / PIXELS);
        let (ev, reference) = self.quality.as_ref().expect("set above");
        let s = score::score(ev, reference, images, labels.as_deref(), tag, self.spec.seed, false)?;
        score::append_parquet(self.dir, tag, &s)?;
        Ok(s)
    }
}

/// The driver's `steps.csv` as metrics rows (extras keep ganlab's column names).
fn read_steps(path: &Path, batch: usize) -> Result<MetricsLog> {
    const EXTRAS: [&str; 5] = [
        "d_acc",
        "d_generation_loss",
        "d_auxiliary_loss",
        "g_generation_loss",
        "g_auxiliary_loss",
    ];
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("steps.csv is empty")?.split(',').collect();
    let extra_names: Vec<&'static str> = header[8..]
        .iter()
        .map(|h| {
            EXTRAS
                .iter()
                .find(|e| *e == h)
                .copied()
                .with_context(|| format!("{}: unknown column {h}", path.display()))
        })
        .collect::<Result<_>>()?;
    let mut log = MetricsLog::default();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != header.len() {
            // The last line of a killed driver may be cut short.
            continue;
        }
        let num = |k: usize| -> Result<f64> {
            f[k].parse::<f64>()
                .with_context(|| format!("{} line {}: `{}` is not a number", path.display(), i + 2, f[k]))
        };
        let seconds = num(7)?;
        log.push(Row {
            step: num(0)? as u64,
            epoch: num(1)? as u32,
            iter: num(2)? as u32,
            d_loss: num(3)? as f32,
            g_loss: num(4)? as f32,
            d_real: num(5)? as f32,
            d_fake: num(6)? as f32,
            seconds,
            images_per_s: if seconds > 0.0 { batch as f64 / seconds } else { 0.0 },
            extra: extra_names
                .iter()
                .enumerate()
                .map(|(k, n)| Ok((*n, num(8 + k)? as f32)))
                .collect::<Result<_>>()?,
        });
    }
    Ok(log)
}

/// ACGAN's per-epoch table from the driver's `epochs.csv`.
fn read_epochs(path: &Path) -> Result<EpochTable> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .context("epochs.csv is empty")?
        .split(',')
        .map(str::to_string)
        .collect();
    let mut t = EpochTable::default();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != header.len() {
            continue;
        }
        let values = header[2..]
            .iter()
            .zip(&f[2..])
            .map(|(n, v)| Ok((n.clone(), v.parse::<f32>()?)))
            .collect::<Result<Vec<_>>>()?;
        t.rows.push((f[0].parse()?, f[1].to_string(), values));
    }
    Ok(t)
}
