//! The module graph of `src/` has no circles (issue 21): no two top-level modules
//! import each other, directly or around a loop. Imports are read from the source
//! (`crate::NAME` and `super::NAME` paths, comments left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/eval/score.rs` -> ["eval", "score"]; `src/report/mod.rs` -> ["report"].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().to_string()).collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// Identifiers following `prefix` in `code` (e.g. `crate::` -> `eval`).
fn names_after<'a>(code: &'a str, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    code.match_indices(prefix).map(move |(i, _)| {
        code[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    })
}

/// Top-level module -> the top-level modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let m = module_path(&src, &f);
        if m.len() == 1 && (m[0] == "lib" || m[0] == "main") {
            continue;
        }
        let code: String = std::fs::read_to_string(&f)
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let top = m[0].clone();
        let deps = g.entry(top.clone()).or_default();
        for n in names_after(&code, "crate::") {
            if n != top {
                deps.insert(n);
            }
        }
        // `super::X` from a top-level module's own file is a sibling at the top level.
        if m.len() == 1 {
            for n in names_after(&code, "super::") {
                if n != top {
                    deps.insert(n);
                }
            }
        }
    }
    g
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let g = graph();
    assert!(g.contains_key("train") && g.contains_key("eval"), "{g:?}");
    // Every circle shows as a module that reaches itself.
    let mut circles = Vec::new();
    for start in g.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = g[start].iter().collect();
        while let Some(m) = stack.pop() {
            if m == start {
                circles.push(start.clone());
                break;
            }
            if seen.insert(m.clone()) {
                stack.extend(g.get(m).into_iter().flatten());
            }
        }
    }
    assert!(circles.is_empty(), "modules in an import circle: {circles:?}\n{g:#?}");
}

/// The layering of issues 20 and 21: the training loop knows nothing of what sits
/// above it (scoring, reports, notebooks, the command line); quality scoring is a
/// hook that `eval` registers on it.
#[test]
fn train_imports_nothing_above_it() {
    let g = graph();
    let above = [
        "eval",
        "report",
        "notebook",
        "cli",
        "learner",
        "reference",
        "sweep",
        "parity",
        "bench",
    ];
    let bad: Vec<&String> = g["train"].iter().filter(|m| above.contains(&m.as_str())).collect();
    assert!(bad.is_empty(), "train imports {bad:?}");
}

/// Issue 21: the models see layers (`nn`) only, never the kernels behind them.
#[test]
fn models_import_no_kernel() {
    let g = graph();
    assert!(
        !g["models"].contains("kernels"),
        "models import kernels: {:?}",
        g["models"]
    );
    assert!(g["nn"].contains("kernels"), "nn is where the kernels are used");
}

/// Issue 21: no function in `src/` is over 80 lines (entry points split into steps).
/// A function's extent: from its `fn` line to the line that closes its body, braces
/// counted outside strings, characters and comments.
#[test]
fn no_function_in_src_is_over_80_lines() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "const fn ",
                "unsafe fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if !is_fn {
                continue;
            }
            if let Some(n) = body_lines(&lines[i..]) {
                if n > 80 {
                    long.push(format!("{}:{} ({n} lines) {}", f.display(), i + 1, t));
                }
            }
        }
    }
    assert!(long.is_empty(), "functions over 80 lines:\n{}", long.join("\n"));
}

/// Lines from a `fn` line to the end of its body; None for a declaration without one.
fn body_lines(lines: &[&str]) -> Option<usize> {
    let mut depth = 0i32;
    let mut opened = false;
    for (k, l) in lines.iter().enumerate() {
        let code = strip_literals(l);
        if !opened && code.contains(';') && !code.contains('{') {
            return None; // a trait method without a default body
        }
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if opened && depth == 0 {
            return Some(k + 1);
        }
    }
    None
}

/// A line without its string and character literals and its `//` comment.
fn strip_literals(line: &str) -> String {
    let (mut out, mut chars) = (String::new(), line.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A character literal ('x', '\n', '{'), not a lifetime ('a).
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') || rest.chars().nth(1) == Some('\'') {
                    while let Some(d) = chars.next() {
                        if d == '\\' {
                            chars.next();
                        } else if d == '\'' {
                            break;
                        }
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}
