//! Fuzzes `vouch_attest::parse_statement` (in-toto statements: duplicate-key
//! check over raw bytes, limits, `_type`, subjects, predicateType, the raw
//! predicate) and, on every statement that parses, `parse_predicate`, the
//! summaries and subject matching.
//!
//! Properties: never panics; a parsed statement keeps the invariants its
//! docs promise (1..=MAX_SUBJECTS subjects, each with
//! 1..=MAX_SUBJECT_DIGESTS digests; non-empty predicateType); the raw
//! `predicate_json()` parses to exactly `predicate()` (and is absent only
//! when the predicate is null); each subject is found by its own sha256
//! digest, and an absent digest is reported as no match.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use vouch_attest::{MAX_SUBJECT_DIGESTS, MAX_SUBJECTS, parse_statement};

fuzz_target!(|data: &[u8]| {
    let Ok(statement) = parse_statement(data) else {
        return;
    };
    assert!((1..=MAX_SUBJECTS).contains(&statement.subjects().len()));
    for subject in statement.subjects() {
        assert!((1..=MAX_SUBJECT_DIGESTS).contains(&subject.digest().len()));
        if let Some(hex) = subject.digest_for("sha256") {
            let found = statement
                .subject_for_digest("sha256", hex)
                .expect("own digest matches");
            assert_eq!(found.digest_for("sha256"), Some(hex));
            assert!(statement.subject_matches_sha256(hex));
        }
    }
    assert!(
        statement
            .subject_for_digest("fuzz-no-such-algorithm", "00")
            .is_err()
    );
    assert!(!statement.predicate_type().is_empty());
    match statement.predicate_json() {
        Some(raw) => {
            let reparsed: serde_json::Value =
                serde_json::from_str(raw).expect("the raw predicate is JSON");
            assert_eq!(&reparsed, statement.predicate());
        }
        None => assert!(statement.predicate().is_null()),
    }
    if let Ok(predicate) = statement.parse_predicate()
        && let Some(summary) = predicate.summary()
    {
        let _ = summary.to_string();
    }
});
