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
