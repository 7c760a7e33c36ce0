//! `ganlab data fetch | check`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::data::Mnist;

/// MNIST data: fetch or verify
#[derive(Args)]
pub struct DataCommand {
    #[command(subcommand)]
    pub cmd: DataCmd,
}

impl DataCommand {
    pub fn run(self) -> Result<()> {
        let DataCommand { cmd } = self;
        match cmd {
            DataCmd::Fetch { dir } => {
                let dir = dir.unwrap_or_else(|| crate::data::resolve_dir(None, None).0);
                crate::data::fetch(&dir)?;
                println!("{}", dir.display());
            }
            DataCmd::Check { data_dir } => {
                let (dir, how) = crate::data::resolve_dir(data_dir.as_deref(), None);
                let m = Mnist::load(&dir).with_context(|| format!("MNIST in {} (chosen by {how})", dir.display()))?;
                println!(
                    "{}: {} train and {} test images, all four files verified (SHA-256)",
                    dir.display(),
                    m.train.len(),
                    m.test.len()
                );
            }
        };
        Ok(())
    }
}

#[derive(Subcommand)]
pub enum DataCmd {
    /// Download the four MNIST files from a public mirror and verify them
    Fetch {
        /// Target directory (default: GANLAB_DATA, else data/mnist)
        dir: Option<PathBuf>,
    },
    /// Verify the MNIST files (magic, counts, SHA-256)
    Check {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}
