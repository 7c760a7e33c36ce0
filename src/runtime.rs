//! The process's compute runtime: how many threads rayon and candle use, and the
//! pool that training and scoring run on. Set once, early, by each command (and by
//! the notebooks and tests that train).

/// candle's element-wise worker threads spin this many times after each op before
/// sleeping (candle's default: 25,000). The spinning threads take cores from the
/// GEMM threads that run next; measured in `ganlab bench` with 2 threads on 2 cores.
const CANDLE_SPIN_LIMIT: &str = "1000";

/// Set the compute threads for rayon and candle (they read the same variable), and
/// shorten candle's idle spinning unless `CANDLE_BARRIER_POOL_SPIN_LIMIT` is set.
pub fn set_threads(n: Option<usize>) -> usize {
    let n = n
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", CANDLE_SPIN_LIMIT);
    }
    let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    n
}

/// Run `f` on a thread of the global rayon pool, so that the training thread is one
/// of the compute threads instead of a third thread competing for two cores.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}
