//! `ganlab bench --breakdown` (issue 19): the parts of one iteration (and each op's share) are measured by
//! the kernels themselves and add up to no more than the iteration; every article's
//! step runs GEMM and optimiser kernels. (No assertion on speed, nor between two timings.)

mod common;

use std::process::Command;

#[test]
fn the_breakdown_splits_an_iteration_into_its_parts() {
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["bench", common::spec_path("vanilla_mlp_keras").to_str().unwrap()])
        .args([
            "--iters",
            "2",
            "--warmup",
            "1",
            "--threads",
            "2",
            "--breakdown",
            "--json",
        ])
        .args(["--data-dir", common::data_dir().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    let b = &v["breakdown"];
    let ms = |k: &str| b[k].as_f64().unwrap_or_else(|| panic!("{k} in {b}"));
    assert!(
        ms("gemm_ms") > 0.0 && ms("optimizer_ms") > 0.0 && ms("elementwise_ms") > 0.0,
        "{b}"
    );
    let parts = ms("gemm_ms") + ms("elementwise_ms") + ms("loss_ms") + ms("optimizer_ms");
    assert!((parts + ms("rest_ms") - ms("mean_ms")).abs() < 1e-6, "{b}");
    assert!(ms("rest_ms") >= 0.0, "the kernels' parts exceed the iteration: {b}");
    // The floor is the iteration's FLOPs at the GEMM peak measured in the same run. Both
    // are measured on a shared host (a CI machine builds in the background), so the floor
    // is not compared with the iteration's time: a slow peak measurement can put it above.
    let floor = v["gflop_per_iter"].as_f64().unwrap() / v["peak_gflops"].as_f64().unwrap() * 1e3;
    assert!(
        ms("flop_floor_ms") > 0.0 && (ms("flop_floor_ms") - floor).abs() < 1e-6 * floor,
        "{v}"
    );
    assert!(v["cpu_model"].is_string());
    assert!(v["cpu_family_model"].as_str().is_some_and(|s| s.contains('/')), "{v}");
    // Per op: D's first Dense on its batch of 256 is there, the ops come largest first,
    // and together they are the kernels' parts but the optimiser (which is no op).
    let ops: Vec<(String, f64)> = serde_json::from_value(b["ops"].clone()).unwrap();
    assert!(
        ops.iter().any(|(k, _)| k == "ganlab-dense fwd [256, 784] [784, 1024]"),
        "{ops:?}"
    );
    assert!(ops.windows(2).all(|w| w[0].1 >= w[1].1), "{ops:?}");
    let by_op: f64 = ops.iter().map(|(_, v)| v).sum();
    let kernels = ms("gemm_ms") + ms("elementwise_ms") + ms("loss_ms");
    assert!((by_op - kernels).abs() < 1e-3, "ops {by_op} ms vs parts {kernels} ms");
    // Without --breakdown, no breakdown.
    let o = Command::new(env!("CARGO_BIN_EXE_ganlab"))
        .args(["bench", common::spec_path("vanilla_mlp_keras").to_str().unwrap()])
        .args(["--iters", "1", "--warmup", "0", "--json"])
        .args(["--data-dir", common::data_dir().to_str().unwrap()])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert!(v.get("breakdown").is_none(), "{v}");
}
