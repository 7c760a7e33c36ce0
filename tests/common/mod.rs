#![allow(dead_code)]
//! Shared test helpers: the real MNIST (through GANLAB_DATA, as CI sets it).

use std::path::PathBuf;
use std::sync::OnceLock;

use ganlab::data::Mnist;

/// The MNIST directory: `GANLAB_DATA`, else `../shared/data/mnist` beside the checkout.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GANLAB_DATA").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    assert!(
        d.is_dir(),
        "set GANLAB_DATA to the MNIST directory (the four IDX files) to run these tests"
    );
    d
}

pub fn mnist() -> &'static Mnist {
    static M: OnceLock<Mnist> = OnceLock::new();
    M.get_or_init(|| Mnist::load(&data_dir()).expect("loading MNIST from GANLAB_DATA"))
}

pub fn spec_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("experiments")
        .join(format!("{name}.yaml"))
}
