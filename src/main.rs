//! The `aiops` binary: the allocator and the call into the library (`aiops::run_main`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(aiops::run_main(std::env::args().collect()));
}
