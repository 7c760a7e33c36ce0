//! Metrics: one row per logged iteration, written to Parquet through polars.
//! The file is rewritten whole and renamed over the old one, so a run killed at any
//! moment leaves a complete, readable file holding everything up to the last flush.

use std::path::Path;

use anyhow::{Context, Result};
use polars::prelude::*;

/// Columns of `metrics.parquet`, in order. `seconds` and `images_per_s` are
/// wall-clock columns; all others are deterministic for a seed and thread count.
pub const COLUMNS: &[&str] = &[
    "step",
    "epoch",
    "iter",
    "d_loss",
    "g_loss",
    "d_real",
    "d_fake",
    "seconds",
    "images_per_s",
];

/// Wall-clock columns, excluded from determinism comparisons.
pub const WALL_CLOCK: &[&str] = &["seconds", "images_per_s"];

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub step: u64,
    pub epoch: u32,
    pub iter: u32,
    pub d_loss: f32,
    pub g_loss: f32,
    pub d_real: f32,
    pub d_fake: f32,
    pub seconds: f64,
    pub images_per_s: f64,
    /// Variant-specific metrics, one extra column each (e.g. `d_acc`).
    pub extra: Vec<(&'static str, f32)>,
}

#[derive(Default, Clone)]
pub struct MetricsLog {
    pub rows: Vec<Row>,
}

impl MetricsLog {
    pub fn push(&mut self, r: Row) {
        self.rows.push(r);
    }

    pub fn to_frame(&self) -> Result<DataFrame> {
        let r = &self.rows;
        let mut df = df!(
            "step" => r.iter().map(|x| x.step).collect::<Vec<_>>(),
            "epoch" => r.iter().map(|x| x.epoch).collect::<Vec<_>>(),
            "iter" => r.iter().map(|x| x.iter).collect::<Vec<_>>(),
            "d_loss" => r.iter().map(|x| x.d_loss).collect::<Vec<_>>(),
            "g_loss" => r.iter().map(|x| x.g_loss).collect::<Vec<_>>(),
            "d_real" => r.iter().map(|x| x.d_real).collect::<Vec<_>>(),
            "d_fake" => r.iter().map(|x| x.d_fake).collect::<Vec<_>>(),
            "seconds" => r.iter().map(|x| x.seconds).collect::<Vec<_>>(),
            "images_per_s" => r.iter().map(|x| x.images_per_s).collect::<Vec<_>>(),
        )?;
        if let Some(first) = r.first() {
            for (k, (name, _)) in first.extra.iter().enumerate() {
                let v: Vec<f32> = r.iter().map(|x| x.extra.get(k).map_or(f32::NAN, |e| e.1)).collect();
                df.with_column(Column::new((*name).into(), v))?;
            }
        }
        Ok(df)
    }

    /// Write `path` atomically: a temporary file beside it, then a rename.
    pub fn flush(&self, path: &Path) -> Result<()> {
        crate::atomic::write_parquet(path, &mut self.to_frame()?)
    }

    /// Read a metrics file back (without the variant's extra columns).
    pub fn read(path: &Path) -> Result<MetricsLog> {
        Self::read_with(path, &[])
    }

    /// Read a metrics file back with the variant's extra columns `extras`.
    pub fn read_with(path: &Path, extras: &[&'static str]) -> Result<MetricsLog> {
        let df = read_frame(path)?;
        let u64c = |n: &str| -> Result<Vec<u64>> { Ok(df.column(n)?.u64()?.into_no_null_iter().collect()) };
        let u32c = |n: &str| -> Result<Vec<u32>> { Ok(df.column(n)?.u32()?.into_no_null_iter().collect()) };
        let f32c = |n: &str| -> Result<Vec<f32>> { Ok(df.column(n)?.f32()?.into_no_null_iter().collect()) };
        let f64c = |n: &str| -> Result<Vec<f64>> { Ok(df.column(n)?.f64()?.into_no_null_iter().collect()) };
        let (step, epoch, iter) = (u64c("step")?, u32c("epoch")?, u32c("iter")?);
        let (dl, gl, dr, dfk) = (f32c("d_loss")?, f32c("g_loss")?, f32c("d_real")?, f32c("d_fake")?);
        let (sec, ips) = (f64c("seconds")?, f64c("images_per_s")?);
        let extra_cols = extras
            .iter()
            .map(|&name| {
                Ok((
                    name,
                    f32c(name).with_context(|| format!("{} lacks column {name}", path.display()))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = (0..step.len())
            .map(|i| Row {
                step: step[i],
                epoch: epoch[i],
                iter: iter[i],
                d_loss: dl[i],
                g_loss: gl[i],
                d_real: dr[i],
                d_fake: dfk[i],
                seconds: sec[i],
                images_per_s: ips[i],
                extra: extra_cols.iter().map(|(name, v)| (*name, v[i])).collect(),
            })
            .collect();
        Ok(MetricsLog { rows })
    }
}

/// Per-epoch rows (e.g. ACGAN's train/test loss table): `epoch, component`, then
/// one column per named value. Written like the metrics (atomic rewrite).
#[derive(Default)]
pub struct EpochTable {
    pub rows: Vec<EpochTableRow>,
}

/// One row of an [`EpochTable`]: epoch, component, then (column, value) pairs.
pub type EpochTableRow = (u32, String, Vec<(String, f32)>);

impl EpochTable {
    /// Read a table written by [`EpochTable::flush`].
    pub fn read(path: &Path) -> Result<EpochTable> {
        let df = read_frame(path)?;
        let epoch: Vec<u32> = df.column("epoch")?.u32()?.into_no_null_iter().collect();
        let comp: Vec<String> = df
            .column("component")?
            .str()?
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect();
        let names: Vec<String> = df
            .get_column_names()
            .into_iter()
            .skip(2)
            .map(|n| n.to_string())
            .collect();
        let cols = names
            .iter()
            .map(|n| {
                Ok(df
                    .column(n)?
                    .f32()?
                    .iter()
                    .map(|v| v.unwrap_or(f32::NAN))
                    .collect::<Vec<_>>())
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = (0..epoch.len())
            .map(|i| {
                let values = names.iter().zip(&cols).map(|(n, c)| (n.clone(), c[i])).collect();
                (epoch[i], comp[i].clone(), values)
            })
            .collect();
        Ok(EpochTable { rows })
    }

    pub fn flush(&self, path: &Path) -> Result<()> {
        let Some(first) = self.rows.first() else { return Ok(()) };
        let mut df = df!(
            "epoch" => self.rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "component" => self.rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        )?;
        for (k, (name, _)) in first.2.iter().enumerate() {
            let v: Vec<f32> = self.rows.iter().map(|r| r.2.get(k).map_or(f32::NAN, |e| e.1)).collect();
            df.with_column(Column::new(name.as_str().into(), v))?;
        }
        crate::atomic::write_parquet(path, &mut df)
    }
}

/// Read any Parquet file as a polars frame.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    ParquetReader::new(f)
        .finish()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))
}
