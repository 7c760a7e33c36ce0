//! Scoring a set of images with every metric against the MNIST test set, where the
//! images come from (a run's generator, an IDX file, MNIST itself, noise), and
//! where the scores go (a table, one JSON object, a row of `eval.parquet`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use candle_core::Device;
use indicatif::ProgressBar;
use polars::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{metrics, prd, Embedding, Evaluator, CLASSES, FEATURES, FEATURE_LAYER};
use crate::data::PIXELS;
use crate::models::Gan;
use crate::spec::{Spec, Variant};

/// KID subsets and their size (Binkowski et al. 2018 use 100 subsets of 1,000).
pub const KID_SUBSETS: usize = 100;
pub const KID_SUBSET_SIZE: usize = 1000;
/// Splits of the Inception Score.
pub const IS_SPLITS: usize = 10;
/// Images a generator draws per forward pass.
const GEN_CHUNK: usize = 500;

/// Every metric of one set of images, with what produced it.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    /// What was scored (a run and checkpoint, a file, a reference set).
    pub source: String,
    pub n: usize,
    pub fid: f64,
    pub kid: f64,
    pub kid_std: f64,
    pub inception_score: f64,
    pub inception_score_std: f64,
    pub precision: f64,
    pub recall: f64,
    pub classes_covered: usize,
    pub class_kl: f64,
    pub class_counts: [usize; CLASSES],
    /// The evaluator's accuracy on the labels the images were drawn for
    /// (conditional models and labelled files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_accuracy: Option<f64>,
    /// Images of the reference set (the MNIST test set).
    pub reference_n: usize,
    pub feature_layer: &'static str,
    pub evaluator_sha256: String,
    pub evaluator_pinned: bool,
    /// Seed of the KID subsets and of the generator's noise.
    pub seed: u64,
}

/// All metrics of `images` (`n * 784` grey levels; `labels` the classes they were
/// drawn for, if any) against the reference embedding.
pub fn score(
    ev: &Evaluator,
    reference: &Embedding,
    images: &[u8],
    labels: Option<&[u8]>,
    source: &str,
    seed: u64,
    show_progress: bool,
) -> Result<Scores> {
    let e = ev.embed(images, show_progress)?;
    score_embedding(ev, reference, &e, labels, source, seed)
}

/// As [`score`] on an embedding already computed.
pub fn score_embedding(
    ev: &Evaluator,
    reference: &Embedding,
    e: &Embedding,
    labels: Option<&[u8]>,
    source: &str,
    seed: u64,
) -> Result<Scores> {
    let n = e.len();
    if let Some(l) = labels {
        if l.len() != n {
            bail!("{source}: {} labels for {n} images", l.len());
        }
    }
    // A FID the eigensolver cannot give is NaN in the row, with a warning, so that
    // the other metrics (and a training run scoring as it goes) are not lost; a set
    // too small to fit is still an error.
    let (fake, real) = (
        metrics::Gaussian::fit(&e.features, FEATURES)?,
        metrics::Gaussian::fit(&reference.features, FEATURES)?,
    );
    let fid = metrics::frechet_distance(&fake, &real).unwrap_or_else(|err| {
        eprintln!("warning: {source}: FID not computed (NaN in the row): {err:#}");
        f64::NAN
    });
    let mut rng = crate::rng::stream(seed, crate::rng::Stream::Data);
    let kid = metrics::kid(
        &e.features,
        &reference.features,
        FEATURES,
        KID_SUBSETS,
        KID_SUBSET_SIZE,
        &mut rng,
    )?;
    let (is, is_std) = metrics::inception_score(&e.probs, IS_SPLITS)?;
    let pr = prd::precision_recall(&reference.features, &e.features, FEATURES, prd::K)?;
    let pred = e.predictions();
    let cov = metrics::coverage(&pred)?;
    Ok(Scores {
        source: source.to_string(),
        n,
        fid,
        kid: kid.mean,
        kid_std: kid.std,
        inception_score: is,
        inception_score_std: is_std,
        precision: pr.precision,
        recall: pr.recall,
        classes_covered: cov.covered,
        class_kl: cov.kl_uniform,
        class_counts: cov.counts,
        class_accuracy: labels.map(|l| metrics::class_accuracy(&pred, l)),
        reference_n: reference.len(),
        feature_layer: FEATURE_LAYER,
        evaluator_sha256: ev.sha256.clone(),
        evaluator_pinned: ev.pinned,
        seed,
    })
}

impl Scores {
    /// Whether these scores agree with a reference row to the digits it keeps.
    pub fn matches(&self, r: &super::reference::Row) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
        self.n == r.n
            && close(self.fid, r.fid)
            && close(self.kid, r.kid)
            && close(self.inception_score, r.inception_score)
            && close(self.precision, r.precision)
            && close(self.recall, r.recall)
            && self.classes_covered == r.classes_covered
            && close(self.class_kl, r.class_kl)
            && match (self.class_accuracy, r.class_accuracy) {
                (Some(a), Some(b)) => close(a, b),
                (None, None) => true,
                _ => false,
            }
    }

    /// A human-readable block; the evaluator's checksum is on its first and last line.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let pin = if self.evaluator_pinned {
            "pinned"
        } else {
            "NOT the pinned evaluator"
        };
        s += &format!(
            "evaluator {} ({pin}); features {}\n",
            self.evaluator_sha256, self.feature_layer
        );
        s += &format!(
            "{}: {} images vs MNIST test ({} images)\n",
            self.source, self.n, self.reference_n
        );
        s += &format!("  FID                {:.3}\n", self.fid);
        s += &format!(
            "  KID                {:.5} +- {:.5} ({KID_SUBSETS} subsets of {})\n",
            self.kid,
            self.kid_std,
            KID_SUBSET_SIZE.min(self.n).min(self.reference_n)
        );
        s += &format!(
            "  Inception Score    {:.3} +- {:.3} ({IS_SPLITS} splits; max 10)\n",
            self.inception_score, self.inception_score_std
        );
        s += &format!("  precision (k={})    {:.4}\n", prd::K, self.precision);
        s += &format!("  recall (k={})       {:.4}\n", prd::K, self.recall);
        s += &format!(
            "  classes covered    {}/10 (>= {:.0}% of the images each)\n",
            self.classes_covered,
            metrics::COVER_MIN_SHARE * 100.0
        );
        s += &format!("  class KL(uniform)  {:.4} nats\n", self.class_kl);
        let counts: Vec<String> = self
            .class_counts
            .iter()
            .enumerate()
            .map(|(k, c)| format!("{k}:{c}"))
            .collect();
        s += &format!("  predicted classes  {}\n", counts.join(" "));
        if let Some(a) = self.class_accuracy {
            s += &format!(
                "  class accuracy     {:.4} (evaluator agrees with the requested digit)\n",
                a
            );
        }
        s += &format!("  evaluator_sha256   {}\n", self.evaluator_sha256);
        s
    }

    /// One row of `eval.parquet`.
    pub fn frame(&self, checkpoint: &str) -> Result<DataFrame> {
        let mut df = df!(
            "time" => [crate::run::now()],
            "checkpoint" => [checkpoint.to_string()],
            "n" => [self.n as u64],
            "seed" => [self.seed],
            "fid" => [self.fid],
            "kid" => [self.kid],
            "kid_std" => [self.kid_std],
            "inception_score" => [self.inception_score],
            "inception_score_std" => [self.inception_score_std],
            "precision" => [self.precision],
            "recall" => [self.recall],
            "classes_covered" => [self.classes_covered as u32],
            "class_kl" => [self.class_kl],
            "class_accuracy" => [self.class_accuracy],
            "evaluator_sha256" => [self.evaluator_sha256.clone()],
            "evaluator_pinned" => [self.evaluator_pinned],
        )?;
        for (k, c) in self.class_counts.iter().enumerate() {
            df.with_column(Column::new(format!("count_{k}").into(), [*c as u64]))?;
        }
        Ok(df)
    }
}

/// Append `scores` as a row of `RUN/eval.parquet` (created if absent), atomically.
pub fn append_parquet(run: &Path, checkpoint: &str, scores: &Scores) -> Result<PathBuf> {
    let path = run.join("eval.parquet");
    let row = scores.frame(checkpoint)?;
    let mut df = if path.is_file() {
        let old = crate::log::read_frame(&path)?;
        anyhow::Context::with_context(old.vstack(&row), || {
            format!(
                "{} has other columns than this ganlab writes; move it away and score again",
                path.display()
            )
        })?
    } else {
        row
    };
    crate::atomic::write_parquet(&path, &mut df)?;
    Ok(path)
}

/// Images drawn from a run's generator, as grey levels (the spec's scale mapped back
/// to 0-255 and rounded, as a PNG or an IDX file of the samples would hold them),
/// with the labels they were drawn for when the model is conditional (ACGAN: the
/// digits 0-9 in turn).
pub struct Drawn {
    pub images: Vec<u8>,
    pub labels: Option<Vec<u8>>,
}

/// Load `RUN/checkpoints/g_{checkpoint}.safetensors` and draw `n` images from the
/// noise stream of `seed` (the same noise as `ganlab sample --seed`).
pub fn draw_from_run(run: &Path, checkpoint: &str, n: usize, seed: u64, show_progress: bool) -> Result<Drawn> {
    if n == 0 {
        bail!("--n must be at least 1");
    }
    let cfg = run.join("config.yaml");
    if !cfg.is_file() {
        bail!(
            "{} is not a run directory (no config.yaml); pass the folder `ganlab run` printed, or use --images FILE",
            run.display()
        );
    }
    let spec = Spec::load(&cfg, None, &[])?;
    let g_path = run.join("checkpoints").join(format!("g_{checkpoint}.safetensors"));
    if !g_path.is_file() {
        let have: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        name.strip_prefix("g_")?.strip_suffix(".safetensors").map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default();
        bail!(
            "{} has no generator checkpoint `{checkpoint}` ({} is missing); it has: {}. Pick one with --checkpoint",
            run.display(),
            g_path.display(),
            if have.is_empty() {
                "none".into()
            } else {
                have.join(", ")
            }
        );
    }
    let dev = Device::Cpu;
    let model = crate::models::build(&spec, &dev)?;
    model.generator().load(&g_path)?;
    let pb = if show_progress {
        super::progress(n as u64, "generating")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut r = crate::rng::stream(seed, crate::rng::Stream::Samples);
    let drawn = draw(model.as_ref(), &spec, n, &mut r, &pb);
    pb.finish_and_clear();
    drawn
}

/// Draw `n` images from `model` with noise from `rng`, in chunks. Conditional models
/// (ACGAN) draw digit `k % 10` for row `k` of each `generate` call (see
/// `Acgan::generate`); the chunk size keeps that pattern across chunks.
pub fn draw(model: &dyn Gan, spec: &Spec, n: usize, rng: &mut ChaCha8Rng, pb: &ProgressBar) -> Result<Drawn> {
    const _: () = assert!(GEN_CHUNK.is_multiple_of(CLASSES));
    let dev = Device::Cpu;
    let mut images = Vec::with_capacity(n * PIXELS);
    for a in (0..n).step_by(GEN_CHUNK) {
        let b = (a + GEN_CHUNK).min(n);
        let z = crate::rng::noise(&spec.noise, b - a, rng, &dev)?;
        let v = model.generate(&z)?.flatten_all()?.to_vec1::<f32>()?;
        images.extend(v.iter().map(|&p| spec.data.scale.to_u8(p)));
        pb.inc((b - a) as u64);
    }
    let conditional = spec.model.variant == Variant::Acgan;
    Ok(Drawn {
        images,
        labels: conditional.then(|| (0..n).map(|k| (k % CLASSES) as u8).collect()),
    })
}

/// `n` images of uniform noise (each pixel uniform in 0-255), the "bad generator"
/// reference row.
pub fn uniform_noise(n: usize, seed: u64) -> Vec<u8> {
    let mut r = crate::rng::stream(seed, crate::rng::Stream::Noise);
    (0..n * PIXELS).map(|_| r.random::<u8>()).collect()
}

/// The reference rows: `n` random training images (with their true labels) and `n`
/// uniform-noise images, each scored against the test set.
pub fn reference_scores(
    ev: &Evaluator,
    mnist: &crate::data::Mnist,
    n: usize,
    seed: u64,
    show_progress: bool,
) -> Result<Vec<Scores>> {
    let reference = ev.embed(&mnist.test.images, show_progress)?;
    let mut r = crate::rng::stream(seed, crate::rng::Stream::Samples);
    let idx = rand::seq::index::sample(&mut r, mnist.train.len(), n).into_vec();
    let mut images = Vec::with_capacity(n * PIXELS);
    for &i in &idx {
        images.extend_from_slice(mnist.train.image(i));
    }
    let labels: Vec<u8> = idx.iter().map(|&i| mnist.train.labels[i]).collect();
    Ok(vec![
        score(
            ev,
            &reference,
            &images,
            Some(&labels),
            &format!("MNIST train ({n} random images, true labels)"),
            seed,
            show_progress,
        )?,
        score(
            ev,
            &reference,
            &uniform_noise(n, seed),
            None,
            &format!("uniform noise ({n} images)"),
            seed,
            show_progress,
        )?,
    ])
}

/// A row of `eval.parquet` as the HTML report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct QualityRow {
    pub label: String,
    pub cells: Vec<String>,
}

/// Column names of [`QualityRow::cells`].
pub const QUALITY_COLUMNS: &[&str] = &[
    "n",
    "FID",
    "KID",
    "IS",
    "precision",
    "recall",
    "classes",
    "class KL",
    "class acc.",
    "evaluator",
];

fn cells(n: u64, v: [f64; 5], classes: u32, class_kl: f64, acc: Option<f64>, sha: &str) -> Vec<String> {
    let [fid, kid, is, p, r] = v;
    vec![
        n.to_string(),
        format!("{fid:.2}"),
        format!("{kid:.4}"),
        format!("{is:.2}"),
        format!("{p:.3}"),
        format!("{r:.3}"),
        format!("{classes}/10"),
        format!("{class_kl:.3}"),
        acc.map_or("-".into(), |a| format!("{a:.4}")),
        sha.chars().take(12).collect(),
    ]
}

/// The reference rows for the report.
pub fn reference_rows() -> Vec<QualityRow> {
    super::reference::ROWS
        .iter()
        .map(|r| QualityRow {
            label: r.label.to_string(),
            cells: cells(
                r.n as u64,
                [r.fid, r.kid, r.inception_score, r.precision, r.recall],
                r.classes_covered as u32,
                r.class_kl,
                r.class_accuracy,
                super::reference::EVALUATOR_SHA256,
            ),
        })
        .collect()
}

/// The rows of `RUN/eval.parquet` (none when the run was never scored).
pub fn read_quality_rows(run: &Path) -> Result<Vec<QualityRow>> {
    let path = run.join("eval.parquet");
    if !path.is_file() {
        return Ok(vec![]);
    }
    let df = crate::log::read_frame(&path)?;
    let f64c = |n: &str| -> Result<Vec<Option<f64>>> { Ok(df.column(n)?.f64()?.iter().collect()) };
    let strc = |n: &str| -> Result<Vec<String>> {
        Ok(df
            .column(n)?
            .str()?
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect())
    };
    let (tags, shas) = (strc("checkpoint")?, strc("evaluator_sha256")?);
    let n: Vec<Option<u64>> = df.column("n")?.u64()?.iter().collect();
    let classes: Vec<Option<u32>> = df.column("classes_covered")?.u32()?.iter().collect();
    let cols = [
        "fid",
        "kid",
        "inception_score",
        "precision",
        "recall",
        "class_kl",
        "class_accuracy",
    ];
    let v = cols.iter().map(|c| f64c(c)).collect::<Result<Vec<_>>>()?;
    Ok((0..df.height())
        .map(|i| {
            let g = |k: usize| v[k][i].unwrap_or(f64::NAN);
            QualityRow {
                label: tags[i].clone(),
                cells: cells(
                    n[i].unwrap_or(0),
                    [g(0), g(1), g(2), g(3), g(4)],
                    classes[i].unwrap_or(0),
                    g(5),
                    v[6][i],
                    &shas[i],
                ),
            }
        })
        .collect())
}

/// The values of `columns` in the last row of `RUN/eval.parquet` whose checkpoint is
/// `checkpoint` (e.g. `final`, what `ganlab eval RUN` and `ganlab reference` write).
pub fn checkpoint_values(run: &Path, checkpoint: &str, columns: &[&str]) -> Result<Option<Vec<f64>>> {
    let path = run.join("eval.parquet");
    if !path.is_file() {
        return Ok(None);
    }
    let df = crate::log::read_frame(&path)?;
    let tags: Vec<Option<&str>> = df.column("checkpoint")?.str()?.iter().collect();
    let Some(i) = tags.iter().rposition(|t| *t == Some(checkpoint)) else {
        return Ok(None);
    };
    columns
        .iter()
        .map(|c| Ok(df.column(c)?.f64()?.get(i).unwrap_or(f64::NAN)))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The rows of `RUN/eval.parquet` written during training (`eval.every_epochs`,
/// checkpoint `epoch_NNNN`) as (epoch, value) points, one series per name in
/// `columns` (one read of the file); empty series when there are none.
pub fn epoch_curves(run: &Path, columns: &[&str]) -> Result<Vec<Vec<(f64, f64)>>> {
    let path = run.join("eval.parquet");
    if !path.is_file() {
        return Ok(vec![Vec::new(); columns.len()]);
    }
    let df = crate::log::read_frame(&path)?;
    let epochs: Vec<Option<f64>> = df
        .column("checkpoint")?
        .str()?
        .iter()
        .map(|t| Some(t?.strip_prefix("epoch_")?.parse::<u32>().ok()? as f64))
        .collect();
    columns
        .iter()
        .map(|c| {
            let v = df.column(c)?.f64()?;
            Ok(epochs
                .iter()
                .zip(v.iter())
                .filter_map(|(e, v)| Some(((*e)?, v?)))
                .collect())
        })
        .collect()
}
