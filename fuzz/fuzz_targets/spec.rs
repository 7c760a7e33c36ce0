//! The spec parser and validator, with and without the `quick` profile.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = ganlab::spec::Spec::from_str_with(&text, "fuzz", None, &[]);
    let _ = ganlab::spec::Spec::from_str_with(&text, "fuzz", Some("quick"), &["train.epochs=1".to_string()]);
});
