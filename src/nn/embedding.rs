//! Keras `Embedding`.

use anyhow::Result;
use candle_core::{Tensor, Var};

use super::*;
use crate::spec::GlorotNormal;

/// Keras `Embedding(classes, dim)`: a `[classes, dim]` table, rows looked up by label.
pub struct Embedding {
    pub table: Var,
}

/// An [`Embedding`]'s table initialiser: Keras's default is `'uniform'`
/// (`RandomUniform(-0.05, 0.05)`); ACGAN asks for `glorot_normal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EmbeddingConfig {
    pub init: EmbeddingInit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmbeddingInit {
    /// `RandomUniform(-0.05, 0.05)`.
    #[default]
    Uniform,
    /// `glorot_normal` with fan_in = classes, fan_out = dim.
    GlorotNormal(GlorotNormal),
}

impl Embedding {
    /// `Embedding(classes, dim)`, registering `<prefix>.embeddings`.
    pub fn new(classes: usize, dim: usize, cfg: EmbeddingConfig, mut pb: ParamBuilder) -> Result<Self> {
        let values = match cfg.init {
            EmbeddingInit::Uniform => uniform(pb.rng(), classes * dim, 0.05),
            EmbeddingInit::GlorotNormal(v) => glorot_normal(pb.rng(), v, classes * dim, classes, dim),
        };
        Ok(Embedding {
            table: pb.var("embeddings", values, (classes, dim))?,
        })
    }
    /// `[n]` labels -> `[n, dim]` rows.
    pub fn forward(&self, labels: &[u8], grad: Grad) -> Result<Tensor> {
        let idx: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let idx = Tensor::new(idx.as_slice(), self.table.device())?;
        let t = match grad {
            Grad::Train => self.table.as_tensor().clone(),
            Grad::Frozen => self.table.as_tensor().detach(),
        };
        Ok(t.index_select(&idx, 0)?)
    }
}
