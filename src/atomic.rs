//! Files that are replaced whole: written to a temporary file beside the target, then
//! renamed over it, so that a reader, a crash or a full disk never leaves half a file
//! where an earlier complete one was.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `PATH.tmp`, beside `path`.
fn tmp_of(path: &Path) -> PathBuf {
    let mut t = path.as_os_str().to_owned();
    t.push(".tmp");
    PathBuf::from(t)
}

/// Write `path` atomically: `write` fills a temporary file beside it (it gets that
/// path), which then replaces `path`. On an error the temporary file is removed and
/// `path` is untouched.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = tmp_of(path);
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write {}", tmp.display())));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// [`write_atomic`] of bytes.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |tmp| Ok(std::fs::write(tmp, bytes)?))
}

/// [`write_atomic`] of a polars frame as Parquet.
pub fn write_parquet(path: &Path, df: &mut polars::prelude::DataFrame) -> Result<()> {
    write_atomic(path, |tmp| {
        let f = std::fs::File::create(tmp)?;
        polars::prelude::ParquetWriter::new(f).finish(df)?;
        Ok(())
    })
}
