//! The IDX reader, against each of the four MNIST files' expectations.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for f in &ganlab::data::FILES {
        let _ = ganlab::data::parse_idx(data, f, "fuzz");
    }
});
