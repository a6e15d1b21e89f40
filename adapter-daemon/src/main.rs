//! `stm-adapter`: the daemon and its operator tools. All the work is in the library.

fn main() -> std::process::ExitCode {
    adapter_daemon::cli::main()
}
