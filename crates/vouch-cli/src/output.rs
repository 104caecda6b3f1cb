//! Standard output. Everything vouch prints on stdout goes through [`outln!`]
//! and [`out!`] (clippy's `print_stdout` is denied elsewhere in the crate), so
//! a closed stdout is handled in one place.
//!
//! A reader that goes away (`vouch discover IMG | head`, `| true`) ends vouch
//! quietly with [`CLOSED_STDOUT_EXIT`], the status a shell reports for `cat`
//! killed by SIGPIPE — never 0, since what was not written was not shown, and
//! never the panic that `println!` turns a broken pipe into (exit 101).
//!
//! Why not restore the default SIGPIPE action instead: it would apply to
//! sockets too. std sends on a `TcpStream` with `MSG_NOSIGNAL`, but its
//! vectored writes are a plain `writev`, and hyper and tokio-rustls write
//! vectored; a registry that resets a connection could then kill vouch by
//! signal, silently, in the middle of a verification.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether anything reached stdout (a report printed before the exit code
/// said it failed needs no JSON error document after it).
static WROTE: AtomicBool = AtomicBool::new(false);

/// Whether anything was written to stdout so far.
pub fn wrote_anything() -> bool {
    WROTE.load(Ordering::SeqCst)
}

/// The exit status when stdout is closed before everything was written:
/// 128 + SIGPIPE (13), what a shell reports for `cat` in the same place.
pub const CLOSED_STDOUT_EXIT: i32 = 141;
/// The exit status when stdout cannot be written for another reason (a full
/// disk it is redirected to): vouch's "could not read or write a file" (3).
pub const STDOUT_ERROR_EXIT: i32 = 3;

/// Writes `text` to stdout and flushes it; ends the process on failure.
pub fn write(text: std::fmt::Arguments<'_>) {
    WROTE.store(true, Ordering::SeqCst);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(CLOSED_STDOUT_EXIT);
        }
        eprintln!("Error: writing to stdout: {e}");
        std::process::exit(STDOUT_ERROR_EXIT);
    }
}

/// `println!` for vouch: a line on stdout, through [`write`].
macro_rules! outln {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for vouch: text on stdout, through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*))
    };
}
