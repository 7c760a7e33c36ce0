use std::process::ExitCode;

// Training allocates and frees the same large buffers every iteration; mimalloc
// keeps them mapped instead of returning pages to the OS and faulting them back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (mimalloc.h); -1 keeps freed memory committed.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // The convolution articles free and reallocate 100 MB activations every
    // iteration: keep those pages instead of faulting them back in each time.
    // SAFETY: setting a mimalloc option is a plain store, valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // One CPU per step thread where they are as many as the CPUs (ganlab::affinity).
    ganlab::affinity::enable();
    match ganlab::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
