//! The `vouch` binary: parse arguments, run one command, map the outcome to
//! a documented exit code. All verification logic lives in the library crates.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod failure;
mod inputs;
mod report;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use failure::Failure;

fn main() -> ExitCode {
    end_quietly_when_stdout_closes();
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Verify(a) => commands::verify::run(a),
        Command::VerifyAttestation(a) => commands::verify_attestation::run(a),
        Command::VerifyRelease(a) => commands::verify_release::run(a),
        Command::Audit(a) => commands::audit::run(a),
        Command::Discover(a) => commands::discover::run(a),
        Command::Digest(a) => commands::digest::run(a),
        Command::Login(a) => commands::login::run(a),
        Command::VerifyBlob(a) => commands::verify_blob::run(a),
        Command::VerifyBlobAttestation(a) => commands::verify_blob_attestation::run(a),
        Command::VerifyBundle(a) => commands::verify_bundle::run(a),
        Command::Trust(c) => commands::trust::run(c),
        Command::SignBundle(_) => Err(Failure::usage(
            "sign-bundle is unsupported: vouch verifies signatures, it does not make them",
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("Error: {failure}");
            failure.kind.exit_code()
        }
    }
}

/// A reader that goes away (`vouch discover IMG | head`, `| true`) ends
/// vouch the way it ends `cat` or `ls`: killed by SIGPIPE, silently (a shell
/// reports status 141), for every command and every write to stdout.
///
/// Rust starts programs with SIGPIPE ignored, so a closed stdout turns each
/// `println!` into a panic ("failed printing to stdout: Broken pipe", exit
/// 101). The alternative, writes that return `io::Error` with `BrokenPipe`
/// mapped to a quiet exit, would have to reach every `println!` in every
/// command and stay that way; restoring the default signal covers them all
/// in one place. `sigpipe::reset()` is that one `signal(SIGPIPE, SIG_DFL)`
/// call, so this crate keeps `forbid(unsafe_code)`.
///
/// The price, checked in the sources: std's `TcpStream::write` sends with
/// `MSG_NOSIGNAL`, but `write_vectored` is a plain `writev`, and hyper (HTTP/1
/// over a tokio `TcpStream`) and tokio-rustls write vectored. A registry that
/// resets a connection which hyper then writes to again would end vouch by the
/// same signal, without a message; that needs two writes after the reset on
/// one of vouch's body-less GETs, and the exit status is non-zero all the same
/// (it fails closed). `vouch-proxy serve`, which writes to sockets all day,
/// keeps SIGPIPE ignored for exactly this reason.
fn end_quietly_when_stdout_closes() {
    sigpipe::reset();
}
