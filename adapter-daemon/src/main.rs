//! `stm-adapter`: the daemon and its operator tools. All the work is in the library.

/// mimalloc instead of glibc's malloc: under load the daemon's many small, short-lived
/// allocations contended on glibc's arena locks (docs/decisions/0014-allocator.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    adapter_daemon::cli::main()
}
