//! Spec parsing, profiles, overrides and every class of validation error.

mod common;

use ganlab::spec::{BceSemantics, Sampling, Spec, Variant};

const BASE: &str = include_str!("../experiments/vanilla_mlp_keras.yaml");

fn err(text: &str, profile: Option<&str>, sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match Spec::from_str_with(text, "test.yaml", profile, &sets) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// The error for BASE with `from` (which must be in it) replaced by `to`, and the
/// checks that it holds each of `want`.
fn err_when(from: &str, to: &str, want: &[&str]) -> String {
    assert!(BASE.contains(from), "BASE has no `{from}`");
    let e = err(&BASE.replacen(from, to, 1), None, &[]);
    for w in want {
        assert!(e.contains(w), "`{w}` not in: {e}");
    }
    e
}

#[test]
fn both_article_specs_parse_with_their_semantics() {
    let k = Spec::load(&common::spec_path("vanilla_mlp_keras"), None, &[]).unwrap();
    assert_eq!(k.model.variant, Variant::MlpKeras);
    assert_eq!(k.loss.bce(), BceSemantics::Logits);
    assert_eq!(k.train.iters_per_epoch, Some(128));
    assert_eq!(k.train.epochs, 400);
    assert_eq!(k.train.sampling, Sampling::WithReplacement);
    let p = Spec::load(&common::spec_path("mlp_pytorch"), None, &[]).unwrap();
    assert_eq!(p.model.variant, Variant::MlpPytorch);
    assert_eq!(p.loss.bce(), BceSemantics::Torch);
    assert_eq!(p.iters_per_epoch(60_000), 600);
    assert_eq!(p.optim.d.eps(), 1e-8);
}

#[test]
fn profile_and_set_override_the_budget() {
    let s = Spec::from_str_with(
        BASE,
        "t",
        Some("quick"),
        &["train.epochs=3".into(), "loss.bce=clip".into()],
    )
    .unwrap();
    assert_eq!(s.train.epochs, 3);
    assert_eq!(s.profile.as_deref(), Some("quick"));
    assert_eq!(s.loss.bce(), BceSemantics::Clip);
    // The model is untouched by the profile.
    let base = Spec::from_str_with(BASE, "t", None, &[]).unwrap();
    assert_eq!(s.model, base.model);
    // The resolved spec round-trips through config.yaml.
    let again = Spec::from_str_with(&s.to_yaml(), "config.yaml", None, &[]).unwrap();
    assert_eq!(again.train.epochs, 3);
    assert_eq!(again.hash(), s.hash());
}

#[test]
fn malformed_yaml_names_line() {
    let e = err("name: x\nseed: [1, 2\n", None, &[]);
    assert!(e.starts_with("test.yaml:"), "{e}");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn unknown_key_suggests_nearest() {
    err_when(
        "  batch_size: 128",
        "  bach_size: 128",
        &["unknown field `bach_size`", "did you mean `batch_size`", "line"],
    );
}

#[test]
fn wrong_type_is_rejected_with_position() {
    err_when("  epochs: 400", "  epochs: many", &["train.epochs", "line"]);
}

#[test]
fn out_of_range_values_are_rejected() {
    let cases = [
        (
            "lr: 0.0002, beta1: 0.5, beta2: 0.999 }\n  d:",
            "lr: 0, beta1: 0.5, beta2: 0.999 }\n  d:",
            "lr must be",
        ),
        (
            "beta2: 0.999 }\n  d:",
            "beta2: 0.999, eps: 2 }\n  d:",
            "eps must be in the open range (0, 1)",
        ),
        ("  batch_size: 128", "  batch_size: 0", ">= 1"),
        ("  epochs: 400", "  epochs: -3", ">= 1"),
        ("  batch_size: 128", "  batch_size: 70000", "larger than the dataset"),
        ("  dropout: 0.3", "  dropout: 1.5", "dropout rate"),
    ];
    for (from, to, want) in cases {
        err_when(from, to, &[want]);
    }
}

#[test]
fn unknown_variant_and_profile() {
    err_when(
        "variant: mlp_keras",
        "variant: mlp_kears",
        &["unknown variant", "did you mean `mlp_keras`"],
    );
    let e = err(BASE, Some("slow"), &[]);
    assert!(e.contains("unknown profile `slow`") && e.contains("quick"), "{e}");
}

#[test]
fn bad_set_path_and_value() {
    let e = err(BASE, None, &["train.epocs=3"]);
    assert!(
        e.contains("--set train.epocs=3") && e.contains("did you mean `epochs`"),
        "{e}"
    );
    let e = err(BASE, None, &["train.epochs=abc"]);
    assert!(e.contains("train.epochs"), "{e}");
    let e = err(BASE, None, &["train.epochs"]);
    assert!(e.contains("KEY=VALUE"), "{e}");
    let e = err(BASE, None, &["seed.x=1"]);
    assert!(e.contains("not a section"), "{e}");
    let e = err(BASE, None, &["loss.bce=clipped"]);
    assert!(e.contains("unknown variant `clipped`"), "{e}");
}

#[test]
fn profiles_cannot_change_the_model() {
    err_when(
        "    train.epochs: 5",
        "    train.epochs: 5\n    model.dropout: 0.0",
        &["profiles may only change the budget"],
    );
}

#[test]
fn replacement_sampling_needs_iters_per_epoch() {
    err_when("  iters_per_epoch: 128\n", "", &["iters_per_epoch is required"]);
}

#[test]
fn a_spec_without_its_era_must_set_the_era_keys_itself() {
    // Without `framework:`, nothing can fill loss.bce and model.init: one clear error.
    let text = BASE.replace("framework: tf.keras-2\n", "");
    let e = err(&text, None, &[]);
    assert!(e.starts_with("test.yaml: "), "{e}");
    assert!(e.contains("loss.bce and model.init not set"), "{e}");
    assert!(
        e.contains("add `framework: keras-2.0 | keras-2.2 | tf.keras-2 | pytorch`"),
        "{e}"
    );
    // An unknown era is refused with the list.
    err_when(
        "framework: tf.keras-2",
        "framework: keras-3",
        &["unknown variant `keras-3`", "tf.keras-2"],
    );
    // Given by hand, the keys stand without an era (a config.yaml from before eras).
    let text = text.replace("  dropout: 0.3\n", "  dropout: 0.3\n  init: glorot_uniform\n");
    let s = Spec::from_str_with(&format!("{text}loss:\n  bce: logits\n"), "old.yaml", None, &[]).unwrap();
    assert_eq!(
        (s.framework, s.loss.bce(), s.optim.g.eps()),
        (None, BceSemantics::Logits, 1e-7)
    );
}

/// `undo:` takes an article's quirk away, only on that article's variant; the
/// resolved spec (a run's config.yaml) names it, and a spec without it is unchanged.
#[test]
fn undo_names_a_quirk_of_the_specs_own_variant() {
    use ganlab::spec::Quirk;
    let s = Spec::from_str_with(BASE, "test.yaml", None, &["undo=[reused_g_noise]".into()]).unwrap();
    assert!(s.undoes(Quirk::ReusedGNoise) && !s.undoes(Quirk::SummedDLoss));
    assert!(s.to_yaml().contains("undo:\n- reused_g_noise"), "{}", s.to_yaml());
    let plain = Spec::from_str_with(BASE, "test.yaml", None, &[]).unwrap();
    assert!(!plain.to_yaml().contains("undo"), "a spec without undo keeps its hash");
    let e = err(BASE, None, &["undo=[summed_d_loss]"]);
    assert!(
        e.contains("test.yaml")
            && e.contains("`summed_d_loss` is a quirk of variant mlp_pytorch")
            && e.contains("this variant's quirks: reused_g_noise"),
        "{e}"
    );
    let e = err(BASE, None, &["undo=[no_such_quirk]"]);
    assert!(e.contains("no_such_quirk") && e.contains("reused_g_noise"), "{e}");
}

/// Issue 21: a `model.*` key the variant's article does not read is refused, with
/// its line and column in the file, or naming the `--set`; the value ganlab uses
/// anyway (what every config.yaml states) is accepted, so old runs still load.
#[test]
fn a_model_key_the_variant_ignores_is_refused() {
    let tanh = std::fs::read_to_string(common::spec_path("tanh_cnn_sgd")).unwrap();
    let text = tanh.replace("  variant: tanh_cnn\n", "  variant: tanh_cnn\n  dropout: 0.5\n");
    let line = text.lines().position(|l| l == "  dropout: 0.5").unwrap() + 1;
    let e = err(&text, None, &[]);
    assert!(
        e.contains("model.dropout has no effect on variant tanh_cnn")
            && e.contains(&format!("at line {line} column 3"))
            && e.contains("remove it"),
        "{e}"
    );
    let dcgan = std::fs::read_to_string(common::spec_path("dcgan")).unwrap();
    let e = err(&dcgan, None, &["model.init=torch_default"]);
    assert!(
        e.contains("--set model.init=torch_default") && e.contains("reads: leaky_slope, dropout"),
        "{e}"
    );
    let e = err(&dcgan, None, &["model.g_hidden=[64]"]);
    assert!(e.contains("model.g_hidden has no effect on variant dcgan"), "{e}");
    // What a config.yaml states for every variant (defaults, the era's init) loads.
    for name in ["vanilla_mlp_keras", "mlp_pytorch", "tanh_cnn_sgd", "dcgan", "acgan"] {
        let s = Spec::load(&common::spec_path(name), None, &[]).unwrap();
        let again = Spec::from_str_with(&s.to_yaml(), "config.yaml", None, &[]).unwrap();
        assert_eq!(again.hash(), s.hash(), "{name}");
    }
    // A key the variant reads stays free.
    Spec::from_str_with(&dcgan, "dcgan.yaml", None, &["model.dropout=0".into()]).unwrap();
}
