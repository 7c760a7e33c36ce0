//! IDX files of any length (the MNIST format), for scoring samples that other code
//! wrote: `ganlab eval --images FILE [--labels FILE]`. Plain or gzip-compressed.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};

use crate::data::PIXELS;

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;

fn header(bytes: &[u8], magic: u32, path: &Path, what: &str) -> Result<(Vec<usize>, usize)> {
    let be = |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    if bytes.len() < 4 || be(0) != magic {
        bail!(
            "{} is not an IDX {what} file: it must start with the magic number {magic} (0x{magic:08x}, \
             unsigned bytes, {} dimension(s)); write it like MNIST's {}",
            path.display(),
            magic & 0xff,
            if magic == IMAGES_MAGIC {
                "t10k-images-idx3-ubyte: [n, 28, 28] u8 grey levels, 0 = background"
            } else {
                "t10k-labels-idx1-ubyte: [n] u8 digits"
            }
        );
    }
    let ndim = (magic & 0xff) as usize;
    let start = 4 + 4 * ndim;
    if bytes.len() < start {
        bail!("{}: truncated IDX header", path.display());
    }
    let dims: Vec<usize> = (0..ndim).map(|i| be(4 + 4 * i) as usize).collect();
    let want: usize = dims.iter().product();
    if bytes.len() - start != want {
        bail!(
            "{}: header says {dims:?} ({want} bytes) but the file holds {} data bytes (truncated or padded)",
            path.display(),
            bytes.len() - start
        );
    }
    Ok((dims, start))
}

/// Read `[n, 28, 28]` u8 images; returns `n * 784` grey levels.
pub fn read_images(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::data::read_maybe_gz(path, "")?;
    let (dims, start) = header(&bytes, IMAGES_MAGIC, path, "images")?;
    if dims[1..] != [28, 28] {
        bail!(
            "{}: images are {}x{}; the evaluator scores 28x28 MNIST-sized images",
            path.display(),
            dims[1],
            dims[2]
        );
    }
    if dims[0] == 0 {
        bail!("{} holds no images", path.display());
    }
    Ok(bytes[start..].to_vec())
}

/// Read `[n]` u8 labels, each a digit.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::data::read_maybe_gz(path, "")?;
    let (_, start) = header(&bytes, LABELS_MAGIC, path, "labels")?;
    let labels = bytes[start..].to_vec();
    if let Some((i, bad)) = labels.iter().enumerate().find(|(_, &l)| l > 9) {
        bail!("{}: label {i} is {bad}, not a digit 0-9", path.display());
    }
    Ok(labels)
}

fn write(path: &Path, magic: u32, dims: &[usize], data: &[u8]) -> Result<()> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend(magic.to_be_bytes());
    for &d in dims {
        out.extend((d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    crate::atomic::write_atomic(path, |tmp| {
        let f = std::fs::File::create(tmp)?;
        if path.extension().is_some_and(|e| e == "gz") {
            let mut g = flate2::write::GzEncoder::new(f, flate2::Compression::best());
            g.write_all(&out)?;
            g.finish()?;
        } else {
            let mut f = f;
            f.write_all(&out)?;
        }
        Ok(())
    })
}

/// Write `n * 784` grey levels as an IDX images file (gzip when the name ends in `.gz`).
pub fn write_images(path: &Path, images: &[u8]) -> Result<()> {
    if !images.len().is_multiple_of(PIXELS) {
        bail!("{} bytes are not a whole number of 28x28 images", images.len());
    }
    write(path, IMAGES_MAGIC, &[images.len() / PIXELS, 28, 28], images)
}

/// Write labels as an IDX labels file.
pub fn write_labels(path: &Path, labels: &[u8]) -> Result<()> {
    write(path, LABELS_MAGIC, &[labels.len()], labels)
}
