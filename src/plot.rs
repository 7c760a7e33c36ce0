//! Pictures: loss curves and D(x)/D(G(z)) curves (plotters, PNG and SVG), and
//! sample grids (PNG).

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

use crate::log::Row;
use crate::spec::{GridStyle, Scale};

static FONT: Once = Once::new();

/// plotters draws text with a font we ship (DejaVu Sans), so nothing depends on
/// the fonts a machine has.
pub fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Exponential moving average, for the smoothed curves.
pub fn smooth(v: &[f32], alpha: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(v.len());
    let mut s = None;
    for &x in v {
        let y = match s {
            None => x,
            Some(p) => alpha * x + (1.0 - alpha) * p,
        };
        s = Some(y);
        out.push(y);
    }
    out
}

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
    let xs = series.iter().flat_map(|s| s.2.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .filter(|y| y.is_finite());
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let (x0, x1) = if x0 < x1 { (x0, x1) } else { (0.0, 1.0) };
    let (y0, y1) = if y0 < y1 {
        (y0, y1)
    } else {
        (y0.min(0.0) - 0.5, y1.max(0.0) + 0.5)
    };
    let pad = (y1 - y0) * 0.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(|e| anyhow!("plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    for (name, color, pts) in series {
        let c = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied().filter(|p| p.1.is_finite()), c))
            .map_err(|e| anyhow!("plot: {e}"))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    root.present().map_err(|e| anyhow!("plot: {e}"))?;
    Ok(())
}

fn write_both(stem: &Path, title: &str, y_label: &str, series: &[Series]) -> Result<()> {
    register_font();
    let (png, svg) = (stem.with_extension("png"), stem.with_extension("svg"));
    let size = (960, 540);
    let drawn = draw_lines(
        BitMapBackend::new(&png, size).into_drawing_area(),
        title,
        y_label,
        series,
    );
    drawn.with_context(|| format!("cannot draw {}", png.display()))?;
    let drawn = draw_lines(SVGBackend::new(&svg, size).into_drawing_area(), title, y_label, series);
    drawn.with_context(|| format!("cannot draw {}", svg.display()))?;
    Ok(())
}

/// `losses.{png,svg}` (raw and smoothed D and G loss) and `d_outputs.{png,svg}`
/// (mean D(x) and D(G(z))) in `dir`.
pub fn training_curves(rows: &[Row], dir: &Path, title: &str) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let x: Vec<f64> = rows.iter().map(|r| r.step as f64).collect();
    let pts = |v: &[f32]| x.iter().zip(v).map(|(&a, &b)| (a, b as f64)).collect::<Vec<_>>();
    let col = |f: fn(&Row) -> f32| rows.iter().map(f).collect::<Vec<f32>>();
    let (d, g) = (col(|r| r.d_loss), col(|r| r.g_loss));
    let light = |c: RGBColor| {
        RGBColor(
            ((c.0 as u16 + 2 * 255) / 3) as u8,
            ((c.1 as u16 + 2 * 255) / 3) as u8,
            ((c.2 as u16 + 2 * 255) / 3) as u8,
        )
    };
    let (cd, cg) = (RGBColor(31, 119, 180), RGBColor(214, 39, 40));
    write_both(
        &dir.join("losses"),
        &format!("{title}: losses"),
        "loss",
        &[
            ("D loss", light(cd), pts(&d)),
            ("G loss", light(cg), pts(&g)),
            ("D loss (EMA 0.02)", cd, pts(&smooth(&d, 0.02))),
            ("G loss (EMA 0.02)", cg, pts(&smooth(&g, 0.02))),
        ],
    )?;
    let (dr, df) = (col(|r| r.d_real), col(|r| r.d_fake));
    write_both(
        &dir.join("d_outputs"),
        &format!("{title}: discriminator outputs"),
        "mean D output",
        &[
            ("D(x)", light(RGBColor(44, 160, 44)), pts(&dr)),
            ("D(G(z))", light(RGBColor(148, 103, 189)), pts(&df)),
            ("D(x) (EMA 0.02)", RGBColor(44, 160, 44), pts(&smooth(&dr, 0.02))),
            ("D(G(z)) (EMA 0.02)", RGBColor(148, 103, 189), pts(&smooth(&df, 0.02))),
        ],
    )?;
    Ok(())
}

/// Lay out `images` (`n` rows of 784 values in the data's scale) as a `rows x cols`
/// grid with a 2-pixel border and save it as PNG.
pub fn sample_grid(
    images: &[f32],
    rows: usize,
    cols: usize,
    scale: Scale,
    style: GridStyle,
    path: &Path,
) -> Result<()> {
    const S: usize = 28;
    const PAD: usize = 2;
    let (w, h) = (cols * (S + PAD) + PAD, rows * (S + PAD) + PAD);
    let bg = match style {
        GridStyle::WhiteOnBlack => 40u8,
        GridStyle::BlackOnWhite => 215u8,
    };
    let mut buf = vec![bg; w * h];
    let n = (images.len() / (S * S)).min(rows * cols);
    for k in 0..n {
        let (r, c) = (k / cols, k % cols);
        for y in 0..S {
            for x in 0..S {
                let v = scale.to_u8(images[k * S * S + y * S + x]);
                let v = match style {
                    GridStyle::WhiteOnBlack => v,
                    GridStyle::BlackOnWhite => 255 - v,
                };
                buf[(PAD + r * (S + PAD) + y) * w + PAD + c * (S + PAD) + x] = v;
            }
        }
    }
    let img = image::GrayImage::from_raw(w as u32, h as u32, buf).context("grid buffer size")?;
    // Scale up 3x (nearest) so the digits are visible on a screen.
    let img = image::imageops::resize(&img, w as u32 * 3, h as u32 * 3, image::imageops::FilterType::Nearest);
    crate::atomic::write_atomic(path, |tmp| Ok(img.save_with_format(tmp, image::ImageFormat::Png)?))?;
    Ok(())
}
