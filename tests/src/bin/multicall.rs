//! One binary, several programs, chosen by the first argument: `pnrpd` and `pnrpctl` (the very
//! code the shipped binaries run), and `gai`, a small C-ABI client of glibc's resolver used to
//! check what programs see through the NSS module, and `attacker`, a hostile cloud node.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: pnrp-multicall pnrpd|pnrpctl|gai|attacker ARGS...");
        return ExitCode::from(2);
    }
    let program = args[0].to_string_lossy().into_owned();
    match program.as_str() {
        "pnrpd" => pnrpd::cli::daemon::main(args),
        "pnrpctl" => pnrpd::cli::ctl::main(args),
        "gai" => pnrp_tests::gai::main(args.split_off(1)),
        "attacker" => pnrp_tests::attacker::program::main(args.split_off(1)),
        other => {
            eprintln!("unknown program {other:?}");
            ExitCode::from(2)
        }
    }
}
