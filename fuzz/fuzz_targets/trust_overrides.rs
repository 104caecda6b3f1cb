//! Fuzzes cosign's `SIGSTORE_*` override files as vouch-trust reads them
//! (`vouch_trust::overrides::apply`): PEM blocks, X.509 certificates and
//! public keys amended into the embedded public-good trusted root.
//!
//! Properties: never panics; whatever `apply` accepts replaces exactly the
//! one section its kind names (with one entry, or one CA per certificate for
//! a root file), and everything else of the trusted root is left as it was.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_trust::overrides::{Override, OverrideKind, apply};

const SECTIONS: [&str; 4] = [
    "certificateAuthorities",
    "tlogs",
    "ctlogs",
    "timestampAuthorities",
];

fuzz_target!(|data: &[u8]| {
    let base = sigstore_trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes();
    let original: serde_json::Value = serde_json::from_slice(base).expect("embedded root is JSON");
    for (i, kind) in OverrideKind::ALL.into_iter().enumerate() {
        let one = Override {
            kind,
            origin: "fuzz.pem",
            pem: data,
        };
        let Ok(amended) = apply(base, &[one]) else {
            continue;
        };
        let amended: serde_json::Value =
            serde_json::from_slice(&amended).expect("apply writes JSON");
        for (j, section) in SECTIONS.iter().enumerate() {
            if i == j {
                // One entry, except a root file: one CA per certificate.
                let entries = amended[section].as_array().map_or(0, Vec::len);
                if kind == OverrideKind::FulcioRoots {
                    assert!(entries >= 1, "{kind}");
                } else {
                    assert_eq!(entries, 1, "{kind}");
                }
            } else {
                assert_eq!(
                    amended[section], original[section],
                    "{kind} changed {section}"
                );
            }
        }
        // What vouch would then prepare must not panic either.
        let _ = vouch_verify::TrustedMaterial::from_json(&serde_json::to_vec(&amended).unwrap());
    }
});
