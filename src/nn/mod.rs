//! The layers the models see, one file per family: parameters (`params`), Dense,
//! convolutions, BatchNorm, Embedding, activations and dropout, cross-entropies in
//! each framework's semantics, initialisers, Keras's layout helpers, and `Trace` (a
//! network described layer by layer). The kernels behind them are `crate::kernels`.
//!
//! All initial values and random masks come from the run's seeded generators
//! (candle's CPU generator cannot be seeded), so runs are reproducible.

mod activations;
mod batch_norm;
mod conv;
mod dense;
mod embedding;
mod init;
mod layout;
mod losses;
mod params;
mod trace;

pub use activations::{dropout, leaky_relu, leaky_relu_dropout, tanh};
pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
pub use dense::{Dense, DenseConfig};
pub use embedding::{Embedding, EmbeddingConfig, EmbeddingInit};
pub use init::{glorot_normal, KernelInit};
pub use layout::{flatten_hwc, reshape_hwc_to_nchw};
pub use losses::{bce, full_targets, mean_prob, sparse_cce, stacked_targets};
pub use params::{Grad, ParamBuilder, Params};
pub use trace::{LayerInfo, NetMacs, Trace};

pub use crate::kernels::{backward, max_pool2d, Act, Pad, Padding};

// Shared by the layer files.
use conv::weights;
use init::{glorot_uniform, uniform};
