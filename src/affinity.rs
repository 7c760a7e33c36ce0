//! One CPU per step thread, where the step's threads are as many as the CPUs this
//! process may run on (Linux; `GANLAB_PIN=0` turns it off).
//!
//! Why: beside another busy process on a 2-CPU host, the unpinned step ran the
//! convolution articles 9-12 % slower, every round (`benches/ab.sh` with and without
//! `GANLAB_PIN=0`, `yes > /dev/null` on one core, Intel Xeon 6/167, 2026-12-05: dcgan
//! 990 against 903 ms, acgan 2,954 against 2,614, tanh_cnn_sgd 657 against 592; the
//! MLPs and the idle machine unchanged). The likely cause: a step pool worker sleeps
//! between operations (after a short spin) and is placed again each time it wakes,
//! at times on the CPU of the training thread while the busy process keeps the other.
//! Pinned, each thread keeps its CPU, and the loops' shared counters give the thread
//! that shares its CPU fewer pieces. With fewer step threads than CPUs (a sweep's runs
//! side by side, `--threads 1`) nothing is pinned: the scheduler places them; nor is a
//! second ganlab process that trains beside a pinned one ([`holds_pin_lock`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

/// The calling thread's affinity mask, or `None` where it cannot be read.
#[cfg(target_os = "linux")]
fn current_mask() -> Option<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most
    // its size; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
    }
}

/// The CPUs in `set`, in order.
#[cfg(target_os = "linux")]
fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    // SAFETY: CPU_ISSET reads the set within CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .collect()
}

/// The CPUs this process may run on, in order (its affinity mask), or none where
/// that cannot be read.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Vec<usize> {
    current_mask().map(|set| cpus_of(&set)).unwrap_or_default()
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Pin the calling thread to `cpu`; false where the system refuses.
#[cfg(target_os = "linux")]
fn pin_current(cpu: usize) -> bool {
    // SAFETY: as in current_mask.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_current(_cpu: usize) -> bool {
    false
}

/// The CPU of each step thread, `threads` of them (the pool's workers first, the
/// calling thread last), or `None` where they are not pinned: fewer or more threads
/// than allowed CPUs, one thread, or `GANLAB_PIN=0`.
pub fn plan(threads: usize, allowed: &[usize], pin_env: Option<&str>) -> Option<Vec<usize>> {
    let off = matches!(pin_env.map(str::trim), Some("0" | "false" | "no" | "off"));
    (!off && threads >= 2 && allowed.len() == threads).then(|| allowed.to_vec())
}

static WORKERS: Once = Once::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Let [`StepPin`] pin (the `ganlab` command does, at its start; a library user or a
/// notebook may): off by default, so that tests training side by side in one process
/// are never squeezed onto one CPU.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The calling thread's affinity mask while it runs a training or scoring job on the
/// step pool: pinned by [`plan`] (the pool's workers once per process, for good), and
/// given back its previous mask when dropped.
pub struct StepPin {
    #[cfg(target_os = "linux")]
    old: Option<libc::cpu_set_t>,
}

impl StepPin {
    pub fn new() -> StepPin {
        #[cfg(target_os = "linux")]
        {
            StepPin {
                old: pin_step_threads(),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            StepPin {}
        }
    }
}

impl Default for StepPin {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(target_os = "linux")]
impl Drop for StepPin {
    fn drop(&mut self) {
        if let Some(old) = self.old.take() {
            // SAFETY: restores a mask current_mask read for this thread.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &old) };
        }
    }
}

/// Pin by [`plan`]; the calling thread's previous mask where it was pinned.
#[cfg(target_os = "linux")]
fn pin_step_threads() -> Option<libc::cpu_set_t> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let pool = candle_core::utils::barrier_pool();
    let workers = pool.n_workers();
    let pin_env = std::env::var("GANLAB_PIN").ok();
    // One read of the mask: the CPUs to plan with, and what to give back on drop.
    let old = current_mask()?;
    let cpus = plan(workers + 1, &cpus_of(&old), pin_env.as_deref())?;
    if !holds_pin_lock(&cpus) {
        return None;
    }
    WORKERS.call_once(|| {
        // Worker `tid` takes CPU `tid`; the caller's share of this call does nothing.
        pool.execute(|tid| {
            if tid < workers {
                pin_current(cpus[tid]);
            }
        })
    });
    pin_current(cpus[workers]).then_some(old)
}

/// One pinned ganlab process per set of CPUs at a time: a lock file named after the set
/// in the temporary directory, held for the process's life (`flock`; the system lets go
/// when the process ends). A second ganlab training beside the first (two commands on
/// one machine, the tests' runs side by side) leaves its threads to the scheduler:
/// pinned like the first, both training threads would share one CPU while the pools'
/// workers share the other.
#[cfg(target_os = "linux")]
fn holds_pin_lock(cpus: &[usize]) -> bool {
    PIN_LOCK
        .get_or_init(|| {
            let set: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            try_lock(&std::env::temp_dir().join(format!("ganlab-pin-{}.lock", set.join("-"))))
        })
        .is_some()
}

#[cfg(target_os = "linux")]
static PIN_LOCK: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();

/// Whether this process pins its step threads (it took the pin lock).
pub fn pinning() -> bool {
    #[cfg(target_os = "linux")]
    {
        matches!(PIN_LOCK.get(), Some(Some(_)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The file at `path`, locked exclusively, or `None` where another open file holds it.
#[cfg(target_os = "linux")]
fn try_lock(path: &std::path::Path) -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new().create(true).append(true).open(path).ok()?;
    // SAFETY: flock on a descriptor this function owns.
    (unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_only_with_one_thread_per_allowed_cpu() {
        assert_eq!(plan(2, &[0, 1], None), Some(vec![0, 1]));
        assert_eq!(plan(2, &[4, 7], Some("1")), Some(vec![4, 7]));
        assert_eq!(plan(2, &[0, 1], Some("0")), None);
        assert_eq!(plan(2, &[0, 1], Some(" off ")), None);
        assert_eq!(plan(1, &[0], None), None, "one thread: nothing to keep apart");
        assert_eq!(plan(2, &[0, 1, 2, 3], None), None, "fewer threads than CPUs");
        assert_eq!(plan(4, &[0, 1], None), None, "more threads than CPUs");
        assert_eq!(plan(2, &[], None), None, "affinity unknown");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_pin_lock_is_held_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ganlab-pin-0-1.lock");
        let first = try_lock(&path).expect("a free lock");
        assert!(try_lock(&path).is_none(), "a second holder while the first holds it");
        drop(first);
        assert!(try_lock(&path).is_some(), "free again once the first lets go");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_an_affinity_mask() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty() && cpus.windows(2).all(|w| w[0] < w[1]), "{cpus:?}");
    }
}
