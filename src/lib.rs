//! ganlab: reproduce classic GAN articles on MNIST side by side, in candle, and
//! measure them. See README.md for use and ARCHITECTURE.md for the layout.

pub mod affinity;
pub mod atomic;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod cpu;
pub mod data;
pub mod device;
pub mod eval;
pub mod kernels;
pub mod learner;
pub mod log;
pub mod models;
pub mod nn;
pub mod notebook;
pub mod optim;
pub mod parity;
pub mod plot;
pub mod reference;
pub mod report;
pub mod rng;
pub mod run;
pub mod runtime;
pub mod spec;
pub mod sweep;
pub mod train;
