//! `vouch verify-release`: a whole release, one concurrent pass.

use std::io::IsTerminal;
use std::sync::Arc;

use vouch_release::{
    ReleaseOptions, ReleasePolicy, passed, to_json, to_junit, to_table, verify_release,
};

use crate::args::{OutputFormat, VerifyReleaseArgs};
use crate::commands::image;
use crate::failure::{Failure, FailureKind};
use crate::inputs;

/// Runs the command.
pub fn run(args: &VerifyReleaseArgs) -> Result<(), Failure> {
    let text = inputs::read_bounded(
        &args.policy,
        vouch_release::MAX_POLICY_SIZE as u64,
        "release policy",
    )?;
    let text = String::from_utf8(text)
        .map_err(|_| Failure::input(format!("{}: not UTF-8", args.policy.display())))?;
    let policy = ReleasePolicy::from_toml(&text)
        .map_err(|e| Failure::input(format!("{}: {e}", args.policy.display())))?;
    let material = Arc::new(inputs::trust_material(&args.trust, false)?);
    let client = image::client(
        &args.registry,
        vouch_oci::CredentialStore::new(image::auth_locations()),
    )?;
    let options = ReleaseOptions {
        version: args.version.clone(),
        require_all: args.require_all,
        concurrency: args.concurrency,
    };
    let show_progress = std::io::stderr().is_terminal();
    let rows =
        image::runtime()?.block_on(verify_release(&client, material, &policy, &options, |p| {
            if show_progress {
                eprint!("\r\x1b[2K[{}/{}] {}", p.done, p.total, p.name);
            }
        }));
    if show_progress {
        eprint!("\r\x1b[2K");
    }
    match args.output {
        OutputFormat::Json => println!("{}", to_json(&args.version, &rows)),
        OutputFormat::Text => print!("{}", to_table(&rows)),
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, to_junit(&args.version, &rows))
            .map_err(|e| Failure::input(format!("writing {}: {e}", path.display())))?;
    }
    if let Some(dir) = &args.vex_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::input(format!("creating {}: {e}", dir.display())))?;
        for row in rows.iter().filter(|r| r.vex_document.is_some()) {
            let path = dir.join(format!("{}.vex.json", row.name.replace('/', "_")));
            std::fs::write(&path, row.vex_document.as_deref().unwrap_or_default())
                .map_err(|e| Failure::input(format!("writing {}: {e}", path.display())))?;
        }
    }
    if passed(&rows) {
        Ok(())
    } else {
        let failed: Vec<&str> = rows
            .iter()
            .filter(|r| r.verdict == vouch_release::Verdict::Fail)
            .map(|r| r.name.as_str())
            .collect();
        Err(Failure::new(
            FailureKind::Verification,
            format!(
                "release {} failed verification: {}",
                args.version,
                failed.join(", ")
            ),
        ))
    }
}
