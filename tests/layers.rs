//! Issue 21: `ganlab inspect`'s layer tables and the FLOP count come from the layers
//! themselves (`nn::Trace`). Tied here to the articles' parameter counts, to the
//! FLOPs the hand-written arithmetic gave before (the articles' layer arithmetic), and
//! to the shapes the networks really produce.

mod common;

use candle_core::Device;
use ganlab::spec::Spec;

/// (spec, G parameters incl. non-trainable, D parameters, FLOPs of one iteration)
const ARTICLES: [(&str, usize, usize, f64); 5] = [
    ("vanilla_mlp_keras", 1_486_352, 1_460_225, 4_088_659_968.0),
    ("mlp_pytorch", 1_486_352, 1_460_225, 3_194_265_600.0),
    ("tanh_cnn_sgd", 6_751_233 + 12_544, 3_485_441, 99_626_778_624.0),
    ("dcgan", 1_164_289, 40_705, 129_569_685_504.0),
    ("acgan", 8_172_521, 525_835, 1_177_316_659_200.0),
];

#[test]
fn layer_tables_and_flops_come_from_the_layers_and_match_the_articles() {
    for (name, g_params, d_params, flops) in ARTICLES {
        let s = Spec::load(&common::spec_path(name), None, &[]).unwrap();
        let m = ganlab::models::build(&s, &Device::Cpu).unwrap();
        let rows = m.layers();
        let sum = |net: &str| {
            rows.iter()
                .filter(|r| r.network == net)
                .map(|r| r.params)
                .sum::<usize>()
        };
        // The BatchNorm row of 001 counts its trainable gamma and beta; its moving
        // statistics (12,544) are the G count's non-trainable part.
        let bn_state = m.generator().state_count();
        assert_eq!(sum("G") + bn_state, g_params, "{name}: G");
        assert_eq!(sum("D"), d_params, "{name}: D");
        assert_eq!(
            m.generator().count() + bn_state,
            g_params,
            "{name}: the model holds what its table says"
        );
        assert_eq!(m.discriminator().count(), d_params, "{name}");
        assert_eq!(m.flops_per_iter(), flops, "{name}: FLOPs");
        // The last G row's shape is the image G really generates.
        let z = ganlab::rng::noise(
            &s.noise,
            2,
            &mut ganlab::rng::stream(1, ganlab::rng::Stream::Noise),
            &Device::Cpu,
        )
        .unwrap();
        let out = m.generate(&z).unwrap();
        let last_g = rows.iter().rfind(|r| r.network == "G").unwrap();
        let traced: usize = last_g
            .output
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .skip(1)
            .map(|d| d.parse::<usize>().unwrap())
            .product();
        assert_eq!(out.dims(), &[2, traced], "{name}: {}", last_g.output);
        assert!(
            rows.iter()
                .filter(|r| r.network == "D")
                .all(|r| r.output.starts_with("[n, ")),
            "{name}"
        );
    }
}

/// Issue 21: every layer has a `Config` whose `Default` is the Keras layer's own
/// defaults, and the `ParamBuilder` names each tensor under its prefix (the names
/// checkpoints and the parity drivers use), in the order the layers are built.
#[test]
fn layer_configs_default_to_keras_and_the_builder_names_the_tensors() {
    use ganlab::nn::*;
    use ganlab::spec::Init;
    assert_eq!(DenseConfig::default().init, Init::GlorotUniform);
    let c = Conv2dConfig::default();
    assert_eq!(
        (c.stride, c.padding, c.init),
        (1, Padding::Valid, KernelInit::GlorotUniform)
    );
    let t = ConvTranspose2dConfig::default();
    assert_eq!((t.stride, t.padding), (1, Padding::Valid));
    let b = BatchNormConfig::default();
    assert_eq!((b.momentum, b.eps), (0.99, 1e-3));
    assert_eq!(EmbeddingConfig::default().init, EmbeddingInit::Uniform);

    let (dev, mut rng) = (Device::Cpu, ganlab::rng::stream(1, ganlab::rng::Stream::Init));
    let mut p = Params::default();
    let mut g = ParamBuilder::new(&mut p, &mut rng, &dev).push_prefix("g");
    let dense = Dense::new(3, 4, DenseConfig::default(), g.pp("dense")).unwrap();
    let conv = Conv2d::new(2, 5, 3, Conv2dConfig::default(), g.pp("block").pp("conv")).unwrap();
    let table = Embedding::new(10, 4, EmbeddingConfig::default(), g.pp("embedding")).unwrap();
    assert_eq!(
        p.names,
        [
            "g.dense.weight",
            "g.dense.bias",
            "g.block.conv.weight",
            "g.block.conv.bias",
            "g.embedding.embeddings"
        ]
    );
    assert_eq!(
        (dense.w.dims(), conv.w.dims(), conv.b.dims()),
        (&[3, 4][..], &[5, 2, 3, 3][..], &[5][..])
    );
    // Keras's 'uniform' embedding: within +-0.05; glorot_uniform kernels within their limit.
    let v = table.table.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(
        v.iter().all(|x| x.abs() <= 0.05) && v.iter().any(|x| x.abs() > 0.01),
        "{v:?}"
    );
    let limit = (6.0f32 / (18 + 45) as f32).sqrt();
    let w = conv.w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(w.iter().all(|x| x.abs() <= limit));
    assert_eq!(p.count(), 3 * 4 + 4 + 5 * 2 * 9 + 5 + 40);
}
