//! The backward pass, with the layers' parameter gradients stored once instead of
//! added into fresh zeros.
//!
//! candle 0.11's `Tensor::backward` stores every gradient as `zeros_like` plus `add`
//! (huggingface/candle#3578 and #3822, open): for each weight and bias a zero fill and
//! an add pass each step, which is most of the backward pass's memory traffic outside
//! the GEMMs on the MLPs (3 million parameters). While [`backward`] runs, the layers'
//! ops (Dense and the convolutions) hand their weight and bias gradients to a
//! per-thread sink instead of candle's store; [`backward`] then puts them there: the
//! first gradient of a tensor as it is, a later one added to it, in the order candle
//! would have added them (a D used twice in one step: on the real and the fake batch).
//! The one difference is the sign of an exact zero (`0 + -0` is `+0`), which no update
//! of Adam or SGD can tell apart from `+0` except on a parameter that is itself zero.
//! Elsewhere (`loss.backward()` called directly) the ops return their gradients to
//! candle as before.

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, TensorId};

use super::Grads3;

thread_local! {
    /// `Some` while [`backward`] runs on this thread: the parameters' gradients so far.
    static SINK: RefCell<Option<HashMap<TensorId, (Tensor, Tensor)>>> = const { RefCell::new(None) };
}

/// `loss.backward()`, with the layers' parameter gradients stored once (above).
pub fn backward(loss: &Tensor) -> Result<GradStore> {
    SINK.with(|s| *s.borrow_mut() = Some(HashMap::new()));
    let grads = loss.backward();
    let sunk = SINK.with(|s| s.borrow_mut().take()).unwrap_or_default();
    let mut grads = grads?;
    for (param, g) in sunk.into_values() {
        // A parameter that also reached candle's store another way (none of the models').
        let g = match grads.get(&param) {
            Some(other) => other.add(&g)?,
            None => g,
        };
        grads.insert(&param, g);
    }
    Ok(grads)
}

/// A layer op's gradients for `(x, W, b)`: those of `W` and `b` go to the sink while
/// [`backward`] runs (`None` to candle), all three to candle otherwise.
pub(crate) fn sink_params((w, b): (&Tensor, &Tensor), (gx, gw, gb): Grads3) -> Result<Grads3> {
    SINK.with(|s| {
        let mut s = s.borrow_mut();
        let Some(sink) = s.as_mut() else {
            return Ok((gx, gw, gb));
        };
        for (param, g) in [(w, gw), (b, gb)] {
            let Some(g) = g else { continue };
            match sink.get_mut(&param.id()) {
                Some((_, sum)) => *sum = sum.add(&g)?,
                None => {
                    sink.insert(param.id(), (param.clone(), g));
                }
            }
        }
        Ok((gx, None, None))
    })
}
