//! The reference rows of the pinned evaluator (`ganlab evaluator reference`, 10,000
//! images each, seed 0), kept in the code so that the HTML report can set every
//! run's sample quality beside them without MNIST at hand. A test recomputes them.

/// One reference row (the numbers of `score::Scores` that the report shows).
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub label: &'static str,
    pub n: usize,
    pub fid: f64,
    pub kid: f64,
    pub inception_score: f64,
    pub precision: f64,
    pub recall: f64,
    pub classes_covered: usize,
    pub class_kl: f64,
    pub class_accuracy: Option<f64>,
}

/// The evaluator these rows were measured with.
pub const EVALUATOR_SHA256: &str = super::pinned::SHA256;

/// Real training images against the test set, then uniform noise.
pub const ROWS: [Row; 2] = [
    Row {
        label: "reference: MNIST train (10,000 random images)",
        n: 10_000,
        fid: 0.7547,
        kid: 0.00945,
        inception_score: 9.6869,
        precision: 0.8635,
        recall: 0.8769,
        classes_covered: 10,
        class_kl: 0.00207,
        class_accuracy: Some(0.9947),
    },
    Row {
        label: "reference: uniform noise (10,000 images)",
        n: 10_000,
        fid: 342.630,
        kid: 15.4481,
        inception_score: 1.1495,
        precision: 0.0311,
        recall: 0.0,
        classes_covered: 2,
        class_kl: 1.7689,
        class_accuracy: None,
    },
];
