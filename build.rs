//! Records the git commit ganlab is built from (`GANLAB_GIT_COMMIT`, with `-dirty`
//! when tracked files differ from it), for run provenance: a run's manifest names the
//! code that trained it, not whatever repository the run was started in.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // Re-run when HEAD moves or the index or the sources change (for `-dirty`).
    for p in ["HEAD", "index", "refs", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", p]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    for p in ["src", "Cargo.toml", "build.rs"] {
        println!("cargo:rerun-if-changed={p}");
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).map(|c| {
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        if dirty {
            format!("{c}-dirty")
        } else {
            c
        }
    });
    println!("cargo:rustc-env=GANLAB_GIT_COMMIT={}", commit.unwrap_or_default());
}
