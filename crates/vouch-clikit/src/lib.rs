//! # vouch-clikit: what `vouch` and `vouch-proxy` share on the command line
//!
//! - build information for `version` and `--version`: the crate version, the
//!   commit the binary was built from and when ([`VERSION`], [`COMMIT`],
//!   [`BUILD_DATE`], [`LONG_VERSION`]; recorded by this crate's build script);
//! - shell completions ([`completion`]) and man pages ([`write_man_pages`]),
//!   both generated from the binary's clap definitions, so they never drift
//!   from `--help`.
//!
//! Nothing here prints: the binaries write what these functions return
//! through their own stdout handling (a closed pipe is theirs to report).
#![forbid(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};

pub use clap_complete::Shell;

/// The version of the vouch workspace (every crate and binary shares it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (40 hex digits), or `unknown`
/// when it was built outside a git checkout.
pub const COMMIT: &str = env!("VOUCH_COMMIT");

/// When the binary was built (RFC 3339, UTC): `SOURCE_DATE_EPOCH` for a
/// reproducible build, else the time of the build.
pub const BUILD_DATE: &str = env!("VOUCH_BUILD_DATE");

/// What `--version` prints after the binary's name: the version, the commit
/// and the build date.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("VOUCH_COMMIT"),
    ", built ",
    env!("VOUCH_BUILD_DATE"),
    ")"
);

/// The completion script for `shell`, for the binary `command` describes
/// (its name is the command's name).
pub fn completion(shell: Shell, mut command: clap::Command) -> Vec<u8> {
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    script
}

/// Writes one man page (section 1) for `command` and one for each of its
/// visible subcommands, nested ones included, into `dir` (created if
/// missing): `vouch.1`, `vouch-verify.1`, `vouch-trust-show.1`, … Returns
/// the files written, in that order.
pub fn write_man_pages(command: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let name = command.get_name().to_string();
    write_page(command, &name, &name, dir, &mut written)?;
    Ok(written)
}

/// Writes `page_name.1` for `command`, whose synopsis starts with
/// `invocation` (`vouch trust show`), then recurses into its subcommands.
fn write_page(
    command: clap::Command,
    page_name: &str,
    invocation: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let command = command
        .display_name(page_name.to_string())
        .bin_name(invocation.to_string());
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    let path = dir.join(format!("{page_name}.1"));
    std::fs::write(&path, page)?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_page = format!("{page_name}-{}", sub.get_name());
        let sub_invocation = format!("{invocation} {}", sub.get_name());
        write_page(sub.clone(), &sub_page, &sub_invocation, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .about("A demo tool")
            .subcommand(
                clap::Command::new("trust")
                    .about("Trust material")
                    .subcommand(clap::Command::new("show").about("Show it")),
            )
            .subcommand(clap::Command::new("secret").hide(true))
    }

    #[test]
    fn build_information_is_recorded() {
        assert!(
            COMMIT == "unknown"
                || (COMMIT.len() == 40 && COMMIT.bytes().all(|b| b.is_ascii_hexdigit())),
            "{COMMIT}"
        );
        assert!(jiff_like_rfc3339(BUILD_DATE), "{BUILD_DATE}");
        assert!(LONG_VERSION.starts_with(VERSION));
        assert!(LONG_VERSION.contains(COMMIT));
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    fn jiff_like_rfc3339(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 20
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b'T',
                13 | 16 => *c == b':',
                19 => *c == b'Z',
                _ => c.is_ascii_digit(),
            })
    }

    #[test]
    fn man_pages_cover_every_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(demo(), dir.path()).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo.1", "demo-trust.1", "demo-trust-show.1"]);
        let page = std::fs::read_to_string(dir.path().join("demo-trust-show.1")).unwrap();
        assert!(page.contains("\n.TH "), "{page}");
        assert!(page.contains("demo\\-trust\\-show"), "{page}");
        // The synopsis is how it is typed: `demo trust show`.
        assert!(page.contains("\\fBdemo trust show\\fR"), "{page}");
        assert!(page.contains("Show it"), "{page}");
    }

    #[test]
    fn completions_name_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
            let script = String::from_utf8(completion(shell, demo())).unwrap();
            assert!(script.contains("trust"), "{shell}: {script}");
            assert!(script.contains("show"), "{shell}: {script}");
        }
    }
}
