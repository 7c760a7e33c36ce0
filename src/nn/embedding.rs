//! Keras `Embedding`.

use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::spec::GlorotNormal;

/// Keras `Embedding(classes, dim)`: a `[classes, dim]` table, rows looked up by label.
pub struct Embedding {
    pub table: Var,
}

impl Embedding {
    /// `embeddings_initializer='glorot_normal'` (fan_in = classes, fan_out = dim).
    pub fn new(
        params: &mut Params,
        name: &str,
        classes: usize,
        dim: usize,
        init: GlorotNormal,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<Self> {
        let t = Var::from_tensor(&Tensor::from_vec(
            glorot_normal(rng, init, classes * dim, classes, dim),
            (classes, dim),
            dev,
        )?)?;
        params.push(format!("{name}.embeddings"), t.clone());
        Ok(Embedding { table: t })
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
