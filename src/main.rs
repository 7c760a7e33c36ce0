use std::process::ExitCode;

// Training allocates and frees the same large buffers every iteration; mimalloc
// keeps them mapped instead of returning pages to the OS and faulting them back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match ganlab::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
