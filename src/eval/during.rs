//! `eval.every_epochs`: score samples with the pinned evaluator while a run trains,
//! one row of the run's `eval.parquet` per evaluation (`checkpoint` = `epoch_NNNN`).
//!
//! Each evaluation draws `eval.samples` images from the same noise (the run seed's
//! samples stream, as the sample grids do), so that epochs compare like for like,
//! and never touches the training's random streams.

use anyhow::Result;

use super::{score, Embedding, Evaluator};
use crate::data::Mnist;
use crate::spec::Spec;
use crate::train::{Hook, Trainer};

/// The evaluator and the MNIST test embedding, made once per run.
pub struct Quality {
    ev: Evaluator,
    reference: Embedding,
    every: usize,
    samples: usize,
}

impl Quality {
    /// `None` when the spec does not ask for evaluations during training.
    pub fn for_spec(spec: &Spec, data: &Mnist) -> Result<Option<Quality>> {
        if spec.eval.every_epochs == 0 {
            return Ok(None);
        }
        let ev = Evaluator::pinned()?;
        let reference = ev.embed(&data.test.images, false)?;
        Ok(Some(Quality {
            ev,
            reference,
            every: spec.eval.every_epochs,
            samples: spec.eval.samples,
        }))
    }
}

/// A hook: after each epoch on the schedule, score `eval.samples` images and append a
/// row to `eval.parquet`.
impl Hook for Quality {
    fn after_epoch(&mut self, t: &Trainer) -> Result<()> {
        let (spec, epoch) = (t.spec(), t.position().epoch);
        if !epoch.is_multiple_of(self.every) {
            return Ok(());
        }
        let mut r = crate::rng::stream(spec.seed, crate::rng::Stream::Samples);
        let drawn = score::draw(t.model(), spec, self.samples, &mut r, &indicatif::ProgressBar::hidden())?;
        let tag = format!("epoch_{epoch:04}");
        let s = score::score(
            &self.ev,
            &self.reference,
            &drawn.images,
            drawn.labels.as_deref(),
            &tag,
            spec.seed,
            false,
        )?;
        score::append_parquet(t.dir(), &tag, &s)?;
        let acc = s.class_accuracy.map_or(String::new(), |a| format!(" class acc {a:.3}"));
        t.say(&format!(
            "epoch {epoch} quality (evaluator {}): FID {:.2} KID {:.4} IS {:.2} precision {:.3} recall {:.3} \
             classes {}{acc}",
            s.evaluator_sha256, s.fid, s.kid, s.inception_score, s.precision, s.recall, s.classes_covered
        ));
        Ok(())
    }
}
