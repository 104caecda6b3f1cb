//! `vouch version`: what this binary is (like `cosign version`).

use crate::args::{OutputFormat, VersionArgs};
use crate::failure::Failure;

/// Runs the command: the version, commit, build date and the date of the
/// trusted root embedded in the binary (what `--offline` falls back to when
/// no TUF cache exists), as text or JSON.
pub fn run(args: &VersionArgs) -> Result<(), Failure> {
    let embedded_root = vouch_trust::EMBEDDED_ROOT_DATE;
    if args.json || args.output == OutputFormat::Json {
        let doc = serde_json::json!({
            "name": "vouch",
            "version": vouch_clikit::VERSION,
            "commit": vouch_clikit::COMMIT,
            "buildDate": vouch_clikit::BUILD_DATE,
            "embeddedTrustedRootDate": embedded_root,
        });
        outln!("{doc:#}");
    } else {
        outln!("vouch {}", vouch_clikit::VERSION);
        outln!("commit:                {}", vouch_clikit::COMMIT);
        outln!("built:                 {}", vouch_clikit::BUILD_DATE);
        outln!("embedded trusted root: {embedded_root} (Sigstore public-good)");
    }
    Ok(())
}
