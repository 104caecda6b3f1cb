//! `vouch trust show|refresh|export|import`: look at the trust material,
//! update it now, carry it across an air gap (docs/air-gap.md).

use std::time::SystemTime;

use serde_json::json;
use vouch_trust::summary::summarize;
use vouch_trust::{LoadedTrust, Network, Provenance, age_in_days};

use crate::args::{OutputFormat, TrustCommand, TrustDirArgs, TrustRefreshArgs, TrustShowArgs};
use crate::failure::Failure;
use crate::inputs;
use crate::inputs::DefaultTrust;

/// Runs the subcommand.
pub fn run(command: &TrustCommand) -> Result<(), Failure> {
    match command {
        TrustCommand::Show(args) => show(args),
        TrustCommand::Refresh(args) => refresh(args),
        TrustCommand::Export(args) => export(args),
        TrustCommand::Import(args) => import(args),
    }
}

fn show(args: &TrustShowArgs) -> Result<(), Failure> {
    // `show` reports what is there; it never refreshes.
    let mut trust = args.trust.clone();
    trust.tuf.offline = true;
    let loaded = inputs::load_trust(&trust, DefaultTrust::Tuf)?;
    print_trust(&loaded, args.output);
    Ok(())
}

fn refresh(args: &TrustRefreshArgs) -> Result<(), Failure> {
    if args.tuf.offline {
        return Err(Failure::usage(
            "`trust refresh` fetches from the TUF mirror, but --offline (or VOUCH_OFFLINE) \
             forbids the network; drop it, or use `vouch trust import` on an air-gapped machine",
        ));
    }
    let mut options = inputs::tuf_options(&args.tuf)?;
    options.network = Network::RefreshNow;
    let loaded = vouch_trust::TrustSource::Tuf(options).load(SystemTime::now())?;
    if let Provenance::Tuf(status) = &loaded.provenance {
        eprintln!(
            "Refreshed from {} into {}",
            status.mirror,
            status.cache_dir.display()
        );
    }
    print_trust(&loaded, args.output);
    Ok(())
}

/// Prints where `loaded` comes from and its instances, as `output` says.
fn print_trust(loaded: &LoadedTrust, output: OutputFormat) {
    let now = SystemTime::now();
    let instances = summarize(&loaded.trusted_root_json);
    let source = match &loaded.provenance {
        Provenance::File(path) => json!({ "kind": "file", "path": path }),
        Provenance::Environment => json!({ "kind": "environment" }),
        Provenance::Embedded {
            instance,
            as_of,
            no_cache_at,
        } => json!({
            "kind": "embedded",
            "instance": instance,
            "asOf": as_of.to_string(),
            "ageDays": age_in_days(*as_of, now),
            "noCacheAt": no_cache_at,
        }),
        Provenance::Tuf(status) => {
            let mut value = serde_json::to_value(status).expect("status serializes");
            value["kind"] = json!("tuf");
            value["stale"] = json!(status.is_stale());
            value["ageDays"] = json!(status.verified_at.map(|t| age_in_days(t, now)));
            value
        }
        _ => json!({ "kind": "unknown" }),
    };
    match output {
        OutputFormat::Json => {
            let overrides: Vec<_> = loaded
                .overridden
                .iter()
                .map(|(kind, path)| {
                    json!({
                        "variable": kind.variable(),
                        "path": path,
                        "replaces": kind.replaces(),
                    })
                })
                .collect();
            let doc = json!({ "source": source, "overrides": overrides, "instances": instances });
            outln!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("serializes")
            );
        }
        OutputFormat::Text => {
            outln!("{}", source_line(&loaded.provenance, now));
            for line in inputs::override_notices(&loaded.overridden) {
                outln!("{}", line.trim_start_matches("Note: "));
            }
            outln!("Instances:");
            for i in &instances {
                outln!(
                    "  {:<22} {:<45} {}  valid {} .. {}",
                    i.kind,
                    i.url,
                    i.id,
                    i.valid_from.as_deref().unwrap_or("?"),
                    i.valid_until.as_deref().unwrap_or("(open)")
                );
            }
        }
    }
}

fn source_line(provenance: &Provenance, now: SystemTime) -> String {
    match provenance {
        Provenance::File(path) => format!("Source: file {} (no TUF)", path.display()),
        Provenance::Environment => {
            "Source: cosign's SIGSTORE_* variables only (no TUF), as below".into()
        }
        Provenance::Embedded {
            instance,
            as_of,
            no_cache_at,
        } => {
            let why = no_cache_at.as_ref().map_or(String::new(), |d| {
                format!("; no TUF cache at {}", d.display())
            });
            format!(
                "Source: Sigstore {instance} trusted root embedded in vouch, as of {} ({} days old){why}",
                as_of.strftime("%Y-%m-%d"),
                age_in_days(*as_of, now)
            )
        }
        Provenance::Tuf(s) => {
            let verified = inputs::verified_at(s, now);
            format!(
                "Source: TUF {} (cache {})\n\
                 Verified: {verified}; last update: {}\n\
                 TUF: root v{} (expires {}), timestamp v{} (expires {}{}), snapshot v{} (expires {}), targets v{} (expires {})",
                s.mirror,
                s.cache_dir.display(),
                s.last_source.as_deref().unwrap_or("?"),
                s.root_version,
                s.root_expires,
                s.timestamp_version,
                s.timestamp_expires,
                if s.is_stale() { ", EXPIRED" } else { "" },
                s.snapshot_version,
                s.snapshot_expires,
                s.targets_version,
                s.targets_expires,
            )
        }
        _ => "Source: unknown".into(),
    }
}

fn export(args: &TrustDirArgs) -> Result<(), Failure> {
    let options = inputs::tuf_options(&args.tuf)?;
    let status = vouch_trust::tuf::export(&options, &args.dir, SystemTime::now())?;
    eprintln!(
        "Exported the trust material of {} (root v{}, timestamp v{} valid until {}) to {}:\n  \
         trusted_root.json  usable with --trusted-root\n  \
         tuf/               TUF metadata proving it, for `vouch trust import {}`",
        status.mirror,
        status.root_version,
        status.timestamp_version,
        status.timestamp_expires,
        args.dir.display(),
        args.dir.display()
    );
    Ok(())
}

fn import(args: &TrustDirArgs) -> Result<(), Failure> {
    let options = inputs::tuf_options(&args.tuf)?;
    let status = vouch_trust::tuf::import(&options, &args.dir, SystemTime::now())?;
    eprintln!(
        "Verified and imported {} into {}: root v{}, timestamp v{} (valid until {}), \
         snapshot v{}, targets v{}",
        args.dir.display(),
        status.cache_dir.display(),
        status.root_version,
        status.timestamp_version,
        status.timestamp_expires,
        status.snapshot_version,
        status.targets_version
    );
    Ok(())
}
