//! `pnrpd`: the PNRP daemon. See `pnrpd --help`.

fn main() -> std::process::ExitCode {
    pnrpd::cli::daemon::main(std::env::args_os())
}
