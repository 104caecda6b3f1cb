//! Fuzzes `vouch_attest::Predicate::parse` directly: the SLSA provenance
//! v0.2 / v1, SPDX 2.x (JSON and tag-value string), CycloneDX and OpenVEX
//! readers, with any predicate JSON, and their summaries.
//!
//! Input: the first line is the `predicateType` URI, the rest is the
//! predicate JSON.
//!
//! Properties: never panics; an unknown type is kept unchanged as
//! `Predicate::Other` with no summary; summaries display; an OpenVEX document
//! round-trips through `to_json_pretty`.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_attest::{Predicate, VexDocument};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (predicate_type, json) = text.split_once('\n').unwrap_or((text, "null"));
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return;
    };
    let Ok(predicate) = Predicate::parse(predicate_type, &value) else {
        return;
    };
    match &predicate {
        Predicate::Other(kept) => {
            assert_eq!(kept, &value);
            assert!(predicate.summary().is_none());
        }
        Predicate::OpenVex(document) => {
            let pretty: serde_json::Value = serde_json::from_str(&document.to_json_pretty())
                .expect("to_json_pretty writes JSON");
            let reread = VexDocument::from_predicate(&pretty).expect("written VEX reads back");
            assert_eq!(&reread, document);
        }
        _ => {}
    }
    if let Some(summary) = predicate.summary() {
        let _ = summary.to_string();
    }
});
