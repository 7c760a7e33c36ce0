//! `ganlab eval` (score a run or an IDX file) and `ganlab evaluator` (train, check,
//! reference rows).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::data::Mnist;
use crate::eval::score::{self, Scores};
use crate::eval::{lenet, Embedding, Evaluator};

/// Which evaluator weights to use.
#[derive(Args, Clone, Debug)]
pub struct EvaluatorArgs {
    /// Evaluator weights (default: the pinned weights built into ganlab)
    #[arg(long, value_name = "FILE")]
    pub evaluator: Option<PathBuf>,
    /// Accept --evaluator weights whose SHA-256 is not the pinned one (their numbers
    /// are then not comparable with anyone else's)
    #[arg(long)]
    pub unpinned_evaluator: bool,
    /// MNIST directory (overrides GANLAB_DATA)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Compute threads (default: all cores)
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `ganlab eval`.
#[derive(Args, Clone, Debug)]
pub struct EvalArgs {
    /// Run directory: its generator's checkpoint is scored and a row is appended to
    /// RUN/eval.parquet
    #[arg(required_unless_present = "images", conflicts_with = "images")]
    pub run: Option<PathBuf>,
    /// Score external samples: an IDX images file ([n, 28, 28] u8, plain or .gz)
    #[arg(long, value_name = "FILE")]
    pub images: Option<PathBuf>,
    /// IDX labels file for --images: the digit each image was drawn for (adds class accuracy)
    #[arg(long, value_name = "FILE", requires = "images")]
    pub labels: Option<PathBuf>,
    /// Images to draw from the run (default 10000) or to take from --images (default all)
    #[arg(long)]
    pub n: Option<usize>,
    /// Seed of the generator's noise and of the KID subsets
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Generator checkpoint of the run: `final`, `interrupted`, `epoch_NNNN`, `iter`
    #[arg(long, default_value = "final")]
    pub checkpoint: String,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also write the images drawn from the run as an IDX file (gzip when it ends in
    /// .gz; ACGAN's labels go beside it as NAME_labels.idx[.gz])
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    pub save_images: Option<PathBuf>,
    #[command(flatten)]
    pub ev: EvaluatorArgs,
}

#[derive(Subcommand, Clone, Debug)]
pub enum EvaluatorCmd {
    /// Train the evaluator CNN on MNIST train (deterministic for a seed and thread count)
    Train {
        /// Where to write the weights (safetensors)
        #[arg(short, long, default_value = "evaluator.safetensors")]
        output: PathBuf,
        #[arg(long, default_value_t = lenet::TrainConfig::default().seed)]
        seed: u64,
        #[arg(long, default_value_t = lenet::TrainConfig::default().epochs)]
        epochs: usize,
        /// Compute threads; the pinned weights were trained with 2
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Re-measure the evaluator's accuracy on the 10,000 MNIST test images
    Check {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        ev: EvaluatorArgs,
    },
    /// The reference rows: real train images vs the test set, and uniform noise
    Reference {
        #[arg(long, default_value_t = 10_000)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// One JSON object per row instead of a Markdown table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        ev: EvaluatorArgs,
    },
}

fn open(a: &EvaluatorArgs) -> Result<(Evaluator, Mnist)> {
    crate::runtime::set_threads(a.threads);
    let ev = Evaluator::open(a.evaluator.as_deref(), a.unpinned_evaluator)?;
    let mnist = Mnist::open(a.data_dir.as_deref(), None, true)?;
    Ok((ev, mnist))
}

fn show(s: &Scores, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(s)?);
    } else {
        print!("{}", s.table());
    }
    Ok(())
}

/// `ganlab eval`: a file of images (`--images`) or a run's generator.
pub fn eval(a: EvalArgs) -> Result<()> {
    let (ev, mnist) = open(&a.ev)?;
    crate::runtime::on_pool(|| -> Result<()> {
        let reference = ev.embed(&mnist.test.images, !a.json)?;
        match &a.images {
            Some(path) => eval_images(&a, &ev, &reference, path),
            None => eval_run(&a, &ev, &reference),
        }
    })
}

/// Score the first `--n` images of an IDX file (with `--labels`, their classes too).
fn eval_images(a: &EvalArgs, ev: &Evaluator, reference: &Embedding, path: &Path) -> Result<()> {
    let mut images = crate::eval::idx::read_images(path)?;
    let mut labels = match &a.labels {
        Some(l) => Some(crate::eval::idx::read_labels(l)?),
        None => None,
    };
    let total = images.len() / crate::data::PIXELS;
    if let (Some(l), Some(lp)) = (&labels, &a.labels) {
        if l.len() != total {
            bail!(
                "{} holds {} labels but {} holds {total} images; they must match one to one",
                lp.display(),
                l.len(),
                path.display()
            );
        }
    }
    let n = a.n.unwrap_or(total);
    if n == 0 || n > total {
        bail!("--n {n}: {} holds {total} images", path.display());
    }
    images.truncate(n * crate::data::PIXELS);
    if let Some(l) = labels.as_mut() {
        l.truncate(n);
    }
    let source = path.display().to_string();
    let s = score::score(ev, reference, &images, labels.as_deref(), &source, a.seed, !a.json)?;
    show(&s, a.json)
}

/// Draw `--n` images from a run's checkpoint, score them and append the row to the
/// run's `eval.parquet` (and save them with `--save-images`).
fn eval_run(a: &EvalArgs, ev: &Evaluator, reference: &Embedding) -> Result<()> {
    let run = a.run.as_deref().context("give a run directory or --images FILE")?;
    if crate::run::Manifest::read(run).is_ok_and(|m| m.engine.is_some()) {
        let labels = run.join("samples/final_labels.idx.gz");
        bail!(
            "{} is a reference run (the article's own code): there is no ganlab generator to draw from. \
             Its final samples were scored into its eval.parquet (checkpoint `final`); to score them again: \
             ganlab eval --images {}{}",
            run.display(),
            run.join("samples/final.idx.gz").display(),
            if labels.is_file() {
                format!(" --labels {}", labels.display())
            } else {
                String::new()
            }
        );
    }
    let n = a.n.unwrap_or(crate::data::MNIST_TEST);
    let drawn = score::draw_from_run(run, &a.checkpoint, n, a.seed, !a.json)?;
    let source = format!("{} (checkpoint {}, seed {})", run.display(), a.checkpoint, a.seed);
    let s = score::score(
        ev,
        reference,
        &drawn.images,
        drawn.labels.as_deref(),
        &source,
        a.seed,
        !a.json,
    )?;
    let out = score::append_parquet(run, &a.checkpoint, &s)?;
    if let Some(p) = &a.save_images {
        crate::eval::idx::write_images(p, &drawn.images)?;
        if let Some(l) = &drawn.labels {
            crate::eval::idx::write_labels(&labels_path(p), l)?;
        }
    }
    show(&s, a.json)?;
    if !a.json {
        println!("{}", out.display());
    }
    Ok(())
}

/// `final.idx.gz` -> `final_labels.idx.gz` (beside the images file).
pub fn labels_path(images: &Path) -> PathBuf {
    let name = images
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (stem, ext) = match name.find(".idx") {
        Some(i) => (&name[..i], &name[i..]),
        None => (name.as_str(), ""),
    };
    images.with_file_name(format!("{stem}_labels{ext}"))
}

/// `ganlab evaluator ...`.
pub fn evaluator(cmd: EvaluatorCmd) -> Result<()> {
    match cmd {
        EvaluatorCmd::Train {
            output,
            seed,
            epochs,
            threads,
            data_dir,
        } => train(&output, seed, epochs, threads, data_dir.as_deref()),
        EvaluatorCmd::Check { json, ev } => {
            let (ev, mnist) = open(&ev)?;
            let acc = crate::runtime::on_pool(|| ev.accuracy(&mnist.test.images, &mnist.test.labels, !json))?;
            if json {
                println!(
                    "{}",
                    json!({
                        "test_accuracy": acc,
                        "test_images": mnist.test.len(),
                        "evaluator_sha256": ev.sha256,
                        "evaluator_pinned": ev.pinned,
                    })
                );
            } else {
                println!("evaluator {}", ev.tag());
                println!(
                    "test accuracy: {:.2}% ({} MNIST test images)",
                    100.0 * acc,
                    mnist.test.len()
                );
            }
            if acc < 0.99 {
                bail!("the evaluator's test accuracy {:.2}% is under 99.0%", 100.0 * acc);
            }
            Ok(())
        }
        EvaluatorCmd::Reference { n, seed, json, ev } => {
            let (ev, mnist) = open(&ev)?;
            crate::runtime::on_pool(|| reference(&ev, &mnist, n, seed, json))
        }
    }
}

fn train(output: &Path, seed: u64, epochs: usize, threads: usize, data_dir: Option<&Path>) -> Result<()> {
    if epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    crate::runtime::set_threads(Some(threads));
    let mnist = Mnist::open(data_dir, None, true)?;
    let cfg = lenet::TrainConfig {
        seed,
        epochs,
        ..Default::default()
    };
    let t0 = Instant::now();
    let net = crate::runtime::on_pool(|| {
        lenet::train(&cfg, &mnist.train, &candle_core::Device::Cpu, |e, loss| {
            eprintln!(
                "epoch {e}/{epochs}: mean loss {loss:.4} ({:.0} s)",
                t0.elapsed().as_secs_f64()
            );
        })
    })?;
    let secs = t0.elapsed().as_secs_f64();
    net.params.save(output)?;
    let bytes = std::fs::read(output).with_context(|| format!("cannot read back {}", output.display()))?;
    let ev = Evaluator::from_bytes(&bytes, &output.display().to_string(), true)?;
    let acc = crate::runtime::on_pool(|| ev.accuracy(&mnist.test.images, &mnist.test.labels, true))?;
    println!(
        "trained in {secs:.0} s ({threads} threads, seed {seed}, {epochs} epochs); test accuracy {:.2}%",
        100.0 * acc
    );
    println!("SHA-256 {}", ev.sha256);
    if ev.pinned {
        println!("these are the pinned weights, byte for byte");
    } else {
        println!(
            "not the pinned weights ({}); to pin them: copy to assets/evaluator.safetensors and set \
             src/eval/pinned.rs SHA256",
            crate::eval::pinned::SHA256
        );
    }
    println!("{}", output.display());
    Ok(())
}

fn reference(ev: &Evaluator, mnist: &Mnist, n: usize, seed: u64, json: bool) -> Result<()> {
    if n == 0 || n > mnist.train.len() {
        bail!("--n must be between 1 and {}", mnist.train.len());
    }
    let rows = score::reference_scores(ev, mnist, n, seed, !json)?;
    if json {
        for s in &rows {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(());
    }
    println!("{}", markdown_header());
    for s in &rows {
        println!("{}", markdown_row(s));
    }
    println!("\nevaluator_sha256 {}", ev.sha256);
    Ok(())
}

/// The header of the README's metric tables.
pub fn markdown_header() -> String {
    "| images | n | FID | KID | IS | precision | recall | classes | class KL | class acc. |\n\
     | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        .to_string()
}

/// One row of the README's metric tables.
pub fn markdown_row(s: &Scores) -> String {
    format!(
        "| {} | {} | {:.2} | {:.4} ± {:.4} | {:.2} ± {:.2} | {:.3} | {:.3} | {} | {:.3} | {} |",
        s.source,
        s.n,
        s.fid,
        s.kid,
        s.kid_std,
        s.inception_score,
        s.inception_score_std,
        s.precision,
        s.recall,
        s.classes_covered,
        s.class_kl,
        s.class_accuracy.map_or("-".to_string(), |a| format!("{:.4}", a))
    )
}
