//! The `nnspec` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    nnspec::cli::main()
}
