//! `ganlab report`: one self-contained HTML file that puts runs side by side:
//! the specs' key hyperparameters (differences highlighted), final metrics and
//! timing, loss and D-output curves (per run and overlaid), the latest sample grid,
//! ACGAN's per-epoch table, and provenance. Images are inline (base64 PNG or inline
//! SVG) and the CSS is inline, so the file opens offline anywhere.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::Serialize;

use crate::log::MetricsLog;
use crate::run::Manifest;
use crate::spec::Spec;

pub mod engines;

/// A named line of (x, y) points.
pub(crate) type Series = (String, Vec<(f64, f64)>);

const TEMPLATE: &str = include_str!("report.html.j2");
/// The "Beside the article's own code" block, shared with the notebooks.
pub(crate) const ENGINES_TEMPLATE: &str = include_str!("engines.html.j2");

/// Every run directory under the given paths (a run, a spec folder, or an output folder).
pub fn find_runs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut runs = Vec::new();
    for p in paths {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
        collect(p, 3, &mut runs)?;
    }
    if runs.is_empty() {
        bail!(
            "no ganlab runs under {} (a run directory holds manifest.json; make one with `ganlab run SPEC`)",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    runs.sort();
    runs.dedup();
    Ok(runs)
}

fn collect(p: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    if p.join("manifest.json").is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    if depth == 0 || !p.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(p)
        .with_context(|| format!("cannot read {}", p.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|e| e.is_dir())
        .collect();
    entries.sort();
    for e in entries {
        collect(&e, depth - 1, out)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Cell {
    value: String,
    differs: bool,
}

#[derive(Serialize)]
struct ParamRow {
    key: String,
    cells: Vec<Cell>,
}

#[derive(Serialize)]
struct EpochRow {
    epoch: u32,
    component: String,
    values: Vec<String>,
    #[serde(skip)]
    raw: Vec<f64>,
}

#[derive(Serialize)]
struct RunView {
    title: String,
    dir: String,
    article: String,
    source: String,
    description: String,
    status: String,
    final_metrics: Vec<(String, String)>,
    provenance: Vec<(String, String)>,
    images: Vec<(String, String)>,
    epoch_columns: Vec<String>,
    epoch_rows: Vec<EpochRow>,
    /// Inline SVG charts of this run: (caption, svg).
    charts: Vec<(String, String)>,
    /// Sample quality rows from `eval.parquet` (pinned evaluator).
    quality_rows: Vec<crate::eval::score::QualityRow>,
}

/// Runs of one spec that differ only in their seed, summarised as mean +- std.
#[derive(Serialize)]
struct GroupView {
    label: String,
    n: usize,
    seeds: String,
    /// (metric, "mean +- std").
    stats: Vec<(String, String)>,
}

/// Mean and sample standard deviation.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// The spec with its seed zeroed: runs with equal keys are seeds of one experiment.
fn seedless_key(s: &Spec) -> String {
    let mut k = s.clone();
    k.seed = 0;
    k.hash()
}

/// Group runs by [`seedless_key`]; groups of two or more become rows. `finals` holds
/// each run's named final values.
/// `engines` names the code that trained each run: runs of ganlab and of the
/// article's own code are never seeds of one experiment.
fn seed_groups(specs: &[Spec], engines: &[String], finals: &[Vec<(String, f64)>]) -> Vec<GroupView> {
    let mut order: Vec<String> = Vec::new();
    let mut members: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for (i, s) in specs.iter().enumerate() {
        let k = format!("{} {}", seedless_key(s), engines[i]);
        if !members.contains_key(&k) {
            order.push(k.clone());
        }
        members.entry(k).or_default().push(i);
    }
    // Label each group by the key hyperparameters that tell the groups apart.
    let params: Vec<Vec<(&'static str, String)>> = order.iter().map(|k| key_params(&specs[members[k][0]])).collect();
    let differing: Vec<usize> = (0..params.first().map_or(0, |p| p.len()))
        .filter(|&j| params[0][j].0 != "seed" && params.iter().any(|p| p[j].1 != params[0][j].1))
        .collect();
    order
        .iter()
        .zip(&params)
        .filter(|(k, _)| members[*k].len() > 1)
        .map(|(k, p)| {
            let idx = &members[k];
            let first = &specs[idx[0]];
            let mut label = format!(
                "{} ({}, {})",
                first.name,
                first.profile.as_deref().unwrap_or("full budget"),
                engines[idx[0]]
            );
            for &j in &differing {
                label.push_str(&format!(", {} {}", p[j].0, p[j].1));
            }
            let names: Vec<String> = finals[idx[0]].iter().map(|(n, _)| n.clone()).collect();
            let stats = names
                .iter()
                .enumerate()
                .filter_map(|(j, name)| {
                    let v: Vec<f64> = idx.iter().filter_map(|&i| finals[i].get(j).map(|x| x.1)).collect();
                    (v.len() == idx.len()).then(|| {
                        let (m, sd) = mean_std(&v);
                        (name.clone(), format!("{m:.4} \u{b1} {sd:.4}"))
                    })
                })
                .collect();
            let mut seeds: Vec<u64> = idx.iter().map(|&i| specs[i].seed).collect();
            seeds.sort_unstable();
            GroupView {
                label,
                n: idx.len(),
                seeds: seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
                stats,
            }
        })
        .collect()
}

fn png_data_uri(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

pub(crate) fn latest_grid(run: &Path) -> Option<PathBuf> {
    let mut grids: Vec<PathBuf> = std::fs::read_dir(run.join("samples"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("epoch_")))
        .collect();
    grids.sort();
    grids.pop()
}

fn mean_tail(v: &[f32]) -> f32 {
    let k = (v.len() / 10).max(1).min(v.len());
    let t = &v[v.len() - k..];
    t.iter().sum::<f32>() / t.len().max(1) as f32
}

/// Median seconds per iteration from the wall-clock column.
fn median_iter_s(log: &MetricsLog) -> Option<f64> {
    let mut d: Vec<f64> = log
        .rows
        .windows(2)
        .map(|w| w[1].seconds - w[0].seconds)
        .filter(|x| *x > 0.0)
        .collect();
    if d.is_empty() {
        return None;
    }
    d.sort_by(|a, b| a.total_cmp(b));
    Some(d[d.len() / 2])
}

/// The key hyperparameters of a spec, as (key, value) pairs.
fn key_params(s: &Spec) -> Vec<(&'static str, String)> {
    let o = |x: &crate::spec::OptimSpec| match x.kind {
        crate::spec::OptimKind::SgdKeras => format!("SGD lr={} momentum={} nesterov={}", x.lr, x.momentum, x.nesterov),
        k => format!("{k:?} lr={} betas=({}, {}) eps={:e}", x.lr, x.beta1, x.beta2, x.eps()),
    };
    vec![
        ("variant", s.model.variant.to_string()),
        ("framework", s.framework.map_or("-".into(), |f| f.to_string())),
        ("seed", s.seed.to_string()),
        ("data.scale", format!("{:?}", s.data.scale)),
        ("noise", format!("{:?} {}-d", s.noise.dist, s.noise.dim)),
        ("train.batch_size", s.train.batch_size.to_string()),
        ("train.epochs", s.train.epochs.to_string()),
        (
            "train.iters_per_epoch",
            s.train.iters_per_epoch.map_or("one pass".into(), |v| v.to_string()),
        ),
        ("train.sampling", format!("{:?}", s.train.sampling)),
        ("optim.g", o(&s.optim.g)),
        ("optim.d", o(&s.optim.d)),
        ("loss.bce", s.loss.bce().to_string()),
        ("model.init", s.model.init().to_string()),
        ("model.dropout", s.model.dropout.to_string()),
        ("profile", s.profile.clone().unwrap_or_else(|| "-".into())),
    ]
}

/// Smoothed curves of several runs overlaid, as an inline SVG, over [`overlay_points`]'s
/// x axis.
pub(crate) fn overlay_svg(
    runs: &[(String, MetricsLog)],
    pick: fn(&crate::log::Row) -> f32,
    label: &str,
) -> Result<String> {
    let (series, x_desc) = overlay_points(runs, pick);
    lines_svg(&series, label, x_desc, false)
}

/// When the longest run has more than this many times the steps of the shortest, the
/// overlays' x axis is each run's own progress instead of the step.
const PROGRESS_AXIS_RATIO: f64 = 2.0;

/// The smoothed (EMA 0.05), thinned curves of several runs and their x axis's name. The
/// axis is the step while the runs are of comparable length; otherwise each run's
/// progress through its own logged steps (0 to 100 %), so that a full-budget DCGAN's
/// 1,170 steps are not squeezed into the left edge by a 51,200-step MLP.
pub(crate) fn overlay_points(
    runs: &[(String, MetricsLog)],
    pick: fn(&crate::log::Row) -> f32,
) -> (Vec<Series>, &'static str) {
    let last: Vec<f64> = runs
        .iter()
        .map(|(_, log)| log.rows.last().map_or(0.0, |r| r.step as f64))
        .collect();
    let (lo, hi) = last
        .iter()
        .filter(|&&s| s > 0.0)
        .fold((f64::MAX, 0.0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    let by_progress = hi > 0.0 && hi / lo > PROGRESS_AXIS_RATIO;
    let series = runs
        .iter()
        .zip(&last)
        .map(|((name, log), &last)| {
            let v: Vec<f32> = log.rows.iter().map(pick).collect();
            let s = crate::plot::smooth(&v, 0.05);
            let x = |step: u64| {
                if by_progress {
                    100.0 * step as f64 / last.max(1.0)
                } else {
                    step as f64
                }
            };
            let pts: Vec<(f64, f64)> = log.rows.iter().zip(s).map(|(r, y)| (x(r.step), y as f64)).collect();
            (name.clone(), thin(pts, OVERLAY_POINTS))
        })
        .collect();
    let x_desc = if by_progress { "% of each run's steps" } else { "step" };
    (series, x_desc)
}

/// Points drawn per overlaid curve: a full-budget run logs tens of thousands of steps,
/// and its smoothed curve drawn at every step would make each inline SVG megabytes.
const OVERLAY_POINTS: usize = 2000;

/// Every k-th point, so that at most about `max` remain, the last point always kept.
fn thin(pts: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    let k = pts.len().div_ceil(max.max(1)).max(1);
    if k == 1 {
        return pts;
    }
    let last = pts.len() - 1;
    pts.into_iter()
        .enumerate()
        .filter(|(i, _)| i % k == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

/// Line colours of the overlaid charts (Tableau 10: distinct, and readable on white).
const SERIES_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Named series of (x, y) points as one line chart, an inline SVG; `markers` draws a
/// dot on every point (for short series such as one value per epoch).
pub(crate) fn lines_svg(series: &[Series], caption: &str, x_desc: &str, markers: bool) -> Result<String> {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let (xmin, xmax) = series
        .iter()
        .flat_map(|s| s.1.iter().filter(finite).map(|p| p.0))
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (xmin, xmax) = if xmin < xmax {
        (xmin, xmax)
    } else if xmin <= xmax {
        (xmin - 1.0, xmax + 1.0)
    } else {
        (0.0, 1.0)
    };
    let (ymin, ymax) = series
        .iter()
        .flat_map(|s| s.1.iter().filter(finite).map(|p| p.1))
        .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let (ymin, ymax) = if ymin < ymax {
        let pad = if markers { 0.05 * (ymax - ymin) } else { 0.0 };
        (ymin - pad, ymax + pad)
    } else if ymin <= ymax {
        (ymin - 0.5 - 0.05 * ymin.abs(), ymax + 0.5 + 0.05 * ymax.abs())
    } else {
        (0.0, 1.0)
    };
    svg_chart(caption, x_desc, (xmin, xmax), (ymin, ymax), |chart| {
        for (i, (name, pts)) in series.iter().enumerate() {
            let c = SERIES_COLORS[i % SERIES_COLORS.len()].to_rgba();
            let pts: Vec<(f64, f64)> = pts.iter().filter(finite).copied().collect();
            if markers {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
            }
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
        }
        Ok(())
    })
}

/// The 2-d chart that [`svg_chart`] hands to its drawing closure.
pub(crate) type SvgChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart as inline SVG (900 x 380): white background, `caption`, a mesh with
/// `x_desc` under the x axis, the ranges given, then whatever `draw` adds, then a
/// legend of the labelled series.
pub(crate) fn svg_chart(
    caption: &str,
    x_desc: &str,
    (xmin, xmax): (f64, f64),
    (ymin, ymax): (f64, f64),
    draw: impl FnOnce(&mut SvgChart) -> Result<()>,
) -> Result<String> {
    crate::plot::register_font();
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{caption}: {e}");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(xmin..xmax, ymin..ymax)
            .map_err(|e| err(&e))?;
        chart.configure_mesh().x_desc(x_desc).draw().map_err(|e| err(&e))?;
        draw(&mut chart).with_context(|| caption.to_string())?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    // Inline SVG inside HTML: drop the XML prolog if any.
    Ok(svg.trim_start_matches(|c| c != '<').to_string())
}

/// One series per (component, column) of a run's `epochs.parquet` (ACGAN's per-epoch
/// train and test losses), over the epoch axis.
fn epoch_table_series(columns: &[String], rows: &[EpochRow]) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for r in rows {
        for (c, v) in columns.iter().zip(&r.raw) {
            let name = format!("{} {c}", r.component);
            let at = match series.iter().position(|s| s.0 == name) {
                Some(i) => i,
                None => {
                    series.push((name, Vec::new()));
                    series.len() - 1
                }
            };
            series[at].1.push((r.epoch as f64, *v));
        }
    }
    series
}

/// The `eval.parquet` columns drawn over epochs when runs scored themselves while
/// training, with their labels.
const QUALITY_CURVES: &[(&str, &str)] = &[("fid", "FID (lower is better)"), ("inception_score", "Inception score")];

/// Each scored run's latest sample-quality row beside the evaluator's reference rows
/// (empty when no run was scored).
fn quality_summary(views: &[RunView]) -> Vec<crate::eval::score::QualityRow> {
    let mut rows: Vec<crate::eval::score::QualityRow> = views
        .iter()
        .filter_map(|v| {
            v.quality_rows.last().map(|q| crate::eval::score::QualityRow {
                label: format!("{} ({})", v.title, q.label),
                cells: q.cells.clone(),
            })
        })
        .collect();
    if !rows.is_empty() {
        rows.extend(crate::eval::score::reference_rows());
    }
    rows
}

/// One run as the report reads it.
struct RunData {
    view: RunView,
    spec: Spec,
    log: MetricsLog,
    /// Named final values (for the seed groups).
    finals: Vec<(String, f64)>,
    /// FID and IS (QUALITY_CURVES) over the share of the run's budget.
    quality_curves: Vec<Vec<(f64, f64)>>,
    engine: engines::EngineRun,
}

/// Read one run directory into its view and the data the cross-run sections need.
fn read_run(r: &Path) -> Result<RunData> {
    let m = Manifest::read(r)?;
    let spec = Spec::load(&r.join("config.yaml"), None, &[])?;
    let engine = engines::EngineRun::read(r, spec.clone(), m.engine.clone())?;
    let log = MetricsLog::read(&r.join("metrics.parquet")).unwrap_or_default();
    let (final_metrics, finals) = final_metrics(&m, &log);
    let (epoch_columns, epoch_rows) = epoch_table(r)?;
    let mut charts = Vec::new();
    if epoch_rows.len() > 1 {
        let caption = "Per-epoch train / test losses";
        let series = epoch_table_series(&epoch_columns, &epoch_rows);
        charts.push((caption.to_string(), lines_svg(&series, caption, "epoch", true)?));
    }
    let dir_name = r
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let reference = if m.engine.is_some() { " (article's code)" } else { "" };
    let view = RunView {
        title: format!("{} / {dir_name}{reference}", spec.name),
        dir: r.display().to_string(),
        article: spec.source.title.clone(),
        source: spec.source.file.clone(),
        description: spec.description.clone(),
        status: m.status.to_string(),
        final_metrics,
        provenance: provenance(&m),
        images: images(r),
        epoch_columns,
        epoch_rows,
        charts,
        quality_rows: crate::eval::score::read_quality_rows(r)?,
    };
    let columns: Vec<&str> = QUALITY_CURVES.iter().map(|c| c.0).collect();
    // Across articles an "epoch" is 128 to 600 iterations: the shared axis is the
    // share of each run's own budget.
    let budget = spec.train.epochs as f64;
    let quality_curves = crate::eval::score::epoch_curves(r, &columns)?
        .into_iter()
        .map(|pts| pts.into_iter().map(|(e, v)| (100.0 * e / budget, v)).collect())
        .collect();
    Ok(RunData {
        view,
        spec,
        log,
        finals,
        quality_curves,
        engine,
    })
}

/// The run's final metrics as shown, and as numbers (for the seed groups).
#[allow(clippy::type_complexity)]
fn final_metrics(m: &Manifest, log: &MetricsLog) -> (Vec<(String, String)>, Vec<(String, f64)>) {
    let col = |f: fn(&crate::log::Row) -> f32| log.rows.iter().map(f).collect::<Vec<f32>>();
    let mut fm = vec![("iterations done".to_string(), m.steps_done.to_string())];
    let mut values = Vec::new();
    if log.rows.is_empty() {
        return (fm, values);
    }
    for (k, v) in [
        ("d_loss (last 10 %)", mean_tail(&col(|r| r.d_loss))),
        ("g_loss (last 10 %)", mean_tail(&col(|r| r.g_loss))),
        ("D(x) (last 10 %)", mean_tail(&col(|r| r.d_real))),
        ("D(G(z)) (last 10 %)", mean_tail(&col(|r| r.d_fake))),
    ] {
        fm.push((k.into(), format!("{v:.4}")));
        values.push((k.to_string(), v as f64));
    }
    if let Some(s) = median_iter_s(log) {
        fm.push(("median iteration".into(), format!("{:.1} ms", s * 1e3)));
        values.push(("median iteration (ms)".into(), s * 1e3));
    }
    let wall = log.rows.last().map_or(0.0, |r| r.seconds);
    fm.push(("wall time".into(), format!("{wall:.1} s")));
    (fm, values)
}

/// The run's curves and its latest sample grid, as (caption, PNG data URI).
fn images(r: &Path) -> Vec<(String, String)> {
    let mut images = Vec::new();
    for (name, p) in [
        ("losses", r.join("plots/losses.png")),
        ("D outputs", r.join("plots/d_outputs.png")),
    ] {
        if let Some(uri) = png_data_uri(&p) {
            images.push((name.to_string(), uri));
        }
    }
    if let Some(g) = latest_grid(r) {
        if let Some(uri) = png_data_uri(&g) {
            let label = g
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            images.push((format!("samples ({label})"), uri));
        }
    }
    images
}

/// The run's `epochs.parquet` (ACGAN's per-epoch table): its value columns and rows.
fn epoch_table(r: &Path) -> Result<(Vec<String>, Vec<EpochRow>)> {
    let Ok(table) = crate::log::EpochTable::read(&r.join("epochs.parquet")) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let columns: Vec<String> = match table.rows.first() {
        Some(first) => first.2.iter().map(|(name, _)| name.clone()).collect(),
        None => Vec::new(),
    };
    let rows = table
        .rows
        .into_iter()
        .map(|(epoch, component, values)| {
            let raw: Vec<f64> = values.iter().map(|(_, v)| f64::from(*v)).collect();
            let values = raw
                .iter()
                .map(|v| if v.is_nan() { "-".into() } else { format!("{v:.4}") })
                .collect();
            EpochRow {
                epoch,
                component,
                values,
                raw,
            }
        })
        .collect();
    Ok((columns, rows))
}

/// Which code ran the run, ganlab's version and commit, seed, threads, times.
fn provenance(m: &Manifest) -> Vec<(String, String)> {
    let mut p = vec![("engine".to_string(), crate::run::Engine::label(m.engine.as_ref()))];
    if let Some(e) = &m.engine {
        let seeding: Vec<String> = e.seeding.values().cloned().collect();
        p.push(("article".into(), e.article.clone()));
        p.push(("driver".into(), e.driver.clone()));
        p.push(("seeding".into(), seeding.join("; ")));
        for (k, v) in &e.environment {
            p.push((k.clone(), v.clone()));
        }
    }
    p.extend([
        ("ganlab".into(), m.ganlab_version.clone()),
        ("git commit".into(), m.git_commit.clone().unwrap_or_else(|| "-".into())),
        ("seed".into(), m.seed.to_string()),
        ("threads".into(), m.threads.to_string()),
        ("device".into(), m.device.clone()),
        (
            "CPU".into(),
            m.cpu.as_ref().map_or_else(|| "-".into(), |c| c.describe()),
        ),
        ("spec hash".into(), m.spec_hash.clone()),
        ("started".into(), m.started.clone()),
        ("ended".into(), m.ended.clone().unwrap_or_else(|| "-".into())),
    ]);
    p
}

/// The key hyperparameters of every run side by side, differences marked.
fn param_rows(specs: &[Spec]) -> Vec<ParamRow> {
    let params: Vec<Vec<(&'static str, String)>> = specs.iter().map(key_params).collect();
    params[0]
        .iter()
        .enumerate()
        .map(|(i, (key, _))| {
            let vals: Vec<&String> = params.iter().map(|p| &p[i].1).collect();
            let differs = vals.iter().any(|v| *v != vals[0]);
            ParamRow {
                key: key.to_string(),
                cells: vals
                    .into_iter()
                    .map(|v| Cell {
                        value: v.clone(),
                        differs,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Picks one value of a metrics row.
pub(crate) type Pick = fn(&crate::log::Row) -> f32;

/// The four training curves every overlay shows: both losses and both D outputs.
pub(crate) const CURVES: [(&str, Pick); 4] = [
    ("G loss (EMA 0.05)", |r| r.g_loss),
    ("D loss (EMA 0.05)", |r| r.d_loss),
    ("D(x) (EMA 0.05)", |r| r.d_real),
    ("D(G(z)) (EMA 0.05)", |r| r.d_fake),
];

/// Every run's smoothed losses and D outputs overlaid.
fn overlays(logs: &[(String, MetricsLog)]) -> Result<Vec<(String, String)>> {
    CURVES
        .into_iter()
        .map(|(name, pick)| Ok((name.to_string(), overlay_svg(logs, pick, &format!("{name}, all runs"))?)))
        .collect()
}

/// Write the report for `paths` to `out` (atomically).
pub fn write_report(paths: &[PathBuf], out: &Path) -> Result<usize> {
    let runs = find_runs(paths)?;
    let data = runs.iter().map(|r| read_run(r)).collect::<Result<Vec<_>>>()?;
    let mut quality_curves: Vec<Vec<Series>> = vec![Vec::new(); QUALITY_CURVES.len()];
    for d in &data {
        for (j, pts) in d.quality_curves.iter().enumerate() {
            if !pts.is_empty() {
                quality_curves[j].push((d.view.title.clone(), pts.clone()));
            }
        }
    }
    let mut epoch_overlays = Vec::new();
    for ((_, label), series) in QUALITY_CURVES.iter().zip(&quality_curves) {
        if !series.is_empty() {
            let caption = format!("{label} over training (eval.every_epochs), all scored runs");
            epoch_overlays.push((
                caption.clone(),
                lines_svg(series, &caption, "% of the run's budget", true)?,
            ));
        }
    }
    let (mut views, mut specs, mut logs, mut finals, mut engine_runs) = (vec![], vec![], vec![], vec![], vec![]);
    for d in data {
        logs.push((d.view.title.clone(), d.log));
        views.push(d.view);
        specs.push(d.spec);
        finals.push(d.finals);
        engine_runs.push(d.engine);
    }
    let engine_labels: Vec<String> = engine_runs
        .iter()
        .map(|r| {
            if r.reference.is_some() {
                "article's code"
            } else {
                "ganlab"
            }
            .to_string()
        })
        .collect();
    let mut env = minijinja::Environment::new();
    env.add_template("report", TEMPLATE)?;
    env.add_template("engines.html.j2", ENGINES_TEMPLATE)?;
    let html = env.get_template("report")?.render(minijinja::context! {
        generated => crate::run::now(),
        version => env!("CARGO_PKG_VERSION"),
        names => views.iter().map(|v| v.title.clone()).collect::<Vec<_>>(),
        params => param_rows(&specs),
        quality => quality_summary(&views),
        quality_columns => crate::eval::score::QUALITY_COLUMNS,
        evaluator_sha256 => crate::eval::pinned::SHA256,
        runs => views,
        overlays => overlays(&logs)?,
        epoch_overlays => epoch_overlays,
        groups => seed_groups(&specs, &engine_labels, &finals),
        engines => engines::views(&engine_runs, &logs)?,
    })?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    crate::atomic::write_bytes(out, html.as_bytes())?;
    Ok(runs.len())
}

#[cfg(test)]
mod tests {
    use super::{overlay_points, thin};
    use crate::log::{MetricsLog, Row};

    fn log_of(steps: u64) -> MetricsLog {
        let mut log = MetricsLog::default();
        for step in 1..=steps {
            log.push(Row {
                step,
                epoch: 1,
                iter: step as u32,
                d_loss: step as f32,
                g_loss: 1.0,
                d_real: 0.5,
                d_fake: 0.5,
                seconds: 0.0,
                images_per_s: 0.0,
                extra: Vec::new(),
            });
        }
        log
    }

    #[test]
    fn overlays_use_steps_for_comparable_runs_and_progress_otherwise() {
        let close = [("a".to_string(), log_of(100)), ("b".to_string(), log_of(150))];
        let (series, axis) = overlay_points(&close, |r| r.d_loss);
        assert_eq!(axis, "step");
        assert_eq!(series[1].1.last().map(|p| p.0), Some(150.0));

        let far = [("short".to_string(), log_of(50)), ("long".to_string(), log_of(5000))];
        let (series, axis) = overlay_points(&far, |r| r.d_loss);
        assert_eq!(axis, "% of each run's steps");
        for (name, pts) in &series {
            assert_eq!(
                pts.first().map(|p| p.0),
                Some(100.0 / if name == "short" { 50.0 } else { 5000.0 })
            );
            assert_eq!(pts.last().map(|p| p.0), Some(100.0), "{name} ends at 100 %");
        }
        // The y values are still the smoothed metric, not touched by the axis.
        assert_eq!(series[0].1[0].1, 1.0);
    }

    #[test]
    fn thinning_keeps_short_curves_and_the_ends_of_long_ones() {
        let short: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 0.0)).collect();
        assert_eq!(thin(short.clone(), 2000), short);
        let long: Vec<(f64, f64)> = (0..51_200).map(|i| (i as f64, i as f64)).collect();
        let t = thin(long, 2000);
        assert!(t.len() <= 2001, "{}", t.len());
        assert!(t.len() > 1900, "{}", t.len());
        assert_eq!(t.first(), Some(&(0.0, 0.0)));
        assert_eq!(t.last(), Some(&(51_199.0, 51_199.0)));
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "in step order");
    }
}
