//! Beside the article's own code: a spec's runs grouped by engine (ganlab, or the
//! article's code trained by `ganlab reference`), their sample quality over training
//! with the seed spread as a band, the final grids side by side, and a verdict per
//! metric.
//!
//! The verdict rule (README, "Does it reproduce the article?"): over the seeds of each
//! engine, the difference of the means (ganlab - article) gets a 95 % Welch interval.
//! It is `consistent` when the whole interval lies within +-max(2 pooled std, 10 % of
//! the article's mean); `better` or `worse` (by the metric's direction) when the whole
//! interval lies beyond that band on one side; `inconclusive` otherwise, which with
//! 3 seeds a side is common: the interval is wide.

use std::path::{Path, PathBuf};

use anyhow::Result;
use plotters::prelude::*;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::spec::Spec;

/// An engine's name and one (x, y) curve per seed.
pub type SeedCurves = (String, Vec<Vec<(f64, f64)>>);

/// (x, mean, min, max) of the seeds at each x.
type Band = Vec<(f64, f64, f64, f64)>;

/// One run as the comparison sees it.
pub struct EngineRun {
    pub dir: PathBuf,
    pub spec: Spec,
    /// `None`: ganlab; `Some`: the article's own code (the manifest's `engine`).
    pub reference: Option<crate::run::Engine>,
    /// The final checkpoint's scores (`eval.parquet`, checkpoint `final`), by metric.
    pub finals: Option<Vec<f64>>,
    /// (iteration, value) of each scored epoch, by metric.
    pub curves: Vec<Vec<(f64, f64)>>,
}

/// The metrics compared, their column in `eval.parquet` and whether lower is better.
pub const METRICS: &[(&str, &str, bool)] = &[
    ("FID", "fid", true),
    ("IS", "inception_score", false),
    ("recall", "recall", false),
    ("precision", "precision", false),
];

impl EngineRun {
    pub fn read(dir: &Path, spec: Spec, reference: Option<crate::run::Engine>) -> Result<EngineRun> {
        let columns: Vec<&str> = METRICS.iter().map(|m| m.1).collect();
        let finals = crate::eval::score::checkpoint_values(dir, "final", &columns)?;
        let per_epoch = spec.iters_per_epoch(crate::data::MNIST_TRAIN) as f64;
        let curves = crate::eval::score::epoch_curves(dir, &columns)?
            .into_iter()
            .map(|c| c.into_iter().map(|(e, v)| (e * per_epoch, v)).collect())
            .collect();
        Ok(EngineRun {
            dir: dir.to_path_buf(),
            spec,
            reference,
            finals,
            curves,
        })
    }
    fn engine(&self) -> String {
        crate::run::Engine::label(self.reference.as_ref())
    }
}

/// Mean, sample standard deviation and count.
fn stats(v: &[f64]) -> (f64, f64, usize) {
    let n = v.len();
    let m = v.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    (m, var.sqrt(), n)
}

/// The verdict of one metric; see the module docs for the rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub diff: f64,
    /// The 95 % interval of the difference (`None` with fewer than 2 seeds a side).
    pub interval: Option<(f64, f64)>,
    /// Half-width of the "consistent" band.
    pub band: f64,
    pub word: &'static str,
}

/// Compare `ours` (ganlab's seeds) with `theirs` (the article's code's seeds).
pub fn verdict(ours: &[f64], theirs: &[f64], lower_is_better: bool) -> Verdict {
    let (m1, s1, n1) = stats(ours);
    let (m2, s2, n2) = stats(theirs);
    let diff = m1 - m2;
    let pooled = if n1 + n2 > 2 {
        (((n1 - 1) as f64 * s1 * s1 + (n2 - 1) as f64 * s2 * s2) / (n1 + n2 - 2) as f64).sqrt()
    } else {
        0.0
    };
    let band = (2.0 * pooled).max(0.1 * m2.abs());
    if n1 < 2 || n2 < 2 {
        return Verdict {
            diff,
            interval: None,
            band,
            word: "no verdict (fewer than 2 seeds a side)",
        };
    }
    // Welch: standard error and Satterthwaite's degrees of freedom.
    let (v1, v2) = (s1 * s1 / n1 as f64, s2 * s2 / n2 as f64);
    let se = (v1 + v2).sqrt();
    let df = if se > 0.0 {
        (v1 + v2).powi(2) / (v1 * v1 / (n1 - 1) as f64 + v2 * v2 / (n2 - 1) as f64)
    } else {
        (n1 + n2 - 2) as f64
    };
    let t = StudentsT::new(0.0, 1.0, df.max(1.0))
        .map(|d| d.inverse_cdf(0.975))
        .unwrap_or(f64::NAN);
    let (lo, hi) = (diff - t * se, diff + t * se);
    let word = if lo >= -band && hi <= band {
        "consistent"
    } else if lo > band || hi < -band {
        // The whole interval beyond the band on one side.
        if (diff < 0.0) == lower_is_better {
            "better"
        } else {
            "worse"
        }
    } else {
        "inconclusive"
    };
    Verdict {
        diff,
        interval: Some((lo, hi)),
        band,
        word,
    }
}

#[derive(Serialize)]
pub struct VerdictRow {
    pub metric: String,
    pub ganlab: String,
    pub article: String,
    pub difference: String,
    pub band: String,
    pub verdict: String,
}

#[derive(Serialize)]
pub struct SpecView {
    pub spec: String,
    pub article: String,
    pub framework: String,
    pub settings: String,
    pub seeds: Vec<(String, String)>,
    pub rows: Vec<VerdictRow>,
    pub missing: Vec<String>,
    /// (caption, inline SVG).
    pub charts: Vec<(String, String)>,
    /// (engine and run, PNG data URI) of each engine's final grid.
    pub grids: Vec<(String, String)>,
}

/// How many of the last scored epochs the steadier FID row averages.
pub const TAIL: usize = 3;

/// The mean of the last `k` values of a curve (all of them when it has fewer); None
/// for an empty curve or a non-finite mean.
pub fn tail_mean(curve: &[(f64, f64)], k: usize) -> Option<f64> {
    let tail = &curve[curve.len().saturating_sub(k)..];
    let m = tail.iter().map(|p| p.1).sum::<f64>() / tail.len() as f64;
    (!tail.is_empty() && m.is_finite()).then_some(m)
}

/// The verdict row of one metric from both engines' per-run values (None if a side has none).
fn verdict_row(metric: String, ours: &[f64], theirs: &[f64], lower: bool) -> Option<VerdictRow> {
    if ours.is_empty() || theirs.is_empty() {
        return None;
    }
    let v = verdict(ours, theirs, lower);
    Some(VerdictRow {
        metric,
        ganlab: fmt_ms(ours),
        article: fmt_ms(theirs),
        difference: match v.interval {
            Some((lo, hi)) => format!("{:+.2} [{lo:+.2}, {hi:+.2}]", v.diff),
            None => format!("{:+.2}", v.diff),
        },
        band: format!("\u{b1}{:.2}", v.band),
        verdict: v.word.to_string(),
    })
}

fn fmt_ms(v: &[f64]) -> String {
    let (m, s, n) = stats(v);
    format!("{m:.2} \u{b1} {s:.2} (n = {n})")
}

/// One view per spec that has runs of both engines, in the order first seen; `logs[i]`
/// is the metrics of `runs[i]`.
pub fn views(runs: &[EngineRun], logs: &[(String, crate::log::MetricsLog)]) -> Result<Vec<SpecView>> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.spec.name.as_str()) {
            names.push(&r.spec.name);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let idx: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].spec.name == name).collect();
        let (ours, theirs): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| runs[i].reference.is_none());
        if ours.is_empty() || theirs.is_empty() {
            continue;
        }
        out.push(spec_view(runs, logs, &ours, &theirs)?);
    }
    Ok(out)
}

/// The two engines' runs of one spec: indices into the runs, ganlab's then the article's.
struct Pair<'a> {
    runs: &'a [EngineRun],
    ours: &'a [usize],
    theirs: &'a [usize],
}

impl Pair<'_> {
    fn both(&self) -> impl Iterator<Item = usize> + '_ {
        self.ours.iter().chain(self.theirs).copied()
    }

    /// The finite final values of metric `j` over a set of runs.
    fn finals(&self, set: &[usize], j: usize) -> Vec<f64> {
        set.iter()
            .filter_map(|&i| self.runs[i].finals.as_ref().map(|f| f[j]))
            .filter(|v| v.is_finite())
            .collect()
    }

    fn missing(&self) -> Vec<String> {
        self.both()
            .filter(|&i| self.runs[i].finals.is_none())
            .map(|i| {
                let d = self.runs[i].dir.display();
                format!("{d} has no `final` score: run `ganlab eval {d}`")
            })
            .collect()
    }

    fn verdict_rows(&self) -> Vec<VerdictRow> {
        let mut rows = Vec::new();
        for (j, (label, _, lower)) in METRICS.iter().enumerate() {
            let (a, b) = (self.finals(self.ours, j), self.finals(self.theirs, j));
            let better = if *lower { "lower is better" } else { "higher is better" };
            rows.extend(verdict_row(format!("{label} ({better})"), &a, &b, *lower));
        }
        // A run's FID moves by a few points from one scored epoch to the next (000's
        // seed 1: 18.7 at epoch 90, 21.1 at 100), so one checkpoint can decide a close
        // verdict; the mean of each run's last three scored epochs is the steadier figure.
        let (a, b) = (self.tail_fid(self.ours), self.tail_fid(self.theirs));
        let label = format!("FID, mean of each run's last {TAIL} scored epochs (lower is better)");
        rows.extend(verdict_row(label, &a, &b, true));
        rows
    }

    /// Each run's mean FID over its last [`TAIL`] scored epochs (fewer where it has fewer).
    fn tail_fid(&self, set: &[usize]) -> Vec<f64> {
        let fid = METRICS
            .iter()
            .position(|m| m.1 == "fid")
            .expect("FID is among the metrics");
        set.iter()
            .filter_map(|&i| tail_mean(&self.runs[i].curves[fid], TAIL))
            .collect()
    }

    fn seeds(&self) -> Vec<(String, String)> {
        [("ganlab", self.ours), ("article's code", self.theirs)]
            .iter()
            .map(|(who, set)| {
                let mut s: Vec<u64> = set.iter().map(|&i| self.runs[i].spec.seed).collect();
                s.sort_unstable();
                let s: Vec<String> = s.iter().map(|x| x.to_string()).collect();
                (who.to_string(), s.join(", "))
            })
            .collect()
    }

    /// FID and IS over training as bands, then both engines' loss and D-output curves.
    fn charts(&self, logs: &[(String, crate::log::MetricsLog)]) -> Result<Vec<(String, String)>> {
        let mut charts = Vec::new();
        for (j, (label, _, _)) in METRICS.iter().enumerate().take(2) {
            let bands: Vec<SeedCurves> = [self.ours, self.theirs]
                .iter()
                .map(|set| {
                    let curves = set.iter().map(|&i| self.runs[i].curves[j].clone()).collect::<Vec<_>>();
                    (self.runs[set[0]].engine(), curves)
                })
                .filter(|(_, c)| c.iter().any(|c| !c.is_empty()))
                .collect();
            if bands.len() == 2 {
                let caption = format!("{label} over training: mean of the seeds, band = min to max");
                charts.push((caption.clone(), band_svg(&bands, &caption, "iteration")?));
            }
        }
        let mine: Vec<(String, crate::log::MetricsLog)> = self
            .both()
            .map(|i| {
                let r = &self.runs[i];
                (format!("{}, seed {}", r.engine(), r.spec.seed), logs[i].1.clone())
            })
            .collect();
        for (caption, pick) in super::CURVES {
            charts.push((caption.to_string(), super::overlay_svg(&mine, pick, caption)?));
        }
        Ok(charts)
    }

    /// Each engine's first run's latest grid, as (caption, PNG data URI).
    fn grids(&self) -> Vec<(String, String)> {
        [self.ours[0], self.theirs[0]]
            .iter()
            .filter_map(|&i| {
                let r = &self.runs[i];
                let g = super::latest_grid(&r.dir)?;
                let stem = g.file_stem()?.to_string_lossy().to_string();
                let caption = format!("{}, seed {} ({stem})", r.engine(), r.spec.seed);
                Some((caption, super::png_data_uri(&g)?))
            })
            .collect()
    }
}

fn spec_view(
    runs: &[EngineRun],
    logs: &[(String, crate::log::MetricsLog)],
    ours: &[usize],
    theirs: &[usize],
) -> Result<SpecView> {
    let pair = Pair { runs, ours, theirs };
    let s = &runs[ours[0]].spec;
    Ok(SpecView {
        spec: s.name.clone(),
        article: s.source.title.clone(),
        framework: s.framework.map_or("-".into(), |f| f.to_string()),
        settings: era_settings(s),
        seeds: pair.seeds(),
        rows: pair.verdict_rows(),
        missing: pair.missing(),
        charts: pair.charts(logs)?,
        grids: pair.grids(),
    })
}

/// The engine views of every run under `paths` (run directories or folders of them).
pub fn views_of(paths: &[PathBuf]) -> Result<Vec<SpecView>> {
    let mut runs = Vec::new();
    let mut logs = Vec::new();
    for r in super::find_runs(paths)? {
        let m = crate::run::Manifest::read(&r)?;
        let spec = Spec::load(&r.join("config.yaml"), None, &[])?;
        let log = crate::log::MetricsLog::read(&r.join("metrics.parquet")).unwrap_or_default();
        logs.push((r.file_name().unwrap_or_default().to_string_lossy().to_string(), log));
        runs.push(EngineRun::read(&r, spec, m.engine)?);
    }
    views(&runs, &logs)
}

/// The views as the report's HTML block (inline SVG and PNG).
pub fn html(views: &[SpecView]) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("engines", super::ENGINES_TEMPLATE)?;
    Ok(env
        .get_template("engines")?
        .render(minijinja::context! { engines => views })?)
}

/// Per engine, the mean of its seeds' curves as a line and their min-to-max as a band.
/// Curves are aligned by x (iteration); an x that not every seed has is left out.
pub fn band_svg(engines: &[SeedCurves], caption: &str, x_desc: &str) -> Result<String> {
    // (x, mean, min, max) per engine.
    let summary: Vec<(String, Band)> = engines
        .iter()
        .map(|(name, curves)| {
            let mut xs: Vec<f64> = curves.iter().flat_map(|c| c.iter().map(|p| p.0)).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let pts = xs
                .into_iter()
                .filter_map(|x| {
                    let v: Vec<f64> = curves
                        .iter()
                        .filter_map(|c| c.iter().find(|p| p.0 == x).map(|p| p.1))
                        .filter(|v| v.is_finite())
                        .collect();
                    (v.len() == curves.len() && !v.is_empty()).then(|| {
                        let m = v.iter().sum::<f64>() / v.len() as f64;
                        let lo = v.iter().copied().fold(f64::MAX, f64::min);
                        let hi = v.iter().copied().fold(f64::MIN, f64::max);
                        (x, m, lo, hi)
                    })
                })
                .collect();
            (name.clone(), pts)
        })
        .collect();
    let all = summary.iter().flat_map(|s| s.1.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in all {
        xmin = xmin.min(p.0);
        xmax = xmax.max(p.0);
        ymin = ymin.min(p.2);
        ymax = ymax.max(p.3);
    }
    if xmin >= xmax {
        (xmin, xmax) = if xmin == f64::MAX {
            (0.0, 1.0)
        } else {
            (xmin - 1.0, xmax + 1.0)
        };
    }
    if ymin >= ymax {
        (ymin, ymax) = if ymin == f64::MAX {
            (0.0, 1.0)
        } else {
            (ymin - 1.0, ymax + 1.0)
        };
    }
    let pad = 0.05 * (ymax - ymin);
    super::svg_chart(caption, x_desc, (xmin, xmax), (ymin - pad, ymax + pad), |chart| {
        for (i, (name, pts)) in summary.iter().enumerate() {
            let c = super::SERIES_COLORS[i % super::SERIES_COLORS.len()].to_rgba();
            let mut poly: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
            poly.extend(pts.iter().rev().map(|p| (p.0, p.2)));
            if poly.len() > 2 {
                chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.2).filled())))?;
            }
            chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, c.filled())))?;
            chart
                .draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), c.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
        }
        Ok(())
    })
}

/// The era-dependent settings this spec's article actually uses: the cross-entropy,
/// Adam's eps (not for SGD), the Dense initialiser and `glorot_normal` where its
/// variant reads them.
fn era_settings(s: &crate::spec::Spec) -> String {
    let mut out = vec![format!("loss.bce {}", s.loss.bce())];
    for (n, o) in [("G", &s.optim.g), ("D", &s.optim.d)] {
        if o.kind != crate::spec::OptimKind::SgdKeras {
            out.push(format!("{n} Adam eps {:e}", o.eps()));
        }
    }
    let reads = s.model.variant.model_keys();
    if reads.contains(&"init") {
        out.push(format!("model.init {}", s.model.init()));
    }
    if reads.contains(&"glorot_normal") {
        out.push(format!("glorot_normal {}", s.model.glorot_normal()));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::{tail_mean, verdict};

    #[test]
    fn the_steadier_fid_is_the_mean_of_the_last_scored_epochs() {
        let c = [(1.0, 30.0), (2.0, 24.0), (3.0, 18.0), (4.0, 21.0)];
        assert_eq!(tail_mean(&c, 3), Some(21.0));
        assert_eq!(tail_mean(&c[..2], 3), Some(27.0));
        assert_eq!(tail_mean(&[], 3), None);
    }

    #[test]
    fn the_verdict_rule_by_hand() {
        // Equal spreads and counts: Welch's df is 2 (n - 1) = 4, t(0.975, 4) = 2.7764.
        // diff -2, se = sqrt(1/3 + 1/3) = 0.8165, interval -2 +- 2.2669; pooled std 1,
        // band max(2, 10 % of 13) = 2: the interval crosses the band: inconclusive.
        let v = verdict(&[10.0, 11.0, 12.0], &[12.0, 13.0, 14.0], true);
        let (lo, hi) = v.interval.unwrap();
        assert!((lo + 4.2669).abs() < 1e-3 && (hi - 0.2669).abs() < 1e-3, "{lo} {hi}");
        assert_eq!((v.band, v.word), (2.0, "inconclusive"));
        // Tight seeds, close means: inside the band (10 % of 10.2 = 1.02).
        assert_eq!(
            verdict(&[10.0, 10.2, 10.4], &[10.1, 10.2, 10.3], true).word,
            "consistent"
        );
        // Far apart: FID 30 against 10 is worse, IS 9 against 5 better.
        assert_eq!(verdict(&[30.0, 31.0, 29.0], &[10.0, 11.0, 9.0], true).word, "worse");
        assert_eq!(verdict(&[9.0, 9.1, 8.9], &[5.0, 5.1, 4.9], false).word, "better");
        // One seed a side: no interval, no verdict.
        let v = verdict(&[10.0], &[12.0], true);
        assert!(v.interval.is_none() && v.word.starts_with("no verdict"));
    }
}
