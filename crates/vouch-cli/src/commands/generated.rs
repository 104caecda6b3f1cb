//! `vouch completion` and `vouch man`: generated from the clap definitions
//! in `args.rs`, so they say what `--help` says.

use clap::CommandFactory as _;

use crate::args::{Cli, CompletionArgs, ManArgs};
use crate::failure::Failure;

/// Prints the completion script for the shell asked for.
pub fn completion(args: &CompletionArgs) -> Result<(), Failure> {
    let script = vouch_clikit::completion(args.shell, Cli::command());
    out!("{}", String::from_utf8_lossy(&script));
    Ok(())
}

/// Writes the man pages and lists them on stderr.
pub fn man(args: &ManArgs) -> Result<(), Failure> {
    let written = vouch_clikit::write_man_pages(Cli::command(), &args.dir).map_err(|e| {
        Failure::input(format!(
            "cannot write man pages to {}: {e}",
            args.dir.display()
        ))
    })?;
    eprintln!(
        "Wrote {} man pages to {} (try: man -l {})",
        written.len(),
        args.dir.display(),
        written[0].display()
    );
    Ok(())
}
