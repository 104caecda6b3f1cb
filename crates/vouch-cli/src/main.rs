//! The `vouch` binary: parse arguments, run one command, map the outcome to
//! a documented exit code. All verification logic lives in the library crates.
#![forbid(unsafe_code)]
// Stdout is written only through `output` (a closed stdout is handled there).
#![deny(clippy::print_stdout)]

#[macro_use]
mod output;

mod args;
mod commands;
mod failure;
mod inputs;
mod progress;
mod report;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use failure::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_or_help(&e),
    };
    let wants_json = cli.command.wants_json();
    let outcome = match &cli.command {
        Command::Verify(a) => commands::verify::run(a),
        Command::VerifyAttestation(a) => commands::verify_attestation::run(a),
        Command::VerifyRelease(a) => commands::verify_release::run(a),
        Command::Release(c) => commands::release::run(c),
        Command::Audit(a) => commands::audit::run(a),
        Command::Discover(a) => commands::discover::run(a),
        Command::Digest(a) => commands::digest::run(a),
        Command::Login(a) => commands::login::run(a),
        Command::VerifyBlob(a) => commands::verify_blob::run(a),
        Command::VerifyBlobAttestation(a) => commands::verify_blob_attestation::run(a),
        Command::VerifyBundle(a) => commands::verify_bundle::run(a),
        Command::Trust(c) => commands::trust::run(c),
        Command::Download(c) => commands::download::run(c),
        Command::Version(a) => commands::version::run(a),
        Command::Completion(a) => commands::generated::completion(a),
        Command::Man(a) => commands::generated::man(a),
        Command::SignBundle(_) => Err(Failure::usage(
            "sign-bundle is unsupported: vouch verifies signatures, it does not make them",
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("Error: {failure}");
            if wants_json && !output::wrote_anything() {
                outln!("{:#}", failure.to_json());
            }
            failure.kind.exit_code()
        }
    }
}

/// Prints clap's help, version or usage error (its own `exit` would panic on a
/// closed stdout) and returns its exit code: 0 for `--help`, 2 for a usage error.
fn usage_or_help(error: &clap::Error) -> ExitCode {
    if let Err(e) = error.print()
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::from(output::CLOSED_STDOUT_EXIT as u8);
    }
    ExitCode::from(error.exit_code() as u8)
}
