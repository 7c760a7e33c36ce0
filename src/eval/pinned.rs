//! The pinned evaluator weights, compiled into the binary, and their SHA-256.
//!
//! They were made by `ganlab evaluator train -o assets/evaluator.safetensors`
//! (seed 20191105, 4 epochs, 2 threads): 99.21% on the MNIST test set. Retraining
//! with the same seed and thread count reproduces them byte for byte; changing them
//! means changing [`SHA256`] too, and every metric printed before is then not
//! comparable with those printed after.

/// `assets/evaluator.safetensors`.
pub const WEIGHTS: &[u8] = include_bytes!("../../assets/evaluator.safetensors");
/// SHA-256 of [`WEIGHTS`], lower-case hex.
pub const SHA256: &str = "32bb0857bf2b36c25241e6cec129cb5a500b1c81e774b11f57ea86b12127a9ad";
