//! Article 003's question, in pictures: ACGAN's G receives `h = z * embedding(label)`
//! (a Hadamard product), and with a 2-d latent the points `h` of the ten classes do not
//! cluster. How does G know which digit to draw?
//!
//! The answer: class `c` maps the same noise box `[-1, 1]^d` to the box
//! `[-|e_c1|, |e_c1|] x ... x [-|e_cd|, |e_cd|]`, a different per-dimension scaling
//! for each class. A point `h` tells which boxes it lies in and how densely each box
//! is filled there (`prod_i 1 / (2 |e_ci|)`). In 2 dimensions the boxes overlap near
//! the origin and the class is often ambiguous; in 100 dimensions a point lies inside
//! another class's box in every dimension almost never, so the class can be read off
//! `h` (by G, and by the Bayes-optimal decoder computed here).

use std::path::Path;

use anyhow::{bail, Context, Result};
use rand::Rng;

use super::Lab;
use crate::rng::{self, Stream};

/// tab10: one colour per digit.
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];

/// The class embedding `[10][dim]` of a lab's generator.
pub fn embedding_of(lab: &Lab) -> Result<Vec<Vec<f32>>> {
    let map = lab.trainer()?.model().generator().to_map();
    table_of(&map, "this lab's generator")
}

/// The class embedding `[10][dim]` of a run's generator, from checkpoint `final`.
pub fn embedding_of_run(run: &Path) -> Result<Vec<Vec<f32>>> {
    let path = run.join("checkpoints/g_final.safetensors");
    let map = candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
        .with_context(|| format!("cannot read {}", path.display()))?;
    table_of(&map, &path.display().to_string())
}

fn table_of(map: &std::collections::HashMap<String, candle_core::Tensor>, what: &str) -> Result<Vec<Vec<f32>>> {
    let (_, t) = map
        .iter()
        .find(|(k, _)| k.contains("embedding"))
        .with_context(|| format!("{what} has no class embedding (not an ACGAN?)"))?;
    Ok(t.to_vec2::<f32>()?)
}

/// `n` draws per class of `z ~ U[-1, 1]^d` and `h = z * e_c`: `(z, h, class)`.
fn draws(table: &[Vec<f32>], n: usize, seed: u64) -> Vec<(Vec<f32>, Vec<f32>, usize)> {
    let mut r = rng::stream(seed, Stream::Noise);
    let mut out = Vec::with_capacity(n * table.len());
    for _ in 0..n {
        for (c, e) in table.iter().enumerate() {
            let z: Vec<f32> = e.iter().map(|_| r.random_range(-1f32..=1f32)).collect();
            let h = z.iter().zip(e).map(|(z, e)| z * e).collect();
            out.push((z, h, c));
        }
    }
    out
}

/// The Bayes-optimal decoder's accuracy at telling the class from `h = z * e_c`
/// (classes equally likely, `z ~ U[-1, 1]^d`), estimated on `n` draws per class. The
/// density of `h` under class `c` is `prod_i 1[|h_i| <= |e_ci|] / (2 |e_ci|)`; the
/// decoder picks the class of the highest density. 0.1 is chance.
pub fn decodability(table: &[Vec<f32>], n: usize, seed: u64) -> f64 {
    let log_density = |h: &[f32], e: &[f32]| -> f64 {
        let mut s = 0.0;
        for (&h, &e) in h.iter().zip(e) {
            let a = e.abs() as f64;
            if (h.abs() as f64) > a || a == 0.0 {
                return f64::NEG_INFINITY;
            }
            s -= (2.0 * a).ln();
        }
        s
    };
    let d = draws(table, n, seed);
    let right = d
        .iter()
        .filter(|(_, h, c)| {
            let dens: Vec<f64> = table.iter().map(|e| log_density(h, e)).collect();
            let best = dens.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            // A tie (two classes sharing an embedding) counts as wrong.
            dens[*c] == best && dens.iter().filter(|&&v| v == best).count() == 1
        })
        .count();
    right as f64 / d.len() as f64
}

/// One scatter panel (`w` x `h` pixels at `x0`) of points `(x, y, class)`, with the
/// embedding's points marked by their digits when `labels` is given.
fn panel(title: &str, pts: &[(f32, f32, usize)], labels: Option<&[Vec<f32>]>, x0: f64, w: f64, lim: f32) -> String {
    let h = w;
    let (top, pad) = (24.0, 8.0);
    let sx = |x: f32| x0 + pad + (x / lim + 1.0) as f64 / 2.0 * (w - 2.0 * pad);
    let sy = |y: f32| top + pad + (1.0 - y / lim) as f64 / 2.0 * (h - 2.0 * pad);
    let mut s = format!(
        "<text x=\"{}\" y=\"16\" font-size=\"13\" font-family=\"sans-serif\" text-anchor=\"middle\">{title}</text>\
         <rect x=\"{x0}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#999\"/>\
         <line x1=\"{}\" y1=\"{top}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/><line x1=\"{x0}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>",
        x0 + w / 2.0,
        sx(0.0),
        sx(0.0),
        top + h,
        sy(0.0),
        x0 + w,
        sy(0.0)
    );
    for &(x, y, c) in pts {
        s.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\" fill=\"{}\" fill-opacity=\"0.6\"/>",
            sx(x),
            sy(y),
            COLOURS[c % 10]
        ));
    }
    for (c, e) in labels.into_iter().flatten().enumerate() {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"14\" font-weight=\"bold\" font-family=\"sans-serif\" fill=\"{}\" \
             text-anchor=\"middle\" dominant-baseline=\"middle\">{c}</text>",
            sx(e[0]),
            sy(e[1]),
            COLOURS[c]
        ));
    }
    s
}

/// The asker's three pictures for a 2-d latent, as one SVG: the embedded labels;
/// what they expected (each class's points gathered around its embedding); and the
/// reality, `z * embedding(label)` for `n` draws per class, coloured by class.
pub fn question_svg(table: &[Vec<f32>], n: usize, seed: u64) -> Result<String> {
    if table.first().map(Vec::len) != Some(2) {
        bail!(
            "the pictures need a 2-d latent (train with .set(\"noise.dim\", \"2\")); this embedding is {}-d",
            table.first().map_or(0, Vec::len)
        );
    }
    let lim = table.iter().flatten().fold(0f32, |m, v| m.max(v.abs())) * 1.15;
    let d = draws(table, n, seed);
    let reality: Vec<(f32, f32, usize)> = d.iter().map(|(_, h, c)| (h[0], h[1], *c)).collect();
    // What the asker expected: the new points near their label's embedded point.
    let expected: Vec<(f32, f32, usize)> = d
        .iter()
        .map(|(z, _, c)| (table[*c][0] + 0.08 * lim * z[0], table[*c][1] + 0.08 * lim * z[1], *c))
        .collect();
    let w = 260.0;
    let body = [
        panel("Embedded labels", &[], Some(table), 0.0, w, lim),
        panel("What the asker expected", &expected, Some(table), w + 20.0, w, lim),
        panel(
            "Reality: z * embedding(label)",
            &reality,
            Some(table),
            2.0 * (w + 20.0),
            w,
            lim,
        ),
    ]
    .concat();
    let (width, height) = (3.0 * w + 40.0, w + 30.0);
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">{body}</svg>"
    ))
}

/// [`question_svg`], shown.
pub fn show_question(table: &[Vec<f32>], n: usize) -> Result<()> {
    super::display("image/svg+xml", &question_svg(table, n, 0)?);
    Ok(())
}

/// The answer in numbers: for each named embedding, its latent size and how often
/// the class can be told from `h` alone ([`decodability`], on `n` draws per class).
pub fn show_answer(tables: &[(&str, &[Vec<f32>])], n: usize) -> Result<()> {
    let rows: Vec<Vec<String>> = tables
        .iter()
        .map(|(name, t)| {
            vec![
                name.to_string(),
                t.first().map_or(0, Vec::len).to_string(),
                format!("{:.1} %", 100.0 * decodability(t, n, 0)),
            ]
        })
        .collect();
    let header = [
        "embedding",
        "latent size",
        "class decodable from h (Bayes-optimal; chance 10 %)",
    ]
    .map(String::from);
    super::show_html(&super::table(&header, &rows));
    Ok(())
}
