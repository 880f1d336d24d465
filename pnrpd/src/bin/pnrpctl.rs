//! `pnrpctl`: register, resolve and inspect peer names through `pnrpd`. See `pnrpctl --help`.

fn main() -> std::process::ExitCode {
    pnrpd::cli::ctl::main(std::env::args_os())
}
