//! The evaluator network: a small LeNet-like CNN classifier of MNIST digits, and
//! its deterministic training (`ganlab evaluator train`).
//!
//! ```text
//! input  [n, 1, 28, 28] in [0, 1]
//! conv1  Conv2D(32, 5x5, 'same') + ReLU + MaxPool(2)   -> [n, 32, 14, 14]
//! conv2  Conv2D(64, 3x3, 'same') + ReLU + MaxPool(2)   -> [n, 64, 7, 7]
//! fc1    Dense(3136 -> 128) + ReLU                     -> [n, 128]  (the features)
//! fc2    Dense(128 -> 10)                              -> [n, 10]   (logits)
//! ```
//!
//! The distance metrics (FID, KID, precision/recall) use the 128-d `fc1` output
//! after its ReLU; the class metrics use the softmax of `fc2`. Training draws its
//! weights, batch order and dropout masks from ChaCha streams of one seed, so the
//! same seed and thread count give the same weights byte for byte.

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;

use crate::data::{Split, PIXELS};
use crate::nn::Padding;
use crate::nn::{Conv2d, Conv2dConfig, Dense, DenseConfig, Grad, ParamBuilder, Params};
use crate::spec::{BceSemantics, OptimKind, OptimSpec};

/// Classes of MNIST.
pub const CLASSES: usize = 10;
/// Width of the feature layer (`fc1`).
pub const FEATURES: usize = 128;
/// Dropout on the features while training (none at evaluation).
const DROPOUT: f64 = 0.3;

/// The evaluator CNN's layers and their weights.
pub struct LeNet {
    pub params: Params,
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Dense,
    fc2: Dense,
}

/// One forward pass: the features and the logits.
pub struct Outputs {
    /// `[n, FEATURES]`, the ReLU of `fc1`.
    pub features: Tensor,
    /// `[n, CLASSES]`.
    pub logits: Tensor,
}

impl LeNet {
    /// A fresh network (glorot-uniform kernels, zero biases) drawn from `seed`.
    pub fn new(seed: u64, dev: &Device) -> Result<LeNet> {
        let mut rng = crate::rng::stream(seed, crate::rng::Stream::Init);
        let mut p = Params::default();
        let mut pb = ParamBuilder::new(&mut p, &mut rng, dev);
        let same = Conv2dConfig {
            padding: Padding::Same,
            ..Default::default()
        };
        let conv1 = Conv2d::new(1, 32, 5, same, pb.pp("conv1"))?;
        let conv2 = Conv2d::new(32, 64, 3, same, pb.pp("conv2"))?;
        let fc1 = Dense::new(64 * 7 * 7, FEATURES, DenseConfig::default(), pb.pp("fc1"))?;
        let fc2 = Dense::new(FEATURES, CLASSES, DenseConfig::default(), pb.pp("fc2"))?;
        Ok(LeNet {
            params: p,
            conv1,
            conv2,
            fc1,
            fc2,
        })
    }

    /// `[n, 784]` images in [0, 1] to features and logits; `dropout` draws the
    /// training-time mask on the features from the given generator.
    pub fn forward(&self, x: &Tensor, grad: Grad, dropout: Option<&mut rand_chacha::ChaCha8Rng>) -> Result<Outputs> {
        let n = x.dim(0)?;
        let h = x.reshape((n, 1, 28, 28))?;
        let h = crate::nn::max_pool2d(&self.conv1.forward(&h, grad)?.relu()?, 2)?;
        let h = crate::nn::max_pool2d(&self.conv2.forward(&h, grad)?.relu()?, 2)?;
        let features = self.fc1.forward(&h.reshape((n, 64 * 7 * 7))?, grad)?.relu()?;
        let f = match dropout {
            Some(r) => crate::nn::dropout(&features, DROPOUT, r)?,
            None => features.clone(),
        };
        let logits = self.fc2.forward(&f, grad)?;
        Ok(Outputs { features, logits })
    }
}

/// Images `idx` of `split` as a `[n, 784]` tensor in [0, 1].
pub fn images_tensor(split: &Split, idx: &[usize], dev: &Device) -> Result<Tensor> {
    let mut v = Vec::with_capacity(idx.len() * PIXELS);
    for &i in idx {
        v.extend(split.image(i).iter().map(|&p| p as f32 / 255.0));
    }
    Ok(Tensor::from_vec(v, (idx.len(), PIXELS), dev)?)
}

/// How `ganlab evaluator train` trains.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam learning rate of each epoch (the last one repeats).
    pub lr: Vec<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 20_191_105,
            epochs: 4,
            batch_size: 128,
            lr: vec![1e-3, 1e-3, 3e-4, 1e-4],
        }
    }
}

/// Train the evaluator on `train` (shuffled each epoch); `on_epoch(epoch, mean loss)`
/// is told after each epoch. Progress goes to a bar on stderr.
pub fn train(cfg: &TrainConfig, train: &Split, dev: &Device, mut on_epoch: impl FnMut(usize, f64)) -> Result<LeNet> {
    let net = LeNet::new(cfg.seed, dev)?;
    let mut data_rng = crate::rng::stream(cfg.seed, crate::rng::Stream::Data);
    let mut drop_rng = crate::rng::stream(cfg.seed, crate::rng::Stream::Dropout);
    let spec = OptimSpec {
        kind: OptimKind::AdamTorch,
        lr: cfg.lr.first().copied().unwrap_or(1e-3),
        beta1: 0.9,
        beta2: 0.999,
        eps: Some(1e-8),
        momentum: 0.0,
        nesterov: false,
    };
    let mut adam = crate::optim::Adam::new(&spec, &net.params);
    let steps = train.len() / cfg.batch_size;
    let pb = crate::eval::progress((cfg.epochs * steps) as u64, "training the evaluator");
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 0..cfg.epochs {
        adam.spec.lr = *cfg.lr.get(epoch).or(cfg.lr.last()).context("no learning rate")?;
        order.shuffle(&mut data_rng);
        let mut total = 0f64;
        for b in 0..steps {
            let idx = &order[b * cfg.batch_size..(b + 1) * cfg.batch_size];
            let x = images_tensor(train, idx, dev)?;
            let y: Vec<f32> = idx.iter().map(|&i| train.labels[i] as f32).collect();
            let y = Tensor::from_vec(y, idx.len(), dev)?;
            let out = net.forward(&x, Grad::Train, Some(&mut drop_rng))?;
            let loss = cross_entropy(&out.logits, &y)?;
            total += loss.to_scalar::<f32>()? as f64;
            adam.step(&net.params, &loss.backward()?)?;
            pb.inc(1);
        }
        on_epoch(epoch + 1, total / steps.max(1) as f64);
    }
    pb.finish_and_clear();
    Ok(net)
}

/// Mean sparse categorical cross-entropy of `logits` `[n, 10]` against labels `[n]`
/// (as f32), from the log-softmax.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let per = crate::nn::sparse_cce(logits, labels, BceSemantics::Logits)?;
    Ok(per.mean_all()?.to_dtype(DType::F32)?)
}
