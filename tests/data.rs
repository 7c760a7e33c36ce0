//! The MNIST loader on the real files and on damaged copies of them.

mod common;

use std::io::Write;
use std::path::Path;

use ganlab::data::{load_idx, parse_idx, Mnist, FILES, MNIST_TEST, MNIST_TRAIN, PIXELS};

#[test]
fn real_mnist_loads_and_verifies() {
    let m = common::mnist();
    assert_eq!(m.train.len(), MNIST_TRAIN);
    assert_eq!(m.test.len(), MNIST_TEST);
    assert_eq!(m.train.images.len(), MNIST_TRAIN * PIXELS);
    // The first training label of MNIST is a 5, the first test label a 7.
    assert_eq!(m.train.labels[0], 5);
    assert_eq!(m.test.labels[0], 7);
}

fn raw_labels() -> Vec<u8> {
    let gz = std::fs::read(common::data_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
    out
}

#[test]
fn uncompressed_files_load_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), raw_labels()).unwrap();
    let labels = load_idx(dir.path(), &FILES[3]).unwrap();
    assert_eq!(labels.len(), MNIST_TEST);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let mut f = std::fs::File::create(dir.join(name)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn truncated_file_is_a_clear_error() {
    let raw = raw_labels();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t10k-labels-idx1-ubyte", &raw[..5000]);
    let e = format!("{:#}", load_idx(dir.path(), &FILES[3]).unwrap_err());
    assert!(e.contains("truncated"), "{e}");
    let e = format!("{:#}", parse_idx(&raw[..3], &FILES[3], "x").unwrap_err());
    assert!(e.contains("too short"), "{e}");
}

#[test]
fn truncated_gzip_is_a_clear_error() {
    let gz = std::fs::read(common::data_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t10k-labels-idx1-ubyte.gz", &gz[..gz.len() / 2]);
    let e = format!("{:#}", load_idx(dir.path(), &FILES[3]).unwrap_err());
    assert!(e.contains("gzip") || e.contains("truncated"), "{e}");
}

#[test]
fn wrong_magic_is_a_clear_error() {
    let mut raw = raw_labels();
    raw[3] = 0x03; // 2051 = images magic where labels are expected
    let e = format!("{:#}", parse_idx(&raw, &FILES[3], "labels").unwrap_err());
    assert!(e.contains("wrong magic number 2051"), "{e}");
}

#[test]
fn checksum_mismatch_is_a_clear_error() {
    let mut raw = raw_labels();
    let last = raw.len() - 1;
    raw[last] = (raw[last] + 1) % 10; // still a digit, still the right length
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t10k-labels-idx1-ubyte", &raw);
    let e = format!("{:#}", load_idx(dir.path(), &FILES[3]).unwrap_err());
    assert!(e.contains("SHA-256") && e.contains("ganlab data fetch"), "{e}");
}

#[test]
fn wrong_count_is_a_clear_error() {
    let mut raw = raw_labels();
    raw[4..8].copy_from_slice(&9999u32.to_be_bytes());
    let e = format!("{:#}", parse_idx(&raw, &FILES[3], "labels").unwrap_err());
    assert!(e.contains("holds 9999 items, expected 10000"), "{e}");
}

#[test]
fn missing_directory_names_every_way_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let e = format!("{:#}", Mnist::open(Some(&missing), None, true).err().unwrap());
    assert!(
        e.contains("GANLAB_DATA") && e.contains("--data-dir") && e.contains("ganlab data fetch"),
        "{e}"
    );
}
