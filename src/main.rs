//! The `sflow` binary: parses the command line and hands over to [`sflow::cli`].

fn main() -> std::process::ExitCode {
    sflow::cli::main()
}
