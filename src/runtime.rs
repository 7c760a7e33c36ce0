//! The process's compute runtime: how many threads rayon and candle use, the pool
//! that training and scoring run on, and the parallel loops of a training step. Set
//! once, early, by each command (and by the notebooks and tests that train).
//!
//! One pool runs every parallel loop of a training step: candle's barrier pool, whose
//! workers spin for a bounded time after each op and then sleep. candle runs its own
//! element-wise ops there; the kernels (`crate::kernels`) and the Dense layer's GEMM
//! run there too ([`for_each_chunk`] and its kin), so that no second pool's sleeping
//! workers are woken for each of a step's hundreds of operations, and no pool's
//! spinning workers take the core that another pool needs. rayon's pool stays for the
//! evaluator's statistics and the training thread itself ([`on_pool`]).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The step pool's workers spin this many times after each op before sleeping
/// (candle's default: 25,000). Measured with `ganlab bench` on the MLPs, 2 threads on
/// 2 cores (AMD EPYC, 2026-12-03): 25,000 and 5,000 run no faster on an idle machine
/// and 1.5-1.9x slower beside a busy loop on one core, where the spinning worker takes
/// the time the training thread needs; 1,000 keeps the figures of two pools.
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
/// There, the step's threads keep one CPU each where [`crate::affinity`] says so.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| {
        let _pin = crate::affinity::StepPin::new();
        f()
    })
}

thread_local! {
    /// Set while this thread runs pieces of a parallel loop: a nested loop runs inline
    /// (the pool takes one job at a time).
    static IN_LOOP: Cell<bool> = const { Cell::new(false) };
}

/// A raw pointer that may cross threads: the pieces it addresses are disjoint.
struct Shared<T>(*mut T);
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}
// SAFETY: only ever dereferenced for disjoint pieces, one thread each (below).
unsafe impl<T: Send> Send for Shared<T> {}
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Piece `i` (`chunk` long, the last shorter) of the `len`-long slice at `self`.
    ///
    /// # Safety
    /// The slice outlives the use, and no other reference to this piece exists.
    unsafe fn piece<'a>(self, i: usize, chunk: usize, len: usize) -> &'a mut [T] {
        let (lo, hi) = (i * chunk, ((i + 1) * chunk).min(len));
        std::slice::from_raw_parts_mut(self.0.add(lo), hi - lo)
    }
}

/// The threads a parallel loop runs on: the caller and the step pool's workers.
pub fn loop_threads() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

/// Run `work(state, i)` for every `i < pieces` on the step pool: the threads take
/// runs of indices in turn from a shared counter; each makes its `state` with `init`
/// once, when it takes its first index.
fn run_pieces<S>(pieces: usize, init: impl Fn() -> S + Sync, work: impl Fn(&mut S, usize) + Sync) {
    // About 8 grabs per thread: few touches of the shared counter, a short tail.
    let grain = pieces.div_ceil(8 * loop_threads()).max(1);
    let next = AtomicUsize::new(0);
    let body = |_: usize| {
        let was = IN_LOOP.with(|f| f.replace(true));
        let mut state = None;
        loop {
            let lo = next.fetch_add(grain, Ordering::Relaxed);
            if lo >= pieces {
                break;
            }
            for i in lo..(lo + grain).min(pieces) {
                work(state.get_or_insert_with(&init), i);
            }
        }
        IN_LOOP.with(|f| f.set(was));
    };
    if pieces <= 1 || IN_LOOP.with(|f| f.get()) {
        body(0);
    } else {
        candle_core::utils::barrier_pool().execute(body);
    }
}

/// `f(i)` for every `i < pieces`, in parallel on the step pool (the threads take the
/// indices in turn).
pub fn for_each_index(pieces: usize, f: impl Fn(usize) + Sync) {
    run_pieces(pieces, || (), |_, i| f(i));
}

/// `[f(0), f(1), ..., f(n - 1)]`, computed in parallel on the step pool, in order.
pub fn map_index<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    for_each_chunk(&mut out, 1, |i, slot| slot[0] = Some(f(i)));
    out.into_iter()
        .map(|r| r.expect("map_index: every index ran"))
        .collect()
}

/// `f(state, i, piece)` for each `chunk`-long piece `i` of `out` (the last may be
/// shorter), in parallel on the step pool, with a per-thread `state` made by `init`
/// (a scratch buffer), as rayon's `par_chunks_mut(chunk).enumerate().for_each_init`.
pub fn for_each_chunk_init<T: Send, S>(
    out: &mut [T],
    chunk: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    assert!(chunk > 0, "for_each_chunk: pieces of 0 elements");
    let (len, base) = (out.len(), Shared(out.as_mut_ptr()));
    run_pieces(len.div_ceil(chunk), init, |s, i| {
        // SAFETY: `out` is borrowed mutably until every thread is done, and index i
        // (so its piece) is taken by one thread only.
        f(s, i, unsafe { base.piece(i, chunk, len) })
    });
}

/// `len` zeros, written by the loop's threads: the kernels' large outputs (a step's
/// 25-100 MB buffers) were zeroed by one thread's memset while the other waited.
pub fn zeros(len: usize) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    for_each_chunk(&mut v.spare_capacity_mut()[..len], 1 << 16, |_, piece| {
        piece.iter_mut().for_each(|x| {
            x.write(0.0);
        })
    });
    // SAFETY: the loop above initialised all `len` elements (every piece once).
    unsafe { v.set_len(len) };
    v
}

/// `f(i, piece)` for each `chunk`-long piece of `out`, in parallel (see
/// [`for_each_chunk_init`]).
pub fn for_each_chunk<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    for_each_chunk_init(out, chunk, || (), |_, i, piece| f(i, piece));
}

/// `f(state, i, a_piece, b_piece)` over two outputs cut into the same number of
/// pieces (`ca`- and `cb`-long), in parallel (see [`for_each_chunk_init`]).
pub fn for_each_chunk2_init<A: Send, B: Send, S>(
    a: &mut [A],
    ca: usize,
    b: &mut [B],
    cb: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [A], &mut [B]) + Sync,
) {
    assert!(ca > 0 && cb > 0, "for_each_chunk2: pieces of 0 elements");
    let pieces = a.len().div_ceil(ca);
    assert_eq!(
        pieces,
        b.len().div_ceil(cb),
        "for_each_chunk2: the outputs' pieces differ in number"
    );
    let (la, pa, lb, pb) = (a.len(), Shared(a.as_mut_ptr()), b.len(), Shared(b.as_mut_ptr()));
    // SAFETY: as in for_each_chunk_init, for each of the two outputs.
    run_pieces(pieces, init, |s, i| unsafe {
        f(s, i, pa.piece(i, ca, la), pb.piece(i, cb, lb))
    });
}

/// [`for_each_chunk2_init`] without a per-thread state.
pub fn for_each_chunk2<A: Send, B: Send>(
    a: &mut [A],
    ca: usize,
    b: &mut [B],
    cb: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    for_each_chunk2_init(a, ca, b, cb, || (), |_, i, a, b| f(i, a, b));
}

/// `f(i, a_piece, b_piece, c_piece)` over three equally long outputs cut into
/// `chunk`-long pieces (the Adam update: parameter and both moments), in parallel.
pub fn for_each_chunk3<T: Send>(
    a: &mut [T],
    b: &mut [T],
    c: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T], &mut [T], &mut [T]) + Sync,
) {
    assert!(chunk > 0, "for_each_chunk3: pieces of 0 elements");
    let len = a.len();
    assert!(
        b.len() == len && c.len() == len,
        "for_each_chunk3: outputs of different lengths"
    );
    let (pa, pb, pc) = (Shared(a.as_mut_ptr()), Shared(b.as_mut_ptr()), Shared(c.as_mut_ptr()));
    // SAFETY: as in for_each_chunk_init, for each of the three outputs.
    run_pieces(
        len.div_ceil(chunk),
        || (),
        |_, i| unsafe {
            f(
                i,
                pa.piece(i, chunk, len),
                pb.piece(i, chunk, len),
                pc.piece(i, chunk, len),
            )
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_piece_once_and_in_place() {
        set_threads(Some(2));
        for (len, chunk) in [(0, 3), (1, 3), (10, 3), (1000, 7), (1 << 16, 1 << 14)] {
            let mut v = vec![0u32; len];
            for_each_chunk(&mut v, chunk, |i, piece| {
                assert!(
                    piece.len() == chunk || (i + 1) * chunk >= len,
                    "a short piece before the last"
                );
                for (j, x) in piece.iter_mut().enumerate() {
                    *x += (i * chunk + j) as u32 + 1;
                }
            });
            assert!(
                v.iter().enumerate().all(|(j, &x)| x == j as u32 + 1),
                "len {len} chunk {chunk}"
            );
        }
    }

    #[test]
    fn two_and_three_outputs_and_ordered_map() {
        set_threads(Some(2));
        let (mut a, mut b) = (vec![0usize; 100], vec![0u8; 20]);
        for_each_chunk2(&mut a, 10, &mut b, 2, |i, a, b| {
            a.iter_mut().for_each(|x| *x = i);
            b.iter_mut().for_each(|x| *x = i as u8);
        });
        assert!(
            a.iter().enumerate().all(|(j, &x)| x == j / 10) && b.iter().enumerate().all(|(j, &x)| x as usize == j / 2)
        );
        let (mut p, mut m, mut v) = (vec![0f32; 50], vec![0f32; 50], vec![0f32; 50]);
        for_each_chunk3(&mut p, &mut m, &mut v, 8, |i, p, m, v| {
            for x in p.iter_mut().chain(m.iter_mut()).chain(v.iter_mut()) {
                *x = i as f32;
            }
        });
        assert!(p
            .iter()
            .chain(&m)
            .chain(&v)
            .enumerate()
            .all(|(j, &x)| x == ((j % 50) / 8) as f32));
        assert_eq!(map_index(1000, |i| i * i), (0..1000).map(|i| i * i).collect::<Vec<_>>());
    }

    #[test]
    fn a_nested_loop_runs_inline_and_scratch_is_per_thread() {
        set_threads(Some(2));
        let mut outer = vec![0u64; 64];
        for_each_chunk_init(
            &mut outer,
            4,
            || vec![0u64; 4],
            |scratch, i, piece| {
                let mut inner = vec![0u64; 4];
                for_each_chunk(&mut inner, 1, |j, x| x[0] = (i * 4 + j) as u64);
                scratch.copy_from_slice(&inner);
                piece.copy_from_slice(scratch);
            },
        );
        assert!(outer.iter().enumerate().all(|(j, &x)| x == j as u64));
    }

    /// Where the step threads are as many as the CPUs (2 and 2 on CI's machines), a
    /// job on the pool runs on one CPU and gets its mask back afterwards; elsewhere
    /// nothing changes.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_pool_job_is_pinned_and_unpinned() {
        set_threads(Some(2));
        crate::affinity::enable();
        let before = crate::affinity::allowed_cpus();
        let inside = on_pool(crate::affinity::allowed_cpus);
        let pinned = crate::affinity::plan(loop_threads(), &before, std::env::var("GANLAB_PIN").ok().as_deref())
            // (another ganlab process on this machine may hold the pin: then none here)
            .filter(|_| crate::affinity::pinning());
        match pinned {
            Some(cpus) => assert_eq!(
                inside,
                vec![*cpus.last().unwrap()],
                "the calling thread takes the last CPU"
            ),
            None => assert_eq!(inside, before),
        }
        // Every rayon worker (the job ran on one of them) has its whole mask back.
        for (i, mask) in rayon::broadcast(|_| crate::affinity::allowed_cpus())
            .into_iter()
            .enumerate()
        {
            assert_eq!(mask, before, "rayon worker {i} kept the job's pin");
        }
        assert_eq!(crate::affinity::allowed_cpus(), before, "this thread was never pinned");
    }

    #[test]
    #[should_panic(expected = "differ in number")]
    fn two_outputs_must_have_as_many_pieces() {
        for_each_chunk2(&mut [0u8; 10], 5, &mut [0u8; 10], 2, |_, _, _| {});
    }
}
