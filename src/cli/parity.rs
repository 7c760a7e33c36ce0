//! `ganlab parity`: step parity with the article's own code.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{load_spec, DataArgs, SpecArgs};
use crate::data::Mnist;
use crate::parity::IterParity;

/// Step parity with the article's own code (needs a Python with torch for 002, tf_keras for the others)
#[derive(Args)]
pub struct ParityArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Iterations to compare
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Python interpreter (default: GANLAB_PEER_PY for the PyTorch article, GANLAB_TF_PY for the Keras ones, else python3)
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Where the fixture and outputs go, kept afterwards (default: a temporary directory, removed at the end)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

impl ParityArgs {
    pub fn run(self) -> Result<()> {
        let ParityArgs {
            spec,
            iters,
            python,
            dir,
            data,
        } = self;
        let s = load_spec(&spec)?;
        crate::runtime::set_threads(Some(2));
        let mnist = Mnist::open(data.data_dir.as_deref(), s.data.dir.as_deref(), data.offline)?;
        let (_, framework) = crate::parity::driver(s.model.variant);
        let python = python
            .or_else(|| framework.python_from_env())
            .unwrap_or_else(|| PathBuf::from("python3"));
        // The fixtures run to hundreds of MB (the keras-dcgan weights and their Adam
        // moments): without --dir they go to a temporary directory removed on exit.
        let (tmp, dir) = match dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::Builder::new()
                    .prefix(&format!("ganlab-parity-{}-", s.name))
                    .tempdir()
                    .context("cannot create a temporary directory for the parity fixture (or pass --dir)")?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let rows = crate::parity::run(&s, &mnist, iters, &dir, &python)?;
        match &tmp {
            Some(_) => println!(
                "{}: ganlab vs the article's own code (fixture removed on exit; --dir DIR keeps it)",
                s.name
            ),
            None => println!("{}: ganlab vs the article's own code ({})", s.name, dir.display()),
        }
        print_iterations(&rows);
        // One line for the README's table.
        println!("{}", crate::parity::Summary::of(&rows));
        print_per_tensor(&rows);
        if let Some(n) = crate::parity::dropout_note(&s) {
            eprintln!("{n}");
        }
        Ok(())
    }
}

/// Per iteration: both losses on each side, the update differences and the worst tensor.
fn print_iterations(rows: &[IterParity]) {
    println!(
        "{:>4} {:>11} {:>11} {:>11} {:>11} {:>10} {:>10}  {:<24} {:>10} {:>9}  tensor",
        "iter", "d_loss", "article", "g_loss", "article", "rel. upd.", "worst", "(tensor)", "max |dw|", "> 1e-6"
    );
    for r in rows {
        println!(
            "{:>4} {:>11.7} {:>11.7} {:>11.7} {:>11.7} {:>10.2e} {:>10.2e}  {:<24} {:>10.2e} {:>9}  {}",
            r.iter,
            r.d_loss.0,
            r.d_loss.1,
            r.g_loss.0,
            r.g_loss.1,
            r.rel_update_diff,
            r.max_rel_tensor.0,
            r.max_rel_tensor.1,
            r.max_weight_diff.0,
            r.n_differ,
            r.max_weight_diff.1
        );
    }
}

/// The largest |ganlab - article| per tensor, after each iteration.
fn print_per_tensor(rows: &[IterParity]) {
    print!("{:<28}", "max |dw| per tensor");
    for r in rows {
        print!(" {:>10}", format!("iter {}", r.iter));
    }
    println!();
    for (t, (name, _)) in rows
        .first()
        .map(|r| r.per_tensor.as_slice())
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        print!("{name:<28}");
        for r in rows {
            print!(" {:>10.2e}", r.per_tensor.get(t).map_or(f32::NAN, |p| p.1));
        }
        println!();
    }
}
