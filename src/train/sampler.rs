//! The article's real batches: which images each iteration takes, in the spec's scale.

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::{RngPos, SamplerState};
use crate::data::{Split, PIXELS};
use crate::models::Batch;
use crate::rng::{self, Stream};
use crate::spec::{Sampling, Scale, Spec};

/// Draws the indices of real batches as the article does.
pub struct Sampler {
    sampling: Sampling,
    batch: usize,
    drop_last: bool,
    n: usize,
    rng: ChaCha8Rng,
    perm: Vec<usize>,
    pos: usize,
}

impl Sampler {
    /// `batch`: real images per iteration (the variant's `reals_per_step`).
    pub fn new(spec: &Spec, n: usize, batch: usize) -> Sampler {
        Sampler {
            sampling: spec.train.sampling,
            batch,
            drop_last: spec.train.drop_last,
            n,
            rng: rng::stream(spec.seed, Stream::Data),
            perm: (0..n).collect(),
            pos: n,
        }
    }

    /// Start an epoch: a `shuffle` sampler reshuffles (`DataLoader(shuffle=True)`).
    pub fn start_epoch(&mut self) {
        match self.sampling {
            Sampling::Shuffle => {
                self.perm = (0..self.n).collect();
                self.perm.shuffle(&mut self.rng);
                self.pos = 0;
            }
            Sampling::Sequential => self.pos = 0,
            Sampling::WithReplacement => {}
        }
    }

    /// The state a checkpoint needs: generator position and place in the order, and
    /// the order itself.
    pub fn state(&self) -> (SamplerState, &[usize]) {
        let s = SamplerState {
            rng: RngPos::of(&self.rng),
            pos: self.pos,
        };
        (s, &self.perm)
    }

    /// Restore what [`Sampler::state`] returned.
    pub fn restore(&mut self, s: &SamplerState, order: Vec<usize>) -> Result<()> {
        if order.len() != self.n || s.pos > self.n {
            anyhow::bail!(
                "the checkpoint's data order has {} images, this data set {}",
                order.len(),
                self.n
            );
        }
        s.rng.apply(&mut self.rng, "data")?;
        self.perm = order;
        self.pos = s.pos;
        Ok(())
    }

    /// Indices of the next batch.
    pub fn next_indices(&mut self) -> Vec<usize> {
        match self.sampling {
            // X_train[np.random.randint(0, X_train.shape[0], batch_size)]
            Sampling::WithReplacement => (0..self.batch).map(|_| self.rng.random_range(0..self.n)).collect(),
            Sampling::Shuffle | Sampling::Sequential => {
                let left = self.n - self.pos;
                if left == 0 || (self.drop_last && left < self.batch) {
                    self.start_epoch();
                }
                let end = (self.pos + self.batch).min(self.n);
                let idx = self.perm[self.pos..end].to_vec();
                self.pos = end;
                idx
            }
        }
    }
}

/// Gather images `idx` of `split` into a `[n, 784]` tensor in the spec's scale.
pub fn make_batch(split: &Split, idx: &[usize], scale: Scale, dev: &Device) -> Result<Batch> {
    let mut v = Vec::with_capacity(idx.len() * PIXELS);
    for &i in idx {
        v.extend(split.image(i).iter().map(|&p| scale.apply(p)));
    }
    let labels = idx.iter().map(|&i| split.labels[i]).collect();
    Ok(Batch {
        images: Tensor::from_vec(v, (idx.len(), PIXELS), dev)?,
        labels,
    })
}
