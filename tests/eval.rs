//! The evaluator and the sample-quality metrics, on the real MNIST with the pinned
//! weights: FID, KID, IS, precision/recall, coverage, the matrix square root, the
//! checksum refusal, and `ganlab eval` on an IDX file and on a real run.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use ganlab::data::PIXELS;
use ganlab::eval::metrics::{self, coverage, fid, inception_score, kid, sqrtm_psd};
use ganlab::eval::{idx, prd, Embedding, Evaluator, FEATURES};
use nalgebra::DMatrix;
use rand::Rng;

fn ev() -> &'static Evaluator {
    static E: OnceLock<Evaluator> = OnceLock::new();
    E.get_or_init(|| {
        ganlab::runtime::set_threads(Some(2));
        Evaluator::pinned().expect("the pinned evaluator loads")
    })
}

/// The MNIST test set through the evaluator.
fn test_emb() -> &'static Embedding {
    static E: OnceLock<Embedding> = OnceLock::new();
    E.get_or_init(|| ev().embed(&common::mnist().test.images, false).unwrap())
}

/// The test features split into two random halves (the test set's first 5,000
/// images are the cleaner writers, so its halves in order are not one distribution).
fn random_halves() -> (Vec<f32>, Vec<f32>) {
    let f = &test_emb().features;
    let mut r = ganlab::rng::stream(11, ganlab::rng::Stream::Data);
    let mut idx: Vec<usize> = (0..f.len() / FEATURES).collect();
    rand::seq::SliceRandom::shuffle(&mut idx[..], &mut r);
    let take = |ix: &[usize]| -> Vec<f32> {
        ix.iter()
            .flat_map(|&i| f[i * FEATURES..(i + 1) * FEATURES].iter().copied())
            .collect()
    };
    let (a, b) = idx.split_at(idx.len() / 2);
    (take(a), take(b))
}

/// The first `n` training images.
fn train_images(n: usize) -> Vec<u8> {
    common::mnist().train.images[..n * PIXELS].to_vec()
}

fn fid_to_test(images: &[u8]) -> f64 {
    let e = ev().embed(images, false).unwrap();
    fid(&e.features, &test_emb().features, FEATURES).unwrap()
}

#[test]
fn pinned_evaluator_reaches_99_percent_on_the_test_set() {
    let m = common::mnist();
    let acc = metrics::class_accuracy(&test_emb().predictions(), &m.test.labels);
    assert!(acc >= 0.99, "test accuracy {acc}");
    assert!(ev().pinned);
    assert_eq!(ev().sha256, ganlab::eval::pinned::SHA256);
}

#[test]
fn fid_of_a_set_against_itself_is_zero_and_fid_is_symmetric() {
    let f = &test_emb().features;
    let self_fid = fid(f, f, FEATURES).unwrap();
    assert!(self_fid.abs() < 1e-6, "FID(x, x) = {self_fid}");
    let (a, b) = random_halves();
    let (ab, ba) = (fid(&a, &b, FEATURES).unwrap(), fid(&b, &a, FEATURES).unwrap());
    assert!(
        ab > 0.0 && (ab - ba).abs() < 1e-6 * ab.max(1.0),
        "FID(a, b) = {ab}, FID(b, a) = {ba}"
    );
    // Two halves of real test data are close, far closer than noise is.
    assert!(ab < 2.0, "FID between test halves {ab}");
}

fn noisy(images: &[u8], sigma: f64, seed: u64) -> Vec<u8> {
    let mut r = ganlab::rng::stream(seed, ganlab::rng::Stream::Noise);
    images
        .iter()
        .map(|&p| {
            let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut r);
            (p as f64 + sigma * 255.0 * z).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

fn blurred(images: &[u8], radius: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(images.len());
    for img in images.chunks(PIXELS) {
        for y in 0..28i32 {
            for x in 0..28i32 {
                let (mut s, mut c) = (0u32, 0u32);
                for dy in -radius..=radius {
                    for dx in -radius..=radius {
                        let (yy, xx) = (y + dy, x + dx);
                        if (0..28).contains(&yy) && (0..28).contains(&xx) {
                            s += img[(yy * 28 + xx) as usize] as u32;
                            c += 1;
                        }
                    }
                }
                out.push((s / c) as u8);
            }
        }
    }
    out
}

fn shifted(images: &[u8], by: usize) -> Vec<u8> {
    let mut out = vec![0u8; images.len()];
    for (src, dst) in images.chunks(PIXELS).zip(out.chunks_mut(PIXELS)) {
        for y in by..28 {
            for x in by..28 {
                dst[y * 28 + x] = src[(y - by) * 28 + (x - by)];
            }
        }
    }
    out
}

#[test]
fn fid_grows_as_images_are_progressively_corrupted() {
    let clean = train_images(2000);
    let base = fid_to_test(&clean);
    let series: [(&str, Vec<Vec<u8>>); 3] = [
        ("noise", [0.1, 0.25, 0.5].iter().map(|&s| noisy(&clean, s, 7)).collect()),
        ("blur", [1, 2, 3].iter().map(|&r| blurred(&clean, r)).collect()),
        ("shift", [2, 4, 6].iter().map(|&b| shifted(&clean, b)).collect()),
    ];
    for (what, sets) in series {
        let mut last = base;
        for (level, s) in sets.iter().enumerate() {
            let f = fid_to_test(s);
            assert!(
                f > last,
                "{what} level {level}: FID {f} not above {last} (clean: {base})"
            );
            last = f;
        }
        assert!(
            last > 10.0 * base.max(0.5),
            "{what}: strongest corruption only reaches FID {last}"
        );
    }
}

#[test]
fn inception_score_of_real_test_data_is_above_9() {
    let (is, std) = inception_score(&test_emb().probs, 10).unwrap();
    assert!(is > 9.0 && is <= 10.0, "IS {is} +- {std}");
    assert!(std < 0.2, "split std {std}");
}

#[test]
fn kid_is_unbiased_on_two_halves_of_the_same_set() {
    let (a, b) = random_halves();
    let mut rng = ganlab::rng::stream(3, ganlab::rng::Stream::Data);
    let k = kid(&a, &b, FEATURES, 50, 1000, &mut rng).unwrap();
    assert!(
        k.mean.abs() < 3.0 * k.std / (k.subsets as f64).sqrt() + 2e-3,
        "KID {k:?}"
    );
    // The same estimator sees noise from far away.
    let noise = ev().embed(&ganlab::eval::score::uniform_noise(1000, 1), false).unwrap();
    let kn = kid(&noise.features, &a, FEATURES, 10, 1000, &mut rng).unwrap();
    assert!(
        kn.mean > 100.0 * k.mean.abs().max(1e-4),
        "noise KID {kn:?} vs halves {k:?}"
    );
    // Deterministic for its seed, also while other threads compute.
    let again = std::thread::scope(|s| {
        let h: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut rng = ganlab::rng::stream(3, ganlab::rng::Stream::Data);
                    kid(&a, &b, FEATURES, 50, 1000, &mut rng).unwrap()
                })
            })
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    assert!(again.iter().all(|x| x == &k), "{again:?} vs {k:?}");
}

#[test]
fn reference_rows_in_the_code_are_current() {
    let rows = ganlab::eval::score::reference_scores(ev(), common::mnist(), 10_000, 0, false).unwrap();
    for (s, r) in rows.iter().zip(&ganlab::eval::reference::ROWS) {
        assert!(s.matches(r), "{} is now {s:?}", r.label);
    }
    // Real images score near the ideal, noise far from it.
    assert!(rows[0].fid < 1.0 && rows[0].inception_score > 9.5 && rows[1].fid > 300.0);
}

#[test]
fn class_coverage_counts_constructed_label_sets() {
    let uniform: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let c = coverage(&uniform).unwrap();
    assert_eq!(c.counts, [100; 10]);
    assert_eq!(c.covered, 10);
    assert!(c.kl_uniform.abs() < 1e-12);

    let collapsed = vec![7u8; 500];
    let c = coverage(&collapsed).unwrap();
    assert_eq!(c.covered, 1);
    assert_eq!(c.counts[7], 500);
    assert!((c.kl_uniform - 10f64.ln()).abs() < 1e-12);

    // Two digits half and half; a third with a few strays under the 1% share.
    let mut two: Vec<u8> = (0..1000).map(|i| if i % 2 == 0 { 3 } else { 8 }).collect();
    two[..5].fill(1);
    let c = coverage(&two).unwrap();
    assert_eq!((c.counts[1], c.counts[3], c.counts[8]), (5, 497, 498));
    assert_eq!(c.covered, 2);
    let p: [f64; 3] = [5.0 / 1000.0, 497.0 / 1000.0, 498.0 / 1000.0];
    let kl: f64 = p.iter().map(|p| p * (10.0 * p).ln()).sum();
    assert!((c.kl_uniform - kl).abs() < 1e-12);

    assert!(coverage(&[10]).is_err());
    assert!(coverage(&[]).is_err());
}

#[test]
fn eigendecomposition_square_root_of_known_matrices() {
    let a = DMatrix::from_row_slice(2, 2, &[4.0, 0.0, 0.0, 9.0]);
    assert!((sqrtm_psd(&a).unwrap() - DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 3.0])).amax() < 1e-12);
    // [[2, 1], [1, 2]] has eigenvalues 3 and 1 on (1, 1) and (1, -1).
    let b = DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]);
    let (s3, h) = (3f64.sqrt(), 0.5);
    let want = DMatrix::from_row_slice(2, 2, &[h * (s3 + 1.0), h * (s3 - 1.0), h * (s3 - 1.0), h * (s3 + 1.0)]);
    assert!((sqrtm_psd(&b).unwrap() - want).amax() < 1e-12);
    // A random 50x50 SPD matrix: the root squares back to it.
    let mut r = ganlab::rng::stream(5, ganlab::rng::Stream::Data);
    let m = DMatrix::from_fn(50, 60, |_, _| r.random_range(-1.0..1.0));
    let spd = &m * m.transpose();
    let root = sqrtm_psd(&spd).unwrap();
    assert!((&root * &root - &spd).amax() < 1e-9 * spd.amax());
    assert!((&root - root.transpose()).amax() < 1e-12);
    // The Frechet distance of equal covariances is the squared mean difference.
    let g1 = metrics::Gaussian {
        mean: nalgebra::DVector::from_vec(vec![0.0; 50]),
        cov: spd.clone(),
    };
    let mut g2 = g1.clone();
    g2.mean[0] = 3.0;
    assert!((metrics::frechet_distance(&g1, &g2).unwrap() - 9.0).abs() < 1e-7);
}

#[test]
fn precision_and_recall_of_real_halves_and_of_noise() {
    let (a, b) = random_halves();
    let pr = prd::precision_recall(&a, &b, FEATURES, prd::K).unwrap();
    assert!(pr.precision > 0.75 && pr.recall > 0.75, "{pr:?}");
    let noise = ev().embed(&ganlab::eval::score::uniform_noise(2000, 2), false).unwrap();
    let pn = prd::precision_recall(&a, &noise.features, FEATURES, prd::K).unwrap();
    // (A few real outliers have balls wide enough to reach the noise cluster.)
    assert!(pn.precision < 0.25 * pr.precision && pn.recall < 0.01, "{pn:?}");
    // A set against itself: every point is inside its own ball.
    let same = prd::precision_recall(&a, &a, FEATURES, prd::K).unwrap();
    assert_eq!((same.precision, same.recall), (1.0, 1.0));
}

/// Precision and recall by brute force, straight from the definition.
fn naive_pr(real: &[Vec<f64>], fake: &[Vec<f64>], k: usize) -> (f64, f64) {
    let d2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let radii = |s: &[Vec<f64>]| -> Vec<f64> {
        s.iter()
            .map(|a| {
                let mut d: Vec<f64> = s.iter().map(|b| d2(a, b)).collect();
                d.sort_by(f64::total_cmp);
                d[k]
            })
            .collect()
    };
    let inside = |q: &[Vec<f64>], s: &[Vec<f64>], r: &[f64]| {
        q.iter()
            .filter(|x| s.iter().zip(r).any(|(y, r)| d2(x, y) <= *r))
            .count() as f64
            / q.len() as f64
    };
    let (rr, rf) = (radii(real), radii(fake));
    (inside(fake, real, &rr), inside(real, fake, &rf))
}

#[test]
fn precision_and_recall_match_a_brute_force_count() {
    let mut r = ganlab::rng::stream(9, ganlab::rng::Stream::Data);
    let d = 8;
    // Reals in a unit cube, fakes shifted half out of it, in integers so that no
    // distance ties are decided by rounding; 1,500 reals span two row blocks.
    let real: Vec<Vec<f64>> = (0..1500)
        .map(|_| (0..d).map(|_| r.random_range(0..64) as f64).collect())
        .collect();
    let fake: Vec<Vec<f64>> = (0..700)
        .map(|_| {
            (0..d)
                .map(|j| r.random_range(0..64) as f64 + if j == 0 { 40.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let flat = |s: &[Vec<f64>]| -> Vec<f32> { s.iter().flatten().map(|&v| v as f32).collect() };
    let got = prd::precision_recall(&flat(&real), &flat(&fake), d, 3).unwrap();
    let (p, rc) = naive_pr(&real, &fake, 3);
    assert_eq!((got.precision, got.recall), (p, rc));
    assert!(p > 0.05 && p < 0.95 && rc > 0.05 && rc < 0.95, "{p} {rc}");
}

#[test]
fn weights_other_than_the_pinned_ones_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = ganlab::eval::pinned::WEIGHTS.to_vec();
    // Flip a low bit of the last weight (the file stays a valid safetensors file).
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let p = dir.path().join("other.safetensors");
    std::fs::write(&p, &bytes).unwrap();
    let err = Evaluator::open(Some(&p), false).err().expect("refused").to_string();
    assert!(
        err.contains("other.safetensors") && err.contains(ganlab::eval::pinned::SHA256),
        "{err}"
    );
    assert!(err.contains("--unpinned-evaluator"), "{err}");
    let e = Evaluator::open(Some(&p), true).unwrap();
    assert!(!e.pinned && e.tag().contains("NOT the pinned"));

    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["evaluator", "check", "--json", "--evaluator"])
        .arg(&p)
        .env("GANLAB_DATA", common::data_dir())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("pinned evaluator is"), "{stderr}");
}

fn ganlab(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(args)
        .args(["--threads", "2"])
        .env("GANLAB_DATA", common::data_dir())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ganlab {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

const KEYS: &[&str] = &[
    "fid",
    "kid",
    "inception_score",
    "precision",
    "recall",
    "classes_covered",
    "class_kl",
    "n",
    "evaluator_sha256",
];

#[test]
fn eval_scores_an_idx_file_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (imgs, labels) = (dir.path().join("x.idx.gz"), dir.path().join("y.idx"));
    let m = common::mnist();
    idx::write_images(&imgs, &m.train.images[..3000 * PIXELS]).unwrap();
    idx::write_labels(&labels, &m.train.labels[..3000]).unwrap();
    assert_eq!(idx::read_images(&imgs).unwrap(), &m.train.images[..3000 * PIXELS]);
    let v = json(&ganlab(&[
        "eval",
        "--images",
        imgs.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--json",
    ]));
    for k in KEYS.iter().chain(&["class_accuracy"]) {
        assert!(v.get(k).is_some(), "no `{k}` in {v}");
    }
    assert_eq!(v["n"], 3000);
    assert_eq!(v["evaluator_sha256"], ganlab::eval::pinned::SHA256);
    assert!(v["class_accuracy"].as_f64().unwrap() > 0.99, "{v}");
    assert!(v["fid"].as_f64().unwrap() < 2.0, "{v}");
    assert_eq!(v["classes_covered"], 10);
    // A file that is not IDX images is refused with its name.
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["eval", "--images"])
        .arg(&labels)
        .env("GANLAB_DATA", common::data_dir())
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("y.idx") && e.contains("2051"), "{e}");
}

fn short_run(spec: &str, out: &Path, sets: &[&str]) -> String {
    let mut args = vec![
        "run",
        spec,
        "--profile",
        "quick",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    ganlab(&args).lines().last().unwrap().to_string()
}

#[test]
fn eval_scores_real_runs_and_appends_to_eval_parquet() {
    let out = tempfile::tempdir().unwrap();
    let spec = common::spec_path("mlp_pytorch");
    let sets = [
        "train.epochs=1",
        "train.iters_per_epoch=50",
        "eval.every_epochs=1",
        "eval.samples=500",
    ];
    let run = short_run(spec.to_str().unwrap(), out.path(), &sets);
    let v = json(&ganlab(&["eval", &run, "--n", "1000", "--json"]));
    for k in KEYS {
        assert!(v.get(k).is_some(), "no `{k}` in {v}");
    }
    assert!(v.get("class_accuracy").is_none(), "unconditional model: {v}");
    assert_eq!(v["n"], 1000);
    // 50 iterations of the PyTorch MLP GAN are far from MNIST.
    assert!(v["fid"].as_f64().unwrap() > 5.0, "{v}");
    let table = ganlab(&["eval", &run, "--n", "500"]);
    assert!(
        table.contains(ganlab::eval::pinned::SHA256) && table.contains("FID"),
        "{table}"
    );
    let df = ganlab::log::read_frame(&Path::new(&run).join("eval.parquet")).unwrap();
    // One row from training (eval.every_epochs), then one per `ganlab eval`.
    assert_eq!(df.height(), 3);
    let tags: Vec<&str> = df
        .column("checkpoint")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(tags, ["epoch_0001", "final", "final"]);
    let n: Vec<u64> = df.column("n").unwrap().u64().unwrap().into_no_null_iter().collect();
    assert_eq!(n, [500, 1000, 500]);
    for c in [
        "fid",
        "kid",
        "inception_score",
        "precision",
        "recall",
        "class_kl",
        "evaluator_sha256",
        "count_9",
    ] {
        assert!(df.column(c).is_ok(), "eval.parquet lacks {c}");
    }

    // The HTML report shows the rows beside the reference rows.
    let html = out.path().join("r.html");
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["report", &run, "-o"])
        .arg(&html)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Sample quality (pinned MNIST evaluator)") && page.contains("epoch_0001"));
    assert!(page.contains(ganlab::eval::pinned::SHA256) && page.contains("reference: uniform noise"));

    // ACGAN is conditional: the evaluator checks the digit each image was drawn for.
    let spec = common::spec_path("acgan");
    let run = short_run(spec.to_str().unwrap(), out.path(), &["train.epochs=1"]);
    let v = json(&ganlab(&["eval", &run, "--n", "200", "--json"]));
    let acc = v["class_accuracy"].as_f64().expect("class_accuracy for ACGAN");
    assert!((0.0..=1.0).contains(&acc), "{v}");
    let e = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["eval", &run, "--checkpoint", "epoch_0099"])
        .env("GANLAB_DATA", common::data_dir())
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && msg.contains("epoch_0099") && msg.contains("final"),
        "{msg}"
    );
}

/// A generator collapsed to one image with a few pixels that vary has a covariance
/// of a few tiny directions. nalgebra's symmetric eigensolver gave NaN eigenvalues on
/// `S1^(1/2) S2 S1^(1/2)` for such a set (entries from 1e-6 down to 1e-198), and
/// `max(NaN, 0)` turned the FID into 0, the best score there is. The fixture is such a
/// set: the 2,000 samples that ganlab's 002 seed 3 drew after 4 epochs (19 distinct
/// images, 1,930 of them one image; `ganlab run experiments/mlp_pytorch.yaml --set
/// seed=3 --set train.epochs=4`, then `ganlab eval RUN --n 2000 --seed 3
/// --save-images`). Its FID must be that of its main image alone, give or take the
/// few pixels.
#[test]
fn fid_of_a_nearly_collapsed_sample_is_that_of_its_image() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/collapsed-mlp_pytorch-s3-epoch4.idx.gz");
    let nearly = idx::read_images(&path).unwrap();
    let n = nearly.len() / PIXELS;
    let images: Vec<&[u8]> = nearly.chunks(PIXELS).collect();
    let main = images
        .iter()
        .max_by_key(|&&a| images.iter().filter(|&&b| a == b).count())
        .unwrap();
    assert!(
        images.iter().filter(|&&b| b == *main).count() > n * 9 / 10,
        "the fixture is one image, nearly"
    );
    let constant = main.repeat(n);
    let (f_const, f_nearly) = (fid_to_test(&constant), fid_to_test(&nearly));
    assert!(f_const > 100.0, "one image repeated scores FID {f_const}");
    assert!(
        f_nearly.is_finite() && (f_nearly - f_const).abs() < 0.01 * f_const,
        "nearly collapsed: FID {f_nearly}, its main image alone {f_const}"
    );
}
