//! Experiment specs: one YAML file per article under `experiments/`.
//!
//! A spec is parsed in two passes. The file itself is deserialised straight into
//! [`Spec`], so that unknown keys, wrong types and out-of-range values are reported
//! with the file, line and column. Then the chosen profile and the `--set`
//! overrides are applied to a YAML tree and the result is deserialised again,
//! with errors naming the profile or the override. Profiles may only change the
//! budget (`train.epochs`, `train.iters_per_epoch`, `samples.*`, `checkpoint.*`,
//! `log.*`), never the model, so a `quick` run trains the article's own networks.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::device::DeviceChoice;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// Key paths a profile may override: the budget, never the model.
pub const PROFILE_ALLOWED_PREFIXES: &[&str] = &[
    "train.epochs",
    "train.iters_per_epoch",
    "samples.",
    "checkpoint.",
    "log.",
    "eval.",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Short name; runs go to `OUT/<name>/<run id>/`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub source: Source,
    /// The framework release the article ran on (`keras-2.0`, `keras-2.2`, `tf.keras-2`,
    /// `pytorch`): it decides the era-dependent defaults (`loss.bce`, Adam's `eps`,
    /// `model.init`, `model.glorot_normal`); see [`Framework::defaults`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<Framework>,
    pub seed: u64,
    pub data: DataSpec,
    pub model: ModelSpec,
    #[serde(default)]
    pub loss: LossSpec,
    pub optim: OptimPair,
    pub noise: NoiseSpec,
    pub train: TrainSpec,
    /// Article quirks to train without (each names its variant's quirk, see
    /// [`Quirk`]): `--set 'undo=[reused_g_noise]'`, a notebook's `.set("undo", ...)`,
    /// and the step-parity mutation checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undo: Vec<Quirk>,
    #[serde(default)]
    pub samples: SamplesSpec,
    #[serde(default)]
    pub checkpoint: CheckpointSpec,
    #[serde(default)]
    pub log: LogSpec,
    #[serde(default)]
    pub eval: EvalSpec,
    /// Compute threads; `null` uses all cores (or `--threads`).
    #[serde(default, deserialize_with = "de_opt_pos_usize")]
    pub threads: Option<usize>,
    /// Where to compute: `cpu` (the default), `cuda` or `auto` (CUDA when this build has
    /// it and a GPU answers, else the CPU); `--device` overrides it.
    #[serde(default, skip_serializing_if = "DeviceChoice::is_cpu")]
    pub device: DeviceChoice,
    /// Runs of this spec over seeds and/or a grid of keys (`ganlab sweep`).
    #[serde(default, skip_serializing_if = "SweepSpec::is_empty")]
    pub sweep: SweepSpec,
    /// Named overrides of budget keys, e.g. `quick: { train.epochs: 2 }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, BTreeMap<String, Value>>,
    /// The profile this resolved spec was built with (set by ganlab, not by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The article's title.
    pub title: String,
    /// Where its text and code are (file under `../shared/articles/` or a URL).
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    #[serde(default = "default_dataset")]
    pub dataset: Dataset,
    /// MNIST directory; overridden by `GANLAB_DATA` and `--data-dir`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    pub scale: Scale,
}

fn default_dataset() -> Dataset {
    Dataset::Mnist
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    Mnist,
}

/// How u8 pixels become network inputs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Keras articles: `(x - 127.5) / 127.5`, in [-1, 1].
    Keras127,
    /// torchvision `ToTensor()` then `Normalize((0.5,), (0.5,))`: `(x / 255 - 0.5) / 0.5`.
    TorchNormalizeHalf,
    /// `x / 255`, in [0, 1].
    Unit,
}

impl Scale {
    pub fn apply(self, px: u8) -> f32 {
        let x = px as f32;
        match self {
            Scale::Keras127 => (x - 127.5) / 127.5,
            Scale::TorchNormalizeHalf => (x / 255.0 - 0.5) / 0.5,
            Scale::Unit => x / 255.0,
        }
    }
    /// Inverse map to a grey level for pictures.
    pub fn to_u8(self, v: f32) -> u8 {
        let x = match self {
            Scale::Keras127 | Scale::TorchNormalizeHalf => v * 127.5 + 127.5,
            Scale::Unit => v * 255.0,
        };
        x.round().clamp(0.0, 255.0) as u8
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub variant: Variant,
    /// Widths of the generator's hidden Dense layers.
    #[serde(default)]
    pub g_hidden: Vec<usize>,
    /// Widths of the discriminator's hidden Dense layers.
    #[serde(default)]
    pub d_hidden: Vec<usize>,
    #[serde(default = "default_slope", deserialize_with = "de_unit_f64")]
    pub leaky_slope: f64,
    /// Dropout rate after each hidden D layer (0 = none).
    #[serde(default, deserialize_with = "de_rate")]
    pub dropout: f64,
    /// Dense initialiser; the framework's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Init>,
    /// What `glorot_normal` draws (ACGAN's convolutions and embedding); the
    /// framework's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glorot_normal: Option<GlorotNormal>,
}

impl ModelSpec {
    /// The Dense initialiser (resolved from the framework when the spec was loaded).
    pub fn init(&self) -> Init {
        self.init.expect("model.init is resolved by Spec::load")
    }
    /// The `glorot_normal` variant (resolved from the framework when the spec was loaded).
    pub fn glorot_normal(&self) -> GlorotNormal {
        self.glorot_normal
            .expect("model.glorot_normal is resolved by Spec::load")
    }
}

fn default_slope() -> f64 {
    0.2
}

/// An article's quirk that `undo:` can take away (one variant each).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Quirk {
    /// 000: G's step reuses the D step's noise. Undone: fresh noise for the G step.
    ReusedGNoise,
    /// 002: D steps on the sum of its real and fake losses (two `backward()`s).
    /// Undone: on their mean (one cross-entropy over the stacked batch).
    SummedDLoss,
    /// 001: D's fakes come from `g.predict`, G's BatchNorm in inference mode (moving
    /// averages that start at 0 and 1). Undone: batch statistics (training mode).
    InferenceBnFakes,
}

impl Variant {
    /// The `model.*` keys this variant's article reads (besides `variant`); the CNN
    /// articles' layer stacks are fixed by their code (`src/models/`).
    pub fn model_keys(self) -> &'static [&'static str] {
        match self {
            Variant::MlpKeras | Variant::MlpPytorch => &["g_hidden", "d_hidden", "leaky_slope", "dropout", "init"],
            Variant::Dcgan => &["leaky_slope", "dropout"],
            Variant::TanhCnn => &[],
            Variant::Acgan => &["leaky_slope", "dropout", "glorot_normal"],
        }
    }

    /// [`Variant::model_keys`] as said in messages.
    pub fn model_keys_text(self) -> String {
        match self.model_keys() {
            [] => "no model keys, its layers are the article's".into(),
            keys => keys.join(", "),
        }
    }
}

impl Quirk {
    pub const ALL: [Quirk; 3] = [Quirk::ReusedGNoise, Quirk::SummedDLoss, Quirk::InferenceBnFakes];

    /// The variant whose article has this quirk.
    pub fn variant(self) -> Variant {
        match self {
            Quirk::ReusedGNoise => Variant::MlpKeras,
            Quirk::SummedDLoss => Variant::MlpPytorch,
            Quirk::InferenceBnFakes => Variant::TanhCnn,
        }
    }
}

impl std::fmt::Display for Quirk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Quirk::ReusedGNoise => "reused_g_noise",
            Quirk::SummedDLoss => "summed_d_loss",
            Quirk::InferenceBnFakes => "inference_bn_fakes",
        })
    }
}

impl Spec {
    /// True when the spec trains without `q` (`undo:` names it).
    pub fn undoes(&self, q: Quirk) -> bool {
        self.undo.contains(&q)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Article 000: Keras vanilla MLP GAN.
    MlpKeras,
    /// Article 002: PyTorch MLP GAN.
    MlpPytorch,
    /// Article 004: DCGAN with Conv2DTranspose (Brownlee).
    Dcgan,
    /// Article 001: keras-dcgan's tanh CNN trained with Nesterov SGD.
    TanhCnn,
    /// Article 003: Keras `mnist_acgan.py`.
    Acgan,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Variant::MlpKeras => "mlp_keras",
            Variant::MlpPytorch => "mlp_pytorch",
            Variant::Dcgan => "dcgan",
            Variant::TanhCnn => "tanh_cnn",
            Variant::Acgan => "acgan",
        };
        f.write_str(s)
    }
}

/// Weight initialisation scheme of the article's framework.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Keras default: glorot_uniform kernels, zero biases.
    GlorotUniform,
    /// PyTorch `nn.Linear` default: kaiming_uniform(a = sqrt(5)) weights,
    /// uniform(+-1/sqrt(fan_in)) biases.
    TorchDefault,
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Init::GlorotUniform => "glorot_uniform",
            Init::TorchDefault => "torch_default",
        })
    }
}

/// Keras's `glorot_normal`: which truncated normal a release draws.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GlorotNormal {
    /// Keras 2.0-2.1: `VarianceScaling(distribution='normal')` is a normal truncated at
    /// two standard deviations of `sigma = sqrt(2 / (fan_in + fan_out))`, so the draws'
    /// standard deviation is 0.88 sigma.
    Truncated,
    /// Keras >= 2.2.0 and tf.keras: the same truncation with sigma divided by
    /// 0.87962566, so that the draws' standard deviation is sigma.
    TruncatedScaled,
}

impl fmt::Display for GlorotNormal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GlorotNormal::Truncated => "truncated",
            GlorotNormal::TruncatedScaled => "truncated_scaled",
        })
    }
}

/// The framework release an article's code ran on. Each decides a set of defaults
/// ([`Framework::defaults`]) that differ between releases and that an article's code
/// takes without naming them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Framework {
    /// Standalone Keras 2.0.x on the TensorFlow backend (2017).
    #[serde(rename = "keras-2.0")]
    Keras20,
    /// Standalone Keras 2.2.x on the TensorFlow backend (2018-2019).
    #[serde(rename = "keras-2.2")]
    Keras22,
    /// tf.keras in TensorFlow 2 (and the `keras` 2.4+ package, which redirects to it).
    #[serde(rename = "tf.keras-2")]
    TfKeras2,
    /// PyTorch (`nn.BCELoss`, `optim.Adam`, `nn.Linear`'s default init).
    #[serde(rename = "pytorch")]
    Pytorch,
}

/// The era-dependent settings a [`Framework`] implies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EraDefaults {
    pub bce: BceSemantics,
    pub adam_eps: f64,
    pub init: Init,
    pub glorot_normal: GlorotNormal,
}

impl Framework {
    pub const ALL: [Framework; 4] = [
        Framework::Keras20,
        Framework::Keras22,
        Framework::TfKeras2,
        Framework::Pytorch,
    ];

    /// The defaults of this release (evidence: README, Fidelity; Keras's own history):
    /// - binary cross-entropy: standalone Keras clips p to [1e-7, 1 - 1e-7]; tf.keras
    ///   takes the sigmoid's logits; PyTorch's `BCELoss` clamps the logs at -100;
    /// - Adam's epsilon: 1e-8 in Keras 2.0 (up to 2.1.2) and PyTorch, `K.epsilon()` =
    ///   1e-7 from Keras 2.1.3 on and in tf.keras;
    /// - `glorot_normal`: unscaled truncated normal before Keras 2.2.0 (commit 895dba6,
    ///   2018-05-07), scaled by 1 / 0.87962566 from then on.
    pub fn defaults(self) -> EraDefaults {
        use BceSemantics::*;
        use GlorotNormal::*;
        let (bce, adam_eps, init, glorot_normal) = match self {
            Framework::Keras20 => (Clip, 1e-8, Init::GlorotUniform, Truncated),
            Framework::Keras22 => (Clip, 1e-7, Init::GlorotUniform, TruncatedScaled),
            Framework::TfKeras2 => (Logits, 1e-7, Init::GlorotUniform, TruncatedScaled),
            Framework::Pytorch => (Torch, 1e-8, Init::TorchDefault, TruncatedScaled),
        };
        EraDefaults {
            bce,
            adam_eps,
            init,
            glorot_normal,
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framework::Keras20 => "keras-2.0",
            Framework::Keras22 => "keras-2.2",
            Framework::TfKeras2 => "tf.keras-2",
            Framework::Pytorch => "pytorch",
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LossSpec {
    /// Binary cross-entropy semantics; the framework's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bce: Option<BceSemantics>,
}

impl LossSpec {
    /// The cross-entropy semantics (resolved from the framework when the spec was loaded).
    pub fn bce(&self) -> BceSemantics {
        self.bce.expect("loss.bce is resolved by Spec::load")
    }
}

/// How binary cross-entropy treats a saturated discriminator (see README, Fidelity).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BceSemantics {
    /// Standalone Keras 2.0-2.2 (TF backend): p clipped to [1e-7, 1 - 1e-7], no gradient outside.
    Clip,
    /// tf.keras / tf_keras: computed from the sigmoid's logits, never saturates.
    Logits,
    /// PyTorch `nn.BCELoss`: log terms clamped at -100.
    Torch,
}

impl fmt::Display for BceSemantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BceSemantics::Clip => "clip",
            BceSemantics::Logits => "logits",
            BceSemantics::Torch => "torch",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimPair {
    pub g: OptimSpec,
    pub d: OptimSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimSpec {
    pub kind: OptimKind,
    #[serde(deserialize_with = "de_lr")]
    pub lr: f64,
    #[serde(default = "default_beta1", deserialize_with = "de_beta")]
    pub beta1: f64,
    #[serde(default = "default_beta2", deserialize_with = "de_beta")]
    pub beta2: f64,
    /// Adam's epsilon (unused by SGD); the framework's when absent.
    #[serde(default, deserialize_with = "de_opt_eps", skip_serializing_if = "Option::is_none")]
    pub eps: Option<f64>,
    /// SGD momentum (unused by Adam).
    #[serde(default, deserialize_with = "de_beta")]
    pub momentum: f64,
    /// SGD Nesterov momentum (unused by Adam).
    #[serde(default)]
    pub nesterov: bool,
}

impl OptimSpec {
    /// Adam's epsilon (resolved from the framework when the spec was loaded).
    pub fn eps(&self) -> f64 {
        self.eps.expect("optim.*.eps is resolved by Spec::load")
    }
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OptimKind {
    /// Keras 2 Adam: eps added after the square root of the uncorrected v.
    AdamKeras,
    /// PyTorch Adam: eps added to the bias-corrected sqrt(v).
    AdamTorch,
    /// Keras 2 SGD with (Nesterov) momentum.
    SgdKeras,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    pub dist: NoiseDist,
    #[serde(deserialize_with = "de_pos_usize")]
    pub dim: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoiseDist {
    /// N(0, 1).
    Normal,
    /// U[-1, 1].
    Uniform,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    #[serde(deserialize_with = "de_pos_usize")]
    pub batch_size: usize,
    #[serde(deserialize_with = "de_pos_usize")]
    pub epochs: usize,
    /// Iterations per epoch where the article fixes it (or a profile shortens it);
    /// `null` means one pass over the data.
    #[serde(default, deserialize_with = "de_opt_pos_usize")]
    pub iters_per_epoch: Option<usize>,
    pub sampling: Sampling,
    /// With `shuffle`: drop the last partial batch (PyTorch `drop_last`).
    #[serde(default)]
    pub drop_last: bool,
    /// What a NaN or infinite loss does: `stop` the run as `diverged` (the default),
    /// or `continue` training and logging (a warning at the first one).
    #[serde(default, skip_serializing_if = "OnDivergence::is_stop")]
    pub on_divergence: OnDivergence,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnDivergence {
    #[default]
    Stop,
    Continue,
}

impl OnDivergence {
    fn is_stop(&self) -> bool {
        *self == OnDivergence::Stop
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Random indices drawn with replacement for every batch (`np.random.randint`).
    WithReplacement,
    /// A shuffled pass over the data each epoch (`DataLoader(shuffle=True)`).
    Shuffle,
    /// The data in stored order every epoch (`X_train[index*B:(index+1)*B]`).
    Sequential,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SamplesSpec {
    /// Epochs that always get a grid (the Keras article draws after epoch 1).
    #[serde(default)]
    pub at: Vec<usize>,
    /// Also a grid every this many iterations within an epoch, at iterations
    /// 0, n, 2n, ... (0 = never; keras-dcgan's `index % 100 == 0`).
    #[serde(default)]
    pub every_iters: usize,
    /// And every this many epochs (0 = never); the last epoch always gets one.
    #[serde(default)]
    pub every: usize,
    #[serde(default = "default_grid", deserialize_with = "de_pos_usize")]
    pub rows: usize,
    #[serde(default = "default_grid", deserialize_with = "de_pos_usize")]
    pub cols: usize,
    #[serde(default)]
    pub style: GridStyle,
}

fn default_grid() -> usize {
    8
}

impl Default for SamplesSpec {
    fn default() -> Self {
        SamplesSpec {
            at: vec![],
            every: 0,
            every_iters: 0,
            rows: 8,
            cols: 8,
            style: GridStyle::WhiteOnBlack,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GridStyle {
    /// Light digits on black (MNIST as stored).
    #[default]
    WhiteOnBlack,
    /// Dark digits on white (matplotlib `cmap='Greys'`).
    BlackOnWhite,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Save G and D every this many epochs (0 = only the final one).
    #[serde(default)]
    pub every: usize,
    /// Also save `g_iter`/`d_iter` (overwritten) when the iteration index within an
    /// epoch satisfies `index % every_iters == iter_offset` (keras-dcgan: 100 and 9).
    #[serde(default)]
    pub every_iters: usize,
    #[serde(default)]
    pub iter_offset: usize,
}

/// A sweep: every combination of the grid's values, once per seed. Grid keys are
/// `--set` key paths (e.g. `optim.d.lr`); their values are checked when a member's
/// spec is built.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Seeds to run (empty: the spec's own `seed`).
    #[serde(default)]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<Value>>,
}

impl SweepSpec {
    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty() && self.grid.is_empty()
    }
}

/// End-of-epoch evaluation, for the articles that have one (ACGAN).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Test images per evaluation (the article: all 10,000).
    #[serde(default = "test_size", deserialize_with = "de_pos_usize")]
    pub test_size: usize,
    /// Score generated samples with the pinned MNIST evaluator (FID, KID, IS, ...)
    /// after every this many epochs, into the run's `eval.parquet`; 0 never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub every_epochs: usize,
    /// Images each of those evaluations draws.
    #[serde(
        default = "eval_samples",
        deserialize_with = "de_pos_usize",
        skip_serializing_if = "is_default_eval_samples"
    )]
    pub samples: usize,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn eval_samples() -> usize {
    2000
}

fn is_default_eval_samples(v: &usize) -> bool {
    *v == eval_samples()
}

fn test_size() -> usize {
    crate::data::MNIST_TEST
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            test_size: test_size(),
            every_epochs: 0,
            samples: eval_samples(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    /// Log one metrics row every this many iterations.
    #[serde(default = "one", deserialize_with = "de_pos_usize")]
    pub every: usize,
}

fn one() -> usize {
    1
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec { every: 1 }
    }
}

// ---- range-checked fields ----
// The check runs inside a serde Visitor, so serde_yaml reports the value's own
// key path, line and column.

struct Num {
    integer: bool,
    check: fn(f64) -> Option<String>,
}

impl serde::de::Visitor<'_> for Num {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.integer { "a whole number" } else { "a number" })
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
        if self.integer && v.fract() != 0.0 {
            return Err(E::invalid_type(serde::de::Unexpected::Float(v), &self));
        }
        match (self.check)(v) {
            Some(m) => Err(E::custom(m)),
            None => Ok(v),
        }
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
}

struct OptNum(Num);

impl<'de> serde::de::Visitor<'de> for OptNum {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)?;
        f.write_str(" or null")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

fn pos_int(v: f64) -> Option<String> {
    (v < 1.0).then(|| format!("must be a whole number >= 1, got {v}"))
}

fn de_pos_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(d.deserialize_any(Num {
        integer: true,
        check: pos_int,
    })? as usize)
}

fn de_opt_pos_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    Ok(d.deserialize_option(OptNum(Num {
        integer: true,
        check: pos_int,
    }))?
    .map(|v| v as usize))
}

fn de_lr<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Num {
        integer: false,
        check: |v| (!(v > 0.0 && v < 10.0)).then(|| format!("lr must be in the open range (0, 10), got {v}")),
    })
}
fn de_beta<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Num {
        integer: false,
        check: |v| (!(0.0..1.0).contains(&v)).then(|| format!("beta must be in [0, 1), got {v}")),
    })
}
fn de_eps<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Num {
        integer: false,
        check: |v| (!(v > 0.0 && v < 1.0)).then(|| format!("eps must be in the open range (0, 1), got {v}")),
    })
}
fn de_opt_eps<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    de_eps(d).map(Some)
}
fn de_unit_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Num {
        integer: false,
        check: |v| (!(0.0..=1.0).contains(&v)).then(|| format!("must be in [0, 1], got {v}")),
    })
}
fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Num {
        integer: false,
        check: |v| (!(0.0..1.0).contains(&v)).then(|| format!("dropout rate must be in [0, 1), got {v}")),
    })
}

/// A spec error: what is wrong, where, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SpecError {
    pub origin: String,
    pub message: String,
}

fn spec_err(origin: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        origin: origin.into(),
        message: message.into(),
    }
}

/// Line and column (1-based) of `key:` inside the top-level `model:` block of `text`.
fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut in_model = false;
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        if indent == 0 && !body.is_empty() && !body.starts_with('#') {
            in_model = body.starts_with("model:");
            continue;
        }
        if in_model && body.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':')) {
            return Some((i + 1, indent + 1));
        }
    }
    None
}

/// Turn a serde_yaml message into one that also suggests the nearest valid key or value.
fn explain(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    for marker in ["unknown field `", "unknown variant `"] {
        let Some(rest) = msg.split(marker).nth(1) else {
            continue;
        };
        let bad = rest.split('`').next().unwrap_or("");
        // "..., expected one of `a`, `b`" or "..., expected `a` or `b`"
        let Some(list) = rest.split("expected ").nth(1) else {
            continue;
        };
        let best = list
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|v| (strsim::levenshtein(bad, v), v))
            .filter(|(d, _)| *d <= 3)
            .min();
        if let Some((_, v)) = best {
            return format!("{msg} (did you mean `{v}`?)");
        }
    }
    msg
}

/// Parse a `--set` value as a YAML scalar or flow value (`3`, `0.5`, `[1, 2]`, `clip`).
fn parse_value(raw: &str) -> Value {
    serde_yaml::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// Set a dotted key path in a YAML tree, creating maps where the path is new.
/// Unknown paths are caught by the typed deserialisation that follows.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{path}` is not a key path (use dots, e.g. train.epochs)"));
    }
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let map = match cur {
            Value::Mapping(m) => m,
            Value::Null => {
                *cur = Value::Mapping(Default::default());
                match cur {
                    Value::Mapping(m) => m,
                    _ => unreachable!(),
                }
            }
            _ => {
                return Err(format!(
                    "`{}` is a value, not a section, so `{path}` does not exist",
                    parts[..i].join(".")
                ))
            }
        };
        let key = Value::String((*part).to_string());
        if i + 1 == parts.len() {
            map.insert(key, value);
            return Ok(());
        }
        cur = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}

impl Spec {
    /// Parse a spec file, apply a profile and `--set KEY=VALUE` overrides, validate.
    pub fn load(path: &Path, profile: Option<&str>, sets: &[String]) -> Result<Spec, SpecError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            spec_err(
                &origin,
                format!("cannot read the spec ({e}); the specs are in experiments/"),
            )
        })?;
        Self::from_str_with(&text, &origin, profile, sets)
    }

    /// As [`Spec::load`], from text; `origin` names the text in errors.
    pub fn from_str_with(text: &str, origin: &str, profile: Option<&str>, sets: &[String]) -> Result<Spec, SpecError> {
        // Pass 1: the file as written, with line and column on every error.
        let mut base: Spec = serde_yaml::from_str(text).map_err(|e| spec_err(origin, explain(&e)))?;
        base.resolve_era().map_err(|m| spec_err(origin, m))?;
        base.validate()
            .map_err(|m| match base.ignored_model_key().and_then(|k| key_position(text, k)) {
                Some((line, col)) => spec_err(origin, format!("{m} (at line {line} column {col})")),
                None => spec_err(origin, m),
            })?;
        for (pname, keys) in &base.profiles {
            for key in keys.keys() {
                if !PROFILE_ALLOWED_PREFIXES.iter().any(|p| key == p || key.starts_with(p)) {
                    return Err(spec_err(
                        origin,
                        format!(
                            "profile `{pname}` sets `{key}`, but profiles may only change the budget: {}",
                            PROFILE_ALLOWED_PREFIXES.join(", ")
                        ),
                    ));
                }
            }
        }
        if profile.is_none() && sets.is_empty() {
            return Ok(base);
        }
        // Pass 2: overrides on the YAML tree, then the same typed checks.
        let mut tree: Value = serde_yaml::from_str(text).map_err(|e| spec_err(origin, e.to_string()))?;
        let mut what = Vec::new();
        if let Some(p) = profile {
            let keys = base.profiles.get(p).ok_or_else(|| {
                let known: Vec<&str> = base.profiles.keys().map(|s| s.as_str()).collect();
                spec_err(
                    origin,
                    format!(
                        "unknown profile `{p}`; this spec has: {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })?;
            for (k, v) in keys {
                set_path(&mut tree, k, v.clone()).map_err(|m| spec_err(origin, format!("profile `{p}`: {m}")))?;
            }
            set_path(&mut tree, "profile", Value::String(p.to_string())).map_err(|m| spec_err(origin, m))?;
            what.push(format!("profile `{p}`"));
        }
        for s in sets {
            let (k, v) = s.split_once('=').ok_or_else(|| {
                spec_err(
                    origin,
                    format!("--set `{s}` must look like KEY=VALUE, e.g. --set train.epochs=3"),
                )
            })?;
            set_path(&mut tree, k.trim(), parse_value(v.trim()))
                .map_err(|m| spec_err(origin, format!("--set {s}: {m}")))?;
            what.push(format!("--set {s}"));
        }
        let mut spec: Spec = serde_yaml::from_value(tree)
            .map_err(|e| spec_err(format!("{origin} with {}", what.join(", ")), explain(&e)))?;
        spec.resolve_era()
            .map_err(|m| spec_err(format!("{origin} with {}", what.join(", ")), m))?;
        spec.validate()
            .map_err(|m| spec_err(format!("{origin} with {}", what.join(", ")), m))?;
        Ok(spec)
    }

    /// Fills every era-dependent key the spec leaves out from its `framework`'s
    /// defaults. Without a framework (a `config.yaml` written before ganlab had eras),
    /// `loss.bce` and `model.init` must be given and the rest take what ganlab used
    /// then (Adam eps 1e-7, the scaled glorot_normal).
    fn resolve_era(&mut self) -> Result<(), String> {
        let d = match self.framework {
            Some(f) => f.defaults(),
            None => {
                let missing: Vec<&str> = [
                    ("loss.bce", self.loss.bce.is_none()),
                    ("model.init", self.model.init.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(k, _)| *k)
                .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "{} not set and the spec names no framework to take {} from; add `framework: {}` (the release the article ran on; README, Fidelity) or set {}",
                        missing.join(" and "),
                        if missing.len() == 1 { "it" } else { "them" },
                        Framework::ALL.map(|f| f.to_string()).join(" | "),
                        missing.join(" and "),
                    ));
                }
                EraDefaults {
                    bce: BceSemantics::Clip,
                    adam_eps: 1e-7,
                    init: Init::GlorotUniform,
                    glorot_normal: GlorotNormal::TruncatedScaled,
                }
            }
        };
        self.loss.bce.get_or_insert(d.bce);
        self.model.init.get_or_insert(d.init);
        self.model.glorot_normal.get_or_insert(d.glorot_normal);
        for o in [&mut self.optim.g, &mut self.optim.d] {
            o.eps.get_or_insert(d.adam_eps);
        }
        Ok(())
    }

    /// The era-dependent keys whose value differs from the framework's default, as
    /// `(key, value, the framework's value)`: what `inspect` and the report flag.
    pub fn era_overrides(&self) -> Vec<(String, String, String)> {
        let Some(f) = self.framework else { return Vec::new() };
        let d = f.defaults();
        let mut out = Vec::new();
        let mut check = |k: &str, v: String, dv: String| {
            if v != dv {
                out.push((k.to_string(), v, dv));
            }
        };
        check("loss.bce", self.loss.bce().to_string(), d.bce.to_string());
        check("model.init", self.model.init().to_string(), d.init.to_string());
        if self.model.variant == Variant::Acgan {
            check(
                "model.glorot_normal",
                self.model.glorot_normal().to_string(),
                d.glorot_normal.to_string(),
            );
        }
        for (n, o) in [("g", &self.optim.g), ("d", &self.optim.d)] {
            if o.kind != OptimKind::SgdKeras {
                check(
                    &format!("optim.{n}.eps"),
                    format!("{:e}", o.eps()),
                    format!("{:e}", d.adam_eps),
                );
            }
        }
        out
    }

    /// A `model.*` key the variant ignores, set to something other than what ganlab
    /// would use anyway (its default, or the era's for `init` and `glorot_normal`:
    /// every `config.yaml` states those, whatever the variant).
    fn ignored_model_key(&self) -> Option<&'static str> {
        let reads = self.model.variant.model_keys();
        let era = self.framework.map(|f| f.defaults());
        let m = &self.model;
        let set = [
            ("g_hidden", !m.g_hidden.is_empty()),
            ("d_hidden", !m.d_hidden.is_empty()),
            ("dropout", m.dropout != 0.0),
            ("leaky_slope", m.leaky_slope != default_slope()),
            ("init", era.is_some_and(|d| m.init != Some(d.init))),
            (
                "glorot_normal",
                era.is_some_and(|d| m.glorot_normal != Some(d.glorot_normal)),
            ),
        ];
        set.into_iter()
            .find(|(k, on)| *on && !reads.contains(k))
            .map(|(k, _)| k)
    }

    /// Checks that span several fields.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "name `{}` must be non-empty and use only letters, digits, _ and -",
                self.name
            ));
        }
        let n = crate::data::MNIST_TRAIN;
        if self.train.batch_size > n {
            return Err(format!(
                "train.batch_size {} is larger than the dataset ({n} images); use at most {n}",
                self.train.batch_size
            ));
        }
        if let Some(q) = self.undo.iter().find(|q| q.variant() != self.model.variant) {
            let own: Vec<String> = Quirk::ALL
                .iter()
                .filter(|o| o.variant() == self.model.variant)
                .map(|o| o.to_string())
                .collect();
            return Err(format!(
                "undo: `{q}` is a quirk of variant {}, not of {}; this variant's quirks: {}",
                q.variant(),
                self.model.variant,
                if own.is_empty() {
                    "none".to_string()
                } else {
                    own.join(", ")
                }
            ));
        }
        if self.train.sampling == Sampling::WithReplacement && self.train.iters_per_epoch.is_none() {
            return Err("train.iters_per_epoch is required with train.sampling: with_replacement".into());
        }
        if let Some(key) = self.ignored_model_key() {
            return Err(format!(
                "model.{key} has no effect on variant {}: its article does not read it (it reads: {}); remove it",
                self.model.variant,
                self.model.variant.model_keys_text()
            ));
        }
        match self.model.variant {
            Variant::MlpKeras | Variant::MlpPytorch => {
                if self.model.g_hidden.is_empty() || self.model.d_hidden.is_empty() {
                    return Err(format!(
                        "model.g_hidden and model.d_hidden must list the hidden widths for variant {}",
                        self.model.variant
                    ));
                }
                if self.model.g_hidden.iter().chain(&self.model.d_hidden).any(|&w| w == 0) {
                    return Err("model.g_hidden and model.d_hidden widths must be >= 1".into());
                }
            }
            // The CNN articles' layer stacks are fixed by their code (src/models/);
            // `ignored_model_key` refuses hidden widths for them.
            Variant::Dcgan | Variant::TanhCnn | Variant::Acgan => {}
        }
        Ok(())
    }

    /// Iterations in one epoch of this spec.
    pub fn iters_per_epoch(&self, dataset_len: usize) -> usize {
        let full = match (self.train.sampling, self.train.drop_last) {
            (Sampling::Shuffle | Sampling::Sequential, true) => dataset_len / self.train.batch_size,
            _ => dataset_len.div_ceil(self.train.batch_size),
        };
        self.train.iters_per_epoch.unwrap_or(full)
    }

    /// Does epoch `e` (1-based) get a sample grid?
    pub fn grid_at(&self, e: usize) -> bool {
        self.samples.at.contains(&e)
            || (self.samples.every > 0 && e.is_multiple_of(self.samples.every))
            || e == self.train.epochs
    }

    /// The resolved spec as YAML (what goes into a run's `config.yaml`).
    pub fn to_yaml(&self) -> String {
        let mut s = self.clone();
        s.profiles.clear();
        serde_yaml::to_string(&s).unwrap_or_default()
    }

    /// A short stable hash of the resolved spec (for provenance).
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(self.to_yaml().as_bytes());
        d.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}
