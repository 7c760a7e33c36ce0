//! MNIST from the four standard IDX files, gzip-compressed or not.
//!
//! Images stay as u8 until a batch is built. Every file is checked for its magic
//! number, its counts and the SHA-256 of its decompressed bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

pub const MNIST_TRAIN: usize = 60_000;
pub const MNIST_TEST: usize = 10_000;
pub const PIXELS: usize = 28 * 28;

/// Default data directory when nothing else is set.
pub const DEFAULT_DIR: &str = "data/mnist";

/// One of the four MNIST files with its known content checksum.
pub struct IdxFile {
    pub name: &'static str,
    pub sha256: &'static str,
    pub magic: u32,
    pub count: usize,
}

pub const FILES: [IdxFile; 4] = [
    IdxFile {
        name: "train-images-idx3-ubyte",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        magic: 2051,
        count: MNIST_TRAIN,
    },
    IdxFile {
        name: "train-labels-idx1-ubyte",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        magic: 2049,
        count: MNIST_TRAIN,
    },
    IdxFile {
        name: "t10k-images-idx3-ubyte",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        magic: 2051,
        count: MNIST_TEST,
    },
    IdxFile {
        name: "t10k-labels-idx1-ubyte",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        magic: 2049,
        count: MNIST_TEST,
    },
];

/// Public mirrors tried in order by `ganlab data fetch`.
pub const MIRRORS: &[&str] = &[
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://raw.githubusercontent.com/fgnt/mnist/master/",
];

/// One split of MNIST: images as u8 rows of 784, labels 0-9.
#[derive(Clone)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }
}

pub struct Mnist {
    pub train: Split,
    pub test: Split,
    pub dir: PathBuf,
}

/// Where the data is: `--data-dir`, else `GANLAB_DATA`, else the spec's `data.dir`,
/// else `./data/mnist`.
pub fn resolve_dir(flag: Option<&Path>, spec_dir: Option<&Path>) -> (PathBuf, &'static str) {
    if let Some(d) = flag {
        return (d.to_path_buf(), "--data-dir");
    }
    if let Some(d) = std::env::var_os("GANLAB_DATA").filter(|v| !v.is_empty()) {
        return (PathBuf::from(d), "GANLAB_DATA");
    }
    if let Some(d) = spec_dir {
        return (d.to_path_buf(), "data.dir in the spec");
    }
    (PathBuf::from(DEFAULT_DIR), "the default")
}

/// The path of one file in `dir`, compressed or not, if present.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.gz")), dir.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Read a file, gunzipping when it starts with the gzip magic. `fix` follows the
/// message when a gzip file does not decompress (what to do about it).
pub(crate) fn read_maybe_gz(path: &Path, fix: &str) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .with_context(|| {
            format!(
                "{} starts like gzip but does not decompress (truncated?){fix}",
                path.display()
            )
        })?;
    Ok(out)
}

/// Parse an IDX file's bytes, checking magic, dimensions and length.
/// Returns the payload (after the header).
pub fn parse_idx<'a>(bytes: &'a [u8], spec: &IdxFile, origin: &str) -> Result<&'a [u8]> {
    if bytes.len() < 8 {
        bail!(
            "{origin}: file is only {} bytes, too short for an IDX header (truncated?)",
            bytes.len()
        );
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != spec.magic {
        bail!(
            "{origin}: wrong magic number {magic} (expected {} for {}); is this the right file?",
            spec.magic,
            spec.name
        );
    }
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        bail!("{origin}: truncated IDX header");
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    if dims[0] != spec.count {
        bail!("{origin}: holds {} items, expected {}", dims[0], spec.count);
    }
    if ndim == 3 && (dims[1], dims[2]) != (28, 28) {
        bail!("{origin}: images are {}x{}, expected 28x28", dims[1], dims[2]);
    }
    let expect: usize = dims.iter().product();
    let payload = &bytes[header..];
    if payload.len() != expect {
        bail!(
            "{origin}: has {} data bytes, expected {expect} (truncated or padded file); run `ganlab data fetch` again",
            payload.len()
        );
    }
    Ok(payload)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Load, verify and parse one IDX file from `dir`.
pub fn load_idx(dir: &Path, spec: &IdxFile) -> Result<Vec<u8>> {
    let path = find_file(dir, spec.name).with_context(|| {
        format!(
            "{} not found in {} (neither {}.gz nor {}); run `ganlab data fetch DIR` or point --data-dir / GANLAB_DATA at a complete copy",
            spec.name,
            dir.display(),
            spec.name,
            spec.name
        )
    })?;
    let origin = path.display().to_string();
    let bytes = read_maybe_gz(&path, "; delete it and run `ganlab data fetch`")?;
    let payload = parse_idx(&bytes, spec, &origin)?.to_vec();
    let sum = sha256_hex(&bytes);
    if sum != spec.sha256 {
        bail!(
            "{origin}: SHA-256 of the decompressed content is {sum}, expected {} (corrupt or modified file); delete it and run `ganlab data fetch`",
            spec.sha256
        );
    }
    Ok(payload)
}

fn no_data_help(dir: &Path, how: &str) -> String {
    format!(
        "no MNIST data in {} (chosen by {how}). Point ganlab at a folder holding the four IDX files \
         with `--data-dir DIR` or the GANLAB_DATA environment variable, or download them with \
         `ganlab data fetch [DIR]`",
        dir.display()
    )
}

impl Mnist {
    /// Load train and test splits from `dir`, verifying everything.
    pub fn load(dir: &Path) -> Result<Mnist> {
        let mut parts = Vec::with_capacity(4);
        for f in &FILES {
            parts.push(load_idx(dir, f)?);
        }
        let test_labels = parts.pop().unwrap_or_default();
        let test_images = parts.pop().unwrap_or_default();
        let train_labels = parts.pop().unwrap_or_default();
        let train_images = parts.pop().unwrap_or_default();
        for (imgs, labels, what) in [
            (&train_images, &train_labels, "train"),
            (&test_images, &test_labels, "test"),
        ] {
            if imgs.len() != labels.len() * PIXELS {
                bail!("{what} split in {}: image and label counts disagree", dir.display());
            }
            if let Some(bad) = labels.iter().find(|&&l| l > 9) {
                bail!("{what} labels in {} hold {bad}, not a digit", dir.display());
            }
        }
        Ok(Mnist {
            train: Split {
                images: train_images,
                labels: train_labels,
            },
            test: Split {
                images: test_images,
                labels: test_labels,
            },
            dir: dir.to_path_buf(),
        })
    }

    /// Resolve the directory and load; fetch into the default location when allowed.
    pub fn open(flag: Option<&Path>, spec_dir: Option<&Path>, offline: bool) -> Result<Mnist> {
        let (dir, how) = resolve_dir(flag, spec_dir);
        let any_present = FILES.iter().any(|f| find_file(&dir, f.name).is_some());
        if !any_present {
            if how == "the default" && !offline {
                eprintln!(
                    "MNIST not found in {}; fetching it (use --offline to stop this)",
                    dir.display()
                );
                fetch(&dir).with_context(|| no_data_help(&dir, how))?;
            } else {
                bail!(no_data_help(&dir, how));
            }
        }
        Mnist::load(&dir)
    }
}

/// Download the four files into `dir` from the first mirror that answers, verify them.
pub fn fetch(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in &FILES {
        if let Some(p) = find_file(dir, f.name) {
            if load_idx(dir, f).is_ok() {
                eprintln!("{} already present and verified", p.display());
                continue;
            }
        }
        let mut errors = Vec::new();
        let mut done = false;
        for m in MIRRORS {
            let url = format!("{m}{}.gz", f.name);
            match download(&url) {
                Ok(bytes) => {
                    let tmp = dir.join(format!(".{}.gz.part", f.name));
                    let dst = dir.join(format!("{}.gz", f.name));
                    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
                    std::fs::rename(&tmp, &dst)?;
                    match load_idx(dir, f) {
                        Ok(_) => {
                            eprintln!("{} fetched from {m} and verified", dst.display());
                            done = true;
                            break;
                        }
                        Err(e) => {
                            let _ = std::fs::remove_file(&dst);
                            errors.push(format!("{url}: {e:#}"));
                        }
                    }
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if !done {
            bail!(
                "could not download {} from any mirror:\n  {}\nWithout a network, copy the four MNIST IDX files \
                 (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, \
                 t10k-labels-idx1-ubyte.gz) into {} by hand, or point GANLAB_DATA / --data-dir at a folder that has them",
                f.name,
                errors.join("\n  "),
                dir.display()
            );
        }
    }
    Ok(())
}

fn download(url: &str) -> Result<Vec<u8>> {
    let resp = ureq::get(url).timeout(std::time::Duration::from_secs(30)).call()?;
    let len: Option<u64> = resp.header("Content-Length").and_then(|s| s.parse().ok());
    let pb = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    let mut out = Vec::new();
    pb.wrap_read(resp.into_reader()).take(100 << 20).read_to_end(&mut out)?;
    pb.finish_and_clear();
    Ok(out)
}
