//! The `aiops` binary: the allocator, its options, and the call into the library (`aiops::run_main`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_set` and the numbers of `mi_option_arena_eager_commit` and `mi_option_purge_delay`
/// in the `mi_option_e` enum of the mimalloc 3.3 header that libmimalloc-sys 0.1.49 builds
/// (`c_src/mimalloc/v3/include/mimalloc.h`); the `mimalloc` crate does not re-export them.
/// Cargo.toml pins libmimalloc-sys to that version: an upgrade re-checks the numbers here.
mod mi {
    use std::ffi::{c_int, c_long};
    pub const ARENA_EAGER_COMMIT: c_int = 4;
    pub const PURGE_DELAY: c_int = 15;
    unsafe extern "C" {
        pub fn mi_option_set(option: c_int, value: c_long);
    }
}

/// Give freed memory back to the OS 50 ms after it is freed (mimalloc 3.3 waits 1 s) and commit
/// arena memory only as it is used (its default commits whole arenas up front on Linux): the
/// same as `MIMALLOC_PURGE_DELAY=50 MIMALLOC_ARENA_EAGER_COMMIT=0`, set here, not left to the
/// user's environment. Measured with bench/ab.sh: a delay of 0 returned memory on every request
/// and cost `GET /api/v1/projects` 23% of its throughput; 50 ms is level with no tuning and idles
/// as low as 0. It runs as an early ELF constructor (priority 99, before mimalloc's own and
/// before std's runtime allocates), because options set in `main` come after the first arena was
/// committed: measured, the constructor matches the environment variables and `main` does not.
extern "C" fn tune_allocator() {
    // SAFETY: `mi_option_set` only stores the value in mimalloc's option table (an option set
    // before mimalloc initialises is not read from the environment); nothing else runs yet.
    unsafe {
        mi::mi_option_set(mi::PURGE_DELAY, 50);
        mi::mi_option_set(mi::ARENA_EAGER_COMMIT, 0);
    }
}

#[used]
#[unsafe(link_section = ".init_array.00099")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

fn main() {
    std::process::exit(aiops::run_main(std::env::args().collect()));
}
