//! Bounded mutation fuzzing of the three parsers that read user files (the spec
//! parser and validator, the IDX reader, the checkpoint loader), in the normal test
//! run: thousands of byte flips, truncations, duplications and insertions of valid
//! inputs must each give `Ok` or a clear `Err`, never a panic. (The coverage-guided
//! cargo-fuzz targets in `fuzz/` go further; see `.ci/fuzz.sh`.)

mod common;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn mutate(base: &[u8], r: &mut ChaCha8Rng) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..r.random_range(1..6) {
        if v.is_empty() {
            v.push(r.random());
            continue;
        }
        let i = r.random_range(0..v.len());
        match r.random_range(0..5) {
            0 => v[i] = r.random(),
            1 => v.truncate(i),
            2 => {
                let j = r.random_range(i..v.len());
                let chunk = v[i..j].to_vec();
                v.splice(i..i, chunk);
            }
            3 => {
                let alphabet = b"{}[]:-,'\"\n 0123456789.e";
                v.insert(i, alphabet[r.random_range(0..alphabet.len())]);
            }
            _ => {
                let j = r.random_range(i..v.len());
                v.drain(i..j);
            }
        }
    }
    v
}

fn no_panic<F: Fn(&[u8])>(name: &str, base: &[u8], n: usize, f: F) {
    let mut r = ChaCha8Rng::seed_from_u64(7);
    for k in 0..n {
        let input = mutate(base, &mut r);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&input))).is_err() {
            let path = std::env::temp_dir().join(format!("ganlab-fuzz-{name}-{k}.bin"));
            std::fs::write(&path, &input).unwrap();
            panic!("{name}: input {k} panicked (saved to {})", path.display());
        }
    }
}

#[test]
fn spec_parser_never_panics() {
    for name in ["vanilla_mlp_keras", "tanh_cnn_sgd", "acgan"] {
        let base = std::fs::read(common::spec_path(name)).unwrap();
        no_panic(name, &base, 1500, |b| {
            let text = String::from_utf8_lossy(b);
            let _ = ganlab::spec::Spec::from_str_with(&text, "fuzz", Some("quick"), &[]);
        });
    }
}

#[test]
fn idx_reader_never_panics() {
    let raw = {
        use std::io::Read;
        let f = std::fs::File::open(common::data_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let mut v = Vec::new();
        flate2::read::GzDecoder::new(f).read_to_end(&mut v).unwrap();
        v
    };
    let base = &raw[..64.min(raw.len())];
    no_panic("idx", base, 5000, |b| {
        let _ = ganlab::data::parse_idx(b, &ganlab::data::FILES[3], "fuzz");
    });
}

#[test]
fn checkpoint_loader_never_panics() {
    let spec = ganlab::spec::Spec::load(&common::spec_path("dcgan"), None, &[]).unwrap();
    let model = ganlab::models::build(&spec, &candle_core::Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.safetensors");
    model.discriminator().save(&p).unwrap();
    let base = std::fs::read(&p).unwrap();
    let d = model.discriminator();
    no_panic("checkpoint", &base, 1500, |b| {
        let _ = d.load_bytes(b, "fuzz");
    });
}
