//! Running the project's binaries the way a shell pipeline would.

use std::process::{Command, Output, Stdio};

/// Runs `command` with its stdout on a pipe whose read end was closed before
/// it started (`cmd | true` that never reads), so its first write to stdout
/// fails however fast it is; stderr is captured.
pub fn run_into_closed_pipe(mut command: Command) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    command
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run the command")
}
