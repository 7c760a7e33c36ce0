//! The checkpoint loader (safetensors bytes into a model's parameters).
#![no_main]
use libfuzzer_sys::fuzz_target;

const SPEC: &str = include_str!("../../experiments/dcgan.yaml");

thread_local! {
    static MODEL: Box<dyn ganlab::models::Gan> = {
        let spec = ganlab::spec::Spec::from_str_with(SPEC, "fuzz", None, &[]).expect("the embedded spec parses");
        ganlab::models::build(&spec, &candle_core::Device::Cpu).expect("the model builds")
    };
}

fuzz_target!(|data: &[u8]| {
    MODEL.with(|m| {
        let _ = m.discriminator().load_bytes(data, "fuzz");
        let _ = m.generator().load_bytes(data, "fuzz");
    });
});
