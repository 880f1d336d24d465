//! Manual pages and shell completions, generated from the clap definitions of `pnrpd` and
//! `pnrpctl` so that they never drift from the programs: `pnrpctl completions SHELL` prints one
//! script; the hidden `pnrpctl generate-docs DIR` writes every page and script for install.sh
//! and packages. pnrpd.toml(5) and nss-pnrp(8) document a file and a library, not a command
//! line: they are written by hand (packaging/man/).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

/// The shells completions are written for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The programs, as their manual sections see them: `pnrpd` is an administrator's (8),
/// `pnrpctl` a user's (1).
fn programs() -> [(Command, &'static str); 2] {
    [
        (super::daemon::command().name("pnrpd"), "8"),
        (super::ctl::command().name("pnrpctl"), "1"),
    ]
}

/// Prints the completion script of `program` for `shell`.
pub fn completions(program: &str, shell: Shell, out: &mut dyn Write) {
    for (mut command, _) in programs() {
        if command.get_name() == program {
            clap_complete::generate(shell, &mut command, program, out);
        }
    }
}

/// Where each shell looks for a program's completions, relative to `share/`.
pub fn completion_path(program: &str, shell: Shell) -> PathBuf {
    match shell {
        Shell::Bash => format!("bash-completion/completions/{program}").into(),
        Shell::Zsh => format!("zsh/site-functions/_{program}").into(),
        Shell::Fish => format!("fish/vendor_completions.d/{program}.fish").into(),
        _ => format!("{shell}/{program}").into(),
    }
}

/// Writes under `dir` what install.sh copies under `$PREFIX/share`: `man/man8/pnrpd.8`,
/// `man/man1/pnrpctl.1` with a page per subcommand (`pnrpctl-register.1`, …), and the completion
/// scripts of both programs for bash, zsh and fish. Returns the files written, relative to `dir`.
pub fn generate(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (command, section) in programs() {
        let name = command.get_name().to_owned();
        let mut built = command.disable_help_subcommand(true);
        built.build();
        pages(&built, section, dir, &mut written)?;
        for shell in SHELLS {
            let path = completion_path(&name, shell);
            let mut script = Vec::new();
            completions(&name, shell, &mut script);
            write(dir, &path, &script)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The page of `command` and of each of its visible subcommands, in `section`.
fn pages(
    command: &Command,
    section: &'static str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let title = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
        .to_owned();
    let page = PathBuf::from(format!("man/man{section}/{title}.{section}"));
    let mut roff = Vec::new();
    clap_mangen::Man::new(command.clone())
        .title(title)
        .section(section)
        .manual("pnrp")
        .source(concat!("pnrp ", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)?;
    write(dir, &page, &roff)?;
    written.push(page);
    for subcommand in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        pages(subcommand, section, dir, written)?;
    }
    Ok(())
}

fn write(dir: &Path, relative: &Path, bytes: &[u8]) -> io::Result<()> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_completions_cover_every_command() {
        let dir = std::env::temp_dir().join(format!("pnrp-docs-{}", std::process::id()));
        let written = generate(&dir).unwrap();
        assert!(
            written.contains(&PathBuf::from("man/man1/pnrpctl-identity-create.1")),
            "{written:?}"
        );
        assert!(!written
            .iter()
            .any(|path| path.to_string_lossy().contains("generate")));
        let read = |path: &str| std::fs::read_to_string(dir.join(path)).unwrap();
        let ctl = read("man/man1/pnrpctl.1");
        assert!(ctl.contains(".TH pnrpctl 1"));
        for subcommand in [
            "register",
            "update",
            "unregister",
            "list",
            "resolve",
            "hostname",
            "peername",
            "status",
            "clouds",
            "cache",
            "traceroute",
            "identity",
            "completions",
        ] {
            assert!(ctl.contains(subcommand), "pnrpctl.1 lacks {subcommand}");
            assert!(
                dir.join(format!("man/man1/pnrpctl-{subcommand}.1"))
                    .exists(),
                "no page for pnrpctl {subcommand}"
            );
        }
        let daemon = read("man/man8/pnrpd.8");
        assert!(daemon.contains(".TH pnrpd 8"));
        for option in ["config", "socket", "state\\-dir", "seed", "no\\-discovery"] {
            assert!(daemon.contains(option), "pnrpd.8 lacks --{option}");
        }
        let bash = read("bash-completion/completions/pnrpctl");
        assert!(bash.contains("traceroute") && bash.contains("--socket"));
        assert!(read("zsh/site-functions/_pnrpd").contains("--state-dir"));
        assert!(read("fish/vendor_completions.d/pnrpctl.fish").contains("register"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
