//! Standard output of the admin commands, written only through [`outln!`]
//! (clippy's `print_stdout` is denied elsewhere in the binary). A reader
//! that goes away (`license list | head`) ends the command quietly with 141,
//! what a shell reports for `cat` killed by SIGPIPE, instead of the panic
//! `println!` makes of a broken pipe. vouch's `output.rs` does the same, and
//! says why the SIGPIPE signal itself stays ignored: sockets (PostgreSQL, S3,
//! upstreams, `serve`'s clients) are written with `writev`, which has no
//! `MSG_NOSIGNAL`, so the signal would kill the process on a reset connection.

use std::io::Write as _;

/// 128 + SIGPIPE (13): the exit status for a closed stdout.
pub const CLOSED_STDOUT_EXIT: i32 = 141;

/// Writes `text` to stdout and flushes it, returning the error: for output
/// that must not be lost silently (a license ID is shown once).
pub fn try_write(text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(text).and_then(|()| stdout.flush())
}

/// Writes `text` to stdout and flushes it; ends the process when stdout is
/// closed (141) or cannot be written (1, with the error).
pub fn write(text: std::fmt::Arguments<'_>) {
    if let Err(e) = try_write(text) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(CLOSED_STDOUT_EXIT);
        }
        eprintln!("Error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` for vouch-proxy's admin commands, through [`write`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
