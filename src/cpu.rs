//! The CPU a run or a speed figure comes from, as `/proc/cpuinfo` names it. Every
//! speed figure and every run's manifest carry it: machines of this project's kind
//! differ (AMD EPYC, Intel Xeon), and so do their speeds and kernels.

use serde::{Deserialize, Serialize};

/// What `/proc/cpuinfo` says of this machine's CPU: model, vendor, and whether the
/// AVX-512 (`avx512f`) and AMX (`amx_tile`) instruction sets are there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuInfo {
    pub cpu_model: String,
    pub cpu_vendor: String,
    pub avx512: bool,
    pub amx: bool,
}

impl CpuInfo {
    /// Read from `/proc/cpuinfo` (`unknown` fields where it is not there).
    pub fn read() -> CpuInfo {
        CpuInfo::parse(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
    }

    /// From the text of `/proc/cpuinfo` (the first processor's entries).
    pub fn parse(text: &str) -> CpuInfo {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim() == name).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| "unknown".into())
        };
        let flags = field("flags");
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        CpuInfo {
            cpu_model: field("model name"),
            cpu_vendor: field("vendor_id"),
            avx512: has("avx512f"),
            amx: has("amx_tile"),
        }
    }
}
