//! One-call helpers for the evcxr Jupyter notebooks in `notebooks/`. Each `show_*`
//! function displays inline through evcxr's display protocol (a block between
//! `EVCXR_BEGIN_CONTENT <mime>` and `EVCXR_END_CONTENT` on stdout), so a notebook cell
//! is one line:
//!
//! ```text
//! :dep ganlab = { path = ".." }
//! let run = ganlab::notebook::quick_run("../experiments/dcgan.yaml", None)?;
//! ganlab::notebook::show_curves(&run)?;
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use candle_core::Device;
use polars::prelude::*;

use crate::data::Mnist;
use crate::log::{read_frame, MetricsLog};
use crate::run::Manifest;
use crate::spec::Spec;

pub mod lab;
pub mod latent;
pub use lab::{show_labs, DOutputs, Lab};

/// Display `content` as `mime` in the notebook (plain text outside evcxr).
pub fn display(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

pub fn show_html(html: &str) {
    display("text/html", html);
}

/// A PNG file, inline.
pub fn show_png(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    display("image/png", &base64::engine::general_purpose::STANDARD.encode(bytes));
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table><tr>");
    for c in header {
        h.push_str(&format!("<th>{}</th>", esc(c)));
    }
    h.push_str("</tr>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            h.push_str(&format!("<td>{}</td>", esc(c)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

/// The spec's networks layer by layer with their parameter counts, as a table.
pub fn show_architecture(spec_file: &str) -> Result<()> {
    let spec = Spec::load(Path::new(spec_file), None, &[])?;
    let model = crate::models::build(&spec, &Device::Cpu)?;
    let rows: Vec<Vec<String>> = model
        .layers()
        .into_iter()
        .map(|l| vec![l.network.to_string(), l.name, l.kind, l.output, l.params.to_string()])
        .collect();
    let header = ["net", "layer", "kind", "output", "params"].map(String::from);
    show_html(&format!(
        "<p><b>{}</b> ({}): {}</p>{}<p>G parameters: {} (trainable), D parameters: {}</p>",
        esc(&spec.name),
        spec.model.variant,
        esc(&spec.source.title),
        table(&header, &rows),
        model.generator().count(),
        model.discriminator().count()
    ));
    Ok(())
}

/// An existing run when `existing` names one, else a new run of the spec's `quick`
/// profile under `runs/` (all cores; MNIST from GANLAB_DATA or the spec's data.dir).
pub fn quick_run(spec_file: &str, existing: Option<&str>) -> Result<PathBuf> {
    if let Some(dir) = existing {
        let dir = PathBuf::from(dir);
        Manifest::read(&dir)?;
        return Ok(dir);
    }
    let spec = Spec::load(Path::new(spec_file), Some("quick"), &[])?;
    let threads = crate::runtime::set_threads(spec.threads);
    let data = Mnist::open(None, spec.data.dir.as_deref(), false)?;
    let opts = crate::train::RunOptions {
        out: PathBuf::from("runs"),
        spec_file: spec_file.to_string(),
        threads,
        device: Device::Cpu,
        quiet: true,
    };
    crate::learner::train(&spec, std::sync::Arc::new(data), opts)
}

/// The latest completed run of the spec's name under `$GANLAB_RUNS` (default `runs/`),
/// else a new `quick` run ([`quick_run`]).
pub fn latest_or_quick_run(spec_file: &str) -> Result<PathBuf> {
    let spec = Spec::load(Path::new(spec_file), None, &[])?;
    let root = std::env::var_os("GANLAB_RUNS").map_or_else(|| PathBuf::from("runs"), PathBuf::from);
    let mut done: Vec<PathBuf> = std::fs::read_dir(root.join(&spec.name))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    // ganlab's own runs: a reference run (the article's code) has no ganlab generator.
    done.retain(|d| Manifest::read(d).is_ok_and(|m| m.status == crate::run::Status::Completed && m.engine.is_none()));
    done.sort();
    match done.pop() {
        Some(d) => {
            println!("loading {}", shown(&d).display());
            Ok(d)
        }
        None => quick_run(spec_file, None),
    }
}

/// The spec's ganlab run in the committed reproduction record
/// (`../reports/reproduction/runs/<spec>`, the lowest seed) when there is one, else
/// [`latest_or_quick_run`].
pub fn record_or_quick_run(spec_file: &str) -> Result<PathBuf> {
    let spec = Spec::load(Path::new(spec_file), None, &[])?;
    let record = PathBuf::from("../reports/reproduction/runs").join(&spec.name);
    let mut done: Vec<(u64, PathBuf)> = std::fs::read_dir(&record)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| {
            let m = Manifest::read(&d).ok()?;
            (m.status == crate::run::Status::Completed && m.engine.is_none()).then_some((m.seed, d))
        })
        .collect();
    done.sort();
    match done.into_iter().next() {
        Some((seed, d)) => {
            let m = Manifest::read(&d)?;
            println!(
                "the reproduction record's run of {} (seed {seed}, {} epochs, {} iterations): {}",
                spec.name,
                m.epochs_done,
                m.steps_done,
                shown(&d).display()
            );
            Ok(d)
        }
        None => {
            println!(
                "{} is not in the reproduction record yet: a run of this machine instead",
                spec.name
            );
            latest_or_quick_run(spec_file)
        }
    }
}

/// [`latest_or_quick_run`] for each spec file, in order.
pub fn latest_runs(spec_files: &[&str]) -> Result<Vec<PathBuf>> {
    spec_files.iter().map(|s| latest_or_quick_run(s)).collect()
}

/// The run's metrics as a polars DataFrame.
pub fn metrics(run: &Path) -> Result<DataFrame> {
    read_frame(&run.join("metrics.parquet"))
}

/// The first and last `rows / 2` rows of a frame, as an HTML table.
pub fn show_frame(df: &DataFrame, rows: usize) -> Result<()> {
    let n = df.height();
    let pick: Vec<usize> = if n <= rows {
        (0..n).collect()
    } else {
        (0..rows / 2).chain(n - rows / 2..n).collect()
    };
    let header: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for (k, &i) in pick.iter().enumerate() {
        if k > 0 && i != pick[k - 1] + 1 {
            out.push(vec!["...".to_string(); header.len()]);
        }
        let row = df
            .columns()
            .iter()
            .map(|c| {
                c.get(i).map(|v| match v {
                    AnyValue::Float32(x) => format!("{x:.4}"),
                    AnyValue::Float64(x) => format!("{x:.4}"),
                    v => v.to_string().trim_matches('"').to_string(),
                })
            })
            .collect::<PolarsResult<Vec<String>>>()?;
        out.push(row);
    }
    show_html(&format!(
        "<p>{n} rows x {} columns</p>{}",
        header.len(),
        table(&header, &out)
    ));
    Ok(())
}

/// Several SVG charts stacked top to bottom as one SVG (nested `<svg>` elements). A
/// cell must display them as one output: evcxr keeps one output per MIME type and
/// cell, so a second `image/svg+xml` display in the same cell replaces the first.
pub fn stack_svgs(svgs: &[String]) -> Result<String> {
    let attr = |tag: &str, name: &str| -> Result<u32> {
        let key = format!(" {name}=\"");
        let at = tag.find(&key).with_context(|| format!("an SVG without {name}"))? + key.len();
        let v = &tag[at..];
        let v: Result<u32, _> = v[..v.find('"').unwrap_or(v.len())].parse();
        v.with_context(|| format!("an SVG's {name} is not a whole number"))
    };
    let (mut width, mut height, mut body) = (0, 0, String::new());
    for svg in svgs {
        let svg = svg.trim_start_matches(|c| c != '<');
        let svg = &svg[svg.find("<svg").context("not an SVG")?..];
        let tag = &svg[..svg.find('>').context("not an SVG")?];
        let (w, h) = (attr(tag, "width")?, attr(tag, "height")?);
        body.push_str(&format!("<svg x=\"0\" y=\"{height}\"{}\n", &svg[4..]));
        width = width.max(w);
        height += h;
    }
    Ok(format!(
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">\n{body}</svg>"
    ))
}

fn read_svg(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The run's loss curves and D(x) / D(G(z)) curves, as one chart (drawn from
/// `metrics.parquet` where the run keeps no `plots/`, as the reproduction record).
pub fn show_curves(run: &Path) -> Result<()> {
    let mut plots = run.join("plots");
    let _drawn;
    if !plots.join("losses.svg").is_file() {
        let tmp = tempfile::tempdir()?;
        let m = Manifest::read(run)?;
        crate::plot::training_curves(
            &MetricsLog::read(&run.join("metrics.parquet"))?.rows,
            tmp.path(),
            &m.spec,
        )?;
        plots = tmp.path().to_path_buf();
        _drawn = tmp;
    }
    let svgs = [
        read_svg(&plots.join("losses.svg"))?,
        read_svg(&plots.join("d_outputs.svg"))?,
    ];
    display("image/svg+xml", &stack_svgs(&svgs)?);
    Ok(())
}

/// The run's latest sample grid (ACGAN: one digit class per column).
pub fn show_samples(run: &Path) -> Result<()> {
    let g = crate::report::latest_grid(run).with_context(|| format!("{} has no sample grid yet", run.display()))?;
    println!("{}", shown(&g).display());
    show_png(&g)
}

/// `p` relative to the working directory when it lies below it (outputs committed
/// with the notebooks then name no machine's absolute paths).
fn shown(p: &Path) -> &Path {
    std::env::current_dir()
        .ok()
        .and_then(|d| p.strip_prefix(d).ok())
        .unwrap_or(p)
}

/// ACGAN's per-epoch train/test loss table (`epochs.parquet`).
pub fn show_epoch_table(run: &Path) -> Result<()> {
    let df = read_frame(&run.join("epochs.parquet"))?;
    show_frame(&df, 40)
}

/// ACGAN's class embedding (`Embedding(10, latent)`, the vectors G multiplies the
/// noise by) as a heat map, one row per digit, from the run's final checkpoint.
pub fn show_embedding(run: &Path) -> Result<()> {
    show_embedding_table(&latent::embedding_of_run(run)?)
}

/// A class embedding `[10][dim]` as a heat map, one row per digit.
pub fn show_embedding_table(rows: &[Vec<f32>]) -> Result<()> {
    let name = format!("Embedding(10, {})", rows.first().map_or(0, Vec::len));
    let (cell, pad) = (6usize, 30usize);
    let (w, h) = (pad + rows[0].len() * cell + 10, rows.len() * 2 * cell + 30);
    let max = rows.iter().flatten().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\">");
    svg.push_str(&format!(
        "<text x=\"{pad}\" y=\"14\" font-size=\"12\" font-family=\"sans-serif\">{name}: rows = digits 0-9, blue < 0 < red, |max| {max:.3}</text>"
    ));
    for (d, row) in rows.iter().enumerate() {
        let y = 22 + d * 2 * cell;
        svg.push_str(&format!(
            "<text x=\"4\" y=\"{}\" font-size=\"11\" font-family=\"sans-serif\">{d}</text>",
            y + 2 * cell - 2
        ));
        for (j, &v) in row.iter().enumerate() {
            let a = (v.abs() / max).min(1.0);
            let (r, g, b) = if v >= 0.0 {
                (255, (255.0 * (1.0 - a)) as u8, (255.0 * (1.0 - a)) as u8)
            } else {
                ((255.0 * (1.0 - a)) as u8, (255.0 * (1.0 - a)) as u8, 255)
            };
            svg.push_str(&format!(
                "<rect x=\"{}\" y=\"{y}\" width=\"{cell}\" height=\"{}\" fill=\"rgb({r},{g},{b})\"/>",
                pad + j * cell,
                2 * cell
            ));
        }
    }
    svg.push_str("</svg>");
    display("image/svg+xml", &svg);
    Ok(())
}

/// All runs' metrics in one polars frame with a `run` column.
pub fn all_metrics(runs: &[PathBuf]) -> Result<DataFrame> {
    let mut frames = Vec::new();
    for r in runs {
        let m = Manifest::read(r)?;
        let mut df = metrics(r)?.select(crate::log::COLUMNS.iter().copied())?;
        let name = format!(
            "{}/{}",
            m.spec,
            r.file_name().map(|s| s.to_string_lossy()).unwrap_or_default()
        );
        df.with_column(Column::new("run".into(), vec![name; df.height()]))?;
        frames.push(df);
    }
    // One frame after another (polars' eager vstack; the lazy engine is not built).
    let mut frames = frames.into_iter();
    let mut all = frames.next().context("all_metrics: no runs given")?;
    for df in frames {
        all.vstack_mut_owned(df)?;
    }
    all.rechunk_mut();
    Ok(all)
}

/// Where the side-by-side runs are: the committed reproduction record
/// (`reports/reproduction/runs`, relative to the notebooks) when it is there, else
/// `$GANLAB_RUNS` (default `runs/`).
pub fn record_or_runs() -> PathBuf {
    let record = PathBuf::from("../reports/reproduction/runs");
    if record.is_dir() {
        return record;
    }
    std::env::var_os("GANLAB_RUNS").map_or_else(|| PathBuf::from("runs"), PathBuf::from)
}

/// ganlab beside the article's own code for every spec under `dir` that has runs of
/// both engines (`ganlab reference`): verdict table, quality bands, curves, grids, as
/// in the report.
pub fn show_engines(dir: &Path) -> Result<()> {
    let views = crate::report::engines::views_of(&[dir.to_path_buf()])?;
    if views.is_empty() {
        println!(
            "no spec under {} has runs of both ganlab and the article's code (make one with `ganlab reference SPEC`)",
            shown(dir).display()
        );
        return Ok(());
    }
    println!(
        "{} spec(s) with both engines under {}",
        views.len(),
        shown(dir).display()
    );
    show_html(&crate::report::engines::html(&views)?);
    Ok(())
}

/// The runs' smoothed losses and D outputs overlaid: on one step axis, or on each
/// run's progress when their lengths differ more than twofold ([`crate::report::overlay_points`]).
pub fn show_compare(runs: &[PathBuf]) -> Result<()> {
    let logs = runs
        .iter()
        .map(|r| {
            let m = Manifest::read(r)?;
            Ok((m.spec, MetricsLog::read(&r.join("metrics.parquet"))?))
        })
        .collect::<Result<Vec<_>>>()?;
    let svgs = crate::report::CURVES
        .into_iter()
        .map(|(label, pick)| crate::report::overlay_svg(&logs, pick, label))
        .collect::<Result<Vec<_>>>()?;
    display("image/svg+xml", &stack_svgs(&svgs)?);
    Ok(())
}
