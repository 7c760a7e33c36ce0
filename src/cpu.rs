//! The CPU a run or a speed figure comes from, as `/proc/cpuinfo` names it. Every
//! speed figure and every run's manifest carry it: machines of this project's kind
//! differ (AMD EPYC, Intel Xeon), and so do their speeds and kernels.

use serde::{Deserialize, Serialize};

/// What `/proc/cpuinfo` says of this machine's CPU: model, vendor, and whether the
/// AVX-512 (`avx512f`) and AMX (`amx_tile`) instruction sets are there; and, since
/// one model name ("Intel(R) Xeon(R) Processor" under KVM) has covered hosts of
/// different speed, the family and model numbers and the cache size it reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuInfo {
    pub cpu_model: String,
    pub cpu_vendor: String,
    pub avx512: bool,
    pub amx: bool,
    /// `cpu family/model`, e.g. `6/167` (absent from figures recorded before it).
    #[serde(default)]
    pub cpu_family_model: String,
    /// `cache size`, e.g. `516096 KB` (absent from figures recorded before it).
    #[serde(default)]
    pub cpu_cache: String,
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
            cpu_family_model: format!("{}/{}", field("cpu family"), field("model")),
            cpu_cache: field("cache size"),
        }
    }

    /// One line for people: `model (vendor; family/model F/M, cache C; AVX-512 yes, AMX no)`.
    pub fn describe(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        format!(
            "{} ({}; family/model {}, cache {}; AVX-512 {}, AMX {})",
            self.cpu_model,
            self.cpu_vendor,
            self.cpu_family_model,
            self.cpu_cache,
            yes(self.avx512),
            yes(self.amx)
        )
    }
}
